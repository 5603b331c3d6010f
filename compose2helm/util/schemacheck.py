"""A fast "valid" for the JSON Schemas compose2helm checks against (compose-spec, Kubernetes).

jsonschema walks a schema anew for every instance, and importing it (with referencing, its
metaschemas and format checkers) costs a tenth of a conversion. Nearly every instance checked is
valid, and valid is all a caller then needs to know. A Checker compiles a draft 2020-12 schema
once into closures that decide as jsonschema's Draft202012Validator without a format checker
decides (format annotates), keyword by keyword:

    checker = Checker(schema, resources={uri: document})   # resources: what $ref may name
    if not checker.is_valid(instance):
        ...   # invalid, or a keyword or reference this module does not read: ask jsonschema,
              # which also words the errors

is_valid is True only when jsonschema finds no error. A keyword jsonschema applies that this
module does not implement (if, contains, prefixItems ...), a nested $id, an anchor, a schema
that is not an object or a boolean, or any exception makes it say False for the whole instance,
never a guess: a guessed false under "not" or "oneOf" would be a wrong true.
"""
from __future__ import annotations

import itertools
import numbers
import re
from collections.abc import Mapping, Sequence
from typing import Any, Callable
from urllib.parse import unquote, urldefrag, urljoin


Check = Callable[[Any], bool]

# What Draft202012Validator applies (its VALIDATORS); every other key is an annotation.
APPLIED = frozenset({
    "$dynamicRef", "$ref", "additionalProperties", "allOf", "anyOf", "const", "contains", "dependentRequired",
    "dependentSchemas", "enum", "exclusiveMaximum", "exclusiveMinimum", "format", "if", "items", "maxItems",
    "maxLength", "maxProperties", "maximum", "minItems", "minLength", "minProperties", "minimum", "multipleOf",
    "not", "oneOf", "pattern", "patternProperties", "prefixItems", "properties", "propertyNames", "required",
    "type", "unevaluatedItems", "unevaluatedProperties", "uniqueItems"})


class Unsure(Exception):
    """This module cannot decide: jsonschema must."""


def _is_number(x: Any) -> bool:
    return not isinstance(x, bool) and isinstance(x, numbers.Number)


TYPES: dict[str, Check] = {
    "object": lambda x: isinstance(x, dict),
    "array": lambda x: isinstance(x, list),
    "string": lambda x: isinstance(x, str),
    "boolean": lambda x: isinstance(x, bool),
    "null": lambda x: x is None,
    "number": _is_number,
    # draft 6 and later: 1.0 is an integer
    "integer": lambda x: (isinstance(x, int) and not isinstance(x, bool)) or (isinstance(x, float) and x.is_integer()),
}


# --- jsonschema's equality (its _utils.equal, unbool and uniq): True is not 1 ------------------------

def equal(one: Any, two: Any) -> bool:
    if one is two:
        return True
    if isinstance(one, str) or isinstance(two, str):
        return one == two
    if isinstance(one, Sequence) and isinstance(two, Sequence):
        return len(one) == len(two) and all(equal(i, j) for i, j in zip(one, two))
    if isinstance(one, Mapping) and isinstance(two, Mapping):
        return len(one) == len(two) and all(k in two and equal(v, two[k]) for k, v in one.items())
    return _unbool(one) == _unbool(two)


_TRUE, _FALSE = object(), object()


def _unbool(element: Any) -> Any:
    if element is True:
        return _TRUE
    if element is False:
        return _FALSE
    return element


def _uniq(container: list) -> bool:
    try:
        ordered = sorted(_unbool(i) for i in container)
        for i, j in zip(ordered, itertools.islice(ordered, 1, None)):
            if equal(i, j):
                return False
    except (NotImplementedError, TypeError):
        seen: list = []
        for e in container:
            e = _unbool(e)
            if any(equal(i, e) for i in seen):
                return False
            seen.append(e)
    return True


def _unsure(_x: Any) -> bool:
    raise Unsure


def _always(_x: Any) -> bool:
    return True


def _never(_x: Any) -> bool:
    return False


