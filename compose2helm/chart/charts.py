"""Chart files from the plan: one common chart per component, one umbrella chart per example.

Everything here returns {relative path: text}; writing to disk is output.py's job. Common
charts depend only on their mapping rule (so every example shares them byte for byte);
what differs between examples and platforms lives in the umbrella's overlay values.
"""
from __future__ import annotations

import functools
import shlex
from dataclasses import dataclass
from importlib import resources
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

from .. import __version__
from ..plan.env_values import env_table
from ..plan.plan import ExamplePlan, Instance, ServiceValues
from ..plan.rules import Rule
from ..util import cache
from ..util.cache import template_cache
from ..yamlout import dump
from ..yamlout import key as yaml_key
from .docs import callers_lines, table
from .observability import dashboard_val, gostr, observability_vals, template_context
from .pod_options import umbrella_account, umbrella_global, with_pod_options
from .schema import CONVERSION_KEYS, dumps, schema
from .security import with_security
from .values import BOOLEAN, Val, comment, component_val, global_val, values_yaml, workload_values

if TYPE_CHECKING:
    import jinja2


# SemVer, as `helm lint` and `ct lint` want; OPEA's main branch uses "0-latest" (pass it as
# chart_version: helm lint then warns that it is not SemVer).
CHART_VERSION = __version__
RELEASE_DNS_DOC = "<release>-<chart>"
SOURCES = ("https://github.com/opea-project/GenAIInfra", "https://github.com/opea-project/GenAIExamples")
# The apiVersion and kind of each object the chart templates make (their schemas are loaded
# while the first overlay renders).
RENDERED_KINDS = (("v1", "ConfigMap"), ("v1", "Secret"), ("v1", "Service"), ("v1", "PersistentVolumeClaim"),
                  ("v1", "Pod"), ("apps/v1", "Deployment"), ("apps/v1", "DaemonSet"),
                  ("autoscaling/v2", "HorizontalPodAutoscaler"), ("v1", "ServiceAccount"),
                  ("networking.k8s.io/v1", "NetworkPolicy"))


@functools.lru_cache(maxsize=1)
def _env() -> jinja2.Environment:
    import jinja2   # only when a chart is generated: a conversion whose charts are kept needs none
    env = jinja2.Environment(
        bytecode_cache=template_cache(),   # compiling them is a tenth of a conversion
        loader=jinja2.FunctionLoader(
            lambda name: resources.files("compose2helm.chart.templates").joinpath(name).read_text("utf-8")),
        variable_start_string="[[", variable_end_string="]]",
        block_start_string="[%", block_end_string="%]",
        comment_start_string="[#", comment_end_string="#]",
        keep_trailing_newline=True, autoescape=False, undefined=jinja2.StrictUndefined)
    env.filters["shell"] = lambda v: shlex.quote(str(v))
    env.filters["yaml"] = lambda v: yaml_key(str(v))    # a plain scalar unless YAML would misread it
    env.filters["gostr"] = gostr                         # a Go template string literal
    env.globals["sources"] = SOURCES
    env.policies["json.dumps_kwargs"] = {"sort_keys": False, "ensure_ascii": False}
    return env


def _render(template: str, **ctx: Any) -> str:
    text = _env().get_template(template).render(**ctx)
    return text if text.endswith("\n") else text + "\n"


