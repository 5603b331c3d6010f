"""Loading the embedded Helm engine (helm_python): on first use, or ahead of it in a thread."""
from __future__ import annotations

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
