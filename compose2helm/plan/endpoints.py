"""Service-to-service addresses: rewrite what compose wires through the docker host or the
compose network into the Service DNS names and ports of the rendered release.

Input text is an env value or argument whose host variables (`${host_ip}`) were replaced by
HOST; the output uses Helm template expressions (`{{ .Release.Name }}-tei`) that the charts
pass through `tpl`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field


HOST = "\x00HOST\x00"   # stands for a host variable inside converted text


@dataclass(frozen=True)
class Target:
    service: str
    dns: str                      # Helm expression of the Service name
    ports: tuple[int, ...]        # container ports = Service ports
    published: dict[int, int]     # published host port -> container port


@dataclass
class Rewrite:
    kind: str        # host-port | host | service | localhost
    target: str      # compose service reached
    before: str
    after: str


def _whole(m: re.Match, listy: bool) -> bool:
    """Whether a bare name match is the whole value (or, in a list, a whole element)."""
    text = m.string
    if text[: m.start()].strip() == "" and text[m.end():].strip() == "":
        return True
    if not listy:
        return False
    before, after = text[: m.start()].rstrip(), text[m.end():].lstrip()
    return (before == "" or before.endswith(",")) and (after == "" or after.startswith(","))


@dataclass
class EndpointIndex:
    targets: dict[str, Target]                                 # by compose service name
    aliases: dict[str, str] = field(default_factory=dict)      # container_name -> service
    by_component: dict[str, list[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._names = set(self.targets) | set(self.aliases)
        # Any host-like token, then a look-up: cost grows with the text, not with the number of
        # services. A name counts only as a whole host: not inside a longer word or path. A bare
        # name (no scheme, no port) counts only as the whole value: a word like `retriever` in a
        # sentence or a path is not an address.
        self._name_re = re.compile(
            r"(?:(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)|(?<![\w./:@-]))(?P<name>[\w][\w.-]*)"
            r"(?![\w.-])(?::(?P<port>\d{1,5}))?")
        self._host_re = re.compile(re.escape(HOST) + r"(?::(?P<port>\d{1,5}))?")
        self._local_re = re.compile(r"(?<![\w.-])(?:localhost|127\.0\.0\.1)(?::(?P<port>\d{1,5}))")

    def service_of(self, name: str) -> str | None:
        if name in self.targets:
            return name
        return self.aliases.get(name)

    def publisher(self, port: int) -> Target | None:
        found = [t for t in self.targets.values() if port in t.published]
        return found[0] if len(found) == 1 else None

    def mentions_service(self, text: str, listy: bool = False, bare: bool = True) -> bool:
        if HOST in text:
            return True
        return any(m.group("name") in self._names and (m.group("scheme") or m.group("port") or
                                                        (bare and _whole(m, listy)))
                   for m in self._name_re.finditer(text))

    def rewrite(self, text: str, key: str, self_service: str, hints: dict[str, tuple[str, ...]],
                components: dict[str, str], listy: bool = False,
                bare: bool = True) -> tuple[str, list[Rewrite], list[str]]:
        """Returns (new text, rewrites done, problems). `components` maps service -> component.

        listy: the value is a comma-separated list of hosts (no_proxy), so a bare name counts
        as an address when it is a whole element.
        bare: whether a bare name may be an address at all (not for command words, where
        `etcd` is the program, not the service).
        """
        done: list[Rewrite] = []
        problems: list[str] = []

        def via_host(m: re.Match) -> str:
            port = m.group("port")
            if port is None:
                target = self._hinted(key, self_service, hints, components)
                if target is None:
                    problems.append(f"host address with no port in {key} names no known service")
                    return m.group(0)
                if not target.ports:
                    problems.append(f"{key} names {target.service}, which has no Service (no ports)")
                    return m.group(0)
                done.append(Rewrite("host", target.service, m.group(0).replace(HOST, "${host_ip}"), target.dns))
                return target.dns
            t = self.publisher(int(port))
            if t is None:
                problems.append(f"host port {port} in {key} is published by no service")
                return m.group(0)
            after = f"{t.dns}:{t.published[int(port)]}"
            done.append(Rewrite("host-port", t.service, m.group(0).replace(HOST, "${host_ip}"), after))
            return after

        def via_name(m: re.Match) -> str:
            if m.group("name") not in self._names:
                return m.group(0)
            if not m.group("scheme") and not m.group("port") and not (bare and _whole(m, listy)):
                return m.group(0)
            service = self.service_of(m.group("name"))
            t = self.targets[service]
            scheme, port = m.group("scheme") or "", m.group("port")
            if not t.ports:     # nothing to address: no Service is made for a service without ports
                problems.append(f"{key} names {service}, which has no Service (no ports)")
                return m.group(0)
            if port is None:
                after = scheme + t.dns
            else:
                p = int(port)
                if p not in t.ports and p in t.published:
                    p = t.published[p]   # a published port used on the compose network
                elif p not in t.ports:
                    problems.append(f"{key} uses port {p} that {service} neither exposes nor publishes")
                after = f"{scheme}{t.dns}:{p}"
            done.append(Rewrite("service", service, m.group(0), after))
            return after

        def via_localhost(m: re.Match) -> str:
            p = int(m.group("port"))
            own = self.targets.get(self_service)
            if own is not None and p in own.ports:
                return m.group(0)            # the container itself
            t = self.publisher(p)
            if t is None or t.service == self_service:
                return m.group(0)
            after = f"{t.dns}:{t.published[p]}"
            done.append(Rewrite("localhost", t.service, m.group(0), after))
            return after

        out = self._host_re.sub(via_host, text)
        out = self._local_re.sub(via_localhost, out)
        # Names are matched outside Helm expressions only, so a rewrite is never rewritten again.
        pieces = re.split(r"(\{\{.*?\}\})", out)
        out = "".join(p if p.startswith("{{") else self._name_re.sub(via_name, p) for p in pieces)
        return out, done, problems

    def _hinted(self, key: str, self_service: str, hints: dict[str, tuple[str, ...]],
                components: dict[str, str]) -> Target | None:
        wanted = hints.get(key, ())
        for component in wanted:
            if component == "self":
                return self.targets.get(self_service)
            services = [s for s, c in components.items() if c == component]
            if len(services) > 1:
                # e.g. an `extends` template beside the real service: prefer what is published.
                services = [s for s in services if self.targets[s].published]
            if len(services) == 1:
                return self.targets[services[0]]
        return None

    def unpublished_host_port(self, text: str) -> bool:
        """Whether text reaches the docker host at a port no service publishes."""
        return any(m.group("port") and self.publisher(int(m.group("port"))) is None
                   for m in self._host_re.finditer(text))


def policy_address(name: str, endpoint_variables: dict, index: EndpointIndex, components: dict[str, str],
                   example: str) -> tuple[str, str] | None:
    """(address text, service) a policy says an undefined variable stands for, when the file
    has exactly one service of one of its components."""
    wanted, url = endpoint_variables[name]
    for component in wanted:
        services = [s for s, c in components.items() if c == component]
        if len(services) == 1:
            t = index.targets[services[0]]
            address = f"{t.dns}:{t.ports[0]}" if t.ports else t.dns
            return url.replace("{address}", address).replace("{host}", t.dns).replace("{example}", example), services[0]
    return None


HOST_SUFFIXES = ("_HOST_IP", "_HOST", "_IP", "_SERVICE_IP", "_NAME")


def companion_port(key: str, number: str, addressed: dict[str, str], index: EndpointIndex) -> tuple[str, str] | None:
    """X_PORT=<published port> beside an X_HOST_IP that names a service: (that service's port,
    service), or None when the port needs no change."""
    if not key.endswith("_PORT") or not number.isdigit():
        return None
    prefix = key[: -len("_PORT")]
    service = next((addressed[prefix + s] for s in HOST_SUFFIXES if prefix + s in addressed), None)
    if service is None:
        return None
    target = index.targets[service]
    port = int(number)
    if port not in target.ports and port in target.published:
        return str(target.published[port]), service
    return None
