"""Rendering a chart with the embedded Helm engine: in one pass over a scratch copy with its
dependencies, or, for a large umbrella, in parts that give the same output.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import yaml

from ..errors import InputError
from ..util.scratch import scratch_dir
from ..yamlout import SAFE_LOADER
from .assemble import (assemble, changes_by_itself, dependencies, disabled_dependencies, link_or_copy, scratch_charts,
                       values_of)
from .documents import Document, split_documents
from .engine import load_engine
from .kept import keep_documents, kept_documents, rendering_key
from .values_check import take_schemas, values_valid


def render_chart(chart_dir: Path, values: dict[str, Any], release: str,
                 namespace: str = "default", skip: frozenset[str] = frozenset(),
                 schemas: str = "helm", digests: dict | None = None) -> list[Document]:
    """Render chart_dir with its (file://) dependencies built in a scratch copy.

    skip: templates, by the name Helm gives their output (chart/charts/sub/templates/x.yaml),
    left out of the rendering when the caller needs none of what they make (see _leave_out).
    schemas: how the values are checked against the charts' values.schema.json: "helm" by the
    engine, as `helm template` does; "python" by compiled schemas where that gives Helm's answer
    (values_check.py: same output, same errors, less engine time); "none" not at all, for a
    rendering made to trace values rather than to install (verify/coupling.py's markers).
    A rendering is kept between processes (kept.py); digests: a dict the caller keeps while the
    chart's files stay as they are, so that renderings of it digest them once."""
    if schemas not in ("helm", "python", "none"):
        raise ValueError(f"schemas: {schemas!r}")
    key = rendering_key(Path(chart_dir), values, release, namespace, skip, schemas, digests)
    docs = kept_documents(key)
    if docs is None:
        docs = split_documents(_render(chart_dir, values, release, namespace, skip, schemas))
        # The same key names the same templates: checked here, when a rendering is to be kept.
        if key and not changes_by_itself(Path(chart_dir), disabled_dependencies(chart_dir, values)):
            keep_documents(key, docs)
    return docs


def _render(chart_dir: Path, values: dict[str, Any], release: str, namespace: str, skip: frozenset[str],
            schemas: str) -> dict[str, str]:
    # Each way of rendering gives None only when schemas is "python" and the values must be
    # judged by Helm's own validation: then the same way again with it.
    out = None
    plan = _chunk_plan(Path(chart_dir).resolve(), values)
    if plan is not None:
        try:
            out = _render_in_chunks(plan, values, release, namespace, skip, schemas)
            if out is None:
                out = _render_in_chunks(plan, values, release, namespace, skip, "helm")
        except Exception:  # noqa: BLE001 - the whole render says what is wrong (or renders what parts cannot)
            out = None
    if out is None:
        out = _render_once(chart_dir, values, release, namespace, skip, schemas)
    if out is None:
        out = _render_once(chart_dir, values, release, namespace, skip, "helm")
    return out


def _prepare(target: Path, skip: frozenset[str], schemas: str) -> dict:
    """The scratch chart at target made ready to render: the templates in skip left out, and its
    schemas replaced by probes ("python", values_check.py) or removed ("none"). Returns the probes."""
    if skip:
        _leave_out(target, skip)
    if schemas == "python":
        return take_schemas(target)
    if schemas == "none":
        for schema in target.rglob("values.schema.json"):
            os.unlink(schema)   # links in the scratch copy: the charts themselves are untouched
    return {}


def _render_once(chart_dir: Path, values: dict[str, Any], release: str, namespace: str,
                 skip: frozenset[str], schemas: str) -> dict[str, str] | None:
    """One rendering of the whole chart; None when schemas is "python" and Helm must decide."""
    helm = load_engine()
    with scratch_dir("c2h-render-") as tmp:
        target = assemble(chart_dir, Path(tmp) / Path(chart_dir).name,
                          leave_out=disabled_dependencies(Path(chart_dir), values))
        probes = _prepare(target, skip, schemas)
        try:
            with helm.Chart.load(str(target)) as chart:
                out = chart.render(values=values, name=release, namespace=namespace)
        except helm.HelmError as exc:
            if probes:
                return None     # Helm words it, with its schemas (a schema error may come first)
            raise InputError(f"helm could not render the chart: {' '.join(str(exc).split())}",
                             file=chart_dir) from None
    return out if values_valid(out, probes) else None


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
            if not _flat_globals(values_of(src), keys if src == chart_dir else set()):
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
            link_or_copy(os.path.join(dirpath, f), str(out / f))


def _render_in_chunks(plan: tuple, values: dict[str, Any], release: str, namespace: str,
                      skip: frozenset[str] = frozenset(), schemas: str = "helm") -> dict[str, str] | None:
    from concurrent.futures import ThreadPoolExecutor

    helm = load_engine()
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

        probes = {}
        for target, _ in passes:    # each schema is in one part: its probe too
            probes.update(_prepare(target, skip, schemas))

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
                raise ValueError(f"two parts rendered {name} differently")   # one render decides
    return merged if values_valid(merged, probes) else None


# --- leaving templates out --------------------------------------------------------------------------
#
# Helm parses every template of every chart it renders, whatever the caller reads of the output.
# A rendering made to look at a few objects (verify/coupling.py's marked rendering reads the
# workloads and what they take their environment from) need not carry the others. A template
# file is left out of the scratch copy only when every output Helm would name after it is in
# skip (a chart unpacked once serves all its aliases), and only when it defines no named
# template another could include; partials (_*.tpl) always stay.


def _leave_out(target: Path, skip: frozenset[str]) -> None:
    """Unlink from the scratch chart at target the template files whose every output is in skip."""
    for chart, names in scratch_charts(target):
        templates = chart / "templates"
        for dirpath, _, filenames in os.walk(templates):
            rel_dir = os.path.relpath(dirpath, templates)
            for f in filenames:
                rel = f if rel_dir == "." else f"{rel_dir}/{f}".replace(os.sep, "/")
                if f.startswith("_") or not all(f"{n}/templates/{rel}" in skip for n in names):
                    continue
                path = os.path.join(dirpath, f)
                with open(path, encoding="utf-8", errors="replace") as fh:
                    if _DEFINE.search(fh.read()):
                        continue
                os.unlink(path)   # a link in the scratch copy: the chart itself is untouched
