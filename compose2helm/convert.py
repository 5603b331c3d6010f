"""The library API of `compose2helm convert`: compose file(s) in, charts and manifests out."""
from __future__ import annotations

import re
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .charts import CHART_VERSION, Dependency, common_chart, dependencies_of, overlay, umbrella_chart
from .errors import InputError, VerificationError
from .layout import Placement, discover_env_files, place
from .loader import load_project
from .mapping import plan_project
from .model import ComposeProject
from .names import is_dns_label
from .output import Staging
from .plan import ExamplePlan, nesting
from .privileges import check_opt_ins
from .render import manifest_text, render_chart, start_lints
from .rules import Rule, RuleSet, load_rules
from .stamp import unstamped
from .yamlout import SAFE_LOADER


@dataclass
class ConvertResult:
    plan: ExamplePlan
    placement: Placement
    release: str
    env_files: list[Path]
    changed: list[str]                                   # output files written (relative to out)
    manifest: str                                        # path of the rendered manifest (relative)
    lint: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    verification: Any = None                             # verify.VerifyReport, unless skipped
    gmc: list[str] = field(default_factory=list)         # GMC files written (GMConnector first)
    gmc_problems: list[str] = field(default_factory=list)  # GMConnector against the CRD's schema
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage
    dry_run: bool = False                                # changed lists what would be written

    @property
    def ok(self) -> bool:
        return (not self.lint_errors and not self.gmc_problems
                and (self.verification is None or self.verification.ok))

    @property
    def lint_errors(self) -> list[str]:
        return [f"{chart}: {m['path']}: {m['message']}" for chart, msgs in self.lint.items()
                for m in msgs if m["severity"] == "error"]


@dataclass
class Prepared:
    """A compose file loaded and mapped: what convert writes and verify checks against."""

    placement: Placement
    project: ComposeProject
    plan: ExamplePlan
    rules: RuleSet
    release: str
    env_files: list[Path]
    clock: "Clock" = field(default_factory=lambda: Clock())
    clock: "Clock" = field(default_factory=lambda: Clock())


def prepare(files: list[Path], *, env_files: list[Path] | None = None, example: str | None = None,
            platform: str | None = None, variant: str | None = None, release: str | None = None,
            mappings: list[Path] = (), rules: RuleSet | None = None, strict: bool = False,
            allow: list[str] | tuple[str, ...] | frozenset[str] = (),
            wait_for_dependencies: bool = False) -> Prepared:
    files = [Path(f) for f in files]
    if not files:
        raise InputError("no compose file given")
    allowed = check_opt_ins(allow)
    for f in files:
        if f.is_dir():
            raise InputError("is a directory; give a compose file (migrate converts a tree)", file=f)
        if not f.is_file():
            raise InputError("no such file", file=f)
    placement = place(files[0], example, platform, variant)
    if env_files is None:
        env_files = discover_env_files(files[0], placement.variant, placement.example_dir)
    clock = Clock()
    with clock("parse"):
        project = load_project(files, env_files, strict=strict)
        rules = rules or load_rules(list(mappings))
    sources = [place(f, placement.example, placement.platform, placement.variant).inside for f in files]
    with clock("map"):
        plan = plan_project(project, rules, example=placement.example, chart=placement.chart,
                            platform=placement.platform, variant=placement.variant, sources=sources,
                            allow=allowed, wait_for_dependencies=wait_for_dependencies)
    release = release or plan.chart
    _check_names(plan, release, files[0])
    return Prepared(placement, project, plan, rules, release, list(env_files), clock)


