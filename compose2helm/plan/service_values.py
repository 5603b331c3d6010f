"""One compose service as the values of its chart: image, ports, command and arguments, env and
secrets, volumes, accelerators, privileges, probes, start order, and the named values its rule
documents. Every difference from compose is noted in the planning context as a finding."""
from __future__ import annotations

import re
from typing import Any

from ..compose.model import Service, Template, Var
from ..errors import InputError
from .accelerators import accelerator
from .endpoints import companion_port
from .findings import (POLICY_ACCELERATOR, POLICY_ENDPOINT, POLICY_NO_MEANING, POLICY_ORDER, POLICY_PROBE,
                       POLICY_UNKNOWN, POLICY_WORKLOAD)
from .plan import ServiceValues
from .scheduling import cpu_quantity, placement_values
from .privileges import security_values
from .requests import overlay_requests
from .probes import chart_probes, healthcheck_probe, rule_probes
from .pull import pull_policy_value
from .rules import Rule, split_image
from .texts import Context, chart_text, env_entry, escape, literal_text, value_ref
from .volumes import volume_values


def _port_entries(ports: list[int], rule: Rule, protocols: dict[int, list[str]]) -> list[dict[str, Any]]:
    by_number = {int(p["port"]): str(p["name"]) for p in rule.ports}
    entries, used = [], set()
    for i, port in enumerate(ports):
        name = by_number.get(port)
        if name is None and i == 0 and len(rule.ports) >= 1 and int(rule.ports[0]["port"]) not in ports:
            name = str(rule.ports[0]["name"])      # the component's main port, moved
        if name is None or name in used or len(name) > 15:
            name = f"port-{port}"
        # One entry per protocol compose gives the port (6379/tcp and 6379/udp are two ports); a
        # Service's port names must differ, so the non-TCP ones carry their protocol in the name.
        # TCP entries leave protocol out: the templates default to it.
        for proto in protocols.get(port) or ["tcp"]:
            entry: dict[str, Any] = {"name": name, "port": port, "targetPort": port}
            if proto != "tcp":
                entry["name"] = f"{name}-{proto}" if len(name) + len(proto) < 15 else f"port-{port}-{proto}"
                if entry["name"] in used:
                    entry["name"] = f"port-{port}-{proto}"
                entry["protocol"] = proto.upper()
            used.add(entry["name"])
            entries.append(entry)
    return entries


def _protocols(s: Service) -> dict[int, list[str]]:
    """The protocols of each container port, in compose's order."""
    found: dict[int, list[str]] = {}
    for port, protocol in [(p.target, p.protocol) for p in s.ports] + [
            (n, proto) for n in s.expose for proto in s.expose_protocols.get(n, ["tcp"])]:
        if protocol not in found.setdefault(port, []):
            found[port].append(protocol)
    return found


