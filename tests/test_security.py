"""Issue 18: NetworkPolicies from the compose wiring, pod securityContext, probes and namespaces.
Each behaviour is rendered with its values and the objects are checked."""
from __future__ import annotations

import copy
import textwrap

import pytest

from compose2helm.helm.render import render_chart
from compose2helm.pipeline.convert import convert
from compose2helm.plan.prepare import prepare
from compose2helm.verify.check import verify_objects
from compose2helm.verify.netpol import allowed_sources, check_wiring
from conftest import load_yaml, load_yaml_all


# A gateway in front of a UI and a megaservice, which calls an embedding server and a retriever,
# which calls a database; the database and the embedding server are called by nobody else.
COMPOSE = """\
services:
  redis-vector-db:
    image: redis/redis-stack:7.2.0-v9
    ports: ["6379:6379", "8001:8001"]
  tei-embedding-service:
    image: ghcr.io/huggingface/text-embeddings-inference:cpu-1.5
    command: --model-id ${EMBEDDING_MODEL_ID} --auto-truncate
    ports: ["6006:80"]
  retriever:
    image: opea/retriever:latest
    ports: ["7000:7000"]
    environment:
      REDIS_URL: redis://redis-vector-db:6379
      TEI_EMBEDDING_ENDPOINT: http://tei-embedding-service:80
  backend:
    image: opea/chatqna:latest
    ports: ["8888:8888"]
    environment:
      MEGA_SERVICE_HOST_IP: backend
      EMBEDDING_SERVER_HOST_IP: tei-embedding-service
      EMBEDDING_SERVER_PORT: 80
      RETRIEVER_SERVICE_HOST_IP: retriever
  ui:
    image: opea/chatqna-ui:latest
    ports: ["5173:5173"]
  gateway:
    image: opea/nginx:latest
    ports: ["80:80"]
    environment:
      FRONTEND_SERVICE_IP: ui
      FRONTEND_SERVICE_PORT: 5173
      BACKEND_SERVICE_NAME: chatqna
      BACKEND_SERVICE_IP: backend
      BACKEND_SERVICE_PORT: 8888
"""


@pytest.fixture(scope="module")
def out(tmp_path_factory):
    root = tmp_path_factory.mktemp("security")
    src = root / "ChatQnA" / "docker" / "xeon" / "compose.yaml"
    src.parent.mkdir(parents=True)
    src.write_text(textwrap.dedent(COMPOSE))
    result = convert([src], root / "out")
    assert result.ok, result.verification.as_dict()
    chart = root / "out/helm-charts/chatqna"
    overlay = load_yaml(next(chart.glob("*-values.yaml")).read_text())
    manifest = [d for d in load_yaml_all((root / "out" / result.manifest).read_text()) if d]
    return {"src": src, "chart": chart, "overlay": overlay, "manifest": manifest}


def _merge(a: dict, b: dict) -> dict:
    merged = dict(a)
    for k, v in b.items():
        merged[k] = _merge(merged[k], v) if isinstance(v, dict) and isinstance(merged.get(k), dict) else v
    return merged


def _render(out, extra: dict | None = None) -> list[dict]:
    return [d.obj for d in render_chart(out["chart"], _merge(out["overlay"], extra or {}), "chatqna")]


def _named(objs: list[dict], kind: str) -> dict[str, dict]:
    return {o["metadata"]["name"]: o for o in objs if o["kind"] == kind}


def _sources(objs: list[dict], workload: str) -> dict:
    labels = _named(objs, "Deployment")[workload]["spec"]["template"]["metadata"]["labels"]
    return allowed_sources(objs, labels)


# --- NetworkPolicies ------------------------------------------------------------------------------

