"""One compose variable, one Helm value: setting the value a variable became changes every place
compose uses it — env entries, command lines, the device-plugin count — in every service.

The check here is independent of verify's own coupling check (verify/coupling.py): it takes the
listing `explain` prints, sets each value with `--set` as a user would (the template command's
library call) and reads the rendered ConfigMaps, Secrets' neighbours and container args."""
from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compose2helm.compose.model import Template
from compose2helm.helm.commands import TemplateOptions, render
from compose2helm.pipeline.convert import convert
from compose2helm.pipeline.explain import as_dict, explain_files
from compose2helm.plan.prepare import prepare
from compose2helm.plan.rules import load_rules

from conftest import FIXTURES, load_yaml

POLICY = load_rules().policy
HEAD = FIXTURES
FILES = [
    "ChatQnA/docker_compose/intel/hpu/gaudi/compose.yaml",
    "ChatQnA/docker_compose/intel/cpu/xeon/compose.yaml",
    "CodeGen/docker_compose/intel/hpu/gaudi/compose.yaml",
    "DocSum/docker_compose/intel/hpu/gaudi/compose.yaml",
    "AudioQnA/docker_compose/intel/hpu/gaudi/compose.yaml",
]
ADDRESS_SUFFIXES = ("_HOST_IP", "_PORT", "_ENDPOINT", "_URL")


def _workload_texts(objs: list[dict], release: str, name: str) -> tuple[dict[str, str], list[str], dict]:
    """(env from its ConfigMaps and inline env, args + command, resource limits) of one workload."""
    maps = {o["metadata"]["name"]: o.get("data") or {} for o in objs if o.get("kind") == "ConfigMap"}
    workload = next(o for o in objs if o.get("kind") in ("Deployment", "StatefulSet", "DaemonSet")
                    and o["metadata"]["name"] == name)
    c = workload["spec"]["template"]["spec"]["containers"][0]
    env: dict[str, str] = {}
    for ref in c.get("envFrom") or []:
        if "configMapRef" in ref:
            env.update({k: str(v) for k, v in maps.get(ref["configMapRef"]["name"], {}).items()})
    env.update({e["name"]: str(e["value"]) for e in c.get("env") or [] if "value" in e})
    words = [str(w) for w in (c.get("command") or []) + (c.get("args") or [])]
    return env, words, (c.get("resources") or {}).get("limits") or {}


def _direct_uses(t: Template, name: str) -> int:
    parts = t.parts
    return sum(1 for i, p in enumerate(parts)
               if not isinstance(p, str) and p.name == name and p.op not in ("+", ":+")
               and not (i >= 2 and parts[i - 1] == ":" and not isinstance(parts[i - 2], str)
                        and POLICY.is_host_variable(parts[i - 2].name)))


def _check_file(compose: Path, out: Path) -> list[str]:
    """Convert, then for each variable explain lists with a value: --set it to a marker and check
    every use. Returns what did not follow (empty when all did)."""
    result = convert([compose], out)
    assert result.ok, result
    report = as_dict([explain_files([compose])])
    listing = report["variables"]
    plan, project = result.plan, prepare([compose]).project
    umbrella = out / "helm-charts" / plan.chart
    overlay = umbrella / f"{plan.overlay_name}-values.yaml"
    names = {i.service: (plan.chart if i.is_megaservice else f"{plan.chart}-{i.name}") for i in plan.instances}
    valued = [v for v in listing if v["kind"] == "value" and v["name"] not in ("HF_TOKEN",)]
    shared = [v for v in listing if len(v["services"]) >= 2 and not v["name"].endswith(ADDRESS_SUFFIXES)
              and not POLICY.is_host_variable(v["name"])]
    problems = [f"{v['name']}: used by {v['services']} but has no value" for v in shared if v["value"] is None
                and v["kind"] not in ("global", "address")]
    marks = {v["name"]: str(8_200_001 + n) for n, v in enumerate(valued)}
    docs = render(TemplateOptions(plan.chart, umbrella, [overlay],
                                  set_strings=[f"{v['value']}={marks[v['name']]}" for v in valued]))
    objs = [d.obj for d in docs]
    for v in valued:
        mark = marks[v["name"]]
        for service in v["services"]:
            s = project.services[service]
            if not any(o.get("kind") == "Deployment" and o["metadata"]["name"] == names[service] for o in objs):
                continue
            env, words, limits = _workload_texts(objs, plan.chart, names[service])
            for key, t in s.environment.items():
                if t is not None and _direct_uses(t, v["name"]) and key in env and mark not in env[key]:
                    problems.append(f"{service} env {key} = {env[key]!r} does not follow {v['value']}")
            wanted = sum(_direct_uses(t, v["name"]) for t in list(s.command or []) + list(s.entrypoint or []))
            if wanted and " ".join(words).count(mark) < wanted:
                problems.append(f"{service} command {' '.join(words)!r} does not follow {v['value']}")
            count_var = next((i.values.resources.get("limits", {}) for i in plan.instances if i.service == service), {})
            for resource, count in count_var.items():
                if count == "{{ .Values.%s }}" % v["value"].rsplit(".", 1)[-1] and str(limits.get(resource)) != mark:
                    problems.append(f"{service} {resource} = {limits.get(resource)} does not follow {v['value']}")
    return problems


