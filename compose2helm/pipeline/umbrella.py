"""One example's umbrella chart, built from every file converted into it, and each file's overlay
rendered against it (convert_many's work for one chart).

The umbrella is built once from all the files (and what earlier conversions left in it), so
every committed manifest is what `helm template` gives with its overlay and the final chart.
"""
from __future__ import annotations

import re
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from ..chart.charts import RENDERED_KINDS, Dependency, common_chart, dependencies_of, overlay, umbrella_chart
from ..errors import InputError, VerificationError
from ..verify.k8scheck import prepare_schemas
from .output import Staging
from ..plan.plan import ExamplePlan, nesting
from ..helm.render import Linting, manifest_text, render_chart, start_lints
from ..plan.rules import Rule, RuleSet
from ..util.stamp import unstamped
from ..yamlout import SAFE_LOADER

if TYPE_CHECKING:
    from ..plan.prepare import Prepared

LAYOUTS = ("flat", "nested")


@dataclass
class Options:
    out: Path
    lint: bool
    verify: bool
    kube_version: str | None
    chart_version: str
    gmc: bool
    gmc_crd: Path | None
    layout: str


@dataclass
class Built:
    """What one file's conversion staged and found, until the batch is committed."""

    rels: list[str]
    manifest: str
    lint: dict[str, list[dict[str, Any]]]
    verification: Any
    gmc: list[str]
    gmc_problems: list[str]


@dataclass
class _Staged:
    """The charts one attempt staged, what of them each member uses, and the lints under way."""

    umbrella: str                         # helm-charts/<chart>
    umbrella_files: list[str]
    chart_files: dict[str, list[str]]     # component -> its common chart's files
    charts_of: dict[int, list[str]]       # member -> the components of its common charts
    overlays: dict[int, str]              # member -> its overlay's text
    lint_charts: list[str]
    lints: list[Linting]


def convert_umbrella(stage: Staging, members: list[int], prepared: dict[int, "Prepared"], results: list[Any],
                     opts: Options) -> dict[int, Built]:
    """Stage one umbrella chart, its common charts, and the overlay and manifest of each member.

    A member whose overlay does not render gets a VerificationError in results and the umbrella
    is built again without it (its deps, overlay table and megaservice would otherwise stay)."""
    umbrella = f"helm-charts/{prepared[members[0]].plan.chart}"
    nested = {i: nesting(prepared[i].plan) if opts.layout == "nested" else {} for i in members}
    earlier = _existing_umbrella(opts.out / umbrella)
    while True:
        live = [i for i in members if results[i] is None]
        if not live:
            return {}
        before = set(stage.files)
        staged = _stage(stage, umbrella, live, prepared, nested, earlier, opts)
        built, checks = _render_and_check(stage, staged, live, prepared, results, opts)
        shared = prepared[live[-1]].clock
        with shared("lint"):
            linted = dict(zip(staged.lint_charts, [r for linting in staged.lints for r in linting.result()]))
        if len(built) < len(live):
            stage.discard(set(stage.files) - before)
            continue
        from ..verify.check import VerifyReport
        for i, b in built.items():
            mine = [f"helm-charts/common/{c}" for c in sorted(staged.charts_of[i])] + [umbrella]
            b.lint = {rel: linted[rel] for rel in mine if rel in linted}
            if opts.verify:
                b.verification = VerifyReport(checks[i][0], schema=checks[i][1],
                                              lint=[{"chart": c, **m} for c, msgs in sorted(b.lint.items())
                                                    for m in msgs])
        return built


def _stage(stage: Staging, umbrella: str, live: list[int], prepared: dict[int, "Prepared"],
           nested: dict[int, dict], earlier: tuple[set[Dependency], dict[str, str], bool],
           opts: Options) -> _Staged:
    """Stage the common charts, the umbrella and the overlays; start linting as each is ready."""
    last = prepared[live[-1]]    # the umbrella's metadata follows the last file, as if converted in turn
    shared = last.clock          # the stages done once for all are timed on it
    rules = last.rules
    earlier_deps, earlier_overlays, earlier_megaservice = earlier
    deps, overlays = set(earlier_deps), dict(earlier_overlays)
    charts: dict[str, tuple[Rule, bool]] = {}
    charts_of: dict[int, list[str]] = {}
    for i in live:
        plan = prepared[i].plan
        deps |= set(dependencies_of(plan, nested[i]))
        overlays[overlay_file(plan)] = ", ".join(plan.sources)
        parents = nested_parents(plan, nested[i])
        own = common_charts(plan, rules, nested[i], opts.layout)
        charts_of[i] = list(own)
        for component, rule in own.items():   # as in turn: the last file to use a chart writes it
            charts[component] = (rule, component in parents)
    with shared("charts"):
        chart_files: dict[str, list[str]] = {}
        for component, (rule, is_parent) in sorted(charts.items()):
            for rel, text in common_chart(rule, opts.chart_version, nested=is_parent).items():
                chart_files.setdefault(component, []).append(f"helm-charts/common/{component}/{rel}")
                stage.write(chart_files[component][-1], text)
    lint_charts = [f"helm-charts/common/{c}" for c in sorted(charts)] if opts.lint else []
    with shared("lint"):   # the engine lints them in threads while the umbrella is built
        lints = [start_lints([stage.path(rel) for rel in lint_charts])]
    with shared("charts"):
        mega = last.plan.megaservice()
        # Another platform's overlay may have the megaservice these lack: keep its templates.
        has_mega = earlier_megaservice or any(prepared[i].plan.megaservice() for i in live)
        mega_rule = mega.rule if mega else (rules.by_component("megaservice") if has_mega else None)
        umbrella_files = []
        for rel, text in umbrella_chart(last.plan, sorted(deps, key=lambda d: d.key), mega_rule, overlays,
                                        opts.chart_version).items():
            umbrella_files.append(f"{umbrella}/{rel}")
            stage.write(umbrella_files[-1], text)
        texts = {}
        for i in live:
            texts[i] = overlay(prepared[i].plan, mega_rule is not None, nested[i])
            stage.write(f"{umbrella}/{overlay_file(prepared[i].plan)}", texts[i])
        # Charts of other overlays' components are needed to render: take them from the output.
        for dep in deps:
            rel = f"helm-charts/common/{dep.name}"
            if not stage.path(rel).exists():
                if not (opts.out / rel).is_dir():
                    raise InputError(f"the umbrella chart needs {rel}, which is missing", file=opts.out / umbrella)
                stage.link_in(rel, opts.out / rel)   # to render with only: not output
    if opts.lint:
        with shared("lint"):
            lints.append(start_lints([stage.path(umbrella)]))
            lint_charts.append(umbrella)
    return _Staged(umbrella, umbrella_files, chart_files, charts_of, texts, lint_charts, lints)


