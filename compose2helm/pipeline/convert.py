"""The library API of `compose2helm convert`: compose file(s) in, charts and manifests out."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..chart.charts import CHART_VERSION
from ..compose.layout import Placement
from ..errors import InputError, VerificationError
from ..helm.engine import preload as preload_helm
from ..helm.lint import LintMessage
from ..plan.plan import ExamplePlan
from ..plan.prepare import Prepared, prepare
from ..plan.rules import RuleSet
from ..verify.check import VerifyReport
from .output import Staging
from .umbrella import LAYOUTS, Member, Options, convert_umbrella, members_of


@dataclass
class ConvertResult:
    plan: ExamplePlan
    placement: Placement
    release: str
    env_files: list[Path]
    changed: list[str]                                   # output files written (relative to out)
    manifest: str                                        # path of the rendered manifest (relative)
    lint: dict[str, list[LintMessage]] = field(default_factory=dict)   # chart -> helm lint's messages
    warnings: list[str] = field(default_factory=list)
    verification: VerifyReport | None = None             # None when verification was skipped
    gmc: list[str] = field(default_factory=list)         # GMC files written (GMConnector first)
    gmc_problems: list[str] = field(default_factory=list)  # GMConnector against the CRD's schema
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage
    dry_run: bool = False                                # changed lists what would be written
    replaced_by: str = ""   # a later file of the batch converted to the same overlay: its output is kept

    @property
    def ok(self) -> bool:
        return (not self.lint_errors and not self.gmc_problems
                and (self.verification is None or self.verification.ok))

    @property
    def lint_errors(self) -> list[str]:
        return [f"{chart}: {m.path}: {m.message}" for chart, msgs in self.lint.items()
                for m in msgs if m.severity == "error"]


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
    results: list[ConvertResult | InputError | VerificationError | None] = [None] * len(sources)
    prepared: dict[int, Prepared] = {}   # by position in the batch: results keep the caller's order
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
    opts = Options(Path(out), lint, verify, kube_version, chart_version, gmc, gmc_crd, layout)
    members = dict(zip(prepared, members_of(list(prepared.values()), layout)))
    groups: dict[str, list[Member]] = {}
    for m in members.values():
        groups.setdefault(m.prepared.plan.chart, []).append(m)
    try:
        with Staging(opts.out, force=force) as stage:
            finish = [convert_umbrella(stage, group, opts) for group in groups.values()]
            built = {i: m.built for i, m in members.items() if m.built is not None}
            with prepared[max(built or prepared)].clock("write"):
                changed = stage.pending() if dry_run else stage.commit()
            for complete in finish:   # the lints ran on while the output was written
                complete()
    except InputError as exc:   # the output cannot take them: none is written
        failed = {i: m.error for i, m in members.items() if m.error is not None}
        return [r if r is not None else failed.get(i, exc) for i, r in enumerate(results)]
    for i, m in members.items():
        if m.error is not None:
            results[i] = m.error
    for i, b in built.items():
        p = prepared[i]
        mine = set(b.rels)
        results[i] = ConvertResult(p.plan, p.placement, p.release, list(p.env_files),
                                   [rel for rel in changed if rel in mine], b.manifest, b.lint,
                                   list(p.project.warnings), b.verification, b.gmc, b.gmc_problems,
                                   dict(p.clock.seconds), dry_run)
    # Two files of a batch that convert to the same example, platform and variant write the same
    # overlay and manifest: the later one's are kept, as if converted in turn. Say so.
    last = {b.manifest: i for i, b in sorted(built.items())}
    for i, b in built.items():
        if last[b.manifest] != i:
            results[i].replaced_by = str(sources[last[b.manifest]].files[-1])
    return results
