"""The documents Helm renders: one Document per object, the install order of kinds, and the
manifest file they make."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import yaml

from ..errors import InputError
from ..yamlout import SAFE_LOADER, copy_tree


# Install order of kinds, as helm sorts them; anything else after these, by name.
_KIND_ORDER = ["Namespace", "NetworkPolicy", "ResourceQuota", "LimitRange", "PodSecurityPolicy",
               "PodDisruptionBudget", "ServiceAccount", "Secret", "SecretList", "ConfigMap", "StorageClass",
               "PersistentVolume", "PersistentVolumeClaim", "CustomResourceDefinition", "ClusterRole",
               "ClusterRoleList", "ClusterRoleBinding", "ClusterRoleBindingList", "Role", "RoleList",
               "RoleBinding", "RoleBindingList", "Service", "DaemonSet", "Pod", "ReplicationController",
               "ReplicaSet", "Deployment", "HorizontalPodAutoscaler", "StatefulSet", "Job", "CronJob",
               "IngressClass", "Ingress", "APIService"]


@dataclass(frozen=True)
class Document:
    source: str        # template path, e.g. chatqna/charts/tgi/templates/deployment.yaml
    text: str          # the YAML of one object
    obj: dict[str, Any]


def split_documents(rendered: dict[str, str]) -> list[Document]:
    docs: list[Document] = []
    for source in sorted(rendered):
        if source.endswith("NOTES.txt"):
            continue
        for chunk in re.split(r"^---\s*$", rendered[source], flags=re.M):
            if chunk not in _PARSED:
                if len(_PARSED) >= 20000:
                    _PARSED.clear()
                try:
                    _PARSED[chunk] = yaml.load(chunk, Loader=SAFE_LOADER)
                except yaml.YAMLError as exc:   # a template wrote broken YAML: the chart's fault
                    raise InputError(f"{source} renders text that is not YAML: {' '.join(str(exc).split())}") \
                        from None
            obj = _PARSED[chunk]
            if not isinstance(obj, dict) or not obj:
                continue
            docs.append(Document(source, chunk.strip("\n"), copy_tree(obj)))
    return docs


# Rendered objects recur unchanged across the conversions of a migration: each distinct text is
# parsed once per process, and every caller gets its own copy.
_PARSED: dict[str, Any] = {}


def is_test_hook(doc: Document) -> bool:
    hooks = ((doc.obj.get("metadata") or {}).get("annotations") or {}).get("helm.sh/hook", "")
    return "test" in [h.strip() for h in str(hooks).split(",")]


def sort_key(doc: Document) -> tuple:
    kind = doc.obj.get("kind", "")
    order = _KIND_ORDER.index(kind) if kind in _KIND_ORDER else len(_KIND_ORDER)
    return order, kind, (doc.obj.get("metadata") or {}).get("name", ""), doc.source


def manifest_text(docs: list[Document]) -> str:
    """One file for `kubectl apply -f`: objects in install order, each marked with its template."""
    parts = []
    for doc in sorted((d for d in docs if not is_test_hook(d)), key=sort_key):
        parts.append(f"---\n# Source: {doc.source}\n{doc.text}\n")
    return "".join(parts)
