"""Checks on one file's document: the compose-spec schema, service names, string keys, and the
top-level and service keys the schema knows (errors name the service and key path)."""
from __future__ import annotations

import functools
import importlib.util
import json
import re
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..util.schemacheck import Checker


@functools.lru_cache(maxsize=1)
def _schema() -> dict:
    """The compose-spec schema, check-jsonschema's copy (found without importing it)."""
    spec = importlib.util.find_spec("check_jsonschema")
    path = Path(spec.origin).parent / "builtin_schemas" / "vendor" / "compose-spec.json"
    return json.loads(path.read_text(encoding="utf-8"))


@functools.lru_cache(maxsize=1)
def _checker() -> Checker:
    """The fast yes (util/schemacheck.py): a valid file never loads jsonschema."""
    return Checker(_schema())


@functools.lru_cache(maxsize=1)
def _validator():
    """The compose-spec validator of jsonschema, which words the errors of an invalid file."""
    import jsonschema
    schema = _schema()
    return jsonschema.validators.validator_for(schema)(schema)


_LAX = ("unevaluatedProperties", "additionalProperties")
# What compose accepts as a service name (the schema's pattern); it must also give a DNS label.
_SERVICE_NAME = re.compile(r"[a-zA-Z0-9._-]+")


def check_service_name(name: Any, path: Path) -> None:
    """Service names become object and chart names: `../../etc`, `..` or `a b` are refused first."""
    if not isinstance(name, str):
        raise InputError(f"service name {name!r} is not a string (quote it)", path, str(name))
    if not _SERVICE_NAME.fullmatch(name) or not re.search(r"[a-zA-Z0-9]", name):
        raise InputError("invalid service name: only letters, digits, '.', '_' and '-' are allowed, "
                         "with at least one letter or digit", path, name)


def check_keys_are_strings(doc: dict, path: Path) -> None:
    """YAML allows `1:` or `true:` as keys; compose (and the schema check) needs strings."""
    def walk(node: Any, where: list) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                if not isinstance(k, str):
                    raise InputError(f"mapping key {k!r} is not a string (quote it)", path, *_locate(where))
                at_top = not where or (len(where) == 2 and where[0] == "services")
                if not (at_top and k.startswith("x-")):             # extensions are free-form
                    walk(v, where + [k])
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, where + [i])
    walk(doc, [])


@functools.lru_cache(maxsize=1)
def known_keys() -> tuple[frozenset[str], frozenset[str]]:
    """The top-level and the service keys the compose-spec schema names."""
    schema = _schema()
    defs = schema.get("$defs") or schema.get("definitions") or {}

    def props(node: dict, seen: frozenset = frozenset()) -> set[str]:
        out = set(node.get("properties") or {})
        for sub in node.get("allOf", []) + node.get("anyOf", []) + node.get("oneOf", []):
            out |= props(sub, seen)
        ref = node.get("$ref")
        if ref and ref not in seen and ref.startswith("#/"):
            target = schema
            for part in ref[2:].split("/"):
                target = target[part]
            out |= props(target, seen | {ref})
        return out

    return frozenset(props(schema)), frozenset(props(defs["service"]))


def validate(doc: dict, path: Path) -> None:
    """Raise the most specific schema error, naming service and key path.

    The schema is applied unrelaxed: it already accepts strings ("${PORT}") in numeric fields,
    numbers/booleans/null as environment values and `x-` keys, and every file under
    ../shared/genaiexamples passes it as is.
    """
    if _checker().is_valid(doc):
        return
    import jsonschema
    try:
        errors = list(_validator().iter_errors(doc))
    except RecursionError:
        raise InputError("document nested too deeply", file=path) from None
    if not errors:
        return
    # "unevaluated properties" at the service level is also reported when a known key is merely
    # mistyped; the deepest specific error names the real culprit.
    err = min(errors, key=lambda e: (e.validator in _LAX, -len(e.absolute_path)))
    err = jsonschema.exceptions.best_match([err])
    where = list(err.absolute_path)
    msg = err.message if len(err.message) <= 200 else err.message[:200] + "..."
    if err.validator in _LAX and (m := re.search(r"'([^']+)'", err.message)):
        where.append(m.group(1))
        msg = "unknown key"
    raise InputError(f"not valid compose: {msg}", path, *_locate(where))


def _locate(where: list) -> tuple[str | None, str | None]:
    """(service, key) of a path in a compose document: ["services", "a", "ports", 0] -> ("a", "ports[0]")."""
    service = None
    if len(where) >= 2 and where[0] == "services":
        service, where = str(where[1]), where[2:]
    key = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in where).lstrip(".")
    return service, key or None
