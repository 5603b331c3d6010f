"""`compose2helm verify`: do the rendered manifests mean what the compose file means?

Both sides are reduced to the same record (records.py) and compared with deepdiff. Every
difference is explained (a mapping rule or documented policy names it) or unexplained, which
fails. Structural checks run on the same objects: helm lint, Kubernetes schema, selectors,
references, names.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..errors import InputError
from ..helm.lint import LintMessage, lint_chart
from ..plan.endpoints import EndpointIndex, Target
from ..plan.findings import (POLICY_CONFIG_FILE, POLICY_MODEL_CACHE, POLICY_PROXY, POLICY_PVC, POLICY_SECRET,
                             POLICY_VALUE, POLICY_VOLUME)
from ..plan.plan import Instance
from ..plan.prepare import Prepared
from ..yamlout import SAFE_LOADER
from .k8scheck import Problem, check_all
from .netpol import check_wiring
from .podpolicy import check_pod
from .records import ObjectIndex, compose_record, workload_record


@dataclass
class Difference:
    field: str
    compose: Any
    kubernetes: Any
    rule: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"field": self.field, "compose": self.compose, "kubernetes": self.kubernetes, "rule": self.rule}


@dataclass
class ServiceReport:
    service: str
    workload: str
    explained: list[Difference] = field(default_factory=list)
    unexplained: list[Difference] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"service": self.service, "workload": self.workload,
                "explained": [d.as_dict() for d in self.explained],
                "unexplained": [d.as_dict() for d in self.unexplained]}


@dataclass
class VerifyReport:
    services: list[ServiceReport]
    lint: list[LintMessage] = field(default_factory=list)     # each naming its chart
    schema: list[Problem] = field(default_factory=list)       # schema, selector, reference, name problems

    @property
    def ok(self) -> bool:
        return (not any(s.unexplained for s in self.services)
                and not any(m.severity == "error" for m in self.lint)
                and not any(p.severity == "error" for p in self.schema))

    @property
    def errors(self) -> int:
        """Lint and schema errors, counted together."""
        return sum(1 for p in self.schema if p.severity == "error") + sum(1 for m in self.lint if m.severity == "error")

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "services": [s.as_dict() for s in self.services],
                "lint": [m.as_dict() for m in self.lint], "schema": [p.as_dict() for p in self.schema]}


def load_manifests(path: Path) -> list[dict[str, Any]]:
    path = Path(path)
    files = sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file()) \
        if path.is_dir() else [path]
    if not files or not path.exists():
        raise InputError("no manifests to verify (convert first, or give --manifests)", file=path)
    objects = []
    for f in files:
        try:
            docs = list(yaml.load_all(f.read_text(encoding="utf-8"), Loader=SAFE_LOADER))
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            raise InputError(f"cannot read manifest: {' '.join(str(exc).split())}", file=f) from None
        for d in docs:
            if isinstance(d, dict) and d:
                objects.append(d)
            elif d is not None:
                raise InputError("a manifest document is not a Kubernetes object (mapping)", file=f)
    return objects


def _service_for(index: ObjectIndex, workload: dict | None) -> dict | None:
    if workload is None:
        return None
    labels = ((workload.get("spec") or {}).get("template") or {}).get("metadata", {}).get("labels") or {}
    found = index.services_selecting(labels)
    return found[0] if found else None


def workload_name(inst: Instance, release: str) -> str:
    return release if inst.is_megaservice else f"{release}-{inst.name}"


def verify_objects(prepared: Prepared, objects: list[dict[str, Any]]) -> list[ServiceReport]:
    plan, project, policy = prepared.plan, prepared.project, prepared.rules.policy
    release = prepared.release
    # Addresses are checked against what was rendered: the Service that selects each workload.
    index_k8s = ObjectIndex(objects)
    targets = {}
    for inst in plan.instances:
        s = project.services[inst.service]
        svc = _service_for(index_k8s, index_k8s.workload(workload_name(inst, release)))
        if svc is None and inst.values.enabled is False:
            # Off by default (compose profiles): where it would be, once someone turns it on.
            svc = {"metadata": {"name": workload_name(inst, release)},
                   "spec": {"ports": inst.values.port_entries}}
        dns = svc["metadata"]["name"] if svc else f"<no Service for {inst.service}>"
        ports = tuple(p.get("port") for p in (svc or {}).get("spec", {}).get("ports") or [])
        targets[inst.service] = Target(inst.service, dns, ports, {p.published: p.target for p in s.ports
                                                                  if p.published})
    index = EndpointIndex(targets, {s.container_name: s.name for s in project.services.values()
                                    if s.container_name and s.container_name not in project.services})
    components = {i.service: (i.rule.component if i.is_megaservice else i.component) for i in plan.instances}
    # NetworkPolicies against the calls compose makes (netpol.py), per workload
    network: dict[str, list] = {}
    for d in check_wiring(plan, objects, release, {workload_name(i, release): _service_for(
            index_k8s, index_k8s.workload(workload_name(i, release))) for i in plan.instances}):
        network.setdefault(d.workload, []).append(Difference(d.field, d.compose, d.kubernetes))
    reports = []
    for inst in plan.instances:
        name = workload_name(inst, release)
        report = ServiceReport(inst.service, name)
        reports.append(report)
        workload = index_k8s.workload(name)
        service = project.services[inst.service]
        findings = [f for f in plan.findings if f.service == inst.service]
        if workload is None:
            off = inst.values.enabled is False and next((f for f in findings if f.key == "profiles"), None)
            if off:      # compose starts it only for its profiles; the chart has it off by default
                report.explained.append(Difference("workload", inst.service, None, off.rule))
            else:
                report.unexplained.append(Difference("workload", inst.service, None))
            continue
        shared = {v.name: (v.fallback[inst.service], v.value) for v in plan.variables if v.fallback.get(inst.service)}
        crec = compose_record(service, project, policy, inst.rule, index, components, plan.chart, shared)
        krec = workload_record(workload, index_k8s, policy, inst.name if not inst.is_megaservice else plan.chart)
        _compare(report, crec, krec, findings, policy)
        for violation in check_pod(workload, plan.allowed, capabilities=set(service.cap_add) | set(inst.rule.capabilities),
                                   read_only_root=inst.rule.read_only_root or service.read_only,
                                   user=None if service.user else inst.rule.identity.get("runAsUser")):
            report.unexplained.append(Difference(f"policy.{violation.field}", "least privilege", violation.detail))
        report.unexplained += network.get(name, [])
        for f in findings:
            if f.action == "dropped" or (f.action == "changed" and f.key == "ports"):
                report.explained.append(Difference(f.key, f.detail, None, f.rule))
    return reports


def _compare(report: ServiceReport, crec, krec: dict[str, Any], findings, policy) -> None:
    sources = krec.pop("_sources", {})
    c_values = crec.values
    applied = {}
    for a in crec.applied:
        applied.setdefault(a.field, a)
    for fld in sorted(set(c_values) | set(krec)):
        c, k = c_values.get(fld), krec.get(fld)
        if fld in crec.secret_fields and sources.get(fld[4:]) in ("ConfigMap", "env"):
            # Wherever its value came from, a secret must not sit in plain configuration.
            report.unexplained.append(Difference(fld, c, f"{k!r} in a {sources[fld[4:]]}", ""))
            continue
        if _same(c, k):
            if fld in applied:
                report.explained.append(Difference(fld, applied[fld].compose, k, applied[fld].rule))
            continue
        rule = _explain(fld, c, k, sources, findings, policy)
        (report.explained if rule else report.unexplained).append(Difference(fld, c, k, rule or ""))


# record field -> the compose key whose "dropped" finding explains a privilege not granted
_PRIVILEGE_KEYS = {"privileged": "privileged", "hostIPC": "ipc", "hostNetwork": "network_mode",
                   "devices": "devices"}


_PLAIN = (str, int, float, bool, type(None))


def _identical(a: Any, b: Any) -> bool:
    """Equal with equal types all the way down (so True is not 1, nor 1 1.0): no difference to find."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return (len(a) == len(b) and all(type(k) is str for k in a) and all(type(k) is str for k in b)
                and all(k in b and _identical(v, b[k]) for k, v in a.items()))
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_identical(x, y) for x, y in zip(a, b))
    return type(a) in _PLAIN and a == b


