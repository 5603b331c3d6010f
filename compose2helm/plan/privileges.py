"""What a container may do: least privilege by default, wider only when the user names it.

Compose grants host access casually (`privileged`, `ipc: host`, `devices`, `seccomp:unconfined`);
a chart must not. Each of these is carried only when its opt-in name is given (`--allow NAME`)
and is reported as dropped otherwise. Accelerator devices are the device plugin's job, never
host devices.
"""
from __future__ import annotations

from typing import Any, Callable

from ..compose.model import Service
from ..errors import InputError
from .findings import POLICY_LEAST_PRIVILEGE, POLICY_NO_MEANING
from .rules import Rule


# opt-in name -> what it lets through
OPT_INS = {
    "privileged": "privileged containers (compose privileged: true)",
    "host-ipc": "the node's IPC namespace (compose ipc: host)",
    "host-network": "the node's network (compose network_mode: host)",
    "host-devices": "host devices as hostPath volumes (compose devices), and group_add",
    "unconfined": "unconfined seccomp and AppArmor profiles (compose security_opt)",
}


def check_opt_ins(names: list[str] | tuple[str, ...] | frozenset[str]) -> frozenset[str]:
    unknown = sorted(set(names) - set(OPT_INS))
    if unknown:
        raise InputError(f"--allow takes {', '.join(OPT_INS)}; not {', '.join(unknown)}")
    return frozenset(names)


def device_paths(spec: str) -> tuple[str, str]:
    """(host path, container path) of a compose device, `HOST[:CONTAINER[:PERMISSIONS]]`."""
    host, _, rest = spec.partition(":")
    return host, rest.split(":")[0] or host


def _hint(name: str) -> str:
    return f"not carried without --allow {name}"


def security_values(s: Service, rule: Rule, allow: frozenset[str], note: Callable[..., None],
                    device_plugin: bool, mounted: set[str]) -> dict[str, Any]:
    """Chart values for the container's and the pod's privileges; notes every key it decides."""
    v: dict[str, Any] = {}
    security: dict[str, Any] = {}
    pod: dict[str, Any] = {}
    if s.cap_add:   # a list replaces the chart's: it names what the image needs as well
        security["capabilities"] = {"drop": ["ALL"], "add": sorted(set(s.cap_add) | set(rule.capabilities))}
        note("cap_add", "carried", f"capabilities {', '.join(sorted(set(s.cap_add)))} added (all others dropped)",
             POLICY_LEAST_PRIVILEGE)
    if rule.capabilities:
        note("capabilities", "added", f"{', '.join(rule.capabilities)}: the image needs them to start, and "
             "Docker grants them by default (Kubernetes with drop ALL would not)", rule.file)
    if s.cap_drop:
        note("cap_drop", "dropped", "all capabilities are dropped already", POLICY_LEAST_PRIVILEGE)
    if s.read_only:
        security["readOnlyRootFilesystem"] = True
        note("read_only", "carried", "readOnlyRootFilesystem", POLICY_LEAST_PRIVILEGE)
    if s.user:
        uid, _, gid = s.user.partition(":")
        uid = "0" if uid == "root" else uid     # the one user name every image has
        gid = "0" if gid == "root" else gid
        if uid.isdigit():
            security["runAsUser"] = int(uid)
            security["runAsNonRoot"] = uid != "0"
            if gid.isdigit():
                security["runAsGroup"] = int(gid)
            note("user", "carried", f"runAsUser {uid}" + (f", runAsGroup {gid}" if gid.isdigit() else ""),
                 POLICY_LEAST_PRIVILEGE)
        else:
            note("user", "dropped", f"user {s.user} is a name; Kubernetes needs a numeric id", POLICY_NO_MEANING)

    if s.privileged:
        if "privileged" in allow:
            security["privileged"] = True
            security["allowPrivilegeEscalation"] = True   # Kubernetes rejects privileged without it
            note("privileged", "carried", "privileged: true (--allow privileged)", POLICY_LEAST_PRIVILEGE)
        else:
            note("privileged", "dropped", "privileged container " + _hint("privileged"), POLICY_LEAST_PRIVILEGE)
    # Host namespaces: compose key, its value, the opt-in, the pod field, what another mode means.
    for key, mode, opt, field, other in (
            ("ipc", s.ipc, "host-ipc", "hostIPC", "containers of a pod share IPC; there is no per-service mode"),
            ("network_mode", s.network_mode, "host-network", "hostNetwork", "pods have their own network")):
        if not mode:
            continue
        if mode == "host" and opt in allow:
            v[field] = True
            note(key, "carried", f"{field}: true (--allow {opt})", POLICY_LEAST_PRIVILEGE)
        elif mode == "host":
            note(key, "dropped", f"{key} host: the node's namespace " + _hint(opt), POLICY_LEAST_PRIVILEGE)
        else:
            note(key, "dropped", f"{key} {mode}: {other}", POLICY_NO_MEANING)

    devices: list[dict[str, Any]] = []
    if s.devices and not device_plugin:
        if "host-devices" in allow:
            for i, spec in enumerate(s.devices):
                host, target = device_paths(spec)
                devices.append({"name": f"device-{i}", "mountPath": target, "hostPath": host})
            note("devices", "carried", f"host devices {', '.join(s.devices)} as hostPath volumes "
                 "(--allow host-devices)", POLICY_LEAST_PRIVILEGE)
        else:
            note("devices", "dropped", f"host devices {', '.join(s.devices)} " + _hint("host-devices"),
                 POLICY_LEAST_PRIVILEGE)
    if s.group_add:
        numeric = [g for g in s.group_add if str(g).isdigit()]
        if "host-devices" in allow and numeric:
            pod["supplementalGroups"] = sorted(int(g) for g in numeric)
        named = [g for g in s.group_add if not str(g).isdigit()]
        detail = (f"supplemental groups {', '.join(map(str, s.group_add))}: "
                  + ("numeric ids carried; " if "host-devices" in allow and numeric else "")
                  + ("group names have no id in Kubernetes; " if named else "")
                  + ("" if "host-devices" in allow else _hint("host-devices")))
        note("group_add", "carried" if "host-devices" in allow and numeric and not named else "dropped",
             detail.rstrip("; "), POLICY_LEAST_PRIVILEGE)

    for opt in s.security_opt:
        kind, _, value = opt.replace("=", ":", 1).partition(":")
        if value == "unconfined" and kind in ("seccomp", "apparmor"):
            if "unconfined" in allow:
                key = "seccompProfile" if kind == "seccomp" else "appArmorProfile"
                security[key] = {"type": "Unconfined"}
                note("security_opt", "carried", f"{opt}: {key} Unconfined (--allow unconfined)",
                     POLICY_LEAST_PRIVILEGE)
            else:
                note("security_opt", "dropped", f"{opt} " + _hint("unconfined"), POLICY_LEAST_PRIVILEGE)
        else:
            note("security_opt", "dropped", f"{opt} has no Kubernetes equivalent here", POLICY_NO_MEANING)

    writable = [p for p in rule.writable if p not in mounted]
    if writable != list(rule.writable):
        v["writablePaths"] = writable
    if security:
        v["securityContext"] = security
    if pod:
        v["podSecurityContext"] = pod
    if devices:
        v["extraVolumes"] = devices
    return v
