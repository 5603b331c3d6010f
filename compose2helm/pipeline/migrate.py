"""`compose2helm migrate`: convert a whole GenAIExamples tree, never stopping at the first failure.

Every compose file ends as verified, unverified (converted with unexplained differences or
lint/schema errors), rejected (bad input, with its one-line reason) or skipped (not a
deployment: build files). Overlays convert together with their base as `-f base -f overlay`.
Files of one example convert in one worker, in a fixed order, because they share the umbrella
chart; examples run in parallel with --jobs.
"""
from __future__ import annotations

import contextlib
import multiprocessing
import os
import re
import threading
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..compose.layout import overlay_base, place, project_name, undefined_beside, variant_of
from ..errors import InputError, VerificationError
from .callers import merge_callers, write_callers


_DEPLOYMENT = re.compile(r"^(?:docker-)?compose[\w.-]*\.ya?ml$")


@dataclass
class Job:
    files: list[Path]          # base first, then overlays
    example: str
    variant: str | None        # explicit for overlays (base variant + overlay tag)
    platform: str = ""
    renamed: bool = False      # the example is not the one the path gives (see _distinct_examples)


@dataclass
class Outcome:
    file: str                  # the file that names the job (the overlay for overlay jobs)
    status: str                # verified | unverified | rejected | skipped
    reason: str = ""
    example: str = ""
    overlay: str = ""
    services: int = 0
    generic: int = 0
    charts: list[str] = field(default_factory=list)
    explained: int = 0
    unexplained: int = 0
    unexplained_detail: list[str] = field(default_factory=list)
    manifest: str = ""         # rendered manifest, relative to the output root
    gmc: str = ""              # GMConnector, relative to the output root
    example_dir: str = ""      # the example's folder, relative to the migrated tree
    chart: str = ""
    platform: str = ""
    variant: str = ""
    timings: dict[str, float] = field(default_factory=dict)   # seconds per conversion stage

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class MigrateReport:
    root: str
    outcomes: list[Outcome]
    into_examples: list[str] = field(default_factory=list)   # files written into the migrated tree
    would_change: list[str] | None = None                     # --dry-run: files that would be written

    def count(self, status: str) -> int:
        return sum(1 for o in self.outcomes if o.status == status)

    @property
    def ok(self) -> bool:
        return all(o.status in ("verified", "skipped") for o in self.outcomes)

    def summary(self) -> dict[str, Any]:
        done = [o for o in self.outcomes if o.status in ("verified", "unverified")]
        return {
            "files": len(self.outcomes),
            "verified": self.count("verified"),
            "unverified": self.count("unverified"),
            "rejected": self.count("rejected"),
            "skipped": self.count("skipped"),
            "services": sum(o.services for o in done),
            "generic": sum(o.generic for o in done),
            "charts": len({c for o in done for c in o.charts}),
            "explained": sum(o.explained for o in done),
            "unexplained": sum(o.unexplained for o in done),
        }

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "root": self.root, "summary": self.summary(),
                "files": [o.as_dict() for o in self.outcomes], "into_examples": self.into_examples,
                "would_change": self.would_change}


def discover(root: Path) -> tuple[list[Job], list[Outcome]]:
    """Jobs for every deployment compose file under root; outcomes for files that are not."""
    root = Path(root)
    jobs: list[Job] = []
    skipped: list[Outcome] = []
    for path in sorted(root.rglob("*.y*ml")):
        if not path.is_file() or "compose" not in path.name:
            continue
        rel = str(path.relative_to(root))
        parts = path.relative_to(root).parts
        if ".git" in parts or "helm-charts" in parts or "manifests" in parts:
            continue
        if not _DEPLOYMENT.match(path.name):
            skipped.append(Outcome(rel, "skipped", "not a deployment file (e.g. an image build file)"))
            continue
        try:   # outside the GenAIExamples layouts, the example is the compose project's name or folder
            placed = place(path, project_name=project_name(path))
        except InputError as exc:
            skipped.append(Outcome(rel, "skipped", str(exc)))
            continue
        over = overlay_base(path)
        if over is None:
            jobs.append(Job([path], placed.example, None, placed.platform))
            continue
        base, tag = over
        if not base.is_file():
            missing = undefined_beside(path)   # what makes it an overlay, and no sibling has
            skipped.append(Outcome(rel, "rejected", f"overlay without its base file {base.name}" + (
                f": no compose file beside it defines {', '.join(missing)}" if missing else "")))
            continue
        jobs.append(Job([base, path], placed.example, "-".join(v for v in (variant_of(base.name), tag) if v),
                        placed.platform))
    _distinct_examples(jobs)
    return jobs, skipped


