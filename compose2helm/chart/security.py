"""Security values of a workload chart (issue 18), as documented values (Val).

- `networkPolicy`: who may connect to the pods. A chart installed on its own accepts
  connections from anywhere (it cannot know its callers); an umbrella's overlays narrow each
  component to the components that call it (plan/netpol.py), entry points excepted.
  `global.networkPolicy.enabled` (values.py) turns every policy of a release off.

templates/networkpolicy.yaml.j2 renders them.
"""
from __future__ import annotations

from ..plan.rules import Rule
from .values import BOOLEAN, OPEN_OBJECT, STRING_LIST, Val


def network_policy_val() -> Val:
    return Val("networkPolicy", doc="Who may connect to this component's pods (a NetworkPolicy <fullname>, while "
                                    "global.networkPolicy.enabled). The platform overlays set it from the calls the "
                                    "compose file makes.", children=(
        Val("fromAnywhere", True, "Accept connections to the container ports from anywhere (an entry point, or "
                                  "this chart installed on its own); false: only from ingressFrom and "
                                  "extraIngress.", BOOLEAN),
        Val("ingressFrom", [], "Values keys of the release's components that call this one: their pods (label "
                               "app.kubernetes.io/name) may connect to the container ports.", STRING_LIST),
        Val("extraIngress", [], "More ingress rules (Kubernetes NetworkPolicyIngressRule), e.g. from another "
                                "namespace.", {"type": "array", "items": OPEN_OBJECT}),
        Val("restrictEgress", False, "Restrict egress to DNS (kube-dns in kube-system), the components of "
                                     "egressTo and extraEgress; off: egress is open (models are downloaded from "
                                     "outside).", BOOLEAN),
        Val("egressTo", [], "Values keys of the release's components this one calls (used with restrictEgress).",
            STRING_LIST),
        Val("extraEgress", [], "More egress rules (Kubernetes NetworkPolicyEgressRule) with restrictEgress, e.g. "
                               "an ipBlock of the model hub or of a proxy.", {"type": "array", "items": OPEN_OBJECT}),
    ))


def with_security(vals: list[Val], rule: Rule) -> list[Val]:
    """vals with networkPolicy after podSecurityContext."""
    out: list[Val] = []
    for v in vals:
        out.append(v)
        if v.key == "podSecurityContext":
            out.append(network_policy_val())
    return out
