"""Values schemas checked in Python instead of in the engine, where the two are sure to agree.

On every rendering Helm validates the values of the chart and of each subchart against their
values.schema.json, compiling every schema anew: about 40% of the engine time of a ChatQnA
rendering (50 of 125 ms), and the same common charts' schemas recur in every conversion of a
batch. In a scratch copy (render.py), each schema this module can read exactly is taken out and
a template put in its place that prints the values that chart's templates see: the values Helm
would have validated, coalesced by Helm itself, globals included, one output per alias. Those
are checked against the schema compiled once per process (util/schemacheck). Only when every
one is valid is the rendering kept; otherwise the caller renders again with Helm's own
validation, which decides and words the error. So an answer of this module is never one Helm
would not give:
  - a schema is read only when each keyword in it means the same in draft-07 (what our charts
    declare) and 2020-12 (what the checker implements): no $ref, no tuple items, no format,
    dependencies or if/then/else. Anything else stays with Helm;
  - a pattern only when Go's regexp and Python's re match alike: no escapes (\\d is ASCII in Go,
    Unicode in Python), and `$` only at the end, checked as Python's \\Z (Python's `$` also
    matches before a final newline, Go's does not).
"""
from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any

from ..util.schemacheck import Checker
from .assemble import scratch_charts

PROBE = "zz-compose2helm-values.json"     # the template that prints a chart's values
_PROBE_TEXT = "{{ toJson .Values }}\n"

_DATA = {"enum", "const", "required", "default", "examples", "description", "title", "$comment", "$schema"}
_SCHEMA = {"additionalProperties", "propertyNames", "not", "items"}
_SCHEMAS = {"properties", "patternProperties"}
_LISTS = {"allOf", "anyOf", "oneOf"}
_PLAIN = {"type", "pattern", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
          "minLength", "maxLength", "minItems", "maxItems", "uniqueItems", "minProperties", "maxProperties"}
_DIALECTS = {"http://json-schema.org/draft-07/schema#", "https://json-schema.org/draft-07/schema#",
             "http://json-schema.org/draft-07/schema", "https://json-schema.org/draft-07/schema"}
_SAFE_PATTERN = re.compile(r"[^\\$]*\$?")


def _readable(node: Any, top: bool = True) -> bool:
    """Whether every keyword of node is one whose meaning draft-07 and the checker share."""
    if isinstance(node, bool):
        return True
    if not isinstance(node, dict):
        return False
    if "$schema" in node and (not top or node["$schema"] not in _DIALECTS):
        return False
    for key, value in node.items():
        if key.startswith("x-") or key in _DATA:
            continue
        if key in _PLAIN:
            if key == "pattern" and not (isinstance(value, str) and _SAFE_PATTERN.fullmatch(value)):
                return False
            if key in ("exclusiveMinimum", "exclusiveMaximum") and isinstance(value, bool):
                return False    # draft-04's boolean form
            continue
        if key in _SCHEMA:
            if not _readable(value, False):
                return False
        elif key in _SCHEMAS:
            if not isinstance(value, dict) or not all(_readable(v, False) for v in value.values()):
                return False
            if key == "patternProperties" and not all(_SAFE_PATTERN.fullmatch(p) for p in value):
                return False
        elif key in _LISTS:
            if not isinstance(value, list) or not all(_readable(v, False) for v in value):
                return False
        else:
            return False
    return True


def _as_python(node: Any) -> Any:
    """The schema with Go's end-of-text `$` spelled as Python's \\Z."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "pattern" and isinstance(value, str) and value.endswith("$"):
                out[key] = value[:-1] + r"\Z"
            elif key == "patternProperties" and isinstance(value, dict):
                out[key] = {(p[:-1] + r"\Z" if p.endswith("$") else p): _as_python(v) for p, v in value.items()}
            elif key in _DATA:
                out[key] = value
            else:
                out[key] = _as_python(value)
        return out
    if isinstance(node, list):
        return [_as_python(v) for v in node]
    return node


_CHECKERS: dict[str, Checker | None] = {}


def _checker(text: str) -> Checker | None:
    """The compiled schema of a values.schema.json text, None when this module cannot read it."""
    key = hashlib.sha256(text.encode()).hexdigest()
    if key not in _CHECKERS:
        try:
            schema = json.loads(text)
        except ValueError:
            schema = None
        _CHECKERS[key] = Checker(_as_python(schema)) if _readable(schema) else None
    return _CHECKERS[key]


def take_schemas(target: Path) -> dict[str, Checker]:
    """In the scratch chart at target, replace each schema this module reads by the probe template.
    Returns the checker of each probe's output, by the name Helm gives it."""
    probes: dict[str, Checker] = {}
    for chart, names in scratch_charts(target):
        schema = chart / "values.schema.json"
        if not schema.is_file() or (chart / "templates" / PROBE).exists():
            continue
        checker = _checker(schema.read_text(encoding="utf-8"))
        if checker is not None:
            os.unlink(schema)   # a link in the scratch copy: the chart itself is untouched
            (chart / "templates").mkdir(exist_ok=True)
            (chart / "templates" / PROBE).write_text(_PROBE_TEXT, encoding="utf-8")
            probes.update({f"{n}/templates/{PROBE}": checker for n in names})
    return probes


def values_valid(rendered: dict[str, str], probes: dict[str, Checker]) -> bool:
    """Take the probes' outputs out of rendered; True when the values each printed are valid.
    A probe without output is a subchart Helm left out (its condition false), which it does not
    validate either."""
    valid = True
    for name, checker in probes.items():
        text = rendered.pop(name, None)
        if text is None or not valid:
            continue
        try:
            valid = checker.is_valid(json.loads(text))
        except ValueError:
            valid = False
    return valid