def _distinct_examples(jobs: list[Job]) -> None:
    """Files of different folders that place to one example, platform and variant would write
    one overlay and manifest, each replacing the other's (GenAIComps has a docker_compose folder
    per component, each under a folder of the same name, deployment/). When an example has such a
    clash, each of its folders becomes an example of its own, named after the folder where its
    path parts from the others', until none clash; the files of one folder stay together (and
    compose.yaml beside docker-compose.yaml stays one place, the later kept)."""
    for _ in range(32):   # each round names a folder one level deeper; paths are not that deep
        by_example: dict[str, list[Job]] = {}
        for job in jobs:
            by_example.setdefault(job.example, []).append(job)
        renamed = False
        for members in by_example.values():
            places: dict[tuple[str, str], set[Path]] = {}
            for job in members:
                variant = job.variant if job.variant is not None else variant_of(job.files[-1].name)
                places.setdefault((job.platform, variant), set()).add(job.files[-1].parent)
            if all(len(folders) == 1 for folders in places.values()):
                continue
            common = Path(os.path.commonpath([job.files[-1].parent for job in members]))
            for job in members:
                rel = job.files[-1].parent.relative_to(common)
                if rel.parts:
                    job.example, job.renamed, renamed = rel.parts[0], True, True
        if not renamed:
            return


def _run_example(jobs: list[Job], root: Path, out: Path, options: dict[str, Any]
                 ) -> tuple[list[Outcome], list[str], dict[str, dict[str, set[str]]]]:
    """The files of one example, converted together: they share its umbrella chart. Returns
    their outcomes, the output files they wrote (with dry_run: would write) and who calls each
    common chart in them."""
    from .callers import callers_of_results
    from .convert import Source, convert_many

    try:
        if jobs[0].renamed and not options.get("example"):
            options = {**options, "example": jobs[0].example}
        results = convert_many([Source(tuple(job.files), job.variant) for job in jobs], out, **options)
    except Exception as exc:  # noqa: BLE001 - one example's failure must not stop the tree
        results = [exc] * len(jobs)
    changed = sorted({rel for r in results if not isinstance(r, Exception) for rel in r.changed})
    return [_outcome(job, result, root) for job, result in zip(jobs, results)], changed, callers_of_results(results)


def _outcome(job: Job, result: Any, root: Path) -> Outcome:
    rel = str(job.files[-1].relative_to(root))
    if isinstance(result, InputError):
        return Outcome(rel, "rejected", str(result), job.example)
    if isinstance(result, VerificationError):
        message = " ".join(str(result).split())
        return Outcome(rel, "unverified", message, job.example, unexplained=1, unexplained_detail=[message])
    if isinstance(result, Exception):
        return Outcome(rel, "rejected", f"internal error ({type(result).__name__}): {' '.join(str(result).split())}",
                       job.example)
    v = result.verification
    unexplained = [f"{s.service}: {d.field}" for s in v.services for d in s.unexplained] if v else []
    errors = result.lint_errors + ([f"{p.object}: {p.message}" for p in v.schema
                                    if p.severity == "error"] if v else [])
    placement = result.placement
    reason = "; ".join((unexplained + errors)[:5])
    if result.replaced_by:
        later = Path(result.replaced_by)
        later_rel = later.relative_to(root) if later.is_relative_to(root) else later
        reason = "; ".join(filter(None, [f"its overlay and manifest were replaced by those of {later_rel}, "
                                         "which converts to the same example, platform and variant", reason]))
    return Outcome(
        rel, "verified" if result.ok else "unverified", reason,
        result.plan.example, result.plan.overlay_name, len(result.plan.instances), len(result.plan.generic),
        sorted({i.component for i in result.plan.components()}),
        sum(len(s.explained) for s in v.services) if v else 0, len(unexplained) + len(errors),
        unexplained + errors, result.manifest, result.gmc[0] if result.gmc else "",
        str(placement.example_dir.relative_to(root.resolve())) if placement.example_dir else "",
        result.plan.chart, result.plan.platform, result.plan.variant, result.timings)


class _Progress:
    """The caller's progress reporter, called from this process's thread and the worker pool's
    (each worker's example reports as it ends), one call at a time. Its optional methods:
    begin(total) once the files are counted, example(name, files) when this process starts on
    an example; the reporter itself is called with each file's Outcome."""

    def __init__(self, progress: Callable[[Outcome], None] | None):
        self.progress = progress
        self.lock = threading.Lock()

    def _call(self, name: str, *args: Any) -> None:
        method = getattr(self.progress, name, None)
        if method is not None:
            with self.lock:
                method(*args)

    def begin(self, total: int) -> None:
        self._call("begin", total)

    def example(self, name: str, files: int) -> None:
        self._call("example", name, files)

    def done(self, outcomes: list[Outcome]) -> None:
        if self.progress is not None:
            with self.lock:
                for o in outcomes:
                    self.progress(o)

    def worker_done(self, future: Future) -> None:
        if not future.cancelled() and future.exception() is None:
            self.done(future.result()[0])


