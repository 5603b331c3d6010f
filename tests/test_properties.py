"""Property: any compose document either fails as bad input (one line naming the file) or converts cleanly.

Documents come from a grammar over the keys the real GenAIExamples files use (../shared/DESIGN.md §1):
images with registry/tag variables, short and long ports (some from variables), environment maps and
lists with unquoted ints and booleans, `${V:-d}` / `$V` / `$$` / nested defaults, `${host_ip}:<published
port>` and service-name URLs, model-cache and other volumes, commands and `sh -c` entrypoints,
depends_on lists and maps, CMD / CMD-SHELL curl healthchecks, restart, ipc, shm_size, cap_add, Gaudi,
NVIDIA and ROCm devices, deploy replicas, profiles, `x-` anchors with `<<:` merges, networks, same-file
extends, an env file beside the compose file — and, now and then, a piece that is invalid.

Each document is written as `<Example>/docker/<platform>/compose.yaml` and converted with the library
call `compose2helm.pipeline.convert.convert`. The property: InputError whose str() is one line naming an input
file, or a result with `result.ok` (lint without errors, schema-valid, no unexplained differences).
Nothing else may be raised.

Two tests share the grammar, because a full conversion (Helm render, lint, verify) costs several times
what the rest does:
- test_convert_without_helm: PROPERTY_EXAMPLES (2,000) documents through loading, mapping and chart
  writing into a real output tree (Staging and commit included), with Helm's render and lint stubbed
  out; the cheaper check is that every YAML file written parses and that the charts and values the
  umbrella names exist;
- test_convert_full: FULL_EXAMPLES (300) documents through the whole convert: render, lint, verify.
Both are marked slow (about 100 s and 25 s): left out of a plain `pytest -q`, run by `pytest -q -m slow`
and by .ci/run.

No document is discarded: every one must end in a clean error or in output that verifies.

Examples are derandomized (the same documents every run, as CI needs; no example database is
written). COMPOSE2HELM_PROPERTY_EXPLORE=1 draws fresh random documents and keeps failures in
Hypothesis' database; COMPOSE2HELM_PROPERTY_SCALE=0.1 runs a tenth of the examples, =5 five times more.
"""
from __future__ import annotations

import json
import os
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
import yaml
from hypothesis import HealthCheck, event, given, note, settings
from hypothesis import strategies as st

from compose2helm.errors import InputError
from compose2helm.pipeline import umbrella as umbrella_module
from compose2helm.pipeline.convert import convert
from compose2helm.plan.rules import load_rules
from conftest import load_yaml


_SCALE = float(os.environ.get("COMPOSE2HELM_PROPERTY_SCALE", "1"))
PROPERTY_EXAMPLES = max(1, int(2000 * _SCALE))
FULL_EXAMPLES = max(1, int(300 * _SCALE))
_EXPLORE = os.environ.get("COMPOSE2HELM_PROPERTY_EXPLORE") == "1"
_COMMON = dict(deadline=None, derandomize=not _EXPLORE, database=None if not _EXPLORE else settings().database,
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                      HealthCheck.filter_too_much, HealthCheck.large_base_example],
               print_blob=True)


# --- emitting YAML text -------------------------------------------------------------------------
# The documents are written as text, not dumped, so that they hold what real files hold: plain
# scalars (`MAX_WARMUP_SEQUENCE_LENGTH: 512`, `LOGFLAG: False`), anchors and `<<:` merges.

@dataclass(frozen=True)
class Raw:
    """A scalar written as is (plain): `512`, `False`, `${MODEL_CACHE:-./data}:/data`."""
    text: str


@dataclass(frozen=True)
class Alias:
    """`*name` as a value."""
    name: str


MERGE = "<<"   # a key whose value is an Alias or a list of Aliases


def scalar(v: Any) -> str:
    if isinstance(v, Raw):
        return v.text
    if isinstance(v, Alias):
        return f"*{v.name}"
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return str(v)
    return json.dumps(v, ensure_ascii=False)   # JSON strings are YAML double-quoted scalars


