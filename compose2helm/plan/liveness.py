"""Liveness probes: restart a container that stopped answering, never one that is still loading.

A liveness probe that fails restarts the container, so it must not fire while a model server
loads a model (minutes) or answers slowly under load. It is the readiness check (the compose
healthcheck or the rule's probe: a cheap health endpoint, a TCP connection, `redis-cli ping`),
run only once the startup probe has passed (Kubernetes holds liveness until then), and with a
generous budget: at least 30 s between checks, 10 s to answer, 10 failures in a row (five
minutes of silence) before the kubelet restarts the container.
"""
from __future__ import annotations

from typing import Any

from .plan import ExamplePlan, ServiceValues

ACTIONS = ("httpGet", "exec", "tcpSocket", "grpc")
MIN_PERIOD, MIN_TIMEOUT, MIN_FAILURES = 30, 10, 10


def liveness_probe(readiness: dict[str, Any] | None) -> dict[str, Any] | None:
    """The liveness probe of a container whose readiness probe is `readiness` (None: none)."""
    if not readiness:
        return None
    action = {k: v for k, v in readiness.items() if k in ACTIONS}
    if not action:
        return None
    return {**action,
            "periodSeconds": max(MIN_PERIOD, int(readiness.get("periodSeconds", 10))),
            "timeoutSeconds": max(MIN_TIMEOUT, int(readiness.get("timeoutSeconds", 1))),
            "failureThreshold": max(MIN_FAILURES, int(readiness.get("failureThreshold", 3)))}


def add_liveness(plan: ExamplePlan) -> None:
    """Each instance whose values set a readiness probe (from compose's healthcheck) gets the
    liveness probe of it, after its other probes; the others keep their chart's (the rule's)."""
    for inst in plan.instances:
        tree = inst.values.as_dict()
        if "readinessProbe" not in tree or "livenessProbe" in tree:
            continue
        out: dict[str, Any] = {}
        for key, value in tree.items():
            out[key] = value
            if key == "readinessProbe":
                out["livenessProbe"] = liveness_probe(value)
        inst.values = ServiceValues(out)
