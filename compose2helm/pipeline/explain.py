"""`compose2helm explain`: per service, the rule that matched and what became of every compose key.

mapping.py records a finding only where the conversion departs from compose; keys it maps
faithfully (image, command, most environment entries, ports) leave no trace. This module fills
the gap with a table of what each compose key becomes in the chart. The table is checked
against the instance's values, so a key is called carried only when its value is there; a key
that neither a finding nor the table explains is reported as dropped, never left out.
No Helm is involved: explaining is loading and mapping only.
"""
from __future__ import annotations

import dataclasses
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..errors import InputError
from ..plan.findings import POLICY_UNKNOWN, Finding
from ..compose.model import ComposeProject, Service, Template
from ..plan.plan import ExamplePlan, Instance
from ..plan.rules import Policy, RuleSet

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
class KeyReport:
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
class ServiceReport:
    service: str
    file: str              # the compose file that declared it
    image: str
    chart: str             # the common chart, or the umbrella chart for the megaservice
    values_key: str        # its key in the umbrella's values ("" for the megaservice: top level)
    rule: str              # mapping rule file, or "generic"
    generic: bool
    keys: list[KeyReport] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)   # it recurses into the nested reports (the last field)


@dataclass
class FileReport:
    file: str              # as given, or relative to the tree explained
    status: str            # explained | rejected | skipped
    reason: str = ""
    example: str = ""
    platform: str = ""
    variant: str = ""
    sources: list[str] = field(default_factory=list)
    env_files: list[str] = field(default_factory=list)
    services: list[ServiceReport] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)   # it recurses into the nested reports (the last field)


# --- what each compose key becomes, when no finding says otherwise --------------------------------
# Each function reads the service and its instance's values and returns the sentence, or None
# when the values do not show the key carried (then the key is reported dropped).

Values = dict[str, Any]


def _image(s: Service, v: Values) -> str | None:
    img = v.get("image") or {}
    if not img:
        return None
    text = f"image.repository {img.get('repository')}, image.tag {img.get('tag')}"
    return text + (f", image.digest {img['digest']}" if img.get("digest") else "")


def _command(s: Service, v: Values) -> str | None:
    if "args" not in v or s.command is None:
        return None
    return (f"args ({len(v['args'])} words): flags the rule knows feed named values, other variables "
            "become values of their own")


def _entrypoint(s: Service, v: Values) -> str | None:
    if "command" not in v or s.entrypoint is None:
        return None
    return f"command ({len(v['command'])} words): the container's entrypoint"


def _env_counts(s: Service, v: Values) -> tuple[int, int]:
    env, secret = v.get("env") or {}, v.get("secretEnv") or {}
    return (sum(1 for k in s.environment if env.get(k) is not None),
            sum(1 for k in s.environment if secret.get(k) is not None))


def _environment(s: Service, v: Values) -> str | None:
    n_env, n_secret = _env_counts(s, v)
    if not n_env + n_secret:
        return None
    return (f"{n_env} env entries (the chart's ConfigMap), {n_secret} secretEnv entries (its Secret); "
            "variables become values")


def _env_file(s: Service, v: Values) -> str | None:
    if not sum(_env_counts(s, v)):
        return None
    return "read as data: its variables join the environment, as env (ConfigMap) / secretEnv (Secret) entries"


def _service_ports(v: Values) -> set[int]:
    return {int(p["port"]) for p in (v.get("service") or {}).get("ports") or []}


def _ports(s: Service, v: Values) -> str | None:
    targets = sorted({p.target for p in s.ports})
    if not targets or not set(targets) <= _service_ports(v):
        return None
    return f"service.ports: container port(s) {', '.join(map(str, targets))} on the Service and the container"


def _expose(s: Service, v: Values) -> str | None:
    if not s.expose or not set(s.expose) <= _service_ports(v):
        return None
    return f"service.ports: port(s) {', '.join(map(str, sorted(set(s.expose))))} on the Service and the container"


def _volumes(s: Service, v: Values) -> str | None:
    if "modelCachePath" not in v and "extraVolumes" not in v:
        return None
    return "mounts as chart volumes (modelCachePath, extraVolumes), entry by entry below"


def _tmpfs(s: Service, v: Values) -> str | None:
    memory = [e for e in v.get("extraVolumes") or [] if e.get("medium") == "Memory"]
    return "extraVolumes: memory-backed emptyDirs, entry by entry below" if memory else None


def _shm_size(s: Service, v: Values) -> str | None:
    return f"shmSize {v['shmSize']}: a memory-backed /dev/shm" if v.get("shmSize") else None


def _healthcheck(s: Service, v: Values) -> str | None:
    if "readinessProbe" in v:
        return "readinessProbe and startupProbe"
    hc = s.healthcheck
    if hc is not None and (hc.disable or not hc.test or str(hc.test[0]) == "NONE"):
        return "disabled: no probes, as compose runs no check"
    return None


