"""The command line as a user runs it: exit codes, one-line errors, nothing half-written."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import EXAMPLES


GAUDI = EXAMPLES / "ChatQnA/docker/gaudi/compose.yaml"
COMMAND = Path(sys.executable).parent / "compose2helm"     # the console script pip installed
# Settings of the caller's terminal that change the output; a test passes them explicitly.
_TERMINAL_ENV = ("FORCE_COLOR", "NO_COLOR", "COLUMNS", "LINES", "TTY_COMPATIBLE", "TTY_INTERACTIVE",
                 "COMPOSE2HELM_DEBUG")


def run(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """The installed command as a user's script or a CI job runs it: a process of its own whose
    stdout and stderr are pipes, not a terminal."""
    command = [str(COMMAND)] if COMMAND.is_file() else [sys.executable, "-m", "compose2helm"]
    environ = {k: v for k, v in os.environ.items() if k not in _TERMINAL_ENV}
    return subprocess.run(command + list(args), capture_output=True, text=True, cwd=cwd, timeout=300,
                          env={**environ, **(env or {})})


def tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_convert_writes_charts_and_manifests(tmp_path):
    r = run("convert", str(GAUDI), "--out", str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "manifests/ChatQnA/gaudi-tgi/chatqna.yaml").is_file()
    assert (tmp_path / "helm-charts/chatqna/gaudi-tgi-values.yaml").is_file()
    assert (tmp_path / "helm-charts/common/tgi/values.yaml").is_file()
    assert "chatqna" in r.stdout


def test_convert_json_report(tmp_path):
    r = run("convert", str(GAUDI), "--out", str(tmp_path), "--format", "json")
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["chart"] == "chatqna" and report["platform"] == "gaudi"
    services = {s["service"]: s for s in report["services"]}
    assert services["tgi-service"]["chart"] == "tgi"
    assert any(f["rule"] == "policy:accelerator-device-plugin" for f in report["findings"])
    assert all(m["severity"] != "error" for msgs in report["lint"].values() for m in msgs)


def test_example_platform_variant_flags(tmp_path):
    src = tmp_path / "in" / "mine.yaml"
    src.parent.mkdir()
    src.write_text(GAUDI.read_text())
    r = run("convert", str(src), "--out", str(tmp_path / "out"), "--example", "MyQnA", "--platform", "gaudi2",
            "--variant", "fast")
    assert r.returncode == 0, r.stderr
    # the overlay's name: platform, variant, then the engine the file runs (TGI)
    assert (tmp_path / "out/manifests/MyQnA/gaudi2-fast-tgi/myqna.yaml").is_file()
    assert (tmp_path / "out/helm-charts/myqna/gaudi2-fast-tgi-values.yaml").is_file()


BAD = {
    "not yaml": ("services: [\n", None),
    "not a mapping": ("- a\n- b\n", None),
    "service without image": ("services:\n  app:\n    environment: {A: 1}\n", "app"),
    "bad port": ("services:\n  app:\n    image: x\n    ports: ['80:']\n", "app"),
    "required variable": ("services:\n  app:\n    image: x\n    environment:\n      A: ${NOPE:?set NOPE}\n", "app"),
    "depends on missing": ("services:\n  app:\n    image: x\n    depends_on: [db]\n", "app"),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_input_one_line_exit_2_nothing_written(tmp_path, name):
    text, service = BAD[name]
    src = tmp_path / "Ex" / "docker" / "xeon" / "compose.yaml"
    src.parent.mkdir(parents=True)
    src.write_text(textwrap.dedent(text))
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    before = tree(out)
    r = run("convert", str(src), "--out", str(out))
    assert r.returncode == 2, (r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert "Traceback" not in r.stderr
    assert str(src) in lines[0]
    if service:
        assert service in lines[0]
    assert tree(out) == before
    assert not [p for p in out.iterdir() if p.name.startswith(".compose2helm-")]


def test_missing_file_and_bad_format(tmp_path):
    r = run("convert", str(tmp_path / "nope.yaml"))
    assert r.returncode == 2 and "nope.yaml" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    r = run("convert", str(GAUDI), "--format", "xml", "--out", str(tmp_path))
    assert r.returncode == 2
    r = run("convert")
    assert r.returncode == 2


def test_version():
    r = run("--version")
    assert r.returncode == 0 and r.stdout.startswith("compose2helm ")


def test_dry_run_writes_nothing_and_lists_files(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    r = run("convert", str(GAUDI), "--out", str(out), "--dry-run")
    assert r.returncode == 0, r.stderr
    assert "would write helm-charts/chatqna/Chart.yaml" in r.stdout
    assert [p for p in out.rglob("*") if p.is_file()] == []
    r = run("convert", str(GAUDI), "--out", str(out), "-q")
    assert r.returncode == 0
    r = run("convert", str(GAUDI), "--out", str(out), "--dry-run")
    assert "dry run: 0 file(s) would be written" in r.stdout


def test_verbose_lists_findings(tmp_path):
    r = run("convert", str(GAUDI), "--out", str(tmp_path), "--verbose")
    assert r.returncode == 0
    assert "policy:accelerator-device-plugin" in r.stdout and "explained" in r.stdout


def test_unknown_keys_warn_and_strict_rejects(tmp_path):
    src = tmp_path / "Ex" / "docker" / "xeon" / "compose.yaml"
    src.parent.mkdir(parents=True)
    src.write_text("services:\n  app:\n    image: x\n    imagee: y\n")
    r = run("convert", str(src), "--out", str(tmp_path / "out"))
    assert r.returncode == 0, r.stderr
    assert "imagee" in r.stdout
    out = tmp_path / "strict"
    r = run("convert", str(src), "--out", str(out), "--strict")
    assert r.returncode == 2 and "imagee" in r.stderr and "app" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and not out.exists()


def test_a_chart_that_does_not_render_is_exit_1_naming_the_compose_file(tmp_path, capsys, monkeypatch):
    """Input read fine but Helm cannot render the chart made from it: a conversion failure (1),
    named by the compose file, not by a scratch directory that no longer exists; nothing written."""
    from unittest import mock

    from compose2helm.cli import main as cli
    from compose2helm.errors import InputError

    src = EXAMPLES / "ChatQnA/docker/gaudi/compose.yaml"
    broken = InputError("helm could not render the chart: nil pointer", file="/dev/shm/c2h-render-x/chatqna")
    monkeypatch.setattr("sys.argv", ["compose2helm", "convert", str(src), "--out", str(tmp_path / "out")])
    with mock.patch("compose2helm.pipeline.umbrella.render_chart", side_effect=broken), pytest.raises(SystemExit) as exit_:
        cli.main()
    assert exit_.value.code == 1
    line = capsys.readouterr().err.strip()
    assert "\n" not in line and str(src) in line and "does not render" in line and "c2h-render" not in line
    assert not (tmp_path / "out").exists() or not [p for p in (tmp_path / "out").rglob("*") if p.is_file()]
