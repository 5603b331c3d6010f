"""Generated charts people can use without reading our code: schema, README, NOTES, helm test."""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import helm_python as helm
import pytest
from conftest import convert_example, CORPUS, EXAMPLES, load_yaml, needs_shared

from compose2helm.chart.charts import CHART_VERSION, Dependency, common_chart, umbrella_chart
from compose2helm.chart.docs import parse_table
from compose2helm.chart.schema import dumps
from compose2helm.chart.values import BOOLEAN
from compose2helm.errors import InputError
from compose2helm.helm.documents import is_test_hook
from compose2helm.helm.lint import lint_chart
from compose2helm.helm.render import render_chart
from compose2helm.pipeline.convert import convert
from compose2helm.plan.rules import load_rules
from compose2helm.util.schemacheck import Checker


GAUDI = EXAMPLES / "ChatQnA/docker/gaudi/compose.yaml"
XEON = EXAMPLES / "ChatQnA/docker/xeon/compose.yaml"
SEMVER = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$")


@pytest.fixture(scope="module")
def out(tmp_path_factory):
    """ChatQnA converted for gaudi, then xeon, into one output tree."""
    root = tmp_path_factory.mktemp("charts")
    results = [convert([GAUDI], root), convert([XEON], root)]
    assert all(r.ok for r in results)
    return root


def _charts(out: Path) -> list[Path]:
    return sorted(p.parent for p in (out / "helm-charts").rglob("Chart.yaml"))


def _overlay(out: Path, name: str) -> dict:
    return load_yaml((out / "helm-charts/chatqna" / name).read_text()) or {}


def _merge(a: dict, b: dict) -> dict:
    merged = dict(a)
    for k, v in b.items():
        merged[k] = _merge(merged[k], v) if isinstance(v, dict) and isinstance(merged.get(k), dict) else v
    return merged


def _helm_render(out: Path, chart: str, values: dict, tmp_path: Path, release: str = "chatqna") -> dict[str, str]:
    """helm template with the embedded engine, NOTES.txt and hooks included (raises HelmError)."""
    work = tmp_path / "render"
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(out / "helm-charts", work)
    target = work / chart
    if (load_yaml((target / "Chart.yaml").read_text()) or {}).get("dependencies"):
        helm.dependency_update(str(target))
    with helm.Chart.load(str(target)) as loaded:
        return loaded.render(values=values, name=release, namespace="default")


# --- values.schema.json --------------------------------------------------------------------------

@pytest.mark.parametrize("bad, where", [
    ({"replicaCount": "two"}, "/replicaCount"),
    ({"tgi": {"replicaCount": "two"}}, "/replicaCount"),
    ({"tgi": {"imagee": {"repository": "x"}}}, "imagee"),
    ({"tgi": {"servise": {"type": "ClusterIP"}}}, "servise"),
    ({"tgi": {"service": {"type": "Ingress"}}}, "/service/type"),
    ({"tgi": {"image": {"pullPolicy": "Sometimes"}}}, "/image/pullPolicy"),
    ({"tgi": {"service": {"ports": [{"name": "http", "port": 80, "nodePortt": 30080}]}}}, "nodePortt"),
    ({"tgi": {"env": {"MAX_TOTAL_TOKENS": {"a": 1}}}}, "/env/MAX_TOTAL_TOKENS"),
    ({"tgi": {"args": [["--nested"]]}}, "/args/0"),
    ({"replica-count": 2}, "replica-count"),
    ({"tgi": {"image": {"tagg": "x"}}}, "tagg"),
    ({"tgi": {"replicaCont": {"x": 2}}}, "/replicaCont"),
    ({"tgi": {"LLM_MODEL_ID": {"id": "x"}}}, "/LLM_MODEL_ID"),
    ({"tgi": {"enabled": "yes"}}, "enabled"),
])
def test_schema_rejects_bad_values_at_render_time(out, bad, where):
    values = _merge(_overlay(out, "gaudi-tgi-values.yaml"), bad)
    with pytest.raises(InputError) as err:
        render_chart(out / "helm-charts/chatqna", values, "chatqna")
    assert "schema" in str(err.value) and where in str(err.value)


