"""The conversion plan: which chart and values each compose service becomes.

Pure data, built by mapping.py from the compose model and the rules; charts.py writes it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .findings import Finding
from .rules import Rule


@dataclass
class Instance:
    service: str           # compose service name
    component: str         # common chart it uses ("" for the megaservice: the umbrella itself)
    name: str              # values key and object-name suffix (alias when a chart is used twice)
    rule: Rule
    values: dict[str, Any] = field(default_factory=dict)
    calls: list[tuple[str, str]] = field(default_factory=list)   # (env key, compose service it addresses)
    accelerator: str = ""  # accelerator profile name, when the service asks for one

    @property
    def is_megaservice(self) -> bool:
        return self.rule.kind == "megaservice" and not self.component


@dataclass
class ExamplePlan:
    example: str           # e.g. ChatQnA
    chart: str             # umbrella chart name, e.g. chatqna
    platform: str          # e.g. gaudi
    variant: str           # e.g. tgi, or ""
    sources: list[str]     # compose files, as paths inside the example
    instances: list[Instance]
    findings: list[Finding]
    generic: list[str] = field(default_factory=list)   # services that got a chart built from the service alone
    allowed: list[str] = field(default_factory=list)   # privileges opted in to (privileges.OPT_INS)

    @property
    def overlay_name(self) -> str:
        return f"{self.platform}-{self.variant}" if self.variant else self.platform

    def megaservice(self) -> Instance | None:
        return next((i for i in self.instances if i.is_megaservice), None)

    def components(self) -> list[Instance]:
        return [i for i in self.instances if not i.is_megaservice]


def nesting(plan: ExamplePlan) -> dict[str, list[Instance]]:
    """The RFC's nested layout: parent values key -> the engines it carries as dependencies.

    An engine nests under the one microservice whose rule lists it (`nests`) and that calls it;
    an aliased engine (a chart used twice) stays at the top.
    """
    by_service = {i.service: i for i in plan.instances}
    taken: set[str] = set()
    out: dict[str, list[Instance]] = {}
    for parent in plan.components():
        for _key, target in parent.calls:
            child = by_service.get(target)
            if (child is None or child.is_megaservice or child.service in taken or child is parent
                    or child.component not in parent.rule.nests or child.name != child.component):
                continue
            taken.add(child.service)
            out.setdefault(parent.name, []).append(child)
    return out
