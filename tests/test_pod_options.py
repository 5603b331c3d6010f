"""GenAIInfra's pod options on our charts: the ServiceAccount, resource requests from rule data,
model pre-download, offline mode, TDX and spreading over nodes. Each is rendered with its value
and the objects are checked."""
from __future__ import annotations

import copy
import textwrap

import pytest
from conftest import EXAMPLES, load_yaml, load_yaml_all

from compose2helm.errors import InputError
from compose2helm.helm.render import render_chart
from compose2helm.pipeline.convert import convert
from compose2helm.plan.rules import load_rules
from compose2helm.verify.podpolicy import check_objects


COMPOSE = """\
services:
  tgi-service:
    image: ghcr.io/huggingface/tgi-gaudi:2.3.1
    runtime: habana
    cap_add: [SYS_NICE]
    environment:
      HABANA_VISIBLE_DEVICES: all
      HF_TOKEN: ${HF_TOKEN}
      HF_HUB_OFFLINE: ${HF_HUB_OFFLINE:-0}
    volumes: ["${MODEL_CACHE:-./data}:/data"]
    command: --model-id ${LLM_MODEL_ID}
    ports: ["8008:80"]
  tei-embedding-service:
    image: ghcr.io/huggingface/text-embeddings-inference:cpu-1.5
    volumes: ["./data:/data"]
    command: --model-id ${EMBEDDING_MODEL_ID} --auto-truncate
    ports: ["6006:80"]
    deploy: {resources: {limits: {memory: 64M}, reservations: {cpus: "0.5"}}}
  redis-vector-db:
    image: redis/redis-stack:7.2.0-v9
    ports: ["6379:6379"]
"""


@pytest.fixture(scope="module")
def out(tmp_path_factory):
    root = tmp_path_factory.mktemp("pod-options")
    src = root / "Ex" / "docker" / "gaudi" / "compose.yaml"
    src.parent.mkdir(parents=True)
    src.write_text(textwrap.dedent(COMPOSE))
    result = convert([src], root / "out")
    assert result.ok, result.verification.as_dict()
    overlay = next((root / "out/helm-charts/ex").glob("*-values.yaml"))
    manifest = [d for d in load_yaml_all((root / "out" / result.manifest).read_text()) if d]
    return {"root": root / "out", "chart": root / "out/helm-charts/ex", "overlay": load_yaml(overlay.read_text()),
            "manifest": manifest, "result": result}


def _merge(a: dict, b: dict) -> dict:
    merged = dict(a)
    for k, v in b.items():
        merged[k] = _merge(merged[k], v) if isinstance(v, dict) and isinstance(merged.get(k), dict) else v
    return merged


def _render(out, extra: dict | None = None) -> list[dict]:
    return [d.obj for d in render_chart(out["chart"], _merge(out["overlay"], extra or {}), "ex")]


def _named(objs: list[dict], kind: str) -> dict[str, dict]:
    return {o["metadata"]["name"]: o for o in objs if o["kind"] == kind}


def _pod(objs: list[dict], name: str) -> dict:
    return _named(objs, "Deployment")[name]["spec"]["template"]


def _env(container: dict) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container.get("env") or []}


# --- ServiceAccount -----------------------------------------------------------------------------

def test_release_has_one_account_without_an_api_token(out):
    objs = out["manifest"]
    (account,) = _named(objs, "ServiceAccount").values()
    assert account["metadata"]["name"] == "ex" and account["automountServiceAccountToken"] is False
    pods = [d["spec"]["template"]["spec"] for d in _named(objs, "Deployment").values()]
    assert len(pods) == 3
    for pod in pods:
        assert pod["serviceAccountName"] == "ex" and pod["automountServiceAccountToken"] is False
    assert check_objects(objs) == []


def test_shared_account_name_is_templated_and_created_once(out):
    objs = _render(out, {"global": {"sharedSAName": "{{ .Release.Name }}-models"},
                         "serviceAccount": {"annotations": {"iam.example.com/role": "r"}}})
    accounts = _named(objs, "ServiceAccount")
    assert list(accounts) == ["ex-models"]
    assert accounts["ex-models"]["metadata"]["annotations"] == {"iam.example.com/role": "r"}
    assert {d["spec"]["template"]["spec"]["serviceAccountName"] for d in _named(objs, "Deployment").values()} \
        == {"ex-models"}


def test_without_a_shared_account_each_chart_decides(out):
    objs = _render(out, {"global": {"sharedSAName": ""}, "serviceAccount": {"create": False},
                         "tei": {"serviceAccount": {"create": True}},
                         "redis-vector-db": {"serviceAccount": {"name": "existing"}}})
    assert list(_named(objs, "ServiceAccount")) == ["ex-tei"]
    assert _pod(objs, "ex-tei")["spec"]["serviceAccountName"] == "ex-tei"
    assert _pod(objs, "ex-redis-vector-db")["spec"]["serviceAccountName"] == "existing"
    assert _pod(objs, "ex-tgi")["spec"]["serviceAccountName"] == "default"


