"""`compose2helm explain`: every compose key of every service is accounted for, none silently."""
from __future__ import annotations

import dataclasses
import fnmatch
import functools
import json
import textwrap
from pathlib import Path

import pytest
from conftest import call_cli, CORPUS, FIXTURES, load_yaml, needs_shared

from compose2helm.errors import InputError
from compose2helm.pipeline.explain import explain_files, explain_tree, summary
from compose2helm.plan.explanation import NOT_CARRIED, explain_plan
from compose2helm.plan.findings import POLICY_NO_MEANING, POLICY_PROXY, POLICY_SECRET, POLICY_UNKNOWN
from compose2helm.plan.plan import ServiceValues
from compose2helm.plan.rules import image_repository, load_rules


ACTIONS = {"carried", "changed", "dropped", "added", "unresolved"}

COMPOSE = """\
services:
  tgi-service:
    image: ghcr.io/huggingface/text-generation-inference:2.4.0-intel-cpu
    build:
      context: .
    container_name: tgi-server
    ports:
      - "8008:80"
    environment:
      HF_TOKEN: ${HF_TOKEN}
      http_proxy: ${http_proxy}
      PLAIN: "1"
    command: --model-id ${LLM_MODEL_ID}
    working_dir: /srv
    privileged: false
  mystery:
    image: example.com/acme/mystery:1.0
    expose:
      - "7000"
    labels:
      team: a
    stop_grace_period: 10s
"""


def write(tmp_path: Path, text: str = COMPOSE) -> Path:
    src = tmp_path / "Ex" / "docker" / "xeon" / "compose.yaml"
    src.parent.mkdir(parents=True, exist_ok=True)
    src.write_text(textwrap.dedent(text))
    return src


def by_key(report):
    return {s.service: {k.key: k for k in s.keys} for s in report.services}


run = call_cli


def test_fixture_actions(tmp_path):
    report = explain_files([write(tmp_path)])
    services = {s.service: s for s in report.services}
    tgi, mystery = services["tgi-service"], services["mystery"]
    assert tgi.rule == "mappings/tgi.yaml" and not tgi.generic and tgi.chart == "tgi"
    assert mystery.generic and mystery.rule == "generic"

    keys = by_key(report)["tgi-service"]
    assert set(keys) >= {"build", "command", "container_name", "environment", "image", "ports", "privileged",
                         "working_dir"}
    assert keys["image"].action == "carried" and "text-generation-inference" in keys["image"].detail
    assert keys["command"].action == "carried" and keys["command"].detail.startswith("args")
    assert keys["working_dir"].action == "carried" and keys["working_dir"].detail == "workingDir /srv"
    assert keys["privileged"].action == "carried" and "false" in keys["privileged"].detail
    assert (keys["container_name"].action, keys["container_name"].rule) == ("dropped", POLICY_NO_MEANING)
    assert keys["ports"].action == "changed" and "host port" in keys["ports"].detail
    # mapping ignores build when there is an image, and says nothing: explain must not.
    assert (keys["build"].action, keys["build"].detail, keys["build"].rule, keys["build"].source) == (
        "dropped", NOT_CARRIED, POLICY_UNKNOWN, "explain")
    env = keys["environment"]
    assert env.action == "carried" and "ConfigMap" in env.detail
    subs = {e.key: e for e in env.entries}
    assert subs["environment.HF_TOKEN"].rule == POLICY_SECRET
    assert (subs["environment.http_proxy"].action, subs["environment.http_proxy"].rule) == ("changed", POLICY_PROXY)
    assert "environment.PLAIN" not in subs          # carried as is: no entry of its own

    keys = by_key(report)["mystery"]
    assert (keys["image"].action, keys["image"].rule) == ("changed", "generic")
    assert keys["expose"].action == "carried" and "7000" in keys["expose"].detail
    for key in ("labels", "stop_grace_period"):
        assert (keys[key].action, keys[key].rule, keys[key].source) == ("dropped", POLICY_UNKNOWN, "mapping")
    # the rule's probe stands in for the missing healthcheck: listed, marked as not from compose
    # keys the conversion adds: the rule's probes, and the capabilities an image no rule knows keeps
    # (Kubernetes' baseline set, what Docker gave it)
    assert all(k.in_compose for k in keys.values() if k.key not in ("healthcheck", "capabilities"))
    assert keys["capabilities"].action == "added" and "CHOWN" in keys["capabilities"].detail


