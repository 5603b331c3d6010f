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


def dependencies(chart_dir: Path) -> list[dict[str, Any]]:
    meta = yaml.safe_load((chart_dir / "Chart.yaml").read_text(encoding="utf-8")) or {}
    return [d for d in meta.get("dependencies") or [] if isinstance(d, dict)]


_IGNORE = shutil.ignore_patterns("charts", "Chart.lock", ".git")


def assemble(chart_dir: Path, dest: Path, _stack: tuple[Path, ...] = ()) -> Path:
    """Copy a chart to dest with its file:// dependencies unpacked in charts/, recursively.

    This is what `helm dependency build` produces for local dependencies, without packaging
    each into a .tgz (Helm loads unpacked subcharts the same way).
    """
    chart_dir = Path(chart_dir).resolve()
    if chart_dir in _stack:
        raise InputError("chart dependencies form a cycle", file=chart_dir)
    if not (chart_dir / "Chart.yaml").is_file():
        raise InputError("dependency chart not found (no Chart.yaml)", file=chart_dir)
    shutil.copytree(chart_dir, dest, ignore=_IGNORE)
    done = set()
    for dep in dependencies(chart_dir):
        repo, name = str(dep.get("repository", "")), str(dep.get("name", ""))
        if name in done:
            continue
        done.add(name)
        if repo.startswith("file://"):
            assemble(chart_dir / repo[len("file://"):], dest / "charts" / name, _stack + (chart_dir,))
        elif (chart_dir / "charts").is_dir():   # a remote dependency already fetched
            for archive in (chart_dir / "charts").glob(f"{name}-*.tgz"):
                (dest / "charts").mkdir(exist_ok=True)
                shutil.copy2(archive, dest / "charts" / archive.name)
    return dest


def render_chart(chart_dir: Path, values: dict[str, Any], release: str,
                 namespace: str = "default") -> list[Document]:
    """Render chart_dir with its (file://) dependencies built in a scratch copy."""
    helm = _helm()
    with tempfile.TemporaryDirectory(prefix="c2h-render-") as tmp:
        target = assemble(chart_dir, Path(tmp) / Path(chart_dir).name)
        try:
            with helm.Chart.load(str(target)) as chart:
                out = chart.render(values=values, name=release, namespace=namespace)
        except helm.HelmError as exc:
            raise InputError(f"helm could not render the chart: {' '.join(str(exc).split())}",
                             file=chart_dir) from None
    return split_documents(out)


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


def lint_chart(chart_dir: Path) -> list[dict[str, Any]]:
    """helm lint messages ({severity: info|warning|error, path, message}) for one chart."""
    helm = _helm()
    names = {0: "unknown", 1: "info", 2: "warning", 3: "error"}
    with tempfile.TemporaryDirectory(prefix="c2h-lint-") as tmp:
        target = assemble(chart_dir, Path(tmp) / Path(chart_dir).name)
        report = helm.lint(str(target))
    messages = [{"severity": names.get(m.get("severity", 0), "unknown"), "path": m.get("path", ""),
                 "message": m.get("error", "")} for m in report.get("messages", [])]
    messages += [{"severity": "error", "path": "", "message": e} for e in report.get("errors", [])
                 if not any(e == m["message"] for m in messages)]
    return messages
