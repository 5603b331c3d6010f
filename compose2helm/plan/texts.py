"""Turning compose strings with variables into chart strings with Helm expressions.

Every variable ends in one of four places: a global value (proxies, the HF token), the
address of another service (host variables, service names: see endpoints.py), a named
value of the chart (`{{ .Values.LLM_MODEL_ID }}`, its default taken from the env file or
the compose default), or inline text when its definition is itself an address.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Callable

from ..compose import interpolate
from ..compose.model import Template, Var
from .endpoints import HOST, EndpointIndex, policy_address
from .findings import POLICY_ENDPOINT, POLICY_EXTERNAL, POLICY_PROXY, POLICY_SECRET, POLICY_VALUE, Finding
from .rules import Policy


# The token: the chart's own HF_TOKEN / HUGGINGFACEHUB_API_TOKEN value (the RFC sets
# llm-uservice.HUGGINGFACEHUB_API_TOKEN), else the global ones.
TOKEN_EXPR = ("{{ .Values.HF_TOKEN | default .Values.HUGGINGFACEHUB_API_TOKEN | default .Values.global.HF_TOKEN"
              " | default .Values.global.HUGGINGFACEHUB_API_TOKEN }}")
EXTERNAL_HOST = "EXTERNAL_HOST"


def escape(text: str) -> str:
    """Literal compose text inside a string the chart passes through tpl."""
    return text.replace("{{", '{{ "{{" }}')


def value_ref(key: str) -> str:
    return "{{ .Values." + key + " }}" if key.isidentifier() else "{{ index .Values " + f'"{key}"' + " }}"


@dataclass
class Context:
    """What converting one service's strings needs to know."""

    service: str
    variables: dict[str, Template]
    policy: Policy
    index: EndpointIndex
    components: dict[str, str]                  # service -> component
    example: str = ""                           # the umbrella chart's name
    named: dict[str, str] = field(default_factory=dict)    # value key -> default (collected)
    used_at: dict[str, str] = field(default_factory=dict)  # value key -> where it was first used
    secret_values: set[str] = field(default_factory=set)   # value keys that hold secrets
    addressed: dict[str, str] = field(default_factory=dict)  # env key -> the one service it names
    # Values fed by a variable of the same name: when compose leaves it unset, the rule's default
    # for that variable applies (verify resolves such variables the same way).
    same_name: set[str] = field(default_factory=set)
    findings: list[Finding] = field(default_factory=list)
    allow: frozenset[str] = frozenset()     # privileges the user opted in to (privileges.OPT_INS)
    wait_for_dependencies: bool = False     # depends_on service_healthy -> init containers
    contested: set[str] = field(default_factory=set)   # rule values two texts feed: not used
    # value key -> the one compose variable whose value it holds (None: fed by two), so that the
    # example can make one value of a variable several charts use (coupling.py).
    fed_by: dict[str, str | None] = field(default_factory=dict)
    ruled: set[str] = field(default_factory=set)   # value keys compose left empty: the rule's default

    def note(self, key: str, action: str, detail: str, rule: str) -> None:
        self.findings.append(Finding(self.service, key, action, detail, rule))

    def name_value(self, key: str, default: str, where: str, secret: bool = False) -> str:
        """Register a named value and return its reference. The first non-empty default wins."""
        if secret:
            self.secret_values.add(key)
            default = ""   # a secret's value is never written into a chart
        if key not in self.named:
            self.named[key], self.used_at[key] = default, where
            return value_ref(key)
        old = self.named[key]
        if default != old:
            # One value, two compose defaults: each place gets the one kept (the first non-empty).
            kept = old or default
            self.named[key] = kept
            for place in dict.fromkeys((self.used_at[key], where)):
                self.note(place, "changed", f"value {key} has one default, {kept!r}; compose also gives "
                          f"{(default if kept == old else old)!r}", POLICY_VALUE)
        return value_ref(key)

    def feed(self, key: str, variable: str) -> None:
        """Record that value key holds compose variable's value."""
        self.fed_by[key] = variable if self.fed_by.get(key, variable) == variable else None

    def snapshot(self) -> tuple:
        return dict(self.named), set(self.secret_values), len(self.findings), dict(self.used_at), dict(self.fed_by)

    def restore(self, state: tuple) -> None:
        self.named, self.secret_values, self.used_at, self.fed_by = state[0], state[1], state[3], state[4]
        del self.findings[state[2]:]


def _definition(name: str, ctx: Context) -> Template | None:
    return interpolate.lookup(name, ctx.variables)