def _prepared(src: Path):
    from compose2helm.plan.prepare import prepare
    return prepare([src])


def test_no_key_is_left_out_even_without_findings(tmp_path):
    """With every finding removed, keys the table does not carry still get an entry: dropped."""
    p = _prepared(write(tmp_path))
    plan = dataclasses.replace(p.plan, findings=[])
    reports = {s.service: {k.key: k for k in s.keys} for s in explain_plan(plan, p.project, p.rules.policy)}
    for name, service in p.project.services.items():
        assert set(service.keys) <= set(reports[name])
    assert reports["tgi-service"]["container_name"].action == "dropped"
    assert reports["tgi-service"]["container_name"].detail == NOT_CARRIED
    assert reports["mystery"]["labels"].rule == POLICY_UNKNOWN


def test_carried_only_when_the_values_show_it(tmp_path):
    """A table entry is checked against the values: an env var missing from them is reported."""
    p = _prepared(write(tmp_path))
    inst = next(i for i in p.plan.instances if i.service == "tgi-service")
    tree = inst.values.as_dict()
    tree["env"] = {k: v for k, v in tree["env"].items() if k != "PLAIN"}
    del tree["workingDir"]
    inst.values = ServiceValues(tree)
    reports = {s.service: {k.key: k for k in s.keys} for s in explain_plan(p.plan, p.project, p.rules.policy)}
    keys = reports["tgi-service"]
    plain = next(e for e in keys["environment"].entries if e.key == "environment.PLAIN")
    assert (plain.action, plain.rule, plain.source) == ("dropped", POLICY_UNKNOWN, "explain")
    assert keys["working_dir"].action == "dropped"


def test_deploy_parts_and_accelerator(tmp_path):
    src = write(tmp_path, """\
        services:
          tgi:
            image: ghcr.io/huggingface/tgi-gaudi:2.0.6
            runtime: habana
            environment:
              HABANA_VISIBLE_DEVICES: all
            deploy:
              replicas: 2
              resources:
                limits:
                  memory: 2g
          exporter:
            image: prom/node-exporter:v1.8.2
            deploy:
              mode: global
        """)
    keys = by_key(explain_files([src]))
    tgi = keys["tgi"]
    # the device plugin replaces the runtime: the key says how, the drop of the runtime is listed under it
    assert tgi["runtime"].action == "changed" and "habana.ai/gaudi" in tgi["runtime"].detail
    assert [e.action for e in tgi["runtime"].entries] == ["dropped"]
    assert tgi["deploy"].action == "carried" and "replicaCount 2" in tgi["deploy"].detail
    assert "resources.limits" in tgi["deploy"].detail
    env = {e.key: e for e in tgi["environment"].entries}
    assert env["environment.HABANA_VISIBLE_DEVICES"].action == "dropped"
    assert tgi["environment"].action == "dropped"        # its only entry was dropped
    exporter = keys["exporter"]["deploy"]
    assert exporter.action == "changed" and [e.key for e in exporter.entries] == ["deploy.mode"]


def _check(report) -> None:
    """Every entry has a known action; every drop says why and names a rule or policy."""
    for s in report.services:
        assert s.rule, s.service
        for k in s.keys:
            for item in [k, *k.entries]:
                assert item.action in ACTIONS, (report.file, s.service, item)
                if item.action == "dropped":
                    assert item.detail and item.rule, (report.file, s.service, item)


def test_input_compose_every_key_explained():
    reports = explain_tree(FIXTURES)
    explained = [r for r in reports if r.status == "explained"]
    assert explained and not [r for r in reports if r.status == "rejected"]
    for r in explained:
        assert r.services
        _check(r)
        for s in r.services:
            keys = [k.key for k in s.keys if k.in_compose]
            assert len(keys) == len(set(keys)) and "image" in keys