def test_each_component_accepts_only_its_callers(out):
    objs = out["manifest"]
    policies = _named(objs, "NetworkPolicy")
    assert set(policies) == set(_named(objs, "Deployment"))      # one per workload, same names
    assert _sources(objs, "chatqna-redis-vector-db") == {"chatqna-retriever-usvc": frozenset({"6379", "8001"})}
    assert set(_sources(objs, "chatqna-tei")) == {"chatqna", "chatqna-retriever-usvc"}
    assert set(_sources(objs, "chatqna-retriever-usvc")) == {"chatqna"}
    assert set(_sources(objs, "chatqna")) == {"chatqna-nginx"}
    assert set(_sources(objs, "chatqna-chatqna-ui")) == {"chatqna-nginx"}
    # the entry point (nginx) from anywhere, on its container port only
    assert _sources(objs, "chatqna-nginx") == {"*": frozenset({"80"})}
    # egress stays open: no policy restricts it by default
    assert all(p["spec"]["policyTypes"] == ["Ingress"] for p in _named(objs, "NetworkPolicy").values())


def test_verify_reports_a_policy_that_misses_a_call_or_allows_more(out):
    prepared = prepare([out["src"]])
    objs = copy.deepcopy(out["manifest"])
    services = {n: s for n, s in _named(objs, "Service").items()}
    assert check_wiring(prepared.plan, objs, "chatqna", services) == []
    db = _named(objs, "NetworkPolicy")["chatqna-redis-vector-db"]
    db["spec"]["ingress"][0]["from"][0]["podSelector"]["matchLabels"]["app.kubernetes.io/name"] = "nginx"
    found = {(d.workload, d.compose, d.kubernetes) for d in check_wiring(prepared.plan, objs, "chatqna", services)}
    assert found == {("chatqna-redis-vector-db", "called by chatqna-retriever-usvc on port 6379", "not allowed"),
                     ("chatqna-redis-vector-db", "no call from chatqna-nginx", "allowed")}
    # reported like verify's other checks: unexplained differences of the service
    reports = {r.workload: r for r in verify_objects(prepared, objs)}
    assert [d.field for d in reports["chatqna-redis-vector-db"].unexplained] == ["network.ingress"] * 2


def test_verify_reports_an_open_component_and_a_closed_entry_point(out):
    prepared = prepare([out["src"]])
    objs = copy.deepcopy(out["manifest"])
    policies = _named(objs, "NetworkPolicy")
    objs.remove(policies["chatqna-tei"])                     # no policy selects it: open
    policies["chatqna-nginx"]["spec"]["ingress"] = []        # the entry point closed
    found = {(d.workload, d.compose) for d in check_wiring(prepared.plan, objs, "chatqna", {})}
    assert ("chatqna-tei", "only from its callers") in found
    assert ("chatqna-nginx", "from anywhere (entry point)") in found


def test_global_switch_turns_every_policy_off(out):
    objs = _render(out, {"global": {"networkPolicies": False}})
    assert not _named(objs, "NetworkPolicy")
    assert _named(objs, "Deployment")


def test_restrict_egress_allows_dns_callees_and_extra_rules(out):
    extra = {"cidr": "10.0.0.0/8"}
    objs = _render(out, {"retriever-usvc": {"networkPolicy": {"restrictEgress": True,
                                                              "extraEgress": [{"to": [{"ipBlock": extra}]}]}}})
    policy = _named(objs, "NetworkPolicy")["chatqna-retriever-usvc"]["spec"]
    assert policy["policyTypes"] == ["Ingress", "Egress"]
    dns, callees, more = policy["egress"]
    assert {p["port"] for p in dns["ports"]} == {53}
    assert sorted(p["podSelector"]["matchLabels"]["app.kubernetes.io/name"] for p in callees["to"]) == [
        "redis-vector-db", "tei"]
    assert more == {"to": [{"ipBlock": extra}]}


