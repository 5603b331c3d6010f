"""Offline structural checks of rendered Kubernetes objects.

Two kinds of check over a list of objects (as parsed from a multi-document manifest):
- strict JSON-schema validation against the schemas bundled with kubernetes-validate;
- cross-object checks: Service selectors, ConfigMap/Secret/PVC references, names, duplicates.

Schemas are read once per process and compiled once per kind by util/schemacheck.py, whose fast
yes passes valid objects; jsonschema (imported only then) words the problems of the others.
"""
from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass

from .k8sschemas import checker, resolve_version, validator
from .monitoring import check_monitoring


@dataclass(frozen=True)
class Problem:
    severity: str      # "error" | "warning"
    check: str         # "schema" | "selector" | "reference" | "name" | "duplicate"
    object: str        # "Kind/name"
    path: str          # location inside the object, e.g. "spec.template.spec.containers[0].name"
    message: str       # one line

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


def check_all(objects: list[dict], kube_version: str | None = None) -> list[Problem]:
    """Schema and reference checks together, sorted by object, path, message."""
    return _sorted(validate_schema(objects, kube_version) + check_references(objects))


def _sorted(problems: list[Problem]) -> list[Problem]:
    return sorted(problems, key=lambda p: (p.object, p.path, p.message, p.severity, p.check))


def _label(obj: object) -> str:
    if not isinstance(obj, dict):
        return "?/?"
    return f"{obj.get('kind') or '?'}/{_dict(obj.get('metadata')).get('name') or '?'}"


def _dict(value: object) -> dict:
    # Reference checks must not crash on malformed objects; the schema check reports those.
    return value if isinstance(value, dict) else {}


def _list(value: object) -> list:
    return value if isinstance(value, list) else []


def _one_line(text: str, limit: int = 300) -> str:
    # jsonschema messages embed repr(instance), which can be a whole sub-object.
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def validate_schema(objects: list[dict], kube_version: str | None = None) -> list[Problem]:
    """Strict schema validation (unknown fields fail). Kinds without a schema are warnings."""
    version = resolve_version(kube_version)
    problems: list[Problem] = []
    for obj in objects:
        label = _label(obj)
        api_version, kind = (obj.get("apiVersion"), obj.get("kind")) if isinstance(obj, dict) else (None, None)
        if not (isinstance(api_version, str) and isinstance(kind, str)):
            problems.append(Problem("error", "schema", label, "", "object without a string apiVersion and kind"))
            continue
        fast = checker(version, api_version, kind)
        if fast is None:
            problems.append(Problem("warning", "schema", label, "",
                                    f"no schema for {api_version}/{kind} in Kubernetes {version}"))
            continue
        key = (version, repr(obj))   # repr tells 1 from 1.0 and True, and keeps key order
        if key not in _VALIDATED:
            if len(_VALIDATED) >= 20000:
                _VALIDATED.clear()
            _VALIDATED[key] = [] if fast.is_valid(obj) else [
                p for error in validator(version, api_version, kind).iter_errors(obj)
                for p in _schema_problems(label, error)]
        problems.extend(_VALIDATED[key])
    return _sorted(problems)


# Objects recur unchanged across the conversions of a migration (a component with the same values
# renders the same): each distinct object is validated once per process.
_VALIDATED: dict[tuple[str, str], list[Problem]] = {}


def _schema_problems(label: str, error) -> list[Problem]:
    path = _path(error.absolute_path)
    schema = error.schema if isinstance(error.schema, dict) else {}
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        # One problem per unknown field, located at the field itself.
        known = schema.get("properties", {})
        patterns = schema.get("patternProperties", {})
        extras = [k for k in error.instance if k not in known and not any(re.search(p, str(k)) for p in patterns)]
        if extras:
            return [Problem("error", "schema", label, _path([*error.absolute_path, k]), f"unknown field {k!r}")
                    for k in extras]
    return [Problem("error", "schema", label, path, _one_line(error.message))]


_PLAIN_KEY = re.compile(r"[A-Za-z_$][A-Za-z0-9_-]*")


