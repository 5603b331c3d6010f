"""Mapping rules applied to small compose files: values, addresses, probes, accelerators."""
from __future__ import annotations

import textwrap

import pytest
import yaml
from conftest import by_kind, convert_example, manifest_objects, plan_of

from compose2helm.compose.layout import place, variant_of
from compose2helm.pipeline.convert import convert
from compose2helm.plan.rules import load_rules, split_image


RULES = load_rules()


def inst(plan, service):
    return next(i for i in plan.instances if i.service == service)


def test_published_host_port_becomes_service_dns_and_container_port(tmp_path):
    plan = plan_of(tmp_path, """
        services:
          tei:
            image: ghcr.io/huggingface/text-embeddings-inference:cpu-1.5
            ports: ["6006:80"]
            command: --model-id ${EMBEDDING_MODEL_ID}
          embedding:
            image: opea/embedding-tei:latest
            ports: ["6000:6000"]
            environment:
              TEI_EMBEDDING_ENDPOINT: ${TEI_EMBEDDING_ENDPOINT}
              RAW: http://${host_ip}:6006/embed
    """, env="""
        TEI_EMBEDDING_ENDPOINT=http://${host_ip}:6006
        EMBEDDING_MODEL_ID=BAAI/bge-base-en-v1.5
    """)
    env = inst(plan, "embedding").values.env
    assert env["TEI_EMBEDDING_ENDPOINT"] == "http://{{ .Release.Name }}-tei:80"
    assert env["RAW"] == "http://{{ .Release.Name }}-tei:80/embed"
    tei = inst(plan, "tei").values.as_dict()
    assert tei["args"] == ["--model-id", "{{ .Values.EMBEDDING_MODEL_ID }}"]
    assert tei["EMBEDDING_MODEL_ID"] == "BAAI/bge-base-en-v1.5"


def test_service_names_container_names_and_bare_hosts(tmp_path):
    plan = plan_of(tmp_path, """
        services:
          redis-vector-db:
            image: redis/redis-stack:7.2.0-v9
            container_name: redis-db
          retriever:
            image: opea/retriever:latest
            environment:
              REDIS_URL: redis://redis-vector-db:6379
              REDIS_HOST: redis-db
              NOTE: use the retriever service
              PATHLIKE: /v1/retriever
    """)
    env = inst(plan, "retriever").values.env
    assert env["REDIS_URL"] == "redis://{{ .Release.Name }}-redis-vector-db:6379"
    assert env["REDIS_HOST"] == "{{ .Release.Name }}-redis-vector-db"
    assert env["NOTE"] == "use the retriever service"
    assert env["PATHLIKE"] == "/v1/retriever"


def test_bare_host_ip_resolves_through_hints_and_port_follows(tmp_path):
    plan = plan_of(tmp_path, """
        services:
          tei:
            image: ghcr.io/huggingface/text-embeddings-inference:cpu-1.5
            ports: ["8090:80"]
          backend:
            image: opea/chatqna:latest
            environment:
              EMBEDDING_SERVER_HOST_IP: ${host_ip}
              EMBEDDING_SERVER_PORT: 8090
              MEGA_SERVICE_HOST_IP: ${host_ip}
    """)
    mega = inst(plan, "backend")
    assert mega.is_megaservice
    env = mega.values.env
    assert env["EMBEDDING_SERVER_HOST_IP"] == "{{ .Release.Name }}-tei"
    assert env["EMBEDDING_SERVER_PORT"] == "80"
    assert env["MEGA_SERVICE_HOST_IP"] == "{{ .Release.Name }}"


def test_undefined_address_variable_resolves_through_policy(tmp_path):
    plan = plan_of(tmp_path, """
        services:
          tgi:
            image: ghcr.io/huggingface/text-generation-inference:2.4.0-intel-cpu
            ports: ["9009:80"]
          llm:
            image: opea/llm-textgen:latest
            environment:
              TGI_LLM_ENDPOINT: ${TGI_LLM_ENDPOINT}
    """)
    assert inst(plan, "llm").values.env["TGI_LLM_ENDPOINT"] == "http://{{ .Release.Name }}-tgi:80"


