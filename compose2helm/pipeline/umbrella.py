"""One example's umbrella chart, built from every file converted into it, and each file's overlay
rendered against it (convert_many's work for one chart).

The umbrella is built once from all the files (and what earlier conversions left in it), so
every committed manifest is what `helm template` gives with its overlay and the final chart.
"""
from __future__ import annotations

import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..chart.charts import RENDERED_KINDS, Dependency, common_chart, dependencies_of, overlay, umbrella_chart
from ..errors import InputError, VerificationError
from ..helm.documents import is_test_hook, manifest_text
from ..helm.lint import LintMessage, Linting, start_lints
from ..helm.commands import merge_values
from ..helm.render import render_chart
from ..chart.docs import variables_table
from ..plan import graph
from ..plan.coupling import listing
from ..plan.plan import ExamplePlan, Instance, nesting
from ..plan.prepare import Prepared
from ..plan.rules import Rule, RuleSet
from ..verify.check import ServiceReport, VerifyReport, structural, verify_objects
from ..verify.coupling import marker_values, report_coupling, unread_templates
from ..verify.k8scheck import Problem
from ..verify.k8sschemas import prepare_schemas
from ..yamlout import load_kept
from .earlier import Earlier, earlier_callers, existing_umbrella
from .gmc_files import check_gmc, write_gmc
from .output import Staging


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
    lint: dict[str, list[LintMessage]]       # chart -> its messages
    verification: VerifyReport | None
    gmc: list[str]
    gmc_problems: list[str]


@dataclass(eq=False)   # members are told apart by identity: two may hold equal plans
class Member:
    """One file of a batch on its way through its example's umbrella."""

    prepared: Prepared
    nested: dict[str, list[Instance]]      # the nested layout's engines under their parents ({} when flat)
    built: Built | None = None
    error: VerificationError | None = None  # its overlay did not render


@dataclass
class _Staged:
    """The charts one attempt staged, what of them each member uses, and the lints under way."""

    umbrella: str                           # helm-charts/<chart>
    umbrella_files: list[str]
    chart_files: dict[str, list[str]]       # component -> its common chart's files
    charts_of: dict[Member, list[str]]      # member -> the components of its common charts
    overlays: dict[Member, str]             # member -> its overlay's text
    lint_charts: list[str]
    lints: list[Linting]


@dataclass
class _Checked:
    """What verification found in one member's rendered overlay."""

    services: list[ServiceReport]
    schema: list[Problem]


def members_of(prepared: list[Prepared], layout: str) -> list[Member]:
    return [Member(p, nesting(p.plan) if layout == "nested" else {}) for p in prepared]


def convert_umbrella(stage: Staging, members: list[Member], opts: Options) -> Callable[[], None]:
    """Stage one umbrella chart, its common charts, and the overlay and manifest of each member.

    Each member ends built, or with the error of its overlay that did not render; the umbrella
    is then built again without that one (its deps, overlay table and megaservice would otherwise
    stay). Returns what completes the members' lint and verification reports: it waits for the
    lints, which run on while the caller writes the output."""
    umbrella = f"helm-charts/{members[0].prepared.plan.chart}"
    earlier = existing_umbrella(opts.out / umbrella)
    while True:
        live = [m for m in members if m.error is None]
        if not live:
            return lambda: None
        before = set(stage.files)
        staged = _stage(stage, umbrella, live, earlier, opts)
        checks = _render_and_check(stage, staged, live, opts)
        if any(m.error for m in live):
            _lint_results(staged, live)   # linted once: the next attempt takes them from lint's cache
            stage.discard(set(stage.files) - before)
            for m in live:
                m.built = None
            continue
        return lambda: _finish(staged, live, checks, opts)


def _lint_results(staged: _Staged, live: list[Member]) -> dict[str, list[LintMessage]]:
    with live[-1].prepared.clock("lint"):
        return dict(zip(staged.lint_charts, [r for linting in staged.lints for r in linting.result()]))