@functools.lru_cache(maxsize=None)
def _raw_services(file: Path) -> dict:
    """The services mapping of a compose file as written, parsed once per file (the corpus test asks for every
    service of a file, and the files repeat across base/overlay jobs)."""
    return (load_yaml(file.read_text(encoding="utf-8")) or {}).get("services") or {}


def _raw_keys(file: Path, name: str) -> set[str]:
    svc = _raw_services(file).get(name) or {}
    return {str(k) for k in svc} - {"extends"}


@pytest.mark.slow
@needs_shared
def test_corpus_no_key_silently_dropped():
    from compose2helm.pipeline.migrate import discover
    from compose2helm.plan.prepare import prepare

    rules = load_rules()
    jobs, _ = discover(CORPUS)
    assert len(jobs) > 100
    patterns = [(r.file, p) for r in rules.rules for p in r.images]
    explained = 0
    for job in jobs:
        try:
            p = prepare(job.files, variant=job.variant, rules=rules)
        except InputError:      # bad input may be rejected; anything else is a bug and fails here
            continue
        explained += 1
        services = explain_plan(p.plan, p.project, rules.policy)
        for s in services:
            model = p.project.services[s.service]
            # the loader records every key the declaring file wrote (extends and overlays may add more)
            assert _raw_keys(model.file, s.service) <= set(model.keys), (job.files, s.service)
            listed = [k.key for k in s.keys if k.in_compose]
            assert sorted(listed) == sorted(model.keys), (job.files, s.service)
            for k in s.keys:
                for item in [k, *k.entries]:
                    assert item.action in ACTIONS
                    if item.action == "dropped":
                        assert item.detail and item.rule, (job.files, s.service, item)
            if s.generic:
                # a chart built from the service only for images no mapping rule lists
                repo = image_repository(s.image)
                known = [f for f, pat in patterns if fnmatch.fnmatchcase(repo, pat)]
                assert not known, f"{s.service} ({s.image}) in {job.files[-1]} falls to generic despite {known}"
    assert explained > 100


@pytest.mark.slow
@needs_shared
def test_corpus_summary_counts():
    reports = explain_tree(CORPUS)
    s = summary(reports)
    assert s["rejected"] == 0 and s["explained"] > 100
    assert sum(s["services_per_rule"].values()) == s["services"]
    assert s["services_per_rule"].get("generic", 0) == len(s["generic"])
    assert s["dropped_without_finding"] == {}, s["dropped_without_finding"]
    for r in reports:
        _check(r)


def test_cli_table_json_summary(tmp_path):
    src = write(tmp_path)
    r = run("explain", str(src))
    assert r.returncode == 0, r.stderr
    assert "tgi-service" in r.stdout and "not carried" in r.stdout

    r = run("explain", str(src), "--format", "json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    services = {s["service"]: s for f in data["files"] for s in f["services"]}
    build = next(k for k in services["tgi-service"]["keys"] if k["key"] == "build")
    assert build["action"] == "dropped" and build["rule"] == POLICY_UNKNOWN
    assert data["summary"]["generic"] == [{"service": "mystery", "file": str(src), "image":
                                           "example.com/acme/mystery:1.0", "chart": "mystery"}]
    assert data["summary"]["dropped_without_finding"] == {"build": 1}

    r = run("explain", str(FIXTURES), "--summary", "--format", "json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert set(data) == {"summary"} and data["summary"]["services"] > 0

    r = run("explain", str(FIXTURES), "--summary")
    assert r.returncode == 0, r.stderr
    assert "services per rule" in r.stdout and "dropped keys by reason" in r.stdout


@pytest.mark.parametrize("args, message", [
    (["missing.yaml"], "no such file"),
    (["{src}", "--format", "xml"], "--format must be text or json"),
    (["{dir}", "-f", "{src}"], "apply to compose files"),
])
def test_cli_bad_input(tmp_path, args, message):
    src = write(tmp_path)
    r = run("explain", *[a.format(src=src, dir=tmp_path) for a in args])
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("compose2helm: error:") and message in lines[0], r.stderr


def test_cli_bad_compose_one_line(tmp_path):
    src = write(tmp_path, "services:\n  a:\n    image: x\n    ports: ['99999']\n")
    r = run("explain", str(src))
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