def _differ(a: Any, b: Any) -> bool:
    """Surely a difference for deepdiff: another type (outside lists, where it compares items with
    ==), unequal scalars, dicts with other keys or a value that differs, lists of other lengths.
    False means: ask deepdiff."""
    plain = (dict, list, str, int, float, bool, type(None))
    if type(a) not in plain or type(b) not in plain:
        return False
    if type(a) is not type(b):
        return True
    if type(a) is dict:
        return all(type(k) is str for k in (*a, *b)) and (a.keys() != b.keys()
                                                            or any(_differ(v, b[k]) for k, v in a.items()))
    if type(a) is list:
        return len(a) != len(b)
    return a != b and a == a and b == b


def _same(c: Any, k: Any) -> bool:
    """No difference between the two sides, as deepdiff sees it (decided directly when that is
    certain, as for most fields: deepdiff is slow to import and to run)."""
    if _identical(c, k):
        return True
    if _differ(c, k):
        return False
    from deepdiff import DeepDiff
    return not DeepDiff(c, k, ignore_order=False)


def _explain(fld: str, c: Any, k: Any, sources: dict[str, str], findings, policy) -> str | None:
    keyed = {(f.key, f.action): f for f in findings}
    places = {"args": "command[", "command": "entrypoint["}
    if any(f.rule == POLICY_VALUE and f.action == "changed"
           and (f.key == f"environment.{fld[4:]}" if fld.startswith("env.") else
                fld in places and f.key.startswith(places[fld])) for f in findings):
        return POLICY_VALUE              # one value, two compose defaults: the one kept
    if fld.startswith("env."):
        key = fld[4:]
        if policy.is_secret(key) and sources.get(key) == "Secret" and k == "":
            return POLICY_SECRET          # the value is set at install time
        if policy.is_proxy(key) and sources.get(key) == "ConfigMap" and k == "":
            return POLICY_PROXY           # global.<proxy>, empty by default
        return None
    if fld in ("ports", "service_ports"):
        added = keyed.get(("ports", "added"))
        if added and set(c or []) <= set(k or []):
            return added.rule
        return None
    if fld == "volumes":
        if set(c or {}) != set(k or {}):
            return None
        allowed = {("bind", "emptyDir"), ("bind", "hostPath"), ("bind", "persistentVolumeClaim"),
                   ("volume", "emptyDir"), ("tmpfs", "emptyDir"), ("volume", "persistentVolumeClaim"),
                   ("bind", "configMap")}
        # the spec's other types name engine- or host-side objects (a Windows named pipe, an
        # image's content, a cluster volume) that a pod cannot reach: the plan gives each an
        # emptyDir with a finding, as it does a host path
        allowed |= {(kind, "emptyDir") for kind in ("npipe", "image", "cluster")}
        changed = [(c[p], k[p]) for p in c if c[p] != k[p]]
        if all(pair in allowed for pair in changed):
            rules = {f.rule for f in findings}
            for kind, policy_name in (("configMap", POLICY_CONFIG_FILE), ("persistentVolumeClaim", POLICY_PVC)):
                if any(k_kind == kind for _c, k_kind in changed) and policy_name in rules:
                    return policy_name
            return POLICY_MODEL_CACHE if POLICY_MODEL_CACHE in rules else POLICY_VOLUME
        return None
    if fld in _PRIVILEGE_KEYS and c and not k:
        dropped = keyed.get((_PRIVILEGE_KEYS[fld], "dropped"))
        return dropped.rule if dropped else None
    if fld.startswith("probe.") and c is None and k is not None:
        added = keyed.get(("healthcheck", "added"))
        return added.rule if added else None
    return None


def structural(objects: list[dict[str, Any]], kube_version: str | None) -> list[Problem]:
    try:
        return check_all(objects, kube_version)
    except ValueError as exc:
        raise InputError(str(exc)) from None


def lint_charts(charts_root: Path, prepared: Prepared) -> list[LintMessage]:
    """helm lint of the umbrella and the common charts it uses (those present under charts_root)."""
    charts = [f"common/{c}" for c in sorted({i.component for i in prepared.plan.components()})]
    charts.append(prepared.plan.chart)
    out = []
    for rel in charts:
        d = charts_root / rel
        if (d / "Chart.yaml").is_file():
            out += [m.of_chart(f"helm-charts/{rel}") for m in lint_chart(d)]
        else:
            out.append(LintMessage("warning", "", "chart not found: not linted", f"helm-charts/{rel}"))
    return out
