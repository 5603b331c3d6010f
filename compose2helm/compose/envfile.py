"""Read env files (dotenv, or set_env.sh-style `export K=V` scripts) as data, never executing them.

Values keep their variables as Templates (`http://${host_ip}:8090` stays a reference), quotes are
removed the way a shell would (`${model_cache:-"./data"}` means ./data), single quotes are literal.
Shell control flow is skipped with a warning; a value that needs a command run (`$(...)`, backticks)
is left unset, since we cannot know it without executing the script.
"""
from __future__ import annotations

import re
from pathlib import Path

from ..errors import InputError
from .interpolate import parse
from .model import Template


_ASSIGN = re.compile(r"(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)\Z", re.S)
_SHELL_WORDS = frozenset("""
    source . if then else elif fi for while until do done case esac function select in
    echo printf cd pushd popd unset set exit return local declare typeset readonly shift trap eval
    exec test [ [[ true false alias unalias read wait sleep export let break continue : { } ;;
    pip pip3 python python3 docker git curl wget sudo chmod mkdir rm cp mv cat ln touch ls kill
""".split())
_FUNC_DEF = re.compile(r"(function\s+)?[A-Za-z_][\w-]*\s*\(\s*\)\s*\{?\s*\Z")
_CASE_PATTERN = re.compile(r"[^\s=]+\)\s*\Z")


class _Unterminated(ValueError):
    """A quote is still open at the end of the text (the value may continue on the next line)."""


def read_env_file(path: Path) -> tuple[dict[str, Template], list[str]]:
    """Variables in file order (a later assignment wins) and warnings about skipped lines."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"cannot read env file: {getattr(e, 'strerror', None) or e}", file=path)
    values: dict[str, Template] = {}
    warnings: list[str] = []
    i = 0
    while i < len(lines):
        lineno, line = i + 1, lines[i].strip()
        i += 1
        if not line or line.startswith("#"):
            continue
        m = _ASSIGN.match(line)
        if m is None:
            if _is_shell(line):
                warnings.append(f"{path}:{lineno}: ignored shell statement: {line}")
                continue
            raise InputError(f"not a KEY=VALUE line: {line!r}", file=path, key=f"line {lineno}")
        key, raw = m.groups()
        while True:                       # a quoted value may span lines
            try:
                text, runs_command = _shell_word(raw)
                break
            except _Unterminated as e:
                if i >= len(lines):
                    raise InputError(str(e), file=path, key=f"line {lineno}") from None
                raw += "\n" + lines[i]
                i += 1
        if runs_command:
            values.pop(key, None)
            warnings.append(f"{path}:{lineno}: {key} needs a command to be run; left unset")
            continue
        try:
            values[key] = parse(text)
        except InputError as e:
            raise InputError(e.message, file=path, key=f"line {lineno}") from None
    return values, warnings


def _is_shell(line: str) -> bool:
    first = re.split(r"[\s;(]", line, maxsplit=1)[0]
    return (first in _SHELL_WORDS or bool(_FUNC_DEF.match(line))
            or bool(_CASE_PATTERN.match(line)))


def _shell_word(raw: str) -> tuple[str, bool]:
    """Remove shell quoting from a value, giving compose interpolation syntax.

    Returns the text (literal `$` escaped as `$$`) and whether the value runs a command.
    Unquoted: ` #` starts a comment, trailing blanks dropped, `\\x` is x.
    """
    out: list[str] = []
    runs = False
    kept = 0                              # length of output that trailing-blank stripping must keep
    i, n = 0, len(raw)
    while i < n:
        c = raw[i]
        if c == "'":
            j = raw.find("'", i + 1)
            if j < 0:
                raise _Unterminated("unterminated single quote")
            out.append(raw[i + 1:j].replace("$", "$$"))
            i = j + 1
            kept = len("".join(out))
        elif c == '"':
            i += 1
            while True:
                if i >= n:
                    raise _Unterminated("unterminated double quote")
                c = raw[i]
                if c == '"':
                    i += 1
                    break
                if c == "\\" and i + 1 < n and raw[i + 1] in '"\\$`':
                    out.append("$$" if raw[i + 1] == "$" else raw[i + 1])
                    i += 2
                    continue
                runs = runs or c == "`" or raw.startswith("$(", i)
                out.append(c)
                i += 1
            kept = len("".join(out))
        elif c == "#" and i > 0 and raw[i - 1] in " \t":
            break
        elif c == "\\" and i + 1 < n:
            out.append("$$" if raw[i + 1] == "$" else raw[i + 1])
            i += 2
        else:
            runs = runs or c == "`" or raw.startswith("$(", i)
            out.append(c)
            i += 1
    text = "".join(out)
    return text[:kept] + text[kept:].rstrip(), runs
