"""`compose2helm explain`: per service, the rule that matched and what became of every compose key.

Compose files are loaded and mapped as convert does (plan.prepare), each plan is explained
(plan/explanation.py) and the explanations are counted for the closing summary. No Helm is
involved: explaining is loading and mapping only.
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..plan.coupling import listing
from ..plan.explanation import FileExplanation, ServiceExplanation, explain_plan
from ..plan.rules import RuleSet


def explain_files(files: list[Path], *, env_files: list[Path] | None = None, example: str | None = None,
                  platform: str | None = None, variant: str | None = None, mappings: list[Path] = (),
                  rules: RuleSet | None = None, strict: bool = False, label: str | None = None) -> FileExplanation:
    """Load and map compose file(s) as convert does (without rendering) and explain the result."""
    from ..plan.prepare import prepare

    p = prepare(list(files), env_files=env_files, example=example, platform=platform, variant=variant,
                mappings=mappings, rules=rules, strict=strict)
    plan = p.plan
    return FileExplanation(label or str(files[-1]), "explained", "", plan.example, plan.platform, plan.variant,
                           list(plan.sources), [str(e) for e in p.env_files],
                           explain_plan(plan, p.project, p.rules.policy), listing(plan, p.project, p.rules.policy))


def explain_tree(root: Path, *, mappings: list[Path] = (), rules: RuleSet | None = None,
                 strict: bool = False) -> list[FileExplanation]:
    """Every compose file migrate would convert (overlays with their base), one report each."""
    from ..plan.rules import load_rules
    from .migrate import discover

    root = Path(root)
    if not root.is_dir():
        raise InputError("not a directory", file=root)
    rules = rules or load_rules(list(mappings))
    jobs, others = discover(root)
    reports = [FileExplanation(o.file, o.status, o.reason) for o in others]
    for job in jobs:
        rel = str(job.files[-1].relative_to(root))
        try:
            reports.append(explain_files(job.files, variant=job.variant, rules=rules, strict=strict, label=rel))
        except InputError as exc:
            reports.append(FileExplanation(rel, "rejected", str(exc), job.example))
        except Exception as exc:  # noqa: BLE001 - one file's failure must not hide the others' reports
            reports.append(FileExplanation(rel, "rejected", f"internal error ({type(exc).__name__}): "
                                           f"{' '.join(str(exc).split())}", job.example))
    reports.sort(key=lambda r: r.file)
    return reports


# --- the closing note: counts ---------------------------------------------------------------------

def _items(s: ServiceExplanation):
    """(top-level key, action, rule, source) of every key and entry of a service."""
    for k in s.keys:
        if k.source != "entries":       # a summing-up action would count its entries twice
            yield k.key, k.action, k.rule, k.source
        for e in k.entries:
            yield k.key, e.action, e.rule, e.source


def summary(reports: list[FileExplanation]) -> dict[str, Any]:
    done = [r for r in reports if r.status == "explained"]
    services = [s for r in done for s in r.services]
    per_rule = Counter(s.rule for s in services)
    by_reason: dict[str, dict[str, Counter]] = {"dropped": {}, "changed": {}}
    not_carried: Counter = Counter()
    actions: Counter = Counter()
    for s in services:
        for key, action, rule, source in _items(s):
            actions[action] += 1
            if action in by_reason:
                by_reason[action].setdefault(rule, Counter())[key] += 1
            if action == "dropped" and source == "explain":
                not_carried[key] += 1

    def table(counts: dict[str, Counter]) -> dict[str, dict[str, Any]]:
        order = sorted(counts, key=lambda r: (-sum(counts[r].values()), r))
        return {r: {"count": sum(counts[r].values()), "keys": dict(counts[r].most_common())} for r in order}

    return {
        "files": len(reports),
        "explained": len(done),
        "rejected": sum(1 for r in reports if r.status == "rejected"),
        "skipped": sum(1 for r in reports if r.status == "skipped"),
        "services": len(services),
        "keys": sum(1 for s in services for k in s.keys if k.in_compose),   # compose keys, not added ones
        "actions": dict(actions.most_common()),
        "services_per_rule": dict(sorted(per_rule.items(), key=lambda kv: (-kv[1], kv[0]))),
        "generic": [{"service": s.service, "file": r.file, "image": s.image, "chart": s.chart}
                    for r in done for s in r.services if s.generic],
        "dropped": table(by_reason["dropped"]),
        "changed": table(by_reason["changed"]),
        # Keys the conversion dropped without a finding of its own: found here, not by mapping.
        "dropped_without_finding": dict(not_carried.most_common()),
        "rejected_files": [{"file": r.file, "reason": r.reason} for r in reports if r.status == "rejected"],
    }


def as_dict(reports: list[FileExplanation], summary_only: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {"summary": summary(reports)}
    if not summary_only:
        # Every file's variables at the top too, each naming its file (machines read one list).
        out["variables"] = [{**v, "file": r.file} for r in reports for v in r.variables]
        out["files"] = [r.as_dict() for r in reports]
    return out