def emit(v: Any, indent: int = 0) -> list[str]:
    pad = " " * indent
    lines: list[str] = []
    if isinstance(v, dict):
        for k, x in v.items():
            key = "<<" if k == MERGE else (k.text if isinstance(k, Raw) else json.dumps(k))
            if k == MERGE and isinstance(x, list):
                lines.append(f"{pad}<<: [{', '.join(scalar(a) for a in x)}]")
            elif isinstance(x, (dict, list)) and x:
                lines.append(f"{pad}{key}:")
                lines += emit(x, indent + 2)
            elif isinstance(x, dict):
                lines.append(f"{pad}{key}: {{}}")
            elif isinstance(x, list):
                lines.append(f"{pad}{key}: []")
            else:
                lines.append(f"{pad}{key}: {scalar(x)}".rstrip())
    elif isinstance(v, list):
        for x in v:
            if isinstance(x, (dict, list)) and x:
                sub = emit(x, indent + 2)
                lines.append(f"{pad}- {sub[0].lstrip()}")
                lines += sub[1:]
            else:
                lines.append(f"{pad}- {scalar(x) if not isinstance(x, (dict, list)) else ('{}' if isinstance(x, dict) else '[]')}")
    else:
        lines.append(pad + scalar(v))
    return lines


def anchored(name: str, anchor: str, body: dict) -> list[str]:
    return [f"{name}: &{anchor}"] + emit(body, 2)


# --- the grammar ----------------------------------------------------------------------------------

IMAGES = [
    Raw("${REGISTRY:-opea}/chatqna:${TAG:-latest}"), "opea/chatqna-ui:latest", Raw("opea/chatqna-ui"),
    Raw("${REGISTRY:-opea}/llm-textgen:${TAG:-latest}"), "opea/llm-tgi:latest",
    "ghcr.io/huggingface/text-generation-inference:2.4.0-intel-cpu", "ghcr.io/huggingface/tgi-gaudi:2.3.1",
    "ghcr.io/huggingface/text-embeddings-inference:cpu-1.5", Raw("ghcr.io/huggingface/tei-gaudi:1.5.0"),
    "redis/redis-stack:7.2.0-v9", Raw("${REGISTRY:-opea}/dataprep:${TAG:-latest}"),
    Raw("${REGISTRY:-opea}/retriever:${TAG:-latest}"), "opea/embedding:latest", "opea/reranking:latest",
    Raw("${REGISTRY:-opea}/vllm-gaudi:${TAG:-latest}"), "opea/vllm:latest",
    Raw("${REGISTRY:-opea}/nginx:${TAG:-latest}"), Raw("nginx"), "nginx:1.27", Raw("busybox"),
    "docker.io/library/python:3.11-slim", "registry.local:5000/team/tool:v1",
    "quay.io/x/y@sha256:" + "a" * 64, Raw("${IMAGE_REPO:-custom/app}:${IMAGE_TAG:-1.0}"),
    "${REGISTRY}/whisper:${TAG}",
]
NAMES = ["tgi-service", "tei-embedding-service", "tei-reranking-service", "retriever", "dataprep-redis-service",
         "chatqna-backend-server", "chatqna-xeon-ui-server", "chatqna-xeon-nginx-server", "redis-vector-db",
         "llm", "vllm-service", "app", "web_app", "web-app", "svc.v2", "worker2", "Upper_Case", "x"]
CONTAINER_PORTS = [80, 5000, 5173, 6379, 7000, 8000, 8080, 8888, 9000, 9009, 18000]
PUBLISHED_PORTS = [80, 6007, 6379, 7000, 8005, 8008, 8090, 8808, 8888, 9009, 9090, 5173, 18000, 31000]
PORT_VARS = ["NGINX_PORT", "LLM_PORT", "BACKEND_SERVICE_PORT", "TGI_PORT"]
ENV_KEYS = ["LLM_MODEL_ID", "MODEL_ID", "EMBEDDING_MODEL_ID", "RERANK_MODEL_ID", "HF_TOKEN",
            "HUGGINGFACEHUB_API_TOKEN", "no_proxy", "http_proxy", "https_proxy", "INDEX_NAME",
            "TEI_EMBEDDING_ENDPOINT", "TGI_LLM_ENDPOINT", "LLM_ENDPOINT", "LLM_SERVER_HOST_IP", "LLM_SERVER_PORT",
            "MEGA_SERVICE_HOST_IP", "BACKEND_SERVICE_IP", "REDIS_URL", "REDIS_HOST", "MAX_TOTAL_TOKENS",
            "MAX_INPUT_LENGTH", "LOGFLAG", "OMPI_MCA_btl_vader_single_copy_mechanism", "NUM_CARDS",
            "HF_HUB_DISABLE_PROGRESS_BARS", "PT_HPU_ENABLE_LAZY_COLLECTIVES", "OPENAI_API_KEY", "DB_PASSWORD",
            "host_ip", "PORT", "PATH_PREFIX", "MODEL_CACHE"]
