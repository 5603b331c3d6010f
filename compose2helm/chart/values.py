"""The documented values of a generated chart, as data.

One tree of `Val`s per chart is the single source of its values.yaml (each key with its
comment), its values.schema.json (schema.py) and the values table of its README
(docs.py), so the three cannot disagree.
"""
from __future__ import annotations

import functools
import json
import re
import textwrap
from dataclasses import dataclass
from typing import Any

from ..yamlout import dump, key, plain


# JSON-schema types.
STRING = {"type": "string"}
BOOLEAN = {"type": "boolean"}
OPEN_OBJECT = {"type": "object"}          # a Kubernetes object: checked by the API server, not here
STRING_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
STRING_LIST = {"type": "array", "items": {"type": "string"}}
# Named values (compose variables) are rendered as text: any scalar goes.
SCALAR = {"type": ["string", "number", "boolean", "null"]}

PULL_POLICIES = ["Always", "IfNotPresent", "Never"]
SERVICE_TYPES = ["ClusterIP", "NodePort", "LoadBalancer"]
PROTOCOLS = ["TCP", "UDP", "SCTP"]

PORT_ITEM = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "description": "Port name (a DNS label of at most 15 characters)."},
        "port": {"type": "integer", "minimum": 1, "maximum": 65535, "description": "Service port."},
        "targetPort": {"type": ["integer", "string"], "description": "Container port (number or name)."},
        "protocol": {"type": "string", "enum": PROTOCOLS},
    },
    "required": ["name", "port"],
    "additionalProperties": False,
}
VOLUME_ITEM = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "mountPath": {"type": "string"},
        "medium": {"type": "string", "description": "\"Memory\" for a tmpfs; empty for the node's disk."},
        "readOnly": {"type": "boolean"},
        "hostPath": {"type": "string", "description": "A host path (a device) instead of an emptyDir."},
    },
    "required": ["name", "mountPath"],
    "additionalProperties": False,
}


@dataclass(frozen=True)
class Val:
    """One key of values.yaml: a leaf (default + schema) or a known object (children)."""

    key: str
    default: Any = None
    doc: str = ""                       # the comment above the key, and the README description
    schema: dict[str, Any] | None = None   # JSON schema of a leaf (or of an open object or array)
    children: tuple["Val", ...] = ()    # a known object: its keys, in order
    open: bool = False                  # a known object that also takes keys it does not list
    type_label: str = ""                # README type, when it is not the schema's

    @property
    def type_name(self) -> str:
        if self.type_label:
            return self.type_label
        if self.children:
            return "object"
        t = (self.schema or {}).get("type", "")
        return " or ".join(t) if isinstance(t, list) else str(t)


@dataclass(frozen=True)
class Row:
    """One line of a README values table."""

    key: str            # dotted path
    type: str
    default: Any
    description: str


PVC_ITEM = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "mountPath": {"type": "string"},
        "size": {"type": "string", "description": "Requested storage, e.g. 10Gi."},
        "storageClassName": {"type": "string", "description": "Storage class; empty for the cluster's default."},
        "accessMode": {"type": "string", "enum": ["ReadWriteOnce", "ReadWriteMany", "ReadOnlyMany",
                                                  "ReadWriteOncePod"]},
        "readOnly": {"type": "boolean"},
    },
    "required": ["name", "mountPath", "size"],
    "additionalProperties": False,
}

FILES_ITEM = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "mountPath": {"type": "string"},
        "files": {"type": "object", "additionalProperties": {"type": "string"}},
        "subPath": {"type": "string", "description": "Mount this one file of files at mountPath."},
    },
    "required": ["name", "mountPath", "files"],
    "additionalProperties": False,
}


def rows(vals: list[Val] | tuple[Val, ...], prefix: str = "") -> list[Row]:
    """The table rows of a tree: one per leaf, known objects flattened with dotted keys."""
    out: list[Row] = []
    for v in vals:
        path = f"{prefix}{v.key}"
        if v.children:
            out.extend(rows(v.children, path + "."))
        else:
            out.append(Row(path, v.type_name, v.default, v.doc))
    return out


# ---------------------------------------------------------------------------------------------
# values.yaml text

_EXPR = re.compile(r"\{\{.*?\}\}")


def comment(text: str, indent: int = 0, width: int = 100) -> list[str]:
    """`# ` lines wrapped at width; Helm expressions ({{ ... }}) are never split."""
    if not text:
        return []
    return list(_comment(text, indent, width))


@functools.lru_cache(maxsize=4096)
def _comment(text: str, indent: int, width: int) -> tuple[str, ...]:
    # Every chart documents the same keys (image, service, resources ...) in the same words:
    # wrapping each text once per process is a tenth of building a ChatQnA umbrella.
    pad = " " * indent
    protected = _EXPR.sub(lambda m: m.group(0).replace(" ", "\x00"), text)
    lines = textwrap.wrap(protected, width=max(40, width - indent - 2), break_long_words=False,
                          break_on_hyphens=False)
    return tuple(f"{pad}# {line.replace(chr(0), ' ')}" for line in lines)


