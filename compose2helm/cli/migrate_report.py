"""migrate's progress (stderr) and report (stdout).

Progress counts every file first: on a terminal a bar with the example being converted, elsewhere
one line per file as its example ends (`[12/119] verified <file>`). The report lists every file,
then the summary line, which is all that -q prints.
"""
from __future__ import annotations

from .console import Printer
from .report import QUIET, print_warnings


_COLOURS = {"verified": "green", "unverified": "yellow", "rejected": "red", "skipped": "dim"}


class MigrateProgress:
    """The progress reporter pipeline.migrate calls (begin, example, then one call per file)."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.err = Printer(err=True)
        self.total = 0
        self.count = 0
        self._bar = None
        self._task = None

    def __enter__(self) -> "MigrateProgress | None":
        return self if self.enabled else None

    def begin(self, total: int) -> None:
        self.total = total
        if self.err.rich:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
            self._bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), console=self.err.console, transient=True)
            self._bar.start()
            self._task = self._bar.add_task("migrating", total=total)

    def example(self, name: str, files: int) -> None:
        if self._bar is not None:
            self._bar.update(self._task, description=f"converting {name} ({files} files)")
        else:
            self.err.line(f"converting {name}: {files} file(s)")

    def __call__(self, outcome) -> None:
        self.count += 1
        if self._bar is not None:
            self._bar.update(self._task, advance=1)
        else:
            self.err.line(f"[{self.count}/{self.total}] {outcome.status} {outcome.file}")

    def __exit__(self, *exc) -> None:
        if self._bar is not None:
            self._bar.stop()


def print_migrate(report, level: int) -> None:
    out = Printer()
    if level != QUIET:
        out.table(f"migrate {report.root}", ("file", "status", "overlay", "services", "unexplained", "reason"),
                  [[o.file, (o.status, _COLOURS[o.status]), o.overlay, str(o.services or ""),
                    str(o.unexplained or ""), o.reason] for o in report.outcomes], _plain_outcome)
        if report.into_examples:
            out.line(f"{len(report.into_examples)} file(s) written into {report.root}")
        if report.would_change is not None:
            for rel in report.would_change:
                out.line(f"would write {rel}")
            out.line(f"dry run: {len(report.would_change)} file(s) would be written; nothing was")
    else:
        print_warnings([f"{o.file}: {o.status}: {o.reason}" for o in report.outcomes
                        if o.status in ("unverified", "rejected")])
    s = report.summary()
    out.line(("summary", "green" if report.ok else "red"),
             f": {s['files']} files: {s['verified']} verified, {s['unverified']} unverified, {s['rejected']} "
             f"rejected, {s['skipped']} skipped; {s['services']} services ({s['generic']} without a mapping rule), "
             f"{s['charts']} charts; {s['explained']} explained and {s['unexplained']} unexplained differences"
             + ("; dry run, nothing written" if report.would_change is not None else ""))


def _plain_outcome(r: list[str]) -> str:
    file, status, overlay, services, unexplained, reason = r
    facts = [f"overlay {overlay}"] if overlay else []
    if services:
        facts.append(f"{services} services")
    if unexplained:
        facts.append(f"{unexplained} unexplained")
    return f"{status} {file}" + (f": {', '.join(facts)}" if facts else "") + (f": {reason}" if reason else "")
