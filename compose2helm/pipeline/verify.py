"""`compose2helm verify`: a compose file prepared again and compared with manifests already rendered."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..plan.prepare import prepare
from ..verify.check import VerifyReport, lint_charts, load_manifests, structural, verify_objects
from .umbrella import overlay_file


@dataclass
class ManifestReport(VerifyReport):
    """A VerifyReport that also says which manifest was compared, and what about it looks wrong."""

    manifest: str = ""                                      # the manifest file or directory compared
    sources: list[str] = field(default_factory=list)        # the compose files, as inside their example
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {**super().as_dict(), "manifest": self.manifest, "sources": self.sources, "warnings": self.warnings}


def verify(files: list[Path], *, manifests: Path | None = None, out: Path = Path("."),
           env_files: list[Path] | None = None, example: str | None = None, platform: str | None = None,
           variant: str | None = None, release: str | None = None, mappings: list[Path] = (),
           kube_version: str | None = None, lint: bool = True, strict: bool = False,
           allow: list[str] | tuple[str, ...] = (), wait_for_dependencies: bool = False) -> ManifestReport:
    prepared = prepare(files, env_files=env_files, example=example, platform=platform, variant=variant,
                       release=release, mappings=mappings, strict=strict, allow=allow,
                       wait_for_dependencies=wait_for_dependencies)
    plan = prepared.plan
    path = Path(manifests) if manifests else Path(out) / "manifests" / plan.example / plan.overlay_name
    objects = load_manifests(path)
    report = ManifestReport(verify_objects(prepared, objects), schema=structural(objects, kube_version),
                            manifest=str(path), sources=list(plan.sources))
    if not manifests:
        # The manifest was found by example and overlay name: another compose file (another
        # layout or version of the example) may convert to the same name. Its overlay says which.
        values = Path(out) / "helm-charts" / plan.chart / overlay_file(plan)
        converted_from = overlay_sources(values)
        if converted_from is not None and converted_from != list(plan.sources):
            report.warnings.append(
                f"{path} was converted from {', '.join(converted_from)} (as {values} says), not from "
                f"{', '.join(plan.sources)}: the comparison may not mean much; convert this file with "
                "--out, or name its manifest with --manifests")
    if lint:
        report.lint = lint_charts(Path(out) / "helm-charts", prepared)
    return report


_CONVERTED_FROM = re.compile(r"^# .* values converted from (.+)\.$")


def overlay_sources(values_file: Path) -> list[str] | None:
    """The compose files an overlay's header names (`# <Ex> on <overlay>: values converted from
    a, b.`), or None when there is no such file or header."""
    try:
        with open(values_file, encoding="utf-8") as f:
            head = [f.readline() for _ in range(3)]
    except (OSError, UnicodeDecodeError):
        return None
    for line in head:
        m = _CONVERTED_FROM.match(line.rstrip("\n"))
        if m:
            return m.group(1).split(", ")
    return None