def _workload_templates(name: str, fullname_expr: str, fullname_doc: str, gated: bool = False,
                        env_values: list | tuple = (), rule: Rule | None = None) -> dict[str, str]:
    ctx = {"name": name, "fullname_expr": fullname_expr, "fullname_doc": fullname_doc,
           "env_table": env_table(env_values)}
    files = {
        "templates/_helpers.tpl": _render("helpers.tpl.j2", **ctx),
        "templates/configmap.yaml": _render("configmap.yaml.j2", **ctx),
        "templates/secret.yaml": _render("secret.yaml.j2", **ctx),
        "templates/deployment.yaml": _render("deployment.yaml.j2", **ctx),
        "templates/service.yaml": _render("service.yaml.j2", **ctx),
        "templates/storage.yaml": _render("storage.yaml.j2", **ctx),
        "templates/tests/test-pod.yaml": _render("test-pod.yaml.j2", **ctx),
        # autoscaling and monitoring (chart/observability.py)
        "templates/_observability.tpl": _render("observability.tpl.j2", **ctx, **template_context(rule)),
        "templates/hpa.yaml": _render("hpa.yaml.j2", **ctx, **template_context(rule)),
        "templates/servicemonitor.yaml": _render("servicemonitor.yaml.j2", **ctx),
        "templates/networkpolicy.yaml": _render("networkpolicy.yaml.j2", **ctx),
    }
    if gated:   # the umbrella's own workload runs only where an overlay has a megaservice
        for rel, text in files.items():
            if not rel.endswith(".tpl"):
                files[rel] = "{{- if .Values.enabled }}\n" + text + "{{- end }}\n"
    return files


def _values_context(rule: Rule, name: str) -> dict[str, Any]:
    from ..plan.probes import chart_probes
    ports = [{"name": str(p["name"]), "port": int(p["port"]), "targetPort": int(p["port"])} for p in rule.ports]
    probes = chart_probes(rule)
    return {
        "name": name,
        "rule": rule,
        "description": rule.description or f"The {name} component.",
        "rule_file": rule.file,
        "image": {"repository": rule.image.get("repository", ""), "tag": str(rule.image.get("tag", ""))},
        "named": list(rule.values),
        "args": list(rule.default_args),
        "env": dict(rule.default_env),
        "secret_env": dict(rule.default_secret_env),
        "model_path": rule.model_path,
        "read_only_root": rule.read_only_root,
        "capabilities": list(rule.capabilities),
        "writable": list(rule.writable),
        # the umbrella's megaservice takes the settings of its example only
        "env_values": [ev for ev in rule.env_values if rule.kind != "megaservice" or ev.applies_to(name)],
        "ports": ports,
        "readiness": probes[0] if probes else None,
        "startup": probes[1] if probes else None,
    }


def _workload_vals(ctx: dict[str, Any]) -> list[Val]:
    vals = workload_values(image=ctx["image"], named=ctx["named"], args=ctx["args"], ports=ctx["ports"],
                           readiness=ctx["readiness"], startup=ctx["startup"], env=ctx["env"],
                           secret_env=ctx["secret_env"], model_path=ctx["model_path"],
                           read_only_root=ctx["read_only_root"], writable=ctx["writable"],
                           env_values=ctx["env_values"], capabilities=ctx["capabilities"])
    # autoscaling and serviceMonitor, after the keys of how many pods run
    at = next(i for i, v in enumerate(vals) if v.key == "daemonSet") + 1
    vals[at:at] = observability_vals(ctx["rule"], ctx["ports"])
    vals = with_security(vals, ctx["rule"])       # networkPolicy, ... (security.py)
    return with_pod_options(vals, ctx["rule"])    # serviceAccount, tdx, modelDownload, ... (pod_options.py)


def _pod_templates(name: str, umbrella: bool) -> dict[str, str]:
    """The pod options' helpers and the ServiceAccount; an umbrella's account is named after its release."""
    account = '.Release.Name | trunc 63 | trimSuffix "-"' if umbrella else f'include "{name}.fullname" .'
    return {"templates/_pod.tpl": _render("pod.tpl.j2", name=name, default_account=account),
            "templates/serviceaccount.yaml": _render("serviceaccount.yaml.j2", name=name)}


def _keywords(*words: str) -> list[str]:
    return list(dict.fromkeys(w for w in words if w))


def _check_path(ctx: dict[str, Any]) -> str:
    get = (ctx["readiness"] or {}).get("httpGet") or {}
    return str(get.get("path", "/")) if get else ""


_COMMON: dict[tuple, dict[str, str]] = {}


