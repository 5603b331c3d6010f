"""README values tables of generated charts, from the Val tree that writes values.yaml.

A table has one row per leaf value: `| Key | Type | Default | Description |`, the key dotted
(`image.tag`), the default as compact JSON in a code span. `parse_table` reads one back
(tests compare it with values.yaml).
"""
from __future__ import annotations

import json
import re
from typing import Any

from .values import Row, Val, rows


HEADER = "| Key | Type | Default | Description |\n|-----|------|---------|-------------|\n"


def _cell(text: str) -> str:
    """Description text in a table cell: one line, `|` escaped, <placeholders> kept visible."""
    text = " ".join(text.split()).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text.replace("|", "\\|")


def _uncell(text: str) -> str:
    return text.replace("\\|", "|").replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _code(text: str) -> str:
    fence = "``" if "`" in text else "`"
    pad = " " if fence == "``" else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _default(value: Any) -> str:
    return _code(json.dumps(value, ensure_ascii=False, separators=(",", ":"))).replace("|", "\\|")


def table(vals: list[Val]) -> str:
    lines = [f"| {_code(r.key)} | {r.type} | {_default(r.default)} | {_cell(r.description)} |\n"
             for r in rows(vals)]
    return HEADER + "".join(lines)


_ROW = re.compile(r"^\|\s*(?P<key>`[^`]+`)\s*\|\s*(?P<type>[^|]*?)\s*\|\s*(?P<default>(?:[^|\\]|\\.)*?)\s*\|"
                  r"\s*(?P<desc>(?:[^|\\]|\\.)*?)\s*\|$")


def _uncode(cell: str) -> str:
    cell = cell.replace("\\|", "|")
    m = re.fullmatch(r"(`+) ?(.*?) ?\1", cell)
    return m.group(2) if m else cell


def parse_table(markdown: str) -> list[Row]:
    """The rows of every values table in a README (key, type, default as data, description)."""
    out = []
    inside = False     # within a values table (its header first); other tables (variables) are not
    for line in markdown.splitlines():
        if line + "\n" == HEADER.split("\n", 1)[0] + "\n":
            inside = True
        elif not line.startswith("|"):
            inside = False
        m = _ROW.match(line) if inside else None
        if not m:
            continue
        out.append(Row(_uncode(m.group("key")), m.group("type"), json.loads(_uncode(m.group("default"))),
                       _uncell(m.group("desc"))))
    return out


_NO_VALUE = {"address": "an address: the Service's DNS name", "inline": "written as compose resolves it"}


def variables_table(entries: list[dict[str, Any]]) -> str:
    """explain's `variables` listing as a table: each compose variable, the value that sets it."""
    lines = ["| Compose variable | Value to set | Services | Default |\n", "|---|---|---|---|\n"]
    for e in entries:
        value = _code(e["value"]) if e["value"] else f"— ({_NO_VALUE.get(e['kind'], e['kind'])})"
        default = _default(e["default"]) if e.get("default") not in (None, "") else ""
        lines.append(f"| {_code(e['name'])} | {value} | {_cell(', '.join(e['services']))} | {default} |\n")
    return "".join(lines)


# The README section of a common chart that lists who calls it, one line per umbrella chart.
CALLERS_START, CALLERS_END = "<!-- callers -->", "<!-- /callers -->"
_CALLER_LINE = re.compile(r"^- `([^`]+)`: (.+)$")


def callers_lines(callers: tuple[tuple[str, tuple[str, ...]], ...]) -> str:
    if not callers:
        return "None so far: it is an entry point, or what calls it is outside the examples converted here.\n"
    return "".join(f"- `{u}`: {', '.join(f'`{c}`' for c in cs)}\n" for u, cs in callers)


def parse_callers(readme: str) -> dict[str, set[str]]:
    """The callers a common chart's README lists (what callers_lines wrote)."""
    start, end = readme.find(CALLERS_START), readme.find(CALLERS_END)
    out: dict[str, set[str]] = {}
    if start < 0 or end < start:
        return out
    for line in readme[start + len(CALLERS_START):end].splitlines():
        m = _CALLER_LINE.match(line)
        if m:
            out[m.group(1)] = set(re.findall(r"`([^`]+)`", m.group(2)))
    return out


def with_callers(readme: str, callers: dict[str, set[str]]) -> str:
    """The README with its callers section replaced (unchanged when it has none)."""
    start, end = readme.find(CALLERS_START), readme.find(CALLERS_END)
    if start < 0 or end < start:
        return readme
    listed = tuple((u, tuple(sorted(c))) for u, c in sorted(callers.items()))
    return readme[:start + len(CALLERS_START)] + "\n" + callers_lines(listed) + readme[end:]
