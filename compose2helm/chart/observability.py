"""Autoscaling and monitoring of generated charts, from the `autoscaling:` and `monitoring:` data
of a component's mapping rule.

Every workload chart (each common chart and the umbrella's megaservice) gets:
- `autoscaling`: a HorizontalPodAutoscaler (autoscaling/v2) of its Deployment when enabled.
  Engines whose rule names a custom metric (TGI and TEI queue sizes, vLLM active requests, as
  GenAIInfra scales them) scale on it through prometheus-adapter; the others on CPU utilization.
- `serviceMonitor`: with `global.monitoring`, a ServiceMonitor (monitoring.coreos.com/v1) that
  scrapes the Service port and path the rule names.
- `templates/_observability.tpl`: named templates the umbrella includes to gather the
  prometheus-adapter rules and the Grafana dashboard panels of the components it runs.

GenAIInfra's values keys (autoscaling.minReplicas, queueSizeTarget.accel, global.monitoring,
dashboard.scaling, ...) keep their meaning; the rule files hold the facts (metric names,
ports, paths), this module turns them into values and template contexts.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from ..errors import InputError
from ..plan.rules import Rule
from .values import BOOLEAN, OPEN_OBJECT, STRING, Val


# Without rule data: what GenAIInfra's CPU-scaled charts (nginx, ollama, text2image) default to.
MAX_REPLICAS = 4
CPU_TARGET = 80
# Scrape interval of GenAIInfra's ServiceMonitors: short, so that HPA sees load early.
SCRAPE_INTERVAL = "5s"
METRICS_PATH = "/metrics"
# Where a panel expression names this chart's series: the labels a ServiceMonitor scrape attaches.
SERVICE_PLACEHOLDER = "$SERVICE"
# A Prometheus duration, as the ServiceMonitor CRD checks it (1m, 30s, 1h30m, 500ms).
DURATION = r"^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$"
QUANTITY = {"type": ["integer", "number", "string"]}
PERCENT = {"type": "integer", "minimum": 0, "maximum": 1000}
REPLICAS = {"type": "integer", "minimum": 1}
# Always on the scaling dashboard of a monitored component: how many of its pods Prometheus reaches.
PODS_PANEL = {"title": "Pods scraped", "unit": "short", "expr": f"count(up{{{SERVICE_PLACEHOLDER}}} == 1)"}
_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
# The keys of `autoscaling` every chart has; a custom metric's target key is another.
# Schema annotation of a key that acts only once other values are set (a switch elsewhere than an
# `enabled` beside it): "x-switch": {values that turn it on, from the chart's root}. Helm ignores
# it; benchmarks/genaiinfra_compat.py judges such a key with its switch on.
SWITCH = "x-switch"

# GenAIInfra's accelDevice flavours (its values files use these; "" is CPU) and the grace period
# its engine charts give CPU pods, whose requests take longer to finish.
ACCEL_DEVICES = ("gaudi", "nvidia", "rocm")
CPU_GRACE_SECONDS = 120
_AUTOSCALING_KEYS = ("enabled", "minReplicas", "maxReplicas", "targetCPUUtilizationPercentage",
                     "targetMemoryUtilizationPercentage", "behavior")


@dataclass(frozen=True)
class CustomMetric:
    """The metric an engine's HPA scales on, and the prometheus-adapter rule that makes it."""

    name: str          # custom metric name, after the <release>_<chart> prefix
    target: str        # the autoscaling key holding the per-pod target: {accel, cpu}
    accel: Any         # default target on accelerators
    cpu: Any           # default target on CPU
    series: str        # the Prometheus series the adapter rule starts from
    query: str         # the adapter's metricsQuery (<<.Series>>, <<.LabelMatchers>>, <<.GroupBy>>)
    description: str


def _bad(rule: Rule, what: str) -> InputError:
    return InputError(f"malformed mapping rule ({what})", file=rule.file)