def common_chart(rule: Rule, chart_version: str = CHART_VERSION, nested: bool = False,
                 callers: dict[str, set[str]] | None = None) -> dict[str, str]:
    """helm-charts/common/<component>/ for a rule; nested: with the engines of `rule.nests` as
    dependencies (the RFC's layout), the first one enabled by default. callers: umbrella chart ->
    the components that address this one there (its README lists them; docs.parse_callers).

    A common chart depends on its rule (and callers) alone, so it is built once per process per rule."""
    listed = tuple((u, tuple(sorted(c))) for u, c in sorted((callers or {}).items()))
    key = (repr(rule), chart_version, nested, listed)
    if key not in _COMMON:   # and kept between processes (util/cache.py)
        _COMMON[key] = cache.made("charts", key, lambda: _common_chart(rule, chart_version, nested, listed),
                                  cache.text_files)
    return dict(_COMMON[key])


def _common_chart(rule: Rule, chart_version: str, nested: bool, callers: tuple) -> dict[str, str]:
    name = rule.component
    ctx = _values_context(rule, name)
    vals = _workload_vals(ctx)
    deps = [{"name": n, "version": chart_version, "repository": f"file://../{n}", "alias": "",
             "condition": f"{n}.enabled"} for n in rule.nests] if nested else []
    for i, n in enumerate(deps):
        vals.insert(len(vals) - 1, Val(n["name"], doc=f"The {n['name']} chart (../{n['name']}), which this one "
                                       "talks to; its values go under this key.", open=True,
                                       children=(Val("enabled", i == 0, f"Run {n['name']} with this chart.",
                                                     BOOLEAN),)))
    source = "a compose service no mapping rule knows" if rule.generic else f"mapping rule {rule.file}"
    header = comment(f"Default values for {name}. {ctx['description']}") + comment(
        f"Generated by compose2helm from {source}; examples set their own values in the umbrella chart's "
        "platform overlays. values.schema.json checks them; README.md documents them.")
    files = {
        "Chart.yaml": _render("Chart.yaml.j2", name=name, description=ctx["description"],
                              version=chart_version, app_version=str(rule.image.get("tag") or "latest"),
                              keywords=_keywords("opea", *rule.keywords, name), dependencies=deps),
        "values.yaml": values_yaml(header, vals),
        "values.schema.json": dumps(schema(vals, title=f"Values of the {name} chart", extra=CONVERSION_KEYS)),
        "README.md": _render("README.md.j2", name=name, description=ctx["description"], rule_file=rule.file,
                             generic=rule.generic, named=ctx["named"], ports=ctx["ports"],
                             env_values=ctx["env_values"],
                             check_path=_check_path(ctx), table=table(vals), callers=callers_lines(callers)),
        ".helmignore": _render("helmignore.j2"),
    }
    fullname = ('{{- if .Values.fullnameOverride }}{{ .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}'
                '{{- else }}{{ printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" }}{{- end }}')
    files.update(_workload_templates(name, fullname, "<release>-<chart or alias>", env_values=ctx["env_values"],
                                     rule=rule))
    files["templates/NOTES.txt"] = _render("NOTES.txt.j2", name=name)
    files.update(_pod_templates(name, umbrella=False))
    return files


@dataclass(frozen=True)
class Dependency:
    name: str          # common chart
    alias: str         # "" when the instance uses the chart's own name

    @property
    def key(self) -> str:
        return self.alias or self.name

    def as_dict(self, version: str = CHART_VERSION) -> dict[str, str]:
        return {"name": self.name, "version": version, "repository": f"file://../common/{self.name}",
                "alias": self.alias, "condition": f"{self.key}.enabled"}


def dependencies_of(plan: ExamplePlan, nested: dict[str, list[Instance]] | None = None) -> list[Dependency]:
    inner = {c.service for children in (nested or {}).values() for c in children}
    return [Dependency(i.component, "" if i.name == i.component else i.name) for i in plan.components()
            if i.service not in inner]