class Checker:
    """One schema (and the resources its references name), compiled on first use of each part."""

    def __init__(self, schema: Any, resources: Mapping[str, Any] | None = None):
        self.resources = dict(resources or {})
        base = schema.get("$id", "") if isinstance(schema, dict) else ""
        self.resources.setdefault(base, schema)
        self._memo: dict[tuple[int, str], Check] = {}
        self._keep: list[Any] = []          # nodes the memo names by id
        self._resolved: dict[tuple[str, str], tuple[Any, str]] = {}
        self._check = self.compile(schema, base)

    def is_valid(self, instance: Any) -> bool:
        """True when jsonschema would find no error; False when it would, or when this cannot tell."""
        try:
            return self._check(instance)
        except Exception:  # noqa: BLE001 - Unsure, or what jsonschema would also meet: it decides
            return False

    # --- compiling -------------------------------------------------------------------------------

    def compile(self, node: Any, base: str) -> Check:
        key = (id(node), base)
        if key not in self._memo:
            self._keep.append(node)
            self._memo[key] = self._compile(node, base)
        return self._memo[key]

    def _compile(self, node: Any, base: str) -> Check:
        if node is True:
            return _always
        if node is False:
            return _never
        if not isinstance(node, dict) or ("$id" in node and self.resources.get(base) is not node):
            return _unsure
        # unevaluatedProperties last: it then knows the node's other keywords hold (see evaluated)
        keywords = sorted((k for k in node if k in APPLIED), key=lambda k: k == "unevaluatedProperties")
        checks = [self._keyword(k, node[k], node, base) for k in keywords]
        checks = [c for c in checks if c is not _always]
        if not checks:
            return _always
        if len(checks) == 1:
            return checks[0]
        return lambda x: all(c(x) for c in checks)

    def _keyword(self, k: str, v: Any, node: dict, base: str) -> Check:
        method = getattr(self, "_k_" + k.lstrip("$"), None)
        try:
            return method(v, node, base) if method is not None else _unsure
        except Exception:  # noqa: BLE001 - e.g. a pattern Python cannot compile: jsonschema decides
            return _unsure

    def _k_format(self, v, node, base):      # an annotation without a format checker
        return _always

    def _k_type(self, v, node, base):
        names = [v] if isinstance(v, str) else v
        if not isinstance(names, list) or any(n not in TYPES for n in names):
            return _unsure
        tests = [TYPES[n] for n in names]
        return tests[0] if len(tests) == 1 else (lambda x: any(t(x) for t in tests))

    def _k_enum(self, v, node, base):
        if not isinstance(v, list):
            return _unsure
        if v and all(isinstance(e, str) for e in v):
            strings = frozenset(v)
            return lambda x: x in strings if isinstance(x, str) else any(equal(e, x) for e in v)
        return lambda x: any(equal(e, x) for e in v)

    def _k_const(self, v, node, base):
        return lambda x: equal(x, v)

    def _k_required(self, v, node, base):
        return lambda x: not isinstance(x, dict) or all(p in x for p in v)

    def _k_properties(self, v, node, base):
        if not isinstance(v, dict):
            return _unsure
        props = {k: self.compile(s, base) for k, s in v.items()}

        def check(x):
            if not isinstance(x, dict):
                return True
            if len(x) <= len(props):
                return all(props[k](val) for k, val in x.items() if k in props)
            return all(f(x[k]) for k, f in props.items() if k in x)
        return check

    def _k_patternProperties(self, v, node, base):
        if not isinstance(v, dict):
            return _unsure
        pats = [(re.compile(p), self.compile(s, base)) for p, s in v.items()]
        return lambda x: not isinstance(x, dict) or all(
            f(val) for p, f in pats for k, val in x.items() if p.search(k))

    def _k_additionalProperties(self, v, node, base):
        known = node.get("properties", {})
        joined = "|".join(node.get("patternProperties", {}))
        pattern = re.compile(joined) if joined else None

        def extras(x):
            return [k for k in x if k not in known and not (pattern and pattern.search(k))]
        if isinstance(v, dict):
            sub = self.compile(v, base)
            return lambda x: not isinstance(x, dict) or all(sub(x[k]) for k in extras(x))
        if not v:
            return lambda x: not isinstance(x, dict) or not extras(x)
        return _always

    def _k_items(self, v, node, base):
        if "prefixItems" in node or not isinstance(v, (dict, bool)):
            return _unsure
        if v is False:
            return lambda x: not isinstance(x, list) or not x
        sub = self.compile(v, base)
        return lambda x: not isinstance(x, list) or all(sub(i) for i in x)

    def _k_allOf(self, v, node, base):
        subs = [self.compile(s, base) for s in v]
        return lambda x: all(s(x) for s in subs)

    def _k_anyOf(self, v, node, base):
        subs = [self.compile(s, base) for s in v]
        return lambda x: any(s(x) for s in subs)

    def _k_oneOf(self, v, node, base):
        subs = [self.compile(s, base) for s in v]
        return lambda x: sum(1 for s in subs if s(x)) == 1

    def _k_not(self, v, node, base):
        sub = self.compile(v, base)
        return lambda x: not sub(x)

    def _bound(self, v, test):
        if not _is_number(v):
            return _unsure
        return lambda x: not _is_number(x) or test(x, v)

    def _k_minimum(self, v, node, base):
        return self._bound(v, lambda x, m: not x < m)

    def _k_maximum(self, v, node, base):
        return self._bound(v, lambda x, m: not x > m)

    def _k_exclusiveMinimum(self, v, node, base):
        return self._bound(v, lambda x, m: not x <= m)

    def _k_exclusiveMaximum(self, v, node, base):
        return self._bound(v, lambda x, m: not x >= m)

    def _sized(self, v, kind, test):
        if isinstance(v, bool) or not isinstance(v, int):
            return _unsure
        return lambda x: not isinstance(x, kind) or test(len(x), v)

    def _k_minLength(self, v, node, base):
        return self._sized(v, str, lambda n, m: n >= m)

    def _k_maxLength(self, v, node, base):
        return self._sized(v, str, lambda n, m: n <= m)

    def _k_minItems(self, v, node, base):
        return self._sized(v, list, lambda n, m: n >= m)

    def _k_maxItems(self, v, node, base):
        return self._sized(v, list, lambda n, m: n <= m)

    def _k_minProperties(self, v, node, base):
        return self._sized(v, dict, lambda n, m: n >= m)

    def _k_maxProperties(self, v, node, base):
        return self._sized(v, dict, lambda n, m: n <= m)

    def _k_uniqueItems(self, v, node, base):
        return (lambda x: not isinstance(x, list) or _uniq(x)) if v else _always

    def _k_propertyNames(self, v, node, base):
        check = self.compile(v, base)
        return lambda x: not isinstance(x, dict) or all(check(k) for k in x)

    def _k_pattern(self, v, node, base):
        p = re.compile(v)
        return lambda x: not isinstance(x, str) or p.search(x) is not None

    def _k_ref(self, v, node, base):
        target: list[Check] = []

        def check(x):   # resolved on first use: references may be recursive
            if not target:
                target.append(self.compile(*self.resolve(v, base)))
            return target[0](x)
        return check

    def _k_unevaluatedProperties(self, v, node, base):
        sub = self.compile(v, base)

        def check(x):
            if not isinstance(x, dict):
                return True
            done = self.evaluated(node, base, x, holds=True)
            return all(sub(val) for k, val in x.items() if k not in done)
        return check

    # --- references and evaluated properties -----------------------------------------------------

    def resolve(self, ref: str, base: str) -> tuple[Any, str]:
        """The schema a $ref names and its base URI, as referencing resolves it (JSON pointers only)."""
        if (ref, base) not in self._resolved:
            self._resolved[ref, base] = self._resolve(ref, base)
        return self._resolved[ref, base]

    def _resolve(self, ref: str, base: str) -> tuple[Any, str]:
        uri, fragment = (base, ref[1:]) if ref.startswith("#") else urldefrag(urljoin(base, ref))
        if uri not in self.resources or (fragment and not fragment.startswith("/")):
            raise Unsure
        node = self.resources[uri]
        for segment in unquote(fragment[1:]).split("/") if fragment else ():
            if isinstance(node, Sequence) and not isinstance(node, str):
                node = node[int(segment)]
            else:
                node = node[segment.replace("~1", "/").replace("~0", "~")]
            if isinstance(node, dict) and "$id" in node:
                raise Unsure
        return node, uri

    def evaluated(self, node: Any, base: str, x: dict, holds: bool = False) -> set:
        """jsonschema's find_evaluated_property_keys_by_schema, with this module's validity. holds:
        x is known valid under the node's other keywords, so under every subschema of its allOf."""
        if isinstance(node, bool):
            return set()
        if not isinstance(node, dict) or any(k in node for k in ("$dynamicRef", "dependentSchemas", "if")) \
                or ("$id" in node and self.resources.get(base) is not node):
            raise Unsure
        keys: set = set()
        if "$ref" in node:
            keys |= self.evaluated(*self.resolve(node["$ref"], base), x)
        if isinstance(node.get("properties"), dict):
            keys |= node["properties"].keys() & x.keys()
        for keyword in ("additionalProperties", "unevaluatedProperties"):
            if node.get(keyword) is not None:
                sub = self.compile(node[keyword], base)
                keys.update(k for k, val in x.items() if sub(val))
        for pattern in node.get("patternProperties", ()):
            keys.update(k for k in x if re.search(pattern, k))
        for keyword in ("allOf", "oneOf", "anyOf"):
            for s in node.get(keyword, ()):
                if (holds and keyword == "allOf") or self.compile(s, base)(x):
                    keys |= self.evaluated(s, base, x)
        return keys
