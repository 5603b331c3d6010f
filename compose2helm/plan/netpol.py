"""Who may connect to whom: NetworkPolicy values from the wiring the endpoint rewrite found.

Compose puts every service of a file on one network where anything reaches anything; what the
services actually use is the calls the conversion rewrote to Service names (Instance.calls, the
edges `compose2helm graph` draws). Each component's values get `networkPolicy`: ingress only from
the components that call it (`ingressFrom`, values keys, which are the pods'
app.kubernetes.io/name label), from anywhere for the entry points (rule field entry_point: nginx,
else the UI, else the megaservice), and the components it calls (`egressTo`), which restrict
egress only when a user turns `restrictEgress` on (models are downloaded from outside).
"""
from __future__ import annotations

from typing import Any

from .graph import entry_points
from .plan import ExamplePlan, Instance, ServiceValues


RELEASE = "{{ .Release.Name }}"     # how a component's address names the release (the megaservice's DNS)


def waits(plan: ExamplePlan) -> list[tuple[Instance, Instance, int]]:
    """(waiting instance, the one it waits for, Service port): the connections the waitFor init
    container makes (--wait-for-dependencies), which the policies must let through as well."""
    by_dns = {RELEASE if i.is_megaservice else f"{RELEASE}-{i.name}": i for i in plan.instances}
    out = []
    for inst in plan.instances:
        for target in inst.values.named("waitFor") or []:
            host, _, port = str(target).rpartition(":")
            callee = by_dns.get(host)
            if callee is not None and callee is not inst and port.isdigit():
                out.append((inst, callee, int(port)))
    return out


def callers(plan: ExamplePlan) -> dict[str, list[str]]:
    """values key -> the values keys of the components that address it or wait for it (sorted)."""
    by_service = {i.service: i for i in plan.instances}
    out: dict[str, set[str]] = {i.name: set() for i in plan.instances}
    for inst in plan.instances:
        for _key, target in inst.calls:
            callee = by_service.get(target)
            if callee is not None and callee is not inst:
                out[callee.name].add(inst.name)
    for inst, callee, _port in waits(plan):
        out[callee.name].add(inst.name)
    return {name: sorted(found) for name, found in out.items()}


def callees(inst: Instance, plan: ExamplePlan) -> list[str]:
    by_service = {i.service: i for i in plan.instances}
    called = {by_service[t].name for _k, t in inst.calls if t in by_service and by_service[t] is not inst}
    return sorted(called | {callee.name for waiter, callee, _p in waits(plan) if waiter is inst})


def network_values(plan: ExamplePlan) -> dict[str, dict[str, Any]]:
    """values key -> its networkPolicy values."""
    entries = {i.name for i in entry_points(plan)}
    incoming = callers(plan)
    return {inst.name: {"fromAnywhere": inst.name in entries, "ingressFrom": incoming[inst.name],
                        "egressTo": callees(inst, plan)}
            for inst in plan.instances}


def wire(plan: ExamplePlan) -> None:
    """Add each instance's networkPolicy values (after everything else its values hold)."""
    wanted = network_values(plan)
    for inst in plan.instances:
        tree = inst.values.as_dict()
        tree["networkPolicy"] = wanted[inst.name]
        inst.values = ServiceValues(tree)