VARS = ["host_ip", "LLM_MODEL_ID", "EMBEDDING_MODEL_ID", "HF_TOKEN", "no_proxy", "http_proxy", "INDEX_NAME",
        "MODEL_CACHE", "REGISTRY", "TAG", "NUM_CARDS", "LOGFLAG", "UNSET_VAR", "SOME_PORT", "MAX_TOTAL_TOKENS"]
WORDS = ["none", "Intel/neural-chat-7b-v3-3", "BAAI/bge-base-en-v1.5", "rag-redis", "x", "a b", "all",
         "http://example.com/path?q=1", "/v1/chat/completions", "--flag", "it's", 'say "hi"', "üñí", "0.5", "1e3",
         "#notacomment", "a: b", "- item", "{{ .Values.x }}", "%s", "\\back", ""]
RAW_SCALARS = ["0", "1", "512", "2048", "-1", "007", "0x1F", "1.5", "True", "False", "true", "false", "yes", "no",
               "on", "off", "null", "~", "2024-01-01", "1_000", "22:22", "none", "all"]
PROFILE_NAMES = ["gpu", "tgi", "vllm", "debug"]

def one_in(draw, n: int) -> bool:
    """True about once in n draws. (`integers(0, n) == 0` is true far more often: Hypothesis favours
    boundary values; a sampled index is close to uniform, and shrinks towards False.)"""
    return draw(st.sampled_from(range(n))) == n - 1


ident = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,12}", fullmatch=True)
word = st.sampled_from(WORDS)


def var_ref(draw, names=VARS) -> str:
    v = draw(st.sampled_from(names) | ident)
    d = draw(word.filter(lambda w: "}" not in w and "$" not in w))
    return draw(st.sampled_from([f"${{{v}}}", f"${v}", f"${{{v}:-{d}}}", f"${{{v}-{d}}}",
                                 f"${{{v}:+{d}}}", f"${{{v}:-${{{draw(st.sampled_from(names))}:-{d}}}}}"]))


@dataclass
class Svc:
    name: str
    image: Any
    ports: list[Any] = field(default_factory=list)
    published: list[tuple[int, int]] = field(default_factory=list)   # (published, container)
    container: list[int] = field(default_factory=list)
    body: dict[Any, Any] = field(default_factory=dict)


@dataclass
class Doc:
    text: str
    env: str | None
    broken: list[str]         # the invalid pieces drawn (for the notes)
    services: dict[str, dict] = field(default_factory=dict)   # the bodies as drawn
    anchors: dict[str, dict] = field(default_factory=dict)


@st.composite
def port_entry(draw, pub_pool: list[int]) -> tuple[Any, int | None, int]:
    ctr = draw(st.sampled_from(CONTAINER_PORTS))
    pub = draw(st.sampled_from(pub_pool)) if pub_pool else None
    form = draw(st.sampled_from(range(9)))
    if form == 0 or pub is None:
        return draw(st.sampled_from([str(ctr), Raw(str(ctr))])), None, ctr
    if form == 1:
        return f"{pub}:{ctr}", pub, ctr
    if form == 2:
        return f"${{{draw(st.sampled_from(PORT_VARS))}:-{pub}}}:{ctr}", pub, ctr
    if form == 3:
        return f"127.0.0.1:{pub}:{ctr}", pub, ctr
    if form == 4:
        return f"{pub}:{ctr}/tcp", pub, ctr
    if form == 5:
        return {"target": ctr, "published": draw(st.sampled_from([pub, str(pub), f"${{SOME_PORT:-{pub}}}"]))}, pub, ctr
    if form == 6:
        return {"target": ctr, "published": pub, "protocol": "tcp", "host_ip": "0.0.0.0"}, pub, ctr
    if form == 7:
        return {"target": ctr}, None, ctr
    return Raw(f'"{pub}:{ctr}"'), pub, ctr