def _flatten(t: Template, ctx: Context, where: str, depth: int = 0) -> str:
    """Text with Helm expressions for variables, HOST for host variables; addresses not yet rewritten."""
    out: list[str] = []
    for part in t.parts:
        if isinstance(part, str):
            out.append(escape(part))
        elif "".join(out).endswith(HOST + ":"):
            # `${host_ip}:${X_PORT}`: the port is part of the address, so it is inlined.
            out.append(interpolate.value(Template((part,)), ctx.variables))
        else:
            out.append(_variable(part, ctx, where, depth))
    return "".join(out)


def proxy_expr(v: Var, ctx: Context, where: str, depth: int = 0) -> str:
    """A proxy variable comes from global.<name>; compose's default applies while that is empty."""
    value = "{{ .Values.global." + v.name + " }}"
    if v.op in (":-", "-") and v.arg is not None and v.arg.parts:
        default = _flatten(v.arg, ctx, where, depth + 1)
        return "{{ with .Values.global." + v.name + " }}{{ . }}{{ else }}" + default + "{{ end }}"
    return value


def _variable(v: Var, ctx: Context, where: str, depth: int) -> str:
    p = ctx.policy
    if p.is_host_variable(v.name):
        return HOST
    if p.is_proxy(v.name):
        return proxy_expr(v, ctx, where, depth)
    if v.name in p.token_variables:
        return TOKEN_EXPR
    definition = _definition(v.name, ctx)
    if definition is None and v.name in p.endpoint_variables and not (v.op in (":-", "-") and v.arg):
        address = _rule_address(v.name, ctx, where)
        if address is not None:
            return address
    if definition is not None and depth < 8:
        resolved_text = _flatten(definition, ctx, where, depth + 1)
        if (v.name in p.endpoint_variables and ctx.index.unpublished_host_port(resolved_text)):
            # The env file was written for another compose file (its port is published by
            # nothing here): the policy's address for the variable is the better guess.
            address = _rule_address(v.name, ctx, where)
            if address is not None:
                return address
        if ctx.index.mentions_service(resolved_text, bare=_bare(v.name, where, ctx)):
            return resolved_text     # an address: rewritten where the value is used
    if v.op in (":-", "-") and v.arg is not None and definition is None:
        default_text = _flatten(v.arg, ctx, where, depth + 1)
        if ctx.index.mentions_service(default_text, bare=_bare(v.name, where, ctx)):
            return default_text
    if v.op in (":+", "+"):
        # `${X:+text}` is text or nothing, not X's value: a value named X would carry the wrong thing.
        return escape(interpolate.value(Template((v,)), public(ctx)))
    default = interpolate.value(Template((v,)), public(ctx))
    ctx.same_name.add(v.name)
    ctx.feed(v.name, v.name)
    ref = ctx.name_value(v.name, default, where, secret=p.is_secret(v.name))
    if v.op == ":?" and p.is_secret(v.name) and where.startswith("environment."):
        return required_secret(v, ref)      # inside a longer value (`Bearer ${TOKEN:?}`), in the Secret
    return ref


def _bare(name: str, where: str, ctx: Context) -> bool:
    """Whether a bare service name in variable `name`'s value, used at `where`, is an address."""
    key = where.split(".", 1)[1] if where.startswith("environment.") else ""
    return ctx.policy.holds_address(name) or (bool(key) and ctx.policy.holds_address(key))


def _rule_address(name: str, ctx: Context, where: str = "") -> str | None:
    """The address a policy says an undefined variable stands for, when the file has that component."""
    found = policy_address(name, ctx.policy.endpoint_variables, ctx.index, ctx.components, ctx.example)
    if found is None:
        return None
    text, service = found
    ctx.note(f"${{{name}}}", "changed", f"undefined {name} names {service}: {text}", POLICY_ENDPOINT)
    if where.startswith("environment."):
        ctx.addressed.setdefault(where.split(".", 1)[1], service)
    return text


def chart_text(t: Template, ctx: Context, key: str, where: str) -> str:
    """A compose string as chart text: variables to values, addresses to Service DNS."""
    text = _flatten(t, ctx, where)
    listy = ctx.policy.is_proxy(key.lower())
    bare = key not in ("command", "entrypoint") and ctx.policy.holds_address(key)
    if not ctx.index.mentions_service(text, listy, bare) and "localhost" not in text and "127.0.0.1" not in text:
        return text
    new, rewrites, problems = ctx.index.rewrite(text, key, ctx.service, ctx.policy.endpoint_hints,
                                                ctx.components, listy, bare)
    for r in rewrites:
        ctx.note(where, "changed", f"{r.before} -> {r.after} (address of {r.target})", POLICY_ENDPOINT)
    if len({r.target for r in rewrites}) == 1:
        ctx.addressed[key] = rewrites[0].target
    for problem in problems:
        ctx.note(where, "unresolved", problem, POLICY_ENDPOINT)
    if HOST in new:
        # An address outside the file (no service publishes it): the host becomes the value
        # EXTERNAL_HOST, to set at install time, rather than a baked-in IP.
        new = new.replace(HOST, ctx.name_value(EXTERNAL_HOST, "", where))
        ctx.note(where, "changed", f"address outside the compose file: host from value {EXTERNAL_HOST}",
                 POLICY_EXTERNAL)
    return new


