"""helm lint of charts, in a scratch copy with their dependencies: one at a time (lint_chart) or
in threads while the caller renders (start_lints); each distinct chart is linted once per process."""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..util.scratch import scratch_dir
from .assemble import assemble, dependencies
from .engine import load_engine


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


_LINTED: dict[str, list[LintMessage]] = {}


def lint_chart(chart_dir: Path) -> list[LintMessage]:
    """helm lint's messages for one chart.

    A chart's lint depends on its files alone, and common charts recur in every conversion of
    a migration: each distinct chart is linted once per process."""
    key = _digest(chart_dir)
    if key not in _LINTED:
        _LINTED[key] = _lint(chart_dir)
    return list(_LINTED[key])


class Linting:
    """Lints under way (start_lints): result() waits for them, in the order the charts were given."""

    def __init__(self, keys: list[str], running: dict[str, Any]):
        self.keys, self.running = keys, running

    def result(self) -> list[list[LintMessage]]:
        for key, future in self.running.items():
            _LINTED[key] = future.result()
        self.running = {}
        return [list(_LINTED[k]) for k in self.keys]


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
