"""The component catalog as mapping data: which image becomes which component, what the rules
promise (names, ports, probes), the accelerator profiles and the endpoint hints, and the real
GenAIExamples corpus converted with them."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import CORPUS, needs_shared, plan_of

from compose2helm.compose.layout import OVERLAY_NAMES
from compose2helm.plan.planner import referenced_variables
from compose2helm.plan.prepare import prepare
from compose2helm.plan.rules import load_rules
from compose2helm.util.names import is_dns_label


RULES = load_rules()

# (image as compose writes it, service name, variables the service uses) -> component.
CATALOG = [
    # LLM serving engines
    ("ghcr.io/huggingface/text-generation-inference:2.4.0-intel-cpu", "tgi-service", (), "tgi"),
    ("ghcr.io/huggingface/text-generation-inference:sha-e4201f4-intel-cpu", "tgi-service", (), "tgi"),
    ("ghcr.io/huggingface/text-generation-inference:2.4.1-rocm", "tgi-service", (), "tgi"),
    ("ghcr.io/huggingface/text-generation-inference:2.2.0", "tgi", (), "tgi"),
    ("ghcr.io/huggingface/tgi-gaudi:2.3.1", "tgi-gaudi-server", (), "tgi"),
    ("openeuler/text-generation-inference-cpu:2.4.0-oe2403lts", "tgi-service", (), "tgi"),
    ("opea/vllm:latest", "vllm-service", (), "vllm"),
    ("opea/vllm-gaudi:1.22.0", "vllm-service", (), "vllm"),
    ("opea/vllm-rocm:latest", "vllm-service", (), "vllm"),
    ("openeuler/vllm-cpu:0.10.1-oe2403lts", "vllm-service", (), "vllm"),
    ("public.ecr.aws/q9t5s3a7/vllm-cpu-release-repo:v0.10.1", "vllm-service", (), "vllm"),
    ("vllm/vllm-openai:latest", "vllm-service", (), "vllm"),
    ("opea/llm-vllm-hpu:latest", "vllm-service", (), "vllm"),
    ("opea/llm-vllm-ray-hpu:latest", "vllm-ray-service", (), "vllm-ray"),
    ("ollama/ollama", "ollama-service", (), "ollama"),
    # Embedding and reranking engines: one image, told apart by the model or the name
    ("ghcr.io/huggingface/text-embeddings-inference:cpu-1.7", "tei-embedding-service", ("EMBEDDING_MODEL_ID",), "tei"),
    ("ghcr.io/huggingface/text-embeddings-inference:hpu-1.7", "tei-embedding-gaudi", (), "tei"),
    ("ghcr.io/huggingface/text-embeddings-inference:1.5", "tei-embedding", (), "tei"),
    ("ghcr.io/huggingface/tei-gaudi:1.5.0", "tei-embedding-service", (), "tei"),
    ("opea/tei-gaudi:latest", "tei-embedding-service", (), "tei"),
    ("openeuler/text-embeddings-inference-cpu:1.7.0-oe2403lts", "tei-embedding-service", (), "tei"),
    ("ghcr.io/huggingface/text-embeddings-inference:cpu-1.7", "tei-reranking-service", (), "teirerank"),
    ("ghcr.io/huggingface/text-embeddings-inference:cpu-1.5", "tei-server", ("RERANK_MODEL_ID",), "teirerank"),
    ("openeuler/text-embeddings-inference-cpu:1.7.0-oe2403lts", "tei-reranking-service", (), "teirerank"),
    # OPEA microservices
    ("opea/llm-textgen:latest", "llm", (), "llm-uservice"),
    ("opea/llm-tgi:latest", "llm", (), "llm-uservice"),
    ("opea/llm-vllm:latest", "llm", (), "llm-uservice"),
    ("opea/llm-vllm-ray:latest", "llm", (), "llm-uservice"),
    ("opea/llm-ollama", "llm", (), "llm-uservice"),
    ("opea/llm-docsum:latest", "llm-docsum-tgi", (), "llm-uservice"),
    ("opea/llm-docsum-tgi:latest", "llm-docsum-tgi", (), "llm-uservice"),
    ("opea/llm-faqgen:latest", "llm-faqgen", (), "llm-uservice"),
    ("opea/llm-faqgen-tgi:latest", "llm-faqgen", (), "llm-uservice"),
    ("opea/embedding:latest", "embedding", (), "embedding-usvc"),
    ("opea/embedding-tei:latest", "embedding", (), "embedding-usvc"),
    ("opea/reranking:latest", "reranking", (), "reranking-usvc"),
    ("opea/reranking-tei:latest", "reranking", (), "reranking-usvc"),
    ("opea/retriever:latest", "retriever", (), "retriever-usvc"),
    ("opea/retriever-redis:latest", "retriever", (), "retriever-usvc"),
    ("opea/retriever-qdrant:latest", "retriever", (), "retriever-usvc"),
    ("opea/retriever-milvus:latest", "retriever", (), "retriever-usvc"),
    ("opea/dataprep:latest", "dataprep-redis-service", (), "data-prep"),
    ("opea/dataprep-redis:latest", "dataprep-redis-service", (), "data-prep"),
    ("opea/dataprep-qdrant:latest", "dataprep-qdrant-service", (), "data-prep"),
    ("opea/dataprep-milvus:latest", "dataprep-milvus-service", (), "data-prep"),
    ("opea/whisper:latest", "whisper-service", (), "whisper"),
    ("opea/whisper-gaudi:latest", "whisper-service", (), "whisper"),
    ("opea/asr:latest", "asr", (), "asr"),
    ("opea/speecht5:latest", "speecht5-service", (), "speecht5"),
    ("opea/speecht5-gaudi:latest", "speecht5-service", (), "speecht5"),
    ("opea/tts:latest", "tts", (), "tts"),
    ("opea/gpt-sovits:latest", "gpt-sovits-service", (), "gpt-sovits"),
    ("opea/guardrails:latest", "guardrails", (), "guardrails-usvc"),
    ("opea/guardrails-tgi:latest", "guardrails", (), "guardrails-usvc"),
    ("opea/lvm:latest", "lvm", (), "lvm-uservice"),
    ("opea/web-retriever:latest", "web-retriever", (), "web-retriever"),
    ("opea/chathistory-mongo:latest", "chathistory", (), "chathistory-usvc"),
    ("opea/promptregistry-mongo:latest", "promptregistry", (), "prompt-registry-usvc"),
    # Megaservices (the umbrella chart itself)
    ("opea/chatqna:latest", "chatqna-xeon-backend-server", (), "megaservice"),
    ("opea/chatqna-without-rerank:latest", "backend", (), "megaservice"),
    ("opea/chatqna-no-wrapper:latest", "backend", (), "megaservice"),
    ("opea/chatqna-guardrails:latest", "backend", (), "megaservice"),
    ("opea/codegen:latest", "backend", (), "megaservice"),
    ("opea/codetrans:latest", "backend", (), "megaservice"),
    ("opea/docsum:latest", "backend", (), "megaservice"),
    ("opea/audioqna:latest", "backend", (), "megaservice"),
    ("opea/audioqna-multilang:latest", "backend", (), "megaservice"),
    ("opea/faqgen:latest", "backend", (), "megaservice"),
    # User interfaces and the front door
    ("opea/chatqna-ui:latest", "ui", (), "ui"),
    ("opea/codegen-gradio-ui:latest", "ui", (), "ui"),
    ("opea/docsum-gradio-ui:latest", "ui", (), "ui"),
    ("opea/docsum-react-ui:latest", "ui", (), "react-ui"),
    ("opea/chatqna-conversation-ui:latest", "ui", (), "react-ui"),
    ("opea/nginx:latest", "nginx", (), "nginx"),
    ("registry.example.com/opea/nginx:1.2", "nginx", (), "nginx"),
    # Data stores
    ("redis/redis-stack:7.2.0-v9", "redis-vector-db", (), "redis-vector-db"),
    ("milvusdb/milvus:v2.4.6", "milvus-standalone", (), "milvus"),
    ("quay.io/coreos/etcd:v3.5.5", "etcd", (), "etcd"),
    ("minio/minio:RELEASE.2023-03-20T20-16-18Z", "minio", (), "minio"),
    ("qdrant/qdrant", "qdrant-vector-db", (), "qdrant"),
    ("mongo:7.0.11", "mongo", (), "mongodb"),
    ("pgvector/pgvector:0.7.0-pg16", "pgvector-db", (), "postgres"),
    ("neo4j:5.23.0", "neo4j-apoc", (), "neo4j"),
    ("mariadb:latest", "mariadb-server", (), "mariadb"),
    ("opengauss/opengauss:7.0.0-RC2.B015", "opengauss-db", (), "opengauss"),
    ("opensearchproject/opensearch:2.18.0", "opensearch-vector-db", (), "opensearch"),
    # Observability
    ("prom/prometheus:v2.52.0", "prometheus", (), "prometheus"),
    ("grafana/grafana:11.0.0", "grafana", (), "grafana"),
    ("prom/node-exporter", "node-exporter", (), "node-exporter"),
    ("vault.habana.ai/gaudi-metric-exporter/metric-exporter:1.22.2-32", "gaudi-exporter", (), "gaudi-metric-exporter"),
    ("jaegertracing/all-in-one:1.67.0", "jaeger", (), "all-in-one"),
]


@pytest.mark.parametrize("image,service,variables,component", CATALOG,
                         ids=[f"{c[0]}@{c[1]}" for c in CATALOG])
def test_image_maps_to_its_component(image, service, variables, component):
    rule = RULES.match(image, service, set(variables))
    assert rule is not None, f"no rule for {image}"
    assert rule.component == component


def test_unknown_image_has_no_rule():
    assert RULES.match("example.com/team/something-else:1.0", "x", set()) is None


@pytest.mark.parametrize("image", ["nginx:1.27", "nginx:alpine", "bitnami/nginx:1.25", "redis:7.2",
                                   "library/redis:7", "bitnami/redis:7.2"])
def test_opea_rules_do_not_claim_every_web_server_or_cache(image):
    """OPEA's gateway and vector-store charts are for OPEA's images; the official nginx or redis
    is a web server or cache like any other image: a chart built from its own service."""
    assert RULES.match(image, "web", set()) is None


def test_rules_load_with_unique_dns_component_names():
    components = [r.component for r in RULES.rules]
    assert len(components) == len(set(components))
    assert len(components) >= 40
    for r in RULES.rules:
        assert is_dns_label(r.component) and r.component[0].isalpha(), r.component
        assert r.kind in ("component", "megaservice"), r.file
        assert r.images, f"{r.file}: matches no image"
        assert r.description, f"{r.file}: no description"
    assert [r.component for r in RULES.rules if r.kind == "megaservice"] == ["megaservice"]


@pytest.mark.parametrize("rule", [r for r in RULES.rules if r.kind == "component"], ids=lambda r: r.component)
def test_component_rule_ports_probe_image_and_keywords(rule):
    assert rule.ports, "a component needs a port"
    names = [str(p["name"]) for p in rule.ports]
    assert len(names) == len(set(names))
    for p in rule.ports:
        name = str(p["name"])
        # Kubernetes port names: IANA_SVC_NAME, at most 15 characters, a DNS label with a letter.
        assert len(name) <= 15 and is_dns_label(name) and re.search("[a-z]", name), name
        assert 1 <= int(p["port"]) <= 65535
    assert rule.image.get("repository") and str(rule.image.get("tag", "")), "default image and tag"
    assert rule.keywords, "keywords"
    kinds = set(rule.probe) - {"startupSeconds"}
    assert len(kinds) == 1 and kinds <= {"httpGet", "tcpSocket", "exec"}, rule.probe
    if "httpGet" in rule.probe:
        assert str(rule.probe["httpGet"]["path"]).startswith("/")
    if "exec" in rule.probe:
        assert rule.probe["exec"]["command"]
    for v in rule.values:
        assert re.fullmatch(r"[A-Z][A-Z0-9_]*", v.key), v.key
        assert v.description and (v.env or v.flags), v.key


@pytest.mark.parametrize("component,path", [
    ("tgi", "/health"), ("tei", "/health"), ("teirerank", "/health"), ("vllm", "/health"),
    ("whisper", "/health"), ("speecht5", "/health"),
    ("llm-uservice", "/v1/health_check"), ("embedding-usvc", "/v1/health_check"),
    ("reranking-usvc", "/v1/health_check"), ("retriever-usvc", "/v1/health_check"),
    ("data-prep", "/v1/health_check"), ("asr", "/v1/health_check"), ("tts", "/v1/health_check"),
    ("guardrails-usvc", "/v1/health_check"),
])
def test_health_endpoints_the_images_serve(component, path):
    assert RULES.by_component(component).probe["httpGet"]["path"] == path


def test_model_ids_are_the_genaiinfra_values():
    def keys(c):
        return {v.key for v in RULES.by_component(c).values}
    for c in ("tgi", "vllm", "llm-uservice", "vllm-ray"):
        assert "LLM_MODEL_ID" in keys(c)
    assert "EMBEDDING_MODEL_ID" in keys("tei")
    assert "RERANK_MODEL_ID" in keys("teirerank")
    assert "INDEX_NAME" in keys("retriever-usvc") and "INDEX_NAME" in keys("data-prep")


# --- accelerators and endpoint hints, on small compose files ---------------------------------

def _plan(tmp_path: Path, text: str, env: str | None = None):
    return plan_of(tmp_path, text, env)


def _limits(plan, service):
    inst = next(i for i in plan.instances if i.service == service)
    return inst.values.resources.get("limits") or {}


def test_accelerator_profiles(tmp_path):
    plan = _plan(tmp_path, """
        services:
          rocm:
            image: ghcr.io/huggingface/text-generation-inference:2.4.1-rocm
            devices: ["/dev/kfd:/dev/kfd", "/dev/dri/:/dev/dri/"]
          rocm-cards:
            image: opea/vllm-rocm:latest
            devices: ["/dev/kfd:/dev/kfd", "/dev/dri/card1:/dev/dri/card1", "/dev/dri/renderD136:/dev/dri/renderD136"]
            command: --model m --tensor-parallel-size 4
          arc:
            image: opea/vllm:latest
            devices: ["/dev/dri:/dev/dri"]
          nvidia:
            image: ghcr.io/huggingface/text-generation-inference:2.2.0
            deploy:
              resources:
                reservations:
                  devices: [{driver: nvidia, count: 2, capabilities: [gpu]}]
          gaudi:
            image: opea/vllm-gaudi:1.22.0
            runtime: habana
            environment:
              HABANA_VISIBLE_DEVICES: all
              NUM_CARDS: 2
          whisper-gaudi:
            image: opea/whisper:latest
            runtime: habana
          cpu:
            image: opea/vllm:latest
    """)
    assert _limits(plan, "rocm") == {"amd.com/gpu": 1}
    assert _limits(plan, "rocm-cards") == {"amd.com/gpu": 4}
    assert _limits(plan, "arc") == {"gpu.intel.com/i915": 1}
    assert _limits(plan, "nvidia") == {"nvidia.com/gpu": 2}
    assert _limits(plan, "gaudi") == {"habana.ai/gaudi": 2}
    assert _limits(plan, "whisper-gaudi") == {"habana.ai/gaudi": 1}
    assert _limits(plan, "cpu") == {}


def test_audio_and_vector_store_hosts_resolve(tmp_path):
    plan = _plan(tmp_path, """
        services:
          whisper-service:
            image: opea/whisper-gaudi:latest
            ports: ["7066:7066"]
          speecht5-service:
            image: opea/speecht5:latest
            ports: ["7055:7055"]
          gpt-sovits-service:
            image: opea/gpt-sovits:latest
            ports: ["9880:9880"]
          milvus-standalone:
            image: milvusdb/milvus:v2.4.6
            ports: ["19530:19530"]
          retriever:
            image: opea/retriever:latest
            environment:
              MILVUS_HOST: ${host_ip}
          backend:
            image: opea/audioqna:latest
            environment:
              WHISPER_SERVER_HOST_IP: ${WHISPER_SERVER_HOST_IP}
              SPEECHT5_SERVER_HOST_IP: ${SPEECHT5_SERVER_HOST_IP}
              GPT_SOVITS_SERVER_HOST_IP: ${GPT_SOVITS_SERVER_HOST_IP}
    """, env="""
        WHISPER_SERVER_HOST_IP=${host_ip}
        SPEECHT5_SERVER_HOST_IP=${host_ip}
        GPT_SOVITS_SERVER_HOST_IP=${host_ip}
    """)
    backend = next(i for i in plan.instances if i.service == "backend").values.env
    assert backend["WHISPER_SERVER_HOST_IP"] == "{{ .Release.Name }}-whisper"
    assert backend["SPEECHT5_SERVER_HOST_IP"] == "{{ .Release.Name }}-speecht5"
    assert backend["GPT_SOVITS_SERVER_HOST_IP"] == "{{ .Release.Name }}-gpt-sovits"
    retriever = next(i for i in plan.instances if i.service == "retriever").values.env
    assert retriever["MILVUS_HOST"] == "{{ .Release.Name }}-milvus"
    assert not [f for f in plan.findings if f.action == "unresolved"]


def test_old_layout_audio_endpoints_resolve_without_an_env_file(tmp_path):
    plan = _plan(tmp_path, """
        services:
          whisper-service:
            image: opea/whisper:latest
            ports: ["7066:7066"]
          asr:
            image: opea/asr:latest
            ports: ["3001:9099"]
            environment:
              ASR_ENDPOINT: ${ASR_ENDPOINT}
          speecht5-service:
            image: opea/speecht5:latest
            ports: ["7055:7055"]
          tts:
            image: opea/tts:latest
            ports: ["3002:9088"]
            environment:
              TTS_ENDPOINT: ${TTS_ENDPOINT}
    """)
    env = {i.service: i.values.env for i in plan.instances}
    assert env["asr"]["ASR_ENDPOINT"] == "http://{{ .Release.Name }}-whisper:7066"
    assert env["tts"]["TTS_ENDPOINT"] == "http://{{ .Release.Name }}-speecht5:7055"


# --- the real corpus ------------------------------------------------------------------------

# Images of the corpus that no rule should claim: a benchmark client that runs `tail -f
# /dev/null` (compose.perf.yaml), not a server with a health endpoint.
NOT_IN_CATALOG = {"public.ecr.aws/q9t5s3a7/vllm-ci-test-repo"}


def _corpus_jobs() -> list[list[Path]]:
    jobs = []
    for f in sorted(CORPUS.rglob("compose*.yaml")):
        overlay = next((o for o in OVERLAY_NAMES if o in f.name), None)
        base = f.with_name(f.name.replace(overlay, "")) if overlay else None
        jobs.append([base, f] if base is not None and base.is_file() else [f])
    return jobs


def _accelerator_wanted(service) -> str | None:
    if service.runtime == "habana" or "HABANA_VISIBLE_DEVICES" in service.environment:
        return "habana.ai/gaudi"
    if any(d.split(":")[0] == "/dev/kfd" for d in service.devices):
        return "amd.com/gpu"
    if service.deploy and any(r.driver == "nvidia" for r in service.deploy.devices):
        return "nvidia.com/gpu"
    if any(d.split(":")[0].rstrip("/") == "/dev/dri" for d in service.devices):
        return "gpu.intel.com/i915"
    return None


@pytest.mark.slow
@needs_shared
def test_corpus_every_family_has_a_rule_and_every_accelerator_its_device():
    generic, missing, accelerated, files = [], [], 0, 0
    for job in _corpus_jobs():
        prepared = prepare(job)
        files += 1
        where = " + ".join(p.name for p in job)
        plan = prepared.plan
        for inst in plan.instances:
            service = prepared.project.services[inst.service]
            if inst.rule.generic:
                generic.append((where, inst.service, inst.rule.image["repository"]))
            wanted = _accelerator_wanted(service)
            if wanted:
                accelerated += 1
                limits = inst.values.resources.get("limits") or {}
                if not limits.get(wanted):
                    missing.append((where, inst.service, wanted, limits))
            if not inst.rule.generic and inst.rule.kind == "component":
                # Services that mention the reranking model are teirerank, not tei.
                if inst.rule.component == "tei":
                    assert not {"RERANK_MODEL_ID"} & referenced_variables(service), (where, inst.service)
    assert files > 100
    assert [g for g in generic if g[2] not in NOT_IN_CATALOG] == []
    assert missing == []
    assert accelerated >= 60
