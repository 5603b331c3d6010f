"""Compose variable interpolation: parse strings into model.Template, resolve them.

Variables are themselves templates (env files say `LLM_ENDPOINT=http://${host_ip}:8010`), so
resolution is recursive. A reference that leads back to the variable being defined
(`HF_TOKEN=${HF_TOKEN}`, or A=$B with B=$A) is what set_env.sh does to inherit the caller's
environment: here it counts as unset, never as an error or an endless loop.
"""
from __future__ import annotations

import re
from typing import Callable

from ..errors import InputError
from .model import Template, Var


_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_OPS = (":-", ":?", ":+", "-", "?", "+")   # two-character ops first


class InterpolationError(InputError):
    """Bad syntax or a missing required variable; the loader adds file/service/key."""


# --- parsing -----------------------------------------------------------------------------------

def parse(text: str) -> Template:
    """Parse compose interpolation syntax; raises InterpolationError on an unterminated `${`."""
    parts, _ = _parse(text, 0, nested=False)
    return Template(tuple(parts))


def _parse(text: str, i: int, nested: bool) -> tuple[list, int]:
    """Parts from text[i:]; in a `${V:-...}` argument, stop at the closing `}` (index returned)."""
    parts: list = []
    buf: list[str] = []
    n = len(text)
    while i < n:
        c = text[i]
        if nested and c == "}":
            break
        nxt = text[i + 1] if i + 1 < n else ""
        if c != "$":
            buf.append(c)
            i += 1
        elif nxt == "$":
            buf.append("$")
            i += 2
        elif nxt == "{":
            var, i = _braced(text, i + 2)
            _flush(parts, buf)
            parts.append(var)
        elif m := _NAME.match(text, i + 1):
            _flush(parts, buf)
            parts.append(Var(m.group()))
            i = m.end()
        else:                                # a lone `$` is literal, as in compose
            buf.append("$")
            i += 1
    _flush(parts, buf)
    return parts, i


def _flush(parts: list, buf: list[str]) -> None:
    if buf:
        parts.append("".join(buf))
        buf.clear()


def _braced(text: str, i: int) -> tuple[Var, int]:
    """The `${...}` whose name starts at i; returns the Var and the index after `}`."""
    m = _NAME.match(text, i)
    if "}" not in text[i:]:
        raise InterpolationError(f"unterminated '${{' in {text!r}")
    if m is None or m.end() >= len(text):
        raise InterpolationError(f"invalid interpolation format in {text!r}")
    name, j = m.group(), m.end()
    if text[j] == "}":
        return Var(name), j + 1
    for op in _OPS:
        if text.startswith(op, j):
            arg, k = _parse(text, j + len(op), nested=True)
            if k >= len(text):
                raise InterpolationError(f"unterminated '${{' in {text!r}")
            return Var(name, op, Template(tuple(arg))), k + 1
    raise InterpolationError(f"invalid interpolation format in {text!r}")


# --- variables -----------------------------------------------------------------------------------

def _refs(t: Template) -> set[str]:
    return {v.name for v in t.variables()}


def _reaches(start: str, target: str, variables: dict[str, Template]) -> bool:
    """Whether expanding `start` would (transitively) need `target`."""
    seen: set[str] = set()
    todo = [start]
    while todo:
        name = todo.pop()
        if name == target:
            return True
        if name not in seen:
            seen.add(name)
            if (t := variables.get(name)) is not None:
                todo.extend(_refs(t))
    return False


def lookup(name: str, variables: dict[str, Template]) -> Template | None:
    """The definition of `name` with references leading back to it treated as unset (None: unset)."""
    t = variables.get(name)
    if t is None:
        return None
    cyclic = {r for r in _refs(t) if _reaches(r, name, variables)}
    if not cyclic:
        return t
    if (len(t.parts) == 1 and isinstance(v := t.parts[0], Var) and v.name in cyclic
            and v.op not in (":-", "-")):
        return None                          # `X=${X}`: only inherits, so unset
    return _strip(t, cyclic)


def _strip(t: Template, cyclic: set[str]) -> Template:
    """t with cyclic references evaluated as unset (defaults kept, the rest dropped)."""
    out: list = []
    for p in t.parts:
        if isinstance(p, Var) and p.name in cyclic:
            if p.op in (":-", "-") and p.arg is not None:
                out.extend(_strip(p.arg, cyclic).parts)
            continue
        if isinstance(p, Var) and p.arg is not None:
            p = Var(p.name, p.op, _strip(p.arg, cyclic))
        if out and isinstance(p, str) and isinstance(out[-1], str):
            out[-1] += p
        else:
            out.append(p)
    return Template(tuple(out))


def is_set(name: str, variables: dict[str, Template]) -> bool:
    return lookup(name, variables) is not None


# --- resolution ----------------------------------------------------------------------------------

def resolve(t: Template, variables: dict[str, Template], *,
            strict_required: bool | Callable[[str], bool] = True) -> str:
    """The string compose would produce; `?` ops raise unless strict_required is False, or returns
    False for the variable's name (a requirement left to install time)."""
    return "".join(p if isinstance(p, str) else _resolve_var(p, variables, strict_required)
                   for p in t.parts)


def _resolve_var(v: Var, variables: dict[str, Template], strict: bool | Callable[[str], bool]) -> str:
    d = lookup(v.name, variables)
    value = None if d is None else resolve(d, variables, strict_required=strict)
    empty = value is None or value == ""
    colon = v.op.startswith(":")

    def arg(strict_arg: bool = strict) -> str:
        return resolve(v.arg, variables, strict_required=strict_arg) if v.arg is not None else ""

    if v.op in (":-", "-"):
        return arg() if (value is None or (colon and empty)) else value
    if v.op in (":?", "?"):
        if value is None or (colon and empty):
            if strict(v.name) if callable(strict) else strict:
                msg = arg(False)
                raise InterpolationError(f"required variable {v.name} is not set"
                                         + (f": {msg}" if msg else ""))
            return ""
        return value
    if v.op in (":+", "+"):
        return arg() if (value is not None and not (colon and empty)) else ""
    return value or ""


def check_required(t: Template, variables: dict[str, Template],
                   deferred: Callable[[str], bool] = lambda name: False) -> None:
    """Raise InterpolationError if resolving t hits an unset `${V?msg}` / empty `${V:?msg}`.

    Evaluated as compose does (lazily): `${A:-${B:?x}}` only needs B when A is unset. A name
    deferred says yes to is required at install time instead (a secret, never read from files).
    """
    resolve(t, variables, strict_required=lambda name: not deferred(name))


def value(t: Template, variables: dict[str, Template]) -> str:
    """The text of a template that loading already checked: a requirement it left to install time
    (a secret's `${V:?msg}`) reads as empty here, as the chart fills it in later."""
    return resolve(t, variables, strict_required=False)
