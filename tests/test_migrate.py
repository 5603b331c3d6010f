"""migrate over a tree and the drift check."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import call_cli, CORPUS, EXAMPLES, FIXTURES, load_yaml, needs_shared

from compose2helm.pipeline.drift import check
from compose2helm.pipeline.migrate import discover, migrate


def run_process(*args: str) -> subprocess.CompletedProcess:
    """The program in a process of its own: migrate --jobs starts workers of its own."""
    return subprocess.run([sys.executable, "-m", "compose2helm", *args], capture_output=True, text=True,
                          timeout=600)


run = call_cli


def _tree(tmp_path: Path) -> Path:
    root = tmp_path / "examples"
    shutil.copytree(EXAMPLES / "ChatQnA", root / "ChatQnA")
    bad = root / "Broken" / "docker" / "xeon"
    bad.mkdir(parents=True)
    (bad / "compose.yaml").write_text("services:\n  app:\n    image: x\n    ports: ['99999:80']\n")
    (root / "ChatQnA" / "docker" / "docker_build_compose.yaml").write_text(
        "services:\n  chatqna:\n    build: {context: .}\n    image: opea/chatqna\n")
    over = root / "ChatQnA" / "docker" / "xeon" / "compose.telemetry.yaml"
    over.write_text(textwrap.dedent("""
        services:
          chatqna-xeon-backend-server:
            environment:
              TELEMETRY_ENDPOINT: http://jaeger:4318/v1/traces
          jaeger:
            image: jaegertracing/all-in-one:1.67.0
            ports: ["4318:4318"]
    """))
    return root


def test_discover_groups_overlays_with_their_base(tmp_path):
    root = _tree(tmp_path)
    jobs, skipped = discover(root)
    files = {tuple(p.name for p in j.files): j.variant for j in jobs}
    assert files[("compose.yaml", "compose.telemetry.yaml")] == "telemetry"
    assert ("compose.yaml",) in files
    assert [o.file for o in skipped] == ["ChatQnA/docker/docker_build_compose.yaml"]


def test_migrate_accounts_for_every_file(tmp_path):
    root = _tree(tmp_path)
    report = migrate(root, tmp_path / "out", jobs=2)
    status = {o.file: o.status for o in report.outcomes}
    assert status == {
        "Broken/docker/xeon/compose.yaml": "rejected",
        "ChatQnA/docker/docker_build_compose.yaml": "skipped",
        "ChatQnA/docker/gaudi/compose.yaml": "verified",
        "ChatQnA/docker/xeon/compose.yaml": "verified",
        "ChatQnA/docker/xeon/compose.telemetry.yaml": "verified",
    }
    rejected = next(o for o in report.outcomes if o.status == "rejected")
    assert "ports" in rejected.reason and "\n" not in rejected.reason
    assert not report.ok
    chart = tmp_path / "out/helm-charts/chatqna"
    assert sorted(p.name for p in chart.glob("*-values.yaml")) == ["cpu-telemetry-tgi-values.yaml", "cpu-tgi-values.yaml",
                                                                     "gaudi-tgi-values.yaml"]
    assert (tmp_path / "out/manifests/ChatQnA/cpu-telemetry-tgi/chatqna.yaml").is_file()
    s = report.summary()
    assert s["files"] == 5 and s["verified"] == 3 and s["rejected"] == 1 and s["skipped"] == 1


def test_migrate_is_deterministic_across_job_counts(tmp_path):
    root = _tree(tmp_path)
    migrate(root, tmp_path / "a", jobs=1)
    migrate(root, tmp_path / "b", jobs=2)
    a = {p.relative_to(tmp_path / "a"): p.read_bytes() for p in (tmp_path / "a").rglob("*") if p.is_file()}
    b = {p.relative_to(tmp_path / "b"): p.read_bytes() for p in (tmp_path / "b").rglob("*") if p.is_file()}
    assert a == b


def test_migrate_cli_json_and_exit_codes(tmp_path):
    root = _tree(tmp_path)
    r = run_process("migrate", str(root), "--out", str(tmp_path / "out"), "--format", "json", "--jobs", "2")
    assert r.returncode == 1, r.stderr        # the broken file did not convert
    report = json.loads(r.stdout)
    assert report["summary"]["rejected"] == 1
    shutil.rmtree(root / "Broken")
    r = run("migrate", str(root), "--out", str(tmp_path / "out"), "-q")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "summary" in r.stdout
    r = run("migrate", str(tmp_path / "nope"))
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1


def test_check_names_stale_missing_and_extra_files(tmp_path):
    root = tmp_path / "input"
    shutil.copytree(EXAMPLES / "ChatQnA", root / "ChatQnA")
    out = tmp_path / "repo"
    migrate(root, out)
    assert check(root, out).ok
    values = out / "helm-charts/common/tgi/values.yaml"
    original = values.read_text()
    values.write_text(original.replace("replicaCount: 1", "replicaCount: 3"))
    (out / "manifests/ChatQnA/gaudi-tgi/extra.yaml").write_text("{}\n")
    (out / "helm-charts/chatqna/cpu-tgi-values.yaml").unlink()
    report = check(root, out)
    assert not report.ok
    assert report.stale == ["helm-charts/common/tgi/values.yaml"]
    assert report.extra == ["manifests/ChatQnA/gaudi-tgi/extra.yaml"]
    assert "helm-charts/chatqna/cpu-tgi-values.yaml" in report.missing
    assert "-replicaCount: 3" in report.diff and "+replicaCount: 1" in report.diff
    r = run("check", "--root", str(root), "--out", str(out))
    assert r.returncode == 1 and "stale: helm-charts/common/tgi/values.yaml" in r.stdout
    # the hand edit is kept by a plain migrate; --force reverts it: up to date again
    # (dependency builds are not output)
    refused = migrate(root, out)
    assert not refused.ok and "edited by hand" in " ".join(o.reason for o in refused.outcomes)
    assert "replicaCount: 3" in values.read_text()
    migrate(root, out, force=True)
    (out / "manifests/ChatQnA/gaudi-tgi/extra.yaml").unlink()
    (out / "helm-charts/chatqna/charts").mkdir()
    (out / "helm-charts/chatqna/charts/tgi-0.1.0.tgz").write_bytes(b"x")
    r = run("check", "--root", str(root), "--out", str(out))
    assert r.returncode == 0, r.stdout


@pytest.mark.slow
def test_repository_output_is_up_to_date():
    """The committed helm-charts/ and manifests/ are what input-compose/ gives today."""
    report = check(FIXTURES, FIXTURES.parent)
    assert report.ok, (report.stale, report.missing, report.extra)


@pytest.mark.slow
@needs_shared
@pytest.mark.parametrize("tree", ["old", "head"])
def test_migrate_shared_corpus_accounts_for_every_file(tmp_path, tree):
    report = migrate(CORPUS / tree, tmp_path, jobs=2, lint=False)
    files = sorted(str(p.relative_to(CORPUS / tree)) for p in (CORPUS / tree).rglob("*compose*.yaml"))
    assert sorted(o.file for o in report.outcomes) == files
    assert report.count("rejected") == 0, [o.reason for o in report.outcomes if o.status == "rejected"]
    assert report.count("verified") >= len(files) // 2


def test_into_examples_writes_kubernetes_files_and_nothing_else(tmp_path):
    root = tmp_path / "GenAIExamples"
    shutil.copytree(EXAMPLES / "ChatQnA", root / "ChatQnA")
    before = {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}
    report = migrate(root, tmp_path / "out", into_examples=True)
    assert report.ok
    after = {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}
    assert {p: after[p] for p in before} == before                    # nothing existing changed
    added = sorted(str(p.relative_to(root)) for p in set(after) - set(before))
    # GenAIExamples' own layout names the folders after the compose platform, not the overlay
    assert added == ["ChatQnA/kubernetes/chatqna_gaudi.yaml", "ChatQnA/kubernetes/chatqna_xeon.yaml",
                     "ChatQnA/kubernetes/manifests/gaudi/chatqna.yaml", "ChatQnA/kubernetes/manifests/xeon/chatqna.yaml"]
    assert sorted(report.into_examples) == added
    manifest = (root / "ChatQnA/kubernetes/manifests/gaudi/chatqna.yaml").read_text()
    assert manifest == (tmp_path / "out/manifests/ChatQnA/gaudi-tgi/chatqna.yaml").read_text()
    gmc = load_yaml((root / "ChatQnA/kubernetes/chatqna_xeon.yaml").read_text())
    assert gmc["kind"] == "GMConnector"
