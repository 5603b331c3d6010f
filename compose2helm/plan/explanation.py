"""The explanation of a plan: per service, the rule that matched and what became of every compose key.

The planner records a finding only where the conversion departs from compose; the keys it maps
faithfully leave no trace. Here each service's findings are sorted under the top-level compose
key they are about, and a key with no finding of its own is checked against the table of what
it becomes (carried_keys.py): it is called carried only when its value is in the instance's
values; a key that neither a finding nor the table explains is reported as dropped, never left out.
Explaining reads only the compose model, the plan and the policy: no chart is written, no Helm runs.
"""
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Any

from ..compose.model import ComposeProject, Service, Template
from .carried_keys import CARRIED, env_not_in_values
from .findings import POLICY_UNKNOWN, Finding
from .plan import ExamplePlan, Instance
from .rules import Policy


NOT_CARRIED = "not carried: no mapping rule or policy turns this key into anything in the chart"
GENERIC = "generic"

# Which action describes a key when it has several findings of its own: what changed the key
# says more than a side note that part of it was dropped (runtime habana -> device plugin).
_PRIORITY = {"changed": 0, "dropped": 1, "unresolved": 2, "added": 3, "carried": 4}


@dataclass(frozen=True)
class Entry:
    """One finding under a compose key: environment.FOO, volumes[0], ${VAR}, ..."""

    key: str
    action: str            # carried | changed | dropped | added | unresolved
    detail: str
    rule: str
    source: str = "mapping"   # mapping: a finding of the conversion; explain: found here

    @staticmethod
    def of(f: Finding) -> "Entry":
        return Entry(f.key, f.action, f.detail, f.rule)

    def as_dict(self) -> dict[str, str]:
        return dataclasses.asdict(self)


@dataclass
class KeyExplanation:
    """A top-level compose key of a service (or a key the conversion added) and what became of it."""

    key: str
    action: str
    detail: str
    rule: str
    source: str = "mapping"      # mapping | explain | entries: the action only sums up the entries below
    in_compose: bool = True
    entries: list[Entry] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)   # it recurses into the nested reports (the last field)


@dataclass
class ServiceExplanation:
    service: str
    file: str              # the compose file that declared it
    image: str
    chart: str             # the common chart, or the umbrella chart for the megaservice
    values_key: str        # its key in the umbrella's values ("" for the megaservice: top level)
    rule: str              # mapping rule file, or "generic"
    generic: bool
    keys: list[KeyExplanation] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)   # it recurses into the nested reports (the last field)


@dataclass
class FileExplanation:
    file: str              # as given, or relative to the tree explained
    status: str            # explained | rejected | skipped
    reason: str = ""
    example: str = ""
    platform: str = ""
    variant: str = ""
    sources: list[str] = field(default_factory=list)
    env_files: list[str] = field(default_factory=list)
    services: list[ServiceExplanation] = field(default_factory=list)
    # Each compose variable and the value that sets it (coupling.listing).
    variables: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)   # it recurses into the nested reports


# --- the compose keys of a service ------------------------------------------------------------

# Model fields that hold a compose key of the same name (to tell an empty key from a dropped one).
_FIELDS = {f.name for f in dataclasses.fields(Service)} - {"name", "file", "extra", "keys"}


def present_keys(s: Service) -> list[str]:
    """The service's top-level compose keys; for a Service built without them, what its fields show."""
    if s.keys:
        return list(s.keys)
    blank = Service(name=s.name, file=s.file)
    found = {k for k in _FIELDS if getattr(s, k) != getattr(blank, k)} | set(s.extra)
    return sorted(found)


def _empty(s: Service, key: str) -> bool:
    return key in _FIELDS and key not in s.extra and not getattr(s, key)


# --- which compose key a finding belongs to -------------------------------------------------------

def _templates(s: Service, key: str) -> list[Template]:
    if key in ("environment", "env_file"):
        return [t for t in s.environment.values() if t is not None]
    if key in ("command", "entrypoint"):
        return list(getattr(s, key) or [])
    if key == "healthcheck":
        return list(s.healthcheck.test) if s.healthcheck else []
    if key == "volumes":
        return [v.source_template for v in s.volumes if v.source_template is not None]
    return []


def _reach(t: list[Template], variables: dict[str, Template]) -> set[str]:
    """Variables the templates use, directly or through env-file definitions."""
    found: set[str] = set()
    todo = [v.name for x in t for v in x.variables()]
    while todo:
        name = todo.pop()
        if name in found:
            continue
        found.add(name)
        if name in variables:
            todo.extend(v.name for v in variables[name].variables())
    return found


class _Owners:
    """Maps a finding key to the top-level compose key it is about."""

    def __init__(self, s: Service, present: list[str], variables: dict[str, Template], accel_key: str):
        self.present, self.accel_key = present, accel_key
        self.env_key = "env_file" if "environment" not in present and "env_file" in present else "environment"
        self.uses = {k: _reach(_templates(s, k), variables)
                     for k in ("environment", "command", "entrypoint", "healthcheck", "volumes") if k in present}
        if self.env_key == "env_file":
            self.uses = {"env_file": _reach(_templates(s, "env_file"), variables), **self.uses}

    def __call__(self, key: str) -> str:
        if key == "accelerator":
            return self.accel_key
        if key.startswith("${") and key.endswith("}"):
            return self._using(key[2:-1]) or key
        head = re.split(r"[.\[]", key, maxsplit=1)[0]
        if head == "environment":
            return self.env_key
        if head in self.present or head in _FIELDS:
            return head
        return self._using(key) or key      # a named value: the key whose variable feeds it

    def _using(self, name: str) -> str | None:
        return next((k for k, names in self.uses.items() if name in names), None)


