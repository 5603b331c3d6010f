"""Chart files from the plan: one common chart per component, one umbrella chart per example.

Everything here returns {relative path: text}; writing to disk is output.py's job. Common
charts depend only on their mapping rule (so every example shares them byte for byte);
what differs between examples and platforms lives in the umbrella's overlay values.
"""
from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from typing import Any

import jinja2

from . import __version__
from .plan import ExamplePlan, Instance
from .rules import Rule
from .yamlout import dump, dump_indented

CHART_VERSION = __version__
RELEASE_DNS_DOC = "<release>-<chart>"


def _env() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FunctionLoader(
            lambda name: resources.files("compose2helm.chart_templates").joinpath(name).read_text("utf-8")),
        variable_start_string="[[", variable_end_string="]]",
        block_start_string="[%", block_end_string="%]",
        comment_start_string="[#", comment_end_string="#]",
        keep_trailing_newline=True, autoescape=False, undefined=jinja2.StrictUndefined)
    env.filters["to_yaml"] = dump_indented
    env.policies["json.dumps_kwargs"] = {"sort_keys": False, "ensure_ascii": False}
    return env


_ENV = _env()


def _render(template: str, **ctx: Any) -> str:
    text = _ENV.get_template(template).render(**ctx)
    return text if text.endswith("\n") else text + "\n"


def _workload_templates(name: str, fullname_expr: str, fullname_doc: str, gated: bool = False) -> dict[str, str]:
    ctx = {"name": name, "fullname_expr": fullname_expr, "fullname_doc": fullname_doc}
    files = {
        "templates/_helpers.tpl": _render("helpers.tpl.j2", **ctx),
        "templates/configmap.yaml": _render("configmap.yaml.j2", **ctx),
        "templates/secret.yaml": _render("secret.yaml.j2", **ctx),
        "templates/deployment.yaml": _render("deployment.yaml.j2", **ctx),
        "templates/service.yaml": _render("service.yaml.j2", **ctx),
        "templates/tests/test-pod.yaml": _render("test-pod.yaml.j2", **ctx),
    }
    if gated:   # the umbrella's own workload runs only where an overlay has a megaservice
        for rel, text in files.items():
            if not rel.endswith(".tpl"):
                files[rel] = "{{- if .Values.enabled }}\n" + text + "{{- end }}\n"
    return files


def _values_context(rule: Rule, name: str) -> dict[str, Any]:
    from .probes import rule_probes
    ports = [{"name": str(p["name"]), "port": int(p["port"])} for p in rule.ports]
    probes = rule_probes(rule.probe, ports[0]["port"] if ports else None)
    return {
        "name": name,
        "description": rule.description or f"The {name} component.",
        "rule_file": rule.file,
        "image": {"repository": rule.image.get("repository", ""), "tag": str(rule.image.get("tag", ""))},
        "named": [v for v in rule.values],
        "args": [],
        "ports": ports,
        "readiness": probes[0] if probes else None,
        "startup": probes[1] if probes else None,
    }


def common_chart(rule: Rule) -> dict[str, str]:
    """helm-charts/common/<component>/ for a rule."""
    name = rule.component
    files = {
        "Chart.yaml": _render("Chart.yaml.j2", name=name, description=rule.description or f"The {name} component.",
                              version=CHART_VERSION, app_version=str(rule.image.get("tag", "latest")),
                              keywords=list(rule.keywords), dependencies=[]),
        "values.yaml": _render("values.yaml.j2", **_values_context(rule, name)),
        ".helmignore": _render("helmignore.j2"),
    }
    fullname = '{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" }}'
    files.update(_workload_templates(name, fullname, "<release>-<chart or alias>"))
    return files


@dataclass(frozen=True)
class Dependency:
    name: str          # common chart
    alias: str         # "" when the instance uses the chart's own name

    @property
    def key(self) -> str:
        return self.alias or self.name

    def as_dict(self) -> dict[str, str]:
        return {"name": self.name, "version": CHART_VERSION, "repository": f"file://../common/{self.name}",
                "alias": self.alias, "condition": f"{self.key}.enabled"}


def dependencies_of(plan: ExamplePlan) -> list[Dependency]:
    return [Dependency(i.component, "" if i.name == i.component else i.name) for i in plan.components()]


def umbrella_chart(plan: ExamplePlan, deps: list[Dependency], megaservice: Rule | None,
                   overlays: dict[str, str]) -> dict[str, str]:
    """helm-charts/<example>/: Chart.yaml, neutral values.yaml, the megaservice templates, overlays.

    deps is every dependency any overlay of the example uses (sorted by values key);
    overlays maps overlay file name -> the compose file it came from.
    """
    name = plan.chart
    deps = sorted(set(deps), key=lambda d: d.key)
    description = f"The {plan.example} example: its megaservice and the components it runs."
    files = {
        "Chart.yaml": _render("Chart.yaml.j2", name=name, description=description, version=CHART_VERSION,
                              app_version=_app_version(plan), keywords=["opea", "genai", name],
                              dependencies=[d.as_dict() for d in deps]),
        ".helmignore": _render("helmignore.j2"),
    }
    header = [f"# Install with a platform overlay, e.g. helm install {name} . -f {sorted(overlays)[0]}"
              if overlays else ""]
    for file_name, source in sorted(overlays.items()):
        header.append(f"#   {file_name}: from {source}")
    components = "\n".join(
        f"{d.key}:\n  # {d.name} chart; enabled by the overlays that run it.\n  enabled: false" for d in deps)
    if megaservice is not None:
        ctx = _values_context(megaservice, name)
        ctx["description"] = description
        ctx["image"] = {"repository": _mega_repository(plan), "tag": ""}
        values = _render("values.yaml.j2", **ctx)
        values = values.replace("\nreplicaCount: 1\n",
                                "\n" + "\n".join(header) + "\n\n# The megaservice (this chart's own templates); "
                                "overlays without one turn it off.\nenabled: true\nreplicaCount: 1\n", 1)
        files.update(_workload_templates(name, "{{- .Release.Name | trunc 63 | trimSuffix \"-\" }}", "<release>",
                                         gated=True))
    else:
        values = (f"# Default values for {name}.\n# {description}\n" + "\n".join(header)
                  + "\n\nglobal:\n" + _render("values.yaml.j2", **_values_context(
                      Rule(component=name, file="none"), name)).split("\nglobal:\n", 1)[1])
    values = values.replace("\nglobal:\n", f"\n# Components (common charts).\n{components}\n\nglobal:\n", 1) \
        if components else values
    files["values.yaml"] = values
    return files


def _mega_repository(plan: ExamplePlan) -> str:
    mega = plan.megaservice()
    return mega.values["image"]["repository"] if mega else f"opea/{plan.chart}"


def _app_version(plan: ExamplePlan) -> str:
    mega = plan.megaservice()
    return str(mega.values["image"].get("tag", "latest")) if mega else "latest"


def overlay(plan: ExamplePlan, has_megaservice: bool) -> str:
    """<platform>[-<variant>]-values.yaml: everything the compose file says, as values."""
    lines = [
        f"# {plan.example} on {plan.overlay_name}: values converted from {', '.join(plan.sources)}.",
        "# Generated by compose2helm; regenerate rather than edit.",
        "",
    ]
    body: dict[str, Any] = {}
    mega = plan.megaservice()
    if mega is not None:
        body["enabled"] = True
        body.update(mega.values)
    elif has_megaservice:
        body["enabled"] = False
    for inst in plan.components():
        body[inst.name] = inst.values
    return "\n".join(lines) + dump(body)