def _finish(staged: _Staged, live: list[Member], checks: dict[Member, _Checked], opts: Options) -> None:
    """Each member's lint messages and verification report, once the lints are done."""
    linted = _lint_results(staged, live)
    for m in live:
        mine = [f"helm-charts/common/{c}" for c in sorted(staged.charts_of[m])] + [staged.umbrella]
        m.built.lint = {rel: linted[rel] for rel in mine if rel in linted}
        if opts.verify:
            m.built.verification = VerifyReport(checks[m].services, schema=checks[m].schema,
                                                lint=[msg.of_chart(c) for c, msgs in sorted(m.built.lint.items())
                                                      for msg in msgs])


def _stage(stage: Staging, umbrella: str, live: list[Member],
           earlier: Earlier, opts: Options) -> _Staged:
    """Stage the common charts, the umbrella and the overlays; start linting as each is ready."""
    last = live[-1].prepared    # the umbrella's metadata follows the last file, as if converted in turn
    shared = last.clock         # the stages done once for all are timed on it
    rules = last.rules
    deps, overlays = set(earlier.deps), dict(earlier.overlays)
    diagrams = {f: text for f, text in earlier.diagrams.items() if f in overlays}
    variables = {f: text for f, text in earlier.variables.items() if f in overlays}
    charts: dict[str, tuple[Rule, bool]] = {}
    charts_of: dict[Member, list[str]] = {}
    for m in live:
        plan = m.prepared.plan
        deps |= set(dependencies_of(plan, m.nested))
        overlays[overlay_file(plan)] = ", ".join(plan.sources)
        diagrams[overlay_file(plan)] = graph.mermaid(graph.build(plan))
        variables[overlay_file(plan)] = variables_table(listing(plan, m.prepared.project, rules.policy))
        parents = nested_parents(plan, m.nested)
        own = common_charts(plan, rules, m.nested, opts.layout)
        charts_of[m] = list(own)
        for component, rule in own.items():   # as in turn: the last file to use a chart writes it
            charts[component] = (rule, component in parents)
    # Who calls each common chart: what its README said, then this batch's umbrella anew.
    callers: dict[str, dict[str, set[str]]] = {c: earlier_callers(opts.out, c) for c in charts}
    for m in live:
        for component, names in graph.callers_of(m.prepared.plan).items():
            if component in callers:
                callers[component].setdefault(last.plan.chart, set()).update(names)
    chart_files: dict[str, list[str]] = {}
    # In the order the lints are started below: the nesting charts after the others.
    lint_charts = [f"helm-charts/common/{c}" for c in sorted(charts, key=lambda c: (charts[c][1], c))
                   ] if opts.lint else []
    lints = []
    parents = []   # a nesting chart is linted with its engines' charts, so once they are all written
    for component, (rule, is_parent) in sorted(charts.items()):
        with shared("charts"):
            for rel, text in common_chart(rule, opts.chart_version, nested=is_parent,
                                          callers=callers[component]).items():
                chart_files.setdefault(component, []).append(f"helm-charts/common/{component}/{rel}")
                stage.write(chart_files[component][-1], text)
        if is_parent:
            parents.append(component)
        elif opts.lint:   # the engine lints each in threads while the next and the umbrella are built
            with shared("lint"):
                lints.append(start_lints([stage.path(f"helm-charts/common/{component}")]))
    if opts.lint and parents:
        with shared("lint"):
            lints.append(start_lints([stage.path(f"helm-charts/common/{c}") for c in parents]))
    with shared("charts"):
        mega = last.plan.megaservice()
        # Another platform's overlay may have the megaservice these lack: keep its templates.
        has_mega = earlier.megaservice or any(m.prepared.plan.megaservice() for m in live)
        mega_rule = mega.rule if mega else (rules.by_component("megaservice") if has_mega else None)
        texts = {m: overlay(m.prepared.plan, mega_rule is not None, m.nested) for m in live}
        dep_keys, named_keys = _value_keys(stage, opts.out, umbrella, deps, texts,
                                           {overlay_file(m.prepared.plan) for m in live})
        umbrella_files = []
        for rel, text in umbrella_chart(last.plan, sorted(deps, key=lambda d: d.key), mega_rule, overlays,
                                        opts.chart_version, diagrams, variables, dependency_keys=dep_keys,
                                        named_keys=named_keys if mega_rule is not None else None).items():
            umbrella_files.append(f"{umbrella}/{rel}")
            stage.write(umbrella_files[-1], text)
        for m in live:
            stage.write(f"{umbrella}/{overlay_file(m.prepared.plan)}", texts[m])
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


