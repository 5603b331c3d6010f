"""Issue 18: NetworkPolicies from the compose wiring, pod securityContext, probes and namespaces.
Each behaviour is rendered with its values and the objects are checked."""
from __future__ import annotations

import copy
import textwrap

import pytest
import yaml

from compose2helm.helm.render import render_chart
from compose2helm.pipeline.convert import convert
from compose2helm.plan.prepare import prepare
from compose2helm.verify.check import verify_objects
from compose2helm.verify.netpol import allowed_sources, check_wiring


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
    overlay = yaml.safe_load(next(chart.glob("*-values.yaml")).read_text())
    manifest = [d for d in yaml.safe_load_all((root / "out" / result.manifest).read_text()) if d]
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
    objs = _render(out, {"global": {"networkPolicy": {"enabled": False}}})
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