def umbrella_chart(plan: ExamplePlan, deps: list[Dependency], megaservice: Rule | None,
                   overlays: dict[str, str], chart_version: str = CHART_VERSION,
                   diagrams: dict[str, str] | None = None, variables: dict[str, str] | None = None,
                   dependency_keys: dict[str, Any] | None = None, named_keys: Any = None) -> dict[str, str]:
    """helm-charts/<example>/: Chart.yaml, neutral values.yaml, the megaservice templates, overlays.
    Kept between processes under everything it is made from and the code's version (util/cache.py).

    dependency_keys (dependency key -> the keys its values may have) and named_keys (the
    megaservice's named values) close the umbrella's schema: a key no chart takes is rejected by
    name instead of passing unused. Without them any identifier passes as a named value.

    deps is every dependency any overlay of the example uses (sorted by values key);
    overlays maps overlay file name -> the compose file it came from; diagrams, overlay file name
    -> its mermaid diagram (plan/graph.py), embedded in the README; variables, overlay file name
    -> the table of its compose variables and the values that set them (plan/coupling.py).
    """
    args = (plan, deps, megaservice, overlays, chart_version, diagrams, variables, dependency_keys, named_keys)
    return cache.made("charts", args, lambda: _umbrella_chart(*args), cache.text_files)


def _umbrella_chart(plan: ExamplePlan, deps: list[Dependency], megaservice: Rule | None,
                    overlays: dict[str, str], chart_version: str, diagrams: dict[str, str] | None,
                    variables: dict[str, str] | None, dependency_keys: dict[str, Any] | None,
                    named_keys: Any) -> dict[str, str]:
    name = plan.chart
    deps = sorted(set(deps), key=lambda d: d.key)
    description = (f"The {plan.example} example: its megaservice and the components it runs."
                   if megaservice is not None else f"The {plan.example} example: the components it runs.")
    header = comment(f"Default values for {name}. {description}")
    header += comment("Generated by compose2helm; the platform overlays beside this file set the values of "
                      "each platform. values.schema.json checks them; README.md documents them.")
    if overlays:
        header += ["#", f"# Install with a platform overlay, e.g. helm install {name} . -f {_install_example(overlays)}"]
        header += [f"#   {file_name}: from {source}" for file_name, source in sorted(overlays.items())]
    vals: list[Val] = []
    files = {
        "Chart.yaml": _render("Chart.yaml.j2", name=name, description=description, version=chart_version,
                              app_version=_app_version(plan), keywords=["opea", "genai", name],
                              dependencies=[d.as_dict(chart_version) for d in deps]),
        ".helmignore": _render("helmignore.j2"),
    }
    mega_port = 0
    if megaservice is not None:
        ctx = _values_context(megaservice, name)
        ctx["image"] = {"repository": _mega_repository(plan), "tag": ""}
        mega_port = ctx["ports"][0]["port"] if ctx["ports"] else 0
        vals.append(Val("enabled", True, "Run the megaservice (this chart's own templates); overlays without one "
                                         "turn it off.", BOOLEAN))
        vals += [v for v in _workload_vals(ctx) if v.key != "global"]
        files.update(_workload_templates(name, "{{- .Release.Name | trunc 63 | trimSuffix \"-\" }}", "<release>",
                                         gated=True, env_values=ctx["env_values"], rule=megaservice))
    vals = umbrella_account(vals)       # the release's ServiceAccount, with or without a megaservice
    files.update(_pod_templates(name, umbrella=True))
    vals += [component_val(d.key, d.name) for d in deps]
    # Grafana dashboards and prometheus-adapter rules of the components the release runs
    vals.append(dashboard_val(plan.example))
    for kind in ("custom-metrics", "dashboards"):
        files[f"templates/{kind}.yaml"] = _render(f"umbrella-{kind}.yaml.j2", name=name, deps=deps,
                                                  megaservice=megaservice is not None)
    vals.append(umbrella_global(global_val()))
    files["values.yaml"] = values_yaml(header, vals)
    files["values.schema.json"] = dumps(schema(vals, title=f"Values of the {name} chart",
                                               named=megaservice is not None, closed=dependency_keys,
                                               named_keys=named_keys))
    entries = _entry_points(plan, deps, megaservice is not None, mega_port)
    first_overlay = _install_example(overlays) if overlays else "<platform>-values.yaml"
    files["templates/NOTES.txt"] = _render(
        "umbrella-NOTES.txt.j2", name=name, example=plan.example, entries=entries, overlay=first_overlay,
        entry_names=", ".join(e["short"] for e in entries))
    files["README.md"] = _render(
        "umbrella-README.md.j2", name=name, example=plan.example, description=description,
        megaservice=megaservice is not None, overlays=sorted(overlays.items()), overlay=first_overlay,
        diagrams=sorted((diagrams or {}).items()), variables=sorted((variables or {}).items()),
        entries=entries, deps=deps, model_example=_model_example(deps), table=table(vals))
    return files


