"""What k8scheck knows of the autoscaling and monitoring objects the charts render.

- ServiceMonitor (monitoring.coreos.com/v1) is a custom resource of the Prometheus Operator:
  kubernetes-validate has no schema for it, and we do not ship the operator's CRD. Instead this
  module holds a small schema of our own for the fields that decide whether Prometheus scrapes
  anything: metadata as any object's, `spec.selector` a LabelSelector, `spec.endpoints` a non-empty
  list whose `port` is a port name, `path` an absolute path, `interval` / `scrapeTimeout`
  Prometheus durations, `scheme` http or https. Other fields of the CRD are let through (the
  operator's API server checks them), so a valid ServiceMonitor written elsewhere does not fail.
- Reference checks, as k8scheck makes for Services: a ServiceMonitor must select a Service of the
  manifest whose ports include the endpoint's port name; a HorizontalPodAutoscaler must target a
  workload of the manifest (scaleTargetRef), and a workload it scales is expected to leave out
  `replicas` (otherwise each upgrade resets what the autoscaler chose: a warning).

Problems are returned as (severity, check, object, path, message) tuples; k8scheck makes them
Problems (it imports this module, so this one cannot import it).
"""
from __future__ import annotations

from typing import Any


_DEFS = "https://kubernetes.io/api/_definitions.json#/$defs/"
# A Prometheus duration, as the Prometheus Operator's CRD checks it: 30s, 1m, 1h30m, 500ms (the
# values schema's serviceMonitor.interval pattern, chart/observability.py, is the same; not
# imported from there, so that loading this module stays cheap).
DURATION = r"^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$"

SERVICE_MONITOR = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "monitoring.coreos.com/v1"},
        "kind": {"const": "ServiceMonitor"},
        "metadata": {"$ref": _DEFS + "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"},
        "spec": {
            "type": "object",
            "required": ["selector", "endpoints"],
            "properties": {
                "selector": {"$ref": _DEFS + "io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector"},
                "namespaceSelector": {
                    "type": "object",
                    "properties": {"any": {"type": "boolean"},
                                   "matchNames": {"type": "array", "items": {"type": "string"}}},
                    "additionalProperties": False,
                },
                "jobLabel": {"type": "string"},
                "endpoints": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "properties": {
                            "port": {"type": "string", "minLength": 1},
                            "targetPort": {"type": ["integer", "string"]},
                            "path": {"type": "string", "pattern": "^/"},
                            "scheme": {"enum": ["http", "https", "HTTP", "HTTPS"]},
                            "interval": {"type": "string", "pattern": DURATION},
                            "scrapeTimeout": {"type": "string", "pattern": DURATION},
                            "honorLabels": {"type": "boolean"},
                        },
                    },
                },
            },
        },
    },
}

# (apiVersion, kind) -> schema, for kinds kubernetes-validate does not have.
SCHEMAS = {("monitoring.coreos.com/v1", "ServiceMonitor"): SERVICE_MONITOR}

_SCALED = ("Deployment", "StatefulSet", "ReplicaSet")


def schema_for(api_version: str, kind: str) -> dict[str, Any] | None:
    return SCHEMAS.get((api_version, kind))


def _d(value: object) -> dict:
    return value if isinstance(value, dict) else {}


def _l(value: object) -> list:
    return value if isinstance(value, list) else []


def _id(obj: dict) -> tuple[str, str, str | None]:
    meta = _d(obj.get("metadata"))
    ns = meta.get("namespace")
    return str(obj.get("kind") or "?"), str(meta.get("name") or "?"), ns if isinstance(ns, str) else None


def _same_namespace(a: str | None, b: str | None) -> bool:
    return a is None or b is None or a == b    # unset: the release's namespace


def check_monitoring(objects: list[dict]) -> list[tuple[str, str, str, str, str]]:
    """Reference checks of ServiceMonitors and HorizontalPodAutoscalers against the manifest."""
    objects = [o for o in objects if isinstance(o, dict)]
    services = [o for o in objects if o.get("kind") == "Service"]
    out = []
    for obj in objects:
        kind, name, namespace = _id(obj)
        label, spec = f"{kind}/{name}", _d(obj.get("spec"))
        if kind == "ServiceMonitor" and obj.get("apiVersion") == "monitoring.coreos.com/v1":
            labels = _d(_d(spec.get("selector")).get("matchLabels"))
            names = _d(spec.get("namespaceSelector")).get("matchNames")
            spaces = names if isinstance(names, list) else [namespace]
            chosen = [s for s in services
                      if any(_same_namespace(_id(s)[2], ns) for ns in spaces)
                      and labels and all(_d(_d(s.get("metadata")).get("labels")).get(k) == v
                                         for k, v in labels.items())]
            if not chosen:
                wanted = ",".join(sorted(f"{k}={v}" for k, v in labels.items()))
                out.append(("error", "selector", label, "spec.selector",
                            f"selector {wanted} matches no Service in the manifest"))
                continue
            ports = {p.get("name") for s in chosen for p in _l(_d(s.get("spec")).get("ports")) if isinstance(p, dict)}
            for i, ep in enumerate(_l(spec.get("endpoints"))):
                port = _d(ep).get("port")
                if port is not None and port not in ports:
                    out.append(("error", "reference", label, f"spec.endpoints[{i}].port",
                                f"port {port!r} is not a port of the Services it selects "
                                f"({', '.join(sorted(str(p) for p in ports))})"))
        elif kind == "HorizontalPodAutoscaler":
            ref = _d(spec.get("scaleTargetRef"))
            target = next((o for o in objects if _id(o)[:2] == (ref.get("kind"), ref.get("name"))
                           and _same_namespace(_id(o)[2], namespace)), None)
            if ref.get("kind") not in _SCALED or target is None:
                out.append(("error", "reference", label, "spec.scaleTargetRef",
                            f"{ref.get('kind')} {ref.get('name')!r} is not a Deployment, StatefulSet or "
                            "ReplicaSet of the manifest"))
            elif "replicas" in _d(target.get("spec")):
                out.append(("warning", "reference", label, "spec.scaleTargetRef",
                            f"{ref.get('kind')} {ref.get('name')!r} sets replicas, which every upgrade "
                            "resets under the autoscaler"))
    return out
