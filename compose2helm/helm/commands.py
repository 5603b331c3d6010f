"""`compose2helm template` and `compose2helm dependency update`: the helm commands the RFC uses,
run by the embedded Helm engine (or by a helm binary when one is given)."""
from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..errors import InputError
from ..util.scratch import scratch_dir
from .assemble import assemble, dependencies
from .documents import Document, is_test_hook, sort_key, split_documents
from .engine import load_engine


@dataclass
class TemplateOptions:
    release: str
    chart: Path
    values_files: list[Path] = field(default_factory=list)
    set_values: list[str] = field(default_factory=list)
    set_strings: list[str] = field(default_factory=list)
    namespace: str = "default"
    skip_tests: bool = False
    output_dir: Path | None = None


def merge_values(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """Helm's coalescing of user values: maps merge key by key, anything else is replaced."""
    out = dict(base)
    for k, v in over.items():
        out[k] = merge_values(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def user_values(opts: TemplateOptions) -> dict[str, Any]:
    """Values in helm's order: -f files in turn, then every --set, then every --set-string."""
    helm = load_engine()
    values: dict[str, Any] = {}
    for f in opts.values_files:
        try:
            loaded = yaml.safe_load(Path(f).read_text(encoding="utf-8")) or {}
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            raise InputError(f"cannot read values: {' '.join(str(exc).split())}", file=f) from None
        if not isinstance(loaded, dict):
            raise InputError("a values file must be a YAML mapping", file=f)
        values = merge_values(values, loaded)
    for parse, expressions in ((helm.parse_set_string, opts.set_values),
                               (helm.parse_set_string_values, opts.set_strings)):
        for expression in expressions:
            try:
                values = merge_values(values, parse(expression))
            except helm.HelmError as exc:
                raise InputError(f"bad --set expression {expression!r}: {' '.join(str(exc).split())}") from None
    return values


def _missing_dependencies(chart: Path) -> bool:
    charts = chart / "charts"
    return any(not (charts / d.get("name", "")).is_dir() and not list(charts.glob(f"{d.get('name')}-*.tgz"))
               for d in dependencies(chart))


def render(opts: TemplateOptions) -> list[Document]:
    """Render like `helm template`. Missing dependencies are built in a scratch copy, so a
    fresh checkout renders without a `dependency update` first (which still fills charts/)."""
    helm = load_engine()
    chart = Path(opts.chart)
    if not (chart / "Chart.yaml").is_file():
        raise InputError("not a chart directory (no Chart.yaml)", file=chart)
    values = user_values(opts)
    with scratch_dir("c2h-template-") as tmp:
        target = assemble(chart, Path(tmp) / chart.resolve().name) if _missing_dependencies(chart) else chart
        try:
            with helm.Chart.load(str(target)) as loaded:
                out = loaded.render(values=values, name=opts.release, namespace=opts.namespace)
        except helm.HelmError as exc:
            raise InputError(f"helm could not render the chart: {' '.join(str(exc).split())}", file=chart) from None
    docs = split_documents(out)
    if opts.skip_tests:
        docs = [d for d in docs if not is_test_hook(d)]
    return docs


def template_text(docs: list[Document]) -> str:
    """stdout of `helm template`: manifests in install order, hooks (tests) last."""
    manifests = sorted((d for d in docs if not _hook(d)), key=sort_key)
    hooks = sorted((d for d in docs if _hook(d)), key=sort_key)
    return "".join(f"---\n# Source: {d.source}\n{d.text}\n" for d in manifests + hooks)


def _hook(doc: Document) -> bool:
    return bool(((doc.obj.get("metadata") or {}).get("annotations") or {}).get("helm.sh/hook"))


def write_output_dir(docs: list[Document], output_dir: Path) -> list[Path]:
    """`--output-dir`: each template's documents in DIR/<source path>, as helm writes them."""
    written: dict[Path, list[str]] = {}
    for d in sorted(docs, key=lambda d: (d.source, sort_key(d))):
        path = Path(output_dir) / d.source
        written.setdefault(path, []).append(f"---\n# Source: {d.source}\n{d.text}\n")
    for path, chunks in written.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(chunks), encoding="utf-8")
    return sorted(written)


def run_helm_binary(helm_bin: str, opts: TemplateOptions, create_namespace: bool) -> subprocess.CompletedProcess:
    """The same command through a helm binary (HELM_BIN / --helm-bin). A chart whose file://
    dependencies are not in charts/ is rendered from a scratch copy that has them, as render()
    does, so a fresh checkout renders without a `dependency update` first."""
    chart = Path(opts.chart)
    if not (chart / "Chart.yaml").is_file() or not _missing_dependencies(chart):
        return _run_helm(helm_bin, opts, chart, create_namespace)
    with scratch_dir("c2h-template-") as tmp:
        return _run_helm(helm_bin, opts, assemble(chart, Path(tmp) / chart.resolve().name), create_namespace)


def _run_helm(helm_bin: str, opts: TemplateOptions, chart: Path, create_namespace: bool) -> subprocess.CompletedProcess:
    cmd = [helm_bin, "template", opts.release, str(chart), "--namespace", opts.namespace]
    for f in opts.values_files:
        cmd += ["--values", str(f)]
    for s in opts.set_values:
        cmd += ["--set", s]
    for s in opts.set_strings:
        cmd += ["--set-string", s]
    if opts.skip_tests:
        cmd.append("--skip-tests")
    if create_namespace:
        cmd.append("--create-namespace")
    if opts.output_dir is not None:
        cmd += ["--output-dir", str(opts.output_dir)]
    try:
        return subprocess.run(cmd, capture_output=True, text=True)
    except OSError as exc:
        raise InputError(f"cannot run helm binary: {exc}", file=helm_bin) from None


def dependency_update(chart: Path) -> list[str]:
    """Fill chart/charts/ and write Chart.lock, as `helm dependency update` does."""
    helm = load_engine()
    chart = Path(chart)
    if not (chart / "Chart.yaml").is_file():
        raise InputError("not a chart directory (no Chart.yaml)", file=chart)
    try:
        helm.dependency_update(str(chart))
    except helm.HelmError as exc:
        raise InputError(f"dependency update failed: {' '.join(str(exc).split())}", file=chart) from None
    return sorted(p.name for p in (chart / "charts").glob("*.tgz"))