def test_helm_itself_raises_values_error(out, tmp_path):
    values = _merge(_overlay(out, "gaudi-tgi-values.yaml"), {"tgi": {"servise": {"type": "ClusterIP"}}})
    with pytest.raises(helm.HelmValuesError, match="servise"):
        _helm_render(out, "chatqna", values, tmp_path)
    with helm.Chart.load(str(out / "helm-charts/common/tgi")) as chart:
        with pytest.raises(helm.HelmValuesError, match="replicaCount"):
            chart.render(values={"replicaCount": "two"}, name="t")
        chart.validate_schema({"replicaCount": 2})


def test_schema_lets_conversion_values_through(out):
    extra = {
        "LOGFLAG": True,                                    # named values: any scalar
        "global": {"HF_TOKEN": "x", "someSharedGlobal": {"a": 1}},   # globals are open
        "tgi": {"NUM_CARDS": 2, "MAX_BATCH_SIZE": 8, "enabled": True,
                "resources": {"limits": {"habana.ai/gaudi": 2}}, "nodeSelector": {"a": "b"},
                "tolerations": [{"key": "k", "operator": "Exists"}], "podAnnotations": {"a": "b"},
                "securityContext": {"runAsUser": 1000}, "livenessProbe": {"tcpSocket": {"port": 80}},
                "affinity": {"nodeAffinity": {}}, "podSecurityContext": {"fsGroup": 1},
                "service": {"type": "NodePort", "ports": [{"name": "http", "port": 80, "targetPort": "http",
                                                            "protocol": "TCP"}]},
                "extraVolumes": [{"name": "v-tmp", "mountPath": "/tmp", "medium": "Memory", "readOnly": False}]},
    }
    docs = render_chart(out / "helm-charts/chatqna", _merge(_overlay(out, "gaudi-tgi-values.yaml"), extra), "chatqna")
    assert any(d.obj["kind"] == "Deployment" and d.obj["metadata"]["name"] == "chatqna-tgi" for d in docs)
    # A common chart on its own takes any identifier as a named value (compose variables reach it
    # through umbrellas it cannot know); the umbrella knows what its overlays set.
    with helm.Chart.load(str(out / "helm-charts/common/tgi")) as chart:
        chart.validate_schema({"rsy3": 3, "host_ip": "10.0.0.1", "vLLM_LLM_ENDPOINT": "http://x"})


@pytest.mark.parametrize("bad, where", [
    ({"rsy3": 3}, "'rsy3'"),                                     # no overlay has such a named value
    ({"tgi": {"port": 2080}}, "'port'"),                         # GenAIInfra's, not ours: named, not ignored
    ({"tgi": {"vLLM_LLM_ENDPOINT": "http://x"}}, "'vLLM_LLM_ENDPOINT'"),
    ({"externalLLM": {"enabled": True, "LLM_SERVER_HOSTT": "x"}}, "'LLM_SERVER_HOSTT'"),
    ({"LLM_SERVICE_HOST_IP": "x"}, "'LLM_SERVICE_HOST_IP'"),        # codetrans's megaservice setting
])
def test_umbrella_rejects_keys_no_chart_takes(out, bad, where):
    values = _merge(_overlay(out, "gaudi-tgi-values.yaml"), bad)
    with pytest.raises(InputError) as err:
        render_chart(out / "helm-charts/chatqna", values, "chatqna")
    assert "additional properties" in str(err.value) and where in str(err.value)


@pytest.mark.parametrize("overlay", ["gaudi-tgi-values.yaml", "cpu-tgi-values.yaml"])
def test_every_overlay_validates(out, overlay):
    chart = out / "helm-charts/chatqna"
    docs = render_chart(chart, _overlay(out, overlay), "chatqna")
    assert docs


def test_overlays_validate_everywhere_they_are_written(out):
    overlays = sorted((out / "helm-charts").rglob("*-values.yaml"))
    assert len(overlays) == 2
    for path in overlays:
        render_chart(path.parent, load_yaml(path.read_text()), "chatqna")


