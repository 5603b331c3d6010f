"""The least-privilege check every rendered pod must pass.

A pod may only be wider than the baseline where the user opted in (privileges.OPT_INS):
- no privilege escalation, capabilities drop ALL, and add only what compose's cap_add named;
- seccomp RuntimeDefault (or Localhost); no Unconfined seccomp or AppArmor;
- no privileged containers, host namespaces or host devices;
- a read-only root filesystem where the component's rule or compose's read_only asks for it;
- no Kubernetes API token in the pod (automountServiceAccountToken: false): nothing these images
  run calls the API server, and a chart mounts one only when a value (serviceAccount.automount)
  asks for it, which no conversion does;
- a namespace on the workload, and a pod securityContext with the RuntimeDefault seccomp profile;
- the user the component's rule knows its image runs as (security.runAsUser: runAsNonRoot where
  that is not root), unless compose's `user` names another; no container that runs as root while
  the pod says runAsNonRoot (the kubelet would refuse to start it);
- no liveness probe that could restart a model server while it loads: one only behind a startup
  probe, and with at least LIVENESS_BUDGET seconds of failures before a restart.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable


POD_KINDS = {"Deployment": ("spec", "template", "spec"), "DaemonSet": ("spec", "template", "spec"),
             "StatefulSet": ("spec", "template", "spec"), "Job": ("spec", "template", "spec"),
             "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"), "Pod": ("spec",)}
HOST_PATHS = ("/dev", "/proc", "/sys", "/var/run/docker.sock", "/run/docker.sock")
LIVENESS_BUDGET = 60     # seconds of failed liveness checks before a restart, at the least


@dataclass(frozen=True)
class Violation:
    workload: str          # kind/name
    container: str         # "" for the pod
    field: str
    detail: str

    def __str__(self) -> str:
        where = f"{self.workload}" + (f" container {self.container}" if self.container else "")
        return f"{where}: {self.field}: {self.detail}"


def _pod_spec(obj: dict[str, Any]) -> dict[str, Any] | None:
    path = POD_KINDS.get(obj.get("kind", ""))
    node: Any = obj
    for key in path or ():
        node = (node or {}).get(key)
    return node if path and isinstance(node, dict) else None


def check_pod(obj: dict[str, Any], allowed: Iterable[str] = (), *, capabilities: Iterable[str] | None = None,
              read_only_root: bool = False, user: int | None = None) -> list[Violation]:
    """Violations of one workload. capabilities: those compose added (None: any is reported);
    user: the uid the rule knows the image runs as (None: the image's own)."""
    spec = _pod_spec(obj)
    if spec is None:
        return []
    allow = set(allowed)
    caps = set(capabilities or ())
    name = f"{obj.get('kind')}/{(obj.get('metadata') or {}).get('name', '')}"
    out: list[Violation] = []

    def bad(container: str, fld: str, detail: str) -> None:
        out.append(Violation(name, container, fld, detail))

    for key, opt in (("hostIPC", "host-ipc"), ("hostNetwork", "host-network"), ("hostPID", None)):
        if spec.get(key) and (opt is None or opt not in allow):
            bad("", key, "true" + (f" without --allow {opt}" if opt else ""))
    for vol in spec.get("volumes") or []:
        path = str((vol.get("hostPath") or {}).get("path", ""))
        if path and any(path == p or path.startswith(p.rstrip("/") + "/") for p in HOST_PATHS) \
                and "host-devices" not in allow:
            bad("", f"volumes.{vol.get('name')}", f"hostPath {path} without --allow host-devices")
    if spec.get("automountServiceAccountToken") is not False:
        bad("", "automountServiceAccountToken", f"{spec.get('automountServiceAccountToken')!r}, not false: "
            "the pod gets an API token no component here uses")
    pod_sc = spec.get("securityContext") or {}
    if not (obj.get("metadata") or {}).get("namespace"):
        bad("", "metadata.namespace", "unset: the objects land in whatever namespace kubectl uses")
    if not pod_sc:
        bad("", "securityContext", "no pod securityContext")
    pod_seccomp = (pod_sc.get("seccompProfile") or {}).get("type")
    pod_apparmor = (pod_sc.get("appArmorProfile") or {}).get("type")
    if "unconfined" not in allow:
        if pod_seccomp == "Unconfined":
            bad("", "securityContext.seccompProfile", "Unconfined without --allow unconfined")
        if pod_apparmor == "Unconfined":
            bad("", "securityContext.appArmorProfile", "Unconfined without --allow unconfined")

    for c in (spec.get("initContainers") or []) + (spec.get("containers") or []):
        cname = str(c.get("name", ""))
        sc = c.get("securityContext") or {}
        privileged = bool(sc.get("privileged"))
        if privileged and "privileged" not in allow:
            bad(cname, "securityContext.privileged", "true without --allow privileged")
        if sc.get("allowPrivilegeEscalation") is not False and not (privileged and "privileged" in allow):
            bad(cname, "securityContext.allowPrivilegeEscalation", f"{sc.get('allowPrivilegeEscalation')!r}, "
                "not false")
        capabilities_ = sc.get("capabilities") or {}
        if "ALL" not in (capabilities_.get("drop") or []):
            bad(cname, "securityContext.capabilities.drop", "does not drop ALL")
        extra = sorted(set(capabilities_.get("add") or []) - caps)
        if extra:
            bad(cname, "securityContext.capabilities.add", f"{', '.join(extra)} not added by compose")
        seccomp = (sc.get("seccompProfile") or {}).get("type") or pod_seccomp
        if seccomp not in ("RuntimeDefault", "Localhost") and not (seccomp == "Unconfined" and "unconfined" in allow):
            bad(cname, "securityContext.seccompProfile", f"{seccomp or 'unset'}, not RuntimeDefault")
        if (sc.get("appArmorProfile") or {}).get("type") == "Unconfined" and "unconfined" not in allow:
            bad(cname, "securityContext.appArmorProfile", "Unconfined without --allow unconfined")
        if read_only_root and c in (spec.get("containers") or []) and sc.get("readOnlyRootFilesystem") is not True:
            bad(cname, "securityContext.readOnlyRootFilesystem", "not true, though the image allows a read-only root")
        uid = sc.get("runAsUser", pod_sc.get("runAsUser"))
        if uid == 0 and sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot")) is True:
            bad(cname, "securityContext.runAsNonRoot", "true for a container that runs as root: it cannot start")
        if user is not None and c in (spec.get("containers") or []) and uid != user:
            bad(cname, "securityContext.runAsUser", f"{uid!r}, not {user}: the user the image runs as")
        if user and c in (spec.get("containers") or []) and sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot")) \
                is not True:
            bad(cname, "securityContext.runAsNonRoot", "not true, though the image runs as a user")
        out += _liveness(name, cname, c)
    return out


def _liveness(workload: str, cname: str, c: dict[str, Any]) -> list[Violation]:
    """A liveness probe may only restart a container that has started and stays silent a while."""
    live = c.get("livenessProbe")
    if not live:
        return []
    out = []
    if not c.get("startupProbe") and int(live.get("initialDelaySeconds", 0)) < LIVENESS_BUDGET:
        out.append(Violation(workload, cname, "livenessProbe", "no startup probe holds it back while the "
                                                              "container starts"))
    budget = int(live.get("periodSeconds", 10)) * int(live.get("failureThreshold", 3))
    if budget < LIVENESS_BUDGET:
        out.append(Violation(workload, cname, "livenessProbe", f"restarts after {budget} s of failed checks "
                                                              f"(less than {LIVENESS_BUDGET} s)"))
    return out


def check_objects(objects: Iterable[dict[str, Any]], allowed: Iterable[str] = ()) -> list[Violation]:
    """Every workload of a manifest, without compose at hand: capabilities added are reported
    only when the chart's values did not come from compose (tests pass the compose side)."""
    out: list[Violation] = []
    for obj in objects:
        out += [v for v in check_pod(obj, allowed) if v.field != "securityContext.capabilities.add"]
    return out
