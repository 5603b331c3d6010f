"""A compose file loaded and mapped: the input every later stage (charts, render, verify) reads."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..compose.layout import Placement, discover_env_files, place, project_name
from ..compose.load import load_project
from ..compose.model import ComposeProject
from ..errors import InputError
from ..util.clock import Clock
from ..util.names import is_dns_label
from .liveness import add_liveness
from .netpol import wire as wire_network_policies
from .plan import ExamplePlan
from .planner import plan_project
from .privileges import check_opt_ins
from .rules import RuleSet, load_rules


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
    clock: Clock = field(default_factory=Clock)


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
    placement = place(files[0], example, platform, variant, project_name(files[0]))
    if env_files is None:
        env_files = discover_env_files(files[0], placement.variant, placement.example_dir)
    clock = Clock()
    with clock("parse"):
        rules = rules or load_rules(list(mappings))
        project = load_project(files, env_files, strict=strict, secret=rules.policy.is_secret)
    sources = [place(f, placement.example, placement.platform, placement.variant).inside for f in files]
    with clock("map"):
        plan = plan_project(project, rules, example=placement.example, chart=placement.chart,
                            platform=placement.platform, variant=placement.variant, sources=sources,
                            allow=allowed, wait_for_dependencies=wait_for_dependencies)
        wire_network_policies(plan)    # NetworkPolicy values from the calls the rewrite found
        add_liveness(plan)             # liveness probes from the readiness probes compose gives
    release = release or plan.chart
    _check_names(plan, release, files[0])
    return Prepared(placement, project, plan, rules, release, list(env_files), files, clock)



def _check_names(plan: ExamplePlan, release: str, file: Path) -> None:
    if not is_dns_label(release) or not release[0].isalpha() or len(release) > 53:
        raise InputError(f"release name {release!r} is not a DNS-1123 label of at most 53 characters", file=file)
    for inst in plan.instances:
        name = release if inst.is_megaservice else f"{release}-{inst.name}"
        if not is_dns_label(name):
            raise InputError(f"object name {name!r} is not a DNS-1123 label of at most 63 characters",
                             file=file, service=inst.service)