def migrate(root: Path, out: Path, *, jobs: int = 1, progress: Callable[[Outcome], None] | None = None,
            into_examples: bool = False, dry_run: bool = False, **options: Any) -> MigrateReport:
    """Convert every compose file under root into out. progress (see _Progress) hears of every
    file as its example ends. dry_run converts as the real run would, against out as it is, and
    writes nothing: files the real run would refuse (hand edits) reject their example's files the
    same way, and report.would_change lists the files it would write (into_examples is not run)."""
    root, out = Path(root), Path(out)
    if into_examples and not dry_run:
        options["gmc"] = True
    if not root.is_dir():
        raise InputError("not a directory", file=root)
    options = {**options, "dry_run": dry_run}
    with contextlib.ExitStack() as stack:
        # The workers start (and import the conversion) while this process reads the tree.
        pool = _workers(stack, min(jobs, os.cpu_count() or 1))
        found, outcomes = discover(root)
        if not found:   # a tree with nothing to convert is a mistake on the command line, not a success
            raise InputError("no compose file to convert under it (compose*.yaml, docker-compose*.yml)", file=root)
        tell = _Progress(progress)
        tell.begin(len(found) + len(outcomes))   # every file counted before any is converted
        tell.done(outcomes)
        by_example: dict[str, list[Job]] = {}
        for job in found:
            by_example.setdefault(job.example, []).append(job)
        groups = [by_example[k] for k in sorted(by_example)]
        changed: set[str] = set()
        callers: dict[str, dict[str, set[str]]] = {}
        if pool is None:
            for group in groups:
                tell.example(group[0].example, len(group))
                done, files, called = _run_example(group, root, out, options)
                tell.done(done)
                outcomes += done
                changed.update(files)
                merge_callers(callers, called)
        else:
            # The example with the most files first: its files convert one after the other.
            order = sorted(range(len(groups)), key=lambda i: -len(groups[i]))
            futures = {i: pool.submit(_run_example, groups[i], root, out, options) for i in order}
            tell.example(groups[order[0]][0].example, len(groups[order[0]]))
            for future in futures.values():
                future.add_done_callback(tell.worker_done)
            for i in range(len(groups)):
                done, files, called = futures[i].result()
                outcomes += done
                changed.update(files)
                merge_callers(callers, called)
    # Workers wrote the common charts concurrently: their READMEs' callers are made whole here.
    changed.update(write_callers(out, callers, force=options.get("force", False), dry_run=dry_run))
    outcomes.sort(key=lambda o: o.file)
    report = MigrateReport(str(root), outcomes)
    if dry_run:
        report.would_change = sorted(changed)
    elif into_examples:
        report.into_examples = write_into_examples(report, root, out, force=options.get("force", False))
    return report


def _workers(stack: contextlib.ExitStack, count: int) -> ProcessPoolExecutor | None:
    """count worker processes, started now, or None for one: examples then convert in this process.

    Every example converts in a worker: spawned, not forked (the embedded Helm engine is a Go
    runtime, which does not survive fork), with the collector setting of _go_environment, which a
    running process cannot change for its own Go runtime."""
    if count <= 1:
        return None
    pool = stack.enter_context(ProcessPoolExecutor(max_workers=count, initializer=_warm_up,
                                                   mp_context=multiprocessing.get_context("spawn")))
    with _go_environment():
        for _ in range(count):   # each submit starts a worker while none is idle
            pool.submit(os.getpid)
    return pool


def _warm_up() -> None:
    from . import convert  # noqa: F401 - imported before the first example arrives
    from . import umbrella
    umbrella.SPARE_CORE = False   # the other workers keep the other cores busy


# Helm's renders allocate much and keep little: collecting when the heap has grown fourfold, not
# twofold, takes about a quarter off the CPU time of a corpus run (measured with the engine in one
# process: 20 s to 14 s), and a worker stays under 200 MB.
GO_GC_PERCENT = "400"


@contextlib.contextmanager
def _go_environment():
    """GOGC for the processes started inside (unless the caller's environment sets it)."""
    if "GOGC" in os.environ:
        yield
        return
    os.environ["GOGC"] = GO_GC_PERCENT
    try:
        yield
    finally:
        os.environ.pop("GOGC", None)


def write_into_examples(report: MigrateReport, root: Path, out: Path, *, force: bool = False) -> list[str]:
    """The RFC's last step: each example gets its Kubernetes files, where GenAIExamples keeps
    them: <Ex>/kubernetes/manifests/<platform>/<ex>[-<variant>].yaml and the GMConnector as
    <Ex>/kubernetes/<ex>[_<variant>]_<platform>.yaml. Nothing else in the tree is touched."""
    from .output import Staging

    with Staging(root, force=force) as stage:
        for o in report.outcomes:
            if o.status not in ("verified", "unverified") or not o.example_dir:
                continue
            base = f"{o.example_dir}/kubernetes"
            suffix = f"-{o.variant}" if o.variant else ""
            stage.write(f"{base}/manifests/{o.platform}/{o.chart}{suffix}.yaml",
                        (out / o.manifest).read_text(encoding="utf-8"))
            if o.gmc:
                variant = f"_{o.variant.replace('-', '_')}" if o.variant else ""
                stage.write(f"{base}/{o.chart}{variant}_{o.platform}.yaml", (out / o.gmc).read_text(encoding="utf-8"))
        return stage.commit()
