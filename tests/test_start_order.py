"""depends_on: reported by default; with --wait-for-dependencies, init containers wait for healthy ones."""
from __future__ import annotations

import textwrap


from compose2helm.pipeline.convert import convert
from compose2helm.verify.podpolicy import check_objects
from conftest import load_yaml_all


COMPOSE = """\
services:
  redis-vector-db:
    image: redis/redis-stack:7.2.0-v9
    ports: ["6379:6379"]
    healthcheck: {test: ["CMD", "redis-cli", "ping"], interval: 5s}
  tei-embedding-service:
    image: ghcr.io/huggingface/text-embeddings-inference:cpu-1.5
    ports: ["6006:80"]
  dataprep-redis-service:
    image: opea/dataprep:latest
    depends_on:
      redis-vector-db: {condition: service_healthy}
      tei-embedding-service: {condition: service_started}
    environment:
      REDIS_URL: redis://redis-vector-db:6379
      TEI_ENDPOINT: http://tei-embedding-service:80
    ports: ["6007:5000"]
"""


def _convert(tmp_path, **kw):
    base = tmp_path / "Ex" / "docker" / "xeon"
    base.mkdir(parents=True)
    (base / "compose.yaml").write_text(textwrap.dedent(COMPOSE))
    r = convert([base / "compose.yaml"], tmp_path / "out", **kw)
    assert r.ok, r.verification.as_dict()
    docs = [d for d in load_yaml_all((tmp_path / "out" / r.manifest).read_text()) if d]
    dataprep = next(d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == "ex-data-prep")
    return r, docs, dataprep["spec"]["template"]["spec"]


def test_without_the_flag_start_order_is_reported(tmp_path):
    r, _docs, pod = _convert(tmp_path)
    assert "initContainers" not in pod
    dropped = [f for f in r.plan.findings if f.key == "depends_on"]
    assert [f.action for f in dropped] == ["dropped"] and "--wait-for-dependencies" in dropped[0].detail


def test_init_container_waits_for_healthy_dependencies_only(tmp_path):
    r, docs, pod = _convert(tmp_path, wait_for_dependencies=True)
    (init,) = pod["initContainers"]
    assert init["command"][:2] == ["sh", "-c"] and init["command"][4:] == ["ex-redis-vector-db:6379"]
    services = {d["metadata"]["name"]: [p["port"] for p in d["spec"]["ports"]] for d in docs if d["kind"] == "Service"}
    assert 6379 in services["ex-redis-vector-db"]
    actions = {f.action: f.detail for f in r.plan.findings if f.key == "depends_on"}
    assert "redis-vector-db" in actions["changed"] and "tei-embedding-service" in actions["dropped"]
    assert check_objects(docs) == []     # the init container is least-privilege too
