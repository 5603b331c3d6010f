"""Does one compose variable stay one value? Checked by changing it.

One rendering cannot tell a value that follows a variable from a copy of its current text: both
render the same. So the chart is rendered once more with every variable's value (plan.variables,
the --set path a user would change) set to a marker of its own, and each place compose uses the
variable — env entries, command words, the device-plugin count it sets — must then show that
marker. One extra rendering checks every variable of the file.
"""
from __future__ import annotations

from typing import Any

from ..compose.model import Template
from ..errors import InputError
from ..helm.documents import Document, is_test_hook
from ..plan.accelerators import accelerator
from ..plan.coupling import Variable
from ..plan.prepare import Prepared
from .check import Difference, ServiceReport, workload_name
from .records import WORKLOAD_KINDS, ObjectIndex, workload_record

# Markers are digits, so a value that must be a number (a device count) still renders.
_FIRST_MARK = 7_310_001


def _checked(plan_variables: list[Variable]) -> list[Variable]:
    return [v for v in plan_variables if not v.secret and v.value]


def marker_values(variables: list[Variable], parents: dict[str, str] | None = None
                  ) -> tuple[dict[str, Any], dict[str, str]]:
    """(values that set each variable's value to its marker, variable -> marker). parents: the
    values key a nested chart sits under (the nested layout), by its own key."""
    tree: dict[str, Any] = {}
    marks: dict[str, str] = {}
    for n, v in enumerate(_checked(variables)):
        path = v.value.split(".")
        if parents and path[0] in parents:
            path = [parents[path[0]]] + path
        node = tree
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = marks[v.name] = str(_FIRST_MARK + n)
    return tree, marks


# What the check reads of the marked rendering: workloads and what their environment comes from.
_READ_KINDS = frozenset(WORKLOAD_KINDS) | {"ConfigMap", "Secret"}


def unread_templates(docs: list[Document]) -> frozenset[str]:
    """Templates of the overlay's own rendering whose every object is one the check does not read
    (a Service, a NetworkPolicy, a test hook ...): the marked rendering may leave them out. The
    markers change values that end up in env, args and device counts, not which kinds a template
    makes; a template that made nothing stays, since a changed value might turn it on."""
    read: dict[str, bool] = {}
    for d in docs:
        read[d.source] = read.get(d.source, False) or (d.obj.get("kind") in _READ_KINDS and not is_test_hook(d))
    return frozenset(source for source, needed in read.items() if not needed)


def _uses(t: Template, name: str, is_host: Any) -> int:
    """How many times the text carries the variable's value: not `${X:+text}` (which is text) nor
    the port of `${host_ip}:${X}`, which the endpoint rewrite makes the Service's port."""
    n = 0
    parts = t.parts
    for i, p in enumerate(parts):
        if isinstance(p, str) or p.name != name or p.op in ("+", ":+"):
            continue
        after_host = (i >= 2 and parts[i - 1] == ":" and not isinstance(parts[i - 2], str)
                      and is_host(parts[i - 2].name))
        n += not after_host
    return n


def coupling_problems(prepared: Prepared, objects: list[dict[str, Any]], marks: dict[str, str],
                      workload_of: Any) -> dict[str, list[tuple[str, str, str]]]:
    """service -> (field, compose text, what rendered) for each use of a variable that did not
    follow its value in the marked rendering. workload_of(instance) names its workload."""
    plan, project, policy = prepared.plan, prepared.project, prepared.rules.policy
    index = ObjectIndex(objects)
    by_service = {i.service: i for i in plan.instances}
    out: dict[str, list[tuple[str, str, str]]] = {}
    for v in _checked(plan.variables):
        mark = marks.get(v.name)
        if mark is None:
            continue
        for service in v.services:
            inst, s = by_service[service], project.services[service]
            workload = index.workload(workload_of(inst))
            if workload is None:      # off by default (profiles): nothing rendered to check
                continue
            rec = workload_record(workload, index, policy, inst.name if not inst.is_megaservice else plan.chart)
            found = out.setdefault(service, [])
            for key, t in s.environment.items():
                rendered = rec.get(f"env.{key}")
                used = t is not None and _uses(t, v.name, policy.is_host_variable)
                if used and rendered is not None and mark not in rendered:
                    found.append((f"env.{key}", t.source(), f"{rendered} (does not follow {v.value})"))
            for fld, words in (("command", s.entrypoint), ("args", s.command)):
                wanted = sum(_uses(t, v.name, policy.is_host_variable) for t in words or [])
                got = " ".join(rec.get(fld) or []).count(mark)
                if wanted and got < wanted:
                    found.append((fld, " ".join(t.source() for t in words),
                                  f"{got} of {wanted} uses follow {v.value}"))
            accel = accelerator(s, policy, project.variables)
            if accel and accel.count_variable == v.name:
                count = (rec.get("accelerators") or {}).get(accel.profile.resource)
                if str(count) != mark:
                    found.append((f"resources.limits.{accel.profile.resource}", f"${{{v.name}}}",
                                  f"{count} (does not follow {v.value})"))
    return {k: found for k, found in out.items() if found}


def report_coupling(prepared: Prepared, reports: list[ServiceReport], marks: dict[str, str],
                    rendered: list | InputError) -> None:
    """Add to the reports each use that did not follow (unexplained); rendered is the marked
    rendering's documents, or the error it failed with."""
    if isinstance(rendered, InputError):
        if reports:
            reports[0].unexplained.append(Difference("coupling", None, "does not render with changed values: "
                                                     + rendered.message))
        return
    objects = [d.obj for d in rendered if not is_test_hook(d)]
    found = coupling_problems(prepared, objects, marks, lambda i: workload_name(i, prepared.release))
    for report in reports:
        for fld, compose, text in found.get(report.service, []):
            report.unexplained.append(Difference(f"coupling.{fld}", compose, text))
