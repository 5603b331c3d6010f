"""Render an umbrella chart with the embedded Helm engine, and lint charts.

Dependencies are built in a scratch copy: committed charts carry no charts/ folder (a .tgz
holds timestamps, which would break byte-identical reruns).
"""
from __future__ import annotations

import hashlib
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)   # libyaml when PyYAML has it

from .errors import InputError
from .scratch import scratch_dir

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
    meta = yaml.load((chart_dir / "Chart.yaml").read_text(encoding="utf-8"), Loader=SAFE_LOADER) or {}
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
    with scratch_dir("c2h-render-") as tmp:
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
            obj = yaml.load(chunk, Loader=SAFE_LOADER)
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


def _digest(chart_dir: Path, h: "hashlib._Hash | None" = None, _stack: tuple = ()) -> str:
    """A digest of a chart and its file:// dependencies: what lint's result depends on."""
    top = h is None
    h = h or hashlib.sha256()
    chart_dir = Path(chart_dir).resolve()
    if chart_dir in _stack:
        return ""
    for p in sorted(chart_dir.rglob("*")):
        rel = p.relative_to(chart_dir)
        if p.is_file() and rel.parts[0] not in ("charts", ".git") and p.name != "Chart.lock":
            h.update(str(rel).encode() + b"\0" + p.read_bytes() + b"\0")
    for dep in dependencies(chart_dir):
        repo = str(dep.get("repository", ""))
        if repo.startswith("file://"):
            h.update(b"dep:" + str(dep.get("name")).encode())
            _digest(chart_dir / repo[len("file://"):], h, _stack + (chart_dir,))
    return h.hexdigest() if top else ""


_LINTED: dict[str, list[dict[str, Any]]] = {}


def lint_chart(chart_dir: Path) -> list[dict[str, Any]]:
    """helm lint messages ({severity: info|warning|error, path, message}) for one chart.

    A chart's lint depends on its files alone, and common charts recur in every conversion of
    a migration: each distinct chart is linted once per process."""
    key = _digest(chart_dir)
    if key not in _LINTED:
        _LINTED[key] = _lint(chart_dir)
    return [dict(m) for m in _LINTED[key]]


def _lint(chart_dir: Path) -> list[dict[str, Any]]:
    helm = _helm()
    names = {0: "unknown", 1: "info", 2: "warning", 3: "error"}
    with scratch_dir("c2h-lint-") as tmp:
        target = assemble(chart_dir, Path(tmp) / Path(chart_dir).name)
        report = helm.lint(str(target))
    messages = [{"severity": names.get(m.get("severity", 0), "unknown"), "path": m.get("path", ""),
                 "message": m.get("error", "")} for m in report.get("messages", [])]
    messages += [{"severity": "error", "path": "", "message": e} for e in report.get("errors", [])
                 if not any(e == m["message"] for m in messages)]
    return messages