def _path(parts) -> str:
    """["spec", "ports", 0, "name"] -> "spec.ports[0].name"; odd keys are quoted: labels["a/b"]."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _PLAIN_KEY.fullmatch(part := str(part)):
            out += f".{part}" if out else part
        else:
            out += f"[{json.dumps(part)}]"
    return out


# --- reference, name and duplicate checks -----------------------------------------------------

# Where each workload kind keeps its pod template (a bare Pod is its own template).
_TEMPLATE_AT = {
    "Deployment": ("spec", "template"),
    "StatefulSet": ("spec", "template"),
    "DaemonSet": ("spec", "template"),
    "ReplicaSet": ("spec", "template"),
    "Job": ("spec", "template"),
    "CronJob": ("spec", "jobTemplate", "spec", "template"),
    "Pod": (),
}

_LABEL = r"[a-z0-9](?:[-a-z0-9]*[a-z0-9])?"
# rule -> (pattern, max length, what it means), after k8s.io/apimachinery/pkg/util/validation.
_NAME_RULES = {
    "subdomain": (re.compile(rf"{_LABEL}(?:\.{_LABEL})*"), 253,
                  "a DNS-1123 subdomain (lowercase alphanumerics, '-' and '.', at most 253)"),
    "label": (re.compile(_LABEL), 63,
              "a DNS-1123 label (lowercase alphanumerics and '-', at most 63)"),
    "dns1035": (re.compile(r"[a-z](?:[-a-z0-9]*[a-z0-9])?"), 63,
                "a DNS-1035 label (starts with a letter; lowercase alphanumerics and '-', at most 63)"),
    "port": (re.compile(rf"(?=.*[a-z])(?!.*--){_LABEL}"), 15,
             "an IANA service name (at most 15 lowercase alphanumerics and '-', a letter, no '--')"),
    # RBAC objects may use names like "system:node-reader" (ValidatePathSegmentName).
    "segment": (re.compile(r"(?!\.\.?$)[^/%]+"), 253, "a path segment (no '/' or '%', not '.' or '..')"),
}
_OBJECT_NAME_RULE = {"Service": "dns1035", "Namespace": "label", "Role": "segment", "ClusterRole": "segment",
                     "RoleBinding": "segment", "ClusterRoleBinding": "segment"}


def _name_problem(label: str, path: str, name: object, rule: str) -> list[Problem]:
    pattern, limit, meaning = _NAME_RULES[rule]
    if isinstance(name, str) and len(name) <= limit and pattern.fullmatch(name):
        return []
    return [Problem("error", "name", label, path, _one_line(f"{name!r} is not {meaning}"))]


def _pod_refs(spec: dict, at: str):
    """(kind, name, optional, path) for each ConfigMap, Secret and PVC that a pod spec names."""
    for group in ("initContainers", "containers"):
        for i, container in enumerate(_list(spec.get(group))):
            base = f"{at}.{group}[{i}]"
            for j, source in enumerate(_list(_dict(container).get("envFrom"))):
                for key, kind in (("configMapRef", "ConfigMap"), ("secretRef", "Secret")):
                    if key in _dict(source):
                        ref = _dict(source[key])
                        yield kind, ref.get("name"), ref.get("optional") is True, f"{base}.envFrom[{j}].{key}.name"
            for j, env in enumerate(_list(_dict(container).get("env"))):
                value_from = _dict(_dict(env).get("valueFrom"))
                for key, kind in (("configMapKeyRef", "ConfigMap"), ("secretKeyRef", "Secret")):
                    if key in value_from:
                        ref = _dict(value_from[key])
                        yield (kind, ref.get("name"), ref.get("optional") is True,
                               f"{base}.env[{j}].valueFrom.{key}.name")
    for i, volume in enumerate(_list(spec.get("volumes"))):
        for key, field, kind in (("configMap", "name", "ConfigMap"), ("secret", "secretName", "Secret"),
                                 ("persistentVolumeClaim", "claimName", "PersistentVolumeClaim")):
            if key in _dict(volume):
                ref = _dict(volume[key])
                yield kind, ref.get(field), ref.get("optional") is True, f"{at}.volumes[{i}].{key}.{field}"


def _ids(obj: object) -> tuple:
    """(kind, name, namespace) of an object, each None unless a string (so always hashable)."""
    meta = _dict(_dict(obj).get("metadata"))
    return tuple(v if isinstance(v, str) else None
                 for v in (_dict(obj).get("kind"), meta.get("name"), meta.get("namespace")))


def check_references(objects: list[dict]) -> list[Problem]:
    """Selectors, references, names and duplicates across the objects of one manifest."""
    problems: list[Problem] = []
    present: dict[tuple, set] = {}      # (kind, name) -> namespaces (None: unset, i.e. the release's)
    pods = []                           # (object label, namespace, pod labels, pod spec, pod spec path)
    seen: dict[tuple, int] = {}         # (group, kind, namespace, name) -> first document number
    for obj in objects:
        kind, name, namespace = _ids(obj)
        present.setdefault((kind, name), set()).add(namespace)

    def found(kind: str, name: str, namespace: str | None) -> bool:
        # Unset namespaces match anything: they land in whatever namespace the release uses.
        spaces = present.get((kind, name), set())
        return bool(spaces) and (namespace is None or None in spaces or namespace in spaces)

    for number, obj in enumerate(objects, 1):
        if not isinstance(obj, dict):
            continue
        label, meta = _label(obj), _dict(obj.get("metadata"))
        kind, name, namespace = _ids(obj)
        if "name" not in meta and not meta.get("generateName"):
            problems.append(Problem("error", "name", label, "metadata.name", "metadata.name is missing"))
        elif "name" in meta:
            problems += _name_problem(label, "metadata.name", meta["name"], _OBJECT_NAME_RULE.get(kind, "subdomain"))
        if name is not None:
            key = (str(obj.get("apiVersion", "")).rpartition("/")[0], kind, namespace or "", name)
            if key in seen:
                problems.append(Problem("error", "duplicate", label, "metadata.name",
                                        f"same group, kind, namespace and name as document #{seen[key]}"))
            seen.setdefault(key, number)

        if kind in _TEMPLATE_AT:
            template, at = obj, _TEMPLATE_AT[kind]
            for key in at:
                template = _dict(template.get(key))
            pods.append((label, namespace, _dict(_dict(template.get("metadata")).get("labels")),
                         _dict(template.get("spec")), ".".join([*at, "spec"])))

    for label, namespace, _, spec, at in pods:
        for group in ("initContainers", "containers"):
            for i, container in enumerate(_list(spec.get(group))):
                base = f"{at}.{group}[{i}]"
                problems += _name_problem(label, f"{base}.name", _dict(container).get("name"), "label")
                for j, port in enumerate(_list(_dict(container).get("ports"))):
                    if "name" in _dict(port):
                        problems += _name_problem(label, f"{base}.ports[{j}].name", port["name"], "port")
        for kind, name, optional, path in _pod_refs(spec, at):
            if not isinstance(name, str) or not name:
                problems.append(Problem("error", "reference", label, path, f"{kind} reference without a name"))
            elif not optional and not found(kind, name, namespace):
                pvc = kind == "PersistentVolumeClaim"
                problems.append(Problem("warning" if pvc else "error", "reference", label, path,
                                        f"{kind} {name!r} is not in the manifest"
                                        + (" (it may be created elsewhere)" if pvc else "")))

    for obj in objects:
        if not isinstance(obj, dict) or obj.get("kind") != "Service":
            continue
        label, spec, (_, _, namespace) = _label(obj), _dict(obj.get("spec")), _ids(obj)
        for j, port in enumerate(_list(spec.get("ports"))):
            port = _dict(port)
            if "name" in port:
                problems += _name_problem(label, f"spec.ports[{j}].name", port["name"], "label")
            if isinstance(port.get("targetPort"), str):
                problems += _name_problem(label, f"spec.ports[{j}].targetPort", port["targetPort"], "port")
        selector = _dict(spec.get("selector"))
        # No selector (or ExternalName): endpoints are managed by hand, nothing to match.
        if not selector or spec.get("type") == "ExternalName":
            continue
        if not any((namespace is None or ns is None or ns == namespace)
                   and all(labels.get(k) == v for k, v in selector.items())
                   for _, ns, labels, _, _ in pods):
            wanted = ",".join(sorted(f"{k}={v}" for k, v in selector.items()))
            problems.append(Problem("error", "selector", label, "spec.selector",
                                    _one_line(f"selector {wanted} matches no pod template in the manifest")))
    # ServiceMonitors select Services and name their ports; autoscalers name the workload they scale.
    problems += [Problem(*p[:4], _one_line(p[4])) for p in check_monitoring(objects)]
    return _sorted(problems)
