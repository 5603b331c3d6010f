"""The Kubernetes JSON schemas objects are validated against: kubernetes-validate's strict
schemas of each Kubernetes version it ships, compiled for the fast check (util/schemacheck.py)
and for jsonschema, which words what fails (k8scheck.py)."""
from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
import os
import re
from pathlib import Path
from typing import Iterable

from ..util import cache
from ..util.schemacheck import Checker
from .monitoring import schema_for


# kubernetes-validate ships v<major>.<minor>.0-local (nullable, open) and ...-local-strict
# (additionalProperties: false everywhere, what its --strict flag uses); we only use strict.
_STRICT_DIR = re.compile(r"v(\d+)\.(\d+)\.\d+-local-strict")
_KUBE_VERSION = re.compile(r"v?(\d+)\.(\d+)(?:\.\d+)?")
_KIND = re.compile(r"[A-Za-z][A-Za-z0-9]*")
_API_VERSION = re.compile(r"(?:[a-z0-9.-]+/)?v[a-z0-9]+")


@functools.lru_cache(maxsize=1)
def _schema_dirs() -> dict[str, Path]:
    """{"1.25": <dir>, ...} oldest first. find_spec locates the package without importing it."""
    spec = importlib.util.find_spec("kubernetes_validate")
    if spec is None or not spec.submodule_search_locations:
        return {}
    root = Path(list(spec.submodule_search_locations)[0]) / "kubernetes-json-schema"
    found = {}
    for child in root.iterdir() if root.is_dir() else ():
        if m := _STRICT_DIR.fullmatch(child.name):
            found[(int(m[1]), int(m[2]))] = child
    return {f"{major}.{minor}": found[major, minor] for major, minor in sorted(found)}


def available_versions() -> list[str]:
    """Kubernetes versions ("major.minor") that kubernetes-validate has schemas for, oldest first."""
    return list(_schema_dirs())


def resolve_version(kube_version: str | None) -> str:
    versions = _schema_dirs()
    if not versions:
        raise RuntimeError("kubernetes-validate's JSON schemas were not found; is it installed?")
    if kube_version is None:
        return next(reversed(versions))
    m = _KUBE_VERSION.fullmatch(str(kube_version).strip())
    key = f"{int(m[1])}.{int(m[2])}" if m else None
    if key not in versions:
        raise ValueError(f"no Kubernetes schemas for version {kube_version!r}; "
                         f"available: {', '.join(versions)}")
    return key


@functools.lru_cache(maxsize=None)
def _definitions(version: str) -> dict:
    """The 1.8 MB _definitions.json of one version, parsed once. Kind schemas have $id
    https://kubernetes.io/api/<kind>/... and $ref "/api/_definitions.json#/$defs/...", which
    resolves to this file's own $id."""
    return json.loads((_schema_dirs()[version] / "_definitions.json").read_text(encoding="utf-8"))


@functools.lru_cache(maxsize=None)
def _registry(version: str):
    """_definitions.json as a referencing Registry, for jsonschema."""
    from referencing import Registry, Resource

    defs = _definitions(version)
    return Registry().with_resource(defs["$id"], Resource.from_contents(defs))