def _value_keys(stage: Staging, out: Path, umbrella: str, deps: set[Dependency], texts: dict[Member, str],
                written: set[str]) -> tuple[dict[str, list[str]], list[str]]:
    """The keys the umbrella's schema lets through: under each dependency, what its chart declares
    (its values.schema.json) and what any overlay of the example sets there (compose variables);
    at the top, the megaservice's named values the overlays set. Overlays earlier conversions left
    beside the umbrella count too, so a value one of them sets is never rejected."""
    trees = [load_kept(t) or {} for t in texts.values()]
    for f in sorted((out / umbrella).glob("*-values.yaml")):
        if f.name not in written:
            trees.append(load_kept(f.read_text(encoding="utf-8")) or {})
    keys: dict[str, list[str]] = {}
    for d in sorted(deps, key=lambda d: d.key):   # in one order, whatever the hash seed
        rel = f"helm-charts/common/{d.name}/values.schema.json"
        text = stage.files.get(rel)
        if text is None and (out / rel).is_file():
            text = (out / rel).read_text(encoding="utf-8")
        if text is None:      # not found: its key stays open, the subchart's schema alone checks it
            continue
        declared = set(json.loads(text).get("properties") or {})
        keys[d.key] = sorted(declared.union(*(t[d.key] for t in trees if isinstance(t.get(d.key), dict))))
    named = sorted({k for t in trees for k in t if k not in {d.key for d in deps}})
    return keys, named


# Whether this process may use a second core for itself: not in one of migrate's workers, which
# keep every core busy between them (migrate.py sets it there).
SPARE_CORE = True


def _render_and_check(stage: Staging, staged: _Staged, live: list[Member], opts: Options) -> dict[Member, _Checked]:
    """Render each member's overlay, stage its manifest (member.built) and check it. A member
    that does not render gets its error; the members after it are then only rendered."""
    checks: dict[Member, _Checked] = {}
    # One thread renders the overlays in turn (the engine works outside the GIL) while this
    # one loads the schemas, then checks each rendered overlay as the next one renders.
    # With a core to spare (no other worker of a migrate), a second thread renders the marked
    # overlays beside them, each at once in whole instead of after its overlay without what the
    # check does not read: more engine time, less waiting (ChatQnA gaudi: 80 ms less).
    spare = SPARE_CORE and (os.cpu_count() or 1) > 1
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="c2h-render") as pool, \
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="c2h-render-marked") as marked_pool:
        digests: dict = {}     # the staged charts stay as they are until this returns (render_chart)
        futures = {m: pool.submit(_render_overlay, stage.path(staged.umbrella), staged.overlays[m],
                                  m.prepared.release, digests=digests) for m in live}
        # Verification renders each overlay once more with every variable's value changed (coupling.py).
        marked = {}
        for m in live if opts.verify else []:
            parents = {c.name: parent for parent, children in m.nested.items() for c in children}
            tree, marks = marker_values(m.prepared.plan.variables, parents)
            if marks and spare:
                marked[m] = marks, marked_pool.submit(_render_overlay, stage.path(staged.umbrella),
                                                      staged.overlays[m], m.prepared.release, tree, schemas="none",
                                                      digests=digests)
            elif marks:
                marked[m] = marks, pool.submit(_render_marked, futures[m], stage.path(staged.umbrella),
                                               staged.overlays[m], m.prepared.release, tree, digests)
        try:
            if opts.verify:
                prepare_schemas(RENDERED_KINDS, opts.kube_version)
            failed = False
            for m in live:
                p = m.prepared
                try:
                    docs, seconds = futures[m].result()
                    p.clock.seconds["render"] = p.clock.seconds.get("render", 0.0) + seconds
                except InputError as exc:   # the input was read; what was made of it is wrong
                    m.error = VerificationError(f"{p.files[0]}: the chart converted from it does not render: "
                                                f"{exc.message}")
                    failed = True
                if failed:   # the umbrella is built again without it: what follows would be redone
                    continue
                m.built = _stage_manifest(stage, staged, m, docs, opts)
                if opts.verify:
                    checks[m] = _checks(p, docs, opts.kube_version)
                    if m in marked:
                        _check_coupling(p, checks[m], *marked[m])
        except BaseException:   # e.g. Ctrl-C: do not wait for the renders still queued
            for future in futures.values():
                future.cancel()
            raise
    return checks


