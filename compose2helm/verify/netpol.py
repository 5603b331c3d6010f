"""Does the network the NetworkPolicies allow match the wiring compose means?

Compose's services reach each other over one network; what they use is the calls the endpoint
rewrite found (Instance.calls). Rendered, each workload must accept connections from exactly
the workloads that call it (or wait for it: --wait-for-dependencies), on the container port each
call reaches through the Service, and from anywhere only when it is an entry point (rule field
entry_point). Evaluated as Kubernetes does: a pod no Ingress policy selects accepts everything;
otherwise the union of the rules of the policies that select it. Peers that select only `helm test` pods and a rule that lets
Prometheus reach the port a ServiceMonitor of the manifest scrapes are not compose traffic and
are left out. A manifest without any NetworkPolicy was rendered with global.networkPolicies
false, which the user chose: nothing is checked.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..plan.graph import call_port, entry_points
from ..plan.netpol import waits
from ..plan.plan import ExamplePlan, Instance

ANY = "*"      # a source: anything at all (no `from`, or a peer outside the release's pods)
TEST_COMPONENT = "helm-test"


@dataclass(frozen=True)
class NetworkDifference:
    workload: str
    field: str             # network.ingress
    compose: str
    kubernetes: str


def _selects(selector: dict[str, Any] | None, labels: dict[str, Any]) -> bool:
    """A Kubernetes label selector against labels ({} selects everything)."""
    selector = selector or {}
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        ok = {"In": key in labels and labels[key] in values,
              "NotIn": key not in labels or labels[key] not in values,
              "Exists": key in labels, "DoesNotExist": key not in labels}.get(op, False)
        if not ok:
            return False
    return True


def _pod_labels(obj: dict[str, Any]) -> dict[str, Any] | None:
    if obj.get("kind") not in ("Deployment", "DaemonSet", "StatefulSet"):
        return None
    return ((((obj.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("labels")) or {}


def _only_tests(peer: dict[str, Any]) -> bool:
    labels = ((peer.get("podSelector") or {}).get("matchLabels") or {})
    return "namespaceSelector" not in peer and labels.get("app.kubernetes.io/component") == TEST_COMPONENT


def _port_set(rule: dict[str, Any]) -> frozenset[str] | None:
    """The ports a rule opens, as text (numbers and names); None: every port."""
    ports = rule.get("ports") or []
    return frozenset(str(p.get("port")) for p in ports) if ports else None


def allowed_sources(objects: list[dict[str, Any]], labels: dict[str, Any],
                    scraped: frozenset[str] = frozenset()) -> dict[str, frozenset[str] | None]:
    """source workload name (or ANY) -> the ports it may reach (None: all) on pods with labels."""
    net = _Network(objects)
    return net.allowed([p for p in net.policies if _selects((p.get("spec") or {}).get("podSelector"), labels)],
                       scraped)


class _Network:
    """The manifest's workloads, Ingress policies and ServiceMonitors, read once, and workloads by
    label, so that finding what a selector selects is a look-up: checking every workload of a
    manifest stays linear in its size (1,000 synthetic services: minutes otherwise)."""

    def __init__(self, objects: list[dict[str, Any]]):
        self.workloads = {o["metadata"]["name"]: lab for o in objects
                          if (lab := _pod_labels(o)) is not None and (o.get("metadata") or {}).get("name")}
        self.policies = [o for o in objects if o.get("kind") == "NetworkPolicy"
                         and "Ingress" in ((o.get("spec") or {}).get("policyTypes") or ["Ingress"])]
        self.monitors = [o for o in objects if o.get("kind") == "ServiceMonitor"]
        self._by_label: dict[tuple[str, Any], list[str]] = {}
        for name, lab in self.workloads.items():
            for k, v in lab.items():
                if isinstance(v, (str, int, float, bool)) or v is None:
                    self._by_label.setdefault((k, v), []).append(name)

    def selected(self, selector: dict[str, Any] | None) -> list[str]:
        """The workloads a selector selects, in the manifest's order."""
        wanted = ((selector or {}).get("matchLabels") or {}).items()
        if not wanted or not all(isinstance(v, (str, int, float, bool)) or v is None for _, v in wanted):
            candidates = list(self.workloads)
        else:   # every workload it selects carries each of its labels: the fewest of them suffice
            candidates = min((self._by_label.get(pair, []) for pair in wanted), key=len)
        return [name for name in candidates if _selects(selector, self.workloads[name])]

    def allowed(self, policies: list[dict[str, Any]], scraped: frozenset[str]) -> dict[str, frozenset[str] | None]:
        """allowed_sources for a pod the given policies (in the manifest's order) select."""
        if not policies:
            return {ANY: None}
        out: dict[str, frozenset[str] | None] = {}

        def grant(source: str, ports: frozenset[str] | None) -> None:
            if ports is None or (source in out and out[source] is None):
                out[source] = None
            else:
                out[source] = (out.get(source) or frozenset()) | ports

        for policy in policies:
            for rule in (policy.get("spec") or {}).get("ingress") or []:
                ports = _port_set(rule)
                peers = rule.get("from") or []
                if ports is not None and scraped and ports <= scraped:
                    continue          # Prometheus scraping what a ServiceMonitor names
                if not peers:
                    grant(ANY, ports)
                for peer in peers:
                    if _only_tests(peer):
                        continue
                    if "podSelector" in peer and "namespaceSelector" not in peer and "ipBlock" not in peer:
                        for name in self.selected(peer["podSelector"]):
                            grant(name, ports)
                    else:
                        grant(ANY, ports)
        return out


