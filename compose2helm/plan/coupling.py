"""One compose variable, one Helm value: the variables that several services of a file use.

Each chart names the values its compose texts use after their variables (texts.py), so a
variable that three services use would become three values, and a user who changes one gets
services that disagree (an engine serving one model, the megaservice asking for another). Once
every service is planned, the uses of each variable are made one value:

- used by the megaservice and one chart: that chart's value is the one, and the megaservice reads
  it there (the engine owns the model id: GenAIInfra's megaservice reads vllm.LLM_MODEL_ID);
- used by two or more charts: `global.<VAR>` sets every use, since globals are the only values
  Helm shares between subcharts. Each chart keeps its own key (GenAIInfra's `data-prep.INDEX_NAME`
  still works for that chart alone), which applies while the global is empty; the keys start from
  one default, so an empty env-file value and a rule's default cannot disagree between services.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..compose.model import ComposeProject
from .findings import POLICY_VALUE, Finding
from .plan import ExamplePlan, Instance
from .rules import Policy
from .texts import value_ref


@dataclass(frozen=True)
class Variable:
    """A compose variable that a chart value holds, and the value a user sets to change it."""

    name: str
    value: str                      # the dotted path to pass to --set on the umbrella
    services: tuple[str, ...]       # the compose services that use it, in file order
    default: str                    # what it is when nothing is set
    secret: bool = False
    # What a use that compose leaves empty renders instead: the owning chart's value for the
    # megaservice, a rule's default for the other charts (verify resolves compose the same way).
    fallback: dict[str, str] = field(default_factory=dict, compare=False)

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "value": self.value, "services": list(self.services),
                "default": "" if self.secret else self.default}


def _index(*path: str) -> str:
    """.Values.a.b, or Helm's index form when a key is not an identifier (retriever-usvc)."""
    if all(p.isidentifier() for p in path):
        return ".Values." + ".".join(path)
    return "index .Values " + " ".join(f'"{p}"' for p in path)


def _global_or(var: str, fallback: str) -> str:
    return "{{ " + f'{_index("global", var)} | default ({fallback})' + " }}"


def couple(instances: list[Instance], fed: dict[str, dict[str, str | None]], secret: dict[str, set[str]],
           ruled: dict[str, set[str]]) -> tuple[list[Variable], list[Finding]]:
    """Make each variable's uses one value (rewriting the instances' values in place); returns
    one entry per variable a chart value holds, and what changed. ruled: the value keys that hold
    their rule's default because compose left the variable empty."""
    uses: dict[str, list[tuple[Instance, str]]] = {}
    for inst in instances:
        for key, var in sorted(fed.get(inst.service, {}).items()):
            if var is not None and inst.values.named(key) is not None:
                uses.setdefault(var, []).append((inst, key))
    findings: list[Finding] = []
    out: list[Variable] = []
    for var in sorted(uses):
        group = uses[var]
        charts = [(i, k) for i, k in group if not i.is_megaservice]
        mega = [(i, k) for i, k in group if i.is_megaservice]
        is_secret = any(k in secret.get(i.service, set()) for i, k in group)
        services = tuple(dict.fromkeys(i.service for i, _ in group))
        if not charts:
            inst, key = mega[0]
            out.append(Variable(var, key, services, str(inst.values.named(key)), is_secret))
            continue
        owner, owner_key = _owner(charts)
        default = str(owner.values.named(owner_key))
        # Compose left the variable empty and a rule gave one chart its default: the others that
        # compose also leaves empty take it too. Defaults compose itself gives (`${X:-False}` in
        # one service, `${X}` in another) stay each its own, as compose has them.
        given = next((str(i.values.named(k)) for i, k in [(owner, owner_key)] + charts
                      if k in ruled.get(i.service, set())), None)
        if len(charts) == 1:
            value, from_mega = f"{owner.name}.{owner_key}", "{{ " + _index(owner.name, owner_key) + " }}"
        else:
            value = f"global.{var}"
            from_mega = _global_or(var, _index(owner.name, owner_key))
            for inst, key in charts:
                inst.values.replace_text(value_ref(key), _global_or(var, _index(key)))
                if given is not None and inst.values.named(key) == "":
                    findings.append(Finding(inst.service, key, "changed", f"unset {var}: the default another "
                                            f"service's rule gives it, {given!r}", POLICY_VALUE))
                    inst.values.set_named(key, given)
        fallback = {i.service: given for i, _ in charts if given}
        for inst, key in mega:
            fallback[inst.service] = default
            inst.values.replace_text(value_ref(key), from_mega)
            inst.values.drop_named(key)
            findings.append(Finding(inst.service, key, "changed", f"{var} is one value, {value}: the megaservice "
                                    "reads it there", POLICY_VALUE))
        out.append(Variable(var, value, services, default, is_secret, fallback))
    return out, findings


def _owner(charts: list[tuple[Instance, str]]) -> tuple[Instance, str]:
    """The chart whose rule documents the value (the engine for a model id), else the first."""
    for inst, key in charts:
        if any(v.key == key and v.default for v in inst.rule.values):
            return inst, key
    return charts[0]


def listing(plan: ExamplePlan, project: ComposeProject, policy: Policy) -> list[dict[str, Any]]:
    """Every compose variable the file's services use, and what it became: the value a user sets
    (`value`: a dotted --set path on the umbrella, None when nothing is set for it) and which
    services use it. `kind` says why: value (a chart value), global (proxies, the HF token),
    address (rewritten to a Service's DNS name), inline (written into the chart as compose
    resolved it: host paths of volumes, parts of an address, `${X:+text}`)."""
    used: dict[str, list[str]] = {}
    for s in project.services.values():
        texts = [t for t in s.environment.values() if t is not None] + list(s.command or []) + \
            list(s.entrypoint or []) + [v.source_template for v in s.volumes if v.source_template is not None]
        for name in dict.fromkeys(v.name for t in texts for v in t.variables()):
            used.setdefault(name, []).append(s.name)
    valued = {v.name: v for v in plan.variables}
    # A host path mounted where the chart mounts its model cache is global.modelUseHostPath's job.
    cache = {i.service: i.values.model_cache_path for i in plan.instances}
    model_dirs = {v.name for s in project.services.values() for vol in s.volumes
                  if vol.source_template is not None and cache.get(s.name) and vol.target == cache[s.name]
                  for v in vol.source_template.variables()}
    out = []
    for name in sorted(set(used) | set(valued)):
        services = used.get(name, [])
        if name in valued:
            v = valued[name]
            entry = {**v.as_dict(), "kind": "value"}
        elif policy.is_proxy(name):
            entry = {"name": name, "value": f"global.{name}", "services": services, "kind": "global"}
        elif name in policy.token_variables:
            entry = {"name": name, "value": "global.HF_TOKEN", "services": services, "kind": "global"}
        elif name in model_dirs:
            entry = {"name": name, "value": "global.modelUseHostPath", "services": services, "kind": "global"}
        elif policy.is_host_variable(name) or name in policy.endpoint_variables:
            entry = {"name": name, "value": None, "services": services, "kind": "address"}
        else:
            entry = {"name": name, "value": None, "services": services, "kind": "inline"}
        out.append(entry)
    return out