def _entry_points(plan: ExamplePlan, deps: list[Dependency], has_megaservice: bool,
                  mega_port: int) -> list[dict[str, Any]]:
    """Where users reach the example, in order of preference: nginx, the UI, the megaservice."""
    out = []
    for chart, what in (("nginx", "the nginx gateway to the UI and the API"), ("ui", "the web UI")):
        for d in deps:
            if d.name == chart:
                values = f'(index .Values "{d.key}" | default dict)'
                out.append({
                    "enabled": f"{values}.enabled",
                    "service": f'printf "%s-%s" .Release.Name "{d.key}" | trunc 63 | trimSuffix "-"',
                    "ports": f'dig "service" "ports" list {values}',
                    "what": what, "short": d.key, "suffix": f"-{d.key}", "path": "/", "port": 0,
                })
    if has_megaservice:
        out.append({
            "enabled": ".Values.enabled",
            "service": '.Release.Name | trunc 63 | trimSuffix "-"',
            "ports": ".Values.service.ports",
            "what": "the megaservice API", "short": "megaservice", "suffix": "", "path": f"/v1/{plan.chart}",
            "port": mega_port,
        })
    return out


def _install_example(overlays: dict[str, str]) -> str:
    """The overlay an install example names: one converted from a platform's base file
    (compose.yaml alone, no variant or -f overlay), else the first."""
    base = [f for f, source in sorted(overlays.items())
            if "," not in source and PurePosixPath(source).name in ("compose.yaml", "compose.yml")]
    return (base or sorted(overlays))[0]


def _model_example(deps: list[Dependency]) -> str:
    engine = next((d.key for d in deps if d.name in ("tgi", "vllm")), "<component>")
    return f"{engine}.LLM_MODEL_ID=<model id>"


def _mega_repository(plan: ExamplePlan) -> str:
    mega = plan.megaservice()
    return mega.values.image.repository if mega else f"opea/{plan.chart}"


def _app_version(plan: ExamplePlan) -> str:
    mega = plan.megaservice()
    return mega.values.image.tag if mega else "latest"


def overlay(plan: ExamplePlan, has_megaservice: bool, nested: dict[str, list[Instance]] | None = None) -> str:
    """<platform>[-<variant>]-values.yaml: everything the compose file says, as values."""
    lines = [
        f"# {plan.example} on {plan.overlay_name}: values converted from {', '.join(plan.sources)}.",
        "# Generated by compose2helm; regenerate rather than edit.",
        "",
    ]
    body: dict[str, Any] = {}
    mega = plan.megaservice()
    nested = nested or {}
    if mega is not None:
        body["enabled"] = True
        values = ServiceValues(mega.values.as_dict())
        for parent, children in sorted(nested.items()):   # the engine's value it reads is under its parent
            for c in children:
                values.replace_text(f".Values.{c.name}.", f".Values.{parent}.{c.name}.")
                values.replace_text(f'index .Values "{c.name}"', f'index .Values "{parent}" "{c.name}"')
        body.update(values.as_dict())
    elif has_megaservice:
        body["enabled"] = False
    inner = {c.service for children in nested.values() for c in children}
    for inst in plan.components():
        if inst.service in inner:
            continue
        values = inst.values.as_dict()
        if inst.name in nested:
            present = {c.component: c for c in nested[inst.name]}
            for engine in inst.rule.nests:    # the engines this chart may carry: on or off
                values[engine] = present[engine].values.as_dict() if engine in present else {"enabled": False}
        body[inst.name] = values
    return "\n".join(lines) + dump(body)

