"""values.schema.json of a generated chart, from the same Val tree as its values.yaml.

Helm validates the merged values against it at install, upgrade, template and lint time (and
each enabled subchart's values against the subchart's schema), so a typo'd key or a value
of the wrong type fails the render with the key's path instead of being silently ignored.

- The chart's own objects (image, service, service.ports items, extraVolumes items) are
  closed: `additionalProperties: false`.
- The top level is closed but for named values: the conversion turns every compose variable
  a service uses into a top-level value of its own name (NUM_CARDS, LOGFLAG, but also host_ip
  or any identifier a compose file uses), so a key the chart does not declare must be an
  identifier (NAMED_PATTERN, through `propertyNames`) holding a scalar
  (`additionalProperties`). `patternProperties` cannot say this: it also applies to the
  declared keys (image, service, ...), which are objects. A typo'd key is still rejected when
  its value is an object or a list (`imagee: {...}`, `servise.type`), when it is not an
  identifier (`replica-count`), or inside a known object (`image.tagg`); a scalar typo at the
  top level (`replicaCont: 2`) reads as a named value and passes.
- Kubernetes objects (resources, securityContext, probes, affinity, ...) are only typed: the
  API server checks their content.
- `global` lists the known globals and takes others: an umbrella's globals reach every
  subchart.
- An umbrella lists each dependency's key as an object closed to the keys its subchart declares
  and those the umbrella's overlays set under it (compose variables; one `patternProperties`
  alternation of their names, which Helm compiles much faster than a schema per key), and its
  own top level to its values and the named values the overlays set: a key no chart takes
  (GenAIInfra's `accelDevice`, a typo'd scalar) is rejected by name instead of passing unused.
  The subchart's schema types the values.
"""
from __future__ import annotations

import json
import re
from typing import Any

from .values import BOOLEAN, SCALAR, Val


DRAFT = "https://json-schema.org/draft-07/schema#"

# A key that is its own regular expression (in Go's and Python's dialects alike): no character
# needs escaping, so the pattern stays one values_check.py reads.
_WORD = re.compile(r"[A-Za-z0-9_-]+")

# Names of named values: compose variable names. Mostly upper case (LLM_MODEL_ID, LOGFLAG), but
# compose files also use host_ip, vLLM_LLM_ENDPOINT, DocSum_COMPONENT_NAME, and any identifier
# is legal: a narrower pattern would make the conversion reject its own output.
NAMED_PATTERN = "^[A-Za-z_][A-Za-z0-9_]*$"

# Keys the conversion (and Helm) may set on every workload chart without their being in its
# values.yaml: `enabled` is the umbrella's condition for the subchart.
# The Hugging Face token of one chart, which a Secret the conversion writes reads before the
# globals (plan/texts.py TOKEN_EXPR): the RFC sets it as llm-uservice.HUGGINGFACEHUB_API_TOKEN.
TOKEN_KEYS = {
    k: {**SCALAR, "description": f"Hugging Face token of this chart alone ({k}); global.HF_TOKEN otherwise."}
    for k in ("HF_TOKEN", "HUGGINGFACEHUB_API_TOKEN")
}
CONVERSION_KEYS = {
    "enabled": {**BOOLEAN, "description": "Whether an umbrella chart runs this chart (its dependency condition)."},
    **TOKEN_KEYS,
}


def _node(v: Val) -> dict[str, Any]:
    if v.children:
        node: dict[str, Any] = {
            "type": "object",
            "properties": {c.key: _node(c) for c in v.children},
        }
        if not v.open:
            node["additionalProperties"] = False
        node.update(v.schema or {})    # an object's own keywords: annotations such as x-switch (observability.py)
    else:
        node = dict(v.schema or {})
    if v.doc:
        node["description"] = v.doc
    return node


def schema(vals: list[Val], *, title: str, named: bool = True, extra: dict[str, Any] | None = None,
           closed: dict[str, Any] | None = None, named_keys: Any = None) -> dict:
    """The schema of a chart whose values.yaml is `vals`.

    named: accept top-level named values (compose variables: identifiers holding scalars).
    extra: more top-level properties (keys that are valid without a default).
    closed: an umbrella's dependency keys -> every key their values may have (what the subchart
      declares and what the overlays set under it); anything else is rejected here, naming it.
    named_keys: with named, the named values there are (an umbrella knows those its overlays
      set), instead of any identifier.
    """
    properties = {v.key: _node(v) for v in vals}
    for key, node in (extra or {}).items():
        properties.setdefault(key, node)
    for key, allowed in (closed or {}).items():
        node = properties.get(key)
        if node is not None:     # the subchart's schema types each key; here only the names are checked
            listed = node.setdefault("properties", {})
            # Names only: one pattern for them all rather than a `true` schema each. Helm compiles
            # the schema at every render and lint: for 1,000 dependencies of 50 keys the 50,000
            # schemas took the umbrella's lint 24 s, the 1,000 patterns 3 s. A key outside both
            # still fails additionalProperties, by name, as before.
            words = sorted(k for k in allowed if k not in listed and _WORD.fullmatch(k))
            for k in allowed:
                if k not in words:
                    listed.setdefault(k, True)
            if words:
                node["patternProperties"] = {f"^(?:{'|'.join(words)})$": True}
            node["additionalProperties"] = False
    out: dict[str, Any] = {
        "$schema": DRAFT,
        "title": title,
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
    }
    if named and named_keys is not None:
        for k in named_keys:
            properties.setdefault(k, {**SCALAR, "description": "A named value: a compose variable the chart's "
                                                               "env, command or args use."})
        for k, node in TOKEN_KEYS.items():
            properties.setdefault(k, node)
    elif named:
        out["additionalProperties"] = {**SCALAR, "description": "A named value: a compose variable the chart's "
                                                               "env, command or args use."}
        names: dict[str, Any] = {"pattern": NAMED_PATTERN}
        others = sorted(k for k in properties if not re.match(NAMED_PATTERN, k))
        out["propertyNames"] = {"anyOf": [{"enum": others}, names]} if others else names
    return out


def dumps(data: dict) -> str:
    """Byte-stable JSON: sorted keys, two-space indent, trailing newline."""
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"

