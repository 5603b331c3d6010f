"""Autoscaling (autoscaling.*) and monitoring (global.monitoring, serviceMonitor.*, dashboard.*): off by
default and adding nothing then; on, the objects GenAIInfra's values mean, checked object by object."""
from __future__ import annotations

import json

import pytest
from conftest import FIXTURES, load_yaml, SHARED

from compose2helm.errors import InputError
from compose2helm.helm.commands import merge_values
from compose2helm.helm.render import render_chart
from compose2helm.pipeline.convert import convert
from compose2helm.verify.k8scheck import check_all


GAUDI = FIXTURES / "ChatQnA/docker_compose/intel/hpu/gaudi"
HPA_VALUES = SHARED / "reference/genaiinfra/chatqna/hpa-values.yaml"
ADDED_KINDS = {"HorizontalPodAutoscaler", "ServiceMonitor"}


@pytest.fixture(scope="module")
def out(tmp_path_factory):
    """ChatQnA on Gaudi with vLLM (gaudi-values.yaml) and with TGI (gaudi-tgi-values.yaml), one umbrella."""
    root = tmp_path_factory.mktemp("observability")
    for name in ("compose.yaml", "compose_tgi.yaml"):
        assert convert([GAUDI / name], root).ok
    return root


def _render(out, overlay: str, extra: dict | None = None, release: str = "chatqna") -> list[dict]:
    values = load_yaml((out / "helm-charts/chatqna" / overlay).read_text())
    return [d.obj for d in render_chart(out / "helm-charts/chatqna", merge_values(values, extra or {}), release)]


def _named(objs: list[dict], kind: str) -> dict[str, dict]:
    return {o["metadata"]["name"]: o for o in objs if o["kind"] == kind}


def _no_problems(objs: list[dict]) -> None:
    problems = check_all(objs)
    assert problems == [], "\n".join(f"{p.severity} {p.object} {p.path}: {p.message}" for p in problems)


def _config(obj: dict) -> dict:
    return load_yaml(obj["data"]["config.yaml"])


# --- off by default -------------------------------------------------------------------------------

@pytest.mark.parametrize("overlay", ["gaudi-values.yaml", "gaudi-tgi-values.yaml"])
def test_off_by_default_nothing_is_added(out, overlay):
    objs = _render(out, overlay)
    assert not [o for o in objs if o["kind"] in ADDED_KINDS]
    names = set(_named(objs, "ConfigMap"))
    assert not [n for n in names if "dashboard" in n or n.endswith("custom-metrics")]
    assert all("replicas" in d["spec"] for d in _named(objs, "Deployment").values())


def test_the_converted_manifest_holds_no_autoscaler_or_monitor(out):
    text = (out / "manifests/ChatQnA/gaudi/chatqna.yaml").read_text()
    assert "HorizontalPodAutoscaler" not in text and "ServiceMonitor" not in text


# --- HorizontalPodAutoscaler ----------------------------------------------------------------------

