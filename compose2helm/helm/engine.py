"""Loading the embedded Helm engine (helm_python): on first use, or ahead of it in a thread."""
from __future__ import annotations

import importlib.util
import sys
import threading

from ..util.cache import files_version


def load_engine():
    import helm_python  # the shared library is large: load it only when rendering
    return helm_python


def preload() -> None:
    """Start loading the Helm engine in a thread, so that the library's load (a Go runtime
    starting, outside the GIL) overlaps the caller's Python work instead of following it."""
    if "helm_python" not in sys.modules:
        threading.Thread(target=load_engine, name="load-helm").start()


_VERSION: list[str] = []


def engine_version() -> str:
    """What names the installed engine, without loading it (kept results are keyed by it):
    util/cache.files_version of helm_python's folder, its library included; its __version__
    when the folder cannot be found."""
    if not _VERSION:
        spec = importlib.util.find_spec("helm_python")
        roots = list(spec.submodule_search_locations or []) if spec else []
        _VERSION.append(files_version(roots[0]) if roots else str(getattr(load_engine(), "__version__", "")))
    return _VERSION[0]
