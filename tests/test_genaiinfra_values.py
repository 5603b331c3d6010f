"""GenAIInfra's values interface on our charts: settings by name become env entries (and nothing
while unset), GenAIInfra's names for our concepts (extraCmdArgs, extraCmd.command, service.port,
<example>-ui, vllm-guardrails) take effect, and a key no chart takes is rejected by name."""
from __future__ import annotations

import pytest
from conftest import convert_example, FIXTURES, load_yaml, load_yaml_all, plan_of

from compose2helm.errors import InputError
from compose2helm.helm.commands import merge_values
from compose2helm.helm.render import render_chart
from compose2helm.pipeline.convert import convert
from compose2helm.plan.rules import load_rules
from compose2helm.verify.podpolicy import check_objects


COMPOSE = """
services:
  tgi-service:
    image: ghcr.io/huggingface/text-generation-inference:2.4.0-intel-cpu
    ports: ["8008:80"]
    environment:
      OMPI_MCA_btl_vader_single_copy_mechanism: none
      HF_TOKEN: ${HF_TOKEN}
    command: --model-id ${LLM_MODEL_ID:-Intel/neural-chat-7b-v3-3} --max-input-length ${MAX_INPUT_LENGTH:-1024}
  llm:
    image: opea/llm-textgen:latest
    ports: ["9000:9000"]
    environment:
      LLM_ENDPOINT: http://tgi-service:80
      LLM_MODEL_ID: ${LLM_MODEL_ID:-Intel/neural-chat-7b-v3-3}
      LLM_COMPONENT_NAME: OpeaTextGenService
  dataprep:
    image: opea/dataprep:latest
    ports: ["6007:5000"]
    environment:
      REDIS_HOST: redis
      INDEX_NAME: rag-redis
      DATAPREP_COMPONENT_NAME: OPEA_DATAPREP_REDIS
  redis:
    image: redis/redis-stack:7.2.0-v9
    ports: ["6379:6379"]
"""


@pytest.fixture(scope="module")
def ex(tmp_path_factory):
    """The compose above converted: (umbrella directory, its overlay's values)."""
    tmp = tmp_path_factory.mktemp("genaiinfra")
    result, _ = convert_example(tmp, COMPOSE)
    assert result.ok
    chart = tmp / "out/helm-charts/ex"
    [overlay] = sorted(chart.glob("*-values.yaml"))
    return chart, load_yaml(overlay.read_text())


def _render(ex, extra: dict | None = None) -> dict[tuple[str, str], dict]:
    chart, base = ex
    docs = render_chart(chart, merge_values(base, extra or {}), "ex")
    return {(d.obj["kind"], d.obj["metadata"]["name"]): d.obj for d in docs}


def _container(objs: dict, name: str) -> dict:
    return objs[("Deployment", name)]["spec"]["template"]["spec"]["containers"][0]


# --- settings by name ---------------------------------------------------------------------------

def test_a_setting_adds_its_env_entry_only_when_set(ex):
    plain = _render(ex)
    assert "MAX_BATCH_SIZE" not in plain[("ConfigMap", "ex-tgi-config")]["data"]
    objs = _render(ex, {"tgi": {"MAX_BATCH_SIZE": 8, "HF_HUB_ENABLE_HF_TRANSFER": "0"}})
    data = objs[("ConfigMap", "ex-tgi-config")]["data"]
    assert data["MAX_BATCH_SIZE"] == "8" and data["HF_HUB_ENABLE_HF_TRANSFER"] == "0"
    # the pods roll: their config checksum follows the ConfigMap
    assert (objs[("Deployment", "ex-tgi")]["spec"]["template"]["metadata"]["annotations"]["checksum/config"]
            != plain[("Deployment", "ex-tgi")]["spec"]["template"]["metadata"]["annotations"]["checksum/config"])
    # empty is unset, as null is
    assert _render(ex, {"tgi": {"MAX_BATCH_SIZE": ""}}) == plain


def test_a_setting_compose_already_uses_stays_one_value(ex):
    # compose passes MAX_INPUT_LENGTH as a flag: the value feeds the flag, and adds no env entry
    objs = _render(ex, {"tgi": {"MAX_INPUT_LENGTH": 2048}})
    args = _container(objs, "ex-tgi")["args"]
    assert args[args.index("--max-input-length") + 1] == "2048"
    assert "MAX_INPUT_LENGTH" not in objs[("ConfigMap", "ex-tgi-config")]["data"]


