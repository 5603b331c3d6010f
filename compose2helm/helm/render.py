"""Render an umbrella chart with the embedded Helm engine, and lint charts.

Dependencies are built in a scratch copy: committed charts carry no charts/ folder (a .tgz
holds timestamps, which would break byte-identical reruns).
"""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ..errors import InputError
from ..util.scratch import scratch_dir
from ..yamlout import SAFE_LOADER

# Install order of kinds, as helm sorts them; anything else after these, by name.
_KIND_ORDER = ["Namespace", "NetworkPolicy", "ResourceQuota", "LimitRange", "PodSecurityPolicy",
               "PodDisruptionBudget", "ServiceAccount", "Secret", "SecretList", "ConfigMap", "StorageClass",
               "PersistentVolume", "PersistentVolumeClaim", "CustomResourceDefinition", "ClusterRole",
               "ClusterRoleList", "ClusterRoleBinding", "ClusterRoleBindingList", "Role", "RoleList",
               "RoleBinding", "RoleBindingList", "Service", "DaemonSet", "Pod", "ReplicationController",
               "ReplicaSet", "Deployment", "HorizontalPodAutoscaler", "StatefulSet", "Job", "CronJob",
               "IngressClass", "Ingress", "APIService"]


@dataclass(frozen=True)
class Document:
    source: str        # template path, e.g. chatqna/charts/tgi/templates/deployment.yaml
    text: str          # the YAML of one object
    obj: dict[str, Any]


def _helm():
    import helm_python  # the shared library is large: load it only when rendering
    return helm_python


def preload() -> None:
    """Start loading the Helm engine in a thread, so that the library's load (a Go runtime
    starting, outside the GIL) overlaps the caller's Python work instead of following it."""
    if "helm_python" not in sys.modules:
        threading.Thread(target=_helm, name="load-helm").start()


def dependencies(chart_dir: Path) -> list[dict[str, Any]]:
    text = (chart_dir / "Chart.yaml").read_text(encoding="utf-8")
    if text not in _DEPENDENCIES:   # common charts recur in every umbrella: parse each text once
        meta = yaml.load(text, Loader=SAFE_LOADER) or {}
        _DEPENDENCIES[text] = [d for d in meta.get("dependencies") or [] if isinstance(d, dict)]
    return [dict(d) for d in _DEPENDENCIES[text]]


_DEPENDENCIES: dict[str, list[dict[str, Any]]] = {}


_IGNORE = shutil.ignore_patterns("charts", "Chart.lock", ".git")


def _link_or_copy(src: str, dst: str) -> None:
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
    shutil.copytree(chart_dir, dest, ignore=_IGNORE, copy_function=_link_or_copy)
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


def render_chart(chart_dir: Path, values: dict[str, Any], release: str,
                 namespace: str = "default") -> list[Document]:
    """Render chart_dir with its (file://) dependencies built in a scratch copy."""
    helm = _helm()
    out = None
    plan = _chunk_plan(Path(chart_dir).resolve(), values)
    if plan is not None:
        try:
            out = _render_in_chunks(plan, values, release, namespace)
        except Exception:  # noqa: BLE001 - the whole render says what is wrong (or renders what parts cannot)
            out = None
    if out is None:
        with scratch_dir("c2h-render-") as tmp:
            target = assemble(chart_dir, Path(tmp) / Path(chart_dir).name,
                              leave_out=disabled_dependencies(Path(chart_dir), values))
            try:
                with helm.Chart.load(str(target)) as chart:
                    out = chart.render(values=values, name=release, namespace=namespace)
            except helm.HelmError as exc:
                raise InputError(f"helm could not render the chart: {' '.join(str(exc).split())}",
                                 file=chart_dir) from None
    return split_documents(out)


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
        own = _values_of(chart_dir)
        verdicts: dict[str, bool] = {}
        for d in deps:
            name, key = str(d.get("name", "")), str(d.get("alias") or d.get("name", ""))
            repo = str(d.get("repository", ""))
            off = (d.get("condition") == f"{key}.enabled" and not d.get("tags") and repo.startswith("file://")
                   and _condition_false(key, [values, own, lambda: {key: _values_of(chart_dir / repo[7:])}]))
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


def _values_of(chart_dir: Path) -> Any:
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


