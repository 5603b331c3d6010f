"""Load compose files into a model.ComposeProject.

Order, as Compose does it: read each file's YAML and validate it against the compose-spec schema
(before interpolation), resolve `include` and `extends` per file, merge `-f` files service by
service, then normalise every service into the typed model, interpolating structural fields and
keeping meaning-carrying strings (environment, command, ...) as Templates.
"""
from __future__ import annotations

import copy
import difflib
import functools
import importlib.util
import json
import re
import shlex
from pathlib import Path
from typing import Any, Iterable

import jsonschema
import yaml

from .envfile import read_env_file
from ..errors import InputError
from .interpolate import check_required, parse, resolve
from .model import (ComposeProject, Deploy, DeviceRequest, Healthcheck, Port, Service, Template,
                    Volume)


def load_project(files: list[Path], env_files: Iterable[Path] = (),
                 environ: dict[str, str] | None = None, *, strict: bool = False) -> ComposeProject:
    """Load `-f` files in order; env files (later wins) then `environ` give the variables.

    environ=None means the process environment is NOT read, so output is deterministic.
    Unknown top-level and service keys are dropped with a warning, or fatal when `strict`.
    """
    files = [Path(f) for f in files]
    if not files:
        raise InputError("no compose file given")
    variables: dict[str, Template] = {}
    warnings: list[str] = []
    for f in env_files:
        values, notes = read_env_file(Path(f))
        variables.update(values)
        warnings += notes
    if environ is not None:
        variables.update({k: Template.literal(v) for k, v in environ.items()})
    ld = _Loader(variables, warnings, strict)
    ld.env_files = [Path(f) for f in env_files]

    services: dict[str, dict] = {}
    origin: dict[str, Path] = {}
    volumes: dict[str, None] = {}
    for f in files:
        svcs, orig, vols = ld.load_file(f, ())
        for name, raw in svcs.items():
            if name in services:
                services[name] = _merge_service(services[name], raw)
            else:
                services[name], origin[name] = raw, orig[name]
        volumes.update(dict.fromkeys(vols))

    model: dict[str, Service] = {}
    for name, raw in services.items():
        if "image" not in raw and "build" not in raw:
            raise InputError("service has neither an image nor a build", origin[name], name, "image")
        model[name] = _Normaliser(variables, origin[name], name, warnings).service(raw)
    for s in model.values():
        for dep in s.depends_on:
            if dep not in model:
                raise InputError(f"depends on undefined service {dep!r}", s.file, s.name,
                                 "depends_on")
    return ComposeProject(files=files, services=model, variables=variables,
                          env_files=ld.env_files, named_volumes=list(volumes), warnings=warnings)


# --- reading and validating one file ------------------------------------------------------------

_MERGE_TAG = "tag:yaml.org,2002:merge"
_STR_TAG = "tag:yaml.org,2002:str"
_TEXT_TAGS = {"tag:yaml.org,2002:bool", "tag:yaml.org,2002:int", "tag:yaml.org,2002:float"}