@pytest.mark.skipif(not (HEAD / FILES[0]).is_file(), reason="input-compose/ not present")
@pytest.mark.parametrize("rel", FILES)
def test_every_use_follows_the_one_value(rel, tmp_path):
    assert _check_file(HEAD / rel, tmp_path / "out") == []


def test_megaservice_model_follows_the_engine(tmp_path):
    """The engine owns the model id: the megaservice reads vllm.LLM_MODEL_ID, and an empty env
    file value gives both the engine rule's default."""
    src = tmp_path / "Ex" / "docker" / "gaudi" / "compose.yaml"
    src.parent.mkdir(parents=True)
    src.write_text(textwrap.dedent("""
        services:
          vllm-service:
            image: opea/vllm-gaudi:1.22.0
            runtime: habana
            environment:
              LLM_MODEL_ID: ${LLM_MODEL_ID}
              NUM_CARDS: ${NUM_CARDS}
            command: --model ${LLM_MODEL_ID} --tensor-parallel-size ${NUM_CARDS} --port 80
          ex-backend-server:
            image: opea/chatqna:latest
            depends_on: [vllm-service]
            ports: ["8888:8888"]
            environment:
              LLM_SERVER_HOST_IP: vllm-service
              LLM_MODEL: ${LLM_MODEL_ID}
    """))
    (src.parent / "set_env.env").write_text("LLM_MODEL_ID=\nNUM_CARDS=2\n")
    out = tmp_path / "out"
    result = convert([src], out)
    assert result.ok
    by_name = {v.name: v for v in result.plan.variables}
    assert by_name["LLM_MODEL_ID"].value == "vllm.LLM_MODEL_ID"
    assert by_name["LLM_MODEL_ID"].services == ("vllm-service", "ex-backend-server")
    assert by_name["NUM_CARDS"].value == "vllm.NUM_CARDS"
    umbrella = out / "helm-charts" / "ex"
    docs = render(TemplateOptions("ex", umbrella, [umbrella / "gaudi-values.yaml"],
                                  set_values=["vllm.NUM_CARDS=4"], set_strings=["vllm.LLM_MODEL_ID=org/m"]))
    objs = [d.obj for d in docs]
    mega_env, _, _ = _workload_texts(objs, "ex", "ex")
    env, words, limits = _workload_texts(objs, "ex", "ex-vllm")
    assert mega_env["LLM_MODEL"] == env["LLM_MODEL_ID"] == "org/m"
    assert words[words.index("--model") + 1] == "org/m"
    assert words[words.index("--tensor-parallel-size") + 1] == "4" and str(limits["habana.ai/gaudi"]) == "4"
    # Defaults: both sides serve and ask for the engine rule's default, not "" on one side.
    docs = render(TemplateOptions("ex", umbrella, [umbrella / "gaudi-values.yaml"]))
    objs = [d.obj for d in docs]
    default = _workload_texts(objs, "ex", "ex-vllm")[0]["LLM_MODEL_ID"]
    assert default and _workload_texts(objs, "ex", "ex")[0]["LLM_MODEL"] == default
    # No top-level key of its own is left to set and be ignored.
    assert "LLM_MODEL_ID" not in load_yaml((umbrella / "gaudi-values.yaml").read_text())


def test_two_charts_share_a_global_and_keep_their_own_keys(tmp_path):
    src = tmp_path / "Ex" / "docker" / "xeon" / "compose.yaml"
    src.parent.mkdir(parents=True)
    src.write_text(textwrap.dedent("""
        services:
          redis-vector-db:
            image: redis/redis-stack:7.2.0-v9
          dataprep-redis-service:
            image: opea/dataprep:latest
            environment:
              REDIS_URL: redis://redis-vector-db:6379
              INDEX_NAME: ${INDEX_NAME}
          retriever:
            image: opea/retriever:latest
            environment:
              REDIS_URL: redis://redis-vector-db:6379
              INDEX_NAME: ${INDEX_NAME}
    """))
    (src.parent / "set_env.env").write_text("INDEX_NAME=rag-redis\n")
    out = tmp_path / "out"
    result = convert([src], out)
    assert result.ok
    entry = next(v for v in result.plan.variables if v.name == "INDEX_NAME")
    assert entry.value == "global.INDEX_NAME"
    umbrella = out / "helm-charts" / "ex"
    overlay = umbrella / "cpu-values.yaml"

    def index_names(*sets):
        objs = [d.obj for d in render(TemplateOptions("ex", umbrella, [overlay], set_strings=list(sets)))]
        return [_workload_texts(objs, "ex", f"ex-{n}")[0]["INDEX_NAME"] for n in ("data-prep", "retriever-usvc")]

    assert index_names() == ["rag-redis", "rag-redis"]
    assert index_names("global.INDEX_NAME=docs") == ["docs", "docs"]
    # GenAIInfra's per-chart key still sets that chart alone.
    assert index_names("data-prep.INDEX_NAME=mine") == ["mine", "rag-redis"]