def _render_and_check(stage: Staging, staged: _Staged, live: list[int], prepared: dict[int, "Prepared"],
                      results: list[Any], opts: Options) -> tuple[dict[int, Built], dict[int, tuple[Any, Any]]]:
    """Render each member's overlay, stage its manifest and check it. A member that does not
    render gets its error in results; the members after it are then only rendered."""
    built: dict[int, Built] = {}
    checks: dict[int, tuple[Any, Any]] = {}
    # One thread renders the overlays in turn (the engine works outside the GIL) while this
    # one loads the schemas, then checks each rendered overlay as the next one renders.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="c2h-render") as pool:
        futures = {i: pool.submit(_render_overlay, stage.path(staged.umbrella), staged.overlays[i],
                                  prepared[i].release) for i in live}
        try:
            if opts.verify:
                prepare_schemas(RENDERED_KINDS, opts.kube_version)
            failed = False
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
                built[i] = _stage_manifest(stage, staged, i, p, docs, opts)
                if opts.verify:
                    checks[i] = _checks(p, docs, opts.kube_version)
        except BaseException:   # e.g. Ctrl-C: do not wait for the renders still queued
            for future in futures.values():
                future.cancel()
            raise
    return built, checks


def _stage_manifest(stage: Staging, staged: _Staged, i: int, p: "Prepared", docs: list, opts: Options) -> Built:
    """A member's manifest (and GMC files) staged: what it wrote, all told."""
    with p.clock("render"):
        manifest = f"manifests/{p.plan.example}/{p.plan.overlay_name}/{p.plan.chart}.yaml"
        stage.write(manifest, manifest_text(docs))
        gmc_files = _write_gmc(p.plan, p.rules, stage, p.release) if opts.gmc else []
        gmc_problems = _check_gmc(stage, gmc_files[0], opts.gmc_crd) if opts.gmc and opts.gmc_crd else []
    rels = ([rel for c in staged.charts_of[i] for rel in staged.chart_files[c]] + staged.umbrella_files
            + [f"{staged.umbrella}/{overlay_file(p.plan)}", manifest] + gmc_files)
    return Built(rels, manifest, {}, None, gmc_files, gmc_problems)


def _render_overlay(umbrella: Path, overlay_text: str, release: str) -> tuple[list, float]:
    """The umbrella rendered with one overlay's values, and the seconds that took."""
    start = time.perf_counter()
    values = yaml.load(overlay_text, Loader=SAFE_LOADER) or {}
    return render_chart(umbrella, values, release), time.perf_counter() - start


def _checks(prepared: "Prepared", docs: list, kube_version: str | None) -> tuple[Any, Any]:
    """What verification finds in one rendered overlay: per-service comparisons, schema problems."""
    from ..helm.render import is_test_hook
    from ..verify.check import structural, verify_objects
    objects = [d.obj for d in docs if not is_test_hook(d)]
    with prepared.clock("schema"):
        schema = structural(objects, kube_version)
    with prepared.clock("verify"):
        return verify_objects(prepared, objects), schema


def overlay_file(plan: ExamplePlan) -> str:
    return f"{plan.overlay_name}-values.yaml"


def nested_parents(plan: ExamplePlan, nested: dict[str, list]) -> set[str]:
    """Components whose charts carry engines (nested layout)."""
    return {i.component for i in plan.components() if i.name in nested}


def common_charts(plan: ExamplePlan, rules: RuleSet, nested: dict[str, list], layout: str) -> dict[str, Rule]:
    """component -> rule of every common chart a conversion writes."""
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
    from ..chart import gmc
    from ..yamlout import dump
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
    from ..chart import gmc
    return gmc.validate(yaml.safe_load(stage.files[rel]), gmc.crd_schema(crd))


def _existing_umbrella(chart_dir: Path) -> tuple[set[Dependency], dict[str, str], bool]:
    """Dependencies, overlays and whether there is a megaservice, as earlier conversions of other
    platforms left the umbrella."""
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
    return deps, overlays, (chart_dir / "templates/deployment.yaml").is_file()