def _working_dir(s: Service, v: Values) -> str | None:
    return f"workingDir {v['workingDir']}" if v.get("workingDir") else None


def _security(path: str, what: str) -> Callable[[Service, Values], str | None]:
    def carried(s: Service, v: Values) -> str | None:
        found = v.get("securityContext") or {}
        for part in path.split("."):
            found = found.get(part) if isinstance(found, dict) else None
        return f"securityContext.{path} {what}".rstrip() if found not in (None, {}, []) else None
    return carried


def _user(s: Service, v: Values) -> str | None:
    sc = v.get("securityContext") or {}
    if "runAsUser" not in sc:
        return None
    return f"securityContext.runAsUser {sc['runAsUser']}" + (
        f", runAsGroup {sc['runAsGroup']}" if "runAsGroup" in sc else "")


def _deploy(s: Service, v: Values) -> str | None:
    d = s.deploy
    if d is None:
        return None
    parts = []
    if d.replicas is not None and "replicaCount" in v:
        parts.append(f"replicas -> replicaCount {v['replicaCount']}")
    res = v.get("resources") or {}
    if (d.cpu_limit or d.memory_limit) and res.get("limits"):
        parts.append("limits -> resources.limits")
    if (d.cpu_request or d.memory_request) and res.get("requests"):
        parts.append("reservations -> resources.requests")
    if d.mode in (None, "replicated") and not parts and not d.devices:
        parts.append(f"mode {d.mode or 'replicated'}: a Deployment, as every chart makes")
    return "; ".join(parts) or None


CARRIED: dict[str, Callable[[Service, Values], str | None]] = {
    "image": _image,
    "command": _command,
    "entrypoint": _entrypoint,
    "environment": _environment,
    "env_file": _env_file,
    "ports": _ports,
    "expose": _expose,
    "volumes": _volumes,
    "tmpfs": _tmpfs,
    "shm_size": _shm_size,
    "healthcheck": _healthcheck,
    "working_dir": _working_dir,
    "user": _user,
    "read_only": _security("readOnlyRootFilesystem", "true"),
    "cap_add": _security("capabilities.add", "(all others dropped)"),
    "deploy": _deploy,
}

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

def explain_plan(plan: ExamplePlan, project: ComposeProject, policy: Policy | None = None) -> list[ServiceReport]:
    """Per service of the plan: the rule matched and an entry for every compose key it had."""
    by_service: dict[str, list[Finding]] = {}
    for f in plan.findings:
        by_service.setdefault(f.service, []).append(f)
    return [_explain_service(project.services[i.service], i, plan, by_service.get(i.service, []), project, policy)
            for i in plan.instances]


def _explain_service(s: Service, inst: Instance, plan: ExamplePlan, findings: list[Finding],
                     project: ComposeProject, policy: Policy | None) -> ServiceReport:
    present = present_keys(s)
    owner = _Owners(s, present, project.variables, _accelerator_key(s, inst, present, policy))
    owned: dict[str, list[Finding]] = {}
    for f in findings:
        owned.setdefault(owner(f.key), []).append(f)
    checks = _value_checks(s, inst, findings, owner.env_key)
    values = inst.values
    keys: list[KeyReport] = []
    for key in present + sorted(k for k in set(owned) | set(checks) if k not in present):
        fs = owned.get(key, [])
        # The accelerator finding is about the key that asked for the device (runtime, deploy, ...).
        direct = sorted((f for f in fs if f.key in (key, "accelerator")), key=lambda f: _PRIORITY.get(f.action, 9))
        entries = ([Entry.of(f) for f in direct[1:]] + [Entry.of(f) for f in fs if f not in direct]
                   + checks.get(key, []))
        in_compose = key in present
        if direct:
            f = direct[0]
            keys.append(KeyReport(key, f.action, f.detail, f.rule, "mapping", in_compose, entries))
            continue
        carried = CARRIED[key](s, values) if in_compose and key in CARRIED else None
        if carried:
            keys.append(KeyReport(key, "carried", carried, inst.rule.file, "explain", in_compose, entries))
        elif in_compose and _empty(s, key):
            keys.append(KeyReport(key, "carried", f"{key} is empty or false: nothing to carry (Kubernetes' "
                                  "default too)", inst.rule.file, "explain", in_compose, entries))
        elif entries:
            # Only its entries say what happened: the key is as dropped as all of them are.
            dropped = all(e.action == "dropped" for e in entries)
            keys.append(KeyReport(key, "dropped" if dropped else "changed",
                                  "every entry dropped (below)" if dropped else "entry by entry below",
                                  entries[0].rule, "entries", in_compose, entries))
        else:
            keys.append(KeyReport(key, "dropped", NOT_CARRIED, POLICY_UNKNOWN, "explain", in_compose))
    generic = s.name in plan.generic or inst.rule.generic
    return ServiceReport(s.name, str(s.file), s.image or "", inst.component or plan.chart,
                         inst.name if inst.component else "", GENERIC if generic else inst.rule.file,
                         generic, keys)