def test_helm_test_pods_and_prometheus_may_connect(out):
    objs = _render(out, {"global": {"monitoring": True}})
    spec = _named(objs, "NetworkPolicy")["chatqna-tei"]["spec"]
    peers = [p for rule in spec["ingress"] for p in rule.get("from", [])]
    assert {"podSelector": {"matchLabels": {"app.kubernetes.io/component": "helm-test",
                                            "app.kubernetes.io/instance": "chatqna"}}} in peers
    scrape = [r for r in spec["ingress"] if any("namespaceSelector" in p for p in r["from"])]
    assert scrape and scrape[0]["from"][0]["namespaceSelector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": "monitoring"}


def test_a_common_chart_alone_accepts_connections_from_anywhere(out):
    tei = out["chart"].parent / "common" / "tei"
    objs = [d.obj for d in render_chart(tei, {}, "alone")]
    spec = _named(objs, "NetworkPolicy")["alone-tei"]["spec"]
    assert spec["ingress"] == [{"ports": [{"port": 80, "protocol": "TCP"}]}]


# --- pod securityContext, probes, namespaces ------------------------------------------------------

def _pod(objs: list[dict], name: str) -> dict:
    return _named(objs, "Deployment")[name]["spec"]["template"]["spec"]


def test_pods_run_as_the_user_their_rule_knows(out):
    objs = out["manifest"]
    runtime_default = {"type": "RuntimeDefault"}
    # opea/* microservices and the megaservice: uid 1000 (GenAIInfra's), not root
    for name in ("chatqna", "chatqna-retriever-usvc"):
        assert _pod(objs, name)["securityContext"] == {"fsGroup": 1000, "runAsNonRoot": True, "runAsUser": 1000,
                                                       "seccompProfile": runtime_default}, name
    assert _pod(objs, "chatqna-redis-vector-db")["securityContext"]["runAsUser"] == 1000
    # nginx starts as root with the four capabilities its image needs
    nginx = _pod(objs, "chatqna-nginx")
    assert nginx["securityContext"] == {"runAsNonRoot": False, "runAsUser": 0, "seccompProfile": runtime_default}
    assert nginx["containers"][0]["securityContext"]["capabilities"] == {
        "add": ["CHOWN", "NET_BIND_SERVICE", "SETGID", "SETUID"], "drop": ["ALL"]}
    # images whose rule states no user keep the image's own (Kubernetes' baseline profile)
    for name in ("chatqna-tei", "chatqna-chatqna-ui"):
        assert _pod(objs, name)["securityContext"] == {"seccompProfile": runtime_default}, name


def test_compose_user_wins_over_the_rule(tmp_path):
    from conftest import convert_example
    result, objs = convert_example(tmp_path, """\
        services:
          retriever:
            image: opea/retriever:latest
            user: "0"
            ports: ["7000:7000"]
        """)
    assert result.ok, result.verification.as_dict()
    pod = _pod(objs, "ex-retriever-usvc")
    assert pod["securityContext"]["runAsUser"] == 1000                      # the chart's default
    assert pod["containers"][0]["securityContext"]["runAsUser"] == 0         # compose's, which wins
    assert pod["containers"][0]["securityContext"]["runAsNonRoot"] is False


def test_liveness_follows_readiness_with_a_generous_budget_behind_the_startup_probe(out):
    objs = out["manifest"]
    for name, deployment in _named(objs, "Deployment").items():
        c = deployment["spec"]["template"]["spec"]["containers"][0]
        live, ready = c["livenessProbe"], c["readinessProbe"]
        assert c["startupProbe"], name
        action = {k: v for k, v in ready.items() if k in ("httpGet", "exec", "tcpSocket")}
        assert {k: live[k] for k in action} == action, name
        assert live["periodSeconds"] >= 30 and live["failureThreshold"] >= 10 and live["timeoutSeconds"] >= 10
    # the megaservice is ready once its port accepts connections (GenAIExamples gives it no healthcheck)
    mega = _pod(objs, "chatqna")["containers"][0]
    assert mega["readinessProbe"]["tcpSocket"] == {"port": 8888}


