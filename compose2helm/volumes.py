"""Compose mounts as chart volume values: the model cache, scratch space, shared memory."""
from __future__ import annotations

import re
from typing import Any

from .findings import POLICY_MODEL_CACHE, POLICY_VOLUME, Finding
from .model import Service
from .quantities import quantity
from .rules import Policy


def _is_model_cache(source_vars: list[str], source: str | None, target: str, policy: Policy) -> bool:
    if any(v in policy.model_cache_sources for v in source_vars):
        return True
    return bool(source) and source.rstrip("/") in policy.model_cache_sources


def volume_values(service: Service, policy: Policy) -> tuple[dict[str, Any], list[Finding]]:
    values: dict[str, Any] = {}
    findings: list[Finding] = []
    extra: list[dict[str, Any]] = []
    for i, vol in enumerate(service.volumes):
        where = f"volumes[{i}]"
        source_vars = [v.name for v in vol.source_template.variables()] if vol.source_template else []
        if (vol.type == "bind" and "modelCachePath" not in values
                and _is_model_cache(source_vars, vol.source, vol.target, policy)):
            values["modelCachePath"] = vol.target
            findings.append(Finding(service.name, where, "changed",
                                    f"{vol.source}:{vol.target} is the model cache: global.modelUseHostPath "
                                    "or global.modelUsePVC, emptyDir when neither is set",
                                    POLICY_MODEL_CACHE))
            continue
        entry: dict[str, Any] = {"name": _volume_name(vol.target, extra), "mountPath": vol.target}
        if vol.read_only:
            entry["readOnly"] = True
        extra.append(entry)
        what = {"bind": f"host path {vol.source}", "volume": f"volume {vol.source or '(anonymous)'}",
                "tmpfs": "tmpfs"}.get(vol.type, vol.type)
        findings.append(Finding(service.name, where, "changed",
                                f"{what} at {vol.target} becomes an emptyDir (a pod cannot see the compose "
                                "host's files)", POLICY_VOLUME))
    for i, path in enumerate(service.tmpfs):
        target = path.split(":")[0]
        extra.append({"name": _volume_name(target, extra), "mountPath": target, "medium": "Memory"})
        findings.append(Finding(service.name, f"tmpfs[{i}]", "changed",
                                f"tmpfs at {target} becomes a memory-backed emptyDir", POLICY_VOLUME))
    if extra:
        values["extraVolumes"] = extra
    if service.shm_size:
        values["shmSize"] = quantity(service.shm_size)
        findings.append(Finding(service.name, "shm_size", "changed",
                                f"/dev/shm as a memory-backed emptyDir of {values['shmSize']}", POLICY_VOLUME))
    return values, findings


def _volume_name(target: str, existing: list[dict[str, Any]]) -> str:
    base = re.sub(r"[^a-z0-9]+", "-", target.lower()).strip("-")[:40].strip("-") or "volume"
    name, n = f"v-{base}", 2
    taken = {e["name"] for e in existing}
    while name in taken:
        name, n = f"v-{base}-{n}", n + 1
    return name