def test_api_token_only_where_a_value_asks_and_the_policy_sees_it(out):
    objs = _render(out, {"tgi": {"serviceAccount": {"automount": True}}})
    assert _pod(objs, "ex-tgi")["spec"]["automountServiceAccountToken"] is True
    assert _pod(objs, "ex-tei")["spec"]["automountServiceAccountToken"] is False
    assert [v.field for v in check_objects(objs)] == ["automountServiceAccountToken"]


def test_megaservice_uses_the_release_account(tmp_path):
    result = convert([EXAMPLES / "ChatQnA/docker/gaudi/compose.yaml"], tmp_path)
    assert result.ok
    objs = [d for d in load_yaml_all((tmp_path / result.manifest).read_text()) if d]
    assert list(_named(objs, "ServiceAccount")) == ["chatqna"]
    pods = {n: d["spec"]["template"]["spec"] for n, d in _named(objs, "Deployment").items()}
    assert "chatqna" in pods and len(pods) > 5
    assert {(p["serviceAccountName"], p["automountServiceAccountToken"]) for p in pods.values()} == {("chatqna", False)}


def test_common_chart_alone_uses_the_default_account(out):
    objs = [d.obj for d in render_chart(out["root"] / "helm-charts/common/tei", {}, "r")]
    assert not _named(objs, "ServiceAccount")
    pod = _pod(objs, "r-tei")["spec"]
    assert pod["serviceAccountName"] == "default" and pod["automountServiceAccountToken"] is False
    assert check_objects(objs) == []
    objs = [d.obj for d in render_chart(out["root"] / "helm-charts/common/tei",
                                        {"serviceAccount": {"create": True, "automount": True}}, "r")]
    assert _named(objs, "ServiceAccount")["r-tei"]["automountServiceAccountToken"] is True


# --- resource requests --------------------------------------------------------------------------

def test_rule_requests_are_chart_defaults_and_compose_resources_win(out):
    redis = load_yaml((out["root"] / "helm-charts/common/redis-vector-db/values.yaml").read_text())
    assert redis["resources"] == {"requests": {"cpu": "100m", "memory": "128Mi"}}
    objs = out["manifest"]
    res = {n: _pod(objs, n)["spec"]["containers"][0]["resources"] for n in ("ex-redis-vector-db", "ex-tei", "ex-tgi")}
    assert res["ex-redis-vector-db"] == {"requests": {"cpu": "100m", "memory": "128Mi"}}
    # compose reserved 0.5 CPU and limited memory below the rule's request: the limit is the request
    assert res["ex-tei"] == {"limits": {"memory": "64Mi"}, "requests": {"cpu": "500m"}}
    # TGI on Gaudi: GenAIInfra's Gaudi requests
    assert res["ex-tgi"] == {"limits": {"habana.ai/gaudi": 1}, "requests": {"cpu": "1", "memory": "16Gi"}}
    found = [f.detail for f in out["result"].plan.findings if f.service == "tgi-service" and f.key == "accelerator"]
    assert found == ["intel-gaudi: habana.ai/gaudi: 1 (count from default); requests cpu 1, memory 16Gi "
                     "(mappings/tgi.yaml)"]


def test_megaservice_asks_what_the_opea_microservices_ask():
    # issue 18: the megaservice is a GenAIComps HTTP service like the microservices GenAIInfra sizes
    rules = load_rules()
    assert rules.by_component("megaservice").requests == rules.by_component("retriever-usvc").requests == {
        "cpu": "100m", "memory": "128Mi"}


def test_malformed_requests_fail_when_the_rules_load(tmp_path):
    rule = (tmp_path / "x.yaml")
    rule.write_text("component: x\nmatch: {images: [x]}\nrequests: {cpu: lots}\n")
    with pytest.raises(InputError, match="cpu and memory quantities"):
        load_rules([tmp_path])
    rule.write_text("component: x\nmatch: {images: [x]}\nmodels: [MODEL]\n")
    with pytest.raises(InputError, match="not values of the rule"):
        load_rules([tmp_path])


# --- model pre-download and offline --------------------------------------------------------------

def test_no_download_by_default(out):
    for d in _named(out["manifest"], "Deployment").values():
        assert "initContainers" not in d["spec"]["template"]["spec"]


