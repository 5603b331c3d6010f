"""What each compose key of a service becomes in its instance's values, when no finding says otherwise.

The planner records a finding only where the conversion departs from compose; keys it maps
faithfully (image, command, most environment entries, ports) leave no trace. The table here
(CARRIED) names what such a key becomes in the chart. Each function reads the service and its
instance's values and returns the sentence, or None when the values do not show the key carried
(then explanation.py reports the key dropped).

The values are read through ServiceValues' typed properties, never by string key.
"""
from __future__ import annotations

from typing import Callable

from ..compose.model import Service
from .plan import ServiceValues as Values


def _image(s: Service, v: Values) -> str | None:
    img = v.image
    text = f"image.repository {img.repository}, image.tag {img.tag}"
    return text + (f", image.digest {img.digest}" if img.digest else "")


def _pull_policy(s: Service, v: Values) -> str | None:
    return f"image.pullPolicy {v.image.pull_policy}" if v.image.pull_policy else None


def _command(s: Service, v: Values) -> str | None:
    if v.args is None or s.command is None:
        return None
    return (f"args ({len(v.args)} words): flags the rule knows feed named values, other variables "
            "become values of their own")


def _entrypoint(s: Service, v: Values) -> str | None:
    if v.command is None or s.entrypoint is None:
        return None
    return f"command ({len(v.command)} words): the container's entrypoint"


def _env_counts(s: Service, v: Values) -> tuple[int, int]:
    env, secret = v.env, v.secret_env
    return (sum(1 for k in s.environment if env.get(k) is not None),
            sum(1 for k in s.environment if secret.get(k) is not None))


def env_not_in_values(s: Service, v: Values) -> list[str]:
    """The service's environment variables that are neither an env nor a secretEnv entry."""
    env, secret = v.env, v.secret_env
    return [k for k in s.environment if env.get(k) is None and secret.get(k) is None]


def _environment(s: Service, v: Values) -> str | None:
    n_env, n_secret = _env_counts(s, v)
    if not n_env + n_secret:
        return None
    return (f"{n_env} env entries (the chart's ConfigMap), {n_secret} secretEnv entries (its Secret); "
            "variables become values")


def _env_file(s: Service, v: Values) -> str | None:
    if not sum(_env_counts(s, v)):
        return None
    return "read as data: its variables join the environment, as env (ConfigMap) / secretEnv (Secret) entries"


def _service_ports(v: Values) -> set[int]:
    return {p.port for p in v.ports}


def _ports(s: Service, v: Values) -> str | None:
    targets = sorted({p.target for p in s.ports})
    if not targets or not set(targets) <= _service_ports(v):
        return None
    return f"service.ports: container port(s) {', '.join(map(str, targets))} on the Service and the container"


def _expose(s: Service, v: Values) -> str | None:
    if not s.expose or not set(s.expose) <= _service_ports(v):
        return None
    return f"service.ports: port(s) {', '.join(map(str, sorted(set(s.expose))))} on the Service and the container"


def _volumes(s: Service, v: Values) -> str | None:
    if v.model_cache_path is None and v.extra_volumes is None:
        return None
    return "mounts as chart volumes (modelCachePath, extraVolumes), entry by entry below"


def _tmpfs(s: Service, v: Values) -> str | None:
    memory = [e for e in v.extra_volumes or [] if e.get("medium") == "Memory"]
    return "extraVolumes: memory-backed emptyDirs, entry by entry below" if memory else None


def _shm_size(s: Service, v: Values) -> str | None:
    return f"shmSize {v.shm_size}: a memory-backed /dev/shm" if v.shm_size else None


def _healthcheck(s: Service, v: Values) -> str | None:
    if v.sets_probes:
        return "readinessProbe and startupProbe"
    hc = s.healthcheck
    if hc is not None and (hc.disable or not hc.test or str(hc.test[0]) == "NONE"):
        return "disabled: no probes, as compose runs no check"
    return None


def _working_dir(s: Service, v: Values) -> str | None:
    return f"workingDir {v.working_dir}" if v.working_dir else None


def _security(path: str, what: str) -> Callable[[Service, Values], str | None]:
    def carried(s: Service, v: Values) -> str | None:
        found = v.security_context
        for part in path.split("."):
            found = found.get(part) if isinstance(found, dict) else None
        return f"securityContext.{path} {what}".rstrip() if found not in (None, {}, []) else None
    return carried


def _user(s: Service, v: Values) -> str | None:
    sc = v.security_context
    if "runAsUser" not in sc:
        return None
    return f"securityContext.runAsUser {sc['runAsUser']}" + (
        f", runAsGroup {sc['runAsGroup']}" if "runAsGroup" in sc else "")


def _deploy(s: Service, v: Values) -> str | None:
    d = s.deploy
    if d is None:
        return None
    parts = []
    if d.replicas is not None and v.replica_count is not None:
        parts.append(f"replicas -> replicaCount {v.replica_count}")
    res = v.resources
    if (d.cpu_limit or d.memory_limit) and res.get("limits"):
        parts.append("limits -> resources.limits")
    if (d.cpu_request or d.memory_request) and res.get("requests"):
        parts.append("reservations -> resources.requests")
    if d.mode in (None, "replicated") and not parts and not d.devices:
        parts.append(f"mode {d.mode or 'replicated'}: a Deployment, as every chart makes")
    return "; ".join(parts) or None


CARRIED: dict[str, Callable[[Service, Values], str | None]] = {
    "image": _image,
    "pull_policy": _pull_policy,
    "command": _command,
    "entrypoint": _entrypoint,
    "environment": _environment,
    "env_file": _env_file,
    "ports": _ports,
    "expose": _expose,
    "volumes": _volumes,
    "tmpfs": _tmpfs,
    "shm_size": _shm_size,
    "healthcheck": _healthcheck,
    "working_dir": _working_dir,
    "user": _user,
    "read_only": _security("readOnlyRootFilesystem", "true"),
    "cap_add": _security("capabilities.add", "(all others dropped)"),
    "deploy": _deploy,
}