def test_each_chart_has_a_closed_byte_stable_schema_covering_its_values(out):
    for chart in _charts(out):
        text = (chart / "values.schema.json").read_text()
        schema = json.loads(text)
        assert text == dumps(schema), chart
        assert schema["type"] == "object"
        if chart.parent.name == "common":   # undeclared top-level keys: named values, identifiers holding scalars
            assert schema["additionalProperties"]["type"] == ["string", "number", "boolean", "null"]
        else:                               # an umbrella lists the named values its overlays set
            assert schema["additionalProperties"] is False
            # The megaservice's model id is the engine's value (vllm.LLM_MODEL_ID), not one of its own.
            assert "LLM_MODEL_ID" not in schema["properties"]
            assert schema["properties"]["LOGFLAG"]["type"] == ["string", "number", "boolean", "null"]
        values = load_yaml((chart / "values.yaml").read_text())
        for key, value in values.items():
            assert key in schema["properties"], (chart.name, key)
            node = schema["properties"][key]
            if isinstance(value, dict) and "properties" in node:
                assert set(value) <= set(node["properties"]), (chart.name, key)
        with helm.Chart.load(str(chart)) as loaded:
            assert loaded.schema == schema
            loaded.validate_schema(values)
        image = schema["properties"].get("image")
        if image:
            assert image["additionalProperties"] is False
            assert image["properties"]["pullPolicy"]["enum"] == ["Always", "IfNotPresent", "Never", ""]
            assert schema["properties"]["service"]["properties"]["type"]["enum"] == \
                ["ClusterIP", "NodePort", "LoadBalancer"]
            assert "additionalProperties" not in schema["properties"]["global"]
            for open_key in ("resources", "securityContext", "readinessProbe", "nodeSelector", "affinity"):
                assert "additionalProperties" not in schema["properties"][open_key]


def test_umbrella_schema_closes_every_dependency_to_the_keys_its_chart_and_overlays_take(out):
    chart = out / "helm-charts/chatqna"
    schema = json.loads((chart / "values.schema.json").read_text())
    meta = load_yaml((chart / "Chart.yaml").read_text())
    overlays = [_overlay(out, name) for name in ("gaudi-tgi-values.yaml", "cpu-tgi-values.yaml")]
    for dep in meta["dependencies"]:
        key = dep.get("alias") or dep["name"]
        node = schema["properties"][key]
        assert node["type"] == "object" and node["additionalProperties"] is False
        assert node["properties"]["enabled"]["type"] == "boolean"
        declared = json.loads((out / "helm-charts/common" / dep["name"] / "values.schema.json").read_text())
        expected = set(declared["properties"]).union(*(o.get(key) or {} for o in overlays))
        # the names it lets through: listed, or one the pattern of names matches
        patterns = [re.compile(p.replace("$", r"\Z")) for p in node.get("patternProperties", {})]
        assert set(node["properties"]) <= expected
        assert {k for k in expected if k in node["properties"] or any(p.match(k) for p in patterns)} == expected
        check = Checker(node)
        assert all(check.is_valid({k: {"any": ["thing"]}}) for k in expected if k != "enabled")
        assert not any(check.is_valid({k: 1}) for k in ("imagee", "Image", "image ", "env2", "xenv", "HF_TOKENS"))


def test_a_closed_dependency_takes_exactly_its_keys_whatever_their_characters():
    from compose2helm.chart.schema import schema as make_schema
    from compose2helm.chart.values import Val
    node = make_schema([Val("dep", doc="A dependency.", children=(Val("enabled", True, "On.", BOOLEAN),))],
                       title="t", named=False, closed={"dep": ["enabled", "a.b", "x-y", "x", "(z)"]})["properties"]["dep"]
    check = Checker(node)
    for key in ("a.b", "x-y", "x", "(z)"):
        assert check.is_valid({key: [1]}), key
    for key in ("ab", "a-b", "x.y", "xx", "z", "(z", "a.bc"):
        assert not check.is_valid({key: 1}), key
    assert not check.is_valid({"enabled": "yes"})


# --- README -------------------------------------------------------------------------------------

def _leaves(data: dict, prefix: str = "") -> dict[str, object]:
    out = {}
    for k, v in data.items():
        out[prefix + k] = v
        if isinstance(v, dict):
            out.update(_leaves(v, f"{prefix}{k}."))
    return out