def test_a_setting_replaces_the_env_entry_compose_gave(ex):
    assert _render(ex)[("ConfigMap", "ex-tgi-config")]["data"]["OMPI_MCA_btl_vader_single_copy_mechanism"] == "none"
    data = _render(ex, {"tgi": {"OMPI_MCA_btl_vader_single_copy_mechanism": "other"}})[
        ("ConfigMap", "ex-tgi-config")]["data"]
    assert data["OMPI_MCA_btl_vader_single_copy_mechanism"] == "other"
    # set to what compose said: the same objects, the pods do not roll (same config checksum)
    assert _render(ex, {"tgi": {"OMPI_MCA_btl_vader_single_copy_mechanism": "none"}}) == _render(ex)


def test_a_backend_word_sets_its_entries_and_keeps_an_address_compose_gave(ex):
    data = _render(ex, {"data-prep": {"DATAPREP_BACKEND": "MILVUS", "COLLECTION_NAME": "docs"}})[
        ("ConfigMap", "ex-data-prep-config")]["data"]
    assert data["DATAPREP_COMPONENT_NAME"] == "OPEA_DATAPREP_MILVUS"
    assert data["MILVUS_HOST"] == "ex-milvus" and data["COLLECTION_NAME"] == "docs"
    data = _render(ex, {"data-prep": {"DATAPREP_BACKEND": "REDIS"}})[("ConfigMap", "ex-data-prep-config")]["data"]
    assert data["DATAPREP_COMPONENT_NAME"] == "OPEA_DATAPREP_REDIS"
    assert data["REDIS_HOST"] == "ex-redis-vector-db"      # compose's address, not the choice's default
    llm = _render(ex, {"llm-uservice": {"TEXTGEN_BACKEND": "vLLM", "LLM_ENDPOINT": "http://{{ .Release.Name }}-x"}})
    data = llm[("ConfigMap", "ex-llm-uservice-config")]["data"]
    assert data["LLM_COMPONENT_NAME"] == "OpeaTextGenService" and data["LLM_ENDPOINT"] == "http://ex-x"


def test_a_backend_word_the_chart_does_not_know_is_rejected_by_name(ex):
    with pytest.raises(InputError) as err:
        _render(ex, {"data-prep": {"DATAPREP_BACKEND": "CASSANDRA"}})
    assert "/DATAPREP_BACKEND" in str(err.value)


def test_a_secret_setting_goes_into_the_secret(ex):
    objs = _render(ex, {"llm-uservice": {"OPENAI_API_KEY": "sk-1"}})
    assert objs[("Secret", "ex-llm-uservice-secret")]["stringData"]["OPENAI_API_KEY"] == "sk-1"
    assert "OPENAI_API_KEY" not in objs[("ConfigMap", "ex-llm-uservice-config")]["data"]
    # also where compose gave the component no secret: the Secret is made and the pod reads it
    objs = _render(ex, {"llm-uservice": {"OPENAI_API_KEY": "sk-1", "secretEnv": None}})
    assert ("Secret", "ex-llm-uservice-secret") in objs
    assert {"secretRef": {"name": "ex-llm-uservice-secret"}} in _container(objs, "ex-llm-uservice")["envFrom"]


def test_a_setting_is_documented_null_and_typed(ex):
    tgi = load_yaml((ex[0].parent / "common/tgi/values.yaml").read_text())
    assert tgi["MAX_BATCH_SIZE"] is None and tgi["MAX_INPUT_LENGTH"] == ""
    readme = (ex[0].parent / "common/data-prep/README.md").read_text()
    assert "| `DATAPREP_BACKEND` |" in readme and "OPEA_DATAPREP_MILVUS" in readme


def test_a_setting_of_a_named_value_with_a_default_is_a_malformed_rule(tmp_path):
    (tmp_path / "tgi.yaml").write_text(
        "component: tgi\nmatch: {images: [x/tgi]}\nvalues: {LLM_MODEL_ID: {default: m}}\n"
        "env_values: {LLM_MODEL_ID: a model}\n")
    with pytest.raises(InputError, match="env_values.LLM_MODEL_ID"):
        load_rules([tmp_path])