# --- rendering a large umbrella in parts ----------------------------------------------------------
#
# Helm's tpl function copies every template of the release on each call, so an umbrella with n
# dependencies whose templates call tpl renders in O(n^2): 1,000 alias dependencies take minutes.
# Above 2 * _CHUNK dependencies the umbrella renders in parts that give the same output:
#   - one pass with the umbrella's own templates and schema, every dependency's values and partials
#     (_*.tpl), none of their other templates: values are coalesced as in one render;
#   - one pass per _CHUNK dependencies, with only those in Chart.yaml (and in the values given),
#     their templates and schemas, and only the umbrella's partials.
# Every schema is applied once, every template rendered once; parts run in threads.
# A subchart's output depends on its own templates, its values and the named templates it
# includes. Parts are only used when that is all it can depend on: file:// dependencies without
# dependencies of their own, conditions on their own values only, no tags or import-values, no
# named template defined by two charts, globals without nested tables (which Helm shares between
# sibling subcharts when coalescing). Any error in a part falls back to one render.

_CHUNK = 50
_DEFINE = re.compile(r"\{\{-?\s*(?:define|block)\b")
_DEFINE_NAME = re.compile(r"\{\{-?\s*(?:define|block)\s+(?:\"((?:[^\"\\]|\\.)*)\"|`([^`]*)`)")


def _chart_meta(chart_dir: Path) -> dict[str, Any]:
    meta = yaml.load((chart_dir / "Chart.yaml").read_text(encoding="utf-8"), Loader=SAFE_LOADER)
    return meta if isinstance(meta, dict) else {}


def _flat_globals(values: Any, keys: set[str]) -> bool:
    """No table inside `global`, at the top or under a dependency's key."""
    if not isinstance(values, dict):
        return True
    for scope in [values] + [values[k] for k in keys if isinstance(values.get(k), dict)]:
        g = scope.get("global")
        if g is not None and (not isinstance(g, dict) or any(isinstance(v, dict) for v in g.values())):
            return False
    return True


def _chunk_plan(chart_dir: Path, values: dict[str, Any]) -> tuple | None:
    """(chart_dir, metadata, dependencies, sources by name) when chart_dir may render in parts."""
    try:
        if len(dependencies(chart_dir)) <= 2 * _CHUNK:
            return None
        meta = _chart_meta(chart_dir)
        deps = meta.get("dependencies") or []
        if not isinstance(deps, list) or len(deps) <= 2 * _CHUNK or (chart_dir / "charts").exists():
            return None
        keys: set[str] = set()
        sources: dict[str, Path] = {}
        for d in deps:
            if not isinstance(d, dict) or set(d) - {"name", "version", "repository", "alias", "condition"}:
                return None
            repo, name = str(d.get("repository", "")), str(d.get("name", ""))
            key = str(d.get("alias") or name)
            if not repo.startswith("file://") or key in keys or key == "global" \
                    or d.get("condition") not in (None, f"{key}.enabled"):
                return None
            keys.add(key)
            src = (chart_dir / repo[len("file://"):]).resolve()
            if sources.setdefault(name, src) != src:
                return None
        if not _flat_globals(values, keys):
            return None
        defined: dict[str, Path] = {}
        for src in [chart_dir, *sources.values()]:
            if src != chart_dir:
                sub = _chart_meta(src)
                if sub.get("dependencies") or sub.get("type") == "library" or (src / "charts").exists():
                    return None
            if not _flat_globals(_values_of(src), keys if src == chart_dir else set()):
                return None
            for path in sorted((src / "templates").rglob("*")) if (src / "templates").is_dir() else ():
                if not path.is_file():
                    continue
                text = path.read_text(encoding="utf-8")
                names = [a or b for a, b in _DEFINE_NAME.findall(text)]
                if len(names) != len(_DEFINE.findall(text)):
                    return None   # a definition this reading does not understand
                for n in names:
                    if defined.setdefault(n, src) != src:
                        return None
        return chart_dir, meta, deps, sources
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None