def test_variables_become_values_with_compose_defaults(tmp_path):
    plan = plan_of(tmp_path, """
        services:
          app:
            image: example/app:1
            environment:
              LOGFLAG: ${LOGFLAG:-False}
              BATCH: ${BATCH}
              KEEP: 0
              MIXED: prefix-${SUFFIX:-x}
              no_proxy: ${no_proxy}
              HF_TOKEN: ${HF_TOKEN}
              MAX_TOTAL_TOKENS: 4096
              OPENAI_API_KEY: ${OPENAI_API_KEY}
    """, env="""
        BATCH=16
        OPENAI_API_KEY=sk-planted-secret
    """)
    v = inst(plan, "app").values.as_dict()
    assert v["env"]["LOGFLAG"] == "{{ .Values.LOGFLAG }}" and v["LOGFLAG"] == "False"
    assert v["env"]["BATCH"] == "{{ .Values.BATCH }}" and v["BATCH"] == "16"
    assert v["env"]["KEEP"] == "0"
    assert v["env"]["MIXED"] == "prefix-{{ .Values.SUFFIX }}" and v["SUFFIX"] == "x"
    assert v["env"]["no_proxy"] == "{{ .Values.global.no_proxy }}"
    assert v["env"]["MAX_TOTAL_TOKENS"] == "4096"
    assert "HF_TOKEN" in v["secretEnv"] and "HF_TOKEN" not in v["env"]
    assert v["secretEnv"]["OPENAI_API_KEY"] == "{{ .Values.OPENAI_API_KEY }}"
    assert v["OPENAI_API_KEY"] == ""          # a secret from an env file is never written
    assert "sk-planted-secret" not in yaml.safe_dump(v)


def test_literal_braces_are_escaped_for_tpl(tmp_path):
    plan = plan_of(tmp_path, """
        services:
          app:
            image: example/app:1
            environment:
              TEMPLATE: "{{ user }}"
    """)
    assert inst(plan, "app").values.env["TEMPLATE"] == '{{ "{{" }} user }}'


def test_gaudi_runtime_becomes_device_resource_with_count(tmp_path):
    plan = plan_of(tmp_path, """
        services:
          vllm:
            image: opea/vllm-gaudi:1.22.0
            runtime: habana
            cap_add: [SYS_NICE]
            ipc: host
            shm_size: 2g
            environment:
              HABANA_VISIBLE_DEVICES: all
              OMPI_MCA_btl_vader_single_copy_mechanism: none
              NUM_CARDS: ${NUM_CARDS}
            command: --model ${LLM_MODEL_ID} --tensor-parallel-size ${NUM_CARDS}
    """, env="NUM_CARDS=4\nLLM_MODEL_ID=meta-llama/Llama-3.1-8B\n", platform="gaudi")
    v = inst(plan, "vllm").values.as_dict()
    # The count is the value NUM_CARDS holds: --set vllm.NUM_CARDS changes both.
    assert v["resources"] == {"limits": {"habana.ai/gaudi": "{{ .Values.NUM_CARDS }}"}}
    assert v["NUM_CARDS"] == "4"
    assert "HABANA_VISIBLE_DEVICES" not in v["env"]
    assert v["env"]["OMPI_MCA_btl_vader_single_copy_mechanism"] == "none"
    assert v["securityContext"]["capabilities"] == {"drop": ["ALL"], "add": ["SYS_NICE"]}
    assert v["shmSize"] == "2Gi"
    assert v["args"][:2] == ["--model", "{{ .Values.LLM_MODEL_ID }}"]
    assert v["LLM_MODEL_ID"] == "meta-llama/Llama-3.1-8B" and v["NUM_CARDS"] == "4"
    actions = {(f.key, f.action) for f in plan.findings if f.service == "vllm"}
    assert ("ipc", "dropped") in actions and ("runtime", "dropped") in actions


def test_num_shard_counts_cards_and_default_is_one(tmp_path):
    plan = plan_of(tmp_path, """
        services:
          tgi:
            image: ghcr.io/huggingface/tgi-gaudi:2.3.1
            runtime: habana
            command: --model-id m --num-shard 2
          tei:
            image: ghcr.io/huggingface/tei-gaudi:1.5.0
            environment:
              HABANA_VISIBLE_DEVICES: all
    """, platform="gaudi")
    assert inst(plan, "tgi").values.resources["limits"]["habana.ai/gaudi"] == 2
    assert inst(plan, "tei").values.resources["limits"]["habana.ai/gaudi"] == 1