def convert(files: list[Path], out: Path = Path("."), *, env_files: list[Path] | None = None,
            example: str | None = None, platform: str | None = None, variant: str | None = None,
            release: str | None = None, mappings: list[Path] = (), rules: RuleSet | None = None,
            lint: bool = True, verify: bool = True, kube_version: str | None = None,
            chart_version: str = CHART_VERSION, gmc: bool = False,
            gmc_crd: Path | None = None, layout: str = "flat", dry_run: bool = False,
            strict: bool = False, force: bool = False, lint_umbrella: bool = True,
            allow: list[str] | tuple[str, ...] | frozenset[str] = (),
            wait_for_dependencies: bool = False) -> ConvertResult:
    """lint_umbrella=False lints the common charts only: migrate lints each umbrella once, as written."""
    prepared = prepare(files, env_files=env_files, example=example, platform=platform, variant=variant,
                       release=release, mappings=mappings, rules=rules, strict=strict, allow=allow,
                       wait_for_dependencies=wait_for_dependencies)
    placement, project, plan, rules, release = (prepared.placement, prepared.project, prepared.plan,
                                                prepared.rules, prepared.release)
    env_files = prepared.env_files

    out = Path(out)
    umbrella_rel = f"helm-charts/{plan.chart}"
    overlay_file = f"{plan.overlay_name}-values.yaml"
    if layout not in LAYOUTS:
        raise InputError(f"layout must be one of {', '.join(LAYOUTS)}, not {layout!r}")
    nested = nesting(plan) if layout == "nested" else {}
    deps, overlays = _existing_umbrella(out / umbrella_rel)
    deps |= set(dependencies_of(plan, nested))
    overlays[overlay_file] = ", ".join(plan.sources)
    manifest_rel = f"manifests/{plan.example}/{plan.overlay_name}/{plan.chart}.yaml"

    clock = prepared.clock
    with Staging(out, force=force) as stage:
      with clock("charts"):
        charts = _common_charts(plan, rules, nested, layout)
        for component, rule in charts.items():
            for rel, text in common_chart(rule, chart_version, nested=component in nested_parents(plan, nested)
                                          ).items():
                stage.write(f"helm-charts/common/{component}/{rel}", text)
        mega = plan.megaservice()
        # Another platform's overlay may have the megaservice this one lacks: keep its templates.
        mega_rule = mega.rule if mega else (rules.by_component("megaservice")
                                             if (out / umbrella_rel / "templates/deployment.yaml").is_file() else None)
        for rel, text in umbrella_chart(plan, sorted(deps, key=lambda d: d.key), mega_rule, overlays,
                                        chart_version).items():
            stage.write(f"{umbrella_rel}/{rel}", text)
        overlay_text = overlay(plan, mega_rule is not None, nested)
        stage.write(f"{umbrella_rel}/{overlay_file}", overlay_text)
        # Charts of other overlays' components are needed to render: take them from the output.
        for dep in deps:
            rel = f"helm-charts/common/{dep.name}"
            if not stage.path(rel).exists():
                if not (out / rel).is_dir():
                    raise InputError(f"the umbrella chart needs {rel}, which is missing", file=out / umbrella_rel)
                stage.link_in(rel, out / rel)   # to render with only: not output
      lint_report: dict[str, list[dict[str, Any]]] = {}
      with clock("lint"):
        rels = [f"helm-charts/common/{c}" for c in sorted(charts)] + [umbrella_rel] * lint_umbrella if lint else []
        linting = start_lints([stage.path(rel) for rel in rels])   # they run while the umbrella renders
      with clock("render"):
        values = yaml.load(overlay_text, Loader=SAFE_LOADER) or {}
        try:
            docs = render_chart(stage.path(umbrella_rel), values, release)
        except InputError as exc:   # the input was read; what was made of it is wrong
            raise VerificationError(f"{files[0]}: the chart converted from it does not render: {exc.message}") \
                from None
        stage.write(manifest_rel, manifest_text(docs))
        gmc_files = _write_gmc(plan, rules, stage, release) if gmc else []
        gmc_problems = _check_gmc(stage, gmc_files[0], gmc_crd) if gmc and gmc_crd else []
      with clock("lint"):
        lint_report.update(zip(rels, linting.result()))
      verification = None
      if verify:
        from .render import is_test_hook
        from .verify import VerifyReport, structural, verify_objects
        objects = [d.obj for d in docs if not is_test_hook(d)]
        with clock("schema"):
            schema = structural(objects, kube_version)
        with clock("verify"):
            verification = VerifyReport(verify_objects(prepared, objects), schema=schema,
                                        lint=[{"chart": c, **m} for c, msgs in sorted(lint_report.items())
                                              for m in msgs])
      with clock("write"):
        changed = stage.pending() if dry_run else stage.commit()
    return ConvertResult(plan, placement, release, list(env_files), changed, manifest_rel, lint_report,
                         list(project.warnings), verification, gmc_files, gmc_problems, dict(clock.seconds),
                         dry_run)


