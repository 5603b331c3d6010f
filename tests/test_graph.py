"""`compose2helm graph`: the components and the calls the endpoint rewrite found, drawn."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest

from conftest import CORPUS, FIXTURES, load_yaml_all, needs_shared
from compose2helm.pipeline.convert import convert
from compose2helm.pipeline.draw import draw
from compose2helm.plan import graph
from compose2helm.plan.prepare import prepare
from compose2helm.plan.rules import load_rules
from compose2helm.verify.records import WORKLOAD_KINDS, ObjectIndex, workload_record

GAUDI = FIXTURES / "ChatQnA/docker_compose/intel/hpu/gaudi/compose.yaml"
XEON_TGI = FIXTURES / "ChatQnA/docker_compose/intel/cpu/xeon/compose_tgi.yaml"


def _edges_in_manifest(manifest: Path, release: str, mega: str) -> set[tuple[str, str, str]]:
    """(caller, callee, key) for every env value or flag argument in the rendered workloads that
    names another workload's Service: what the rewrite made, read back from the manifest."""
    objects = [d for d in load_yaml_all(manifest.read_text()) if d]
    index = ObjectIndex(objects)
    policy = load_rules().policy
    workloads = [o for o in objects if o["kind"] in WORKLOAD_KINDS]
    # workload (and Service) name -> node id: <release>-<values key>, the megaservice <release>
    names = {o["metadata"]["name"]: o["metadata"]["name"][len(release) + 1:] or mega for o in workloads}
    found = set()
    for w in workloads:
        caller = w["metadata"]["name"]
        rec = workload_record(w, index, policy)
        keyed = [(k[4:], str(v)) for k, v in rec.items() if k.startswith("env.")]
        args = rec["command"] + rec["args"]
        keyed += [(args[i - 1] if i and args[i - 1].startswith("-") else f"args[{i}]", a) for i, a in enumerate(args)]
        for key, text in keyed:
            for dns in names:
                if dns != caller and re.search(rf"(?<![\w.-]){re.escape(dns)}(?![\w-])", text):
                    found.add((names[caller], names[dns], key))
    return found


@pytest.mark.parametrize("src", [GAUDI, XEON_TGI], ids=["gaudi", "xeon-tgi"])
def test_every_edge_is_a_rewritten_address_in_the_manifest_and_back(tmp_path, src):
    # A release name no compose value contains: the megaservice's Service is named after it, and
    # the default (chatqna) is also a plain word in nginx's BACKEND_SERVICE_NAME.
    result = convert([src], tmp_path, release="rel-under-test")
    drawn = {(e.source, e.target, e.via) for e in graph.build(result.plan).edges}
    assert drawn == _edges_in_manifest(tmp_path / result.manifest, result.release, result.plan.chart)


def test_chatqna_gaudi_picture():
    g = graph.build(prepare([GAUDI]).plan)
    nodes = {n.id: n for n in g.nodes}
    assert [n.id for n in g.nodes if n.entry] == ["nginx"]
    assert (nodes["vllm"].accelerator, nodes["vllm"].count) == ("habana.ai/gaudi", 1)
    assert nodes["chatqna"].chart == "chatqna" and nodes["chatqna"].ports == (8888,)
    edges = {(e.source, e.target, e.via): e.port for e in g.edges}
    assert edges[("chatqna", "vllm", "LLM_SERVER_HOST_IP")] == 80
    assert edges[("nginx", "chatqna", "BACKEND_SERVICE_IP")] == 8888
    text = graph.mermaid(g)
    assert text.startswith("flowchart LR\n") and 'n_chatqna -- "LLM_SERVER_HOST_IP :80" --> n_vllm' in text
    # two keys that make the same call are one arrow naming both
    assert 'n_data_prep -- "REDIS_HOST, REDIS_URL :6379" --> n_redis_vector_db' in text
    assert json.loads(graph.as_json(g))["edges"][0].keys() == {"source", "target", "via", "port"}
    assert graph.dot(g).startswith('digraph "ChatQnA on gaudi')


def _plain(tmp_path: Path, text: str) -> Path:
    src = tmp_path / "Shop" / "docker" / "xeon" / "compose.yaml"
    src.parent.mkdir(parents=True)
    src.write_text(textwrap.dedent(text))
    return src


def test_profiles_are_dashed_and_outside_servers_are_their_own_node(tmp_path):
    src = _plain(tmp_path, """
        services:
          web:
            image: example.com/shop/web:1.0
            ports: ["8080:80"]
            environment:
              API_URL: http://api:9000
              LLM_ENDPOINT: http://${host_ip}:9009
          api:
            image: example.com/shop/api:1.0
            ports: ["9000:9000"]
          debug:
            image: example.com/shop/debug:1.0
            profiles: [debug]
            environment:
              TARGET: http://api:9000
        """)
    g = graph.build(prepare([src]).plan)
    nodes = {n.id: n for n in g.nodes}
    assert nodes["debug"].enabled is False and nodes["EXTERNAL_HOST"].external
    assert {(e.source, e.target) for e in g.edges} == {("web", "api"), ("debug", "api"), ("web", "EXTERNAL_HOST")}
    text = graph.mermaid(g)
    assert "class n_debug off" in text and 'n_EXTERNAL_HOST[("external server' in text


