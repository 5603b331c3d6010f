"""Which user an image runs as: rule data `security.runAsUser`, `runAsGroup`, `fsGroup`.

Docker starts a container as its image's user; Kubernetes does too unless told otherwise, and a
pod that says `runAsNonRoot` without a numeric user is refused when the image names its user by
name. So the chart states the user only where a rule knows it (GenAIInfra runs the opea/*
microservices as uid 1000); an image no rule knows keeps its own user and the capabilities
Kubernetes' baseline profile allows (no host namespaces, no privilege, but root allowed), since
forcing less on an unknown image can stop it from starting.
"""
from __future__ import annotations

from typing import Any

from ..errors import InputError

IDENTITY_KEYS = ("runAsUser", "runAsGroup", "fsGroup")
# What Kubernetes' baseline Pod Security Standard lets a container add: Docker's default set but
# NET_RAW. An image no rule knows gets these after drop ALL, as it got them under Docker, so that
# common images that start as root and then change owner or user (databases, web servers) start;
# a rule that knows its image names exactly what it needs instead (restricted: often nothing).
BASELINE_CAPABILITIES = ("AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
                         "NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT")


def parse_identity(security: dict[str, Any] | None, file: str) -> dict[str, int]:
    """The numeric ids a rule's `security` section names (each a non-negative integer)."""
    out: dict[str, int] = {}
    for key in IDENTITY_KEYS:
        if key not in (security or {}):
            continue
        value = (security or {})[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise InputError(f"security.{key} must be a numeric id (0 or more), not {value!r}", file=file,
                             key=f"security.{key}")
        out[key] = value
    return out


def pod_security_context(identity: dict[str, int]) -> dict[str, Any]:
    """The pod securityContext a chart has by default: the rule's user, and the runtime's default
    seccomp profile for every pod (the containers ask for it too)."""
    out: dict[str, Any] = {}
    if "runAsUser" in identity:
        out["runAsNonRoot"] = identity["runAsUser"] != 0
        out["runAsUser"] = identity["runAsUser"]
    for key in ("runAsGroup", "fsGroup"):
        if key in identity:
            out[key] = identity[key]
    out["seccompProfile"] = {"type": "RuntimeDefault"}
    return out