def service_values(s: Service, rule: Rule, ports: list[int], ctx: Context, megaservice: bool) -> ServiceValues:
    """What compose says of one service, as the values of its chart; every difference noted in ctx."""
    v: dict[str, Any] = {}
    note = ctx.note
    if not megaservice:
        v["enabled"] = not s.profiles
        if s.profiles:
            note("profiles", "changed", f"profiles {', '.join(s.profiles)}: off by default, as compose starts it "
                 "only for those profiles; set enabled: true to run it", POLICY_WORKLOAD)
    repo, tag, digest = split_image(s.image or "")
    v["image"] = {"repository": repo, "tag": tag or "latest"}
    if digest:
        v["image"]["digest"] = digest
    if not tag and not digest:
        note("image", "changed", "no tag: latest, as compose pulls it", POLICY_NO_MEANING)
    pull_policy_value(s, v["image"], note)
    if s.deploy and s.deploy.replicas is not None:
        v["replicaCount"] = s.deploy.replicas
    v.update(placement_values(s, note))
    v["service"] = {"ports": _port_entries(ports, rule, _protocols(s))}
    if not s.ports and not s.expose and ports:
        note("ports", "added", f"no ports declared: the component's port {ports[0]} from the rule", rule.file)

    accel = accelerator(s, ctx.policy, ctx.variables)

    # A rule value fed by two different texts in this service (`MODEL_ID=x` and `--model-id y`)
    # cannot be one value: each text then stays its own (compose gives each its own).
    ctx.contested = _contested(s, rule)
    # Command and arguments: rule flags feed named values, other variables become values too.
    if s.entrypoint is not None:
        v["command"] = [chart_text(t, ctx, "entrypoint", f"entrypoint[{i}]") for i, t in enumerate(s.entrypoint)]
    if s.command is not None:
        v["args"] = _args(s.command, rule, ctx)

    env: dict[str, str] = {}
    secret_env: dict[str, str] = {}
    for key, t in s.environment.items():
        if accel and key in accel.profile.not_carried_env:
            note(f"environment.{key}", "dropped",
                 f"the {accel.profile.resource} device plugin assigns the devices", POLICY_ACCELERATOR)
            continue
        target, text = env_entry(key, t, ctx, lambda k: _named_env(rule, k))
        (secret_env if target == "secretEnv" else env)[key] = text
    _port_companions(env, ctx)
    if env:
        v["env"] = env
    if secret_env:
        v["secretEnv"] = secret_env

    vol, vol_findings = volume_values(s, ctx.policy)
    v.update(vol)
    ctx.findings.extend(vol_findings)

    resources: dict[str, Any] = {}
    # The rule's requests that compose's own resources leave standing (chart defaults, or the
    # accelerator's requests, which the overlay sets).
    compose_res = _compose_resources(s)
    accelerated = rule.accelerator_requests.get(accel.profile.resource, {}) if accel else {}
    requests = overlay_requests(rule.requests, accelerated, compose_res["limits"], compose_res["requests"])
    if accel:
        # The count follows the variable that sets it (NUM_CARDS, --num-shard): one value for both.
        count = value_ref(accel.count_variable) if accel.count_variable else accel.count
        resources = {"limits": {accel.profile.resource: count}}
        asked = sorted(f"{k} {val}" for k, val in accelerated.items() if requests.get(k) == val)
        note("accelerator", "changed", f"{accel.profile.name}: {accel.profile.resource}: {accel.count} "
             f"(count from {accel.count_from})" + (f"; requests {', '.join(asked)} ({rule.file})" if asked else ""),
             POLICY_ACCELERATOR)
        if accel.count_variable and not ctx.named.get(accel.count_variable):
            ctx.named[accel.count_variable] = str(accel.count)
        if accel.count_variable:
            ctx.feed(accel.count_variable, accel.count_variable)
        if s.runtime:
            note("runtime", "dropped", f"runtime {s.runtime}: the device plugin does its job", POLICY_ACCELERATOR)
        if s.devices:
            note("devices", "dropped", f"host devices {', '.join(s.devices)}: the device plugin provides them",
                 POLICY_ACCELERATOR)
    elif s.runtime:
        note("runtime", "dropped", f"runtime {s.runtime} has no Kubernetes equivalent here", POLICY_UNKNOWN)
    for kind in ("limits", "requests"):
        if compose_res[kind]:
            resources.setdefault(kind, {}).update(compose_res[kind])
    if s.deploy and s.deploy.mode == "global":
        v["daemonSet"] = True
        note("deploy.mode", "changed", "global: a DaemonSet, one pod on every node", POLICY_WORKLOAD)
    if requests:
        resources["requests"] = requests
    if resources:
        v["resources"] = resources

    mounted = {e["mountPath"] for e in v.get("extraVolumes", [])} | {v.get("modelCachePath"), "/dev/shm"}
    granted = security_values(s, rule, ctx.allow, note, device_plugin=accel is not None, mounted=mounted)
    if "extraVolumes" in granted:
        granted["extraVolumes"] = v.get("extraVolumes", []) + granted["extraVolumes"]
    v.update(granted)
    if s.working_dir:
        v["workingDir"] = s.working_dir

    probe, how = healthcheck_probe(s, ctx.variables, ctx.policy)
    if probe is not None:
        v["readinessProbe"] = probe
        v["startupProbe"] = dict(probe)
        note("healthcheck", "changed", f"readiness and startup probes ({how})", POLICY_PROBE)
    elif s.healthcheck and s.healthcheck.disable:
        v["readinessProbe"] = v["startupProbe"] = None      # null removes the chart's own probes
        note("healthcheck", "changed", "disabled: no probes", POLICY_PROBE)
    else:
        probes = rule_probes(rule.probe, ports[0] if ports else None)
        if probes is not None:
            v["readinessProbe"], v["startupProbe"] = probes
            note("healthcheck", "added", "no healthcheck in compose: the component's probes", rule.file)

    _override_chart_defaults(v, rule)
    _other_keys(s, ctx, megaservice)
    if s.depends_on:
        v.update(_start_order(s, ctx))
    # Named values: empty compose defaults fall back to the rule's documented default.
    named = {}
    for key, default in ctx.named.items():
        nv = next((n for n in rule.values if n.key == key), None)
        if not default and nv is not None and nv.default and key in ctx.same_name:
            default = nv.default
            ctx.ruled.add(key)
            note(key, "changed", f"unset in compose: the component's default {default!r}", rule.file)
        named[key] = default
    for key in sorted(named):
        if key in v:
            raise InputError(f"variable {key} collides with a chart value of the same name",
                             file=s.file, service=s.name)
        v[key] = named[key]
    return ServiceValues(v)


