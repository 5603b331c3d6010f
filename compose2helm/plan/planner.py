"""Apply the mapping rules to a compose project: one chart instance and its values per service."""
from __future__ import annotations

import re

from ..compose.model import ComposeProject, Service
from ..errors import InputError
from ..util.names import dns_label, shortened
from .accelerators import accelerator
from .coupling import couple
from .endpoints import EndpointIndex, Target
from .findings import POLICY_ENDPOINT, Finding
from .plan import ExamplePlan, Instance
from .podsecurity import BASELINE_CAPABILITIES
from .rules import Rule, RuleSet, split_image
from .service_values import service_values
from .texts import Context


MEGASERVICE_DNS = "{{ .Release.Name }}"


def referenced_variables(service: Service) -> set[str]:
    names: set[str] = set()
    for t in list(service.command or []) + list(service.entrypoint or []) + [
            t for t in service.environment.values() if t is not None]:
        names.update(v.name for v in t.variables())
    return names


def generic_rule(service: Service, component: str) -> Rule:
    """A rule made from the service alone, for an image no mapping rule knows."""
    repo, tag, _ = split_image(service.image or "")
    return Rule(component=component, file="generic", description=f"Chart for {repo}, built from its compose service.",
                image={"repository": repo, "tag": tag or "latest"}, generic=True,
                capabilities=BASELINE_CAPABILITIES)   # what Docker gave it, but NET_RAW (podsecurity.py)


def _generic_name(image: str) -> str:
    return dns_label(split_image(image)[0].rsplit("/", 1)[-1]) or "component"


def _container_ports(service: Service, rule: Rule) -> list[int]:
    ports: list[int] = []
    for p in service.ports:
        if p.target not in ports:
            ports.append(p.target)
    for p in service.expose:
        if p not in ports:
            ports.append(p)
    if not ports:
        ports = [int(p["port"]) for p in rule.ports]
    return ports


def plan_project(project: ComposeProject, rules: RuleSet, *, example: str, chart: str, platform: str,
                 variant: str, sources: list[str], allow: frozenset[str] = frozenset(),
                 wait_for_dependencies: bool = False) -> ExamplePlan:
    services = list(project.services.values())
    policy = rules.policy
    chosen: dict[str, Rule] = {}
    component: dict[str, str] = {}
    findings: list[Finding] = []
    generic: list[str] = []
    umbrella_taken = False
    for s in services:
        rule = rules.match(s.image, s.name, referenced_variables(s))
        if rule is not None and rule.kind == "megaservice":
            if not umbrella_taken:
                umbrella_taken = True
                chosen[s.name], component[s.name] = rule, ""
                continue
            rule = None       # a second megaservice gets a chart of its own
        if rule is None:
            # A chart built from the service alone is named after the service, as compose names
            # its container; a name a rule's chart or the umbrella already has gets "-service".
            name = dns_label(s.name) or _generic_name(s.image)
            if rules.by_component(name) is not None or name == chart:
                name = f"{name}-service"
            rule = generic_rule(s, name)
            generic.append(s.name)
            findings.append(Finding(s.name, "image", "changed",
                                    f"no mapping rule knows {split_image(s.image)[0]}: chart {name} built "
                                    "from the service", "generic"))
        chosen[s.name], component[s.name] = rule, rule.component

    names = _instance_names(services, component, chart, chosen, policy.instance_suffixes)
    # Objects are named <release>-<name> (the release defaults to the chart): a Kubernetes name
    # has at most 63 characters, so a longer name is shortened here, where every reference to it
    # (values key, Service DNS in other services' addresses) is made from it.
    room = 63 - len(chart) - 1
    names = {svc: n if component[svc] == "" else shortened(n, room) for svc, n in names.items()}
    ports = {s.name: _container_ports(s, chosen[s.name]) for s in services}
    for name, extra in _referenced_ports(project).items():
        if not ports[name] or chosen[name].generic:
            for port in extra:
                if port not in ports[name]:
                    ports[name].append(port)
                    findings.append(Finding(name, "ports", "added",
                                            f"port {port} that other services use on the compose network",
                                            POLICY_ENDPOINT))
    targets = {}
    for s in services:
        dns = MEGASERVICE_DNS if component[s.name] == "" else "{{ .Release.Name }}-" + names[s.name]
        published = {p.published: p.target for p in s.ports if p.published}
        targets[s.name] = Target(s.name, dns, tuple(ports[s.name]), published)
    aliases = {s.container_name: s.name for s in services
               if s.container_name and s.container_name not in project.services}
    index = EndpointIndex(targets, aliases)
    comp_of = {s.name: (chosen[s.name].component if component[s.name] == "" else component[s.name])
               for s in services}

    instances = []
    fed: dict[str, dict[str, str | None]] = {}
    secret: dict[str, set[str]] = {}
    ruled: dict[str, set[str]] = {}
    for s in services:
        ctx = Context(s.name, project.variables, policy, index, comp_of, chart, allow=allow,
                      wait_for_dependencies=wait_for_dependencies)
        values = service_values(s, chosen[s.name], ports[s.name], ctx, megaservice=component[s.name] == "")
        findings.extend(ctx.findings)
        fed[s.name], secret[s.name], ruled[s.name] = ctx.fed_by, ctx.secret_values, ctx.ruled
        accel = accelerator(s, policy, project.variables)
        instances.append(Instance(s.name, component[s.name], names[s.name], chosen[s.name], values,
                                  [(k, t) for k, t in ctx.addressed.items() if t != s.name],
                                  accel.profile.name if accel else ""))
    variables, coupled = couple(instances, fed, secret, ruled)
    findings.extend(coupled)
    overlay = policy.overlay_names.name(platform, variant, {i.component for i in instances})
    return ExamplePlan(example, chart, platform, variant, sources, instances, findings, generic, sorted(allow),
                       overlay, variables)


