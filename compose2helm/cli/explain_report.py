"""The explain command's report for people: per file and service, what became of every compose key,
and the closing counts (pipeline/explain.py builds the explanations and the counts). A table per
service on a terminal; elsewhere one line per key (`<service> <key>: <action>: <detail> (<rule>)`)."""
from __future__ import annotations

from typing import Any

from ..pipeline.explain import summary
from ..plan.explanation import FileExplanation
from .console import Printer


_COLOURS = {"carried": "green", "changed": "yellow", "dropped": "red", "added": "cyan", "unresolved": "magenta"}

# What each action counts, said where the counts are printed.
ACTIONS = {
    "carried": "carried as it is",
    "changed": "carried in another form",
    "dropped": "not carried",
    "added": "not in compose, added by the conversion: the rule's probes and ports",
    "unresolved": "addresses that name no service or port of the file, left as written",
}


def print_explain(reports: list[FileExplanation], *, show_summary: bool = False, details: bool = True,
                  out: Printer | None = None) -> None:
    out = out or Printer()
    if details:
        for r in reports:
            if r.status != "explained":
                out.line((r.status, "red" if r.status == "rejected" else "dim"), f" {r.file}: {r.reason}")
                continue
            out.line((r.file, "bold"), f" ({r.example} on {r.platform}" + (f"-{r.variant}" if r.variant else "") + ")")
            if r.env_files:
                out.line("env files: " + ", ".join(r.env_files))
            for s in r.services:
                rows = []
                for k in s.keys:
                    name = k.key if k.in_compose else f"{k.key} (not in compose)"
                    rows.append([name, (k.action, _COLOURS.get(k.action, "")), k.detail, k.rule])
                    rows += [[f"  {e.key}", (e.action, _COLOURS.get(e.action, "")), e.detail, e.rule]
                             for e in k.entries]
                out.table(f"{s.service} -> {s.chart} [{s.values_key or '(top level)'}] rule {s.rule}",
                          ("key", "action", "detail", "rule"), rows,
                          lambda row, s=s: f"{s.service} {row[0].strip()}: {row[1]}: {row[2]} ({row[3]})")
    if show_summary:
        print_explain_summary(summary(reports), out)


def print_explain_summary(s: dict[str, Any], out: Printer | None = None) -> None:
    out = out or Printer()
    scalar = {k: v for k, v in s.items() if isinstance(v, int)}
    out.line(("explain summary", "bold"), ": " + ", ".join(f"{k} {v}" for k, v in scalar.items()))
    out.line("actions over every compose key and entry: "
             + ", ".join(f"{a} {n} ({ACTIONS.get(a, a)})" for a, n in s["actions"].items()))

    rules = [[rule, str(n)] for rule, n in s["services_per_rule"].items()]
    if out.rich:
        out.table("services per rule", ("rule", "services"), rules, lambda r: "")
    else:
        out.line("services per rule: " + ", ".join(f"{rule} {n}" for rule, n in rules))

    if s["generic"]:
        out.table(f"generic fallbacks ({len(s['generic'])})", ("service", "file", "image", "chart"),
                  [[g["service"], g["file"], g["image"], g["chart"]] for g in s["generic"]],
                  lambda r: f"generic fallback: {r[0]} in {r[1]}: image {r[2]}, chart {r[3]}")
    else:
        out.line("generic fallbacks: none")

    for action in ("dropped", "changed"):
        out.table(f"{action} keys by reason", ("rule", "count", "keys"),
                  [[rule, str(row["count"]), ", ".join(f"{k} {n}" for k, n in row["keys"].items())]
                   for rule, row in s[action].items()],
                  lambda r, action=action: f"{action}: {r[0]} {r[1]} ({r[2]})")
    silent = s["dropped_without_finding"]
    out.line("dropped without a mapping finding (reported by explain): "
             + (", ".join(f"{k} {n}" for k, n in silent.items()) if silent else "none"))
    for r in s["rejected_files"]:
        out.line(("rejected", "red"), f" {r['file']}: {r['reason']}")