# --- GenAIInfra's names for our concepts ---------------------------------------------------------

def test_extra_cmd_args_are_appended_and_extra_cmd_is_the_command(ex):
    plain = _container(_render(ex), "ex-tgi")
    c = _container(_render(ex, {"tgi": {"extraCmdArgs": ["--dtype", "bfloat16"],
                                        "extraCmd": {"command": ["python3", "serve.py"]}}}), "ex-tgi")
    assert c["args"] == plain["args"] + ["--dtype", "bfloat16"]
    assert c["command"] == ["python3", "serve.py"]


def test_service_port_sets_the_first_ports_service_port(ex):
    objs = _render(ex, {"llm-uservice": {"service": {"port": 80}}})
    [port] = objs[("Service", "ex-llm-uservice")]["spec"]["ports"]
    assert port["port"] == 80 and port["targetPort"] == 9000
    assert _container(objs, "ex-llm-uservice")["ports"][0]["containerPort"] == 9000
    test_pod = objs[("Pod", "ex-llm-uservice-testpod")]["spec"]["containers"][0]["command"][-1]
    assert "ex-llm-uservice:80" in test_pod


def test_the_ui_is_keyed_and_named_as_genaiinfra_does_and_nginx_follows(tmp_path):
    result = convert([FIXTURES / "ChatQnA/docker_compose/intel/hpu/gaudi/compose.yaml"], tmp_path)
    chart = tmp_path / "helm-charts/chatqna"
    meta = load_yaml((chart / "Chart.yaml").read_text())
    assert {"name": "ui", "alias": "chatqna-ui"}.items() <= next(
        d for d in meta["dependencies"] if d["name"] == "ui").items()
    objs = {(d["kind"], d["metadata"]["name"]): d for d in load_yaml_all((tmp_path / result.manifest).read_text())
            if d}
    assert ("Service", "chatqna-chatqna-ui") in objs
    assert objs[("ConfigMap", "chatqna-nginx-config")]["data"]["FRONTEND_SERVICE_IP"] == "chatqna-chatqna-ui"
    # GenAIInfra's key for it takes effect
    overlay = load_yaml((chart / "gaudi-values.yaml").read_text())
    docs = render_chart(chart, merge_values(overlay, {"chatqna-ui": {"image": {"tag": "1.3"}}}), "chatqna")
    ui = next(d.obj for d in docs
              if d.obj["kind"] == "Deployment" and d.obj["metadata"]["name"] == "chatqna-chatqna-ui")
    assert ui["spec"]["template"]["spec"]["containers"][0]["image"] == "opea/chatqna-ui:1.3"


def test_a_second_engine_is_keyed_as_genaiinfra_does(tmp_path):
    plan = plan_of(tmp_path, """
        services:
          vllm-service:
            image: opea/vllm:latest
          vllm-guardrails-service:
            image: opea/vllm:latest
          llm-a:
            image: opea/llm-textgen:latest
          llm-b-service:
            image: opea/llm-textgen:latest
    """)
    names = {i.service: i.name for i in plan.components()}
    assert names["vllm-service"] == "vllm" and names["vllm-guardrails-service"] == "vllm-guardrails"
    # no service of the chart is the chart itself without the ending: names stay
    assert names["llm-a"] == "llm-a" and names["llm-b-service"] == "llm-b-service"


def test_the_megaservice_takes_its_examples_settings_only(tmp_path):
    result = convert([FIXTURES / "ChatQnA/docker_compose/intel/hpu/gaudi/compose.yaml"], tmp_path)
    assert result.ok
    chart = tmp_path / "helm-charts/chatqna"
    overlay = load_yaml((chart / "gaudi-values.yaml").read_text())
    docs = render_chart(chart, merge_values(overlay, {"CHATQNA_TYPE": "CHATQNA_NO_RERANK"}), "chatqna")
    config = next(d.obj for d in docs if d.obj["kind"] == "ConfigMap" and d.obj["metadata"]["name"] == "chatqna-config")
    assert config["data"]["CHATQNA_TYPE"] == "CHATQNA_NO_RERANK"
    with pytest.raises(InputError, match="LLM_SERVICE_HOST_IP"):     # codetrans's, not chatqna's
        render_chart(chart, merge_values(overlay, {"LLM_SERVICE_HOST_IP": "x"}), "chatqna")