@st.composite
def env_value(draw, me: Svc, others: list[Svc]) -> Any:
    kind = draw(st.sampled_from(range(14)))
    target = draw(st.sampled_from(others)) if others else me
    if kind == 0:
        return Raw(draw(st.sampled_from(RAW_SCALARS)))
    if kind == 1:
        return draw(word)
    if kind in (2, 3):
        return var_ref(draw)
    if kind == 4:
        return draw(st.sampled_from(["$$notavar", "price$$5", "$$HOME/x", "a$", "$1"]))
    if kind == 5 and target.published:
        pub, _ = draw(st.sampled_from(target.published))
        host = draw(st.sampled_from(["${host_ip}", "$host_ip", "${HOST_IP:-${host_ip}}"]))
        return f"http://{host}:{pub}" + draw(st.sampled_from(["", "/v1", "/v1/chat/completions"]))
    if kind == 6 and target.container:
        return f"http://{target.name}:{draw(st.sampled_from(target.container))}" + draw(st.sampled_from(["", "/health"]))
    if kind == 7:
        return target.name
    if kind == 8:
        return draw(st.sampled_from([Raw("${host_ip}"), "${host_ip}", f"redis://{target.name}:6379"]))
    if kind == 9:
        return None
    if kind == 10:
        return f"{draw(word)}{var_ref(draw)}{draw(word)}"
    if kind == 11 and target.published:
        pub, _ = draw(st.sampled_from(target.published))
        return Raw(f"http://${{host_ip}}:{pub}")
    if kind == 12:
        return draw(st.text(st.characters(codec="utf-8", exclude_categories=["Cs", "Cc", "Zl", "Zp"]), max_size=12))
    return draw(word)


@st.composite
def environment(draw, me: Svc, others: list[Svc], anchors: list[str]) -> Any:
    keys = draw(st.lists(st.sampled_from(ENV_KEYS) | ident.map(str.upper), max_size=7, unique=True))
    pairs = {k: draw(env_value(me, others)) for k in keys}
    if draw(st.booleans()):           # map form, maybe with merges
        out: dict[Any, Any] = {}
        if anchors and draw(st.booleans()):
            picks = draw(st.lists(st.sampled_from(anchors), min_size=1, max_size=2, unique=True))
            out[MERGE] = Alias(picks[0]) if len(picks) == 1 else [Alias(a) for a in picks]
        out.update(pairs)
        return out
    items = []
    for k, v in pairs.items():
        if v is None:
            items.append(k)
        elif isinstance(v, Raw):
            items.append(f"{k}={v.text}")
        else:
            items.append(f"{k}={v}")
    return items


VOLUMES = [  # (entry, mount target, uses the named volume `cache`)
    (Raw("${MODEL_CACHE:-./data}:/data"), "/data", False), ("${MODEL_CACHE:-./data}:/data", "/data", False),
    ("./data:/data", "/data", False), ("/etc/conf.yaml:/etc/app/conf.yaml:ro", "/etc/app/conf.yaml", False),
    ("cache:/cache", "/cache", True), ("/tmp/anon", "/tmp/anon", False),
    ("./nginx.conf:/etc/nginx/nginx.conf", "/etc/nginx/nginx.conf", False),
    ("${MODEL_PATH:-/mnt/models}:/root/.cache/huggingface/hub", "/root/.cache/huggingface/hub", False),
    ("./data2:/data2:rw", "/data2", False),
    ({"type": "bind", "source": "./src", "target": "/src", "read_only": True}, "/src", False),
    ({"type": "tmpfs", "target": "/scratch"}, "/scratch", False),
    ({"type": "volume", "source": "cache", "target": "/vcache"}, "/vcache", True),
]
COMMANDS = [
    "--model-id ${LLM_MODEL_ID} --max-input-length 1024 --max-total-tokens 2048",
    Raw("--model-id ${EMBEDDING_MODEL_ID:-BAAI/bge-base-en-v1.5} --auto-truncate"),
    "redis-server --port 6379", "--model $LLM_MODEL_ID --tensor-parallel-size ${NUM_CARDS:-1} --port 80",
    ["--model", "${LLM_MODEL_ID:-x}", "--tensor-parallel-size", "${NUM_CARDS:-1}"], ["python", "app.py"],
    "--num-shard 2 --model-id ${LLM_MODEL_ID}", ["serve", "--port=8000", "--name", "a b"],
    "echo '${NOT_INTERPOLATED_IN_QUOTES:-x}' \"$$HOME\"",
]
ENTRYPOINTS = [["sh", "-c", "python3 -m app --port 8000"], "sh -c 'echo start && exec serve'", "/bin/bash",
               ["/bin/sh", "-c", "sleep 1; exec nginx -g 'daemon off;'"], ["python", "-m", "server"]]


