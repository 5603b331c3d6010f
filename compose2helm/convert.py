"""The library API of `compose2helm convert`: compose file(s) in, charts and manifests out."""
from __future__ import annotations

import re
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .charts import (CHART_VERSION, RENDERED_KINDS, Dependency, common_chart, dependencies_of, overlay,
                     umbrella_chart)
from .errors import InputError, VerificationError
from .k8scheck import prepare_schemas
from .layout import Placement, discover_env_files, place
from .loader import load_project
from .mapping import plan_project
from .model import ComposeProject
from .names import is_dns_label
from .output import Staging
from .plan import ExamplePlan, nesting
from .privileges import check_opt_ins
from .render import manifest_text, preload as preload_helm, render_chart, start_lints
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
    files: list[Path] = field(default_factory=list)
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
    return Prepared(placement, project, plan, rules, release, list(env_files), files, clock)


def convert(files: list[Path], out: Path = Path("."), *, variant: str | None = None, **options: Any) -> ConvertResult:
    """Convert one compose file (with the files merged on top of it) into the output tree.

    Options are convert_many's; raises the InputError or VerificationError it would report."""
    [result] = convert_many([Source(tuple(Path(f) for f in files), variant)], out, **options)
    if isinstance(result, Exception):
        raise result
    return result


@dataclass(frozen=True)
class Source:
    """One conversion of a batch: its compose files (the base first) and the variant they make."""

    files: tuple[Path, ...]
    variant: str | None = None


@dataclass
class _Options:
    out: Path
    lint: bool
    verify: bool
    kube_version: str | None
    chart_version: str
    gmc: bool
    gmc_crd: Path | None
    layout: str


def convert_many(sources: list[Source], out: Path = Path("."), *, env_files: list[Path] | None = None,
                 example: str | None = None, platform: str | None = None, release: str | None = None,
                 mappings: list[Path] = (), rules: RuleSet | None = None, lint: bool = True, verify: bool = True,
                 kube_version: str | None = None, chart_version: str = CHART_VERSION, gmc: bool = False,
                 gmc_crd: Path | None = None, layout: str = "flat", dry_run: bool = False, strict: bool = False,
                 force: bool = False, allow: list[str] | tuple[str, ...] | frozenset[str] = (),
                 wait_for_dependencies: bool = False) -> list[ConvertResult | InputError | VerificationError]:
    """Convert several compose files, each into its overlay and manifest, in one output commit.

    Files of one example share its umbrella chart: it is built once, from all of them (and
    what earlier conversions left in it), and every overlay renders against that final
    umbrella, so each committed manifest is what `helm template` gives with its overlay. A
    file's result is its ConvertResult, or the error that stopped it; one file's error does
    not stop the others, but nothing is written when the output cannot take all of them."""
    if layout not in LAYOUTS:
        raise InputError(f"layout must be one of {', '.join(LAYOUTS)}, not {layout!r}")
    preload_helm()   # while the compose files are read
    results: list[Any] = [None] * len(sources)
    prepared: dict[int, Prepared] = {}
    for i, src in enumerate(sources):
        try:
            prepared[i] = prepare(list(src.files), env_files=env_files, example=example, platform=platform,
                                  variant=src.variant, release=release, mappings=mappings, rules=rules,
                                  strict=strict, allow=allow, wait_for_dependencies=wait_for_dependencies)
        except Exception as exc:  # noqa: BLE001 - reported as this file's result; convert() raises it
            results[i] = exc
            continue
        rules = prepared[i].rules   # the mapping rules are read once per batch
    if not prepared:
        return results
    opts = _Options(Path(out), lint, verify, kube_version, chart_version, gmc, gmc_crd, layout)
    groups: dict[str, list[int]] = {}
    for i, p in prepared.items():
        groups.setdefault(p.plan.chart, []).append(i)
    built: dict[int, _Built] = {}
    try:
        with Staging(opts.out, force=force) as stage:
            for members in groups.values():
                built.update(_convert_umbrella(stage, members, prepared, results, opts))
            with prepared[max(built or prepared)].clock("write"):
                changed = stage.pending() if dry_run else stage.commit()
    except InputError as exc:   # the output cannot take them: none is written
        return [r if r is not None else exc for r in results]
    for i, b in built.items():
        p = prepared[i]
        mine = set(b.rels)
        results[i] = ConvertResult(p.plan, p.placement, p.release, list(p.env_files),
                                   [rel for rel in changed if rel in mine], b.manifest, b.lint,
                                   list(p.project.warnings), b.verification, b.gmc, b.gmc_problems,
                                   dict(p.clock.seconds), dry_run)
    return results