def test_model_download_fills_the_model_volume_first(out):
    objs = _render(out, {"tgi": {"modelDownload": {"enabled": True}, "LLM_MODEL_ID": "org/model"},
                         "global": {"modelUsePVC": "models"}})
    pod = _pod(objs, "ex-tgi")["spec"]
    (init,) = pod["initContainers"]
    assert init["name"] == "model-download" and init["image"] == "huggingface/downloader:0.17.3"
    assert init["command"][3:] == ["model-download", "/data", "org/model"]
    assert {m["mountPath"]: m["name"] for m in init["volumeMounts"]} == {"/data": "model-volume",
                                                                        "/tmp": "model-download-tmp"}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["model-volume"]["persistentVolumeClaim"]["claimName"] == "models"
    assert volumes["model-download-tmp"]["emptyDir"] == {}
    # the server's user and no capability: compose's SYS_NICE is the server's, not the downloader's
    assert init["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert pod["containers"][0]["securityContext"]["capabilities"]["add"] == ["SYS_NICE"]
    refs = [r.get("secretRef") for r in init["envFrom"] if "secretRef" in r]
    assert refs == [{"name": "ex-tgi-secret", "optional": True}]
    assert check_objects(objs) == []


def test_model_download_runs_before_the_wait_for_dependencies(out):
    objs = _render(out, {"tgi": {"modelDownload": {"enabled": True}, "waitFor": ["ex-redis-vector-db:6379"]}})
    assert [c["name"] for c in _pod(objs, "ex-tgi")["spec"]["initContainers"]] == ["model-download",
                                                                                 "wait-for-dependencies"]


def test_model_download_skips_paths_and_charts_without_a_model_volume(out):
    objs = _render(out, {"tgi": {"modelDownload": {"enabled": True}, "LLM_MODEL_ID": "/data/my-model"},
                         "tei": {"modelDownload": {"enabled": True, "models": ["a/b", "c/d"]},
                                 "modelCachePath": "/root/.cache/huggingface"},
                         "redis-vector-db": {"modelDownload": {"enabled": True, "models": ["a/b"]}}})
    assert "initContainers" not in _pod(objs, "ex-tgi")["spec"]
    assert "initContainers" not in _pod(objs, "ex-redis-vector-db")["spec"]
    (init,) = _pod(objs, "ex-tei")["spec"]["initContainers"]
    assert init["command"][4:] == ["/root/.cache/huggingface/hub", "a/b", "c/d"]   # a Hugging Face home's hub


def test_offline_keeps_the_hub_away_and_needs_a_lasting_volume(out):
    with pytest.raises(InputError, match="global.offline"):
        _render(out, {"global": {"offline": True}})
    objs = _render(out, {"global": {"offline": True, "modelUseHostPath": "/mnt/models"},
                         "tgi": {"modelDownload": {"enabled": True}}})
    for name in ("ex-tgi", "ex-tei", "ex-redis-vector-db"):
        pod = _pod(objs, name)["spec"]
        assert "initContainers" not in pod
        assert _env(pod["containers"][0]) == {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    # compose's own HF_HUB_OFFLINE stays in the ConfigMap; the container's env wins over it
    assert _named(objs, "ConfigMap")["ex-tgi-config"]["data"]["HF_HUB_OFFLINE"] == "0"
    assert _pod(objs, "ex-tgi")["spec"]["volumes"][0]["hostPath"]["path"] == "/mnt/models"


# --- TDX and spreading ------------------------------------------------------------------------

def test_tdx_runtime_class_and_annotations(out):
    objs = _render(out, {"tei": {"tdxEnabled": True, "podAnnotations": {
        "io.katacontainers.config.runtime.create_container_timeout": "3600", "team": "a"}}})
    pod = _pod(objs, "ex-tei")
    assert pod["spec"]["runtimeClassName"] == "kata-qemu-tdx"
    ann = pod["metadata"]["annotations"]
    assert ann["io.containerd.cri.runtime-handler"] == "kata-qemu-tdx"
    assert ann["io.katacontainers.config.runtime.create_container_timeout"] == "3600"   # podAnnotations win
    assert ann["team"] == "a" and "checksum/config" in ann
    assert "runtimeClassName" not in _pod(objs, "ex-tgi")["spec"]


def test_evenly_distributed_spreads_over_nodes(out):
    objs = _render(out, {"tei": {"evenly_distributed": True, "replicaCount": 3}})
    pod = _pod(objs, "ex-tei")
    (spread,) = pod["spec"]["topologySpreadConstraints"]
    assert spread["topologyKey"] == "kubernetes.io/hostname" and spread["maxSkew"] == 1
    assert spread["whenUnsatisfiable"] == "ScheduleAnyway"
    assert spread["labelSelector"]["matchLabels"] == pod["metadata"]["labels"]
    assert "topologySpreadConstraints" not in _pod(objs, "ex-tgi")["spec"]


# --- defaults and schema -------------------------------------------------------------------------

OFF = {"tdxEnabled": False, "evenly_distributed": False, "modelDownload": {"enabled": False},
       "serviceAccount": {"automount": False}}


def test_features_off_render_what_the_defaults_render(out):
    explicit = {k: copy.deepcopy(OFF) for k in ("tgi", "tei", "redis-vector-db")}
    explicit["global"] = {"offline": False}
    assert _render(out, explicit) == _render(out)


@pytest.mark.parametrize("bad", [
    {"tei": {"tdxEnabled": "yes"}},
    {"tei": {"evenly_distributed": "true"}},
    {"tei": {"serviceAccount": {"creat": True}}},
    {"tei": {"modelDownload": {"enabled": "on"}}},
    {"tei": {"tdx": {"runtimeClass": "x"}}},
    {"global": {"offline": "yes"}},
])
def test_schema_types_the_new_values(out, bad):
    with pytest.raises(InputError, match="schema"):
        _render(out, bad)
