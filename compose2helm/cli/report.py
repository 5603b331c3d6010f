"""Human and machine reports of what a conversion did (convert, verify, check).

Reports go to stdout, warnings to stderr; each ends with its verdict line, which is all that -q
prints. On a terminal tables, elsewhere one line per service, finding or difference (console.py).
"""
from __future__ import annotations

import json
from collections import Counter
from typing import TYPE_CHECKING, Any

from .console import Cell, Printer


if TYPE_CHECKING:   # the stages load with the command that runs them
    from ..pipeline.convert import ConvertResult


QUIET, NORMAL, VERBOSE = 0, 1, 2


def level_of(quiet: bool, verbose: bool) -> int:
    return QUIET if quiet else VERBOSE if verbose else NORMAL


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


def print_warnings(warnings: list[str]) -> None:
    """Warnings on stderr, for the commands whose report (stdout) has no line for them."""
    if warnings:
        err = Printer(err=True)
        for w in warnings:
            err.line(("warning", "yellow"), f": {w}")


def print_convert(result: ConvertResult, level: int = NORMAL) -> None:
    out = Printer()
    if level == QUIET:
        out.line(*_convert_verdict(result))
        return
    plan = result.plan
    per = Counter((f.service, f.action) for f in plan.findings)
    rows = [[i.service, i.component or f"{plan.chart} (umbrella)", i.name if i.component else "(top level)",
             i.rule.file, str(per[(i.service, "changed")] + per[(i.service, "added")]),
             str(per[(i.service, "dropped")])] for i in plan.instances]
    out.table(f"{plan.example} on {plan.overlay_name} -> helm-charts/{plan.chart}",
              ("service", "chart", "values key", "rule", "changed", "dropped"), rows,
              lambda r: f"{r[0]}: chart {r[1]}, values key {r[2]}, rule {r[3]}, {r[4]} changed, {r[5]} dropped")
    if result.env_files:
        out.line("env files: " + ", ".join(str(p) for p in result.env_files))
    if plan.generic:
        out.line((f"no mapping rule for {', '.join(plan.generic)}: charts built from the service", "yellow"))
    for f in plan.findings:
        if f.action == "unresolved":
            out.line(("unresolved", "yellow"), f" {f.service} {f.key}: {f.detail}")
    for w in result.warnings:
        out.line(("warning", "yellow"), f": {w}")
    for chart, msgs in sorted(result.lint.items()):
        for m in msgs:
            if m.severity in ("warning", "error"):
                out.line((f"lint {m.severity}", "red"), f" {chart}: {m.path}: {m.message}")
    if level == VERBOSE:
        for f in plan.findings:
            out.line(f"{f.service} {f.key}: {f.action}: {f.detail} ", (f"({f.rule})", "dim"))
    if result.dry_run:
        for rel in result.changed:
            out.line(f"would write {rel}")
        out.line(f"dry run: {len(result.changed)} file(s) would be written; nothing was")
    else:
        out.line(f"{len(result.changed)} file(s) written; manifests: {result.manifest}")
    if result.gmc:
        out.line(f"GMC: {result.gmc[0]} and {len(result.gmc) - 1} component manifest(s)")
    for problem in result.gmc_problems:
        out.line(("GMConnector schema error", "red"), f" {problem}")
    if result.verification is not None:
        print_verify(result.verification, level, out=out, verdict=False)
    out.line(*_convert_verdict(result))


def _convert_verdict(result: ConvertResult) -> list[Cell]:
    v = result.verification
    errors = len(result.lint_errors) + len(result.gmc_problems) + (v.errors if v else 0)
    if v is None:
        word = ("converted, not verified", "yellow") if result.ok else ("NOT converted cleanly", "red")
        return [word, f": {len(result.plan.instances)} services, {errors} lint errors"]
    return _verdict(result.ok, v, errors)


def _verdict(ok: bool, report, errors: int) -> list[Cell]:
    explained = sum(len(s.explained) for s in report.services)
    unexplained = sum(len(s.unexplained) for s in report.services)
    word = ("verified", "green") if ok else ("NOT verified", "red")
    return [word, f": {len(report.services)} services, {explained} explained and {unexplained} unexplained "
            f"differences, {errors} lint/schema errors"]


def _short(value: Any, width: int | None = 60) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return text if width is None or len(text) <= width else text[: width - 1] + "…"


def print_verify(report, level: int = NORMAL, *, out: Printer | None = None, verdict: bool = True) -> None:
    """Unexplained differences (every difference with -v): a table per service on a terminal, a
    line per difference elsewhere (values whole); then lint and schema messages, then the verdict."""
    out = out or Printer()
    warnings = getattr(report, "warnings", [])
    if level == QUIET:
        if verdict:   # a warning says what the verdict is worth: it stays on the line
            out.line(*_verdict(report.ok, report, report.errors), *[f"; warning: {w}" for w in warnings])
        return
    manifest = getattr(report, "manifest", "")
    if manifest:
        out.line(f"compared {', '.join(report.sources)} with {manifest}")
    for w in warnings:
        out.line(("warning", "yellow"), f": {w}")
    width = 60 if out.rich else None
    for s in report.services:
        rows = [(d, "unexplained") for d in s.unexplained] + \
            ([(d, "explained") for d in s.explained] if level == VERBOSE else [])
        if not rows:
            continue
        cells = [[d.field, _short(d.compose, width), _short(d.kubernetes, width),
                  (verdict_, "red" if verdict_ == "unexplained" else ""), d.rule] for d, verdict_ in rows]
        out.table(f"{s.service} -> {s.workload}" if out.rich else "", ("field", "compose", "kubernetes", "verdict", "rule"), cells,
                  lambda r, s=s: f"{r[3]}: {s.service} -> {s.workload}: {r[0]}: compose {r[1]}, kubernetes {r[2]}"
                                 + (f" ({r[4]})" if r[4] else ""))
    for m in report.lint:
        if m.severity in ("warning", "error"):
            out.line((f"lint {m.severity}", "red" if m.severity == "error" else "yellow"),
                     f" {m.chart}: {m.path}: {m.message}")
    for p in report.schema:
        out.line((f"{p.check} {p.severity}", "red" if p.severity == "error" else "yellow"),
                 f" {p.object} {p.path}: {p.message}")
    if verdict:
        out.line(*_verdict(report.ok, report, report.errors))


def print_check(report, level: int = NORMAL) -> None:
    import sys
    out = Printer()
    if level != QUIET:
        if report.diff:
            sys.stdout.write(report.diff)
        for label, files in (("stale", report.stale), ("missing", report.missing), ("extra", report.extra)):
            for f in files:
                out.line(f"{label}: {f}")
    m = report.migration
    if m is not None and not m.ok:
        print_warnings([f"{o.file}: {o.status}: {o.reason}" for o in m.outcomes
                        if o.status in ("unverified", "rejected")])
    out.line(("up to date", "green") if report.ok else
             ("out of date", "red"), "" if report.ok else
             f": {len(report.stale)} stale, {len(report.missing)} missing, {len(report.extra)} extra")
