"""Security values of a workload chart (issue 18), as documented values (Val).

- `networkPolicy`: who may connect to the pods. A chart installed on its own accepts
  connections from anywhere (it cannot know its callers); an umbrella's overlays narrow each
  component to the components that call it (plan/netpol.py), entry points excepted.
  `global.networkPolicies` (values.py) turns every policy of a release off.

- `podSecurityContext`: the user the rule knows the image runs as (`security.runAsUser`,
  `runAsGroup`, `fsGroup`: runAsNonRoot where it is not root) and the RuntimeDefault seccomp
  profile; an image no rule knows keeps its own user (plan/podsecurity.py).
- `livenessProbe`: the rule's readiness check with a generous budget, held back by the startup
  probe until the server has loaded (plan/liveness.py).

templates/networkpolicy.yaml.j2 renders the policy; the deployment template the rest.
"""
from __future__ import annotations

import dataclasses

from ..plan.liveness import liveness_probe
from ..plan.podsecurity import pod_security_context
from ..plan.probes import chart_probes
from ..plan.rules import Rule
from .values import BOOLEAN, OPEN_OBJECT, STRING_LIST, Val


def network_policy_val() -> Val:
    return Val("networkPolicy", doc="Who may connect to this component's pods (a NetworkPolicy <fullname>, while "
                                    "global.networkPolicies). The platform overlays set it from the calls the "
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


def _pod_security_doc(rule: Rule) -> str:
    user = rule.identity.get("runAsUser")
    who = ("the image's user, which the chart does not know (Kubernetes' baseline profile: root is "
           "allowed)" if user is None else "root, which the image needs" if user == 0
           else f"uid {user}, as the image is built to run (runAsNonRoot)")
    return (f"Pod securityContext (a Kubernetes PodSecurityContext). By default: {who}, and the runtime's "
            "default seccomp profile.")


def with_security(vals: list[Val], rule: Rule) -> list[Val]:
    """vals with the rule's pod securityContext and liveness probe as defaults, and networkPolicy
    after podSecurityContext."""
    probes = chart_probes(rule)
    out: list[Val] = []
    for v in vals:
        if v.key == "podSecurityContext":
            v = dataclasses.replace(v, default=pod_security_context(rule.identity), doc=_pod_security_doc(rule))
        elif v.key == "livenessProbe" and probes:
            v = dataclasses.replace(v, default=liveness_probe(probes[0]),
                                    doc="Liveness probe: the readiness check, every 30 s or more, restarting "
                                        "the container after 10 failures in a row; it starts once the startup "
                                        "probe has passed, so a loading model is never restarted.")
        out.append(v)
        if v.key == "podSecurityContext":
            out.append(network_policy_val())
    return out