def _port_companions(env: dict[str, str], ctx: Context) -> None:
    """`X_HOST_IP=${host_ip}` with `X_PORT=<published port>`: the port becomes the Service's."""
    for key, text in env.items():
        value_key = next((k for k in ctx.named if text == value_ref(k)), None)
        found = companion_port(key, ctx.named[value_key] if value_key else text, ctx.addressed, ctx.index)
        if found is None:
            continue
        new, service = found
        if value_key:
            ctx.named[value_key] = new
            ctx.fed_by[value_key] = None   # now the Service's port, not the variable's value
        else:
            env[key] = new
        ctx.note(f"environment.{key}", "changed", f"published port -> {new}, the Service port of {service}",
                 POLICY_ENDPOINT)


def _override_chart_defaults(v: dict[str, Any], rule: Rule) -> None:
    """The chart's standalone defaults must not leak into what compose says: override them."""
    if rule.default_args and "args" not in v:
        v["args"] = []
    if rule.model_path and "modelCachePath" not in v:
        v["modelCachePath"] = ""
    for key, defaults in (("env", rule.default_env), ("secretEnv", rule.default_secret_env)):
        extra = [k for k in defaults if k not in v.get(key, {})]
        if extra:
            v.setdefault(key, {}).update({k: None for k in extra})   # null deletes a chart default
    # A probe of another kind (exec for the chart's httpGet) must not be merged into the default.
    for key, default in zip(("readinessProbe", "startupProbe"), chart_probes(rule) or ()):
        if v.get(key):
            v[key] = {**v[key], **{k: None for k in default if k not in v[key]}}


def _named_env(rule: Rule, key: str) -> str | None:
    nv = rule.value_for_env(key)
    return nv.key if nv else None


def _contested(s: Service, rule: Rule) -> set[str]:
    """Rule values that more than one distinct text feeds: env vars of the value, flag arguments,
    and the variable of the value's own name."""
    feeds: dict[str, set[str]] = {}
    for nv in rule.values:
        texts = feeds.setdefault(nv.key, set())
        for key, t in s.environment.items():
            if key in nv.env:
                texts.add((t if t is not None else Template((Var(key),))).source())
        words = list(s.command or [])
        for i, word in enumerate(words):
            text = word.source()
            if text in nv.flags and i + 1 < len(words):
                texts.add(words[i + 1].source())
            elif "=" in text and text.partition("=")[0] in nv.flags:
                texts.add(text.partition("=")[2])
        for t in [t for t in s.environment.values() if t is not None] + words + list(s.entrypoint or []):
            texts.update("${" + v.name + "}" for v in t.variables() if v.name == nv.key and not v.op)
    return {key for key, texts in feeds.items() if len(texts) > 1}


