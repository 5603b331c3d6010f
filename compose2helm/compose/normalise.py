"""Normalising one merged raw service into the typed model.Service: structural fields
interpolated, meaning-carrying strings (environment, command, ...) kept as Templates."""
from __future__ import annotations

import ipaddress
import re
import shlex
from pathlib import Path
from typing import Any, Callable

from ..errors import InputError
from .envfile import read_env_file
from .interpolate import check_required, parse, resolve
from .merge import as_list, as_map, split_colons
from .model import Deploy, DeviceRequest, Healthcheck, Port, Service, Template, Volume


_DURATION = re.compile(r"(\d+(?:\.\d+)?)(h|ms|m|s|us|µs|ns)")
_DURATION_UNITS = {"h": 3600, "m": 60, "s": 1, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}
_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([bkmgt]?)b?", re.I)
_SIZE_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}
_TRUE, _FALSE = {"true", "yes", "on", "1"}, {"false", "no", "off", "0", ""}
# a container path compose accepts for Windows containers (C:\\data, c:/data, \\\\.\\pipe\\x); the
# charts run Linux containers, which cannot mount it
_WINDOWS_PATH = re.compile(r"^(?:[A-Za-z]:[\\/]|\\\\)")


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


class Normaliser:
    """Turns one merged raw service into model.Service; handler errors get file/service/key here."""

    def __init__(self, variables: dict[str, Template], file: Path, name: str, warnings: list[str],
                 deferred: Callable[[str], bool] = lambda name: False):
        self.vars, self.file, self.name, self.warnings = variables, file, name, warnings
        # Variables whose `${V:?msg}` in an env value or command is required at install time, not
        # now: secrets, which are never read from env files (the chart then requires them).
        self.deferred = deferred

    def service(self, raw: dict) -> Service:
        s = Service(name=self.name, file=self.file, keys=tuple(sorted(map(str, raw))))
        # env_file first so that `environment` overrides it, whatever the key order.
        for key in sorted(raw, key=lambda k: k != "env_file"):
            try:
                self._apply(s, key, raw[key])
            except InputError as e:
                if e.file is not None:
                    raise
                raise InputError(e.message, self.file, self.name, e.key or key) from None
        return s

    # scalar helpers: str / Template / int / bool / seconds / bytes, all interpolated

    def s(self, value: Any) -> str:
        if isinstance(value, bool):
            value = "true" if value else "false"
        return resolve(parse(str(value)), self.vars)

    def t(self, value: Any) -> Template:
        t = parse(value if isinstance(value, str) else self.s(value))
        check_required(t, self.vars, self.deferred)
        return t

    def int(self, value: Any, key: str) -> int:
        text = self.s(value) if not isinstance(value, bool) else "?"
        if not re.fullmatch(r"[+-]?\d+", text.strip()):
            raise InputError(f"not an integer: {text!r}", key=key)
        return int(text)

    def bool(self, value: Any, key: str) -> bool:
        if isinstance(value, bool):
            return value
        text = self.s(value).strip().lower()
        if text not in _TRUE | _FALSE:
            raise InputError(f"not a boolean: {text!r}", key=key)
        return text in _TRUE

    def seconds(self, value: Any, key: str) -> float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        text = self.s(value).strip()
        if re.fullmatch(r"\d+(\.\d+)?", text):
            return float(text)
        if not text or _DURATION.sub("", text):
            raise InputError(f"not a duration: {text!r}", key=key)
        return sum(float(n) * _DURATION_UNITS[u] for n, u in _DURATION.findall(text))

    def bytes(self, value: Any, key: str) -> int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        text = self.s(value).strip()
        m = _SIZE.fullmatch(text)
        if not m:
            raise InputError(f"not a size: {text!r}", key=key)
        return int(float(m.group(1)) * _SIZE_UNITS[m.group(2).lower()])

    def port(self, value: Any, key: str, allow_empty: bool = False) -> int | None:
        text = self.s(value).strip() if not isinstance(value, int) else str(value)
        if text == "" and allow_empty:
            return None
        if not text.isdigit() or not 1 <= int(text) <= 65535:
            raise InputError(f"not a port number (1-65535): {text!r}", key=key)
        return int(text)

    def port_range(self, value: Any, key: str, allow_empty: bool = False) -> list[int]:
        """"3000-3005" as each port of it (Kubernetes has no ranges: one port each), "80" as [80]."""
        text = self.s(value).strip() if not isinstance(value, int) else str(value)
        if text == "" and allow_empty:
            return []
        first, sep, last = text.partition("-")
        if not sep:
            return [self.port(text, key)]
        low, high = self.port(first, key), self.port(last, key)
        if high < low:
            raise InputError(f"port range runs backwards: {text!r}", key=key)
        if high - low >= 1000:   # a Service of thousands of ports is not what anyone meant
            raise InputError(f"port range of more than 1000 ports: {text!r}", key=key)
        return list(range(low, high + 1))

    # per-key handlers

    def _apply(self, s: Service, key: str, v: Any) -> None:
        if key in ("image", "container_name", "restart", "runtime", "ipc", "user", "working_dir",
                   "network_mode"):
            setattr(s, key, None if v is None else self.s(v))
        elif key == "build":
            s.build = True
        elif key in ("command", "entrypoint"):
            setattr(s, key, self.command(v))
        elif key == "environment":
            for k, val in as_map(key, v).items():
                if not str(k).strip():   # "=value": compose refuses a variable without a name
                    raise InputError(f"an entry has no variable name: {k}={val}", self.file, self.name,
                                     "environment")
                s.environment[str(k)] = None if val is None else self.t(val)
        elif key == "env_file":
            self.env_files(s, v)
        elif key == "ports":
            s.ports = [port for p in v or [] for port in self.ports(p)]
        elif key == "expose":
            s.expose, s.expose_protocols = [], {}
            for x in v or []:
                text, _, proto = self.s(x).partition("/")
                proto = (proto or "tcp").lower()
                if proto not in ("tcp", "udp", "sctp"):
                    raise InputError(f"unknown protocol {proto!r}", key="expose")
                for port in self.port_range(text, "expose"):
                    s.expose.append(port)
                    protos = s.expose_protocols.setdefault(port, [])
                    if proto not in protos:
                        protos.append(proto)
            # only ports that are not just TCP need saying; a port on TCP alone stays out
            s.expose_protocols = {n: ps for n, ps in s.expose_protocols.items() if ps != ["tcp"]}
        elif key == "volumes":
            s.volumes = [self.volume(x) for x in v or []]
        elif key == "depends_on":
            s.depends_on = {str(n): (c or {}).get("condition") or "service_started"
                            for n, c in as_map(key, v).items()}
        elif key == "healthcheck":
            s.healthcheck = self.healthcheck(v or {})
        elif key == "shm_size":
            s.shm_size = self.bytes(v, key)
        elif key == "pull_policy":     # one of compose's words: the schema's pattern (schema.py)
            s.pull_policy = self.s(v)
        elif key == "deploy":
            s.deploy = self.deploy(v or {})
        elif key in ("read_only", "privileged"):
            setattr(s, key, self.bool(v, key))
        elif key in ("cap_add", "cap_drop", "group_add", "security_opt", "profiles", "tmpfs"):
            setattr(s, key, [self.s(x) for x in as_list(v)])
        elif key == "devices":
            s.devices = [self.s(x) if not isinstance(x, dict) else
                         ":".join(self.s(x[k]) for k in ("source", "target", "permissions") if k in x)
                         for x in v or []]
        else:
            self._check_strings(v, key)        # compose interpolates these too: fail like it would
            s.extra[key] = v

    def _check_strings(self, v: Any, key: str) -> None:
        if isinstance(v, str):
            check_required(parse(v), self.vars)
        elif isinstance(v, dict):
            for x in v.values():
                self._check_strings(x, key)
        elif isinstance(v, list):
            for x in v:
                self._check_strings(x, key)

    def command(self, v: Any) -> list[Template] | None:
        if v is None:
            return None
        if isinstance(v, list):
            return [self.t(x) for x in v]
        # Split the raw text, not the interpolated one, so `${...}` stays a reference; a
        # reference's default may hold blanks or quotes, so it is shielded from shlex.
        spans: list[str] = []
        shielded = _shield(str(v), spans)
        try:
            tokens = shlex.split(shielded)
        except ValueError as e:
            raise InputError(f"cannot split command: {e}") from None
        return [self.t(re.sub("\0(\\d+)\0", lambda m: spans[int(m.group(1))], tok))
                for tok in tokens]

    def env_files(self, s: Service, entries: list[dict]) -> None:
        for e in entries:
            path = Path(e["path"])
            if not path.exists() and not self.bool(e.get("required", True), "env_file"):
                self.warnings.append(f"{self.file}: service {self.name!r}: optional env_file "
                                     f"{path} not found")
                continue
            if not path.is_file():
                raise InputError(f"env_file {path} {'is not a file' if path.exists() else 'not found'}",
                                 key="env_file")
            values, notes = read_env_file(path)
            self.warnings += notes
            for k, t in values.items():
                check_required(t, self.vars, self.deferred)
                s.environment[k] = t

    def ports(self, p: Any) -> list[Port]:
        """One port entry: a range ("3000-3005", "9000-9005:3000-3005") is one Port per port."""
        if isinstance(p, dict):
            if p.get("target") is None:
                raise InputError("a long-form port needs a target", key="ports")
            return self._pair(self.port_range(p.get("target"), "ports"),
                              self.port_range(p.get("published") or "", "ports", allow_empty=True),
                              self.s(p.get("protocol") or "tcp").lower(),
                              self.s(p["host_ip"]) if p.get("host_ip") else None, p)
        if isinstance(p, int) and not isinstance(p, bool):
            return [Port(target=self.port(p, "ports"))]
        text = self.s(p)                       # "${NGINX_PORT:-80}:80": interpolate first
        text, _, proto = text.partition("/")
        proto = (proto or "tcp").lower()
        if proto not in ("tcp", "udp", "sctp"):
            raise InputError(f"unknown protocol {proto!r}", key="ports")
        host_ip = None
        if text.startswith("["):               # [::1]:8080:80
            ip, _, rest = text[1:].partition("]")
            host_ip, text = ip, rest[1:] if rest.startswith(":") else "\0"
        parts = text.split(":")
        if len(parts) >= 3 and host_ip is None:   # an IPv6 address may come unbracketed: ::1:8080:80
            host_ip, parts = ":".join(parts[:-2]), parts[-2:]
            if ":" in host_ip and not _is_ip(host_ip):   # 1:2:3:4 is no address: compose refuses it
                raise InputError(f"cannot parse port {self.s(p)!r}", key="ports")
        if len(parts) > 2 or (host_ip is not None and len(parts) != 2):
            raise InputError(f"cannot parse port {self.s(p)!r}", key="ports")
        published: list[int] = []
        if len(parts) == 2:   # ":80" (a host port from an unset variable) is valid compose: any free host port
            published = self.port_range(parts[0], "ports", allow_empty=True)
        return self._pair(self.port_range(parts[-1], "ports"), published, proto, host_ip or None, p)

    def _pair(self, targets: list[int], published: list[int], proto: str, host_ip: str | None,
              entry: Any) -> list[Port]:
        if published and len(published) != len(targets):
            if len(targets) == 1:   # a host range for one port: compose picks a free one of them
                published = []
            else:
                raise InputError(f"host and container port ranges differ in length: {self.s(entry)!r}",
                                 key="ports")
        return [Port(target=t, published=published[i] if published else None, protocol=proto, host_ip=host_ip)
                for i, t in enumerate(targets)]

    def volume(self, v: Any) -> Volume:
        if isinstance(v, dict):
            raw = v.get("source")
            tmpl = self.t(raw) if raw is not None else None
            source = resolve(tmpl, self.vars) if tmpl is not None else None
            ro = self.bool(v.get("read_only", False), "volumes")
            return Volume(type=self.s(v.get("type") or "volume"), target=self._target(v["target"]),
                          source=source or None, source_template=tmpl, read_only=ro)
        parts = split_colons(str(v))
        if len(parts) == 1:                    # "/data": an anonymous volume
            return Volume(type="volume", target=self._target(parts[0]))
        if len(parts) > 3 or not parts[1]:
            raise InputError(f"cannot parse volume {v!r}", key="volumes")
        tmpl = self.t(parts[0])
        source = resolve(tmpl, self.vars)
        options = self.s(parts[2]).split(",") if len(parts) == 3 else []
        if not source:
            self.warnings.append(f"{self.file}: service {self.name!r}: volume source "
                                 f"{parts[0]!r} is empty; taken as an anonymous volume")
            kind = "volume"
        elif source.startswith((".", "/", "~")) or "/" in source or "\\" in source:
            kind = "bind"            # a path, Windows' (C:\\data) included
        else:
            kind = "volume"
        return Volume(type=kind, target=self._target(parts[1]), source=source or None,
                      source_template=tmpl, read_only="ro" in options)

    def _target(self, value: Any) -> str:
        target = self.s(value)
        if _WINDOWS_PATH.match(target):
            raise InputError(f"container path {target!r} is a Windows path: the charts run Linux "
                             "containers, which cannot mount it", key="volumes")
        return target

    def healthcheck(self, h: dict) -> Healthcheck:
        test = h.get("test")
        if isinstance(test, str):
            tests = (Template.literal("CMD-SHELL"), self.t(test))
        else:
            tests = tuple(self.t(x) for x in test or [])
        disable = self.bool(h.get("disable", False), "healthcheck.disable") or \
            (bool(tests) and tests[0] == Template.literal("NONE"))
        opt = {k: self.seconds(h[k], f"healthcheck.{k}") for k in
               ("interval", "timeout", "start_period") if h.get(k) is not None}
        retries = self.int(h["retries"], "healthcheck.retries") if h.get("retries") is not None \
            else None
        return Healthcheck(test=tests, retries=retries, disable=disable, **opt)

    def deploy(self, d: dict) -> Deploy:
        out = Deploy(mode=self.s(d["mode"]) if d.get("mode") else None)
        if d.get("replicas") is not None:
            out.replicas = self.int(d["replicas"], "deploy.replicas")
        res = d.get("resources") or {}
        lim, req = res.get("limits") or {}, res.get("reservations") or {}
        out.cpu_limit = self.s(lim["cpus"]) if lim.get("cpus") is not None else None
        out.memory_limit = self.s(lim["memory"]) if lim.get("memory") is not None else None
        out.cpu_request = self.s(req["cpus"]) if req.get("cpus") is not None else None
        out.memory_request = self.s(req["memory"]) if req.get("memory") is not None else None
        for dev in req.get("devices") or []:
            count = dev.get("count")
            if count is not None and self.s(count) != "all":
                count = self.int(count, "deploy.resources.reservations.devices.count")
            else:
                count = None
            out.devices.append(DeviceRequest(
                driver=self.s(dev["driver"]) if dev.get("driver") else None, count=count,
                capabilities=tuple(self.s(c) for c in _flat(dev.get("capabilities"))),
                device_ids=tuple(self.s(c) for c in as_list(dev.get("device_ids")))))
        place = d.get("placement") or {}
        out.constraints = [self.s(c) for c in as_list(place.get("constraints"))]
        out.preferences = [self.s(p.get("spread")) if isinstance(p, dict) else self.s(p)
                           for p in as_list(place.get("preferences"))]
        if place.get("max_replicas_per_node") is not None:
            out.max_replicas_per_node = self.int(place["max_replicas_per_node"],
                                                 "deploy.placement.max_replicas_per_node")
        # Every other key is named, so that the plan reports it instead of dropping it silently.
        read = {"mode", "replicas", "resources", "placement"}
        out.others = sorted(f"deploy.{k}" for k, v in d.items() if k not in read and v not in (None, {}, []))
        out.others += sorted(f"deploy.resources.{kind}.{k}" for kind, known in (
            ("limits", ("cpus", "memory")), ("reservations", ("cpus", "memory", "devices")))
            for k, v in (res.get(kind) or {}).items() if k not in known and v not in (None, {}, []))
        return out


def _flat(value: Any) -> list:
    """capabilities is a list, historically a list of lists."""
    out = []
    for x in as_list(value):
        out += _flat(x) if isinstance(x, list) else [x]
    return out


def _shield(text: str, spans: list[str]) -> str:
    """Replace each `${...}` (balanced) by a NUL-delimited index into spans; `$$` kept as is."""
    out, i = [], 0
    while i < len(text):
        if text.startswith("$$", i):
            out.append("$$")
            i += 2
            continue
        if text.startswith("${", i):
            depth, j = 0, i
            while j < len(text):
                if text.startswith("${", j):
                    depth, j = depth + 1, j + 2
                    continue
                if text[j] == "}":
                    depth -= 1
                    if depth == 0:
                        break
                j += 1
            if j < len(text):
                spans.append(text[i:j + 1])
                out.append(f"\0{len(spans) - 1}\0")
                i = j + 1
                continue
        out.append(text[i])
        i += 1
    return "".join(out)