def _link_tree(src: Path, dest: Path, templates: str, skip: tuple[str, ...] = ()) -> None:
    """src's files in dest, as assemble links them, with all its templates or only its partials,
    without the top-level files named in skip."""
    for dirpath, dirnames, filenames in os.walk(src, followlinks=True):
        dirnames[:] = [d for d in dirnames if d not in ("charts", ".git")]
        rel = os.path.relpath(dirpath, src)
        in_templates = rel == "templates" or rel.startswith("templates" + os.sep)
        out = dest if rel == "." else dest / rel
        out.mkdir(parents=True, exist_ok=True)
        for f in filenames:
            if f in ("charts", "Chart.lock", ".git") or (in_templates and templates == "partials"
                                                          and not f.startswith("_")) or (rel == "." and f in skip):
                continue
            _link_or_copy(os.path.join(dirpath, f), str(out / f))


def _render_in_chunks(plan: tuple, values: dict[str, Any], release: str, namespace: str) -> dict[str, str] | None:
    from concurrent.futures import ThreadPoolExecutor

    helm = _helm()
    chart_dir, meta, deps, sources = plan
    with scratch_dir("c2h-render-") as tmp:
        first = Path(tmp) / "0" / chart_dir.name
        _link_tree(chart_dir, first, "all")
        for name, src in sources.items():   # their schemas are applied in their own parts
            _link_tree(src, first / "charts" / name, "partials", skip=("values.schema.json",))
        passes = [(first, values)]
        for i in range(0, len(deps), _CHUNK):
            part = deps[i:i + _CHUNK]
            target = Path(tmp) / str(len(passes)) / chart_dir.name
            # The umbrella's schema is applied in the first pass.
            _link_tree(chart_dir, target, "partials", skip=("Chart.yaml", "values.schema.json"))
            (target / "Chart.yaml").write_text(yaml.safe_dump(dict(meta, dependencies=part), sort_keys=False),
                                               encoding="utf-8")
            for name in dict.fromkeys(str(d.get("name")) for d in part):
                _link_tree(sources[name], target / "charts" / name, "all")
            others = {str(d.get("alias") or d.get("name")) for d in deps} - {str(d.get("alias") or d.get("name")) for d in part}
            passes.append((target, {k: v for k, v in values.items() if k not in others}))

        def render(job: tuple[Path, dict[str, Any]]) -> dict[str, str]:
            with helm.Chart.load(str(job[0])) as chart:
                return chart.render(values=job[1], name=release, namespace=namespace)

        # ctypes releases the GIL while the engine works.
        with ThreadPoolExecutor(max_workers=min(len(passes), os.cpu_count() or 1)) as pool:
            outs = list(pool.map(render, passes))
    merged: dict[str, str] = {}
    for out in outs:
        for name, text in out.items():
            if merged.setdefault(name, text) != text:
                return None
    return merged


def split_documents(rendered: dict[str, str]) -> list[Document]:
    docs: list[Document] = []
    for source in sorted(rendered):
        if source.endswith("NOTES.txt"):
            continue
        for chunk in re.split(r"^---\s*$", rendered[source], flags=re.M):
            if chunk not in _PARSED:
                if len(_PARSED) >= 20000:
                    _PARSED.clear()
                _PARSED[chunk] = yaml.load(chunk, Loader=SAFE_LOADER)
            obj = _PARSED[chunk]
            if not isinstance(obj, dict) or not obj:
                continue
            docs.append(Document(source, chunk.strip("\n"), _copy(obj)))
    return docs


# Rendered objects recur unchanged across the conversions of a migration: each distinct text is
# parsed once per process, and every caller gets its own copy.
_PARSED: dict[str, Any] = {}


def _copy(node: Any) -> Any:
    """A copy of what the safe loader builds: dicts, lists and sets hold the only mutable state."""
    if type(node) is dict:
        return {k: _copy(v) for k, v in node.items()}
    if type(node) is list:
        return [_copy(v) for v in node]
    if type(node) is set:
        return set(node)
    return node


def is_test_hook(doc: Document) -> bool:
    hooks = ((doc.obj.get("metadata") or {}).get("annotations") or {}).get("helm.sh/hook", "")
    return "test" in [h.strip() for h in str(hooks).split(",")]


def sort_key(doc: Document) -> tuple:
    kind = doc.obj.get("kind", "")
    order = _KIND_ORDER.index(kind) if kind in _KIND_ORDER else len(_KIND_ORDER)
    return order, kind, (doc.obj.get("metadata") or {}).get("name", ""), doc.source


