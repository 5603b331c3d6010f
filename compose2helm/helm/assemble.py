"""A chart's dependencies, and the scratch copy of a chart with its file:// dependencies unpacked,
which is what Helm renders and lints.

Dependencies are built in a scratch copy: committed charts carry no charts/ folder (a .tgz
holds timestamps, which would break byte-identical reruns).
"""
from __future__ import annotations

import hashlib
import os
import re
import shutil
from pathlib import Path
from typing import Any

import yaml

from ..errors import InputError
from ..yamlout import SAFE_LOADER


def dependencies(chart_dir: Path) -> list[dict[str, Any]]:
    text = (chart_dir / "Chart.yaml").read_text(encoding="utf-8")
    if text not in _DEPENDENCIES:   # common charts recur in every umbrella: parse each text once
        meta = yaml.load(text, Loader=SAFE_LOADER) or {}
        _DEPENDENCIES[text] = [d for d in meta.get("dependencies") or [] if isinstance(d, dict)]
    return [dict(d) for d in _DEPENDENCIES[text]]


_DEPENDENCIES: dict[str, list[dict[str, Any]]] = {}


_IGNORE = shutil.ignore_patterns("charts", "Chart.lock", ".git")


def link_or_copy(src: str, dst: str) -> None:
    """A hard link where the file system allows it (scratch copies are only read, then removed):
    one system call instead of copying each file; a copy otherwise (e.g. across devices)."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def assemble(chart_dir: Path, dest: Path, _stack: tuple[Path, ...] = (), leave_out: frozenset[str] = frozenset()
             ) -> Path:
    """Copy a chart to dest with its file:// dependencies unpacked in charts/, recursively.

    This is what `helm dependency build` produces for local dependencies, without packaging
    each into a .tgz (Helm loads unpacked subcharts the same way). leave_out names direct
    dependencies not to unpack (see disabled_dependencies).
    """
    chart_dir = Path(chart_dir).resolve()
    if chart_dir in _stack:
        raise InputError("chart dependencies form a cycle", file=chart_dir)
    if not (chart_dir / "Chart.yaml").is_file():
        raise InputError("dependency chart not found (no Chart.yaml)", file=chart_dir)
    shutil.copytree(chart_dir, dest, ignore=_IGNORE, copy_function=link_or_copy)
    done = set()
    for dep in dependencies(chart_dir):
        repo, name = str(dep.get("repository", "")), str(dep.get("name", ""))
        if name in done or name in leave_out:
            continue
        done.add(name)
        if repo.startswith("file://"):
            assemble(chart_dir / repo[len("file://"):], dest / "charts" / name, _stack + (chart_dir,))
        elif (chart_dir / "charts").is_dir():   # a remote dependency already fetched
            for archive in (chart_dir / "charts").glob(f"{name}-*.tgz"):
                (dest / "charts").mkdir(exist_ok=True)
                shutil.copy2(archive, dest / "charts" / archive.name)
    return dest


def chart_digest(chart_dir: Path, leave_out: frozenset[str] = frozenset(), rendering: bool = False
                 ) -> tuple[str, bool]:
    """A digest of every file assemble() would copy: the chart's and, recursively, those of its
    file:// dependencies but the direct ones named in leave_out; and whether that is all the
    chart is made of (False when a dependency is an archive fetched into charts/, which the
    digest does not read). rendering: only what a rendering can depend on, which leaves out a
    chart's other files (README.md ...) when none of its templates reads .Files: a common
    chart's README lists its callers, which change while a migration writes them."""
    h = hashlib.sha256()
    local = _digest(Path(chart_dir).resolve(), h, (), leave_out, rendering)
    return h.hexdigest(), local


# What Helm renders from, whatever the templates read; any other file only through .Files.
_RENDERED_FROM = ("Chart.yaml", "values.yaml", "values.schema.json", ".helmignore")
_RENDERED_DIRS = ("templates" + os.sep, "crds" + os.sep)
# Template functions (Helm's and sprig's) that give another result on each rendering, called in an
# action: the name outside quoted strings and comments, not a field (.Values.now).
_ACTION = re.compile(rb"\{\{(.*?)\}\}", re.S)
_QUOTED = re.compile(rb'"(?:[^"\\]|\\.)*"|`[^`]*`|/\*.*?\*/', re.S)
_VOLATILE = re.compile(rb"(?<![\w.$])(?:now|ago|rand(?:AlphaNum|Alpha|Ascii|Numeric|Bytes|Int)|uuidv4|shuffle|"
                       rb"gen(?:CA|CAWithKey|PrivateKey|SelfSignedCert|SelfSignedCertWithKey|SignedCert|"
                       rb"SignedCertWithKey)|htpasswd|bcrypt|encryptAES|lookup)(?![\w-])")


def changes_by_itself(chart_dir: Path, leave_out: frozenset[str] = frozenset(), _stack: tuple = ()) -> bool:
    """Whether a template of the chart, or of a file:// dependency assemble() unpacks, calls a
    function whose result changes from one rendering to the next (the time, randomness, the
    cluster): no digest of its files then stands for its rendering."""
    chart_dir = Path(chart_dir).resolve()
    if chart_dir in _stack:
        return False
    for dirpath, _, filenames in os.walk(chart_dir / "templates", followlinks=True):
        for f in filenames:
            with open(os.path.join(dirpath, f), "rb") as fh:
                if _volatile(fh.read()):
                    return True
    for dep in dependencies(chart_dir):
        repo = str(dep.get("repository", ""))
        if repo.startswith("file://") and str(dep.get("name")) not in leave_out \
                and changes_by_itself(chart_dir / repo[len("file://"):], _stack=_stack + (chart_dir,)):
            return True
    return False