def test_readme_table_matches_values_yaml(out):
    for chart in _charts(out):
        readme = (chart / "README.md").read_text()
        values = load_yaml((chart / "values.yaml").read_text())
        rows = parse_table(readme)
        assert rows, chart
        paths = _leaves(values)
        documented = {r.key for r in rows}
        assert len(documented) == len(rows), f"{chart.name}: a key documented twice"
        for r in rows:
            assert r.key in paths, f"{chart.name}: README documents {r.key}, values.yaml has no such key"
            assert r.default == paths[r.key], f"{chart.name}: {r.key}"
            assert r.type and r.description, f"{chart.name}: {r.key}"
        # every value is documented, itself or as part of a documented object
        for path in paths:
            parts = path.split(".")
            assert any(".".join(parts[:i]) in documented for i in range(1, len(parts) + 1)) or \
                any(d.startswith(path + ".") for d in documented), f"{chart.name}: {path} undocumented"


def test_readme_explains_install_and_entry_point(out):
    umbrella = (out / "helm-charts/chatqna/README.md").read_text()
    assert "helm dependency update helm-charts/chatqna" in umbrella
    # the install example names an overlay of a platform's base file (compose.yaml), every overlay is listed
    assert "-f helm-charts/chatqna/cpu-tgi-values.yaml" in umbrella and "`gaudi-tgi-values.yaml`" in umbrella
    assert "helm test chatqna" in umbrella and "<release>-nginx" in umbrella
    assert "[tgi](../common/tgi/README.md)" in umbrella
    tgi = (out / "helm-charts/common/tgi/README.md").read_text()
    assert tgi.startswith("<!-- Generated by compose2helm") and "\n# tgi\n" in tgi and "helm install tgi ." in tgi and "GET /health" in tgi


def test_install_example_is_an_overlay_of_a_base_file():
    from compose2helm.chart.charts import umbrella_chart
    from compose2helm.plan.prepare import prepare
    plan = prepare([GAUDI]).plan
    overlays = {"aaa-milvus-values.yaml": "Ex/docker/aaa/compose_milvus.yaml",
                "bbb-telemetry-values.yaml": "Ex/docker/bbb/compose.yaml, Ex/docker/bbb/compose.telemetry.yaml",
                "gaudi-values.yaml": "Ex/docker/gaudi/compose.yaml"}
    files = umbrella_chart(plan, [], None, overlays)
    assert "-f helm-charts/chatqna/gaudi-values.yaml" in files["README.md"]
    assert "-f gaudi-values.yaml" in files["values.yaml"]


# --- helm test and NOTES.txt ---------------------------------------------------------------------

@pytest.mark.parametrize("overlay, platform", [("gaudi-tgi-values.yaml", GAUDI), ("cpu-tgi-values.yaml", XEON)])
def test_helm_test_pod_for_every_component(out, overlay, platform):
    from compose2helm.plan.prepare import prepare
    plan = prepare([platform]).plan
    docs = render_chart(out / "helm-charts/chatqna", _overlay(out, overlay), "chatqna")
    pods = {d.obj["metadata"]["name"]: d.obj for d in docs if is_test_hook(d)}
    services = {d.obj["metadata"]["name"]: d.obj for d in docs if d.obj["kind"] == "Service"}
    assert set(pods) == {f"{n}-testpod" for n in services}
    for inst in plan.instances:
        name = "chatqna" if inst.is_megaservice else f"chatqna-{inst.name}"
        pod = pods[f"{name}-testpod"]
        assert pod["kind"] == "Pod" and pod["spec"]["restartPolicy"] == "Never"
        command = pod["spec"]["containers"][0]["command"][-1]
        probe = inst.values.as_dict().get("readinessProbe") or {}
        port = services[name]["spec"]["ports"][0]["port"]
        if "httpGet" in probe:
            assert command == f"wget -q -T 10 -O /dev/null http://{name}:{probe['httpGet']['port']}" \
                              f"{probe['httpGet']['path']}", name
        else:   # exec (redis-cli ping), tcpSocket, or none: a TCP connection to the first port
            assert command == f"nc -z -w 5 {name} {port}", name
        # the Service must not select its own test pod
        selector = services[name]["spec"]["selector"]
        assert not all(pod["metadata"]["labels"].get(k) == v for k, v in selector.items())
    assert pods["chatqna-redis-vector-db-testpod"]["spec"]["containers"][0]["command"][-1] == \
        "nc -z -w 5 chatqna-redis-vector-db 6379"