@st.composite
def healthcheck(draw, me: Svc) -> dict:
    ctr = draw(st.sampled_from(me.container)) if me.container else 80
    tests: list[Any] = [["CMD", "redis-cli", "ping"],
                        ["CMD-SHELL", f"curl -f http://localhost:{ctr}/health || exit 1"],
                        f"curl -f http://localhost:{ctr}/v1/health_check", ["NONE"],
                        ["CMD", "curl", "-f", f"http://localhost:{ctr}/health"]]
    if me.published:
        pub, _ = draw(st.sampled_from(me.published))
        tests += [f"curl -f http://$host_ip:{pub}/health || exit 1",
                  ["CMD-SHELL", f"curl -f http://${{host_ip}}:{pub}/v1/health_check || exit 1"]]
    h: dict[str, Any] = {"test": draw(st.sampled_from(tests))}
    for k, vals in (("interval", ["10s", "1m30s", "500ms", Raw("5s")]), ("timeout", ["5s", "3s", "10s"]),
                    ("retries", [Raw("3"), Raw("60"), "10"]), ("start_period", ["30s", "0s"])):
        if draw(st.booleans()):
            h[k] = draw(st.sampled_from(vals))
    if one_in(draw, 16):
        h = {"disable": True}
    return h


BROKEN = {  # name: how it breaks a service body (or the document)
    "port 80:": lambda b: b.setdefault("ports", []).append("80:"),
    "port a:b": lambda b: b.setdefault("ports", []).append("a:b"),
    "port 70000": lambda b: b.setdefault("ports", []).append("70000:80"),
    "port range": lambda b: b.setdefault("ports", []).append("8000-8001:8000-8001"),
    "depends on ghost": lambda b: b.__setitem__("depends_on", ["ghost"]),
    "unknown key": lambda b: b.__setitem__("imagee", "x"),
    "unterminated": lambda b: b.setdefault("environment", {}).__setitem__("BROKEN", "${oops") if isinstance(
        b.get("environment", {}), dict) else b["environment"].append("BROKEN=${oops"),
    "required unset": lambda b: b.__setitem__("image", "x:${NEED_TAG:?set NEED_TAG}"),
    "no image": lambda b: b.pop("image", None),
    "build only": lambda b: (b.pop("image", None), b.__setitem__("build", "./src")),
    "shm_size": lambda b: b.__setitem__("shm_size", "lots"),
    "bad interval": lambda b: b.__setitem__("healthcheck", {"test": ["CMD", "true"], "interval": "soon"}),
    "bad command": lambda b: b.__setitem__("command", "sh -c \"unclosed"),
    "bad volume": lambda b: b.setdefault("volumes", []).append("a:b:c:d"),
    "bad replicas": lambda b: b.__setitem__("deploy", {"replicas": "many"}),
    "schema": lambda b: b.__setitem__("cap_add", {"a": 1}),
    "not a mapping": lambda b: b.clear(),
    "surrogate escape": lambda b: b.__setitem__("working_dir", Raw('"/srv/\\ud800"')),
    "non-string key": lambda b: b.__setitem__("labels", {Raw("1"): "one"}),
}


