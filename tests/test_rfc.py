"""The RFC's own commands, verbatim but for the program name, on charts of the nested layout;
and GMC output against GenAIExamples' own GMConnectors and the CRD."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import CORPUS, EXAMPLES, load_yaml, load_yaml_all, needs_shared, SHARED

from compose2helm.chart import gmc
from compose2helm.pipeline.convert import convert
from compose2helm.plan.prepare import prepare


RFC_CHATQNA = Path(__file__).parent / "fixtures/rfc/ChatQnA/docker/gaudi/compose.yaml"
CODETRANS = EXAMPLES / "CodeTrans/docker/xeon/compose.yaml"
CRD = SHARED / "reference/gmc-crd/gmc.opea.io_gmconnectors.yaml"
PROGRAM = Path(sys.executable).parent / "compose2helm"


@pytest.fixture(scope="module")
def nested(tmp_path_factory) -> Path:
    """A fresh checkout's output root, converted with the RFC's layout."""
    out = tmp_path_factory.mktemp("repo")
    for f in (RFC_CHATQNA, CODETRANS):
        result = convert([f], out, layout="nested")
        assert result.ok
    return out


def shell(command: str, cwd: Path) -> subprocess.CompletedProcess:
    program = str(PROGRAM) if PROGRAM.is_file() else f"{sys.executable} -m compose2helm"
    env = dict(os.environ, HFTOKEN="hf_rfc_token", MODELDIR="/mnt/rfc-models", MODELNAME="rfc/model-7b")
    return subprocess.run(["bash", "-c", command.replace("compose2helm", program, 1)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def objects(path: Path) -> list[dict]:
    return [d for d in load_yaml_all(path.read_text()) if d]


def container(objs, name):
    d = next(o for o in objs if o["kind"] == "Deployment" and o["metadata"]["name"] == name)
    return d["spec"]["template"]["spec"], d["spec"]["template"]["spec"]["containers"][0]


def test_rfc_llm_uservice_command(nested):
    # The RFC writes into manifests/CodeTrans/xeon/, its name for the folder ours calls cpu-tgi.
    (nested / "manifests/CodeTrans/xeon").mkdir(parents=True, exist_ok=True)
    r = shell("compose2helm template codetrans llm-uservice --set global.HUGGINGFACEHUB_API_TOKEN=${HFTOKEN} "
              "--set tgi.volume=${MODELDIR} --set tgi.LLM_MODEL_ID=${MODELNAME} "
              "> ../../manifests/CodeTrans/xeon/llm.yaml", nested / "helm-charts/common")
    assert r.returncode == 0, r.stderr
    objs = objects(nested / "manifests/CodeTrans/xeon/llm.yaml")
    pod, tgi = container(objs, "codetrans-tgi")
    assert "rfc/model-7b" in tgi["args"]                                   # the model id in tgi's args
    model = next(v for v in pod["volumes"] if v["name"] == "model-volume")
    assert model["hostPath"]["path"] == "/mnt/rfc-models"                  # the volume as tgi's model hostPath
    secrets = [o for o in objs if o["kind"] == "Secret"]
    assert secrets and all("hf_rfc_token" in o["stringData"].values() for o in secrets)   # the token
    _, llm = container(objs, "codetrans-llm-uservice")
    cm = next(o for o in objs if o["metadata"]["name"] == "codetrans-llm-uservice-config")
    assert cm["data"]["TGI_LLM_ENDPOINT"] == "http://codetrans-tgi:80"    # on its own it talks to its tgi


def test_rfc_chatqna_command(nested):
    r = shell('compose2helm template chatqna chatqna/ --output-dir test/ \\\n'
              '  --set llm-uservice.HUGGINGFACEHUB_API_TOKEN="${HFTOKEN}" \\\n'
              '  --set global.http_proxy=http://proxy.example:3128 --set global.https_proxy=http://proxy.example:3128 \\\n'
              '  --set llm-uservice.tgi.LLM_MODEL_ID="/data/neural-chat-7b-v3-3" --set llm-uservice.tgi.volume="/mnt/models" \\\n'
              '  --set embedding-usvc.tei.volume="/mnt/models" --set reranking-usvc.teirerank.volume="/mnt/models" \\\n'
              '  --values chatqna/gaudi-tgi-values.yaml --create-namespace', nested / "helm-charts")
    assert r.returncode == 0, r.stderr
    objs = [o for p in sorted((nested / "helm-charts/test/chatqna").rglob("*.yaml")) for o in objects(p)]
    _, tgi = container(objs, "chatqna-tgi")
    assert "/data/neural-chat-7b-v3-3" in tgi["args"]
    for engine in ("chatqna-tgi", "chatqna-tei", "chatqna-teirerank"):
        pod, _ = container(objs, engine)
        model = next(v for v in pod["volumes"] if v["name"] == "model-volume")
        assert model["hostPath"]["path"] == "/mnt/models", engine
    for cm in (o for o in objs if o["kind"] == "ConfigMap"):
        assert cm["data"]["http_proxy"] == "http://proxy.example:3128", cm["metadata"]["name"]
        assert cm["data"]["https_proxy"] == "http://proxy.example:3128", cm["metadata"]["name"]
    secret = next(o for o in objs if o["kind"] == "Secret" and o["metadata"]["name"] == "chatqna-llm-uservice-secret")
    assert secret["stringData"]["HUGGINGFACEHUB_API_TOKEN"] == "hf_rfc_token"
    # nothing else picked the token up: it was set for llm-uservice only
    others = [o for o in objs if o["kind"] == "Secret" and o is not secret]
    assert all("hf_rfc_token" not in o["stringData"].values() for o in others)


def test_nested_layout_keys_and_default_flat(nested, tmp_path):
    values = load_yaml((nested / "helm-charts/chatqna/gaudi-tgi-values.yaml").read_text())
    assert values["llm-uservice"]["tgi"]["enabled"] is True and values["llm-uservice"]["vllm"] == {"enabled": False}
    assert "tgi" not in values and "tei" in values["embedding-usvc"]
    meta = load_yaml((nested / "helm-charts/common/llm-uservice/Chart.yaml").read_text())
    assert [d["name"] for d in meta["dependencies"]] == ["tgi", "vllm"]
    flat = convert([RFC_CHATQNA], tmp_path)
    values = load_yaml((tmp_path / "helm-charts/chatqna/gaudi-tgi-values.yaml").read_text())
    assert "tgi" in values and "tgi" not in values["llm-uservice"]
    assert flat.ok


@needs_shared
@pytest.mark.parametrize("example", ["ChatQnA", "CodeGen", "CodeTrans", "DocSum"])
@pytest.mark.parametrize("platform", ["gaudi", "xeon"])
def test_gmconnector_matches_genaiexamples_and_the_crd(tmp_path, example, platform):
    src = CORPUS / "old" / example / "docker" / platform / "compose.yaml"
    result = convert([src], tmp_path, gmc=True, gmc_crd=CRD)
    assert result.gmc_problems == [] and result.ok
    ours = load_yaml((tmp_path / result.gmc[0]).read_text())
    refs = [p for p in (SHARED / "reference/old" / example / "kubernetes").glob(f"*_{platform}.yaml")
            if "switch" not in p.name and "dataprep" not in p.name]
    theirs = load_yaml(refs[0].read_text())
    names = lambda r: [s["name"] for s in r["spec"]["nodes"]["root"]["steps"]]  # noqa: E731
    assert names(ours) == names(theirs)
    assert gmc.validate(ours, gmc.crd_schema(CRD)) == []
    services = {s["internalService"]["serviceName"] for s in ours["spec"]["nodes"]["root"]["steps"]}
    for name in services:   # each step's service is in the GMC-style component manifests
        objs = objects(tmp_path / f"manifests/{example}/{result.plan.overlay_name}/gmc/{name}.yaml")
        assert any(o["kind"] == "Service" and o["metadata"]["name"] == name for o in objs)
        assert not any(o["kind"] == "Pod" for o in objs)                 # no test pods
        _, c = container(objs, name)
        assert {"configMapRef": {"name": "extra-env-config", "optional": True}} in c["envFrom"]


@needs_shared
def test_gmconnector_schema_rejects_a_broken_resource():
    p = prepare([CORPUS / "old/ChatQnA/docker/gaudi/compose.yaml"])
    resource = gmc.connector(p.plan, p.rules.policy)
    resource["spec"]["nodes"]["root"]["routerType"] = "Parallel"
    del resource["spec"]["routerConfig"]["serviceName"]
    problems = gmc.validate(resource, gmc.crd_schema(CRD))
    assert any("routerType" in p for p in problems) and any("serviceName" in p for p in problems)
