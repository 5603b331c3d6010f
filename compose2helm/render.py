"""Render an umbrella chart with the embedded Helm engine, and lint charts.

Dependencies are built in a scratch copy: committed charts carry no charts/ folder (a .tgz
holds timestamps, which would break byte-identical reruns).
"""
from __future__ import annotations

import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .errors import InputError

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


def _helm():
    import helm_python  # the shared library is large: load it only when rendering
    return helm_python


def render_chart(chart_dir: Path, values: dict[str, Any], release: str,
                 charts_root: Path | None = None, namespace: str = "default") -> list[Document]:
    """Render chart_dir (whose dependencies are file://../common/* under charts_root)."""
    helm = _helm()
    with tempfile.TemporaryDirectory(prefix="c2h-render-") as tmp:
        work = Path(tmp) / "charts"
        root = charts_root or chart_dir.parent
        shutil.copytree(chart_dir, work / chart_dir.name, ignore=shutil.ignore_patterns("charts", "Chart.lock"))
        if (root / "common").is_dir():
            shutil.copytree(root / "common", work / "common",
                            ignore=shutil.ignore_patterns("charts", "Chart.lock"))
        target = work / chart_dir.name
        try:
            if _has_dependencies(target):
                helm.dependency_update(str(target))
            with helm.Chart.load(str(target)) as chart:
                out = chart.render(values=values, name=release, namespace=namespace)
        except helm.HelmError as exc:
            raise InputError(f"helm could not render the chart: {' '.join(str(exc).split())}",
                             file=chart_dir) from None
    return split_documents(out)


def _has_dependencies(chart_dir: Path) -> bool:
    meta = yaml.safe_load((chart_dir / "Chart.yaml").read_text(encoding="utf-8")) or {}
    return bool(meta.get("dependencies"))


def split_documents(rendered: dict[str, str]) -> list[Document]:
    docs: list[Document] = []
    for source in sorted(rendered):
        if source.endswith("NOTES.txt"):
            continue
        for chunk in re.split(r"^---\s*$", rendered[source], flags=re.M):
            obj = yaml.safe_load(chunk)
            if not isinstance(obj, dict) or not obj:
                continue
            docs.append(Document(source, chunk.strip("\n"), obj))
    return docs


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


def lint_chart(chart_dir: Path, charts_root: Path | None = None) -> list[dict[str, Any]]:
    """helm lint messages ({severity: info|warning|error, path, message}) for one chart."""
    helm = _helm()
    names = {0: "unknown", 1: "info", 2: "warning", 3: "error"}
    with tempfile.TemporaryDirectory(prefix="c2h-lint-") as tmp:
        work = Path(tmp) / "charts"
        root = charts_root or chart_dir.parent
        shutil.copytree(chart_dir, work / chart_dir.name, ignore=shutil.ignore_patterns("charts", "Chart.lock"))
        if _has_dependencies(work / chart_dir.name) and (root / "common").is_dir():
            shutil.copytree(root / "common", work / "common", ignore=shutil.ignore_patterns("charts", "Chart.lock"))
            helm.dependency_update(str(work / chart_dir.name))
        report = helm.lint(str(work / chart_dir.name))
    messages = [{"severity": names.get(m.get("severity", 0), "unknown"), "path": m.get("path", ""),
                 "message": m.get("error", "")} for m in report.get("messages", [])]
    messages += [{"severity": "error", "path": "", "message": e} for e in report.get("errors", [])
                 if not any(e == m["message"] for m in messages)]
    return messages