def _scraped_ports(monitors: list[dict[str, Any]], service: dict[str, Any] | None) -> frozenset[str]:
    """Container ports a ServiceMonitor of the manifest scrapes through the Service (names and numbers)."""
    if service is None:
        return frozenset()
    names = {str(e.get("port")) for o in monitors
             if _selects((o.get("spec") or {}).get("selector"), (service.get("metadata") or {}).get("labels") or {})
             for e in (o.get("spec") or {}).get("endpoints") or []}
    out = set()
    for p in (service.get("spec") or {}).get("ports") or []:
        if str(p.get("name")) in names:
            out |= {str(p.get("name")), str(p.get("targetPort", p.get("port")))}
    return frozenset(out)


def _reaches(allowed: frozenset[str] | None, ports: set[str]) -> bool:
    return allowed is None or not ports or bool(allowed & ports)


def check_wiring(plan: ExamplePlan, objects: list[dict[str, Any]], release: str,
                 services: dict[str, dict[str, Any] | None]) -> list[NetworkDifference]:
    """Each workload's allowed sources against the calls compose makes to it.

    services: workload name -> the Service that selects it (None: no Service)."""
    if not any(o.get("kind") == "NetworkPolicy" for o in objects):
        return []
    names = {i.name: (release if i.is_megaservice else f"{release}-{i.name}") for i in plan.instances}
    by_name = {(o.get("metadata") or {}).get("name"): o for o in objects if _pod_labels(o) is not None}
    by_service = {i.service: i for i in plan.instances}
    entries = {i.name for i in entry_points(plan)}
    net = _Network(objects)
    policies_of: dict[str, list[dict[str, Any]]] = {}   # workload -> the policies selecting it, in order
    for policy in net.policies:
        for name in net.selected((policy.get("spec") or {}).get("podSelector")):
            policies_of.setdefault(name, []).append(policy)
    calls_to: dict[int, list[tuple[Instance, str]]] = {}   # id(callee) -> (caller, via), in plan order
    for caller in plan.instances:
        for via, target in caller.calls:
            if (callee := by_service.get(target)) is not None:
                calls_to.setdefault(id(callee), []).append((caller, via))
    waiting = waits(plan)
    out: list[NetworkDifference] = []
    for inst in plan.instances:
        workload = by_name.get(names[inst.name])
        if workload is None:
            continue
        service = services.get(names[inst.name])
        # the labels of the workload of that name (by_name and net.workloads keep the same object)
        allowed = net.allowed(policies_of.get(names[inst.name], []), _scraped_ports(net.monitors, service))
        wname = names[inst.name]
        if inst.name in entries:
            if ANY not in allowed:
                out.append(NetworkDifference(wname, "network.ingress", "from anywhere (entry point)",
                                             "only from " + (", ".join(sorted(allowed)) or "nothing")))
            continue
        if ANY in allowed:
            out.append(NetworkDifference(wname, "network.ingress", "only from its callers",
                                         "from anywhere"))
        expected = _expected(inst, calls_to.get(id(inst), []), waiting, names, by_name, service)
        for source, ports in sorted(expected.items()):
            if source not in allowed or not _reaches(allowed[source], ports):
                out.append(NetworkDifference(wname, "network.ingress", f"called by {source} on port "
                                             f"{', '.join(sorted(ports)) or 'any'}", "not allowed"))
        for source in sorted(set(allowed) - set(expected) - {ANY}):
            out.append(NetworkDifference(wname, "network.ingress", f"no call from {source}", "allowed"))
    return out


def _expected(callee: Instance, calls: list[tuple[Instance, str]], waiting: list, names: dict[str, str],
              workloads: dict[str, Any], service: dict[str, Any] | None) -> dict[str, set[str]]:
    """caller workload -> the container ports its calls reach (through the callee's Service).
    calls: (caller, via) of every call to callee, in plan order; waiting: waits(plan)."""
    target_of = {str(p.get("port")): str(p.get("targetPort", p.get("port")))
                 for p in ((service or {}).get("spec") or {}).get("ports") or []}
    out: dict[str, set[str]] = {}
    for caller, via in calls:
        if caller is callee or names[caller.name] not in workloads:
            continue
        port = call_port(caller, via, callee)
        ports = out.setdefault(names[caller.name], set())
        if port is not None and str(port) in target_of:
            ports.add(target_of[str(port)])
    for waiter, target, port in waiting:     # --wait-for-dependencies: the init container's check
        if target is callee and names[waiter.name] in workloads:
            out.setdefault(names[waiter.name], set()).update({target_of[str(port)]} if str(port) in target_of
                                                             else set())
    return out