def manifest_text(docs: list[Document]) -> str:
    """One file for `kubectl apply -f`: objects in install order, each marked with its template."""
    parts = []
    for doc in sorted((d for d in docs if not is_test_hook(d)), key=sort_key):
        parts.append(f"---\n# Source: {doc.source}\n{doc.text}\n")
    return "".join(parts)


def _digest(chart_dir: Path, h: "hashlib._Hash | None" = None, _stack: tuple = ()) -> str:
    """A digest of a chart and its file:// dependencies: what lint's result depends on."""
    top = h is None
    h = h or hashlib.sha256()
    chart_dir = Path(chart_dir).resolve()
    if chart_dir in _stack:
        return ""
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
    for rel, full in sorted(files):
        if os.path.isfile(full):
            with open(full, "rb") as fh:
                h.update(rel.encode() + b"\0" + fh.read() + b"\0")
    for dep in dependencies(chart_dir):
        repo = str(dep.get("repository", ""))
        if repo.startswith("file://"):
            h.update(b"dep:" + str(dep.get("name")).encode())
            _digest(chart_dir / repo[len("file://"):], h, _stack + (chart_dir,))
    return h.hexdigest() if top else ""


_LINTED: dict[str, list[dict[str, Any]]] = {}


def lint_chart(chart_dir: Path) -> list[dict[str, Any]]:
    """helm lint messages ({severity: info|warning|error, path, message}) for one chart.

    A chart's lint depends on its files alone, and common charts recur in every conversion of
    a migration: each distinct chart is linted once per process."""
    key = _digest(chart_dir)
    if key not in _LINTED:
        _LINTED[key] = _lint(chart_dir)
    return [dict(m) for m in _LINTED[key]]


class Linting:
    """Lints under way (start_lints): result() waits for them, in the order the charts were given."""

    def __init__(self, keys: list[str], running: dict[str, Any]):
        self.keys, self.running = keys, running

    def result(self) -> list[list[dict[str, Any]]]:
        for key, future in self.running.items():
            _LINTED[key] = future.result()
        self.running = {}
        return [[dict(m) for m in _LINTED[k]] for k in self.keys]


def start_lints(chart_dirs: list[Path]) -> Linting:
    """Start lint_chart of each chart not linted yet, in threads (ctypes releases the GIL while the
    engine works), so that they run while the caller renders. Scratch copies are made here, so a
    missing dependency is reported by this call, as lint_chart does."""
    keys = [_digest(d) for d in chart_dirs]
    todo = {k: d for k, d in zip(keys, chart_dirs) if k not in _LINTED}
    running: dict[str, Any] = {}
    if todo:
        from concurrent.futures import ThreadPoolExecutor
        pool = ThreadPoolExecutor(max_workers=min(len(todo), os.cpu_count() or 1))
        try:
            for key, chart_dir in todo.items():
                running[key] = pool.submit(_lint_assembled, *_lint_copy(chart_dir))
        finally:
            pool.shutdown(wait=False)   # its threads end with their lints
    return Linting(keys, running)


def _lint_copy(chart_dir: Path) -> tuple[Any, Path]:
    """A scratch copy of the chart with its dependencies, to lint (the caller cleans it up)."""
    tmp = scratch_dir("c2h-lint-")
    try:
        return tmp, assemble(chart_dir, Path(tmp.name) / Path(chart_dir).name)
    except BaseException:
        tmp.cleanup()
        raise


def _lint(chart_dir: Path) -> list[dict[str, Any]]:
    return _lint_assembled(*_lint_copy(chart_dir))


def _lint_assembled(tmp, target: Path) -> list[dict[str, Any]]:
    helm = _helm()
    names = {0: "unknown", 1: "info", 2: "warning", 3: "error"}
    with tmp:
        report = helm.lint(str(target))
    messages = [{"severity": names.get(m.get("severity", 0), "unknown"), "path": m.get("path", ""),
                 "message": m.get("error", "")} for m in report.get("messages", [])]
    messages += [{"severity": "error", "path": "", "message": e} for e in report.get("errors", [])
                 if not any(e == m["message"] for m in messages)]
    return messages