def _stage_manifest(stage: Staging, staged: _Staged, m: Member, docs: list, opts: Options) -> Built:
    """A member's manifest (and GMC files) staged: what it wrote, all told."""
    p = m.prepared
    with p.clock("render"):
        manifest = f"manifests/{p.plan.example}/{p.plan.overlay_name}/{p.plan.chart}.yaml"
        stage.write(manifest, namespace_text(p.release) + manifest_text(docs))
        gmc_files = write_gmc(p.plan, p.rules, stage, p.release) if opts.gmc else []
        gmc_problems = check_gmc(stage, gmc_files[0], opts.gmc_crd) if opts.gmc and opts.gmc_crd else []
    rels = ([rel for c in staged.charts_of[m] for rel in staged.chart_files[c]] + staged.umbrella_files
            + [f"{staged.umbrella}/{overlay_file(p.plan)}", manifest] + gmc_files)
    return Built(rels, manifest, {}, None, gmc_files, gmc_problems)


def _render_overlay(umbrella: Path, overlay_text: str, release: str, extra: dict | None = None,
                    skip: frozenset[str] = frozenset(), schemas: str = "python", digests: dict | None = None
                    ) -> tuple[list, float]:
    """The umbrella rendered with one overlay's values (and extra ones over them), and the seconds
    that took; skip: templates left out, schemas: how values are checked, digests: the
    umbrella's files' (render_chart)."""
    start = time.perf_counter()
    values = load_kept(overlay_text) or {}
    # The manifests are for reading: a secret compose requires stays empty (global.renderOnly, README).
    values["global"] = {**(values.get("global") or {}), "renderOnly": True}
    # into the namespace named after the release, which the manifest creates first (namespace_text)
    return (render_chart(umbrella, merge_values(values, extra or {}), release, namespace=release, skip=skip,
                         schemas=schemas, digests=digests),
            time.perf_counter() - start)


def _render_marked(first, umbrella: Path, overlay_text: str, release: str, marked: dict,
                   digests: dict | None = None) -> tuple[list, float]:
    """The overlay rendered with every variable's value set to its marker (verify/coupling.py),
    once its own rendering (first, queued before it) has shown which templates make nothing the
    coupling check reads: those are left out (a fifth of its engine time for ChatQnA gaudi, a tenth
    over the corpus, more than half for 100 synthetic services)."""
    docs, _ = first.result()
    # Markers stand where values go without being values (the overlay's own rendering checked
    # those against the schemas): no schema applies to them.
    return _render_overlay(umbrella, overlay_text, release, marked, skip=unread_templates(docs), schemas="none",
                           digests=digests)


def namespace_text(release: str) -> str:
    """The manifest's first object: the namespace its objects are rendered into, named after the
    release, so that `kubectl apply -f` creates it before them and nothing lands in `default`."""
    return (f"---\n# The namespace of the objects below (the release's name), created first.\n"
            f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {release}\n")


def _check_coupling(prepared: Prepared, checked: _Checked, marks: dict[str, str], future) -> None:
    """Each use of a variable that does not follow its value is an unexplained difference."""
    try:
        docs, seconds = future.result()
    except InputError as exc:
        docs, seconds = exc, 0.0
    prepared.clock.seconds["render"] = prepared.clock.seconds.get("render", 0.0) + seconds
    with prepared.clock("verify"):
        report_coupling(prepared, checked.services, marks, docs)


def _checks(prepared: Prepared, docs: list, kube_version: str | None) -> _Checked:
    """What verification finds in one rendered overlay: per-service comparisons, schema problems."""
    objects = [d.obj for d in docs if not is_test_hook(d)]
    with prepared.clock("schema"):
        schema = structural(objects, kube_version)
    with prepared.clock("verify"):
        return _Checked(verify_objects(prepared, objects), schema)


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