def _value_checks(s: Service, inst: Instance, findings: list[Finding], env_key: str) -> dict[str, list[Entry]]:
    """Parts of a carried key that did not reach the values and that no finding explains."""
    noted = {f.key for f in findings}
    v = inst.values
    out: dict[str, list[Entry]] = {}
    env, secret = v.get("env") or {}, v.get("secretEnv") or {}
    for k in s.environment:
        where = f"environment.{k}"
        if env.get(k) is None and secret.get(k) is None and where not in noted:
            out.setdefault(env_key, []).append(Entry(where, "dropped", NOT_CARRIED, POLICY_UNKNOWN, "explain"))
    if s.deploy and s.deploy.devices and not inst.accelerator:
        out.setdefault("deploy", []).append(Entry(
            "deploy.resources.reservations.devices", "dropped",
            "device reservations no accelerator profile knows: " + NOT_CARRIED, POLICY_UNKNOWN, "explain"))
    if s.deploy and s.deploy.mode not in (None, "replicated", "global"):
        out.setdefault("deploy", []).append(Entry("deploy.mode", "dropped", f"mode {s.deploy.mode}: "
                                                  + NOT_CARRIED, POLICY_UNKNOWN, "explain"))
    return out


def explain_files(files: list[Path], *, env_files: list[Path] | None = None, example: str | None = None,
                  platform: str | None = None, variant: str | None = None, mappings: list[Path] = (),
                  rules: RuleSet | None = None, strict: bool = False, label: str | None = None) -> FileReport:
    """Load and map compose file(s) as convert does (without rendering) and explain the result."""
    from ..plan.prepare import prepare

    p = prepare(list(files), env_files=env_files, example=example, platform=platform, variant=variant,
                mappings=mappings, rules=rules, strict=strict)
    plan = p.plan
    return FileReport(label or str(files[-1]), "explained", "", plan.example, plan.platform, plan.variant,
                      list(plan.sources), [str(e) for e in p.env_files],
                      explain_plan(plan, p.project, p.rules.policy))


def explain_tree(root: Path, *, mappings: list[Path] = (), rules: RuleSet | None = None,
                 strict: bool = False) -> list[FileReport]:
    """Every compose file migrate would convert (overlays with their base), one report each."""
    from .migrate import discover
    from ..plan.rules import load_rules

    root = Path(root)
    if not root.is_dir():
        raise InputError("not a directory", file=root)
    rules = rules or load_rules(list(mappings))
    jobs, others = discover(root)
    reports = [FileReport(o.file, o.status, o.reason) for o in others]
    for job in jobs:
        rel = str(job.files[-1].relative_to(root))
        try:
            reports.append(explain_files(job.files, variant=job.variant, rules=rules, strict=strict, label=rel))
        except InputError as exc:
            reports.append(FileReport(rel, "rejected", str(exc), job.example))
        except Exception as exc:  # noqa: BLE001 - one file's failure must not hide the others' reports
            reports.append(FileReport(rel, "rejected", f"internal error ({type(exc).__name__}): "
                                      f"{' '.join(str(exc).split())}", job.example))
    reports.sort(key=lambda r: r.file)
    return reports


# --- the closing note: counts ---------------------------------------------------------------------

def _items(s: ServiceReport):
    """(top-level key, action, rule, source) of every key and entry of a service."""
    for k in s.keys:
        if k.source != "entries":       # a summing-up action would count its entries twice
            yield k.key, k.action, k.rule, k.source
        for e in k.entries:
            yield k.key, e.action, e.rule, e.source


