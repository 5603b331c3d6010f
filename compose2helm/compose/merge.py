"""include, extends and `-f` merging, on raw mappings: Loader reads and checks each file and
resolves its include and extends; merge_service applies Compose's override rules. The raw-value
helpers (as_list, as_map, split_colons) are shared with normalise."""
from __future__ import annotations

import copy
import difflib
from pathlib import Path
from typing import Any

from ..errors import InputError
from .envfile import read_env_file
from .interpolate import parse, resolve
from .model import Template
from .read import read_yaml
from .schema import check_keys_are_strings, check_service_name, known_keys, validate


class Loader:
    """Reads and checks each file once, resolving its include and extends; include's env files
    add to the shared variables, warnings and env_files."""

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
            doc = read_yaml(path)
            if not isinstance(doc, dict):
                raise InputError("top level is not a mapping", file=path)
            if doc.get("services") is None:
                if "include" not in doc:
                    # format v1 had the services at the top level; compose v2 reads it no more
                    v1 = sorted(str(k) for k, v in doc.items()
                                if isinstance(v, dict) and ("image" in v or "build" in v))
                    raise InputError("no services" + (f": {', '.join(v1)} at the top level are compose file format "
                                                      "v1, which docker compose no longer reads; put them under "
                                                      "services:" if v1 else ""), file=path, key="services")
                doc.pop("services", None)
            elif not isinstance(doc["services"], dict):
                raise InputError("services is not a mapping", file=path, key="services")
            for name in doc.get("services") or {}:
                check_service_name(name, path)
            for name, svc in (doc.get("services") or {}).items():
                if not isinstance(svc, dict):
                    raise InputError("service is not a mapping", path, str(name))
            check_keys_are_strings(doc, path)
            self._unknown_keys(doc, path)
            validate(doc, path)
            self._docs[real] = doc
        return self._docs[real]

    def _unknown_keys(self, doc: dict, path: Path) -> None:
        """Keys the compose spec does not know: warned about and dropped, or fatal when strict.

        Only top-level and service keys; anything deeper stays a schema error.
        """
        top, service = known_keys()
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
        for env in as_list(entry.get("env_file")):
            env_path = path.parent / self.interp(env, path, None, "include")
            values, notes = read_env_file(env_path)
            for k, v in values.items():
                self.variables.setdefault(k, v)
            self.warnings += notes
            self.env_files.append(env_path)
        files = [path.parent / self.interp(p, path, None, "include") for p in as_list(subs)]
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
            svc["env_file"] = [self._env_file(e, path, name) for e in as_list(svc["env_file"])]
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
        return merge_service(self.service(base_path, base_name, here), svc)

    def _env_file(self, entry: Any, path: Path, name: str) -> dict:
        if isinstance(entry, dict):
            p, required = entry.get("path", ""), entry.get("required", True)
        else:
            p, required = entry, True
        return {"path": str(path.parent / self.interp(p, path, name, "env_file")),
                "required": required}


def as_list(value: Any) -> list:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


# Service keys whose list values accumulate across files (duplicates dropped).
_APPEND = {"ports", "expose", "cap_add", "cap_drop", "devices", "dns", "dns_search", "dns_opt",
           "env_file", "security_opt", "group_add", "profiles", "tmpfs", "external_links", "links",
           "volumes_from", "secrets", "configs", "extra_hosts", "device_cgroup_rules"}
# Keys with a list and a mapping spelling: normalised to a mapping before merging.
_MAPLIKE = {"environment", "labels", "annotations", "sysctls", "depends_on", "networks"}


def merge_service(base: dict, over: dict) -> dict:
    """Compose's override rules: mappings merge, lists append (volumes by target), rest replaces."""
    out = dict(base)
    for k, v in over.items():
        b = out.get(k)
        if v is None and k in out:             # an empty key in an overlay keeps the base value
            continue
        if b is None:
            out[k] = v
        elif k in _MAPLIKE:
            out[k] = _deep_merge(as_map(k, b), as_map(k, v))
        elif k == "volumes" and isinstance(b, list) and isinstance(v, list):
            by_target = {_volume_target(x): x for x in b}
            by_target.update({_volume_target(x): x for x in v})
            out[k] = list(by_target.values())
        elif k in _APPEND:
            merged = as_list(b) + as_list(v)
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


def as_map(key: str, value: Any) -> dict:
    if isinstance(value, dict):
        return value
    out: dict = {}
    for item in as_list(value):
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
    parts = split_colons(str(entry))
    return parts[1] if len(parts) > 1 else parts[0]


def split_colons(text: str) -> list[str]:
    """Split on `:` outside `${...}` (`${MODEL_CACHE:-./data}:/data` has two parts). A colon after a
    part's single letter, before a slash, is a Windows drive's (`C:\\data:/data`, `c:/x:/y`, and in
    a target too: `C:\\data:D:\\data`), as compose reads it."""
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
        drive = len(cur) == 1 and cur[0].isalpha() and text[i + 1:i + 2] in ("\\", "/")
        if c == ":" and not depth and not drive:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(c)
        i += 1
    parts.append("".join(cur))
    return parts