def test_helm_test_pod_skips_a_component_without_ports(out, tmp_path):
    rendered = _helm_render(out, "common/tgi", {"service": {"ports": []}}, tmp_path, release="x")
    assert "kind: Pod" not in rendered.get("tgi/templates/tests/test-pod.yaml", "")
    assert "has no Service" in rendered["tgi/templates/NOTES.txt"]


def test_helm_test_pod_maps_a_named_probe_port_to_the_service_port(out, tmp_path):
    values = {"service": {"ports": [{"name": "metrics", "port": 9090}, {"name": "http", "port": 8080,
                                                                         "targetPort": 80}]},
              "readinessProbe": {"httpGet": {"path": "/ready", "port": "http"}}}
    pod = load_yaml(_helm_render(out, "common/tgi", values, tmp_path, release="x")
                         ["tgi/templates/tests/test-pod.yaml"])
    assert pod["spec"]["containers"][0]["command"][-1] == "wget -q -T 10 -O /dev/null http://x-tgi:8080/ready"


def test_notes_render_the_entry_point(out, tmp_path):
    gaudi = _overlay(out, "gaudi-tgi-values.yaml")
    notes = _helm_render(out, "chatqna", gaudi, tmp_path)["chatqna/templates/NOTES.txt"]
    assert "kubectl --namespace default port-forward svc/chatqna-nginx 8080:80" in notes
    assert "http://localhost:8080/" in notes and "helm test chatqna" in notes
    without_gateway = _merge(gaudi, {"nginx": {"enabled": False}, "chatqna-ui": {"enabled": False}})
    notes = _helm_render(out, "chatqna", without_gateway, tmp_path)["chatqna/templates/NOTES.txt"]
    assert "port-forward svc/chatqna 8888:8888" in notes and "http://localhost:8888/v1/chatqna" in notes
    notes = _helm_render(out, "chatqna", {}, tmp_path)["chatqna/templates/NOTES.txt"]
    assert "port-forward svc/chatqna 8888:8888" in notes   # values.yaml: only the megaservice
    notes = _helm_render(out, "chatqna", {"enabled": False}, tmp_path)["chatqna/templates/NOTES.txt"]
    assert "No entry point runs" in notes and "-f cpu-tgi-values.yaml" in notes


def test_common_chart_notes(out, tmp_path):
    notes = _helm_render(out, "common/tgi", {}, tmp_path, release="x")["tgi/templates/NOTES.txt"]
    assert "port-forward svc/x-tgi 8080:80" in notes and "curl http://localhost:8080/health" in notes
    notes = _helm_render(out, "common/redis-vector-db", {}, tmp_path, release="x")[
        "redis-vector-db/templates/NOTES.txt"]
    assert "port-forward svc/x-redis-vector-db 6379:6379" in notes and "curl" not in notes


# --- Chart.yaml and lint --------------------------------------------------------------------------

def test_chart_metadata(out):
    for chart in _charts(out):
        meta = load_yaml((chart / "Chart.yaml").read_text())
        assert meta["name"] == chart.name and meta["apiVersion"] == "v2"
        assert SEMVER.match(meta["version"]) and meta["version"] == CHART_VERSION
        assert meta["description"] and meta["keywords"] and "opea" in meta["keywords"]
        assert meta["home"] == "https://github.com/opea-project/GenAIInfra"
        assert meta["sources"] == ["https://github.com/opea-project/GenAIInfra",
                                   "https://github.com/opea-project/GenAIExamples"]
        assert isinstance(meta["appVersion"], str) and meta["appVersion"]
        for dep in meta.get("dependencies") or []:
            assert dep["version"] == meta["version"]
        if chart.parent.name == "common":
            values = load_yaml((chart / "values.yaml").read_text())
            assert meta["appVersion"] == values["image"]["tag"]
        for rel in ("README.md", "values.schema.json", "templates/NOTES.txt", "templates/tests/test-pod.yaml"):
            assert (chart / rel).is_file(), f"{chart.name}: {rel}"


