"""Semantic records: one per compose service and one per rendered workload, in the same shape,
so that deepdiff can compare what compose means with what Kubernetes will run.

Fields: image, command, args, env.<KEY>, ports, service_ports, volumes, shm, accelerators,
capabilities, probe.readiness, probe.startup.
"""
from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

from ..compose import interpolate
from ..compose.model import ComposeProject, Service, Template, Var
from ..plan.accelerators import accelerator
from ..plan.endpoints import HOST, EndpointIndex, companion_port, policy_address
from ..plan.findings import POLICY_PULL, POLICY_VALUE
from ..plan.privileges import device_paths
from ..plan.probes import healthcheck_probe
from ..plan.pull import compose_pull_policy, kubelet_default
from ..plan.rules import Policy, Rule, split_image
from ..util.quantities import quantity


WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet")


@dataclass
class Applied:
    """A documented transformation the compose side went through before comparing."""

    field: str
    compose: Any
    normalized: Any
    rule: str


@dataclass
class ComposeRecord:
    values: dict[str, Any]
    applied: list[Applied] = field(default_factory=list)
    secret_fields: set[str] = field(default_factory=set)   # must come from a Secret


# --- compose side ---------------------------------------------------------------------------

class _Resolver:
    """Compose interpolation as Kubernetes will see it: host variables become addresses."""

    def __init__(self, service: Service, project: ComposeProject, policy: Policy, rule: Rule,
                 index: EndpointIndex, components: dict[str, str], example: str,
                 shared: dict[str, tuple[str, str]] | None = None):
        self.service, self.project, self.policy, self.rule = service, project, policy, rule
        self.shared = shared or {}    # variable -> (its one default, the value that holds it)
        self.index, self.components, self.example = index, components, example
        self.accel = accelerator(service, policy, project.variables)
        self.applied: list[tuple[str, str]] = []   # (what, rule) for the value being resolved
        self.addressed: dict[str, str] = {}          # env key -> the one service it names

    def text(self, t: Template, key: str, bare: bool = True) -> str:
        self.applied = []
        out = self._parts(t, 0)
        listy = self.policy.is_proxy(key.lower())
        bare = bare and self.policy.holds_address(key)     # as the conversion reads it (texts.chart_text)
        if HOST in out or self.index.mentions_service(out, listy, bare) or "localhost:" in out:
            new, rewrites, _ = self.index.rewrite(out, key, self.service.name, self.policy.endpoint_hints,
                                                  self.components, listy, bare)
            if rewrites:
                self.applied.append(("address of " + ", ".join(sorted({r.target for r in rewrites})),
                                     "policy:endpoint-rewrite"))
                if len({r.target for r in rewrites}) == 1:
                    self.addressed[key] = rewrites[0].target
            out = new
        if HOST in out:
            self.applied.append(("address outside the file: host set at install time", "policy:external-address"))
            out = out.replace(HOST, "")
        return out

    def _policy_address(self, name: str) -> str | None:
        found = policy_address(name, self.policy.endpoint_variables, self.index, self.components, self.example)
        if found is None:
            return None
        self.applied.append((f"{name} names {found[1]}", "policy:endpoint-rewrite"))
        return found[0]

    def _parts(self, t: Template, depth: int) -> str:
        out = []
        for p in t.parts:
            if isinstance(p, str):
                out.append(p)
            elif "".join(out).endswith(HOST + ":"):
                out.append(interpolate.value(Template((p,)), self.project.variables))
            else:
                out.append(self._var(p, depth))
        return "".join(out)

    def _var(self, v: Var, depth: int) -> str:
        if self.policy.is_host_variable(v.name):
            return HOST
        if self.policy.is_proxy(v.name):
            # global.<name>, empty unless set at install time; compose's default applies meanwhile.
            self.applied.append((f"{v.name} from global.{v.name}", "policy:proxy-global"))
            return self._parts(v.arg, depth + 1) if v.op in (":-", "-") and v.arg is not None else ""
        definition = interpolate.lookup(v.name, self.project.variables)
        if self.policy.is_secret(v.name):
            # Its value is set at install time: used directly it renders empty; inside another
            # variable's default it counts as unset (the conversion does the same).
            self.applied.append((f"{v.name} is set at install time", "policy:secret-by-name"))
            if depth == 0:
                return ""
            definition = None
        if definition is not None and depth < 8:
            text = self._parts(definition, depth + 1)
            if v.name in self.policy.endpoint_variables and self.index.unpublished_host_port(text):
                address = self._policy_address(v.name)
                if address is not None:
                    return address
            if v.op == ":-" and text == "" and v.arg is not None:
                return self._parts(v.arg, depth + 1)
            if v.op in (":+", "+"):
                return self._parts(v.arg, depth + 1) if v.arg and (text or v.op == "+") else ""
            return text or self._shared(v.name)
        if v.op in (":-", "-") and v.arg is not None:
            return self._parts(v.arg, depth + 1)
        if v.op in (":+", "+"):
            return ""
        if v.name in self.policy.endpoint_variables:
            address = self._policy_address(v.name)
            if address is not None:
                return address
        named = next((n for n in self.rule.values if n.key == v.name and n.default), None)
        if named is not None:
            self.applied.append((f"unset {v.name}: the component's default", self.rule.file))
            return named.default
        if self.accel and self.accel.count_variable == v.name:
            self.applied.append((f"unset {v.name}: the accelerator count", "policy:accelerator-device-plugin"))
            return str(self.accel.count)
        return self._shared(v.name)

    def _shared(self, name: str) -> str:
        """An empty variable of one value in every service (plan/coupling.py): what that value holds."""
        default, value = self.shared.get(name, ("", ""))
        if default:
            self.applied.append((f"empty {name}: one value, {value}, holds {default!r}", POLICY_VALUE))
        return default