def test_healthchecks_become_probes(tmp_path):
    plan = plan_of(tmp_path, """
        services:
          vllm:
            image: opea/vllm:latest
            ports: ["9009:80"]
            healthcheck:
              test: ["CMD-SHELL", "curl -f http://$host_ip:9009/health || exit 1"]
              interval: 10s
              timeout: 10s
              retries: 100
              start_period: 1m
          db:
            image: redis/redis-stack:7.2.0-v9
            healthcheck:
              test: ["CMD", "redis-cli", "ping"]
          script:
            image: example/app:1
            healthcheck:
              test: python3 -c 'import x' && echo ok
    """)
    vllm = inst(plan, "vllm").values.as_dict()
    assert vllm["readinessProbe"]["httpGet"] == {"path": "/health", "port": 80}
    assert vllm["readinessProbe"]["periodSeconds"] == 10
    assert vllm["readinessProbe"]["failureThreshold"] == 100
    assert vllm["startupProbe"]["initialDelaySeconds"] == 60
    assert inst(plan, "db").values.as_dict()["readinessProbe"]["exec"] == {"command": ["redis-cli", "ping"]}
    script = inst(plan, "script").values.as_dict()["readinessProbe"]["exec"]["command"]
    assert script == ["sh", "-c", "python3 -c 'import x' && echo ok"]


def test_unknown_image_gets_generic_chart_and_is_reported(tmp_path):
    plan = plan_of(tmp_path, """
        services:
          thing:
            image: acme/special-thing:3
            ports: ["8080:8080"]
    """)
    i = inst(plan, "thing")
    assert i.component == "thing" and i.rule.generic   # named after its service, as compose names it
    assert plan.generic == ["thing"]
    assert any(f.rule == "generic" for f in plan.findings)


def test_two_services_of_one_component_get_aliases(tmp_path):
    plan = plan_of(tmp_path, """
        services:
          tgi-a:
            image: ghcr.io/huggingface/text-generation-inference:2.4.0-intel-cpu
          tgi-b:
            image: ghcr.io/huggingface/text-generation-inference:2.4.0-intel-cpu
    """)
    assert {i.name for i in plan.instances} == {"tgi-a", "tgi-b"}
    assert {i.component for i in plan.instances} == {"tgi"}


def test_rerank_told_apart_from_embedding():
    assert RULES.match("ghcr.io/huggingface/text-embeddings-inference:cpu-1.5", "tei-svc",
                       {"EMBEDDING_MODEL_ID"}).component == "tei"
    assert RULES.match("ghcr.io/huggingface/text-embeddings-inference:cpu-1.5", "tei-svc",
                       {"RERANK_MODEL_ID"}).component == "teirerank"
    assert RULES.match("ghcr.io/huggingface/tei-gaudi:1.5", "tei-reranking-service", set()).component == "teirerank"


@pytest.mark.parametrize("image,expected", [
    ("opea/chatqna:latest", ("opea/chatqna", "latest", "")),
    ("localhost:5000/opea/x", ("localhost:5000/opea/x", "", "")),
    ("ghcr.io/a/b@sha256:abcd", ("ghcr.io/a/b", "", "sha256:abcd")),
    ("redis", ("redis", "", "")),
])
def test_split_image(image, expected):
    assert split_image(image) == expected


@pytest.mark.parametrize("path,example,platform,variant", [
    ("ChatQnA/docker/gaudi/compose.yaml", "ChatQnA", "gaudi", ""),
    ("ChatQnA/docker_compose/intel/hpu/gaudi/compose_tgi.yaml", "ChatQnA", "gaudi", "tgi"),
    ("ChatQnA/docker_compose/intel/cpu/xeon/compose_without_rerank.yaml", "ChatQnA", "xeon", "without-rerank"),
    ("ChatQnA/docker_compose/nvidia/gpu/compose.yaml", "ChatQnA", "gpu", ""),
])
def test_layout(tmp_path, path, example, platform, variant):
    f = tmp_path / "GenAIExamples" / path
    f.parent.mkdir(parents=True)
    f.write_text("services: {}\n")
    p = place(f)
    assert (p.example, p.platform, p.variant) == (example, platform, variant)
    assert p.inside == path


def test_overlay_suffix_is_not_a_variant():
    # a file converted alone is complete: its whole name is its variant
    assert variant_of("compose.monitoring.yaml") == "monitoring"
    assert variant_of("compose_tgi.telemetry.yaml") == "tgi-telemetry"