@functools.lru_cache(maxsize=None)
def _schema(version: str, api_version: str, kind: str) -> dict | None:
    """The schema of one apiVersion/kind, or None when no schema knows it (a CRD but the
    ServiceMonitor, whose schema is ours: monitoring.py)."""
    if not (_KIND.fullmatch(kind) and _API_VERSION.fullmatch(api_version)):
        return None   # also keeps odd kinds from naming arbitrary files below
    if (own := schema_for(api_version, kind)) is not None:
        return own
    group, _, ver = api_version.rpartition("/")
    # kubernetes-validate's file naming keeps only the group's first label
    # (rbac.authorization.k8s.io/v1 -> role-rbac-v1.json) ...
    stem = f"{kind.lower()}-{group.split('.')[0]}-{ver}" if group else f"{kind.lower()}-{ver}"
    try:
        schema = json.loads((_schema_dirs()[version] / f"{stem}.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    # ... which is lossy (apps.example.com/v1 Deployment -> deployment-apps-v1.json, and v1
    # Container -> container-v1.json, a non-object type), so require the file to declare this
    # exact group/version/kind.
    if {"group": group, "version": ver, "kind": kind} not in schema.get("x-kubernetes-group-version-kind", []):
        return None
    return schema


@functools.lru_cache(maxsize=None)
def validator(version: str, api_version: str, kind: str):
    """jsonschema's validator for one apiVersion/kind (None without a schema): it words the
    problems of an object the fast check (checker) does not pass."""
    schema = _schema(version, api_version, kind)
    if schema is None:
        return None
    from jsonschema import Draft202012Validator

    # No format_checker, as in kubernetes-validate: formats (int32, int64, byte, date-time) annotate.
    return Draft202012Validator(schema, registry=_registry(version))


@functools.lru_cache(maxsize=None)
def checker(version: str, api_version: str, kind: str) -> Checker | None:
    """The fast yes for one apiVersion/kind (util/schemacheck.py): valid objects never load jsonschema."""
    schema, defs = _PACKED.get((version, api_version, kind)) or (_schema(version, api_version, kind), None)
    if schema is None:
        return None
    defs = defs or _definitions(version)
    return Checker(schema, {defs["$id"]: defs})


def prepare_schemas(kinds: Iterable[tuple[str, str]], kube_version: str | None = None) -> None:
    """Load the schemas of these (apiVersion, kind) pairs now, e.g. while the engine renders,
    rather than when the first object of each kind is validated."""
    try:
        version = resolve_version(kube_version)
    except (RuntimeError, ValueError):
        return   # validate_schema reports it
    kinds = tuple(kinds)
    pack = _pack(version, kinds)
    for api_version, kind in kinds:
        if pack is not None and (version, api_version, kind) not in _PACKED:
            _PACKED[version, api_version, kind] = pack["schemas"].get(f"{api_version} {kind}"), pack["definitions"]
        checker(version, api_version, kind)


# The schemas of the kinds a conversion renders and the part of the 1.8 MB _definitions.json they
# refer to (a fifth of it), kept between processes as one file (util/cache.py): reading it is
# a tenth of reading them. Only the fast check uses them; jsonschema, which words what fails,
# reads the whole definitions. A reference the part lacks makes the fast check unsure, never wrong.
_PACKED: dict[tuple[str, str, str], tuple[dict | None, dict]] = {}


def _pack(version: str, kinds: tuple[tuple[str, str], ...]) -> dict | None:
    if not cache.enabled():   # made for keeping: with nothing kept, the whole definitions serve
        return None
    try:
        folder = _schema_dirs()[version]
        st = os.stat(folder / "_definitions.json")
    except OSError:
        return None
    key = hashlib.sha256(f"{cache.code_version()} {folder} {st.st_size} {st.st_mtime_ns} {kinds!r}".encode()
                         ).hexdigest()
    return cache.computed("k8s-schemas", key, lambda: _make_pack(version, kinds), _a_pack)


def _a_pack(pack: object) -> bool:
    """What _make_pack gives, read back (a damaged entry is made again)."""
    if not isinstance(pack, dict) or not isinstance(pack.get("schemas"), dict) \
            or not isinstance(pack.get("definitions"), dict):
        return False
    defs = pack["definitions"]
    return ("$id" in defs and isinstance(defs.get("$defs"), dict)
            and all(s is None or isinstance(s, dict) for s in pack["schemas"].values()))


def _make_pack(version: str, kinds: tuple[tuple[str, str], ...]) -> dict:
    defs = _definitions(version)
    schemas = {f"{a} {k}": _schema(version, a, k) for a, k in kinds}
    reached: set[str] = set()
    todo: list = list(schemas.values())
    while todo:
        node = todo.pop()
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and "#/$defs/" in ref:   # from a kind's schema, or between definitions
                name = ref.split("#/$defs/", 1)[1].split("/", 1)[0]
                if name not in reached and name in defs["$defs"]:
                    reached.add(name)
                    todo.append(defs["$defs"][name])
            todo.extend(node.values())
        elif isinstance(node, list):
            todo.extend(node)
    return {"schemas": schemas,
            "definitions": {**{k: v for k, v in defs.items() if k != "$defs"},
                            "$defs": {n: defs["$defs"][n] for n in sorted(reached)}}}