def custom_metric(rule: Rule | None) -> CustomMetric | None:
    data = (rule.autoscaling if rule else {}).get("metric")
    if not data:
        return None
    try:
        metric = CustomMetric(name=str(data["name"]), target=str(data["target"]),
                              accel=data["default"]["accel"], cpu=data["default"]["cpu"],
                              series=str(data["series"]), query=str(data["query"]),
                              description=str(data.get("description") or ""))
    except (KeyError, TypeError):
        raise _bad(rule, "autoscaling.metric needs name, target, default.accel, default.cpu, series, query") \
            from None
    if not (_NAME.fullmatch(metric.series) and _NAME.fullmatch(metric.name)):
        raise _bad(rule, "autoscaling.metric: series and name must be Prometheus metric names")
    if not re.fullmatch(r"[a-zA-Z][a-zA-Z0-9]*", metric.target) or metric.target in _AUTOSCALING_KEYS:
        raise _bad(rule, f"autoscaling.metric.target {metric.target!r} must be a new key of autoscaling")
    return metric


def panels(rule: Rule | None, key: str) -> list[dict[str, str]]:
    """The dashboard panels of a rule (`panels` or `scaling_panels`): {title, unit, expr}."""
    out = []
    for p in (rule.monitoring if rule else {}).get(key) or ():
        if not (isinstance(p, dict) and p.get("title") and p.get("expr")):
            raise _bad(rule, f"monitoring.{key}: each panel needs a title and an expr")
        out.append({"title": str(p["title"]), "unit": str(p.get("unit") or "short"), "expr": str(p["expr"])})
    return out


# --- values -------------------------------------------------------------------------------------

def autoscaling_val(rule: Rule | None) -> Val:
    data = rule.autoscaling if rule else {}
    metric = custom_metric(rule)
    cpu_default = int(data.get("targetCPUUtilizationPercentage", 0 if metric else CPU_TARGET))
    children = [
        Val("enabled", False, "Scale the Deployment with a HorizontalPodAutoscaler (autoscaling/v2): the "
                              "Deployment then leaves out replicas (replicaCount is not used).", BOOLEAN),
        Val("minReplicas", int(data.get("minReplicas", 1)), "Fewest pods the autoscaler keeps.", REPLICAS),
        Val("maxReplicas", int(data.get("maxReplicas", MAX_REPLICAS)), "Most pods the autoscaler runs.",
            REPLICAS),
        Val("targetCPUUtilizationPercentage", cpu_default,
            "Scale on the pods' average CPU use, in percent of their CPU request (resources.requests.cpu "
            "must be set); 0: not on CPU.", PERCENT),
        Val("targetMemoryUtilizationPercentage", int(data.get("targetMemoryUtilizationPercentage", 0)),
            "Scale on the pods' average memory use, in percent of their memory request; 0: not on memory.",
            PERCENT),
    ]
    if metric is not None:
        children.append(Val(metric.target, doc=(
            f"{metric.description} Per-pod target of the custom metric <release>_<chart>_{metric.name}, which "
            "prometheus-adapter computes with the rule of the umbrella's <release>-custom-metrics ConfigMap from "
            "the series the ServiceMonitor scrapes (global.monitoring). accel applies when accelDevice names an "
            "accelerator, cpu when it is \"\"; with accelDevice null, accel when resources ask for a "
            "device-plugin resource (a name with a '/', e.g. habana.ai/gaudi), else cpu.").strip(), children=(
            Val("accel", metric.accel, "Target per pod on accelerators.",
                {**QUANTITY, SWITCH: {"accelDevice": ACCEL_DEVICES[0]}}, type_label="number"),
            Val("cpu", metric.cpu, "Target per pod on CPU.", {**QUANTITY, SWITCH: {"accelDevice": ""}},
                type_label="number"),
        )))
    children.append(Val("behavior", dict(data.get("behavior") or {}),
                        "Scaling behavior (a Kubernetes HorizontalPodAutoscalerBehavior: scaleUp, scaleDown); "
                        "empty for Kubernetes' defaults.", OPEN_OBJECT))
    return Val("autoscaling", doc="Horizontal pod autoscaling (off by default). A DaemonSet cannot autoscale.",
               children=tuple(children))