def test_engine_autoscaler_targets_its_deployment_which_leaves_out_replicas(out):
    objs = _render(out, "gaudi-values.yaml", {"vllm": {"autoscaling": {"enabled": True, "maxReplicas": 3}}})
    hpa = _named(objs, "HorizontalPodAutoscaler")
    assert list(hpa) == ["chatqna-vllm"]
    spec = hpa["chatqna-vllm"]["spec"]
    assert spec["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "chatqna-vllm"}
    assert (spec["minReplicas"], spec["maxReplicas"]) == (1, 3)
    # vLLM scales on active requests per pod, through the custom metric prometheus-adapter makes;
    # on Gaudi (a device-plugin resource) with the accelerator target.
    assert spec["metrics"] == [{"type": "Object", "object": {
        "describedObject": {"apiVersion": "v1", "kind": "Service", "name": "chatqna-vllm"},
        "metric": {"name": "chatqna_vllm_active_request_sum"},
        "target": {"type": "AverageValue", "averageValue": "100"}}}]
    assert spec["behavior"]["scaleUp"]["policies"] == [{"type": "Pods", "value": 1, "periodSeconds": 90}]
    deployments = _named(objs, "Deployment")
    assert "replicas" not in deployments["chatqna-vllm"]["spec"]
    assert all("replicas" in d["spec"] for n, d in deployments.items() if n != "chatqna-vllm")
    _no_problems(objs)


def test_engine_target_follows_accelerator_resources(out):
    scaled = {"vllm": {"autoscaling": {"enabled": True, "activeRequestsTarget": {"accel": 120, "cpu": 7}}}}

    def target(objs):
        return _named(objs, "HorizontalPodAutoscaler")["chatqna-vllm"]["spec"]["metrics"][0]["object"]["target"]

    # The Gaudi overlay asks for habana.ai/gaudi: the accelerator target.
    assert target(_render(out, "gaudi-values.yaml", scaled))["averageValue"] == "120"
    # Without a device-plugin resource (Helm merges maps, so the overlay's limits are replaced here).
    values = load_yaml((out / "helm-charts/chatqna/gaudi-values.yaml").read_text())
    values["vllm"]["resources"] = {"limits": {"cpu": "8"}, "requests": {"cpu": "4"}}
    values = merge_values(values, scaled)
    assert target([d.obj for d in render_chart(out / "helm-charts/chatqna", values, "chatqna")])["averageValue"] == "7"


def test_resource_metrics_and_none(out):
    scaled = {"data-prep": {"autoscaling": {"enabled": True, "targetMemoryUtilizationPercentage": 70}}}
    objs = _render(out, "gaudi-values.yaml", scaled)
    spec = _named(objs, "HorizontalPodAutoscaler")["chatqna-data-prep"]["spec"]
    assert spec["metrics"] == [
        {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}},
        {"type": "Resource", "resource": {"name": "memory", "target": {"type": "Utilization",
                                                                        "averageUtilization": 70}}}]
    assert "behavior" not in spec
    # No metric at all: the HPA leaves `metrics` out (Kubernetes then scales on CPU).
    scaled["data-prep"]["autoscaling"]["targetCPUUtilizationPercentage"] = 0
    scaled["data-prep"]["autoscaling"]["targetMemoryUtilizationPercentage"] = 0
    spec = _named(_render(out, "gaudi-values.yaml", scaled), "HorizontalPodAutoscaler")["chatqna-data-prep"]["spec"]
    assert "metrics" not in spec


def test_megaservice_autoscaling_is_the_umbrellas_top_level_key(out):
    objs = _render(out, "gaudi-values.yaml", {"autoscaling": {"enabled": True, "maxReplicas": 5},
                                              "resources": {"requests": {"cpu": 1}}})
    spec = _named(objs, "HorizontalPodAutoscaler")["chatqna"]["spec"]
    assert spec["scaleTargetRef"]["name"] == "chatqna" and spec["maxReplicas"] == 5
    assert spec["metrics"][0]["resource"] == {"name": "cpu", "target": {"type": "Utilization",
                                                                         "averageUtilization": 80}}
    assert "replicas" not in _named(objs, "Deployment")["chatqna"]["spec"]
    # No custom metric among them: no prometheus-adapter rules.
    assert "chatqna-custom-metrics" not in _named(objs, "ConfigMap")
    _no_problems(objs)


def test_a_daemonset_cannot_autoscale(out):
    with pytest.raises(InputError, match="daemonSet"):
        _render(out, "gaudi-values.yaml", {"tei": {"daemonSet": True, "autoscaling": {"enabled": True}}})


def test_metric_prefix_is_a_prometheus_name(out):
    objs = _render(out, "gaudi-values.yaml", {"tei": {"autoscaling": {"enabled": True}}}, release="9-lives")
    metric = _named(objs, "HorizontalPodAutoscaler")["9-lives-tei"]["spec"]["metrics"][0]["object"]["metric"]
    assert metric == {"name": "_9_lives_tei_queue_size_sum"}


# --- GenAIInfra's hpa-values.yaml -----------------------------------------------------------------

@pytest.mark.skipif(not HPA_VALUES.is_file(), reason="GenAIInfra's reference charts are not present")
def test_genaiinfra_hpa_values_mean_the_same(out):
    hpa_values = load_yaml(HPA_VALUES.read_text())
    objs = _render(out, "gaudi-tgi-values.yaml", hpa_values)
    hpa = _named(objs, "HorizontalPodAutoscaler")
    # vllm is off in this overlay: its autoscaling settings stay without effect, as in GenAIInfra.
    assert sorted(hpa) == ["chatqna", "chatqna-tei", "chatqna-teirerank", "chatqna-tgi"]
    assert hpa["chatqna-tei"]["spec"]["maxReplicas"] == 2 and hpa["chatqna-teirerank"]["spec"]["maxReplicas"] == 3
    # The adapter rules make exactly the metrics the autoscalers scale on, from the series of the
    # Services the ServiceMonitors scrape.
    rules = _config(_named(objs, "ConfigMap")["chatqna-custom-metrics"])["rules"]
    made = {r["name"]["as"]: r for r in rules}
    wanted = {h["spec"]["metrics"][0]["object"]["metric"]["name"]: h["spec"]["metrics"][0]["object"]
              for h in hpa.values() if h["spec"]["metrics"][0]["type"] == "Object"}
    assert sorted(made) == sorted(wanted) == ["chatqna_tei_queue_size_sum", "chatqna_teirerank_queue_size_sum",
                                              "chatqna_tgi_queue_size_sum"]
    for name, rule in made.items():
        service = wanted[name]["describedObject"]["name"]
        assert f'service="{service}"' in rule["seriesQuery"]
        assert rule["resources"]["overrides"]["service"] == {"resource": "service"}
    assert made["chatqna_tgi_queue_size_sum"]["seriesQuery"] == \
        '{__name__="tgi_queue_size",service="chatqna-tgi",namespace="default"}'
    monitors = _named(objs, "ServiceMonitor")
    assert {"chatqna", "chatqna-tgi", "chatqna-tei", "chatqna-teirerank"} <= set(monitors)
    scaling = [o for o in objs if o["metadata"]["name"] == "chatqna-dashboard-scaling"]
    assert scaling, "dashboard.scaling: true adds the scaling dashboard"
    _no_problems(objs)


