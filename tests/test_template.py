"""`template` and `dependency update` behave like helm's."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import EXAMPLES, load_yaml_all

from compose2helm.pipeline.convert import convert


GAUDI = EXAMPLES / "ChatQnA/docker/gaudi/compose.yaml"
HELM = os.environ.get("HELM_BIN") or shutil.which("helm")


@pytest.fixture(scope="module")
def charts(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("out")
    convert([GAUDI], out)
    return out / "helm-charts"


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "compose2helm", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=300)


def docs(text: str) -> list[dict]:
    return [d for d in load_yaml_all(text) if d]


def test_template_stdout_with_values_and_set_precedence(charts, tmp_path):
    extra = tmp_path / "more.yaml"
    extra.write_text("tgi:\n  LLM_MODEL_ID: from-file\nglobal:\n  http_proxy: http://file:1\n")
    r = run("template", "rel", "chatqna", "-f", "chatqna/gaudi-tgi-values.yaml", "-f", str(extra),
            "--set", "tgi.LLM_MODEL_ID=from-set", "--set", "tgi.replicaCount=2", cwd=charts)
    assert r.returncode == 0, r.stderr
    assert "# Source: chatqna/charts/tgi/templates/deployment.yaml" in r.stdout
    objs = docs(r.stdout)
    tgi = next(o for o in objs if o["kind"] == "Deployment" and o["metadata"]["name"] == "rel-tgi")
    assert "from-set" in tgi["spec"]["template"]["spec"]["containers"][0]["args"]
    assert tgi["spec"]["replicas"] == 2
    cm = next(o for o in objs if o["kind"] == "ConfigMap" and o["metadata"]["name"] == "rel-tgi-config")
    assert cm["data"]["http_proxy"] == "http://file:1"
    assert any(o["kind"] == "Pod" for o in objs)            # test hooks, unless --skip-tests


def test_set_string_keeps_strings_and_schema_rejects_bad_types(charts):
    r = run("template", "rel", "chatqna", "-f", "chatqna/gaudi-tgi-values.yaml", "--set-string", "tgi.replicaCount=2",
            cwd=charts)
    assert r.returncode == 2 and "replicaCount" in r.stderr
    r = run("template", "rel", "chatqna", "-f", "chatqna/gaudi-tgi-values.yaml", "--set-string",
            "tgi.env.FLAG=true", "--skip-tests", cwd=charts)
    assert r.returncode == 0, r.stderr
    objs = docs(r.stdout)
    assert not any(o["kind"] == "Pod" for o in objs)
    cm = next(o for o in objs if o["metadata"]["name"] == "rel-tgi-config")
    assert cm["data"]["FLAG"] == "true"


def test_output_dir_writes_template_files(charts, tmp_path):
    r = run("template", "chatqna", "chatqna/", "--output-dir", str(tmp_path / "test"), "--values",
            "chatqna/gaudi-tgi-values.yaml", "--create-namespace", cwd=charts)
    assert r.returncode == 0, r.stderr
    deployment = tmp_path / "test/chatqna/charts/tgi/templates/deployment.yaml"
    assert deployment.is_file()
    assert deployment.read_text().startswith("---\n# Source: chatqna/charts/tgi/templates/deployment.yaml\n")
    assert (tmp_path / "test/chatqna/templates/deployment.yaml").is_file()


def test_dependency_update_fills_charts(charts, tmp_path):
    copy = tmp_path / "helm-charts"
    shutil.copytree(charts, copy)
    r = run("dependency", "update", "chatqna", cwd=copy)
    assert r.returncode == 0, r.stderr
    assert (copy / "chatqna/charts/tgi-0.1.0.tgz").is_file()
    assert (copy / "chatqna/Chart.lock").is_file()
    # with charts/ in place the same render comes out
    a = run("template", "c", "chatqna", "-f", "chatqna/gaudi-tgi-values.yaml", cwd=copy)
    b = run("template", "c", "chatqna", "-f", "chatqna/gaudi-tgi-values.yaml", cwd=charts)
    assert a.returncode == 0 and a.stdout == b.stdout


def test_template_errors_are_one_line(charts):
    r = run("template", "rel", "nowhere", cwd=charts)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1
    r = run("template", "rel", "chatqna", "--set", "a[x]=1", cwd=charts)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1


@pytest.mark.skipif(HELM is None, reason="no helm binary (HELM_BIN) to compare with")
def test_same_output_as_the_helm_binary(charts, tmp_path):
    copy = tmp_path / "helm-charts"
    shutil.copytree(charts, copy)
    subprocess.run([HELM, "dependency", "update", "chatqna"], cwd=copy, check=True, capture_output=True)
    args = ["template", "rel", "chatqna", "-f", "chatqna/gaudi-tgi-values.yaml", "--set", "tgi.LLM_MODEL_ID=m"]
    ours = run(*args, cwd=copy)
    theirs = subprocess.run([HELM, *args], cwd=copy, capture_output=True, text=True)
    key = lambda o: (o["kind"], o["metadata"]["name"])  # noqa: E731
    assert sorted(docs(ours.stdout), key=key) == sorted(docs(theirs.stdout), key=key)