def test_verify_reports_a_use_that_does_not_follow(tmp_path, monkeypatch):
    """With the coupling undone (the megaservice keeps a value of its own), the one rendering still
    looks right, but verify's second rendering with changed values finds it."""
    from compose2helm.plan import plan as plan_module

    monkeypatch.setattr(plan_module.ServiceValues, "replace_text", lambda self, old, new: None)
    result = convert([HEAD / FILES[0]], tmp_path / "out")
    fields = {d.field for s in result.verification.services for d in s.unexplained}
    assert "coupling.env.LLM_MODEL" in fields


def test_explain_lists_every_variable_with_its_value():
    report = as_dict([explain_files([HEAD / FILES[0]])])
    by_name = {v["name"]: v for v in report["variables"]}
    assert by_name["LLM_MODEL_ID"]["value"] == "vllm.LLM_MODEL_ID"
    assert by_name["LLM_MODEL_ID"]["services"] == ["vllm-service", "chatqna-gaudi-backend-server"]
    assert by_name["INDEX_NAME"]["value"] == "global.INDEX_NAME"
    assert by_name["NUM_CARDS"]["value"] == "vllm.NUM_CARDS"
    assert by_name["http_proxy"]["value"] == "global.http_proxy"
    assert by_name["MODEL_CACHE"]["value"] == "global.modelUseHostPath"
    assert all(v["file"] for v in report["variables"])
    assert report["files"][0]["variables"][0]["name"] == sorted(by_name)[0]


# --- property: shared variables across generated services -----------------------------------------

_NAMES = ["MODEL_A", "LEVEL", "INDEX", "MAX_TOKENS"]


@st.composite
def _shared_docs(draw):
    n = draw(st.integers(2, 4))
    lines = ["services:"]
    env_lines = []
    for name in _NAMES:
        if draw(st.booleans()):
            env_lines.append(f"{name}={draw(st.sampled_from(['', 'x1', 'org/model', '7']))}")
    for i in range(n):
        lines += [f"  svc{i}:", f"    image: example.org/app{i}:1.0", "    environment:"]
        used = draw(st.lists(st.sampled_from(_NAMES), min_size=1, max_size=3, unique=True))
        for name in used:
            form = draw(st.sampled_from(["${%s}", "${%s:-d%d}" % ("%s", i), "pre-${%s}"]))
            lines.append(f"      {name}_{draw(st.sampled_from(['A', 'B']))}: \"{form % name}\"")
        if draw(st.booleans()):
            name = draw(st.sampled_from(_NAMES))
            lines.append(f"    command: [\"--opt\", \"${{{name}}}\"]")
    return "\n".join(lines) + "\n", "\n".join(env_lines) + "\n"


@pytest.mark.slow
@settings(max_examples=40, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(doc=_shared_docs())
def test_generated_shared_variables_follow_their_value(doc, tmp_path_factory):
    text, env = doc
    root = tmp_path_factory.mktemp("couple")
    src = root / "Ex" / "docker" / "xeon" / "compose.yaml"
    src.parent.mkdir(parents=True)
    src.write_text(text)
    (src.parent / "set_env.env").write_text(env)
    assert _check_file(src, root / "out") == []


@pytest.mark.parametrize("spare", [True, False])
def test_the_marked_rendering_finds_the_same_beside_its_overlay_or_after_it(tmp_path, monkeypatch, spare):
    """A process with a core to spare renders the marked overlay at once and whole; a migrate
    worker renders it after the overlay, without what the check does not read. Same findings."""
    from compose2helm.pipeline import umbrella
    from compose2helm.plan import plan as plan_module

    monkeypatch.setattr(umbrella, "SPARE_CORE", spare)
    calls = []
    real = umbrella._render_marked
    monkeypatch.setattr(umbrella, "_render_marked", lambda *a: calls.append(1) or real(*a))
    good = convert([HEAD / FILES[0]], tmp_path / "a")
    assert good.ok and (calls != []) is (not spare)
    monkeypatch.setattr(plan_module.ServiceValues, "replace_text", lambda self, old, new: None)
    result = convert([HEAD / FILES[0]], tmp_path / "b")
    assert {d.field for s in result.verification.services for d in s.unexplained} >= {"coupling.env.LLM_MODEL"}