def public(ctx: Context) -> dict[str, Template]:
    """The variables whose values may be written into a chart: secrets count as unset, so a
    default like ${A:-${HF_TOKEN}} never carries a token into values."""
    return {k: v for k, v in ctx.variables.items() if not ctx.policy.is_secret(k)}


def literal_text(t: Template, ctx: Context) -> str:
    """Interpolated with env file and compose defaults (for values that are plain data)."""
    return interpolate.value(t, public(ctx))


def is_single_var(t: Template | None) -> Var | None:
    if t is not None and len(t.parts) == 1 and isinstance(t.parts[0], Var):
        return t.parts[0]
    return None


def is_address(t: Template, ctx: Context, key: str = "") -> bool:
    """Whether the string names another service (without recording anything); a bare name counts
    only in an address variable `key`, as chart_text reads it."""
    state = ctx.snapshot()
    try:
        return ctx.index.mentions_service(_flatten(t, ctx, ""), bare=not key or ctx.policy.holds_address(key))
    finally:
        ctx.restore(state)


def required_secret(v: Var, ref: str) -> str:
    """`${X:?msg}` on a secret as chart text: X, or the install fails with compose's message, unless
    existingSecret supplies the Secret or global.renderOnly renders the manifests to read (README)."""
    msg = interpolate.value(v.arg, {}) if v.arg is not None else ""
    text = f"{v.name} is required" + (f": {msg}" if msg else "") + f" (set {v.name} or existingSecret)"
    key = ref[len("{{ "):-len(" }}")]       # .Values.X or index .Values "X"
    return (f"{{{{ if or ({key}) .Values.existingSecret .Values.global.renderOnly }}}}{ref}"
            f"{{{{ else }}}}{{{{ fail {json.dumps(text)} }}}}{{{{ end }}}}")


def env_entry(key: str, t: Template | None, ctx: Context,
              named_for_env: Callable[[str], str | None]) -> tuple[str, str]:
    """(where it goes: env or secretEnv, chart text) for one env var."""
    where = f"environment.{key}"
    if t is None:             # `- KEY`: passed from the shell that runs compose
        t = Template((Var(key),))
    p = ctx.policy
    single = is_single_var(t)
    if p.is_secret(key):
        if single is not None and single.name in p.token_variables:
            ctx.note(where, "changed",
                     "HF token from global.HF_TOKEN (or global.HUGGINGFACEHUB_API_TOKEN), in a Secret",
                     POLICY_SECRET)
            return "secretEnv", TOKEN_EXPR
        if single is not None:
            ref = ctx.name_value(single.name, "", where, secret=True)
            ctx.feed(single.name, single.name)
            if single.op == ":?":
                ref = required_secret(single, ref)
                ctx.note(where, "changed", f"${{{single.name}:?}}: required at install time (the chart refuses "
                         f"to render while {single.name} and existingSecret are empty)", POLICY_SECRET)
        elif t.is_literal():
            ref = ctx.name_value(key, "", where, secret=True)
        else:
            ref = chart_text(t, ctx, key, where)
        ctx.note(where, "changed", "moved to the chart's Secret; its value is set at install time",
                 POLICY_SECRET)
        return "secretEnv", ref
    if p.is_proxy(key) and single is not None and p.is_proxy(single.name):
        ctx.note(where, "changed", f"from global.{single.name}", POLICY_PROXY)
        return "env", proxy_expr(single, ctx, where)
    secret_vars = sorted({v.name for v in t.variables() if p.is_secret(v.name)})
    if secret_vars:
        ctx.note(where, "changed", f"holds {', '.join(secret_vars)}: the whole value goes to the Secret",
                 POLICY_SECRET)
        return "secretEnv", chart_text(t, ctx, key, where)
    named = named_for_env(key)
    if named in ctx.contested:
        named = None
    # A rule's value takes the whole env var only when it is one variable or plain text; a
    # mix (`x-${LLM_MODEL_ID}`) keeps its text and each variable becomes a value of its own.
    if named is not None and (single is not None or t.is_literal()) and not is_address(t, ctx, key):
        if single is not None and single.name == named:
            ctx.same_name.add(named)
        if single is not None:
            ctx.feed(named, single.name)
        return "env", ctx.name_value(named, literal_text(t, ctx), where)
    return "env", chart_text(t, ctx, key, where)