def test_file_without_megaservice_and_platform_with_one(tmp_path):
    """An overlay without the megaservice turns the umbrella's own workload off."""
    base = tmp_path / "in" / "Ex" / "docker"
    (base / "gaudi").mkdir(parents=True)
    (base / "xeon").mkdir(parents=True)
    (base / "gaudi" / "compose.yaml").write_text(textwrap.dedent("""
        services:
          backend:
            image: opea/chatqna:latest
            ports: ["8888:8888"]
    """))
    (base / "xeon" / "compose.yaml").write_text(textwrap.dedent("""
        services:
          thing:
            image: acme/thing:1
            ports: ["80:80"]
    """))
    out = tmp_path / "out"
    convert([base / "gaudi" / "compose.yaml"], out)
    convert([base / "xeon" / "compose.yaml"], out)
    xeon = by_kind(manifest_objects(out / "manifests/Ex/cpu/ex.yaml"), "Deployment")
    assert set(xeon) == {"ex-thing"}
    gaudi = by_kind(manifest_objects(out / "manifests/Ex/gaudi/ex.yaml"), "Deployment")
    assert set(gaudi) == {"ex"}


def test_overlay_files_merge_like_compose(tmp_path):
    base = tmp_path / "Ex" / "docker" / "xeon"
    base.mkdir(parents=True)
    (base / "compose.yaml").write_text(textwrap.dedent("""
        services:
          backend:
            image: opea/chatqna:latest
            environment:
              A: "1"
    """))
    (base / "compose.telemetry.yaml").write_text(textwrap.dedent("""
        services:
          backend:
            environment:
              TELEMETRY_ENDPOINT: http://jaeger:4318/v1/traces
          jaeger:
            image: jaegertracing/all-in-one:1.67.0
            ports: ["4318:4318"]
    """))
    r = convert([base / "compose.yaml", base / "compose.telemetry.yaml"], tmp_path / "out")
    assert r.plan.overlay_name == "cpu"   # GenAIInfra calls Xeon cpu
    env = r.plan.megaservice().values.env
    assert env == {"A": "1", "TELEMETRY_ENDPOINT": "http://{{ .Release.Name }}-all-in-one:4318/v1/traces"}


def test_rule_value_inside_a_longer_text_keeps_the_text(tmp_path):
    """`LLM_MODEL_ID: x-${LLM_MODEL_ID}-y`: the variable becomes the value, the text stays (found
    by the property tests: the whole string used to become the value)."""
    base = tmp_path / "Ex" / "docker" / "gaudi"
    base.mkdir(parents=True)
    (base / "compose.yaml").write_text(
        "services:\n  tgi:\n    image: ghcr.io/huggingface/tgi-gaudi:2.0.1\n"
        "    environment:\n      LLM_MODEL_ID: x-${LLM_MODEL_ID}-y\n")
    r = convert([base / "compose.yaml"], tmp_path / "out")
    tgi = next(i for i in r.plan.instances if i.service == "tgi")
    assert tgi.values.env["LLM_MODEL_ID"] == "x-{{ .Values.LLM_MODEL_ID }}-y"
    assert r.ok


def test_secret_inside_a_default_never_reaches_values(tmp_path):
    """${A:-${HF_TOKEN:-none}} with HF_TOKEN in the env file: the value's default is as if the
    token were unset, and the token is written nowhere (found by the property tests)."""
    base = tmp_path / "Ex" / "docker" / "xeon"
    base.mkdir(parents=True)
    (base / "compose.yaml").write_text(
        "services:\n  a:\n    image: opea/chatqna:latest\n"
        "    environment:\n      - LLM_MODEL_ID=${LLM_MODEL_ID:-${HF_TOKEN:-none}}\n")
    (base / "set_env.env").write_text("HF_TOKEN=hf_planted_secret\n")
    r = convert([base / "compose.yaml"], tmp_path / "out")
    assert r.ok
    assert r.plan.megaservice().values.named("LLM_MODEL_ID") == "none"
    for f in (tmp_path / "out").rglob("*"):
        if f.is_file():
            assert "hf_planted_secret" not in f.read_text(), f