def scalar(value: Any) -> str:
    """A YAML scalar; strings that need quotes get double quotes (JSON is valid YAML there)."""
    if isinstance(value, str):
        if plain(value):
            return value
        text = dump({"k": value})[3:].rstrip("\n")
        if text.startswith(("'", '"', "|", ">")) or "\n" in text:
            return json.dumps(value, ensure_ascii=False)
        return text
    return json.dumps(value)


def _entry(v: Val, indent: int) -> list[str]:
    pad = " " * indent
    lines = comment(v.doc, indent)
    if v.children:
        lines.append(f"{pad}{key(v.key)}:")
        for c in v.children:
            lines.extend(_entry(c, indent + 2))
        return lines
    d = v.default
    if isinstance(d, dict) and not d:
        lines.append(f"{pad}{key(v.key)}: {{}}")
    elif isinstance(d, list) and not d:
        lines.append(f"{pad}{key(v.key)}: []")
    elif isinstance(d, (dict, list)):
        lines.append(f"{pad}{key(v.key)}:")
        lines.extend(pad + "  " + line for line in dump(d).rstrip("\n").split("\n"))
    else:
        lines.append(f"{pad}{key(v.key)}: {scalar(d)}")
    return lines


def values_yaml(header: list[str], vals: list[Val]) -> str:
    """values.yaml: the header comment, then each top-level key after a blank line."""
    lines = list(header)
    for v in vals:
        lines.append("")
        lines.extend(_entry(v, 0))
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------
# The values every workload chart has

GLOBALS = (
    ("http_proxy", "HTTP proxy of the containers (http_proxy)."),
    ("https_proxy", "HTTPS proxy of the containers (https_proxy)."),
    ("no_proxy", "Hosts the containers reach without the proxy (no_proxy)."),
    ("HF_TOKEN", "Hugging Face token; global.HUGGINGFACEHUB_API_TOKEN is read when this is empty."),
    ("HUGGINGFACEHUB_API_TOKEN", "Hugging Face token under its older name (read when global.HF_TOKEN is empty)."),
    ("modelUseHostPath", "Host directory holding downloaded models, mounted with hostPath at modelCachePath."),
    ("modelUsePVC", "Name of a PersistentVolumeClaim holding the models (wins over modelUseHostPath); "
                    "an emptyDir when both are empty."),
)


# Monitoring (GenAIInfra's monitoring.md): Prometheus Operator objects, off by default.
MONITORING_GLOBALS = (
    Val("monitoring", False, "Prometheus monitoring: every chart whose component serves metrics renders a "
                             "ServiceMonitor (monitoring.coreos.com/v1; the Prometheus Operator's CRDs must be "
                             "installed), and an umbrella its Grafana dashboards.", BOOLEAN),
    Val("prometheusRelease", "prometheus-stack", "Release name of the kube-prometheus-stack install: the "
                                                 "ServiceMonitors' release label, by which its Prometheus "
                                                 "selects them; empty for no label.", STRING),
    Val("prometheusNamespace", "monitoring", "Namespace of Grafana, where the dashboard ConfigMaps go; empty "
                                             "for the release's.", STRING),
)


# NetworkPolicies (issue 18): on by default, one switch for the whole release (a flat key: an
# umbrella whose globals hold no table may render in parts, helm/render.py).
NETWORK_GLOBALS = (
    Val("networkPolicies", True, "Render a NetworkPolicy per workload (its networkPolicy values say who may "
                                 "connect); false renders none, and every pod is reachable from anywhere.", BOOLEAN),
)


# A secret compose requires (${X:?msg}) stops an install while it is empty; the committed manifests
# are rendered to be read and diffed, without secrets, so they are rendered with this switch on.
RENDER_GLOBALS = (
    Val("renderOnly", False, "Render without the secrets compose requires (${X:?}): they stay empty instead of "
                             "failing the render. For manifests to read, not to install; compose2helm renders "
                             "the committed manifests with it.", BOOLEAN),
)


def global_val() -> Val:
    return Val("global", doc="Values shared with every chart of the release (an umbrella chart passes its own "
                             "down). Other keys are allowed.",
               children=tuple(Val(k, "", d, STRING) for k, d in GLOBALS) + MONITORING_GLOBALS + NETWORK_GLOBALS
               + RENDER_GLOBALS, open=True)