# Compose reads YAML 1.2 (core schema); PyYAML resolves plain scalars as YAML 1.1 does, where
# `restart: no` is False, `22:22` is the sexagesimal 1342, `017` is octal and `2024-01-01` a date.
# The resolvers below give YAML 1.2's reading: only true/false are booleans, ints are decimal,
# 0o octal or 0x hex, no timestamps; everything else is a string.
_YAML12_IMPLICIT = [
    ("tag:yaml.org,2002:bool", r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF"),
    ("tag:yaml.org,2002:int", r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$", "-+0123456789"),
    ("tag:yaml.org,2002:float",
     r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
     r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$", "-+.0123456789"),
    ("tag:yaml.org,2002:null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
    (_MERGE_TAG, r"^(?:<<)$", ["<"]),
]


def _yaml12_resolvers() -> dict:
    table: dict = {}
    for tag, regexp, first in _YAML12_IMPLICIT:
        for ch in first:
            table.setdefault(ch, []).append((tag, re.compile(regexp)))
    return table


class _YamlLoader(yaml.SafeLoader):
    yaml_implicit_resolvers = _yaml12_resolvers()

    def construct_yaml_int(self, node):
        text = self.construct_scalar(node)
        if text.startswith("0o"):
            return int(text[2:], 8)
        if text.startswith("0x"):
            return int(text[2:], 16)
        return int(text, 10)

    def construct_yaml_float(self, node):
        text = self.construct_scalar(node).lower()
        if text.endswith(".inf"):
            return float("-inf") if text.startswith("-") else float("inf")
        if text == ".nan":
            return float("nan")
        return float(text)

    def flatten_mapping(self, node):
        """`<<:` merges: own keys beat merged ones, earlier merge sources beat later ones.

        PyYAML 6.0.x keeps the first copy of a repeated key, so in `<<: {<<: *a, A: 2}` the
        nested override is lost; here later pairs win when the mapping is constructed.
        """
        merged, own = [], []
        for key, value in node.value:
            if key.tag != _MERGE_TAG:
                own.append((key, value))
                continue
            sources = value.value if isinstance(value, yaml.SequenceNode) else [value]
            for src in reversed(sources):
                if not isinstance(src, yaml.MappingNode):
                    raise yaml.constructor.ConstructorError(
                        "while constructing a mapping", node.start_mark,
                        f"expected a mapping for merging, but found {src.id}", src.start_mark)
                self.flatten_mapping(src)
                merged.extend(src.value)
        node.value = merged + own


_YamlLoader.add_constructor("tag:yaml.org,2002:int", _YamlLoader.construct_yaml_int)
_YamlLoader.add_constructor("tag:yaml.org,2002:float", _YamlLoader.construct_yaml_float)


if getattr(yaml, "__with_libyaml__", False):
    class _CYamlLoader(yaml.cyaml.CParser, yaml.constructor.SafeConstructor, yaml.resolver.Resolver):
        """_YamlLoader's reading with libyaml's parser: the same resolvers, constructors and merges.

        Only a fast path: _read_yaml takes the pure-Python loader whenever this one fails (so every
        error message stays the same) or the text has tabs (libyaml accepts some PyYAML refuses)."""

        yaml_implicit_resolvers = _YamlLoader.yaml_implicit_resolvers
        yaml_constructors = _YamlLoader.yaml_constructors
        flatten_mapping = _YamlLoader.flatten_mapping

        def __init__(self, stream):
            yaml.cyaml.CParser.__init__(self, stream)
            yaml.constructor.SafeConstructor.__init__(self)
            yaml.resolver.Resolver.__init__(self)
else:  # pragma: no cover - PyYAML without libyaml
    _CYamlLoader = None


_SURROGATE = re.compile("[\ud800-\udfff]")


def _prepare_nodes(node: yaml.Node, seen: set[int]) -> None:
    """Check the node graph for duplicate keys and keep environment scalars' text.

    Duplicate keys: Compose rejects them, PyYAML silently keeps the last. Checked before
    construction because `<<:` merging rewrites nodes in place.
    Environment: safe_load would turn `False` into False and `1.0` into 1.0, and str() cannot give
    back the spelling the container sees; such scalars are retagged as strings (on copies, so an
    anchor reused outside `environment:` is untouched). Anchors and merges are covered.
    """
    if id(node) in seen:
        return
    seen.add(id(node))
    if isinstance(node, yaml.ScalarNode) and (m := _SURROGATE.search(node.value)):
        # `"\ud83d"` escapes: PyYAML keeps the lone UTF-16 half, compose's parser refuses it.
        raise yaml.constructor.ConstructorError(
            None, None, f"invalid Unicode escape \\u{ord(m.group()):04x} (a UTF-16 surrogate); write the "
            "character itself or use \\U with 8 hex digits", node.start_mark)
    if isinstance(node, yaml.MappingNode):
        keys = set()
        for idx, (k, v) in enumerate(node.value):
            if isinstance(k, yaml.ScalarNode) and k.tag != _MERGE_TAG:
                if k.value in keys:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key {k.value!r}", k.start_mark)
                keys.add(k.value)
            _prepare_nodes(k, seen)
            _prepare_nodes(v, seen)
            if isinstance(k, yaml.ScalarNode) and k.value == "environment" \
                    and isinstance(v, yaml.MappingNode):
                node.value[idx] = (k, _env_copy(v))
    elif isinstance(node, yaml.SequenceNode):
        for v in node.value:
            _prepare_nodes(v, seen)


def _env_copy(m: yaml.MappingNode) -> yaml.MappingNode:
    pairs = []
    for k, v in m.value:
        if k.tag == _MERGE_TAG and isinstance(v, yaml.MappingNode):
            v = _env_copy(v)
        elif k.tag == _MERGE_TAG and isinstance(v, yaml.SequenceNode):
            v = yaml.SequenceNode(v.tag, [_env_copy(x) if isinstance(x, yaml.MappingNode) else x
                                          for x in v.value], v.start_mark, v.end_mark)
        elif isinstance(v, yaml.ScalarNode) and v.tag in _TEXT_TAGS:
            v = yaml.ScalarNode(_STR_TAG, v.value, v.start_mark, v.end_mark, v.style)
        pairs.append((k, v))
    return yaml.MappingNode(m.tag, pairs, m.start_mark, m.end_mark, m.flow_style)


def _construct(loader_class: Any, text: str) -> Any:
    loader = loader_class(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _prepare_nodes(node, set())
        return loader.construct_document(node)
    finally:
        loader.dispose()


def _read_yaml(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"cannot read file: {getattr(e, 'strerror', None) or e}", file=path)
    if _CYamlLoader is not None and "\t" not in text:
        try:
            return _construct(_CYamlLoader, text)
        except Exception:  # noqa: BLE001 - the pure-Python loader below says what is wrong
            pass
    try:
        return _construct(_YamlLoader, text)
    except yaml.YAMLError as e:
        raise InputError(f"invalid YAML: {' '.join(str(e).split())}", file=path) from None
    except RecursionError:
        raise InputError("invalid YAML: structure nested too deeply", file=path) from None


@functools.lru_cache(maxsize=1)
def _validator():
    """The compose-spec validator, compiled once per process from check-jsonschema's copy."""
    spec = importlib.util.find_spec("check_jsonschema")
    path = Path(spec.origin).parent / "builtin_schemas" / "vendor" / "compose-spec.json"
    schema = json.loads(path.read_text(encoding="utf-8"))
    return jsonschema.validators.validator_for(schema)(schema)


_LAX = ("unevaluatedProperties", "additionalProperties")
# What compose accepts as a service name (the schema's pattern); it must also give a DNS label.
_SERVICE_NAME = re.compile(r"[a-zA-Z0-9._-]+")


def _check_service_name(name: Any, path: Path) -> None:
    """Service names become object and chart names: `../../etc`, `..` or `a b` are refused first."""
    if not isinstance(name, str):
        raise InputError(f"service name {name!r} is not a string (quote it)", path, str(name))
    if not _SERVICE_NAME.fullmatch(name) or not re.search(r"[a-zA-Z0-9]", name):
        raise InputError("invalid service name: only letters, digits, '.', '_' and '-' are allowed, "
                         "with at least one letter or digit", path, name)


def _check_keys_are_strings(doc: dict, path: Path) -> None:
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
def _known_keys() -> tuple[frozenset[str], frozenset[str]]:
    """The top-level and the service keys the compose-spec schema names."""
    schema = _validator().schema
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


def _validate(doc: dict, path: Path) -> None:
    """Raise the most specific schema error, naming service and key path.

    The schema is applied unrelaxed: it already accepts strings ("${PORT}") in numeric fields,
    numbers/booleans/null as environment values and `x-` keys, and every file under
    ../shared/genaiexamples passes it as is.
    """
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


# --- include, extends and -f merging (on raw mappings) -------------------------------------------

class _Loader:
    def __init__(self, variables: dict[str, Template], warnings: list[str], strict: bool = False):
        self.variables = variables
        self.warnings = warnings
        self.strict = strict
        self.env_files: list[Path] = []
        self._docs: dict[Path, dict] = {}

    def doc(self, path: Path) -> dict:
        """A file's validated top-level mapping (cached: extends may read a file many times)."""
        real = path.resolve()
        if real not in self._docs:
            doc = _read_yaml(path)
            if not isinstance(doc, dict):
                raise InputError("top level is not a mapping", file=path)
            if doc.get("services") is None:
                if "include" not in doc:
                    raise InputError("no services", file=path, key="services")
                doc.pop("services", None)
            elif not isinstance(doc["services"], dict):
                raise InputError("services is not a mapping", file=path, key="services")
            for name in doc.get("services") or {}:
                _check_service_name(name, path)
            for name, svc in (doc.get("services") or {}).items():
                if not isinstance(svc, dict):
                    raise InputError("service is not a mapping", path, str(name))
            _check_keys_are_strings(doc, path)
            self._unknown_keys(doc, path)
            _validate(doc, path)
            self._docs[real] = doc
        return self._docs[real]

    def _unknown_keys(self, doc: dict, path: Path) -> None:
        """Keys the compose spec does not know: warned about and dropped, or fatal when strict.

        Only top-level and service keys; anything deeper stays a schema error.
        """
        top, service = _known_keys()
        found = [(None, k, doc, top) for k in doc]
        for name, svc in (doc.get("services") or {}).items():
            found += [(name, k, svc, service) for k in svc]
        for name, key, where, known in found:
            if key in known or key.startswith("x-"):
                continue
            hint = difflib.get_close_matches(key, known, n=1)
            what = "unknown top-level key" if name is None else "unknown service key"
            err = InputError(what + (f" (did you mean {hint[0]!r}?)" if hint else ""), path, name, key)
            if self.strict:
                raise err
            self.warnings.append(f"{err}; ignored")
            del where[key]

    def interp(self, value: Any, path: Path, service: str | None, key: str) -> str:
        try:
            return resolve(parse(str(value)), self.variables)
        except InputError as e:
            raise InputError(e.message, path, service, key) from None

    def load_file(self, path: Path, stack: tuple[Path, ...]):
        """Services (extends resolved), their declaring files, and named volumes of one file."""
        if path.resolve() in stack:
            raise InputError("include cycle", file=path, key="include")
        doc = self.doc(path)
        services: dict[str, dict] = {}
        origin: dict[str, Path] = {}
        volumes = list(doc.get("volumes") or {})
        for entry in doc.get("include") or []:
            for sub in self._include(entry, path):
                svcs, orig, vols = self.load_file(sub, stack + (path.resolve(),))
                for name in svcs:
                    if name in services:
                        raise InputError(f"included service conflicts with {origin[name]}",
                                         path, name, "include")
                services.update(svcs)
                origin.update(orig)
                volumes += vols
        for name in doc.get("services") or {}:
            if name in services:
                raise InputError(f"service conflicts with included {origin[name]}", path, name)
            services[name] = self.service(path, name, ())
            origin[name] = path
        self._note_ignored(doc, path)
        return services, origin, volumes

    def _include(self, entry: Any, path: Path) -> list[Path]:
        """Files of one include entry; its env_file adds variables without overriding ours."""
        if isinstance(entry, str):
            entry = {"path": entry}
        subs = entry.get("path")
        for env in _as_list(entry.get("env_file")):
            env_path = path.parent / self.interp(env, path, None, "include")
            values, notes = read_env_file(env_path)
            for k, v in values.items():
                self.variables.setdefault(k, v)
            self.warnings += notes
            self.env_files.append(env_path)
        files = [path.parent / self.interp(p, path, None, "include") for p in _as_list(subs)]
        for f in files:
            if not f.is_file():
                raise InputError(f"included file {f} not found", file=path, key="include")
        return files

    def _note_ignored(self, doc: dict, path: Path) -> None:
        nets = doc.get("networks")
        if nets and (set(nets) != {"default"}
                     or nets["default"] not in (None, {}, {"driver": "bridge"})):
            self.warnings.append(f"{path}: top-level networks ignored (Kubernetes has one network)")
        for key in ("secrets", "configs"):
            if doc.get(key):
                self.warnings.append(f"{path}: top-level {key} ignored")

    def service(self, path: Path, name: str, stack: tuple) -> dict:
        """The raw service with `extends` applied and env_file paths made absolute."""
        svc = copy.deepcopy(self.doc(path)["services"][name])
        if "env_file" in svc:
            svc["env_file"] = [self._env_file(e, path, name) for e in _as_list(svc["env_file"])]
        ext = svc.pop("extends", None)
        if ext is None:
            return svc
        if isinstance(ext, str):
            ext = {"service": ext}
        base_name = self.interp(ext["service"], path, name, "extends")
        base_path = path
        if ext.get("file"):
            base_path = path.parent / self.interp(ext["file"], path, name, "extends")
        if not base_path.is_file():
            raise InputError(f"extends file {base_path} not found", path, name, "extends")
        here = stack + ((path.resolve(), name),)
        if (base_path.resolve(), base_name) in here:
            chain = " -> ".join(n for _, n in here) + f" -> {base_name}"
            raise InputError(f"extends cycle: {chain}", path, name, "extends")
        if base_name not in (self.doc(base_path).get("services") or {}):
            raise InputError(f"extends unknown service {base_name!r} in {base_path}",
                             path, name, "extends")
        return _merge_service(self.service(base_path, base_name, here), svc)

    def _env_file(self, entry: Any, path: Path, name: str) -> dict:
        if isinstance(entry, dict):
            p, required = entry.get("path", ""), entry.get("required", True)
        else:
            p, required = entry, True
        return {"path": str(path.parent / self.interp(p, path, name, "env_file")),
                "required": required}


def _as_list(value: Any) -> list:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


# Service keys whose list values accumulate across files (duplicates dropped).
_APPEND = {"ports", "expose", "cap_add", "cap_drop", "devices", "dns", "dns_search", "dns_opt",
           "env_file", "security_opt", "group_add", "profiles", "tmpfs", "external_links", "links",
           "volumes_from", "secrets", "configs", "extra_hosts", "device_cgroup_rules"}
# Keys with a list and a mapping spelling: normalised to a mapping before merging.
_MAPLIKE = {"environment", "labels", "annotations", "sysctls", "depends_on", "networks"}


def _merge_service(base: dict, over: dict) -> dict:
    """Compose's override rules: mappings merge, lists append (volumes by target), rest replaces."""
    out = dict(base)
    for k, v in over.items():
        b = out.get(k)
        if v is None and k in out:             # an empty key in an overlay keeps the base value
            continue
        if b is None:
            out[k] = v
        elif k in _MAPLIKE:
            out[k] = _deep_merge(_as_map(k, b), _as_map(k, v))
        elif k == "volumes" and isinstance(b, list) and isinstance(v, list):
            by_target = {_volume_target(x): x for x in b}
            by_target.update({_volume_target(x): x for x in v})
            out[k] = list(by_target.values())
        elif k in _APPEND:
            merged = _as_list(b) + _as_list(v)
            out[k] = [x for i, x in enumerate(merged) if x not in merged[:i]]
        elif isinstance(b, dict) and isinstance(v, dict):
            out[k] = _deep_merge(b, v)
        else:                                  # image, command, entrypoint, scalars
            out[k] = v
    return out


def _deep_merge(a: dict, b: dict) -> dict:
    """Mappings merge recursively; anything else (healthcheck.test, lists) is replaced."""
    out = dict(a)
    for k, v in b.items():
        out[k] = _deep_merge(out[k], v) if isinstance(out.get(k), dict) and isinstance(v, dict) else v
    return out


def _as_map(key: str, value: Any) -> dict:
    if isinstance(value, dict):
        return value
    out: dict = {}
    for item in _as_list(value):
        item = str(item)
        if key == "depends_on":
            out[item] = {"condition": "service_started"}
        elif key == "networks":
            out[item] = None
        else:
            k, sep, v = item.partition("=")
            out[k] = v if sep else None
    return out


def _volume_target(entry: Any) -> str:
    if isinstance(entry, dict):
        return str(entry.get("target"))
    parts = _split_colons(str(entry))
    return parts[1] if len(parts) > 1 else parts[0]


def _split_colons(text: str) -> list[str]:
    """Split on `:` outside `${...}` (`${MODEL_CACHE:-./data}:/data` has two parts)."""
    parts, cur, depth, i = [], [], 0, 0
    while i < len(text):
        if text.startswith("${", i):
            depth += 1
            cur.append("${")
            i += 2
            continue
        c = text[i]
        if c == "}" and depth:
            depth -= 1
        if c == ":" and not depth:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(c)
        i += 1
    parts.append("".join(cur))
    return parts


# --- normalising one merged service into the model ------------------------------------------------

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(h|ms|m|s|us|µs|ns)")
_DURATION_UNITS = {"h": 3600, "m": 60, "s": 1, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}
_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([bkmgt]?)b?", re.I)
_SIZE_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}
_TRUE, _FALSE = {"true", "yes", "on", "1"}, {"false", "no", "off", "0", ""}


class _Normaliser:
    """Turns one merged raw service into model.Service; handler errors get file/service/key here."""

    def __init__(self, variables: dict[str, Template], file: Path, name: str, warnings: list[str]):
        self.vars, self.file, self.name, self.warnings = variables, file, name, warnings

    def service(self, raw: dict) -> Service:
        s = Service(name=self.name, file=self.file, keys=tuple(sorted(map(str, raw))))
        # env_file first so that `environment` overrides it, whatever the key order.
        for key in sorted(raw, key=lambda k: k != "env_file"):
            try:
                self._apply(s, key, raw[key])
            except InputError as e:
                if e.file is not None:
                    raise
                raise InputError(e.message, self.file, self.name, e.key or key) from None
        return s

    # scalar helpers: str / Template / int / bool / seconds / bytes, all interpolated

    def s(self, value: Any) -> str:
        if isinstance(value, bool):
            value = "true" if value else "false"
        return resolve(parse(str(value)), self.vars)

    def t(self, value: Any) -> Template:
        t = parse(value if isinstance(value, str) else self.s(value))
        check_required(t, self.vars)
        return t

    def int(self, value: Any, key: str) -> int:
        text = self.s(value) if not isinstance(value, bool) else "?"
        if not re.fullmatch(r"[+-]?\d+", text.strip()):
            raise InputError(f"not an integer: {text!r}", key=key)
        return int(text)

    def bool(self, value: Any, key: str) -> bool:
        if isinstance(value, bool):
            return value
        text = self.s(value).strip().lower()
        if text not in _TRUE | _FALSE:
            raise InputError(f"not a boolean: {text!r}", key=key)
        return text in _TRUE

    def seconds(self, value: Any, key: str) -> float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        text = self.s(value).strip()
        if re.fullmatch(r"\d+(\.\d+)?", text):
            return float(text)
        if not text or _DURATION.sub("", text):
            raise InputError(f"not a duration: {text!r}", key=key)
        return sum(float(n) * _DURATION_UNITS[u] for n, u in _DURATION.findall(text))

    def bytes(self, value: Any, key: str) -> int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        text = self.s(value).strip()
        m = _SIZE.fullmatch(text)
        if not m:
            raise InputError(f"not a size: {text!r}", key=key)
        return int(float(m.group(1)) * _SIZE_UNITS[m.group(2).lower()])

    def port(self, value: Any, key: str, allow_empty: bool = False) -> int | None:
        text = self.s(value).strip() if not isinstance(value, int) else str(value)
        if text == "" and allow_empty:
            return None
        if "-" in text:
            raise InputError(f"port ranges are not supported: {text!r}", key=key)
        if not text.isdigit() or not 1 <= int(text) <= 65535:
            raise InputError(f"not a port number (1-65535): {text!r}", key=key)
        return int(text)

    # per-key handlers

    def _apply(self, s: Service, key: str, v: Any) -> None:
        if key in ("image", "container_name", "restart", "runtime", "ipc", "user", "working_dir",
                   "network_mode"):
            setattr(s, key, None if v is None else self.s(v))
        elif key == "build":
            s.build = True
        elif key in ("command", "entrypoint"):
            setattr(s, key, self.command(v))
        elif key == "environment":
            for k, val in _as_map(key, v).items():
                s.environment[str(k)] = None if val is None else self.t(val)
        elif key == "env_file":
            self.env_files(s, v)
        elif key == "ports":
            s.ports = [self.ports(p) for p in v or []]
        elif key == "expose":
            s.expose = [self.port(str(x).split("/")[0], "expose") for x in v or []]
        elif key == "volumes":
            s.volumes = [self.volume(x) for x in v or []]
        elif key == "depends_on":
            s.depends_on = {str(n): (c or {}).get("condition") or "service_started"
                            for n, c in _as_map(key, v).items()}
        elif key == "healthcheck":
            s.healthcheck = self.healthcheck(v or {})
        elif key == "shm_size":
            s.shm_size = self.bytes(v, key)
        elif key == "deploy":
            s.deploy = self.deploy(v or {})
        elif key in ("read_only", "privileged"):
            setattr(s, key, self.bool(v, key))
        elif key in ("cap_add", "cap_drop", "group_add", "security_opt", "profiles", "tmpfs"):
            setattr(s, key, [self.s(x) for x in _as_list(v)])
        elif key == "devices":
            s.devices = [self.s(x) if not isinstance(x, dict) else
                         ":".join(self.s(x[k]) for k in ("source", "target", "permissions") if k in x)
                         for x in v or []]
        else:
            self._check_strings(v, key)        # compose interpolates these too: fail like it would
            s.extra[key] = v

    def _check_strings(self, v: Any, key: str) -> None:
        if isinstance(v, str):
            check_required(parse(v), self.vars)
        elif isinstance(v, dict):
            for x in v.values():
                self._check_strings(x, key)
        elif isinstance(v, list):
            for x in v:
                self._check_strings(x, key)

    def command(self, v: Any) -> list[Template] | None:
        if v is None:
            return None
        if isinstance(v, list):
            return [self.t(x) for x in v]
        # Split the raw text, not the interpolated one, so `${...}` stays a reference; a
        # reference's default may hold blanks or quotes, so it is shielded from shlex.
        spans: list[str] = []
        shielded = _shield(str(v), spans)
        try:
            tokens = shlex.split(shielded)
        except ValueError as e:
            raise InputError(f"cannot split command: {e}") from None
        return [self.t(re.sub("\0(\\d+)\0", lambda m: spans[int(m.group(1))], tok))
                for tok in tokens]

    def env_files(self, s: Service, entries: list[dict]) -> None:
        for e in entries:
            path = Path(e["path"])
            if not path.exists() and not self.bool(e.get("required", True), "env_file"):
                self.warnings.append(f"{self.file}: service {self.name!r}: optional env_file "
                                     f"{path} not found")
                continue
            if not path.is_file():
                raise InputError(f"env_file {path} {'is not a file' if path.exists() else 'not found'}",
                                 key="env_file")
            values, notes = read_env_file(path)
            self.warnings += notes
            for k, t in values.items():
                check_required(t, self.vars)
                s.environment[k] = t

    def ports(self, p: Any) -> Port:
        if isinstance(p, dict):
            if p.get("target") is None:
                raise InputError("a long-form port needs a target", key="ports")
            return Port(target=self.port(p.get("target"), "ports"),
                        published=self.port(p.get("published") or "", "ports", allow_empty=True),
                        protocol=self.s(p.get("protocol") or "tcp").lower(),
                        host_ip=self.s(p["host_ip"]) if p.get("host_ip") else None)
        if isinstance(p, int) and not isinstance(p, bool):
            return Port(target=self.port(p, "ports"))
        text = self.s(p)                       # "${NGINX_PORT:-80}:80": interpolate first
        text, _, proto = text.partition("/")
        proto = (proto or "tcp").lower()
        if proto not in ("tcp", "udp", "sctp"):
            raise InputError(f"unknown protocol {proto!r}", key="ports")
        host_ip = None
        if text.startswith("["):               # [::1]:8080:80
            ip, _, rest = text[1:].partition("]")
            host_ip, text = ip, rest[1:] if rest.startswith(":") else "\0"
        parts = text.split(":")
        if len(parts) == 3 and host_ip is None:
            host_ip, parts = parts[0], parts[1:]
        if len(parts) > 2 or (host_ip is not None and len(parts) != 2):
            raise InputError(f"cannot parse port {self.s(p)!r}", key="ports")
        published = None
        if len(parts) == 2:                     # an empty host port only after an IP
            published = self.port(parts[0], "ports", allow_empty=host_ip is not None)
        return Port(target=self.port(parts[-1], "ports"), published=published,
                    protocol=proto, host_ip=host_ip or None)

    def volume(self, v: Any) -> Volume:
        if isinstance(v, dict):
            raw = v.get("source")
            tmpl = self.t(raw) if raw is not None else None
            source = resolve(tmpl, self.vars) if tmpl is not None else None
            ro = self.bool(v.get("read_only", False), "volumes")
            return Volume(type=self.s(v.get("type") or "volume"), target=self.s(v["target"]),
                          source=source or None, source_template=tmpl, read_only=ro)
        parts = _split_colons(str(v))
        if len(parts) == 1:                    # "/data": an anonymous volume
            return Volume(type="volume", target=self.s(parts[0]))
        if len(parts) > 3 or not parts[1]:
            raise InputError(f"cannot parse volume {v!r}", key="volumes")
        tmpl = self.t(parts[0])
        source = resolve(tmpl, self.vars)
        options = self.s(parts[2]).split(",") if len(parts) == 3 else []
        if not source:
            self.warnings.append(f"{self.file}: service {self.name!r}: volume source "
                                 f"{parts[0]!r} is empty; taken as an anonymous volume")
            kind = "volume"
        elif source.startswith((".", "/", "~")) or "/" in source:
            kind = "bind"
        else:
            kind = "volume"
        return Volume(type=kind, target=self.s(parts[1]), source=source or None,
                      source_template=tmpl, read_only="ro" in options)

    def healthcheck(self, h: dict) -> Healthcheck:
        test = h.get("test")
        if isinstance(test, str):
            tests = (Template.literal("CMD-SHELL"), self.t(test))
        else:
            tests = tuple(self.t(x) for x in test or [])
        disable = self.bool(h.get("disable", False), "healthcheck.disable") or \
            (bool(tests) and tests[0] == Template.literal("NONE"))
        opt = {k: self.seconds(h[k], f"healthcheck.{k}") for k in
               ("interval", "timeout", "start_period") if h.get(k) is not None}
        retries = self.int(h["retries"], "healthcheck.retries") if h.get("retries") is not None \
            else None
        return Healthcheck(test=tests, retries=retries, disable=disable, **opt)

    def deploy(self, d: dict) -> Deploy:
        out = Deploy(mode=self.s(d["mode"]) if d.get("mode") else None)
        if d.get("replicas") is not None:
            out.replicas = self.int(d["replicas"], "deploy.replicas")
        res = d.get("resources") or {}
        lim, req = res.get("limits") or {}, res.get("reservations") or {}
        out.cpu_limit = self.s(lim["cpus"]) if lim.get("cpus") is not None else None
        out.memory_limit = self.s(lim["memory"]) if lim.get("memory") is not None else None
        out.cpu_request = self.s(req["cpus"]) if req.get("cpus") is not None else None
        out.memory_request = self.s(req["memory"]) if req.get("memory") is not None else None
        for dev in req.get("devices") or []:
            count = dev.get("count")
            if count is not None and self.s(count) != "all":
                count = self.int(count, "deploy.resources.reservations.devices.count")
            else:
                count = None
            out.devices.append(DeviceRequest(
                driver=self.s(dev["driver"]) if dev.get("driver") else None, count=count,
                capabilities=tuple(self.s(c) for c in _flat(dev.get("capabilities"))),
                device_ids=tuple(self.s(c) for c in _as_list(dev.get("device_ids")))))
        return out


def _flat(value: Any) -> list:
    """capabilities is a list, historically a list of lists."""
    out = []
    for x in _as_list(value):
        out += _flat(x) if isinstance(x, list) else [x]
    return out


def _shield(text: str, spans: list[str]) -> str:
    """Replace each `${...}` (balanced) by a NUL-delimited index into spans; `$$` kept as is."""
    out, i = [], 0
    while i < len(text):
        if text.startswith("$$", i):
            out.append("$$")
            i += 2
            continue
        if text.startswith("${", i):
            depth, j = 0, i
            while j < len(text):
                if text.startswith("${", j):
                    depth, j = depth + 1, j + 2
                    continue
                if text[j] == "}":
                    depth -= 1
                    if depth == 0:
                        break
                j += 1
            if j < len(text):
                spans.append(text[i:j + 1])
                out.append(f"\0{len(spans) - 1}\0")
                i = j + 1
                continue
        out.append(text[i])
        i += 1
    return "".join(out)