def test_default_of_a_secret_variable_used_directly_verifies(tmp_path):
    base = tmp_path / "Ex" / "docker" / "xeon"
    base.mkdir(parents=True)
    (base / "compose.yaml").write_text(
        "services:\n  a:\n    image: opea/chatqna:latest\n    environment:\n      D: ${DB_PASSWORD:-b}\n")
    r = convert([base / "compose.yaml"], tmp_path / "out")
    assert r.ok
    assert "D" in r.plan.megaservice().values.secret_env


def test_compose_healthcheck_replaces_the_rules_probe_whole(tmp_path):
    """An exec healthcheck on a component whose chart probes with httpGet must not be merged into
    it (one probe, two handlers), and a disabled healthcheck removes the chart's probes."""
    r, docs = convert_example(tmp_path, """\
        services:
          tgi-service:
            image: ghcr.io/huggingface/text-generation-inference:2.4.0-intel-cpu
            ports: ['8008:80']
            healthcheck: {test: [CMD, 'true']}
          tei:
            image: ghcr.io/huggingface/text-embeddings-inference:cpu-1.5
            ports: ['6006:80']
            healthcheck: {disable: true}
        """)
    assert r.ok, r.verification.as_dict()
    pods = {d["metadata"]["name"]: d["spec"]["template"]["spec"]["containers"][0]
            for d in docs if d["kind"] == "Deployment"}
    for key in ("readinessProbe", "startupProbe"):
        assert pods["ex-tgi"][key]["exec"] == {"command": ["true"]} and "httpGet" not in pods["ex-tgi"][key]
        assert key not in pods["ex-tei"]


def test_a_chart_name_taken_by_another_services_name_is_no_collision(tmp_path):
    """Two tei services are named after themselves; one of them is called `tgi`, which a lone tgi
    service would be named after its chart: that one takes its own service name instead."""
    r, _docs = convert_example(tmp_path, """\
        services:
          tgi: {image: "ghcr.io/huggingface/text-embeddings-inference:cpu-1.5", ports: ['6006:80']}
          other-tei: {image: "ghcr.io/huggingface/text-embeddings-inference:cpu-1.5", ports: ['6007:80']}
          llm: {image: "ghcr.io/huggingface/text-generation-inference:2.4.0-intel-cpu", ports: ['8008:80']}
        """)
    assert r.ok, r.verification.as_dict()
    assert {i.service: (i.component, i.name) for i in r.plan.instances} == {
        "tgi": ("tei", "tgi"), "other-tei": ("tei", "other-tei"), "llm": ("tgi", "llm")}


def test_a_bare_name_of_a_service_without_ports_is_left_as_it_is(tmp_path):
    """No ports, no Service: an address naming it cannot become Service DNS, so it stays and is
    reported (found by the property tests)."""
    r, docs = convert_example(tmp_path, """\
        services:
          worker: {image: "busybox:1.36", command: ["sleep", "1d"]}
          app:
            image: opea/chatqna:latest
            ports: ['8888:8888']
            environment: {WORKER_HOST: worker, OTHER: "http://worker"}
        """)
    assert r.ok, r.verification.as_dict()
    config = next(d["data"] for d in docs if d["kind"] == "ConfigMap" and "WORKER_HOST" in (d.get("data") or {}))
    assert config["WORKER_HOST"] == "worker" and config["OTHER"] == "http://worker"
    assert not [d for d in docs if d["kind"] == "Service" and "worker" in d["metadata"]["name"]]
    unresolved = {f.key for f in r.plan.findings if f.action == "unresolved"}
    assert {"environment.WORKER_HOST", "environment.OTHER"} <= unresolved


def test_a_rule_value_two_texts_feed_keeps_each_text(tmp_path):
    """MODEL_ID=a and --model-id b feed the same rule value: as one value one of them would be
    wrong, so each keeps its own text (found by the property tests)."""
    r, docs = convert_example(tmp_path, """\
        services:
          tgi-service:
            image: ghcr.io/huggingface/text-generation-inference:2.4.0-intel-cpu
            ports: ['8008:80']
            environment: {MODEL_ID: a}
            command: ["--model-id", "b"]
        """)
    assert r.ok, r.verification.as_dict()
    pod = next(d for d in docs if d["kind"] == "Deployment")["spec"]["template"]["spec"]["containers"][0]
    config = next(d["data"] for d in docs if d["kind"] == "ConfigMap" and "MODEL_ID" in (d.get("data") or {}))
    assert pod["args"] == ["--model-id", "b"] and config["MODEL_ID"] == "a"
