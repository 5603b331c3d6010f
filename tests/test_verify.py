"""verify: clean renders pass; each kind of real breakage fails, naming the service and field."""
from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import CORPUS, EXAMPLES, needs_shared

from compose2helm.pipeline.convert import convert
from compose2helm.pipeline.verify import verify
from compose2helm.plan.prepare import prepare
from compose2helm.verify.check import load_manifests, verify_objects


GAUDI = EXAMPLES / "ChatQnA/docker/gaudi/compose.yaml"
SHARED = ["old/ChatQnA/docker/gaudi/compose.yaml", "old/ChatQnA/docker/xeon/compose.yaml",
          "head/ChatQnA/docker_compose/intel/hpu/gaudi/compose.yaml",
          "head/ChatQnA/docker_compose/intel/cpu/xeon/compose.yaml"]


@pytest.fixture(scope="module")
def gaudi(tmp_path_factory):
    out = tmp_path_factory.mktemp("out")
    result = convert([GAUDI], out)
    return out, result


@pytest.mark.parametrize("path", [pytest.param(EXAMPLES / f, id=f) for f in
                                  ("ChatQnA/docker/gaudi/compose.yaml", "ChatQnA/docker/xeon/compose.yaml")]
                         + [pytest.param(CORPUS / f, id=f, marks=needs_shared) for f in SHARED])
def test_clean_renders_verify(tmp_path, path):
    result = convert([path], tmp_path)
    assert result.verification.ok, [(s.service, d.as_dict()) for s in result.verification.services
                                    for d in s.unexplained]
    report = verify([path], out=tmp_path)
    assert report.ok
    assert not [p for p in report.schema if p.severity == "error"]
    assert all(m.severity != "error" for m in report.lint)
    assert sum(len(s.explained) for s in report.services) > 0


def _objects(out: Path) -> list[dict]:
    return load_manifests(out / "manifests/ChatQnA/gaudi-tgi/chatqna.yaml")


def _find(objs, kind, name):
    return next(o for o in objs if o["kind"] == kind and o["metadata"]["name"] == name)


def _container(objs, name):
    return _find(objs, "Deployment", name)["spec"]["template"]["spec"]["containers"][0]


def change_image(objs):
    c = _container(objs, "chatqna-tgi")
    c["image"] = c["image"].rsplit(":", 1)[0] + ":9.9.9"
    return "tgi-service", "image"


def drop_env(objs):
    del _find(objs, "ConfigMap", "chatqna-tgi-config")["data"]["ENABLE_HPU_GRAPH"]
    return "tgi-service", "env.ENABLE_HPU_GRAPH"


def change_endpoint_port(objs):
    data = _find(objs, "ConfigMap", "chatqna-data-prep-config")["data"]
    data["TEI_ENDPOINT"] = data["TEI_ENDPOINT"].replace(":80", ":8090")
    return "dataprep-redis-service", "env.TEI_ENDPOINT"


def remove_gaudi_limit(objs):
    del _container(objs, "chatqna-tei")["resources"]["limits"]["habana.ai/gaudi"]
    return "tei-embedding-service", "accelerators"


def drop_volume_mount(objs):
    c = _container(objs, "chatqna-tgi")
    c["volumeMounts"] = [m for m in c["volumeMounts"] if m["mountPath"] != "/data"]
    return "tgi-service", "volumes"


def break_selector(objs):
    _find(objs, "Service", "chatqna-teirerank")["spec"]["selector"]["app.kubernetes.io/name"] = "nothing"
    return "tei-reranking-service", "service_ports"


def add_unknown_field(objs):
    _container(objs, "chatqna-retriever-usvc")["imagePullPolicyy"] = "Always"
    return "retriever", "spec.template.spec.containers[0].imagePullPolicyy"


MUTATIONS = [change_image, drop_env, change_endpoint_port, remove_gaudi_limit, drop_volume_mount,
             break_selector, add_unknown_field]


@pytest.mark.parametrize("mutate", MUTATIONS, ids=[m.__name__ for m in MUTATIONS])
def test_mutations_fail_naming_service_and_field(gaudi, tmp_path, mutate):
    out, _ = gaudi
    objs = copy.deepcopy(_objects(out))
    service, fld = mutate(objs)
    broken = tmp_path / "broken.yaml"
    broken.write_text(yaml.safe_dump_all(objs, sort_keys=False))
    report = verify([GAUDI], manifests=broken, out=out, lint=False)
    assert not report.ok
    unexplained = {(s.service, d.field) for s in report.services for d in s.unexplained}
    schema = {(p.object, p.path) for p in report.schema if p.severity == "error"}
    if fld.startswith("spec."):
        assert any(path == fld for _, path in schema), schema
    else:
        assert (service, fld) in unexplained, unexplained
    if mutate is break_selector:
        assert any(p.check == "selector" and "chatqna-teirerank" in p.object for p in report.schema)


def test_mutation_by_hand_with_the_cli(gaudi, tmp_path):
    out, _ = gaudi
    objs = _objects(out)
    remove_gaudi_limit(objs)
    broken = tmp_path / "copy.yaml"
    broken.write_text(yaml.safe_dump_all(objs, sort_keys=False))
    r = subprocess.run([sys.executable, "-m", "compose2helm", "verify", str(GAUDI), "--manifests", str(broken),
                        "--out", str(out), "--format", "json"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 1, r.stderr
    report = json.loads(r.stdout)
    assert report["ok"] is False
    bad = [(s["service"], d["field"]) for s in report["services"] for d in s["unexplained"]]
    assert ("tei-embedding-service", "accelerators") in bad
    ok = subprocess.run([sys.executable, "-m", "compose2helm", "verify", str(GAUDI), "--out", str(out), "-q"],
                        capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stdout + ok.stderr


def test_secret_value_in_a_configmap_is_unexplained(gaudi):
    out, _ = gaudi
    objs = _objects(out)
    _find(objs, "ConfigMap", "chatqna-tgi-config")["data"]["HF_TOKEN"] = ""
    _find(objs, "Secret", "chatqna-tgi-secret")["stringData"].pop("HF_TOKEN")
    report = verify_objects(prepare([GAUDI]), objs)
    tgi = next(s for s in report if s.service == "tgi-service")
    assert "env.HF_TOKEN" in {d.field for d in tgi.unexplained}


def test_missing_workload_is_unexplained(gaudi):
    out, _ = gaudi
    objs = [o for o in _objects(out)
            if not (o["kind"] == "Deployment" and o["metadata"]["name"] == "chatqna-chatqna-ui")]
    report = verify_objects(prepare([GAUDI]), objs)
    ui = next(s for s in report if s.workload == "chatqna-chatqna-ui")
    assert [d.field for d in ui.unexplained] == ["workload"]


def test_convert_no_verify_and_missing_manifests(tmp_path):
    result = convert([GAUDI], tmp_path, verify=False)
    assert result.verification is None
    from compose2helm.errors import InputError
    with pytest.raises(InputError):
        verify([GAUDI], out=tmp_path / "nowhere")
