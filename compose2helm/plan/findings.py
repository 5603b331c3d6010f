"""What conversion did to each compose key: carried, changed (how) or dropped (why)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Finding:
    service: str
    key: str
    action: str          # carried | changed | dropped | added | unresolved
    detail: str
    rule: str = ""       # the mapping rule file or documented policy that explains it

    def as_dict(self) -> dict[str, str]:
        return {"service": self.service, "key": self.key, "action": self.action,
                "detail": self.detail, "rule": self.rule}


# Documented policies (README "Conversion policies"); a finding names one of these or a rule file.
POLICY_NO_MEANING = "policy:no-kubernetes-meaning"
POLICY_ENDPOINT = "policy:endpoint-rewrite"
POLICY_EXTERNAL = "policy:external-address"
POLICY_ACCELERATOR = "policy:accelerator-device-plugin"
POLICY_LEAST_PRIVILEGE = "policy:least-privilege"
POLICY_WORKLOAD = "policy:workload-kind"
POLICY_SECRET = "policy:secret-by-name"
POLICY_PROXY = "policy:proxy-global"
POLICY_VALUE = "policy:variable-to-value"
POLICY_MODEL_CACHE = "policy:model-cache-volume"
POLICY_VOLUME = "policy:host-volume-to-emptydir"
POLICY_PVC = "policy:named-volume-to-pvc"
POLICY_CONFIG_FILE = "policy:config-file-to-configmap"
POLICY_PROBE = "policy:healthcheck-to-probes"
POLICY_ORDER = "policy:start-order"
POLICY_PULL = "policy:image-pull"
POLICY_UNKNOWN = "policy:not-carried"