def service_monitor_val(rule: Rule | None, ports: list[dict[str, Any]]) -> Val:
    data = rule.monitoring if rule else {}
    port = str(data.get("port") or (ports[0]["name"] if ports else ""))
    return Val("serviceMonitor", doc="Prometheus scraping: with global.monitoring, a ServiceMonitor "
                                     "(monitoring.coreos.com/v1, the Prometheus Operator's) selects this chart's "
                                     "Service.", children=(
        Val("enabled", bool(data), "Whether this component serves Prometheus metrics (its mapping rule says "
                                   "so); false: no ServiceMonitor even with global.monitoring.", BOOLEAN),
        Val("port", port, "Name of the Service port to scrape; empty for the first.", STRING),
        Val("path", str(data.get("path") or METRICS_PATH), "HTTP path of the metrics.", STRING),
        Val("interval", SCRAPE_INTERVAL, "How often Prometheus scrapes (a Prometheus duration: 5s, 1m).",
            {"type": "string", "pattern": DURATION}),
    ))


def accel_device_val() -> Val:
    """GenAIInfra's accelDevice of an engine chart: which flavour of the engine runs. Null (ours)
    keeps what the pods ask for deciding it, so that the default renders as without the key."""
    return Val("accelDevice", None,
               "Accelerator flavour the engine runs on, GenAIInfra's accelDevice: \"\" for CPU, or "
               + ", ".join(ACCEL_DEVICES) + ". It picks the autoscaler's target (autoscaling."
               "<target>.accel or .cpu) and, on CPU, gives the pods terminationGracePeriodSeconds "
               f"{CPU_GRACE_SECONDS} to finish the requests they hold. Null: accelerated exactly when resources "
               "ask for a device-plugin resource, and Kubernetes' default grace period.",
               {"type": ["string", "null"], "enum": ["", *ACCEL_DEVICES, None]}, type_label="string")


def observability_vals(rule: Rule | None, ports: list[dict[str, Any]]) -> list[Val]:
    """The autoscaling and serviceMonitor values of a workload chart; an engine that scales on a
    custom metric also takes accelDevice, which picks that metric's target."""
    vals = [autoscaling_val(rule), service_monitor_val(rule, ports)]
    return vals + [accel_device_val()] if custom_metric(rule) is not None else vals


def dashboard_val(example: str) -> Val:
    """The umbrella's `dashboard` values (GenAIInfra's dashboard chart: metrics, scaling, prefix)."""
    return Val("dashboard", doc="Grafana dashboards of the example, with global.monitoring: ConfigMaps labelled "
                                "grafana_dashboard in global.prometheusNamespace, where Grafana's dashboard "
                                "sidecar loads them; panels for the megaservice and the engines the release runs.",
               children=(
                   Val("metrics", True, "Dashboard <release>-dashboard-metrics: request rates, latencies and token "
                                        "throughput.", BOOLEAN),
                   Val("scaling", False, "Dashboard <release>-dashboard-scaling: pods per component and the "
                                         "engines' load (queue sizes, active requests) that autoscaling uses.",
                       BOOLEAN),
                   Val("prefix", f"OPEA {example}", "Title prefix of the dashboards.", STRING),
               ), schema={SWITCH: {"global": {"monitoring": True}}})


# --- template contexts --------------------------------------------------------------------------

def gostr(text: str) -> str:
    """A Go template string literal (JSON's escapes are Go's)."""
    return json.dumps(str(text))


def template_context(rule: Rule | None) -> dict[str, Any]:
    """What hpa.yaml.j2 and observability.tpl.j2 need of a rule."""
    return {"metric": custom_metric(rule), "cpu_grace": CPU_GRACE_SECONDS, "panels": panels(rule, "panels"),
            "scaling_panels": [PODS_PANEL] + panels(rule, "scaling_panels"), "placeholder": SERVICE_PLACEHOLDER}