def _volatile(text: bytes) -> bool:
    return any(_VOLATILE.search(_QUOTED.sub(b"", m.group(1))) for m in _ACTION.finditer(text))


def _digest(chart_dir: Path, h: Any, stack: tuple[Path, ...], leave_out: frozenset[str] = frozenset(),
            rendering: bool = False) -> bool:
    if chart_dir in stack:
        return True
    root = str(chart_dir)
    files = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        rel_dir = os.path.relpath(dirpath, root)
        if rel_dir == ".":
            dirnames[:] = [d for d in dirnames if d not in ("charts", ".git")]
            rel_dir = ""
        else:
            rel_dir += os.sep
        files += [(rel_dir + f, os.path.join(dirpath, f)) for f in filenames
                  if f != "Chart.lock" and (rel_dir or f not in ("charts", ".git"))]
    texts = []
    for rel, full in sorted(files):
        if os.path.isfile(full):
            with open(full, "rb") as fh:
                texts.append((rel, fh.read()))
    if rendering and not any(b".Files" in text for rel, text in texts if rel.startswith(_RENDERED_DIRS)):
        texts = [(rel, text) for rel, text in texts if rel in _RENDERED_FROM or rel.startswith(_RENDERED_DIRS)]
    for rel, text in texts:
        h.update(rel.encode() + b"\0" + text + b"\0")
    local = True
    done: set[str] = set()
    for dep in dependencies(chart_dir):
        repo, name = str(dep.get("repository", "")), str(dep.get("name"))
        h.update(b"dep:" + name.encode())
        if name in done or name in leave_out:   # as assemble() unpacks them: once, and not those left out
            continue
        done.add(name)
        if repo.startswith("file://"):
            local = _digest((chart_dir / repo[len("file://"):]).resolve(), h, stack + (chart_dir,),
                            rendering=rendering) and local
        else:
            local = False
    return local


def scratch_charts(target: Path) -> list[tuple[Path, list[str]]]:
    """Each chart of the scratch copy at target, the top one first, then its unpacked dependencies
    recursively, with the names Helm gives their outputs (<top>/templates/x.yaml, <top>/charts/
    <alias>/templates/x.yaml ...): a dependency unpacked once serves every alias of it."""
    try:
        meta = yaml.load((target / "Chart.yaml").read_text(encoding="utf-8"), Loader=SAFE_LOADER)
    except (OSError, yaml.YAMLError):
        meta = None
    out: list[tuple[Path, list[str]]] = []
    _walk(target, [str(meta.get("name") or target.name) if isinstance(meta, dict) else target.name], out)
    return out


def _walk(chart: Path, names: list[str], out: list[tuple[Path, list[str]]]) -> None:
    out.append((chart, names))
    try:
        deps = dependencies(chart)
    except (OSError, yaml.YAMLError):
        return
    aliases: dict[str, list[str]] = {}
    for d in deps:
        if d.get("name"):
            aliases.setdefault(str(d["name"]), []).append(str(d.get("alias") or d["name"]))
    for name, keys in aliases.items():
        if (chart / "charts" / name).is_dir():
            _walk(chart / "charts" / name, [f"{n}/charts/{a}" for n in names for a in keys], out)


def disabled_dependencies(chart_dir: Path, values: Any) -> frozenset[str]:
    """Names of the direct dependencies Helm would drop for their conditions with these values.

    An umbrella declares every component any platform uses; an overlay turns on a few. Helm
    loads and coalesces them all, then drops the disabled ones before rendering, so leaving
    them out of the scratch copy renders the same objects in a fraction of the time (Helm
    skips a declared dependency that is not in charts/, as it skips a disabled one).
    Only the plain case is read: a condition that is one `<key>.enabled` path, set to false
    by the first of the given values, the chart's values.yaml and the dependency's own
    values.yaml that sets it. Anything else keeps the dependency: keeping one Helm drops
    costs time only."""
    try:
        deps = dependencies(chart_dir)
        if any("import-values" in d for d in deps):
            return frozenset()
        own = values_of(chart_dir)
        verdicts: dict[str, bool] = {}
        for d in deps:
            name, key = str(d.get("name", "")), str(d.get("alias") or d.get("name", ""))
            repo = str(d.get("repository", ""))
            off = (d.get("condition") == f"{key}.enabled" and not d.get("tags") and repo.startswith("file://")
                   and _condition_false(key, [values, own, lambda: {key: values_of(chart_dir / repo[7:])}]))
            verdicts[name] = verdicts.get(name, True) and off   # a chart stays if any alias of it is on
        return frozenset(n for n, off in verdicts.items() if off)
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return frozenset()


def _condition_false(key: str, levels: list[Any]) -> bool:
    for level in levels:
        level = level() if callable(level) else level
        if not isinstance(level, dict) or key not in level:
            continue
        scope = level[key]
        if not isinstance(scope, dict):
            return False
        if "enabled" in scope:
            return scope["enabled"] is False
    return False


def values_of(chart_dir: Path) -> Any:
    """The chart's values.yaml as parsed (shared: not to be changed), {} without one."""
    path = chart_dir / "values.yaml"
    if not path.is_file():
        return {}
    text = path.read_text(encoding="utf-8")
    if text not in _VALUES:
        if len(_VALUES) > 256:
            _VALUES.clear()
        _VALUES[text] = yaml.load(text, Loader=SAFE_LOADER)
    return _VALUES[text]


_VALUES: dict[str, Any] = {}
