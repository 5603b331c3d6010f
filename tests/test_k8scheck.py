"""Structural checks of rendered Kubernetes objects (compose2helm.k8scheck)."""
from __future__ import annotations

import copy
import subprocess
import sys

import pytest
from conftest import REPO, manifest_objects

from compose2helm.verify import k8sschemas
from compose2helm.verify.k8scheck import Problem, check_all, check_references, validate_schema


REAL_MANIFEST = REPO / "manifests" / "ChatQnA" / "gaudi" / "chatqna.yaml"
LABELS = {"app.kubernetes.io/name": "web", "app.kubernetes.io/instance": "demo"}
CONTAINER = "spec.template.spec.containers[0]"


def valid_objects() -> list[dict]:
    """A Deployment reading a ConfigMap and a Secret, its Service, the ConfigMap and the Secret."""
    labels = lambda: dict(LABELS)   # noqa: E731 - a fresh dict each time, so mutations stay local
    return [
        {"apiVersion": "apps/v1", "kind": "Deployment",
         "metadata": {"name": "web", "labels": labels()},
         "spec": {"replicas": 1,
                  "selector": {"matchLabels": labels()},
                  "template": {
                      "metadata": {"labels": labels()},
                      "spec": {"containers": [{
                          "name": "web", "image": "nginx:1.27",
                          "envFrom": [{"configMapRef": {"name": "web-config"}},
                                      {"secretRef": {"name": "web-secret"}}],
                          "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]}]}}}},
        {"apiVersion": "v1", "kind": "Service",
         "metadata": {"name": "web", "labels": labels()},
         "spec": {"type": "ClusterIP", "selector": labels(),
                  "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "web-config"}, "data": {"A": "1"}},
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "web-secret"}, "type": "Opaque",
         "stringData": {"TOKEN": "x"}},
    ]


def errors(problems: list[Problem]) -> list[Problem]:
    return [p for p in problems if p.severity == "error"]


def find(problems: list[Problem], check: str, obj: str, path: str) -> Problem:
    hits = [p for p in errors(problems) if (p.check, p.object, p.path) == (check, obj, path)]
    assert hits, f"no {check} error at {obj} {path}; got {[p.as_dict() for p in problems]}"
    return hits[0]


def test_valid_objects_have_no_problems():
    assert check_all(valid_objects()) == []


def test_unknown_container_field_fails_strict_schema():
    objs = valid_objects()
    objs[0]["spec"]["template"]["spec"]["containers"][0]["foo"] = "bar"
    problem = find(check_all(objs), "schema", "Deployment/web", f"{CONTAINER}.foo")
    assert "foo" in problem.message


def test_wrong_type_fails_schema():
    objs = valid_objects()
    objs[0]["spec"]["replicas"] = "two"
    problem = find(validate_schema(objs), "schema", "Deployment/web", "spec.replicas")
    assert "'two'" in problem.message and "integer" in problem.message


def test_service_selector_matching_nothing():
    objs = valid_objects()
    objs[1]["spec"]["selector"] = {"app.kubernetes.io/name": "nope"}
    problem = find(check_references(objs), "selector", "Service/web", "spec.selector")
    assert "app.kubernetes.io/name=nope" in problem.message


def test_missing_configmap_is_an_error_unless_optional():
    objs = valid_objects()
    del objs[2]
    path = f"{CONTAINER}.envFrom[0].configMapRef.name"
    assert "web-config" in find(check_references(objs), "reference", "Deployment/web", path).message
    objs[0]["spec"]["template"]["spec"]["containers"][0]["envFrom"][0]["configMapRef"]["optional"] = True
    assert check_all(objs) == []


def test_missing_pvc_is_only_a_warning():
    objs = valid_objects()
    objs[0]["spec"]["template"]["spec"]["volumes"] = [
        {"name": "data", "persistentVolumeClaim": {"claimName": "web-data"}}]
    [problem] = check_all(objs)
    assert (problem.severity, problem.check, problem.path) == (
        "warning", "reference", "spec.template.spec.volumes[0].persistentVolumeClaim.claimName")


@pytest.mark.parametrize("name", ["Http_Port", "http-port-too-long"])
def test_bad_container_port_name(name):
    objs = valid_objects()
    objs[0]["spec"]["template"]["spec"]["containers"][0]["ports"][0]["name"] = name
    objs[1]["spec"]["ports"][0]["targetPort"] = 8080   # keep the Service out of it
    problem = find(check_all(objs), "name", "Deployment/web", f"{CONTAINER}.ports[0].name")
    assert name in problem.message


def test_uppercase_object_name():
    objs = valid_objects()
    objs[2]["metadata"]["name"] = "Web-Config"
    problem = find(check_references(objs), "name", "ConfigMap/Web-Config", "metadata.name")
    assert "DNS-1123 subdomain" in problem.message


def test_service_name_must_be_a_dns1035_label():
    objs = valid_objects()
    objs[1]["metadata"]["name"] = "1web"
    assert "DNS-1035" in find(check_references(objs), "name", "Service/1web", "metadata.name").message


def test_duplicate_object():
    objs = valid_objects() + [copy.deepcopy(valid_objects()[2])]
    problem = find(check_references(objs), "duplicate", "ConfigMap/web-config", "metadata.name")
    assert "#3" in problem.message


def test_unknown_kinds_are_warnings_not_errors():
    crd = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {"x": 1}}
    # Same file name as apps/v1 Deployment under kubernetes-validate's naming; must not use it.
    lookalike = {"apiVersion": "apps.example.com/v1", "kind": "Deployment", "metadata": {"name": "d"}}
    problems = check_all(valid_objects() + [crd, lookalike])
    assert [(p.severity, p.check, p.object) for p in problems] == [
        ("warning", "schema", "Deployment/d"), ("warning", "schema", "Widget/w")]
    assert problems[1].message.startswith("no schema for example.com/v1/Widget")


def test_kube_versions():
    versions = k8sschemas.available_versions()
    assert "1.30" in versions and versions == sorted(versions, key=lambda v: tuple(map(int, v.split("."))))
    assert validate_schema(valid_objects(), "v1.30.0") == validate_schema(valid_objects(), "1.30") == []
    with pytest.raises(ValueError, match="available: 1.25"):
        validate_schema(valid_objects(), "1.2")
    with pytest.raises(ValueError):
        validate_schema(valid_objects(), "latest")


def test_problems_are_sorted_one_line_and_serialisable():
    objs = valid_objects()
    container = objs[0]["spec"]["template"]["spec"]["containers"][0]
    container["ports"] = {"oops": {"a": "b\nc"}}     # wrong type, with a newline in the instance
    objs[0]["metadata"]["name"] = "Web"
    objs[2]["metadata"]["name"] = "Z"
    problems = check_all(objs)
    assert len(problems) > 2
    assert problems == sorted(problems, key=lambda p: (p.object, p.path, p.message, p.severity, p.check))
    assert all("\n" not in p.message for p in problems)
    assert set(problems[0].as_dict()) == {"severity", "check", "object", "path", "message"}


def test_import_does_not_load_jsonschema():
    code = "import sys, compose2helm.verify.k8scheck; print(sorted({'jsonschema', 'kubernetes_validate', 'referencing'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.skipif(not REAL_MANIFEST.is_file(), reason="generated manifest not present")
def test_real_manifest_has_no_errors():
    problems = check_all(manifest_objects(REAL_MANIFEST))
    assert errors(problems) == [], [p.as_dict() for p in errors(problems)]


def test_malformed_objects_are_reported_not_raised():
    garbage = ["junk", {}, {"kind": ["x"], "metadata": {"name": {"a": 1}, "namespace": [1]}},
               {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
                "spec": {"selector": {1: None}, "ports": "x"}},
               {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d", "labels": {2: "x"}},
                "spec": {"template": {"spec": {"containers": [None, {"envFrom": [{"configMapRef": None}]}]}}}}]
    problems = check_all(garbage)
    assert problems and all(p.severity in ("error", "warning") for p in problems)


# --- ServiceMonitor (a CRD: our own schema) and HorizontalPodAutoscaler ---------------------------

def monitored_objects() -> list[dict]:
    """valid_objects() scraped by a ServiceMonitor and scaled by an autoscaler (so no replicas)."""
    objs = valid_objects()
    del objs[0]["spec"]["replicas"]
    return objs + [
        {"apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor",
         "metadata": {"name": "web", "labels": {**LABELS, "release": "prometheus-stack"}},
         "spec": {"selector": {"matchLabels": dict(LABELS)},
                  "endpoints": [{"port": "http", "path": "/metrics", "interval": "5s"}]}},
        {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "web"},
         "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                  "minReplicas": 1, "maxReplicas": 4,
                  "metrics": [{"type": "Object", "object": {
                      "describedObject": {"apiVersion": "v1", "kind": "Service", "name": "web"},
                      "metric": {"name": "demo_web_queue_size_sum"},
                      "target": {"type": "AverageValue", "averageValue": "10"}}}]}},
    ]


def test_service_monitor_and_autoscaler_have_no_problems():
    # No "no schema" warning for the ServiceMonitor either: its schema is ours.
    assert check_all(monitored_objects()) == []


@pytest.mark.parametrize("field, value, path", [
    ("interval", "5 seconds", "spec.endpoints[0].interval"),
    ("scrapeTimeout", "1x", "spec.endpoints[0].scrapeTimeout"),
    ("path", "metrics", "spec.endpoints[0].path"),
    ("scheme", "ftp", "spec.endpoints[0].scheme"),
    ("port", 8080, "spec.endpoints[0].port"),
])
def test_service_monitor_schema(field, value, path):
    objs = monitored_objects()
    objs[-2]["spec"]["endpoints"][0][field] = value
    find(check_all(objs), "schema", "ServiceMonitor/web", path)


def test_service_monitor_needs_selector_and_endpoints_but_lets_other_crd_fields_through():
    objs = monitored_objects()
    objs[-2]["spec"]["endpoints"][0]["metricRelabelings"] = [{"action": "drop", "regex": "go_.*"}]
    objs[-2]["spec"]["sampleLimit"] = 1000
    assert check_all(objs) == []
    del objs[-2]["spec"]["selector"]
    objs[-2]["spec"]["endpoints"] = []
    found = {(p.check, p.path) for p in errors(validate_schema(objs))}
    assert ("schema", "spec") in found and ("schema", "spec.endpoints") in found


def test_service_monitor_must_select_a_service_and_name_its_port():
    objs = monitored_objects()
    objs[-2]["spec"]["endpoints"][0]["port"] = "metrics"
    assert "'metrics' is not a port" in find(check_references(objs), "reference", "ServiceMonitor/web",
                                             "spec.endpoints[0].port").message
    objs[-2]["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"] = "other"
    find(check_references(objs), "selector", "ServiceMonitor/web", "spec.selector")
    objs = monitored_objects()
    objs[-2]["metadata"]["namespace"] = "monitoring"      # selects in its own namespace only
    objs[1]["metadata"]["namespace"] = "apps"
    find(check_references(objs), "selector", "ServiceMonitor/web", "spec.selector")
    objs[-2]["spec"]["namespaceSelector"] = {"matchNames": ["apps"]}
    assert errors(check_references(objs)) == []


def test_autoscaler_must_target_a_workload_that_leaves_replicas_to_it():
    objs = monitored_objects()
    objs[0]["spec"]["replicas"] = 2
    warned = [p for p in check_references(objs) if p.severity == "warning"]
    assert [(p.check, p.object, p.path) for p in warned] == [
        ("reference", "HorizontalPodAutoscaler/web", "spec.scaleTargetRef")]
    objs[-1]["spec"]["scaleTargetRef"]["name"] = "gone"
    find(check_references(objs), "reference", "HorizontalPodAutoscaler/web", "spec.scaleTargetRef")
    objs[-1]["spec"]["scaleTargetRef"] = {"apiVersion": "v1", "kind": "Service", "name": "web"}
    find(check_references(objs), "reference", "HorizontalPodAutoscaler/web", "spec.scaleTargetRef")