@dataclass
class _Built:
    """What one file's conversion staged and found, until the batch is committed."""

    rels: list[str]
    manifest: str
    lint: dict[str, list[dict[str, Any]]]
    verification: Any
    gmc: list[str]
    gmc_problems: list[str]


def _convert_umbrella(stage: Staging, members: list[int], prepared: dict[int, Prepared], results: list[Any],
                      opts: _Options) -> dict[int, _Built]:
    """Stage one umbrella chart, its common charts, and the overlay and manifest of each member.

    A member whose overlay does not render gets a VerificationError and the umbrella is built
    again without it (its deps, overlay table and megaservice would otherwise be staged)."""
    chart = prepared[members[0]].plan.chart
    umbrella_rel = f"helm-charts/{chart}"
    nested = {i: nesting(prepared[i].plan) if opts.layout == "nested" else {} for i in members}
    earlier_deps, earlier_overlays = _existing_umbrella(opts.out / umbrella_rel)
    # Another platform's overlay may have the megaservice these lack: keep its templates.
    earlier_megaservice = (opts.out / umbrella_rel / "templates/deployment.yaml").is_file()
    while True:
        live = [i for i in members if results[i] is None]
        if not live:
            return {}
        last = prepared[live[-1]]    # the umbrella's metadata follows the last file, as if converted in turn
        shared = last.clock          # the stages done once for all are timed on it
        rules = last.rules
        before = set(stage.files)
        deps, overlays = set(earlier_deps), dict(earlier_overlays)
        charts: dict[str, tuple[Rule, bool]] = {}
        job_charts: dict[int, list[str]] = {}
        for i in live:
            plan = prepared[i].plan
            deps |= set(dependencies_of(plan, nested[i]))
            overlays[_overlay_file(plan)] = ", ".join(plan.sources)
            parents = nested_parents(plan, nested[i])
            own = _common_charts(plan, rules, nested[i], opts.layout)
            job_charts[i] = list(own)
            for component, rule in own.items():   # as in turn: the last file to use a chart writes it
                charts[component] = (rule, component in parents)
        with shared("charts"):
            chart_rels: dict[str, list[str]] = {}
            for component, (rule, is_parent) in sorted(charts.items()):
                for rel, text in common_chart(rule, opts.chart_version, nested=is_parent).items():
                    chart_rels.setdefault(component, []).append(f"helm-charts/common/{component}/{rel}")
                    stage.write(chart_rels[component][-1], text)
        lint_rels = [f"helm-charts/common/{c}" for c in sorted(charts)] if opts.lint else []
        with shared("lint"):   # the engine lints them in threads while the umbrella is built
            lints = [start_lints([stage.path(rel) for rel in lint_rels])]
        with shared("charts"):
            mega = last.plan.megaservice()
            has_mega = earlier_megaservice or any(prepared[i].plan.megaservice() for i in live)
            mega_rule = mega.rule if mega else (rules.by_component("megaservice") if has_mega else None)
            umbrella_rels = []
            for rel, text in umbrella_chart(last.plan, sorted(deps, key=lambda d: d.key), mega_rule, overlays,
                                            opts.chart_version).items():
                stage.write(f"{umbrella_rel}/{rel}", text)
                umbrella_rels.append(f"{umbrella_rel}/{rel}")
            overlay_texts = {}
            for i in live:
                overlay_texts[i] = overlay(prepared[i].plan, mega_rule is not None, nested[i])
                stage.write(f"{umbrella_rel}/{_overlay_file(prepared[i].plan)}", overlay_texts[i])
            # Charts of other overlays' components are needed to render: take them from the output.
            for dep in deps:
                rel = f"helm-charts/common/{dep.name}"
                if not stage.path(rel).exists():
                    if not (opts.out / rel).is_dir():
                        raise InputError(f"the umbrella chart needs {rel}, which is missing",
                                         file=opts.out / umbrella_rel)
                    stage.link_in(rel, opts.out / rel)   # to render with only: not output
        if opts.lint:
            with shared("lint"):
                lints.append(start_lints([stage.path(umbrella_rel)]))
                lint_rels.append(umbrella_rel)
        built: dict[int, _Built] = {}
        checks: dict[int, tuple[Any, Any]] = {}
        failed = False
        # One thread renders the overlays in turn (the engine works outside the GIL) while this
        # one loads the schemas, then checks each rendered overlay as the next one renders.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="c2h-render") as pool:
            futures = {i: pool.submit(_render_overlay, stage.path(umbrella_rel), overlay_texts[i], prepared[i].release)
                       for i in live}
            if opts.verify:
                prepare_schemas(RENDERED_KINDS, opts.kube_version)
            for i in live:
                p = prepared[i]
                try:
                    docs, seconds = futures[i].result()
                    p.clock.seconds["render"] = p.clock.seconds.get("render", 0.0) + seconds
                except InputError as exc:   # the input was read; what was made of it is wrong
                    results[i] = VerificationError(f"{p.files[0]}: the chart converted from it does not render: "
                                                   f"{exc.message}")
                    failed = True
                if failed:   # the umbrella is built again without it: what follows would be redone
                    continue
                with p.clock("render"):
                    manifest_rel = f"manifests/{p.plan.example}/{p.plan.overlay_name}/{p.plan.chart}.yaml"
                    stage.write(manifest_rel, manifest_text(docs))
                    gmc_files = _write_gmc(p.plan, rules, stage, p.release) if opts.gmc else []
                    gmc_problems = (_check_gmc(stage, gmc_files[0], opts.gmc_crd) if opts.gmc and opts.gmc_crd
                                    else [])
                rels = ([rel for c in job_charts[i] for rel in chart_rels[c]] + umbrella_rels
                        + [f"{umbrella_rel}/{_overlay_file(p.plan)}", manifest_rel] + gmc_files)
                built[i] = _Built(rels, manifest_rel, {}, None, gmc_files, gmc_problems)
                if opts.verify:
                    checks[i] = _checks(p, docs, opts.kube_version)
        with shared("lint"):
            linted = dict(zip(lint_rels, [r for linting in lints for r in linting.result()]))
        if failed:
            stage.discard(set(stage.files) - before)
            continue
        for i in live:
            b = built[i]
            mine = [f"helm-charts/common/{c}" for c in sorted(job_charts[i])] + [umbrella_rel]
            b.lint = {rel: linted[rel] for rel in mine if rel in linted}
            if opts.verify:
                from .verify import VerifyReport
                b.verification = VerifyReport(checks[i][0], schema=checks[i][1],
                                              lint=[{"chart": c, **m} for c, msgs in sorted(b.lint.items())
                                                    for m in msgs])
        return built


def _render_overlay(umbrella: Path, overlay_text: str, release: str) -> tuple[list, float]:
    """The umbrella rendered with one overlay's values, and the seconds that took."""
    start = time.perf_counter()
    values = yaml.load(overlay_text, Loader=SAFE_LOADER) or {}
    return render_chart(umbrella, values, release), time.perf_counter() - start


def _overlay_file(plan: ExamplePlan) -> str:
    return f"{plan.overlay_name}-values.yaml"


def _checks(prepared: Prepared, docs: list, kube_version: str | None) -> tuple[Any, Any]:
    """What verification finds in one rendered overlay: per-service comparisons, schema problems."""
    from .render import is_test_hook
    from .verify import structural, verify_objects
    objects = [d.obj for d in docs if not is_test_hook(d)]
    with prepared.clock("schema"):
        schema = structural(objects, kube_version)
    with prepared.clock("verify"):
        return verify_objects(prepared, objects), schema


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