@st.composite
def documents(draw) -> Doc:
    broken: list[str] = []
    names = draw(st.lists(st.sampled_from(NAMES) | st.from_regex(r"[a-z][a-z0-9_.-]{0,14}", fullmatch=True),
                          min_size=1, max_size=6, unique=True))
    pub_pool = list(PUBLISHED_PORTS)
    svcs: list[Svc] = []
    for n in names:
        s = Svc(n, draw(st.sampled_from(IMAGES)))
        for _ in range(draw(st.integers(0, 3))):
            entry, pub, ctr = draw(port_entry(pub_pool))
            if pub is not None:
                pub_pool.remove(pub)      # a host port is published once (else compose cannot start)
                s.published.append((pub, ctr))
            s.ports.append(entry)
            s.container.append(ctr)
        svcs.append(s)

    anchors: dict[str, dict] = {}
    env_anchors: list[str] = []
    if draw(st.booleans()):
        anchors["x-proxy-env"] = {"no_proxy": Raw("${no_proxy}"), "http_proxy": "${http_proxy}",
                                  "https_proxy": Raw("${https_proxy}")}
        env_anchors.append("proxy-env")
    if draw(st.booleans()):
        anchors["x-common-env"] = {"HF_TOKEN": Raw("${HF_TOKEN}"), "LOGFLAG": Raw("False"), "N": Raw("1")}
        env_anchors.append("common-env")
    gaudi = draw(st.booleans())
    if gaudi:
        anchors["x-gaudi"] = {"runtime": "habana", "cap_add": ["SYS_NICE"], "ipc": Raw("host")}

    named_volumes = False
    for i, s in enumerate(svcs):
        others = svcs[:i] + svcs[i + 1:]
        b: dict[Any, Any] = {}
        if gaudi and one_in(draw, 3):
            b[MERGE] = Alias("gaudi")
        b["image"] = s.image
        if one_in(draw, 4):
            b["container_name"] = f"{s.name}-server"
        if s.ports:
            b["ports"] = s.ports
        if one_in(draw, 10):
            b["expose"] = [str(draw(st.sampled_from(CONTAINER_PORTS)))]
        if not one_in(draw, 4):
            b["environment"] = draw(environment(s, others, env_anchors))
        if one_in(draw, 3):
            vols = draw(st.lists(st.sampled_from(VOLUMES), max_size=3, unique_by=lambda v: v[1]))
            named_volumes = named_volumes or any(v[2] for v in vols)
            keep = [v[0] for v in vols]
            b["volumes"] = keep
        if one_in(draw, 3):
            b["command"] = draw(st.sampled_from(COMMANDS))
        if one_in(draw, 8):
            b["entrypoint"] = draw(st.sampled_from(ENTRYPOINTS))
        if others and one_in(draw, 3):
            deps = draw(st.lists(st.sampled_from([o.name for o in others]), min_size=1, max_size=3, unique=True))
            if draw(st.booleans()):
                b["depends_on"] = deps
            else:
                b["depends_on"] = {d: {"condition": draw(st.sampled_from(
                    ["service_started", "service_healthy", "service_completed_successfully"]))} for d in deps}
        if one_in(draw, 3):
            b["healthcheck"] = draw(healthcheck(s))
        if one_in(draw, 4):
            b["restart"] = draw(st.sampled_from([Raw("always"), "unless-stopped", Raw("no"), "on-failure"]))
        if one_in(draw, 6):
            b["ipc"] = "host"
        if one_in(draw, 5):
            b["shm_size"] = draw(st.sampled_from([Raw("1g"), "2gb", Raw("1073741824"), "64m", "${SHM:-1g}"]))
        if one_in(draw, 7):
            b["cap_add"] = draw(st.sampled_from([["SYS_NICE"], ["SYS_PTRACE"], ["NET_ADMIN", "SYS_NICE"]]))
        accel = draw(st.sampled_from(range(10)))
        if accel == 0:            # Gaudi
            b["runtime"] = "habana"
            env = b.setdefault("environment", {})
            if isinstance(env, dict):
                env["HABANA_VISIBLE_DEVICES"] = Raw("all")
                env["OMPI_MCA_btl_vader_single_copy_mechanism"] = Raw("none")
            else:
                env += ["HABANA_VISIBLE_DEVICES=all", "OMPI_MCA_btl_vader_single_copy_mechanism=none"]
        elif accel == 1:          # NVIDIA
            b["deploy"] = {"resources": {"reservations": {"devices": [
                {"driver": "nvidia", "count": draw(st.sampled_from([Raw("1"), Raw("2"), "all", "${NUM_GPUS:-1}"])),
                 "capabilities": [Raw("gpu")]}]}}}
        elif accel == 2:          # ROCm
            b["devices"] = ["/dev/kfd", "/dev/dri"]
            b["group_add"] = ["video"]
            b["security_opt"] = ["seccomp:unconfined"]
        if one_in(draw, 6):
            b.setdefault("deploy", {})["replicas"] = draw(st.sampled_from([Raw("1"), Raw("3"), "${REPLICAS:-2}"]))
        if one_in(draw, 8):
            b["profiles"] = draw(st.lists(st.sampled_from(PROFILE_NAMES), min_size=1, max_size=2, unique=True))
        if one_in(draw, 8):
            b["networks"] = draw(st.sampled_from([["default"], {"default": None}]))
        if one_in(draw, 12):
            b["user"] = draw(st.sampled_from(["1000:1000", "root", "1000"]))
        if one_in(draw, 12):
            b["privileged"] = Raw("true")
        if one_in(draw, 12):
            b["x-note"] = {"anything": [1, 2]}
        s.body = b

    # same-file extends: a later service takes an earlier one as its base
    if len(svcs) > 1 and not svcs[0].published and one_in(draw, 6):
        base, child = svcs[0], svcs[-1]        # (a base's host ports would be published twice)
        child.body["extends"] = draw(st.sampled_from([base.name, {"service": base.name}]))
        if draw(st.booleans()):
            child.body.pop("image", None)

    if one_in(draw, 8):
        what = draw(st.sampled_from(sorted(BROKEN)))
        victim = draw(st.sampled_from(svcs))
        BROKEN[what](victim.body)
        broken.append(f"{what} in {victim.name}")

    lines: list[str] = []
    if one_in(draw, 4):
        lines.append("version: " + draw(st.sampled_from(['"3.8"', '"3"', "'2.4'"])))
    if one_in(draw, 10):
        lines.append('name: "demo"')
    for key, body in anchors.items():
        lines += anchored(key, key[2:], body)
    lines.append("services:")
    for s in svcs:
        if s.body:
            lines.append(f"  {json.dumps(s.name)}:")
            lines += emit(s.body, 4)
        else:
            lines.append(f"  {json.dumps(s.name)}: []")
    if named_volumes:
        lines += ["volumes:", "  cache:"] if draw(st.booleans()) else ["volumes:", "  cache: {}"]
    if one_in(draw, 4):
        lines += ["networks:", "  default:", "    driver: bridge"]
    text = "\n".join(lines) + "\n"
    if one_in(draw, 41):
        text += draw(st.sampled_from(["services: [\n", "\t- tab\n", "x-dup: 1\nx-dup: 2\n"]))
        broken.append("invalid YAML")

    env = None
    if draw(st.booleans()):
        env_lines = ["# set_env.env as GenAIExamples ships it", "host_ip=192.168.1.10"]
        if draw(st.booleans()):
            env_lines.append('export LLM_MODEL_ID="Intel/neural-chat-7b-v3-3"')
        if draw(st.booleans()):
            env_lines.append("HF_TOKEN=${HF_TOKEN}")
        pubs = [p for s in svcs for p, _ in s.published]
        if pubs and draw(st.booleans()):
            env_lines.append(f"export TEI_EMBEDDING_ENDPOINT=http://${{host_ip}}:{draw(st.sampled_from(pubs))}")
        if draw(st.booleans()):
            env_lines.append("MODEL_CACHE='./data'")
        if draw(st.booleans()):
            env_lines.append("NUM_CARDS=2")
        if one_in(draw, 21):
            env_lines.append("this is not an assignment")
            broken.append("env file")
        env = "\n".join(env_lines) + "\n"
    return Doc(text, env, broken, {sv.name: sv.body for sv in svcs}, anchors)


