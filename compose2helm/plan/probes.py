"""Compose healthchecks as Kubernetes probes.

A test that curls/wgets an HTTP URL of the container itself becomes an httpGet probe (a
`$host_ip:<published port>` URL is the container itself seen from the host, so it becomes
its container port); anything else runs as an exec probe.
"""
from __future__ import annotations

import math
import re
import shlex
from typing import Any

from ..compose import interpolate
from ..compose.model import Healthcheck, Service, Template, Var
from .endpoints import HOST
from .rules import Policy, Rule


_URL = re.compile(r"^(?P<scheme>https?)://(?P<host>[^/:\s]+)(?::(?P<port>\d+))?(?P<path>/[^\s]*)?$")
_LOCAL = {"localhost", "127.0.0.1", "0.0.0.0", HOST}
_CLIENTS = {"curl", "wget"}

# Compose's own defaults for a healthcheck that leaves them out.
_INTERVAL, _TIMEOUT, _RETRIES = 30.0, 30.0, 3


def _text(t: Template, variables: dict, policy: Policy) -> str:
    parts = []
    for p in t.parts:
        if isinstance(p, Var) and policy.is_host_variable(p.name):
            parts.append(HOST)
        else:
            parts.append(p if isinstance(p, str) else interpolate.value(Template((p,)), variables))
    return "".join(parts)


def _http(words: list[str], service: Service) -> dict[str, Any] | None:
    """The URL a single curl/wget command fetches from the container itself, as httpGet."""
    if not words or words[0].split("/")[-1] not in _CLIENTS:
        return None
    urls = [w for w in words[1:] if "://" in w]
    if len(urls) != 1:
        return None
    m = _URL.match(urls[0])
    if not m:
        return None
    own = {service.name, service.container_name}
    if m.group("host") not in _LOCAL and m.group("host") not in own:
        return None
    port = int(m.group("port") or (443 if m.group("scheme") == "https" else 80))
    if m.group("host") == HOST:
        published = {p.published: p.target for p in service.ports if p.published}
        if port not in published:
            return None
        port = published[port]
    probe: dict[str, Any] = {"path": m.group("path") or "/", "port": port}
    if m.group("scheme") == "https":
        probe["scheme"] = "HTTPS"
    return probe


def _split_shell(command: str) -> list[list[str]] | None:
    """`curl -f URL || exit 1` -> [[curl, -f, URL]]; None when it is more than that."""
    cmd = re.sub(r"\s*\|\|\s*exit\s+1\s*$", "", command.strip())
    if any(c in cmd for c in "|;&$`<>"):
        return None
    try:
        return [shlex.split(cmd)]
    except ValueError:
        return None


def healthcheck_probe(service: Service, variables: dict, policy: Policy) -> tuple[dict[str, Any] | None, str]:
    """(probe, how) for a service's healthcheck; None when it has none or it is disabled."""
    hc: Healthcheck | None = service.healthcheck
    if hc is None or hc.disable or not hc.test:
        return None, ""
    test = [_text(t, variables, policy) for t in hc.test]
    kind, args = test[0], test[1:]
    if kind == "NONE":
        return None, ""
    action: dict[str, Any]
    how: str
    if kind == "CMD-SHELL":
        shell = " ".join(args)
        words = _split_shell(shell)
        http = _http(words[0], service) if words else None
        if http is not None:
            action, how = {"httpGet": http}, f"httpGet {http['path']} on port {http['port']}"
        else:
            action, how = {"exec": {"command": ["sh", "-c", _localize(shell, service)]}}, "exec sh -c"
    else:
        if kind != "CMD":   # a bare list without CMD runs as CMD
            args = test
        http = _http(args, service)
        if http is not None:
            action, how = {"httpGet": http}, f"httpGet {http['path']} on port {http['port']}"
        else:
            action, how = {"exec": {"command": [_localize(a, service) for a in args]}}, "exec"
    timing = {
        "periodSeconds": _seconds(hc.interval, _INTERVAL),
        "timeoutSeconds": _seconds(hc.timeout, _TIMEOUT),
        "failureThreshold": hc.retries if hc.retries is not None else _RETRIES,
    }
    if hc.start_period:
        timing["initialDelaySeconds"] = _seconds(hc.start_period, 0)
    return {**action, **timing}, how


def _localize(text: str, service: Service) -> str:
    """`$host_ip:<published port>` of this container -> localhost:<container port>."""
    published = {p.published: p.target for p in service.ports if p.published}

    def sub(m: re.Match) -> str:
        port = int(m.group(1))
        return f"localhost:{published.get(port, port)}"
    text = re.sub(re.escape(HOST) + r":(\d+)", sub, text)
    return text.replace(HOST, "localhost")


def _seconds(value: float | None, default: float) -> int:
    v = default if value is None else value
    return max(1, math.ceil(v)) if v else 0


def rule_probes(spec: dict[str, Any], port: int | None) -> tuple[dict, dict] | None:
    """(readiness, startup) from a rule, for a component whose compose file has no healthcheck.

    The startup probe allows `startupSeconds` (default 20 minutes: model downloads) before
    the kubelet gives up on the container.
    """
    if not spec or port is None:
        return None
    spec = dict(spec)
    startup_seconds = int(spec.pop("startupSeconds", 1200))
    action: dict[str, Any] = {}
    for kind, args in spec.items():
        args = dict(args or {})
        if kind in ("httpGet", "tcpSocket"):
            args.setdefault("port", port)
        action[kind] = args
    readiness = {**action, "periodSeconds": 10, "timeoutSeconds": 5, "failureThreshold": 3}
    startup = {**action, "periodSeconds": 10, "timeoutSeconds": 5,
               "failureThreshold": max(1, startup_seconds // 10)}
    return readiness, startup


def chart_probes(rule: Rule) -> tuple[dict, dict] | None:
    """The probes a component's chart has by default: the rule's, on the rule's first port."""
    return rule_probes(rule.probe, int(rule.ports[0]["port"]) if rule.ports else None)