def test_lint_is_clean_but_for_the_icon(out):
    for chart in _charts(out):
        messages = lint_chart(chart)
        assert [m.message for m in messages] == ["icon is recommended"], (chart.name, messages)


def test_chart_version_can_be_opea_latest(tmp_path):
    rules = load_rules()
    tgi = common_chart(rules.by_component("tgi"), chart_version="0-latest")
    assert load_yaml(tgi["Chart.yaml"])["version"] == "0-latest"
    from compose2helm.plan.prepare import prepare
    plan = prepare([GAUDI]).plan
    files = umbrella_chart(plan, [Dependency("tgi", "")], rules.by_component("megaservice"),
                           {"gaudi-tgi-values.yaml": "x"}, chart_version="0-latest")
    meta = load_yaml(files["Chart.yaml"])
    assert meta["version"] == "0-latest" and meta["dependencies"][0]["version"] == "0-latest"
    # helm resolves file:// dependencies of that version and renders
    root = tmp_path / "helm-charts"
    for rel, text in tgi.items():
        (root / "common/tgi" / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / "common/tgi" / rel).write_text(text)
    for rel, text in files.items():
        (root / "chatqna" / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / "chatqna" / rel).write_text(text)
    docs = render_chart(root / "chatqna", {"tgi": {"enabled": True}}, "chatqna")
    assert any(d.obj["metadata"]["name"] == "chatqna-tgi" for d in docs)
    assert any("SemVer" in m.message for m in lint_chart(root / "common/tgi"))


# --- other shapes of examples (the shared corpus) -------------------------------------------------

SHAPES = [
    "head/AudioQnA/docker_compose/intel/cpu/xeon/compose.yaml",            # charts no rule knows
    "head/AudioQnA/docker_compose/intel/cpu/xeon/compose.monitoring.yaml",  # no megaservice
    "head/ChatQnA/docker_compose/intel/cpu/xeon/compose.perf.yaml",         # a component without ports
]


@needs_shared
@pytest.mark.parametrize("rel", SHAPES)
def test_other_examples_lint_clean_and_render_their_tests(rel, tmp_path):
    result = convert([CORPUS / rel], tmp_path)
    assert result.ok
    for chart, messages in result.lint.items():
        assert [m.message for m in messages] == ["icon is recommended"], chart
    umbrella = tmp_path / "helm-charts" / result.plan.chart
    values = load_yaml((umbrella / f"{result.plan.overlay_name}-values.yaml").read_text())
    docs = render_chart(umbrella, values, result.release)
    pods = {d.obj["metadata"]["name"] for d in docs if is_test_hook(d)}
    services = {d.obj["metadata"]["name"] for d in docs if d.obj["kind"] == "Service"}
    assert pods == {f"{s}-testpod" for s in services}
    notes = _helm_render(tmp_path, result.plan.chart, values, tmp_path / "n", release=result.release)
    assert "is installed" in notes[f"{result.plan.chart}/templates/NOTES.txt"]
    for chart in _charts(tmp_path):
        rows = parse_table((chart / "README.md").read_text())
        assert {r.key for r in rows} >= {"global.HF_TOKEN"}


def test_names_go_yaml_reads_as_booleans_are_quoted(tmp_path):
    """Helm's YAML reader takes y/n/yes/no/on/off for booleans: chart names, keys and values
    spelled so must be written quoted, or the chart does not load."""
    r, docs = convert_example(tmp_path, """\
        services:
          n: {image: "quay.io/x/y:1", ports: ['80:80'], environment: {A: 'y', B: 'off'}}
          yes: {image: "quay.io/x/on:1", ports: ['81:81']}
        """)
    assert r.ok, r.verification.as_dict()
    config = [d["data"] for d in docs if d["kind"] == "ConfigMap" and d.get("data")]
    assert {"A": "y", "B": "off"} in config
    assert len([d for d in docs if d["kind"] == "Deployment"]) == 2
