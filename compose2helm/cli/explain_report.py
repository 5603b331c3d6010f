"""The explain command's tables for people: per file and service, what became of every compose key,
and the closing counts (pipeline/explain.py builds the explanations and the counts)."""
from __future__ import annotations

from typing import Any

from ..pipeline.explain import summary
from ..plan.explanation import FileExplanation


_COLOURS = {"carried": "green", "changed": "yellow", "dropped": "red", "added": "cyan", "unresolved": "magenta"}


def print_explain(reports: list[FileExplanation], *, show_summary: bool = False, details: bool = True,
                  console=None) -> None:
    from rich.console import Console
    from rich.table import Table

    console = console or Console(highlight=False)
    if details:
        for r in reports:
            if r.status != "explained":
                colour = "red" if r.status == "rejected" else "dim"
                console.print(f"[{colour}]{r.status}[/] {r.file}: {r.reason}")
                continue
            console.print(f"[bold]{r.file}[/] ({r.example} on {r.platform}"
                          + (f"-{r.variant}" if r.variant else "") + ")")
            if r.env_files:
                console.print("env files: " + ", ".join(r.env_files))
            for s in r.services:
                where = s.values_key or "(top level)"
                table = Table(title=f"{s.service} -> {s.chart} [{where}] rule {s.rule}", title_justify="left")
                for col in ("key", "action", "detail", "rule"):
                    table.add_column(col, overflow="fold")
                for k in s.keys:
                    name = k.key if k.in_compose else f"{k.key} (not in compose)"
                    colour = _COLOURS.get(k.action, "")
                    table.add_row(name, f"[{colour}]{k.action}[/]", k.detail, k.rule)
                    for e in k.entries:
                        colour = _COLOURS.get(e.action, "")
                        table.add_row(f"  {e.key}", f"[{colour}]{e.action}[/]", e.detail, e.rule)
                console.print(table)
    if show_summary:
        print_explain_summary(summary(reports), console)


def print_explain_summary(s: dict[str, Any], console=None) -> None:
    from rich.console import Console
    from rich.table import Table

    console = console or Console(highlight=False)
    counts = Table(title="explain summary", title_justify="left")
    scalar = {k: v for k, v in s.items() if isinstance(v, int)}
    for k in scalar:
        counts.add_column(k)
    counts.add_row(*[str(v) for v in scalar.values()])
    console.print(counts)
    console.print("actions: " + ", ".join(f"{a} {n}" for a, n in s["actions"].items()))

    rules = Table(title="services per rule", title_justify="left")
    rules.add_column("rule")
    rules.add_column("services", justify="right")
    for rule, n in s["services_per_rule"].items():
        rules.add_row(rule, str(n))
    console.print(rules)

    if s["generic"]:
        generic = Table(title=f"generic fallbacks ({len(s['generic'])})", title_justify="left")
        for col in ("service", "file", "image", "chart"):
            generic.add_column(col, overflow="fold")
        for g in s["generic"]:
            generic.add_row(g["service"], g["file"], g["image"], g["chart"])
        console.print(generic)
    else:
        console.print("generic fallbacks: none")

    for action in ("dropped", "changed"):
        table = Table(title=f"{action} keys by reason", title_justify="left")
        for col in ("rule", "count", "keys"):
            table.add_column(col, overflow="fold")
        for rule, row in s[action].items():
            table.add_row(rule, str(row["count"]), ", ".join(f"{k} {n}" for k, n in row["keys"].items()))
        console.print(table)
    silent = s["dropped_without_finding"]
    console.print("dropped without a mapping finding (reported by explain): "
                  + (", ".join(f"{k} {n}" for k, n in silent.items()) if silent else "none"))
    for r in s["rejected_files"]:
        console.print(f"[red]rejected[/] {r['file']}: {r['reason']}")
