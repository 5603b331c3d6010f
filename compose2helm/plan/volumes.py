"""Compose mounts as chart volume values: the model cache, named volumes (PVCs), config files
(ConfigMaps), scratch space, shared memory."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from ..compose.model import Service
from ..util.quantities import quantity
from .findings import POLICY_CONFIG_FILE, POLICY_MODEL_CACHE, POLICY_PVC, POLICY_VOLUME, Finding
from .rules import Policy


def _is_model_cache(source_vars: list[str], source: str | None, target: str, policy: Policy) -> bool:
    if any(v in policy.model_cache_sources for v in source_vars):
        return True
    return bool(source) and source.rstrip("/") in policy.model_cache_sources


def volume_values(service: Service, policy: Policy) -> tuple[dict[str, Any], list[Finding]]:
    values: dict[str, Any] = {}
    findings: list[Finding] = []
    extra: list[dict[str, Any]] = []
    persistent: list[dict[str, Any]] = []
    files: list[dict[str, Any]] = []
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
        if vol.type == "volume" and vol.source:
            # A named volume outlives the container: a PersistentVolumeClaim of the chart's own.
            persistent.append({"name": _volume_name(vol.target, extra + persistent + files),
                               "mountPath": vol.target, "size": PVC_SIZE, **({"readOnly": True} if vol.read_only else {})})
            findings.append(Finding(service.name, where, "changed",
                                    f"named volume {vol.source} at {vol.target} becomes a PersistentVolumeClaim of "
                                    f"{PVC_SIZE} (persistence[].size, storageClassName)", POLICY_PVC))
            continue
        if vol.type == "bind" and vol.source:
            content, why = config_content(service.file.parent, vol.source, vol.read_only)
            if content is not None:
                files.append({"name": _volume_name(vol.target, extra + persistent + files), "mountPath": vol.target,
                              **content})
                findings.append(Finding(service.name, where, "changed",
                                        f"{vol.source} at {vol.target}: its content goes into a ConfigMap "
                                        f"({len(content['files'])} file(s), mounted read-only)", POLICY_CONFIG_FILE))
                continue
        else:
            why = ""
        entry: dict[str, Any] = {"name": _volume_name(vol.target, extra + persistent + files), "mountPath": vol.target}
        if vol.read_only:
            entry["readOnly"] = True
        extra.append(entry)
        what = {"bind": f"host path {vol.source}", "volume": f"volume {vol.source or '(anonymous)'}",
                "tmpfs": "tmpfs"}.get(vol.type, vol.type)
        findings.append(Finding(service.name, where, "changed",
                                f"{what} at {vol.target} becomes an emptyDir: a pod cannot see the compose "
                                f"host's files" + (f" ({why})" if why else ""), POLICY_VOLUME))
    for i, path in enumerate(service.tmpfs):
        target = path.split(":")[0]
        extra.append({"name": _volume_name(target, extra), "mountPath": target, "medium": "Memory"})
        findings.append(Finding(service.name, f"tmpfs[{i}]", "changed",
                                f"tmpfs at {target} becomes a memory-backed emptyDir", POLICY_VOLUME))
    if extra:
        values["extraVolumes"] = extra
    if persistent:
        values["persistence"] = persistent
    if files:
        values["configFiles"] = files
    if service.shm_size:
        values["shmSize"] = quantity(service.shm_size)
        findings.append(Finding(service.name, "shm_size", "changed",
                                f"/dev/shm as a memory-backed emptyDir of {values['shmSize']}", POLICY_VOLUME))
    return values, findings


PVC_SIZE = "1Gi"
# Config binds are embedded only when small text at hand, inside the compose file's folder: a
# compose file must not be able to copy /etc/shadow into a chart.
MAX_FILES, MAX_BYTES = 64, 512 * 1024


def config_content(base: Path, source: str, read_only: bool) -> tuple[dict[str, Any] | None, str]:
    """({"files": {name: text}, "subPath": name?}, "") for a bind a ConfigMap can carry, else (None, why)."""
    path = Path(source).expanduser()
    path = (base / path) if not path.is_absolute() else path
    try:
        resolved, root = path.resolve(), base.resolve()
    except OSError:
        return None, "not at hand to embed"
    if not resolved.exists():
        return None, "not at hand to embed"
    if resolved != root and root not in resolved.parents:
        return None, "outside the compose file's folder: not embedded"
    if resolved.is_file():
        members = [resolved]
    elif resolved.is_dir() and read_only:
        members = sorted(resolved.iterdir())
        if not members or len(members) > MAX_FILES or not all(p.is_file() for p in members):
            return None, "a folder a ConfigMap cannot hold (empty, nested or too many files)"
    else:
        return None, "a writable folder"
    texts: dict[str, str] = {}
    total = 0
    for member in members:
        key = member.name
        if not re.fullmatch(r"[-._a-zA-Z0-9]+", key):
            return None, f"{key} is not a ConfigMap key"
        if root not in member.resolve().parents:     # a link inside the folder to a file outside it
            return None, f"{key} links outside the compose file's folder: not embedded"
        try:
            data = member.read_bytes()
            total += len(data)
            texts[key] = data.decode("utf-8")
        except (OSError, UnicodeDecodeError):
            return None, f"{member.name} is not readable text"
        if total > MAX_BYTES:
            return None, "more than 512 KiB"
    out: dict[str, Any] = {"files": texts}
    if resolved.is_file():
        out["subPath"] = resolved.name
    return out, ""


def _volume_name(target: str, existing: list[dict[str, Any]]) -> str:
    base = re.sub(r"[^a-z0-9]+", "-", target.lower()).strip("-")[:40].strip("-") or "volume"
    name, n = f"v-{base}", 2
    taken = {e["name"] for e in existing}
    while name in taken:
        name, n = f"v-{base}-{n}", n + 1
    return name



