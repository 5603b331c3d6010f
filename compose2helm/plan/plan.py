"""The conversion plan: which chart and values each compose service becomes.

Pure data, built by planner.py from the compose model and the rules; chart/charts.py writes it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from .findings import Finding
from .rules import Rule


@dataclass(frozen=True)
class Image:
    repository: str
    tag: str
    digest: str = ""
    pull_policy: str = ""     # "": the kubelet's default for the tag


@dataclass(frozen=True)
class ServicePort:
    name: str
    port: int
    target_port: int


class ServiceValues:
    """One service's Helm values: the ordered tree its chart's key in the overlay holds.

    The planner builds the tree; the chart stage writes it as it is (`as_dict`, in the order it
    was built, so output stays byte-identical); every other stage reads it through the typed
    properties below instead of by string key.
    """

    __slots__ = ("_tree",)

    def __init__(self, tree: dict[str, Any] | None = None) -> None:
        self._tree: dict[str, Any] = tree if tree is not None else {}

    def as_dict(self) -> dict[str, Any]:
        """The values as written into the overlay (a copy at the top level)."""
        return dict(self._tree)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ServiceValues) and self._tree == other._tree

    def __repr__(self) -> str:
        return f"ServiceValues({self._tree!r})"

    @property
    def enabled(self) -> bool | None:
        """False when compose starts the service only for a profile; None for the megaservice
        (the umbrella's own workload has no switch of its own in its values)."""
        return self._tree.get("enabled")

    @property
    def image(self) -> Image:
        img = self._tree.get("image") or {}
        return Image(str(img.get("repository", "")), str(img.get("tag", "latest")), str(img.get("digest", "")),
                     str(img.get("pullPolicy", "")))

    @property
    def ports(self) -> list[ServicePort]:
        return [ServicePort(str(p["name"]), int(p["port"]), int(p.get("targetPort", p["port"])))
                for p in (self._tree.get("service") or {}).get("ports") or []]

    @property
    def port_entries(self) -> list[dict[str, Any]]:
        """service.ports as the chart takes them (name, port, targetPort)."""
        return list((self._tree.get("service") or {}).get("ports") or [])

    @property
    def env(self) -> dict[str, str | None]:
        """ConfigMap entries; None deletes a chart default."""
        return dict(self._tree.get("env") or {})

    @property
    def secret_env(self) -> dict[str, str | None]:
        return dict(self._tree.get("secretEnv") or {})

    @property
    def command(self) -> list[str] | None:
        return self._tree.get("command")

    @property
    def args(self) -> list[str] | None:
        return self._tree.get("args")

    @property
    def resources(self) -> dict[str, Any]:
        return dict(self._tree.get("resources") or {})

    @property
    def device_limits(self) -> dict[str, int]:
        """Device-plugin resources (`habana.ai/gaudi`) and their counts; a count the chart takes
        from a value (`{{ .Values.NUM_CARDS }}`) is what that value holds."""
        out = {}
        for resource, count in ((self._tree.get("resources") or {}).get("limits") or {}).items():
            if "/" not in resource:
                continue
            if isinstance(count, str):
                keys = [k for k in re.findall(r"\.Values\.(\w+)", count) if k in self._tree]
                count = self._tree[keys[-1]] if keys else count
            out[resource] = int(count) if str(count).isdigit() else 0
        return out

    @property
    def security_context(self) -> dict[str, Any]:
        return dict(self._tree.get("securityContext") or {})

    @property
    def extra_volumes(self) -> list[dict[str, Any]] | None:
        """Volumes beyond the model cache; None when the values add none."""
        found = self._tree.get("extraVolumes")
        return None if found is None else list(found)

    @property
    def model_cache_path(self) -> str | None:
        """Where the model volume mounts ("" turns the chart's default off); None when not set."""
        return self._tree.get("modelCachePath")

    @property
    def replica_count(self) -> int | None:
        return self._tree.get("replicaCount")

    @property
    def sets_probes(self) -> bool:
        """The values set the readiness probe: a probe of their own, or null to remove the chart's."""
        return "readinessProbe" in self._tree

    @property
    def probes(self) -> dict[str, dict[str, Any] | None]:
        """readinessProbe, startupProbe, livenessProbe as the values set them (None: removed)."""
        return {k: self._tree[k] for k in ("readinessProbe", "startupProbe", "livenessProbe") if k in self._tree}

    @property
    def shm_size(self) -> str | None:
        return self._tree.get("shmSize")

    @property
    def working_dir(self) -> str | None:
        return self._tree.get("workingDir")

    def named(self, key: str) -> Any:
        """A named value (a compose variable or a rule's value, e.g. LLM_MODEL_ID), None if absent."""
        return self._tree.get(key)

    def set_named(self, key: str, value: Any) -> None:
        self._tree[key] = value

    def drop_named(self, key: str) -> None:
        self._tree.pop(key, None)

    def replace_text(self, old: str, new: str) -> None:
        """Every string of the tree with old (a value's reference) replaced by new."""
        def walk(node: Any) -> Any:
            if isinstance(node, str):
                return node.replace(old, new)
            if isinstance(node, dict):
                return {k: walk(v) for k, v in node.items()}
            if isinstance(node, list):
                return [walk(v) for v in node]
            return node
        self._tree = walk(self._tree)


@dataclass
class Instance:
    service: str           # compose service name
    component: str         # common chart it uses ("" for the megaservice: the umbrella itself)
    name: str              # values key and object-name suffix (alias when a chart is used twice)
    rule: Rule
    values: ServiceValues = field(default_factory=ServiceValues)
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
    overlay: str = ""      # the overlay's name, from the policy's naming table (GenAIInfra's names)
    variables: list = field(default_factory=list)   # coupling.Variable: the value each compose variable is

    @property
    def overlay_name(self) -> str:
        """<name>-values.yaml and manifests/<Example>/<name>/: e.g. gaudi, cpu-tgi, faqgen-rocm."""
        return self.overlay or (f"{self.platform}-{self.variant}" if self.variant else self.platform)

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