def test_values_of_earlier_overlays_stay_accepted(tmp_path):
    """A second conversion into the same umbrella keeps the first overlay's named values valid."""
    convert([FIXTURES / "ChatQnA/docker_compose/intel/hpu/gaudi/compose.yaml"], tmp_path)
    convert([FIXTURES / "ChatQnA/docker_compose/intel/cpu/xeon/compose.yaml"], tmp_path)
    chart = tmp_path / "helm-charts/chatqna"
    for name in ("gaudi-values.yaml", "cpu-values.yaml"):
        assert render_chart(chart, load_yaml((chart / name).read_text()), "chatqna")


def test_defaults_render_what_they_rendered(ex):
    """Every new value at its default: the workload is what compose said (no extra env, args)."""
    objs = _render(ex)
    assert set(objs[("ConfigMap", "ex-tgi-config")]["data"]) == {"OMPI_MCA_btl_vader_single_copy_mechanism"}
    assert _container(objs, "ex-tgi")["args"][-2:] == ["--max-input-length", "1024"]
    assert "command" not in _container(objs, "ex-tgi")


def test_external_llm_points_the_megaservice_at_a_server_outside(tmp_path):
    convert([FIXTURES / "ChatQnA/docker_compose/intel/cpu/xeon/compose.yaml"], tmp_path)
    chart = tmp_path / "helm-charts/chatqna"
    overlay = load_yaml((chart / "cpu-values.yaml").read_text())

    def megaservice(extra):
        docs = render_chart(chart, merge_values(overlay, extra), "chatqna")
        return {(d.obj["kind"], d.obj["metadata"]["name"]): d.obj for d in docs}

    plain = megaservice({})
    assert megaservice({"externalLLM": {"enabled": False, "LLM_SERVER_HOST": "http://x"}}) == plain
    objs = megaservice({"vllm": {"enabled": False}, "externalLLM": {
        "enabled": True, "LLM_SERVER_HOST": "http://llm.example", "LLM_MODEL": "m", "OPENAI_API_KEY": "k"}})
    data = objs[("ConfigMap", "chatqna-config")]["data"]
    assert (data["LLM_SERVER_HOST_IP"], data["LLM_SERVER_PORT"], data["LLM_MODEL"]) == ("http://llm.example", "80", "m")
    assert "OPENAI_API_KEY" not in data
    assert objs[("Secret", "chatqna-secret")]["stringData"] == {"OPENAI_API_KEY": "k"}
    assert ("Deployment", "chatqna-vllm") not in objs
    with pytest.raises(InputError, match="externalLLM.LLM_SERVER_HOST is required when externalLLM.enabled is true"):
        megaservice({"externalLLM": {"enabled": True}})


# --- accelDevice --------------------------------------------------------------------------------

def _hpa_target(objs: dict, name: str) -> str:
    [metric] = [m for m in objs[("HorizontalPodAutoscaler", name)]["spec"]["metrics"] if m["type"] == "Object"]
    return str(metric["object"]["target"]["averageValue"])