def compose_record(service: Service, project: ComposeProject, policy: Policy, rule: Rule,
                   index: EndpointIndex, components: dict[str, str], example: str,
                   shared: dict[str, tuple[str, str]] | None = None) -> ComposeRecord:
    r = _Resolver(service, project, policy, rule, index, components, example, shared)
    rec = ComposeRecord({})
    v = rec.values

    def resolved(t: Template, fld: str, bare: bool = True) -> str:
        text = r.text(t, fld.split(".", 1)[-1], bare)
        for _what, rule_name in r.applied:
            rec.applied.append(Applied(fld, t.source(), text, rule_name))
        return text

    repo, tag, digest = split_image(service.image or "")
    v["image"] = f"{repo}@{digest}" if digest else f"{repo}:{tag or 'latest'}"
    # when the kubelet pulls it: compose's policy, else Kubernetes' default for the tag, which
    # asks the registry at every start for latest where compose pulls once (policy:image-pull)
    said = compose_pull_policy(service.pull_policy)
    v["pull_policy"] = said or kubelet_default(tag or "latest", digest)
    if said is None and v["pull_policy"] == "Always":
        rec.applied.append(Applied("pull_policy", "missing", "Always", POLICY_PULL))
    v["command"] = [resolved(t, "command", False) for t in service.entrypoint] if service.entrypoint else []
    v["args"] = [resolved(t, "args", False) for t in service.command] if service.command else []
    for key, t in service.environment.items():
        if r.accel and key in r.accel.profile.not_carried_env:
            rec.applied.append(Applied(f"env.{key}", t.source() if t else None, None,
                                       "policy:accelerator-device-plugin"))
            continue
        t = t if t is not None else Template((Var(key),))
        v[f"env.{key}"] = resolved(t, f"env.{key}")
        if policy.is_secret(key) or any(policy.is_secret(x.name) for x in t.variables()):
            rec.secret_fields.add(f"env.{key}")
    _port_companions(v, r, rec)
    ports = []
    for p in [port_key(p.target, p.protocol) for p in service.ports] + [
            port_key(n, proto) for n in service.expose for proto in service.expose_protocols.get(n, ["tcp"])]:
        if p not in ports:
            ports.append(p)
    v["ports"] = sorted(ports, key=_port_order)
    v["service_ports"] = sorted(ports, key=_port_order)
    volumes = {}
    for vol in service.volumes:
        volumes[vol.target] = vol.type
    for t in service.tmpfs:
        volumes[t.split(":")[0]] = "tmpfs"
    for path in rule.writable:      # a read-only image's scratch paths
        if path not in volumes and path != "/dev/shm":
            volumes[path] = "emptyDir"
            rec.applied.append(Applied("volumes", None, path, rule.file))
    v["volumes"] = volumes
    v["read_only_root"] = service.read_only or rule.read_only_root
    if rule.read_only_root and not service.read_only:
        rec.applied.append(Applied("read_only_root", False, True, rule.file))
    v["devices"] = sorted(device_paths(d)[1] for d in service.devices)
    v["privileged"] = service.privileged
    v["hostIPC"] = service.ipc == "host"
    v["hostNetwork"] = service.network_mode == "host"
    v["shm"] = quantity(service.shm_size) if service.shm_size else None
    v["accelerators"] = {r.accel.profile.resource: r.accel.count} if r.accel else {}
    # Docker grants a default set; what the image needs of it is the rule's, and counts as compose's
    v["capabilities"] = sorted(set(service.cap_add) | set(rule.capabilities))
    probe, _ = healthcheck_probe(service, project.variables, policy)
    v["probe.readiness"] = normal_probe(probe)
    v["probe.startup"] = normal_probe(probe)
    return rec


