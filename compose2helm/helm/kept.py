"""Renderings kept between processes (util/cache.py, kind "render").

A rendering is decided by the files Helm reads (the chart and the dependencies it unpacks), the
values, the release and namespace, what is left out and how schemas are applied, the engine, and
the code that prepares the scratch copy (render.py, assemble.py, values_check.py). Under a digest
of all of those its documents are kept, so a conversion or drift check of an unchanged file
renders nothing again; the checks of what it rendered still run every time. An error is never
kept (the next run renders and words it). Charts with an archived (remote) dependency, and
values JSON cannot hold exactly, are always rendered. The documents are kept parsed, as JSON,
when JSON holds every object exactly (reading them back is then no YAML parse), else as text.
"""
from __future__ import annotations

import functools
import hashlib
import json
import zlib
from pathlib import Path
from typing import Any

import yaml

from ..util import cache
from .assemble import chart_digest, disabled_dependencies
from .documents import Document, split_documents
from .engine import engine_version

_KIND = "render"


def rendering_key(chart_dir: Path, values: dict[str, Any], release: str, namespace: str, skip: frozenset[str],
                  schemas: str, digests: dict | None = None) -> str | None:
    """The key a rendering is kept under, or None when it is not to be kept (caching off, a remote
    dependency, values JSON does not hold). digests: chart digests already computed by the
    caller's renderings of the same, unchanged, chart (see render_chart)."""
    if cache.cache_dir(_KIND) is None:
        return None
    try:
        encoded = json.dumps([values, release, namespace, sorted(skip), schemas], sort_keys=True,
                             separators=(",", ":"), allow_nan=False)
        leave_out = disabled_dependencies(chart_dir, values)
        resolved = chart_dir.resolve()
        at = (str(resolved), leave_out)
        known = digests.get(at) if digests is not None else None
        if known is None:
            known = chart_digest(resolved, leave_out, rendering=True)
            if digests is not None:
                digests[at] = known
    except (TypeError, ValueError, OSError, UnicodeDecodeError, yaml.YAMLError):
        return None
    digest, local = known
    if not local:
        return None
    h = hashlib.sha256(f"{digest} {_procedure()}".encode())
    h.update(encoded.encode("utf-8", "surrogatepass"))
    return h.hexdigest()


@functools.lru_cache(maxsize=1)
def _procedure() -> str:
    """The engine's version and a digest of the code that prepares what it renders."""
    h = hashlib.sha256(engine_version().encode())
    for name in ("render.py", "assemble.py", "values_check.py", "kept.py"):
        with open(Path(__file__).with_name(name), "rb") as fh:
            h.update(fh.read())
    return h.hexdigest()


def kept_documents(key: str | None) -> list[Document] | None:
    """The documents kept under key, or None (nothing kept, or an entry that cannot be read)."""
    data = cache.load(_KIND, key) if key else None
    if data is None:
        return None
    try:
        kept = json.loads(zlib.decompress(data))
        if "docs" in kept:
            docs = [Document(str(s), str(t), o) for s, t, o in kept["docs"]]
            if not all(isinstance(d.obj, dict) for d in docs):
                return None
        else:
            out = kept["out"]
            if not all(isinstance(k, str) and isinstance(v, str) for k, v in out.items()):
                return None
            docs = split_documents(out)
    except (ValueError, TypeError, KeyError, AttributeError, zlib.error):
        return None
    cache.touch(_KIND, key)   # recently used: kept when the least used are removed
    return docs


def keep_documents(key: str | None, docs: list[Document]) -> None:
    if not key:
        return
    parsed = [[d.source, d.text, d.obj] for d in docs]
    try:
        encoded = json.dumps({"docs": parsed}, allow_nan=False)
        exact = json.loads(encoded)["docs"] == parsed
    except (TypeError, ValueError):
        exact = False
    if not exact:   # kept as the text of each document, parsed again when read
        sources: dict[str, list[str]] = {}
        for d in docs:
            sources.setdefault(d.source, []).append(d.text)
        encoded = json.dumps({"out": {s: "\n---\n".join(texts) for s, texts in sources.items()}})
    cache.store(_KIND, key, zlib.compress(encoded.encode("utf-8", "surrogatepass"), 1))
    cache.prune(_KIND, cache.LIMIT)
