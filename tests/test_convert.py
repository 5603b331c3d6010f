"""End to end: compose files in, charts and manifests out, checked for meaning."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import by_kind, CORPUS, EXAMPLES, FIXTURES, load_yaml, manifest_objects, needs_shared, REPO

from compose2helm.compose.layout import discover_env_files, place
from compose2helm.compose.load import load_project
from compose2helm.helm.render import render_chart
from compose2helm.pipeline.convert import convert
from compose2helm.plan.rules import load_rules


SHARED_CHATQNA = [
    "old/ChatQnA/docker/gaudi/compose.yaml",
    "old/ChatQnA/docker/xeon/compose.yaml",
    "head/ChatQnA/docker_compose/intel/hpu/gaudi/compose.yaml",
    "head/ChatQnA/docker_compose/intel/cpu/xeon/compose.yaml",
]
OURS = ["ChatQnA/docker/gaudi/compose.yaml", "ChatQnA/docker/xeon/compose.yaml"]
POLICY = load_rules().policy


def _cases():
    cases = [pytest.param(EXAMPLES / f, id=f"ours:{f}") for f in OURS]
    cases += [pytest.param(CORPUS / f, id=f"shared:{f}", marks=needs_shared) for f in SHARED_CHATQNA]
    return cases


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    """Convert each file once per module, into its own output root."""
    done = {}

    def get(path: Path):
        if path not in done:
            out = tmp_path_factory.mktemp("out")
            done[path] = (convert([path], out), out)
        return done[path]
    return get


def _expected_services(path: Path):
    p = place(path)
    project = load_project([path], discover_env_files(path, p.variant, p.example_dir))
    return project


def _containers(obj):
    return obj["spec"]["template"]["spec"]["containers"]


@pytest.mark.parametrize("path", _cases())
def test_converts_and_lints_clean(path, converted):
    result, out = converted(path)
    assert result.lint_errors == []
    assert (out / result.manifest).is_file()
    assert (out / "helm-charts" / result.plan.chart / f"{result.plan.overlay_name}-values.yaml").is_file()
    for inst in result.plan.components():
        assert (out / "helm-charts/common" / inst.component / "Chart.yaml").is_file()


@pytest.mark.parametrize("path", _cases())
def test_every_service_has_one_workload_running_its_image(path, converted):
    result, out = converted(path)
    objs = manifest_objects(out / result.manifest)
    deployments = by_kind(objs, "Deployment")
    project = _expected_services(path)
    images = [c["image"] for d in deployments.values() for c in _containers(d)]
    assert len(deployments) == len(project.services)
    for s in project.services.values():
        image = s.image if ":" in s.image.rsplit("/", 1)[-1] else s.image + ":latest"
        assert images.count(image) >= 1, f"{s.name}: {image} not run by any workload"
    # one workload per service: the instance names are unique and each has its Deployment
    names = {(result.release if i.is_megaservice else f"{result.release}-{i.name}") for i in result.plan.instances}
    assert names == set(deployments)


@pytest.mark.parametrize("path", _cases())
def test_gaudi_services_get_the_device_resource(path, converted):
    result, out = converted(path)
    deployments = by_kind(manifest_objects(out / result.manifest), "Deployment")
    project = _expected_services(path)
    gaudi = {s.name for s in project.services.values()
             if s.runtime == "habana" or "HABANA_VISIBLE_DEVICES" in s.environment}
    for inst in result.plan.instances:
        name = result.release if inst.is_megaservice else f"{result.release}-{inst.name}"
        limits = (_containers(deployments[name])[0].get("resources") or {}).get("limits") or {}
        if inst.service in gaudi:
            assert int(limits.get("habana.ai/gaudi", 0)) >= 1, inst.service
        else:
            assert "habana.ai/gaudi" not in limits, inst.service
    if "gaudi" in str(path):
        assert gaudi, "a gaudi file without gaudi services?"


_ADDRESS = re.compile(r"(?:(?P<scheme>[a-z]+)://)?(?P<host>[a-z0-9]([-a-z0-9]*[a-z0-9])?)(?::(?P<port>\d+))?")


@pytest.mark.parametrize("path", _cases())
def test_endpoints_resolve_to_rendered_services_and_ports(path, converted):
    result, out = converted(path)
    text = (out / result.manifest).read_text()
    assert "${" not in text and "host_ip" not in text
    objs = manifest_objects(out / result.manifest)
    services = by_kind(objs, "Service")
    ports = {n: {p["port"] for p in s["spec"]["ports"]} for n, s in services.items()}
    release = result.release
    checked = 0
    for cm in by_kind(objs, "ConfigMap").values():
        for key, value in (cm.get("data") or {}).items():
            for m in _ADDRESS.finditer(value):
                host = m.group("host")
                if host != release and not host.startswith(release + "-"):
                    continue
                if m.start() > 0 and value[m.start() - 1] not in "/@,= ":
                    continue
                assert host in services, f"{cm['metadata']['name']} {key}={value}: no Service {host}"
                if m.group("port"):
                    assert int(m.group("port")) in ports[host], f"{key}={value}: {host} has ports {ports[host]}"
                checked += 1
            assert "localhost:" not in value or key.endswith("_proxy"), f"{key}={value}"
    assert checked >= 3


@pytest.mark.parametrize("path", _cases())
def test_port_companions_match_service_ports(path, converted):
    """X_HOST_IP=<service> with X_PORT=<n>: n is a port of that Service."""
    result, out = converted(path)
    objs = manifest_objects(out / result.manifest)
    services = by_kind(objs, "Service")
    for cm in by_kind(objs, "ConfigMap").values():
        data = cm.get("data") or {}
        for key, value in data.items():
            if not key.endswith("_PORT") or not value.isdigit():
                continue
            prefix = key[:-5]
            for suffix in ("_HOST_IP", "_IP", "_HOST"):
                host = data.get(prefix + suffix)
                if host in services:
                    assert int(value) in {p["port"] for p in services[host]["spec"]["ports"]}, (key, value)


@pytest.mark.parametrize("path", _cases())
def test_no_secret_in_configmaps(path, converted):
    result, out = converted(path)
    objs = manifest_objects(out / result.manifest)
    for cm in by_kind(objs, "ConfigMap").values():
        for key in cm.get("data") or {}:
            assert not POLICY.is_secret(key), f"{cm['metadata']['name']} holds {key}"
    secrets = by_kind(objs, "Secret")
    project = _expected_services(path)
    if any(k in POLICY.token_variables for s in project.services.values() for k in s.environment):
        assert secrets, "token variables but no Secret"


def _render_with(out: Path, result, extra: dict) -> dict:
    chart_dir = out / "helm-charts" / result.plan.chart
    values = load_yaml((chart_dir / f"{result.plan.overlay_name}-values.yaml").read_text())
    merged = _merge(values, extra)
    docs = render_chart(chart_dir, merged, result.release)
    return {(d.obj["kind"], d.obj["metadata"]["name"]): d.obj for d in docs}


def _merge(a: dict, b: dict) -> dict:
    out = dict(a)
    for k, v in b.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


@pytest.mark.parametrize("path", _cases())
def test_overrides_change_exactly_token_and_model(path, converted):
    result, out = converted(path)
    engine = next(i for i in result.plan.components() if i.component in ("tgi", "vllm"))
    base = _render_with(out, result, {})
    changed = _render_with(out, result, {"global": {"HUGGINGFACEHUB_API_TOKEN": "x"},
                                         engine.name: {"LLM_MODEL_ID": "m"}})
    assert base.keys() == changed.keys()
    diff = {k for k in base if base[k] != changed[k]}
    engine_objs = {k for k in diff if k[1] == f"{result.release}-{engine.name}"}
    secrets = {k for k in diff if k[0] == "Secret"}
    assert ("Deployment", f"{result.release}-{engine.name}") in engine_objs
    # the only other changes: Secrets holding the token, and ConfigMaps/pods that use the model id
    for kind, name in diff - engine_objs - secrets:
        obj = changed[(kind, name)]
        assert "m" in str(obj) and kind in ("ConfigMap", "Deployment"), (kind, name)
    for key in secrets:
        data = changed[key]["stringData"]
        assert "x" in data.values(), key
    args = _containers(changed[("Deployment", f"{result.release}-{engine.name}")])[0]["args"]
    assert "m" in args
    base_args = _containers(base[("Deployment", f"{result.release}-{engine.name}")])[0]["args"]
    assert [a for a in base_args if a not in args] == [engine_value(result, engine)]


def engine_value(result, engine):
    return engine.values.named("LLM_MODEL_ID")


def test_output_is_byte_identical_on_rerun(tmp_path):
    src = EXAMPLES / "ChatQnA/docker/gaudi/compose.yaml"
    convert([src], tmp_path / "a")
    convert([src], tmp_path / "b")
    second = convert([src], tmp_path / "b")
    assert second.changed == []
    files_a = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*") if p.is_file())
    assert files_a == files_b
    for rel in files_a:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes(), rel


def test_platforms_share_common_charts_and_one_umbrella(tmp_path):
    for f in OURS:
        convert([EXAMPLES / f], tmp_path)
    chart = tmp_path / "helm-charts/chatqna"
    # the mid-2024 files run TGI: GenAIInfra's names for that are gaudi-tgi and cpu-tgi
    assert (chart / "gaudi-tgi-values.yaml").is_file() and (chart / "cpu-tgi-values.yaml").is_file()
    meta = load_yaml((chart / "Chart.yaml").read_text())
    deps = {d.get("alias") or d["name"]: d for d in meta["dependencies"]}
    for key, d in deps.items():
        assert d["repository"] == f"file://../common/{d['name']}"
        assert d["condition"] == f"{key}.enabled"
    values = load_yaml((chart / "values.yaml").read_text())
    assert all(values[k]["enabled"] is False for k in deps)
    # xeon's llm-uservice is not in the gaudi file: the gaudi rendering leaves it out
    gaudi = manifest_objects(tmp_path / "manifests/ChatQnA/gaudi-tgi/chatqna.yaml")
    assert "chatqna-llm-uservice" not in by_kind(gaudi, "Deployment")
    xeon = manifest_objects(tmp_path / "manifests/ChatQnA/cpu-tgi/chatqna.yaml")
    assert "chatqna-llm-uservice" in by_kind(xeon, "Deployment")


def test_readme_command_leaves_the_committed_output_as_it_is(tmp_path):
    """The README's first command converts ChatQnA gaudi into the repository itself: the umbrella
    must still name every overlay's source (read back from the stamped overlay files), so a fresh
    clone stays clean."""
    import shutil
    for tree in ("helm-charts", "manifests"):
        shutil.copytree(REPO / tree, tmp_path / tree)
    r = convert([FIXTURES / "ChatQnA/docker_compose/intel/hpu/gaudi/compose.yaml"], tmp_path)
    assert r.ok and r.changed == []