def port_key(number: Any, protocol: str) -> Any:
    """A port as both sides record it: the number for TCP (the common case reads as before), else
    `53/udp`, so that a UDP port is not taken for the TCP port of the same number."""
    return number if protocol.lower() == "tcp" else f"{number}/{protocol.lower()}"


def _port_order(port: Any) -> tuple[int, str]:
    number, _, protocol = str(port).partition("/")
    return (int(number) if number.isdigit() else 0, protocol)


def _port_companions(v: dict[str, Any], r: _Resolver, rec: ComposeRecord) -> None:
    """X_PORT=<published port> beside an X_HOST_IP that names a service: that service's port."""
    for fld, text in list(v.items()):
        if fld.startswith("env."):
            found = companion_port(fld[4:], str(text), r.addressed, r.index)
            if found is not None:
                v[fld] = found[0]
                rec.applied.append(Applied(fld, text, v[fld], "policy:endpoint-rewrite"))


# --- Kubernetes side -------------------------------------------------------------------------

def normal_probe(probe: dict[str, Any] | None) -> dict[str, Any] | None:
    if not probe:
        return None
    out: dict[str, Any] = {}
    if "httpGet" in probe:
        h = probe["httpGet"]
        out["check"] = {"http": h.get("path", "/"), "port": h.get("port"), "scheme": h.get("scheme", "HTTP")}
    elif "exec" in probe:
        out["check"] = {"exec": list(probe["exec"].get("command", []))}
    elif "tcpSocket" in probe:
        out["check"] = {"tcp": probe["tcpSocket"].get("port")}
    elif "grpc" in probe:
        out["check"] = {"grpc": probe["grpc"].get("port")}
    for k, default in (("periodSeconds", 10), ("timeoutSeconds", 1), ("failureThreshold", 3),
                       ("initialDelaySeconds", 0)):
        out[k] = probe.get(k, default)
    return out


class ObjectIndex:
    """Rendered objects by kind and name, and Services by selector: look-ups, not scans, so
    verifying grows linearly with the number of services."""

    def __init__(self, objects: list[dict[str, Any]]):
        self.by_kind: dict[str, dict[str, dict]] = {}
        for o in objects:
            self.by_kind.setdefault(o.get("kind", ""), {})[(o.get("metadata") or {}).get("name", "")] = o
        self._selectors: dict[tuple, list[dict]] = {}
        self._keysets: set[tuple[str, ...]] = set()
        for svc in self.by_kind.get("Service", {}).values():
            sel = (svc.get("spec") or {}).get("selector") or {}
            if sel:
                self._keysets.add(tuple(sorted(sel)))
                self._selectors.setdefault(tuple(sorted(sel.items())), []).append(svc)

    def workload(self, name: str) -> dict | None:
        return next((self.by_kind[k][name] for k in WORKLOAD_KINDS if name in self.by_kind.get(k, {})), None)

    def services_selecting(self, labels: dict[str, str]) -> list[dict]:
        found: list[dict] = []
        for keys in sorted(self._keysets):
            if all(k in labels for k in keys):
                found += self._selectors.get(tuple((k, labels[k]) for k in keys), [])
        return found


