"""What earlier conversions left in an umbrella chart: its dependencies, overlays, whether it has
a megaservice, and the README sections drawn per overlay (diagrams, variables). A conversion of
one file rebuilds the umbrella for all its overlays, so it reads these back."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ..chart.charts import Dependency
from ..chart.docs import parse_callers
from ..errors import InputError
from ..util.stamp import unstamped
from ..yamlout import SAFE_LOADER


@dataclass
class Earlier:
    deps: set[Dependency] = field(default_factory=set)
    overlays: dict[str, str] = field(default_factory=dict)     # overlay file -> the compose file it came from
    megaservice: bool = False
    diagrams: dict[str, str] = field(default_factory=dict)     # overlay file -> its mermaid diagram
    variables: dict[str, str] = field(default_factory=dict)    # overlay file -> its variables table


def existing_umbrella(chart_dir: Path) -> Earlier:
    """The umbrella as earlier conversions of other platforms left it (empty when there is none)."""
    deps: set[Dependency] = set()
    overlays: dict[str, str] = {}
    meta_file = chart_dir / "Chart.yaml"
    if meta_file.is_file():
        try:
            meta = yaml.load(meta_file.read_text(encoding="utf-8"), Loader=SAFE_LOADER) or {}
        except yaml.YAMLError:
            raise InputError("existing chart metadata is not valid YAML", file=meta_file) from None
        listed = meta.get("dependencies") if isinstance(meta, dict) else None
        for d in listed or []:
            if not isinstance(d, dict) or not d.get("name"):
                raise InputError("existing chart metadata lists a dependency without a name", file=meta_file)
            deps.add(Dependency(str(d["name"]), str(d.get("alias") or "")))
    for f in sorted(chart_dir.glob("*-values.yaml")):
        first = unstamped(f.read_text(encoding="utf-8")).split("\n", 1)[0]
        m = re.search(r"values converted from (.+)\.$", first)
        overlays[f.name] = m.group(1) if m else "an earlier conversion"
    readme = chart_dir / "README.md"
    text = unstamped(readme.read_text(encoding="utf-8")) if readme.is_file() else ""
    # Our own README: each section follows a marker naming its overlay (umbrella-README.md.j2).
    diagrams = {m.group(1): m.group(2) for m in
                re.finditer(r"<!-- diagram of (\S+) -->\n```mermaid\n(.*?)```\n", text, re.S)}
    variables = {m.group(1): m.group(2) for m in
                 re.finditer(r"<!-- variables of (\S+) -->\n(.*?\n)\n", text, re.S)}
    return Earlier(deps, overlays, (chart_dir / "templates/deployment.yaml").is_file(), diagrams, variables)


def earlier_callers(out: Path, component: str) -> dict[str, set[str]]:
    """Who calls a common chart, as its README in out says, for the umbrellas still in out. A
    conversion adds its own to these (an umbrella's other overlays were converted earlier), so
    the list only grows; converting a tree from scratch gives exactly what the tree has."""
    readme = out / "helm-charts" / "common" / component / "README.md"
    if not readme.is_file():
        return {}
    found = parse_callers(readme.read_text(encoding="utf-8"))
    return {u: c for u, c in found.items() if (out / "helm-charts" / u / "Chart.yaml").is_file()}
