"""Loading the embedded Helm engine (helm_python): on first use, or ahead of it in a thread."""
from __future__ import annotations

import importlib.util
import os
import sys
import threading


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
    """What names the installed engine, without loading it (kept results are keyed by it): the
    path, size and modification time of each of helm_python's files, its library included; a
    reinstall or another version changes them. Its __version__ when the files cannot be found."""
    if not _VERSION:
        spec = importlib.util.find_spec("helm_python")
        found = []
        for root in (spec.submodule_search_locations or []) if spec else []:
            for dirpath, dirnames, filenames in os.walk(root):
                dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
                for f in sorted(filenames):
                    try:
                        st = os.stat(os.path.join(dirpath, f))
                    except OSError:
                        continue
                    found.append(f"{os.path.join(dirpath, f)} {st.st_size} {st.st_mtime_ns}")
        _VERSION.append("\n".join(found) if found else str(getattr(load_engine(), "__version__", "")))
    return _VERSION[0]
