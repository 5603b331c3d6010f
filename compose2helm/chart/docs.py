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
    for line in markdown.splitlines():
        m = _ROW.match(line)
        if not m:
            continue
        out.append(Row(_uncode(m.group("key")), m.group("type"), json.loads(_uncode(m.group("default"))),
                       _uncell(m.group("desc"))))
    return out