def test_a_compose_healthcheck_gives_the_liveness_probe_its_check(tmp_path):
    from conftest import convert_example
    result, objs = convert_example(tmp_path, """\
        services:
          tgi-service:
            image: ghcr.io/huggingface/text-generation-inference:2.4.0-intel-cpu
            ports: ["8008:80"]
            healthcheck:
              test: ["CMD-SHELL", "curl -f http://localhost:80/health || exit 1"]
              interval: 10s
              timeout: 10s
              retries: 100
        """)
    assert result.ok, result.verification.as_dict()
    c = _pod(objs, "ex-tgi")["containers"][0]
    assert c["livenessProbe"] == {"httpGet": {"path": "/health", "port": 80}, "periodSeconds": 30,
                                  "timeoutSeconds": 10, "failureThreshold": 100}
    assert c["startupProbe"]["failureThreshold"] == 100


def test_every_namespaced_object_names_the_release_namespace(out):
    objs = _render(out)
    assert objs and all(o["metadata"].get("namespace") == "default" for o in objs)
    # the committed manifests render into a namespace named after the release, created first
    assert out["manifest"][0] == {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "chatqna"}}
    assert all(o["metadata"]["namespace"] == "chatqna" for o in out["manifest"][1:])


def test_pod_policy_reports_a_user_other_than_the_rules(out):
    from compose2helm.verify.podpolicy import check_pod
    deployment = copy.deepcopy(_named(out["manifest"], "Deployment")["chatqna-retriever-usvc"])
    assert check_pod(deployment, user=1000) == []
    deployment["spec"]["template"]["spec"]["securityContext"] = {"seccompProfile": {"type": "RuntimeDefault"}}
    assert {v.field for v in check_pod(deployment, user=1000)} == {"securityContext.runAsUser",
                                                                   "securityContext.runAsNonRoot"}
    deployment["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]["failureThreshold"] = 1
    assert "livenessProbe" in {v.field for v in check_pod(deployment, user=None)}


# --- the user and capabilities each image needs (facts about the images, not the rules) ----------

# uid the image must run as (None: its own user, which the chart leaves alone) and the capabilities
# it needs on top of drop ALL. opea/* microservices are built with a uid-1000 user (GenAIInfra runs
# them so); opea/nginx starts as root to rewrite its configuration, change owner of its cache and
# bind port 80; the Svelte/React UIs need root (GenAIExamples issue 517); opea/vllm does not start as
# another user (GenAIComps issue 1549); redis-stack runs as 1000 with /data writable.
IMAGE_NEEDS = {
    "nginx": (0, ["CHOWN", "NET_BIND_SERVICE", "SETGID", "SETUID"]),
    "redis-vector-db": (1000, []),
    "ui": (None, []), "react-ui": (None, []),
    "vllm": (0, []), "vllm-ray": (None, []),
    **{c: (1000, []) for c in (
        "asr", "chathistory-usvc", "data-prep", "embedding-usvc", "gpt-sovits", "guardrails-usvc",
        "llm-uservice", "lvm-uservice", "megaservice", "prompt-registry-usvc", "reranking-usvc",
        "retriever-usvc", "speecht5", "text2image", "tts", "web-retriever", "whisper")},
}


def _opea_or_named(rule) -> bool:
    return rule.image.get("repository", "").startswith("opea/") or rule.component in IMAGE_NEEDS


def test_every_opea_image_nginx_and_redis_keep_the_user_and_capabilities_they_need(tmp_path):
    from compose2helm.chart.charts import common_chart
    from compose2helm.plan.rules import load_rules

    rules = [r for r in load_rules().rules if _opea_or_named(r)]
    assert {r.component for r in rules} == set(IMAGE_NEEDS)    # a new opea/* rule needs its fact here
    for rule in rules:
        if rule.kind == "megaservice":
            continue            # lives in the umbrella: checked through the conversion above
        chart = tmp_path / rule.component
        for rel, text in common_chart(rule).items():
            (chart / rel).parent.mkdir(parents=True, exist_ok=True)
            (chart / rel).write_text(text)
        pod = next(d.obj for d in render_chart(chart, {}, "r") if d.obj["kind"] == "Deployment")
        spec = pod["spec"]["template"]["spec"]
        uid, caps = IMAGE_NEEDS[rule.component]
        sc, csc = spec["securityContext"], spec["containers"][0]["securityContext"]
        assert sc.get("runAsUser") == uid, rule.component
        assert sc.get("runAsNonRoot") is (None if uid is None else uid != 0), rule.component
        assert csc["capabilities"] == {"drop": ["ALL"], **({"add": caps} if caps else {})}, rule.component
    mega = next(r for r in rules if r.kind == "megaservice")
    assert mega.identity.get("runAsUser") == IMAGE_NEEDS["megaservice"][0]


def test_an_image_no_rule_knows_gets_the_baseline_capabilities(tmp_path):
    from conftest import convert_example
    result, objs = convert_example(tmp_path, """\
        services:
          db:
            image: example.org/some/database:1.0
            ports: ["5432:5432"]
        """)
    assert result.ok, result.verification.as_dict()
    pod = _pod(objs, "ex-db")
    caps = pod["containers"][0]["securityContext"]["capabilities"]
    assert caps["drop"] == ["ALL"]
    assert "CHOWN" in caps["add"] and "SETUID" in caps["add"] and "NET_RAW" not in caps["add"]
    assert "SYS_ADMIN" not in caps["add"] and len(caps["add"]) == 13
    assert pod["securityContext"] == {"seccompProfile": {"type": "RuntimeDefault"}}   # its own user


def test_gmc_components_keep_their_charts_open_policy(tmp_path):
    # GMC's router, not the compose services, calls each component, and each is a release of its own
    src = tmp_path / "ChatQnA" / "docker" / "xeon" / "compose.yaml"
    src.parent.mkdir(parents=True)
    src.write_text(textwrap.dedent(COMPOSE))
    result = convert([src], tmp_path / "out", gmc=True)
    assert result.ok, result.verification.as_dict()
    gmc = tmp_path / "out" / "manifests" / "ChatQnA" / "cpu" / "gmc"
    objs = [d for f in sorted(gmc.glob("*.yaml")) for d in load_yaml_all(f.read_text()) if d]
    policies = _named(objs, "NetworkPolicy")
    assert policies and all(rule.get("from") is None for p in policies.values() for rule in p["spec"]["ingress"])


def test_waiting_for_a_dependency_is_let_through(tmp_path):
    # --wait-for-dependencies: the init container checks a service its pod need not call
    src = tmp_path / "Ex" / "docker" / "xeon" / "compose.yaml"
    src.parent.mkdir(parents=True)
    src.write_text(textwrap.dedent("""\
        services:
          redis-vector-db:
            image: redis/redis-stack:7.2.0-v9
            ports: ["6379:6379"]
            healthcheck: {test: ["CMD", "redis-cli", "ping"]}
          retriever:
            image: opea/retriever:latest
            ports: ["7000:7000"]
            depends_on: {redis-vector-db: {condition: service_healthy}}
        """))
    result = convert([src], tmp_path / "out", wait_for_dependencies=True)
    assert result.ok, result.verification.as_dict()
    objs = [d for d in load_yaml_all((tmp_path / "out" / result.manifest).read_text()) if d]
    assert set(_sources(objs, "ex-redis-vector-db")) == {"ex-retriever-usvc"}


def test_a_user_in_rule_data_must_be_a_numeric_id(tmp_path):
    from compose2helm.errors import InputError
    from compose2helm.plan.rules import load_rules
    rule = tmp_path / "x.yaml"
    rule.write_text("component: x\nmatch: {images: [x]}\nsecurity: {runAsUser: nobody}\n")
    with pytest.raises(InputError, match="security.runAsUser must be a numeric id") as err:
        load_rules([tmp_path])
    assert err.value.key == "security.runAsUser" and err.value.file.endswith("x.yaml")