# The rules, read once for every document.
RULES = load_rules()


# --- running one document -----------------------------------------------------------------------

EXAMPLES = ["ChatQnA", "CodeGen", "MyApp"]
PLATFORMS = ["gaudi", "xeon", "gpu"]


# Thousands of small trees are written and removed: a RAM disk makes that several times faster.
FAST_TMP = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None


@contextmanager
def written(doc: Doc, example: str, platform: str):
    with tempfile.TemporaryDirectory(prefix="c2h-prop-", dir=FAST_TMP) as tmp:
        d = Path(tmp) / example / "docker" / platform
        d.mkdir(parents=True)
        src = d / "compose.yaml"
        src.write_text(doc.text, encoding="utf-8")
        inputs = [src]
        if doc.env is not None:
            (d / "set_env.env").write_text(doc.env, encoding="utf-8")
            inputs.append(d / "set_env.env")
        out = Path(tmp) / "out"
        yield src, inputs, out


def _explain(doc: Doc) -> None:
    note(f"--- compose.yaml ---\n{doc.text}")
    if doc.env is not None:
        note(f"--- set_env.env ---\n{doc.env}")
    note(f"invalid pieces drawn: {doc.broken}")


def _check_input_error(e: InputError, inputs: list[Path]) -> None:
    msg = str(e)
    assert msg and "\n" not in msg, repr(msg)
    assert any(str(p) in msg for p in inputs), msg


