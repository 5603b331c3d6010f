"""`compose2helm verify`: a compose file prepared again and compared with manifests already rendered."""
from __future__ import annotations

from pathlib import Path

from ..plan.prepare import prepare
from ..verify.check import VerifyReport, lint_charts, load_manifests, structural, verify_objects


def verify(files: list[Path], *, manifests: Path | None = None, out: Path = Path("."),
           env_files: list[Path] | None = None, example: str | None = None, platform: str | None = None,
           variant: str | None = None, release: str | None = None, mappings: list[Path] = (),
           kube_version: str | None = None, lint: bool = True, strict: bool = False,
           allow: list[str] | tuple[str, ...] = (), wait_for_dependencies: bool = False) -> VerifyReport:
    prepared = prepare(files, env_files=env_files, example=example, platform=platform, variant=variant,
                       release=release, mappings=mappings, strict=strict, allow=allow,
                       wait_for_dependencies=wait_for_dependencies)
    plan = prepared.plan
    path = Path(manifests) if manifests else Path(out) / "manifests" / plan.example / plan.overlay_name
    objects = load_manifests(path)
    report = VerifyReport(verify_objects(prepared, objects), schema=structural(objects, kube_version))
    if lint:
        report.lint = lint_charts(Path(out) / "helm-charts", prepared)
    return report
