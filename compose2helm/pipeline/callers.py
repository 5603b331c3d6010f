"""The common charts' "who calls it" sections, made whole after a migration.

Each conversion lists, in the README of every common chart it writes, who calls that chart in its
umbrella, added to what the README already said. The examples of a migration convert in parallel
workers that write the same common charts, each adding to what it found; so once they are all done
this pass writes each README again with every worker's callers, which makes the result the same
for any number of workers (and for converting the tree in one go or file by file)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from ..chart.docs import parse_callers, with_callers
from ..plan import graph
from ..util.stamp import unstamped
from .output import Staging


def callers_of_results(results: list[Any]) -> dict[str, dict[str, set[str]]]:
    """common chart -> umbrella -> its callers, from a batch's conversion results."""
    out: dict[str, dict[str, set[str]]] = {}
    for r in results:
        plan = getattr(r, "plan", None)
        if plan is None:
            continue
        for component, names in graph.callers_of(plan).items():
            out.setdefault(component, {}).setdefault(plan.chart, set()).update(names)
    return out


def merge_callers(into: dict[str, dict[str, set[str]]], more: dict[str, dict[str, set[str]]]) -> None:
    for component, umbrellas in more.items():
        for umbrella, names in umbrellas.items():
            into.setdefault(component, {}).setdefault(umbrella, set()).update(names)


def write_callers(out: Path, callers: dict[str, dict[str, set[str]]], *, force: bool = False,
                  dry_run: bool = False) -> list[str]:
    """Rewrite the callers section of each common chart README in out with every caller known;
    returns the files that changed (with dry_run: would change)."""
    root = Path(out) / "helm-charts" / "common"
    with Staging(Path(out), force=force) as stage:
        for readme in sorted(root.glob("*/README.md")) if root.is_dir() else []:
            text = unstamped(readme.read_text(encoding="utf-8"))
            listed = parse_callers(text)
            for umbrella, names in callers.get(readme.parent.name, {}).items():
                listed.setdefault(umbrella, set()).update(names)
            listed = {u: c for u, c in listed.items() if (Path(out) / "helm-charts" / u / "Chart.yaml").is_file()}
            new = with_callers(text, listed)
            if new != text:
                stage.write(str(readme.relative_to(out)), new)
        return stage.pending() if dry_run else stage.commit()