def _args(command: list[Template], rule: Rule, ctx: Context) -> list[str]:
    out: list[str] = []
    i = 0
    while i < len(command):
        word = command[i]
        flag_text = literal_text(word, ctx) if word.is_literal() else None
        where = f"command[{i}]"
        nv = rule.value_for_flag(flag_text) if flag_text else None
        nv = None if nv is not None and nv.key in ctx.contested else nv
        if nv is not None and i + 1 < len(command):
            arg = command[i + 1].parts
            if len(arg) == 1 and not isinstance(arg[0], str):
                ctx.feed(nv.key, arg[0].name)
                if arg[0].name == nv.key:
                    ctx.same_name.add(nv.key)
            out.append(escape(flag_text))
            out.append(ctx.name_value(nv.key, literal_text(command[i + 1], ctx), where))
            i += 2
            continue
        if flag_text and "=" in flag_text:
            flag, _, arg = flag_text.partition("=")
            nv = rule.value_for_flag(flag)
            if nv is not None and nv.key not in ctx.contested:
                out.append(escape(flag) + "=" + ctx.name_value(nv.key, arg, where))
                i += 1
                continue
        out.append(chart_text(word, ctx, "command", where))
        i += 1
    return out


def _compose_resources(s: Service) -> dict[str, dict[str, str]]:
    """deploy.resources limits and reservations (as requests) of cpu and memory, as Kubernetes says them."""
    out: dict[str, dict[str, str]] = {"limits": {}, "requests": {}}
    if s.deploy:
        for kind, cpu, mem in (("limits", s.deploy.cpu_limit, s.deploy.memory_limit),
                               ("requests", s.deploy.cpu_request, s.deploy.memory_request)):
            if cpu:
                out[kind]["cpu"] = cpu_quantity(cpu)
            if mem:
                out[kind]["memory"] = _memory(mem)
    return out


def _memory(text: str) -> str:
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([kmgt]?)b?", text.strip().lower())
    if not m:
        return text
    unit = {"": "", "k": "Ki", "m": "Mi", "g": "Gi", "t": "Ti"}[m.group(2)]
    return m.group(1) + unit


_NO_MEANING = {
    "container_name": "container names have no Kubernetes meaning: objects are named <release>-<component>",
    "restart": "Kubernetes restarts failed containers itself (restartPolicy Always)",
}


def _start_order(s: Service, ctx: Context) -> dict[str, Any]:
    """depends_on: pods start together and readiness gates traffic; with --wait-for-dependencies,
    an init container waits for each dependency compose waits to be healthy."""
    waits, left = [], []
    for dep, condition in sorted(s.depends_on.items()):
        target = ctx.index.targets.get(dep)
        if ctx.wait_for_dependencies and condition == "service_healthy" and target and target.ports:
            waits.append(f"{target.dns}:{target.ports[0]}")
        else:
            left.append(dep)
    if waits:
        ctx.note("depends_on", "changed", f"an init container waits for {', '.join(sorted(set(s.depends_on) - set(left)))} "
                 "to accept connections (--wait-for-dependencies)", POLICY_ORDER)
    if left:
        how = ("only healthy dependencies with a Service are waited for"
               if ctx.wait_for_dependencies else "--wait-for-dependencies adds init containers that wait")
        ctx.note("depends_on", "dropped", f"{', '.join(left)}: Kubernetes starts all pods at once and readiness "
                 f"probes gate traffic; {how}", POLICY_ORDER)
    return {"waitFor": waits} if waits else {}


def _other_keys(s: Service, ctx: Context, megaservice: bool) -> None:
    note = ctx.note
    if s.container_name:
        note("container_name", "dropped", _NO_MEANING["container_name"], POLICY_NO_MEANING)
    if s.restart:
        note("restart", "dropped", f"restart {s.restart}: " + _NO_MEANING["restart"], POLICY_NO_MEANING)
    if s.ports and any(p.published for p in s.ports):
        note("ports", "changed", "host port numbers are not carried: the Service exposes the container ports "
             + ", ".join(str(p.target) for p in s.ports), POLICY_NO_MEANING)
    if s.profiles and megaservice:
        note("profiles", "dropped", "the umbrella's own workload always runs", POLICY_UNKNOWN)
    for key in sorted(s.extra):
        if key == "networks":
            note(key, "dropped", "pods share one cluster network", POLICY_NO_MEANING)
        else:
            note(key, "dropped", f"{key} is not carried", POLICY_UNKNOWN)
