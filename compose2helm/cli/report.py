"""Human and machine reports of what a conversion did."""
from __future__ import annotations

import json
from collections import Counter
from typing import Any

from ..pipeline.convert import ConvertResult


def convert_json(result: ConvertResult) -> dict[str, Any]:
    plan = result.plan
    return {
        "example": plan.example,
        "chart": plan.chart,
        "platform": plan.platform,
        "variant": plan.variant,
        "release": result.release,
        "sources": plan.sources,
        "env_files": [str(p) for p in result.env_files],
        "manifest": result.manifest,
        "services": [{"service": i.service, "chart": i.component or plan.chart, "instance": i.name,
                      "rule": i.rule.file} for i in plan.instances],
        "generic": plan.generic,
        "findings": [f.as_dict() for f in plan.findings],
        "lint": {chart: [m.as_dict() for m in msgs] for chart, msgs in result.lint.items()},
        "changed": result.changed,
        "warnings": result.warnings,
        "verification": result.verification.as_dict() if result.verification is not None else None,
        "gmc": result.gmc,
        "gmc_problems": result.gmc_problems,
    }


def print_convert(result: ConvertResult, verbose: bool = False) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(stderr=False, highlight=False)
    plan = result.plan
    table = Table(title=f"{plan.example} on {plan.overlay_name} -> helm-charts/{plan.chart}", title_justify="left")
    for col in ("service", "chart", "values key", "rule", "changed", "dropped"):
        table.add_column(col)
    per = Counter((f.service, f.action) for f in plan.findings)
    for i in plan.instances:
        table.add_row(i.service, i.component or f"{plan.chart} (umbrella)", i.name if i.component else "(top level)",
                      i.rule.file, str(per[(i.service, "changed")] + per[(i.service, "added")]),
                      str(per[(i.service, "dropped")]))
    console.print(table)
    if result.env_files:
        console.print("env files: " + ", ".join(str(p) for p in result.env_files))
    if plan.generic:
        console.print(f"[yellow]no mapping rule for {', '.join(plan.generic)}: charts built from the service[/]")
    for f in plan.findings:
        if f.action == "unresolved":
            console.print(f"[yellow]unresolved[/] {f.service} {f.key}: {f.detail}")
    for w in result.warnings:
        console.print(f"[yellow]warning[/] {w}")
    for chart, msgs in sorted(result.lint.items()):
        for m in msgs:
            if m.severity in ("warning", "error"):
                console.print(f"[red]lint {m.severity}[/] {chart}: {m.path}: {m.message}")
    if verbose:
        for f in plan.findings:
            console.print(f"{f.service} {f.key}: {f.action}: {f.detail} [dim]({f.rule})[/]")
    if result.dry_run:
        for rel in result.changed:
            console.print(f"would write {rel}")
        console.print(f"dry run: {len(result.changed)} file(s) would be written; nothing was")
    else:
        console.print(f"{len(result.changed)} file(s) written; manifests: {result.manifest}")
    if result.gmc:
        console.print(f"GMC: {result.gmc[0]} and {len(result.gmc) - 1} component manifest(s)")
    for problem in result.gmc_problems:
        console.print(f"[red]GMConnector schema error[/] {problem}")
    if result.verification is not None:
        print_verify(result.verification, all_rows=verbose, console=console)


def _short(value: Any, width: int = 60) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return text if len(text) <= width else text[: width - 1] + "…"


def print_verify(report, *, all_rows: bool = True, console=None) -> None:
    """A table per service (field, compose, kubernetes, verdict, rule), then lint and schema."""
    from rich.console import Console
    from rich.table import Table

    console = console or Console(highlight=False)
    for s in report.services:
        rows = [(d, "unexplained") for d in s.unexplained] + ([(d, "explained") for d in s.explained]
                                                              if all_rows else [])
        if not rows:
            continue
        table = Table(title=f"{s.service} -> {s.workload}", title_justify="left")
        for col in ("field", "compose", "kubernetes", "verdict", "rule"):
            table.add_column(col, overflow="fold")
        for d, verdict in rows:
            style = "red" if verdict == "unexplained" else ""
            table.add_row(d.field, _short(d.compose), _short(d.kubernetes), verdict, d.rule, style=style)
        console.print(table)
    for m in report.lint:
        if m.severity in ("warning", "error"):
            colour = "red" if m.severity == "error" else "yellow"
            console.print(f"[{colour}]lint {m.severity}[/] {m.chart}: {m.path}: {m.message}")
    for p in report.schema:
        colour = "red" if p.severity == "error" else "yellow"
        console.print(f"[{colour}]{p.check} {p.severity}[/] {p.object} {p.path}: {p.message}")
    explained = sum(len(s.explained) for s in report.services)
    unexplained = sum(len(s.unexplained) for s in report.services)
    errors = report.errors
    verdict = "[green]verified[/]" if report.ok else "[red]NOT verified[/]"
    console.print(f"{verdict}: {len(report.services)} services, {explained} explained and {unexplained} "
                  f"unexplained differences, {errors} lint/schema errors")


class migrate_progress:
    """A rich progress bar over the files of a migration (a no-op when disabled or not a terminal)."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self._progress = None

    def __enter__(self):
        if not self.enabled:
            return None
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
        self._progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                  TimeElapsedColumn(), transient=True)
        self._progress.__enter__()
        self._task = self._progress.add_task("migrating", total=None)

        def advance(outcome) -> None:
            self._progress.update(self._task, advance=1, description=f"{outcome.status:10} {outcome.file}")
        return advance

    def __exit__(self, *exc) -> None:
        if self._progress is not None:
            self._progress.__exit__(*exc)


def print_migrate(report, details: bool = True) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False)
    if details:
        table = Table(title=f"migrate {report.root}", title_justify="left")
        for col in ("file", "status", "overlay", "services", "unexplained", "reason"):
            table.add_column(col, overflow="fold")
        colours = {"verified": "green", "unverified": "yellow", "rejected": "red", "skipped": "dim"}
        for o in report.outcomes:
            table.add_row(o.file, f"[{colours[o.status]}]{o.status}[/]", o.overlay, str(o.services or ""),
                          str(o.unexplained or ""), o.reason)
        console.print(table)
    if report.into_examples:
        console.print(f"{len(report.into_examples)} file(s) written into {report.root}")
    if report.would_change is not None:
        for rel in report.would_change:
            console.print(f"would write {rel}")
        console.print(f"dry run: {len(report.would_change)} file(s) would be written; nothing was")
    s = report.summary()
    summary = Table(title="summary", title_justify="left")
    for key in s:
        summary.add_column(key)
    summary.add_row(*[str(v) for v in s.values()])
    console.print(summary)


def print_check(report) -> None:
    import sys
    if report.diff:
        sys.stdout.write(report.diff)
    for label, files in (("stale", report.stale), ("missing", report.missing), ("extra", report.extra)):
        for f in files:
            print(f"{label}: {f}")
    m = report.migration
    if m is not None and not m.ok:
        for o in m.outcomes:
            if o.status in ("unverified", "rejected"):
                print(f"warning: {o.file}: {o.status}: {o.reason}", file=sys.stderr)
    print("up to date" if report.ok else
          f"out of date: {len(report.stale)} stale, {len(report.missing)} missing, {len(report.extra)} extra")