_STUB_CALLS: list[str] = []
_PARSED: set[int] = set()     # common charts repeat byte for byte: parse each text once


def _load(text: str) -> Any:
    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def _parses(text: str) -> None:
    if hash(text) not in _PARSED:
        _load(text)
        _PARSED.add(hash(text))


def _no_helm(*_args, **_kwargs):
    _STUB_CALLS.append("render")
    return []


@pytest.mark.slow
@settings(max_examples=PROPERTY_EXAMPLES, **_COMMON)
@given(doc=documents(), example=st.sampled_from(EXAMPLES), platform=st.sampled_from(PLATFORMS))
def test_convert_without_helm(doc, example, platform):
    _explain(doc)
    with written(doc, example, platform) as (src, inputs, out), \
            mock.patch.object(umbrella_module, "render_chart", _no_helm):
        _STUB_CALLS.clear()
        try:
            result = convert([src], out, lint=False, verify=False, rules=RULES)
        except InputError as e:
            event("outcome: InputError")
            _check_input_error(e, inputs)
            return
        event("outcome: converted")
        assert _STUB_CALLS, "convert no longer renders through convert.render_chart: the stub does not apply"
        assert result.ok
        assert result.changed
        for rel in result.changed:
            path = out / rel
            assert path.is_file(), rel
            if rel.endswith((".yaml", ".yml")) and "/templates/" not in rel:
                _parses(path.read_text(encoding="utf-8"))             # values, Chart.yaml, overlays
        chart = _load((out / f"helm-charts/{result.plan.chart}/Chart.yaml").read_text(encoding="utf-8"))
        for dep in chart.get("dependencies") or []:
            assert dep["repository"].startswith("file://../common/"), dep
            assert (out / "helm-charts/common" / dep["name"] / "Chart.yaml").is_file(), dep
        overlay = _load((out / f"helm-charts/{result.plan.chart}/{result.plan.overlay_name}-values.yaml")
                        .read_text(encoding="utf-8")) or {}
        assert isinstance(overlay, dict)
        names = {dep.get("alias") or dep["name"] for dep in chart.get("dependencies") or []}
        for key, value in overlay.items():
            if isinstance(value, dict) and "enabled" in value:
                assert key in names, (key, names)


@pytest.mark.slow
@settings(max_examples=FULL_EXAMPLES, **_COMMON)
@given(doc=documents(), example=st.sampled_from(EXAMPLES), platform=st.sampled_from(PLATFORMS))
def test_convert_full(doc, example, platform):
    _explain(doc)
    with written(doc, example, platform) as (src, inputs, out):
        try:
            result = convert([src], out, rules=RULES)
        except InputError as e:
            event("outcome: InputError")
            _check_input_error(e, inputs)
            return
        event("outcome: converted")
        details = {"lint": result.lint_errors,
                   "verification": result.verification.as_dict() if result.verification else None}
        assert result.ok, json.dumps(details, indent=1, default=str)[:6000]


def test_emitter_writes_what_it_means():
    """The grammar's YAML writer: Raw scalars plain, strings quoted, anchors and merges."""
    text = "\n".join(anchored("x-a", "a", {"K": Raw("1")}) + ["services:", "  s:"] +
                     emit({"image": Raw("${R:-opea}/x:${T:-latest}"), "environment": {MERGE: Alias("a"),
                           "B": Raw("False"), "C": "it's \"q\"", "D": None}, "ports": ["80:80", {"target": 80}],
                           "command": []}, 4)) + "\n"
    doc = load_yaml(text)
    assert doc["services"]["s"]["image"] == "${R:-opea}/x:${T:-latest}"
    assert doc["services"]["s"]["environment"] == {"K": 1, "B": False, "C": "it's \"q\"", "D": None}
    assert doc["services"]["s"]["ports"] == ["80:80", {"target": 80}]
