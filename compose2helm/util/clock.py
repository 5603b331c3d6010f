"""Seconds spent per stage of a conversion (the benchmark's breakdown)."""
from __future__ import annotations

import time
from contextlib import contextmanager


class Clock:
    """Seconds spent per stage (the benchmark's breakdown)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def __call__(self, stage: str):
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[stage] = self.seconds.get(stage, 0.0) + time.perf_counter() - start