def _drop_suffixes(services: list[Service], component: dict[str, str], names: dict[str, str],
                   by_service: set[str], suffixes: tuple[str, ...]) -> None:
    """The services sharing a chart lose a policy suffix when one of them is then the chart's own
    name, as GenAIInfra keys a second vllm: vllm-service, vllm-guardrails-service -> vllm, vllm-guardrails."""
    def bare(name: str) -> str:
        return next((name[:-len(x)] for x in suffixes if name.endswith(x) and len(name) > len(x)), name)

    for c in {component[n] for n in by_service}:
        group = [s.name for s in services if s.name in by_service and component[s.name] == c]
        stripped = {n: bare(names[n]) for n in group}
        if sum(1 for n in group if stripped[n] == c) == 1 and len(set(stripped.values())) == len(group):
            names.update(stripped)


def _referenced_ports(project: ComposeProject) -> dict[str, list[int]]:
    """Ports other services reach a service at (`name:port`), for services that declare none."""
    from ..compose import interpolate

    names = {s.name: s.name for s in project.services.values()}
    names.update({s.container_name: s.name for s in project.services.values() if s.container_name})
    pattern = re.compile(r"(?<![\w.-])(" + "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))
                         + r"):(\d{1,5})(?![\d])")
    found: dict[str, list[int]] = {}
    for s in project.services.values():
        texts = [t for t in s.environment.values() if t is not None] + list(s.command or [])
        for t in texts:
            for m in pattern.finditer(interpolate.value(t, project.variables)):
                target = names[m.group(1)]
                if target != s.name and int(m.group(2)) not in found.setdefault(target, []):
                    found[target].append(int(m.group(2)))
    return found


def _instance_names(services: list[Service], component: dict[str, str], chart: str, rules: dict[str, Rule],
                    suffixes: tuple[str, ...] = ()) -> dict[str, str]:
    counts: dict[str, int] = {}
    for s in services:
        counts[component[s.name]] = counts.get(component[s.name], 0) + 1
    names: dict[str, str] = {}
    by_service: set[str] = set()      # named after the service (a chart used twice), not the chart
    for s in services:
        c = component[s.name]
        if c == "":
            names[s.name] = chart
        elif counts[c] == 1:     # the rule may name its key after the example (ui: chatqna-ui, as GenAIInfra)
            names[s.name] = rules[s.name].instance_name.replace("{chart}", chart) or c
        else:
            names[s.name] = dns_label(s.name)
            by_service.add(s.name)
    _drop_suffixes(services, component, names, by_service, suffixes)
    for s in services:
        if not names[s.name]:
            raise InputError("service name has no letters or digits to name a chart instance",
                             file=s.file, service=s.name)
    seen: dict[str, str] = {}
    for s in sorted(services, key=lambda s: s.name not in by_service):   # service-named first
        n = names[s.name]
        if n in seen and s.name in by_service:
            raise InputError(f"service name collides with service {seen[n]!r} once made a DNS name ({n})",
                             file=s.file, service=s.name)
        if n in seen:   # a chart's name taken by another service's name: this one is named after its service
            n = dns_label(s.name)
            while n in seen or n in names.values():
                n = f"{n}-{component[s.name]}"[:63].strip("-")
            names[s.name] = n
        seen[n] = s.name
    return names