def test_accel_device_picks_the_autoscaling_target_and_the_cpu_grace_period(ex):
    plain = _render(ex)
    pod = plain[("Deployment", "ex-tgi")]["spec"]["template"]["spec"]
    assert "terminationGracePeriodSeconds" not in pod            # null: as before the key existed
    scaled = {"enabled": True, "queueSizeTarget": {"accel": 10, "cpu": 3}}
    # null: the pods ask for no device-plugin resource, so the CPU target
    assert _hpa_target(_render(ex, {"tgi": {"autoscaling": scaled}}), "ex-tgi") == "3"
    gaudi = _render(ex, {"tgi": {"accelDevice": "gaudi", "autoscaling": scaled}})
    assert _hpa_target(gaudi, "ex-tgi") == "10"
    assert "terminationGracePeriodSeconds" not in gaudi[("Deployment", "ex-tgi")]["spec"]["template"]["spec"]
    cpu = _render(ex, {"tgi": {"accelDevice": "", "resources": {"limits": {"habana.ai/gaudi": 1}},
                               "autoscaling": scaled}})
    assert _hpa_target(cpu, "ex-tgi") == "3"                       # said explicitly, it wins over resources
    assert cpu[("Deployment", "ex-tgi")]["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] == 120
    # only the engine's pods: the other charts do not take the key
    assert "terminationGracePeriodSeconds" not in cpu[("Deployment", "ex-llm-uservice")]["spec"]["template"]["spec"]


def test_accel_device_outside_its_flavours_or_on_a_chart_without_it_is_rejected_by_name(ex):
    with pytest.raises(InputError, match="accelDevice"):
        _render(ex, {"tgi": {"accelDevice": "habana"}})
    with pytest.raises(InputError, match="accelDevice"):
        _render(ex, {"llm-uservice": {"accelDevice": "gaudi"}})


# --- retryTimeoutSeconds ------------------------------------------------------------------------

def _init_containers(objs: dict, name: str) -> list[dict]:
    return objs[("Deployment", name)]["spec"]["template"]["spec"].get("initContainers", [])


def test_retry_timeout_waits_for_the_engine_address_with_a_deadline(ex):
    assert _init_containers(_render(ex), "ex-llm-uservice") == []       # null: no wait, as before
    objs = _render(ex, {"llm-uservice": {"retryTimeoutSeconds": 720}})
    [init] = _init_containers(objs, "ex-llm-uservice")
    assert init["command"][3:] == ["wait-for-dependencies", "$LLM_ENDPOINT"]
    assert init["env"] == [{"name": "WAIT_TIMEOUT_SECONDS", "value": "720"}]
    assert init["envFrom"] == [{"configMapRef": {"name": "ex-llm-uservice-config"}}]
    assert objs[("ConfigMap", "ex-llm-uservice-config")]["data"]["LLM_ENDPOINT"].startswith("http://ex-tgi")
    assert _init_containers(objs, "ex-tgi") == []                      # only where it was set
    assert check_objects(list(objs.values())) == []                    # the wait is least-privilege too
    with pytest.raises(InputError, match="retryTimeoutSeconds"):
        _render(ex, {"tgi": {"retryTimeoutSeconds": 720}})             # a chart that waits for nothing


def _run_wait(init: dict, tmp_path, env: dict, nc_exit: int) -> tuple[int, list[str]]:
    """Run the init container's script with a stand-in nc that records its host and port."""
    import os
    import subprocess

    calls = tmp_path / "nc-calls"
    nc = tmp_path / "bin" / "nc"
    nc.parent.mkdir(exist_ok=True)
    nc.write_text(f'#!/bin/sh\necho "$4 $5" >> {calls}\nexit {nc_exit}\n')
    nc.chmod(0o755)
    container_env = {e["name"]: e["value"] for e in init.get("env", [])}
    run_env = {"PATH": f"{nc.parent}:{os.environ['PATH']}", **container_env, **env}
    done = subprocess.run(init["command"], env=run_env, capture_output=True, text=True, timeout=30)
    return done.returncode, calls.read_text().split("\n")[:-1] if calls.exists() else []


def test_the_wait_script_reads_the_url_and_gives_up_at_the_deadline(ex, tmp_path):
    objs = _render(ex, {"llm-uservice": {"retryTimeoutSeconds": 1, "waitFor": ["db:6379"]}})
    [init] = _init_containers(objs, "ex-llm-uservice")
    rc, calls = _run_wait(init, tmp_path, {"LLM_ENDPOINT": "http://ex-tgi:8080/v1"}, 0)
    assert rc == 0 and calls == ["db 6379", "ex-tgi 8080"]
    (tmp_path / "nc-calls").unlink()
    rc, calls = _run_wait(init, tmp_path, {"LLM_ENDPOINT": "https://llm.example.com/"}, 0)
    assert calls == ["db 6379", "llm.example.com 443"]
    (tmp_path / "nc-calls").unlink()
    rc, calls = _run_wait(init, tmp_path, {}, 1)       # nothing answers: it fails after the deadline
    assert rc == 1 and calls and set(calls) == {"db 6379"}
