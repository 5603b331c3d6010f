"""GMC (GenAI Microservices Connector) output: a GMConnector resource that routes requests
through the components in the order the megaservice calls them, and one GMC-style manifest
per component.

Steps come from the megaservice's own wiring: each component it addresses (in the order of its
environment) is a step, followed by the components that one addresses in turn, as downstream
steps (the component calls them itself). Step names and API endpoints are rule data (`gmc`).
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from ..errors import InputError
from ..plan.plan import ExamplePlan, Instance
from ..plan.rules import Policy
from ..util.globs import glob_match


API_VERSION = "gmc.opea.io/v1alpha3"


def _camel(name: str) -> str:
    return "".join(p[:1].upper() + p[1:] for p in name.replace("_", "-").split("-") if p)


def step_name(inst: Instance, policy: Policy) -> str:
    repository = inst.values.image.repository
    base = next((step for pattern, step in inst.rule.gmc_images.items() if glob_match(repository, pattern)),
                inst.rule.gmc.get("step") or _camel(inst.component or inst.rule.component))
    profile = next((a for a in policy.accelerators if a.name == inst.accelerator), None)
    return base + (profile.gmc_suffix if profile else "")


def _step(inst: Instance, plan: ExamplePlan, policy: Policy, downstream: bool, with_data: bool) -> dict[str, Any]:
    by_service = {i.service: i for i in plan.instances}
    config: dict[str, str] = {}
    if inst.rule.gmc.get("endpoint"):
        config["endpoint"] = inst.rule.gmc["endpoint"]
    for key, target in inst.calls:
        if target in by_service and not by_service[target].is_megaservice:
            config[key] = service_name(by_service[target])
    internal: dict[str, Any] = {"serviceName": service_name(inst)}
    if config:
        internal["config"] = config
    if downstream:
        internal["isDownstreamService"] = True
    step: dict[str, Any] = {"name": step_name(inst, policy)}
    if with_data:
        step["data"] = "$response"
    step["internalService"] = internal
    return step


def service_name(inst: Instance) -> str:
    """GMC deploys each component as its own release named after it."""
    return inst.name


def steps(plan: ExamplePlan, policy: Policy) -> list[dict[str, Any]]:
    mega = plan.megaservice()
    if mega is None:
        return []
    by_service = {i.service: i for i in plan.instances}
    listed: list[str] = [mega.service]
    out: list[dict[str, Any]] = []
    for _key, target in mega.calls:
        if target in listed or target not in by_service:
            continue
        listed.append(target)
        inst = by_service[target]
        out.append(_step(inst, plan, policy, downstream=False, with_data=bool(out)))
        for _k, inner in inst.calls:
            if inner in listed or inner not in by_service:
                continue
            listed.append(inner)
            out.append(_step(by_service[inner], plan, policy, downstream=True, with_data=False))
    return out


def connector(plan: ExamplePlan, policy: Policy, namespace: str | None = None) -> dict[str, Any]:
    """The GMConnector resource of an example on a platform."""
    return {
        "apiVersion": API_VERSION,
        "kind": "GMConnector",
        "metadata": {
            "labels": {"app.kubernetes.io/name": "gmconnector", "app.kubernetes.io/managed-by": "compose2helm",
                       "gmc/platform": plan.platform},
            "name": plan.chart,
            "namespace": namespace or plan.chart,
        },
        "spec": {
            "routerConfig": {"name": "router", "serviceName": "router-service"},
            "nodes": {"root": {"routerType": "Sequence", "steps": steps(plan, policy)}},
        },
    }


def crd_schema(crd_file: Path) -> dict[str, Any]:
    """The openAPIV3Schema of the served version of a GMConnector CRD file."""
    try:
        crd = yaml.safe_load(Path(crd_file).read_text(encoding="utf-8"))
        version = next(v for v in crd["spec"]["versions"] if v.get("served", True)
                       and f"{crd['spec']['group']}/{v['name']}" == API_VERSION)
        return version["schema"]["openAPIV3Schema"]
    except (OSError, yaml.YAMLError, KeyError, StopIteration, TypeError) as exc:
        raise InputError(f"not a GMConnector CRD serving {API_VERSION} ({type(exc).__name__})",
                         file=crd_file) from None


def validate(resource: dict[str, Any], schema: dict[str, Any]) -> list[str]:
    """Problems of a GMConnector against the CRD's OpenAPI schema (empty when valid)."""
    import jsonschema
    validator = jsonschema.Draft7Validator(schema)
    return sorted(f"{'.'.join(str(p) for p in e.absolute_path) or '(root)'}: {e.message}"
                  for e in validator.iter_errors(resource))


EXTRA_ENV_CONFIG = "extra-env-config"
_RELEASE_DNS = re.compile(r"\{\{ \.Release\.Name \}\}-([a-z0-9][a-z0-9-]*)")


def _gmc_addresses(value: Any) -> Any:
    """GMC runs each component as a release of its own name: <release>-tei becomes tei."""
    if isinstance(value, str):
        return _RELEASE_DNS.sub(r"\1", value)
    if isinstance(value, list):
        return [_gmc_addresses(v) for v in value]
    if isinstance(value, dict):
        return {k: _gmc_addresses(v) for k, v in value.items()}
    return value


def component_values(inst: Instance) -> dict[str, Any]:
    """Values of a component rendered GMC-style: release and objects named after it, GMC's
    extra-env-config ConfigMap (optional) last in its environment."""
    # GMC's router makes the calls and every component is a release of its own: the compose wiring's
    # NetworkPolicy (callers of the same release) would shut it out, so each keeps its chart's own.
    values = {k: _gmc_addresses(v) for k, v in inst.values.as_dict().items()
              if k not in ("enabled", "networkPolicy")}
    values["fullnameOverride"] = service_name(inst)
    values["extraEnvConfig"] = EXTRA_ENV_CONFIG
    # rendered to be read, as the manifests are: a secret compose requires stays empty (README)
    values["global"] = {**(values.get("global") or {}), "renderOnly": True}
    return values