def summary(reports: list[FileReport]) -> dict[str, Any]:
    done = [r for r in reports if r.status == "explained"]
    services = [s for r in done for s in r.services]
    per_rule = Counter(s.rule for s in services)
    by_reason: dict[str, dict[str, Counter]] = {"dropped": {}, "changed": {}}
    not_carried: Counter = Counter()
    actions: Counter = Counter()
    for s in services:
        for key, action, rule, source in _items(s):
            actions[action] += 1
            if action in by_reason:
                by_reason[action].setdefault(rule, Counter())[key] += 1
            if action == "dropped" and source == "explain":
                not_carried[key] += 1

    def table(counts: dict[str, Counter]) -> dict[str, dict[str, Any]]:
        order = sorted(counts, key=lambda r: (-sum(counts[r].values()), r))
        return {r: {"count": sum(counts[r].values()), "keys": dict(counts[r].most_common())} for r in order}

    return {
        "files": len(reports),
        "explained": len(done),
        "rejected": sum(1 for r in reports if r.status == "rejected"),
        "skipped": sum(1 for r in reports if r.status == "skipped"),
        "services": len(services),
        "keys": sum(1 for s in services for k in s.keys if k.in_compose),   # compose keys, not added ones
        "actions": dict(actions.most_common()),
        "services_per_rule": dict(sorted(per_rule.items(), key=lambda kv: (-kv[1], kv[0]))),
        "generic": [{"service": s.service, "file": r.file, "image": s.image, "chart": s.chart}
                    for r in done for s in r.services if s.generic],
        "dropped": table(by_reason["dropped"]),
        "changed": table(by_reason["changed"]),
        # Keys the conversion dropped without a finding of its own: found here, not by mapping.
        "dropped_without_finding": dict(not_carried.most_common()),
        "rejected_files": [{"file": r.file, "reason": r.reason} for r in reports if r.status == "rejected"],
    }


def as_dict(reports: list[FileReport], summary_only: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {"summary": summary(reports)}
    if not summary_only:
        out["files"] = [r.as_dict() for r in reports]
    return out


# --- tables -------------------------------------------------------------------------------------

_COLOURS = {"carried": "green", "changed": "yellow", "dropped": "red", "added": "cyan", "unresolved": "magenta"}


def print_reports(reports: list[FileReport], *, show_summary: bool = False, details: bool = True,
                  console=None) -> None:
    from rich.console import Console
    from rich.table import Table

    console = console or Console(highlight=False)
    if details:
        for r in reports:
            if r.status != "explained":
                colour = "red" if r.status == "rejected" else "dim"
                console.print(f"[{colour}]{r.status}[/] {r.file}: {r.reason}")
                continue
            console.print(f"[bold]{r.file}[/] ({r.example} on {r.platform}"
                          + (f"-{r.variant}" if r.variant else "") + ")")
            if r.env_files:
                console.print("env files: " + ", ".join(r.env_files))
            for s in r.services:
                where = s.values_key or "(top level)"
                table = Table(title=f"{s.service} -> {s.chart} [{where}] rule {s.rule}", title_justify="left")
                for col in ("key", "action", "detail", "rule"):
                    table.add_column(col, overflow="fold")
                for k in s.keys:
                    name = k.key if k.in_compose else f"{k.key} (not in compose)"
                    colour = _COLOURS.get(k.action, "")
                    table.add_row(name, f"[{colour}]{k.action}[/]", k.detail, k.rule)
                    for e in k.entries:
                        colour = _COLOURS.get(e.action, "")
                        table.add_row(f"  {e.key}", f"[{colour}]{e.action}[/]", e.detail, e.rule)
                console.print(table)
    if show_summary:
        print_summary(summary(reports), console)


def print_summary(s: dict[str, Any], console=None) -> None:
    from rich.console import Console
    from rich.table import Table

    console = console or Console(highlight=False)
    counts = Table(title="explain summary", title_justify="left")
    scalar = {k: v for k, v in s.items() if isinstance(v, int)}
    for k in scalar:
        counts.add_column(k)
    counts.add_row(*[str(v) for v in scalar.values()])
    console.print(counts)
    console.print("actions: " + ", ".join(f"{a} {n}" for a, n in s["actions"].items()))

    rules = Table(title="services per rule", title_justify="left")
    rules.add_column("rule")
    rules.add_column("services", justify="right")
    for rule, n in s["services_per_rule"].items():
        rules.add_row(rule, str(n))
    console.print(rules)

    if s["generic"]:
        generic = Table(title=f"generic fallbacks ({len(s['generic'])})", title_justify="left")
        for col in ("service", "file", "image", "chart"):
            generic.add_column(col, overflow="fold")
        for g in s["generic"]:
            generic.add_row(g["service"], g["file"], g["image"], g["chart"])
        console.print(generic)
    else:
        console.print("generic fallbacks: none")

    for action in ("dropped", "changed"):
        table = Table(title=f"{action} keys by reason", title_justify="left")
        for col in ("rule", "count", "keys"):
            table.add_column(col, overflow="fold")
        for rule, row in s[action].items():
            table.add_row(rule, str(row["count"]), ", ".join(f"{k} {n}" for k, n in row["keys"].items()))
        console.print(table)
    silent = s["dropped_without_finding"]
    console.print("dropped without a mapping finding (reported by explain): "
                  + (", ".join(f"{k} {n}" for k, n in silent.items()) if silent else "none"))
    for r in s["rejected_files"]:
        console.print(f"[red]rejected[/] {r['file']}: {r['reason']}")