def workload_values(*, image: dict[str, str], named: list[Any], args: list[str],
                    ports: list[dict[str, Any]], readiness: dict | None, startup: dict | None,
                    env: dict[str, str] | None = None, secret_env: dict[str, str] | None = None,
                    model_path: str = "", read_only_root: bool = False,
                    writable: list[str] | tuple[str, ...] = (),
                    env_values: list[Any] | tuple[Any, ...] = (),
                    capabilities: list[str] | tuple[str, ...] = ()) -> list[Val]:
    """The values of one workload (a common chart, or the umbrella's megaservice); env_values are
    the rule's settings by name (plan/env_values.py), null until set."""
    vals = [
        Val("replicaCount", 1, "Number of pods.", {"type": "integer", "minimum": 0}),
        Val("daemonSet", False, "One pod on every node (a DaemonSet, compose deploy.mode: global) instead of "
                                "replicaCount pods.", BOOLEAN),
        Val("image", doc="The container image.", children=(
            Val("repository", image["repository"], "Image repository (registry and path, no tag).", STRING),
            Val("pullPolicy", "", "When the kubelet pulls the image: Always, IfNotPresent or Never; empty for "
                                  "Kubernetes' default: Always when the image's tag is latest, IfNotPresent for "
                                  "any other.", {"type": "string", "enum": PULL_POLICIES + [""]}),
            Val("tag", image["tag"], "Image tag; empty for the chart's appVersion. Set image.digest to pin the "
                                     "image instead.", STRING),
            Val("digest", "", "Image digest (sha256:...); when set, it is used instead of the tag.", STRING),
        )),
        Val("imagePullSecrets", [], "Secrets for pulling the image from a private registry: [{name: ...}].",
            {"type": "array", "items": OPEN_OBJECT}),
    ]
    by_key = {ev.key: ev for ev in env_values}
    for nv in named:
        doc = nv.description or f"The {nv.key} setting of the component."
        if nv.key in by_key:      # one value: the env entry is what it does where nothing else uses it
            doc += " " + by_key.pop(nv.key).doc().replace(" Null: not set.", "")
        vals.append(Val(nv.key, nv.default, doc, SCALAR, type_label="string"))
    for ev in by_key.values():
        if ev.fields:     # an object setting: its switch and its fields, each null until set
            vals.append(Val(ev.key, doc=ev.doc(), children=(
                Val(ev.when, False, f"Apply the fields of {ev.key}.", BOOLEAN),
                *(Val(f.name, None, f"Sets {f.env}" + (" (in the Secret)" if f.secret else "")
                      + (f"; {f.default} when empty." if f.default is not None else "."), SCALAR, type_label="string")
                  for f in ev.fields))))
            continue
        words = list(ev.words())
        schema = {"type": ["string", "null"], "enum": words + ["", None]} if words else SCALAR
        vals.append(Val(ev.key, None, ev.doc(), schema, type_label="string"))
    ports_doc = ("Ports the Service exposes: [{name, port, targetPort, protocol}]; targetPort is the container "
                 "port (port by default). No ports: no Service.")
    vals += [
        Val("command", [], "Container command (replaces the image's entrypoint). Items pass through tpl: "
                           "\"{{ .Values.KEY }}\" inserts a value of this chart.", STRING_LIST),
        Val("args", list(args), "Container arguments; items pass through tpl, like command.", STRING_LIST),
        Val("extraCmdArgs", [], "Arguments appended to args (GenAIInfra's extraCmdArgs: more flags for the "
                                "engine); through tpl. With args empty they replace the image's default "
                                "arguments, as args would.", STRING_LIST),
        Val("extraCmd", doc="GenAIInfra's name for the container command.", children=(
            Val("command", [], "Container command; when set it is used instead of command.", STRING_LIST),
        )),
        Val("env", dict(env or {}), "Container environment, rendered into the <fullname>-config ConfigMap. Values are strings "
                       "and pass through tpl, e.g. \"http://{{ .Release.Name }}-tei:80\" for another component "
                       "of the release.", STRING_MAP),
        Val("secretEnv", dict(secret_env or {}), "Environment that holds secrets, rendered into the <fullname>-secret Secret "
                             "(strings, through tpl).", STRING_MAP),
        Val("existingSecret", "", "Name of an existing Secret to use instead of secretEnv (same keys).", STRING),
        Val("extraEnvConfig", "", "Name of a ConfigMap whose keys are added to the environment last (optional: "
                                  "it may not exist), as GMC's extra-env-config.", STRING),
        Val("fullnameOverride", "", "Object name instead of <release>-<chart>. Other components address this "
                                    "one by the default name, so set their env too.", STRING),
        Val("service", doc="The Service in front of the pods, named <fullname>.", children=(
            Val("type", "ClusterIP", "Service type: ClusterIP, NodePort or LoadBalancer.",
                {"type": "string", "enum": SERVICE_TYPES}),
            Val("ports", [dict(p) for p in ports], ports_doc, {"type": "array", "items": PORT_ITEM}),
            Val("port", None, "Service port of the first entry of ports (GenAIInfra's service.port); null keeps "
                              "that entry's port. The container port stays (targetPort). Other components reach "
                              "this one at the port they were converted with: set their env too.",
                {"type": ["integer", "null"], "minimum": 1, "maximum": 65535}, type_label="integer"),
        )),
        Val("modelCachePath", model_path, "Mount point of the model cache (volume, global.modelUsePVC, "
                                          "global.modelUseHostPath, else an emptyDir); empty for none.", STRING),
        Val("volume", "", "Host directory with the models for this chart only (hostPath at modelCachePath); "
                          "wins over the global settings.", STRING),
        Val("shmSize", "", "Size of /dev/shm (a memory-backed emptyDir), e.g. 1Gi; empty for the runtime's "
                           "default.", STRING),
        Val("extraVolumes", [], "Scratch volumes (emptyDir): [{name, mountPath, medium, readOnly}]; with "
                                "hostPath, a host device (only converted with --allow host-devices).",
            {"type": "array", "items": VOLUME_ITEM}),
        Val("persistence", [], "PersistentVolumeClaims of this chart, one per compose named volume: [{name, "
                               "mountPath, size, storageClassName, accessMode, readOnly}]; each claim is "
                               "<fullname>-<name>.", {"type": "array", "items": PVC_ITEM}),
        Val("configFiles", [], "Files from the compose folder, in a ConfigMap <fullname>-<name> each: [{name, "
                               "mountPath, files: {file name: content}, subPath}]; subPath mounts one file.",
            {"type": "array", "items": FILES_ITEM}),
        Val("writablePaths", list(writable), "Paths the container writes to although its root filesystem is "
                                             "read-only: an emptyDir at each.", STRING_LIST),
        Val("workingDir", "", "Working directory of the container; empty for the image's.", STRING),
        Val("podAnnotations", {}, "Annotations of the pods.", OPEN_OBJECT),
        Val("podSecurityContext", {}, "Pod securityContext (a Kubernetes PodSecurityContext).", OPEN_OBJECT),
        Val("securityContext", {
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"], **({"add": list(capabilities)} if capabilities else {})},
            **({"readOnlyRootFilesystem": True} if read_only_root else {}),
            "seccompProfile": {"type": "RuntimeDefault"},
        }, "Container securityContext. Least privilege: no privilege escalation, no capabilities but those "
           "added" + (f" ({', '.join(capabilities)}: the image needs them to start)" if capabilities else "")
           + ", the runtime's default seccomp profile" + (", a read-only root filesystem (the image allows it; "
           "writablePaths are the exceptions)" if read_only_root else "") + ".", OPEN_OBJECT),
        Val("hostIPC", False, "Share the node's IPC namespace (compose ipc: host). Off: only converted with "
                              "--allow host-ipc.", BOOLEAN),
        Val("hostNetwork", False, "Use the node's network (compose network_mode: host). Off: only converted "
                                  "with --allow host-network.", BOOLEAN),
        Val("resources", {}, "Container resources (requests, limits). Device-plugin resources go here too, e.g. "
                             "limits: {habana.ai/gaudi: 1}.", OPEN_OBJECT),
        Val("readinessProbe", readiness or {}, "Readiness probe (a Kubernetes Probe); the platform overlays "
                                               "carry the compose healthchecks.", OPEN_OBJECT),
        Val("startupProbe", startup or {}, "Startup probe: how long the container may take to start (model "
                                           "downloads).", OPEN_OBJECT),
        Val("livenessProbe", {}, "Liveness probe; none by default.", OPEN_OBJECT),
        Val("nodeSelector", {}, "Node labels the pods must run on.", OPEN_OBJECT),
        Val("tolerations", [], "Tolerations of the pods.", {"type": "array", "items": OPEN_OBJECT}),
        Val("affinity", {}, "Affinity of the pods.", OPEN_OBJECT),
        Val("waitFor", [], "host:port of services to wait for before the container starts (items pass through "
                           "tpl): an init container polls each until it accepts connections. Compose's depends_on "
                           "service_healthy, converted with --wait-for-dependencies.", STRING_LIST),
        Val("testImage", "busybox:1.36", "Image of the `helm test` pod and of the waitFor init container (needs sh, "
                                         "wget and nc).", STRING),
        global_val(),
    ]
    return vals


def component_val(key: str, chart: str) -> Val:
    """The umbrella's key of one dependency: its values, validated by the subchart's own schema."""
    where = f"../common/{chart}" + ("" if key == chart else f", as {key}")
    return Val(key, doc=f"The {chart} chart ({where}); its values go under this key.", open=True,
               children=(Val("enabled", False, f"Run {key}; the platform overlays that use it turn it on.",
                             BOOLEAN),))
