"""deploy as Kubernetes scheduling: `cpus` as a CPU quantity, and deploy.placement: swarm's node
constraints become the chart's nodeSelector (==) and a required node affinity (!=) on the
well-known node labels; a spread over hostnames is evenly_distributed. What has no Kubernetes
meaning (swarm roles and node ids, engine labels, other spreads, max_replicas_per_node) and every
deploy key the model does not read is a finding, never dropped silently."""
from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any, Callable

from ..compose.model import Service
from .findings import POLICY_UNKNOWN, POLICY_WORKLOAD

# Swarm's node attributes that name a label every Kubernetes node carries.
_NODE_LABELS = {"node.hostname": "kubernetes.io/hostname", "node.platform.os": "kubernetes.io/os",
                "node.platform.arch": "kubernetes.io/arch"}
# Docker reports the machine name (uname -m); Kubernetes labels Go's architecture names.
_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "ppc64le": "ppc64le", "s390x": "s390x"}
_CONSTRAINT = re.compile(r"\s*([\w.\-/]+)\s*(==|!=)\s*(.*?)\s*")

Note = Callable[[str, str, str, str], None]


def cpu_quantity(cpus: str) -> str:
    """compose's `cpus: "0.5"` as Kubernetes writes it (500m); whole CPUs stay as they are."""
    try:
        millis = Decimal(cpus.strip()) * 1000
    except InvalidOperation:
        return cpus
    if not millis.is_finite() or millis <= 0 or millis != millis.to_integral_value():
        return cpus          # Kubernetes' own parser judges it (below 1m it rounds up)
    return str(int(millis) // 1000) if millis % 1000 == 0 else f"{int(millis)}m"


def placement_values(s: Service, note: Note) -> dict[str, Any]:
    """The values deploy.placement sets (nodeSelector, affinity, evenly_distributed); each part
    carried or dropped is noted."""
    d = s.deploy
    if d is None:
        return {}
    selector: dict[str, str] = {}
    exprs: list[dict[str, Any]] = []
    for text in d.constraints:
        where = "deploy.placement.constraints"
        label, op, value = _label_constraint(text)
        if label is None:
            note(where, "dropped", f"{text!r}: no label of a Kubernetes node says it (swarm's node roles and ids, "
                 "Docker engine labels)", POLICY_UNKNOWN)
            continue
        if op == "==" and label not in selector:
            selector[label] = value
            note(where, "changed", f"{text!r} -> nodeSelector {label}: {value}", POLICY_WORKLOAD)
        else:
            exprs.append({"key": label, "operator": "In" if op == "==" else "NotIn", "values": [value]})
            note(where, "changed", f"{text!r} -> a required node affinity: {label} {exprs[-1]['operator']} "
                 f"{value}", POLICY_WORKLOAD)
    out: dict[str, Any] = {}
    if selector:
        out["nodeSelector"] = selector
    if exprs:
        out["affinity"] = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchExpressions": exprs}]}}}
    for spread in d.preferences:
        where = "deploy.placement.preferences"
        if spread == "node.hostname":
            out["evenly_distributed"] = True
            note(where, "changed", "spread over node.hostname -> evenly_distributed: a topology spread over "
                 "kubernetes.io/hostname", POLICY_WORKLOAD)
        else:
            note(where, "dropped", f"spread over {spread}: not carried (a topologySpreadConstraint on that node "
                 "label, added by hand, does it)", POLICY_UNKNOWN)
    if d.max_replicas_per_node is not None:
        note("deploy.placement.max_replicas_per_node", "dropped", f"{d.max_replicas_per_node}: not carried "
             "(a pod anti-affinity on kubernetes.io/hostname, added by hand, limits it to one)", POLICY_UNKNOWN)
    for key in d.others:
        why = ("a container's resources in Kubernetes are cpu, memory and device-plugin resources"
               if key.startswith("deploy.resources.") else
               "swarm's service settings; Kubernetes has its own rollout and restart behaviour")
        note(key, "dropped", f"{key} is not carried ({why})", POLICY_UNKNOWN)
    return out


def _label_constraint(text: str) -> tuple[str | None, str, str]:
    """(node label, operator, value) of a constraint on a node label, else (None, "", "")."""
    m = _CONSTRAINT.fullmatch(text)
    if not m:
        return None, "", ""
    attr, op, value = m.groups()
    if attr.startswith("node.labels.") and len(attr) > len("node.labels."):
        return attr[len("node.labels."):], op, value
    if attr in _NODE_LABELS:
        return _NODE_LABELS[attr], op, _ARCH.get(value, value) if attr == "node.platform.arch" else value
    return None, "", ""