class Clock:
    """Seconds spent per stage (the benchmark's breakdown)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def __call__(self, stage: str):
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[stage] = self.seconds.get(stage, 0.0) + time.perf_counter() - start


LAYOUTS = ("flat", "nested")


def nested_parents(plan: ExamplePlan, nested: dict[str, list]) -> set[str]:
    """Components whose charts carry engines (nested layout)."""
    return {i.component for i in plan.components() if i.name in nested}


def _common_charts(plan: ExamplePlan, rules: RuleSet, nested: dict[str, list], layout: str) -> dict[str, Rule]:
    """component -> rule of every common chart this conversion writes."""
    charts = {i.component: i.rule for i in plan.components()}
    if layout == "nested":   # a nesting chart depends on all its engines' charts, used or not
        for inst in plan.components():
            if inst.name in nested:
                for engine in inst.rule.nests:
                    rule = rules.by_component(engine)
                    if rule is not None:
                        charts.setdefault(engine, rule)
    return dict(sorted(charts.items()))


def _write_gmc(plan: ExamplePlan, rules: RuleSet, stage: Staging, release: str) -> list[str]:
    """manifests/<Example>/<overlay>/gmc/: the GMConnector, then one manifest per component."""
    from . import gmc
    from .yamlout import dump
    base = f"manifests/{plan.example}/{plan.overlay_name}/gmc"
    written = [f"{base}/{plan.chart}_{plan.overlay_name}.yaml"]
    stage.write(written[0], dump(gmc.connector(plan, rules.policy)))
    for inst in plan.components():
        docs = render_chart(stage.path(f"helm-charts/common/{inst.component}"), gmc.component_values(inst),
                            gmc.service_name(inst))
        rel = f"{base}/{gmc.service_name(inst)}.yaml"
        stage.write(rel, manifest_text(docs))
        written.append(rel)
    return written


def _check_gmc(stage: Staging, rel: str, crd: Path) -> list[str]:
    from . import gmc
    return gmc.validate(yaml.safe_load(stage.files[rel]), gmc.crd_schema(crd))


def _existing_umbrella(chart_dir: Path) -> tuple[set[Dependency], dict[str, str]]:
    """Dependencies and overlays an earlier conversion of another platform left in the umbrella."""
    deps: set[Dependency] = set()
    overlays: dict[str, str] = {}
    meta_file = chart_dir / "Chart.yaml"
    if meta_file.is_file():
        try:
            meta = yaml.load(meta_file.read_text(encoding="utf-8"), Loader=SAFE_LOADER) or {}
        except yaml.YAMLError:
            raise InputError("existing chart metadata is not valid YAML", file=meta_file) from None
        for d in meta.get("dependencies") or []:
            deps.add(Dependency(str(d["name"]), str(d.get("alias") or "")))
    for f in sorted(chart_dir.glob("*-values.yaml")):
        first = unstamped(f.read_text(encoding="utf-8")).split("\n", 1)[0]
        m = re.search(r"values converted from (.+)\.$", first)
        overlays[f.name] = m.group(1) if m else "an earlier conversion"
    return deps, overlays


def _check_names(plan: ExamplePlan, release: str, file: Path) -> None:
    if not is_dns_label(release) or not release[0].isalpha() or len(release) > 53:
        raise InputError(f"release name {release!r} is not a DNS-1123 label of at most 53 characters", file=file)
    for inst in plan.instances:
        name = release if inst.is_megaservice else f"{release}-{inst.name}"
        if not is_dns_label(name):
            raise InputError(f"object name {name!r} is not a DNS-1123 label of at most 63 characters",
                             file=file, service=inst.service)