# --- ServiceMonitor ---------------------------------------------------------------------------------

def test_service_monitors_select_their_service_and_port(out):
    objs = _render(out, "gaudi-tgi-values.yaml", {"global": {"monitoring": True}})
    services = _named(objs, "Service")
    monitors = _named(objs, "ServiceMonitor")
    # Components that serve metrics: the megaservice, the engines, the OPEA microservices; not the
    # database, the UI or nginx.
    assert set(monitors) == {"chatqna", "chatqna-tgi", "chatqna-tei", "chatqna-teirerank", "chatqna-data-prep",
                             "chatqna-retriever-usvc"}
    for name, monitor in monitors.items():
        assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
        assert monitor["metadata"]["labels"]["release"] == "prometheus-stack"
        selector = monitor["spec"]["selector"]["matchLabels"]
        chosen = [s for s in services.values() if selector.items() <= s["metadata"]["labels"].items()]
        assert [s["metadata"]["name"] for s in chosen] == [name]
        (endpoint,) = monitor["spec"]["endpoints"]
        assert endpoint["port"] in {p["name"] for p in chosen[0]["spec"]["ports"]}
        assert (endpoint["path"], endpoint["interval"]) == ("/metrics", "5s")
    assert monitors["chatqna-tgi"]["spec"]["endpoints"][0]["port"] == "http"
    assert monitors["chatqna-data-prep"]["spec"]["endpoints"][0]["port"] == "data-prep"
    _no_problems(objs)


def test_service_monitor_settings(out):
    objs = _render(out, "gaudi-values.yaml", {
        "global": {"monitoring": True, "prometheusRelease": ""},
        "redis-vector-db": {"serviceMonitor": {"enabled": True, "port": "redis-insight", "path": "/m",
                                               "interval": "30s"}},
        "vllm": {"serviceMonitor": {"enabled": False}}})
    monitors = _named(objs, "ServiceMonitor")
    assert "chatqna-vllm" not in monitors
    assert monitors["chatqna-redis-vector-db"]["spec"]["endpoints"] == [
        {"port": "redis-insight", "path": "/m", "interval": "30s"}]
    assert all("release" not in m["metadata"]["labels"] for m in monitors.values())


# --- dashboards -------------------------------------------------------------------------------------

def _dashboards(objs: list[dict]) -> dict[str, dict]:
    out = {}
    for obj in objs:
        if obj["kind"] == "ConfigMap" and obj["metadata"].get("labels", {}).get("grafana_dashboard") == "1":
            (key, text), = obj["data"].items()
            assert key == obj["metadata"]["name"] + ".json"
            out[obj["metadata"]["name"]] = {"namespace": obj["metadata"]["namespace"], "json": json.loads(text)}
    return out


def _exprs(dashboard: dict) -> list[str]:
    return [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]


@pytest.mark.parametrize("overlay, engine, other", [
    ("gaudi-values.yaml", "vllm:generation_tokens_total", "tgi_"),
    ("gaudi-tgi-values.yaml", "tgi_request_generated_tokens_sum", "vllm:"),
])
def test_dashboards_show_the_engines_present(out, overlay, engine, other):
    objs = _render(out, overlay, {"global": {"monitoring": True}})
    boards = _dashboards(objs)
    assert list(boards) == ["chatqna-dashboard-metrics"]    # scaling: only with dashboard.scaling
    board = boards["chatqna-dashboard-metrics"]
    assert board["namespace"] == "monitoring"
    dashboard = board["json"]
    assert dashboard["title"] == "OPEA ChatQnA metrics (default/chatqna)"
    exprs = _exprs(dashboard)
    assert any(engine in e for e in exprs) and not any(other in e for e in exprs)
    assert any("megaservice_request_latency_count" in e for e in exprs)
    assert any("te_request_duration_sum" in e for e in exprs)
    # Every series a panel reads is labelled with a Service of the release.
    services = set(_named(objs, "Service"))
    for e in exprs:
        assert 'namespace="default"' in e
        assert e.split('service="')[1].split('"')[0] in services
    rows = [p["title"] for p in dashboard["panels"] if p["type"] == "row"]
    assert rows[0] == "megaservice"
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    panels = [p for p in dashboard["panels"] if p["type"] != "row"]
    # Panels do not overlap.
    cells = {(p["gridPos"]["x"], p["gridPos"]["y"]) for p in panels}
    assert len(cells) == len(panels)
    _no_problems(objs)


