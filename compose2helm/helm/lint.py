"""helm lint of charts, in a scratch copy with their dependencies: one at a time (lint_chart) or
in threads while the caller renders (start_lints); each distinct chart is linted once per process."""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..util import cache
from ..util.scratch import scratch_dir
from .assemble import assemble, chart_digest
from .engine import engine_version, load_engine


@dataclass(frozen=True)
class LintMessage:
    """One message of helm lint; chart names the chart when messages of several are listed together."""

    severity: str      # info | warning | error | unknown
    path: str
    message: str
    chart: str = ""

    def of_chart(self, chart: str) -> "LintMessage":
        return replace(self, chart=chart)

    def as_dict(self) -> dict[str, str]:
        out = {"chart": self.chart} if self.chart else {}
        return {**out, "severity": self.severity, "path": self.path, "message": self.message}


_LINTED: dict[str, list[LintMessage]] = {}


def lint_chart(chart_dir: Path) -> list[LintMessage]:
    """helm lint's messages for one chart.

    A chart's lint depends on its files alone, and common charts recur in every conversion of
    a migration: each distinct chart is linted once per process."""
    return list(_LINTED[_lint_in_turn(Path(chart_dir))])


class Linting:
    """Lints under way (start_lints): result() waits for them, in the order the charts were given."""

    def __init__(self, running: list[Any]):
        self.running = running

    def result(self) -> list[list[LintMessage]]:
        return [list(_LINTED[future.result()]) for future in self.running]


def start_lints(chart_dirs: list[Path]) -> Linting:
    """Lint each chart in the lint threads (ctypes releases the GIL while the engine works), so
    that it runs while the caller goes on. Each chart is read when its turn comes, which is why the
    caller must leave it as it is until result(); a chart linted before in this process (the same
    files) is not linted again. An error (e.g. a missing dependency) is raised by result()."""
    return Linting([_pool().submit(_lint_in_turn, Path(d)) for d in chart_dirs])


def _lint_in_turn(chart_dir: Path) -> str:
    key = chart_digest(chart_dir)[0]   # lint's result depends on the chart's and its dependencies' files
    if key not in _LINTED:
        _LINTED[key] = _lint_kept(chart_dir, key)
    return key


def _lint_kept(chart_dir: Path, digest: str) -> list[LintMessage]:
    """helm lint's messages, kept between processes (util/cache.py) under the chart's digest and
    the engine's and compose2helm's versions: a common chart recurs unchanged in every conversion
    that uses its component, and linting it is a third of the engine time of one."""
    from .. import __version__
    engine = engine_version()
    key = hashlib.sha256(f"{digest} {engine} {__version__}".encode()).hexdigest()
    kept = cache.load("lint", key)
    if kept is not None:
        try:
            return [LintMessage(**m) for m in json.loads(kept)]
        except (ValueError, TypeError):
            pass
    messages = _lint(chart_dir)
    cache.store("lint", key, json.dumps([m.as_dict() for m in messages]).encode())
    return messages


_POOL: list[Any] = []


def _pool():
    """The lint threads, shared by every start_lints of the process: one per core but one, which
    the caller's own work (and then the render it waits for) keeps. Charts are linted as they
    are written, in that order."""
    if not _POOL:
        from concurrent.futures import ThreadPoolExecutor
        workers = max(1, (os.cpu_count() or 1) - 1)
        _POOL.append(ThreadPoolExecutor(max_workers=workers, thread_name_prefix="c2h-lint"))
    return _POOL[0]


def _lint_copy(chart_dir: Path) -> tuple[Any, Path]:
    """A scratch copy of the chart with its dependencies, to lint (the caller cleans it up)."""
    tmp = scratch_dir("c2h-lint-")
    try:
        return tmp, assemble(chart_dir, Path(tmp.name) / Path(chart_dir).name)
    except BaseException:
        tmp.cleanup()
        raise


def _lint(chart_dir: Path) -> list[LintMessage]:
    return _lint_assembled(*_lint_copy(chart_dir))


def _lint_assembled(tmp, target: Path) -> list[LintMessage]:
    helm = load_engine()
    names = {0: "unknown", 1: "info", 2: "warning", 3: "error"}
    with tmp:
        report = helm.lint(str(target))
    messages = [LintMessage(names.get(m.get("severity", 0), "unknown"), m.get("path", ""), m.get("error", ""))
                for m in report.get("messages", [])]
    messages += [LintMessage("error", "", e) for e in report.get("errors", [])
                 if not any(e == m.message for m in messages)]
    return messages