def workload_record(workload: dict[str, Any], objects: "ObjectIndex | list[dict[str, Any]]", policy: Policy,
                    container_name: str | None = None) -> dict[str, Any]:
    index = objects if isinstance(objects, ObjectIndex) else ObjectIndex(objects)
    pod = workload["spec"]["template"]
    spec = pod.get("spec") or {}
    containers = spec.get("containers") or []
    c = next((x for x in containers if x.get("name") == container_name), containers[0] if containers else {})
    by_kind = index.by_kind
    image = str(c.get("image") or "")
    _repo, tag, digest = split_image(image)
    v: dict[str, Any] = {"image": c.get("image"),
                         "pull_policy": c.get("imagePullPolicy") or kubelet_default(tag, digest),
                         "command": [str(x) for x in c.get("command") or []],
                         "args": [str(x) for x in c.get("args") or []]}
    env: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for ref in c.get("envFrom") or []:
        if "configMapRef" in ref:
            data = (by_kind.get("ConfigMap", {}).get(ref["configMapRef"].get("name")) or {}).get("data") or {}
            for k, val in data.items():
                env[k], sources[k] = str(val), "ConfigMap"
        if "secretRef" in ref:
            for k, val in _secret_data(by_kind.get("Secret", {}).get(ref["secretRef"].get("name"))).items():
                env[k], sources[k] = val, "Secret"
    for e in c.get("env") or []:
        if "value" in e:
            env[e["name"]], sources[e["name"]] = str(e["value"]), "env"
        elif "valueFrom" in e:
            env[e["name"]], sources[e["name"]] = f"<{next(iter(e['valueFrom']))}>", "valueFrom"
    for k, val in env.items():
        v[f"env.{k}"] = val
    v["ports"] = sorted((port_key(p["containerPort"], p.get("protocol") or "TCP") for p in c.get("ports") or []),
                        key=_port_order)
    labels = (pod.get("metadata") or {}).get("labels") or {}
    service_ports = []
    for svc in index.services_selecting(labels):
        service_ports += [port_key(p.get("port"), p.get("protocol") or "TCP") for p in svc["spec"].get("ports") or []]
    v["service_ports"] = sorted(service_ports, key=_port_order)
    vols = {x.get("name"): x for x in spec.get("volumes") or []}
    volumes, shm, devices = {}, None, []
    for m in c.get("volumeMounts") or []:
        vol = vols.get(m.get("name"), {})
        kind = next((k for k in ("hostPath", "persistentVolumeClaim", "emptyDir", "configMap", "secret")
                     if k in vol), "unknown")
        if m.get("mountPath") == "/dev/shm" and kind == "emptyDir" and (vol["emptyDir"] or {}).get("medium") == "Memory":
            shm = str((vol["emptyDir"] or {}).get("sizeLimit")) if (vol["emptyDir"] or {}).get("sizeLimit") else None
            continue
        if kind == "hostPath" and str(vol["hostPath"].get("path", "")).startswith("/dev/"):
            devices.append(m.get("mountPath"))
            continue
        volumes[m.get("mountPath")] = kind
    v["volumes"] = volumes
    v["devices"] = sorted(devices)
    v["shm"] = shm
    limits = ((c.get("resources") or {}).get("limits") or {})
    known = {a.resource for a in policy.accelerators}
    v["accelerators"] = {k: int(val) for k, val in limits.items() if k in known}
    security = c.get("securityContext") or {}
    v["capabilities"] = sorted((security.get("capabilities") or {}).get("add") or [])
    v["read_only_root"] = security.get("readOnlyRootFilesystem") is True
    v["privileged"] = security.get("privileged") is True
    v["hostIPC"] = spec.get("hostIPC") is True
    v["hostNetwork"] = spec.get("hostNetwork") is True
    v["probe.readiness"] = normal_probe(c.get("readinessProbe"))
    v["probe.startup"] = normal_probe(c.get("startupProbe"))
    v["_sources"] = sources
    return v


def _secret_data(secret: dict | None) -> dict[str, str]:
    if not secret:
        return {}
    out = {k: str(val) for k, val in (secret.get("stringData") or {}).items()}
    for k, val in (secret.get("data") or {}).items():
        try:
            out[k] = base64.b64decode(str(val)).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            out[k] = "<binary>"
    return out