def test_scaling_dashboard_and_prefix(out):
    objs = _render(out, "gaudi-values.yaml", {"global": {"monitoring": True, "prometheusNamespace": ""},
                                              "dashboard": {"metrics": False, "scaling": True, "prefix": "Mine"}})
    boards = _dashboards(objs)
    assert list(boards) == ["chatqna-dashboard-scaling"]
    assert boards["chatqna-dashboard-scaling"]["namespace"] == "default"
    dashboard = boards["chatqna-dashboard-scaling"]["json"]
    assert dashboard["title"].startswith("Mine scaling")
    exprs = _exprs(dashboard)
    assert any(e.startswith("sum(vllm:num_requests_running{") for e in exprs)
    assert any('count(up{service="chatqna-tei",namespace="default"} == 1)' == e for e in exprs)


def test_dashboards_need_global_monitoring(out):
    objs = _render(out, "gaudi-values.yaml", {"dashboard": {"scaling": True}})
    assert _dashboards(objs) == {}


# --- values schema ----------------------------------------------------------------------------------

@pytest.mark.parametrize("bad, where", [
    ({"vllm": {"autoscaling": {"minReplicas": "two"}}}, "minReplicas"),
    ({"vllm": {"autoscaling": {"maxReplicas": 0}}}, "maxReplicas"),
    ({"vllm": {"autoscaling": {"enabledd": True}}}, "enabledd"),
    ({"data-prep": {"autoscaling": {"queueSizeTarget": {"cpu": 1}}}}, "queueSizeTarget"),
    ({"tei": {"autoscaling": {"queueSizeTarget": {"gpu": 1}}}}, "gpu"),
    ({"tei": {"serviceMonitor": {"interval": "5 seconds"}}}, "interval"),
    ({"dashboard": {"scalng": True}}, "scalng"),
    ({"global": {"monitoring": "yes"}}, "monitoring"),
])
def test_schema_rejects_bad_values(out, bad, where):
    with pytest.raises(InputError) as err:
        _render(out, "gaudi-values.yaml", bad)
    assert "schema" in str(err.value) and where in str(err.value)


def test_a_common_chart_alone(out):
    values = {"autoscaling": {"enabled": True}, "global": {"monitoring": True}}
    objs = [d.obj for d in render_chart(out / "helm-charts/common/tgi", values, "solo")]
    assert _named(objs, "HorizontalPodAutoscaler")["solo-tgi"]["spec"]["metrics"][0]["object"]["metric"] == \
        {"name": "solo_tgi_queue_size_sum"}
    assert "solo-tgi" in _named(objs, "ServiceMonitor")
    _no_problems(objs)


# --- an umbrella rendered in parts (more than 100 dependencies) -------------------------------------

def test_rendered_in_parts_the_same(out, monkeypatch):
    """The umbrella gathers adapter rules and panels from its subcharts: rendered in parts (as an
    umbrella of over 100 dependencies is) it gives what one render gives."""
    from compose2helm.helm import render

    umbrella = (out / "helm-charts/chatqna").resolve()
    values = merge_values(load_yaml((umbrella / "gaudi-values.yaml").read_text()), {
        "global": {"monitoring": True}, "dashboard": {"scaling": True},
        "tei": {"autoscaling": {"enabled": True}}, "vllm": {"autoscaling": {"enabled": True}}})
    monkeypatch.setattr(render, "_CHUNK", 1)
    plan = render._chunk_plan(umbrella, values)
    assert plan is not None
    assert render._render_in_chunks(plan, values, "chatqna", "default")   # no fallback to one render
    parts = [(d.source, d.text) for d in render.render_chart(umbrella, values, "chatqna")]
    monkeypatch.setattr(render, "_chunk_plan", lambda *a: None)
    whole = [(d.source, d.text) for d in render.render_chart(umbrella, values, "chatqna")]
    assert parts == whole
    assert any(source.endswith("custom-metrics.yaml") for source, _ in whole)
