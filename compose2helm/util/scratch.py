"""Scratch space for rendering and linting: memory-backed when the machine has it.

Helm needs charts on disk; writing a few hundred small files per conversion to a disk-backed
/tmp costs far more than rendering them, so scratch copies go to /dev/shm when it is usable.
"""
from __future__ import annotations

import os
import tempfile
from functools import lru_cache


@lru_cache(maxsize=1)
def scratch_root() -> str | None:
    for candidate in (os.environ.get("COMPOSE2HELM_SCRATCH"), "/dev/shm"):
        if candidate and os.path.isdir(candidate) and os.access(candidate, os.W_OK | os.X_OK):
            return candidate
    return None   # the system default (TMPDIR, /tmp)


def scratch_dir(prefix: str) -> tempfile.TemporaryDirectory:
    return tempfile.TemporaryDirectory(prefix=prefix, dir=scratch_root())