def test_output_is_deterministic(tmp_path):
    assert draw([GAUDI]) == draw([GAUDI])
    assert draw([GAUDI], "json") == draw([GAUDI], "json")


@needs_shared
@pytest.mark.slow
def test_every_shared_file_draws():
    from compose2helm.pipeline.migrate import discover
    jobs, _skipped = discover(CORPUS)
    assert len(jobs) > 100
    for job in jobs:
        for fmt in graph.FORMATS:
            assert draw(list(job.files), fmt), job.files


def _mmdc() -> list[str] | None:
    local = Path(os.environ.get("MMDC", "/opt/mmdc/node_modules/.bin/mmdc"))
    found = shutil.which("mmdc") or (str(local) if local.is_file() else None)
    chromium = shutil.which("chromium")
    return [found] if found and chromium else None


@pytest.mark.slow
@pytest.mark.skipif(_mmdc() is None, reason="mermaid's renderer (mmdc) and chromium are not installed")
def test_mermaid_renders_in_mermaids_own_renderer(tmp_path):
    config = tmp_path / "pp.json"
    config.write_text(json.dumps({"executablePath": shutil.which("chromium"), "args": ["--no-sandbox"]}))
    for i, src in enumerate([GAUDI, XEON_TGI]):
        (tmp_path / f"g{i}.mmd").write_text(draw([src]))
        r = subprocess.run(_mmdc() + ["-i", str(tmp_path / f"g{i}.mmd"), "-o", str(tmp_path / f"g{i}.svg"),
                                      "-p", str(config)], capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        svg = (tmp_path / f"g{i}.svg").read_text()
        assert "Syntax error" not in svg and "LLM_SERVER_HOST_IP" in svg


def test_umbrella_readme_carries_each_overlays_diagram_across_conversions(tmp_path):
    """Converting one file into an umbrella keeps the diagrams of the overlays converted before."""
    convert([GAUDI], tmp_path)
    convert([XEON_TGI], tmp_path)
    readme = (tmp_path / "helm-charts/chatqna/README.md").read_text()
    for src, overlay in ((GAUDI, "gaudi-values.yaml"), (XEON_TGI, "cpu-tgi-values.yaml")):
        block = re.search(rf"<!-- diagram of {re.escape(overlay)} -->\n```mermaid\n(.*?)```\n", readme, re.S)
        assert block and block.group(1) == draw([src]), overlay


def test_committed_umbrella_readmes_carry_a_diagram_per_overlay():
    for chart in sorted((FIXTURES.parent / "helm-charts").iterdir()):
        if chart.name == "common":
            continue
        readme = (chart / "README.md").read_text()
        overlays = sorted(p.name for p in chart.glob("*-values.yaml"))
        assert overlays and re.findall(r"<!-- diagram of (\S+) -->", readme) == overlays, chart.name


def test_common_chart_readmes_name_their_callers(tmp_path):
    """Each common chart's README lists the components that call it, per umbrella: the diagram's
    edges, read from the same plan; a second file of the example adds its callers to the first's."""
    from compose2helm.chart.docs import parse_callers

    out = tmp_path / "out"
    expected: dict[str, set[str]] = {}
    for f in (GAUDI, XEON_TGI):
        r = convert([f], out)
        assert r.ok
        g = graph.build(r.plan)
        comp = {n.id: n.chart for n in g.nodes}
        for e in g.edges:
            if comp[e.target] != r.plan.chart:      # the megaservice is the umbrella, not a common chart
                expected.setdefault(comp[e.target], set()).add(e.source)
    assert expected
    for component, callers in expected.items():
        listed = parse_callers((out / "helm-charts/common" / component / "README.md").read_text())
        assert listed == {"chatqna": callers}, component
    # A chart nobody calls says so.
    assert "None so far" in (out / "helm-charts/common/nginx/README.md").read_text()


def test_migrate_completes_callers_whatever_the_workers(tmp_path):
    """Examples convert in parallel workers writing the same common charts: after the run every
    README has every example's callers, as when converting in one process."""
    from compose2helm.pipeline.migrate import migrate

    tree = tmp_path / "tree"
    for rel in ("ChatQnA/docker_compose/intel/hpu/gaudi", "CodeGen/docker_compose/intel/hpu/gaudi"):
        (tree / rel).mkdir(parents=True)
        shutil.copy(FIXTURES / rel / "compose.yaml", tree / rel)
    shutil.copy(FIXTURES / "ChatQnA/docker_compose/intel/hpu/gaudi/set_env.sh", tree / "ChatQnA/docker_compose/intel/hpu/gaudi")
    shutil.copy(FIXTURES / "CodeGen/docker_compose/intel/set_env.sh", tree / "CodeGen/docker_compose/intel")
    one, two = tmp_path / "one", tmp_path / "two"
    migrate(tree, one, jobs=1)
    migrate(tree, two, jobs=2)
    a = (one / "helm-charts/common/vllm/README.md").read_text()
    assert a == (two / "helm-charts/common/vllm/README.md").read_text()
    from compose2helm.chart.docs import parse_callers
    assert set(parse_callers(a)) == {"chatqna", "codegen"}