def _accelerator_key(s: Service, inst: Instance, present: list[str], policy: Policy | None) -> str:
    """The compose key that asked for the accelerator, in the order accelerators.detect looks."""
    profile = next((p for p in (policy.accelerators if policy else ()) if p.name == inst.accelerator), None)
    env = "environment" if "environment" in present else "env_file"
    if profile is None:
        tried = [k for k in ("runtime", "deploy", "devices") if k in present]
        return tried[0] if tried else env
    if s.runtime and s.runtime in profile.runtimes:
        return "runtime"
    if any(e in s.environment for e in profile.env):
        return env
    if profile.devices and "devices" in present:
        return "devices"
    return "deploy" if "deploy" in present else env


# --- explaining --------------------------------------------------------------------------------

def explain_plan(plan: ExamplePlan, project: ComposeProject,
                 policy: Policy | None = None) -> list[ServiceExplanation]:
    """Per service of the plan: the rule matched and an entry for every compose key it had."""
    by_service: dict[str, list[Finding]] = {}
    for f in plan.findings:
        by_service.setdefault(f.service, []).append(f)
    return [_explain_service(project.services[i.service], i, plan, by_service.get(i.service, []), project, policy)
            for i in plan.instances]


def _explain_service(s: Service, inst: Instance, plan: ExamplePlan, findings: list[Finding],
                     project: ComposeProject, policy: Policy | None) -> ServiceExplanation:
    present = present_keys(s)
    owner = _Owners(s, present, project.variables, _accelerator_key(s, inst, present, policy))
    owned: dict[str, list[Finding]] = {}
    for f in findings:
        owned.setdefault(owner(f.key), []).append(f)
    checks = _value_checks(s, inst, findings, owner.env_key)
    values = inst.values
    keys: list[KeyExplanation] = []
    for key in present + sorted(k for k in set(owned) | set(checks) if k not in present):
        fs = owned.get(key, [])
        # The accelerator finding is about the key that asked for the device (runtime, deploy, ...).
        direct = sorted((f for f in fs if f.key in (key, "accelerator")), key=lambda f: _PRIORITY.get(f.action, 9))
        entries = ([Entry.of(f) for f in direct[1:]] + [Entry.of(f) for f in fs if f not in direct]
                   + checks.get(key, []))
        in_compose = key in present
        if direct:
            f = direct[0]
            keys.append(KeyExplanation(key, f.action, f.detail, f.rule, "mapping", in_compose, entries))
            continue
        carried = CARRIED[key](s, values) if in_compose and key in CARRIED else None
        if carried:
            keys.append(KeyExplanation(key, "carried", carried, inst.rule.file, "explain", in_compose, entries))
        elif in_compose and _empty(s, key):
            keys.append(KeyExplanation(key, "carried", f"{key} is empty or false: nothing to carry (Kubernetes' "
                                       "default too)", inst.rule.file, "explain", in_compose, entries))
        elif entries:
            # Only its entries say what happened: the key is as dropped as all of them are.
            dropped = all(e.action == "dropped" for e in entries)
            keys.append(KeyExplanation(key, "dropped" if dropped else "changed",
                                       "every entry dropped (below)" if dropped else "entry by entry below",
                                       entries[0].rule, "entries", in_compose, entries))
        else:
            keys.append(KeyExplanation(key, "dropped", NOT_CARRIED, POLICY_UNKNOWN, "explain", in_compose))
    generic = s.name in plan.generic or inst.rule.generic
    return ServiceExplanation(s.name, str(s.file), s.image or "", inst.component or plan.chart,
                              inst.name if inst.component else "", GENERIC if generic else inst.rule.file,
                              generic, keys)


def _value_checks(s: Service, inst: Instance, findings: list[Finding], env_key: str) -> dict[str, list[Entry]]:
    """Parts of a carried key that did not reach the values and that no finding explains."""
    noted = {f.key for f in findings}
    out: dict[str, list[Entry]] = {}
    for k in env_not_in_values(s, inst.values):
        where = f"environment.{k}"
        if where not in noted:
            out.setdefault(env_key, []).append(Entry(where, "dropped", NOT_CARRIED, POLICY_UNKNOWN, "explain"))
    if s.deploy and s.deploy.devices and not inst.accelerator:
        out.setdefault("deploy", []).append(Entry(
            "deploy.resources.reservations.devices", "dropped",
            "device reservations no accelerator profile knows: " + NOT_CARRIED, POLICY_UNKNOWN, "explain"))
    if s.deploy and s.deploy.mode not in (None, "replicated", "global"):
        out.setdefault("deploy", []).append(Entry("deploy.mode", "dropped", f"mode {s.deploy.mode}: "
                                                  + NOT_CARRIED, POLICY_UNKNOWN, "explain"))
    return out
