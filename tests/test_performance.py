"""The fast paths (benchmarks/run.py) give what the plain paths give."""
from __future__ import annotations

import itertools
import textwrap
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from conftest import EXAMPLES, load_yaml

from compose2helm.compose import read
from compose2helm.errors import InputError
from compose2helm.helm import lint as helm_lint
from compose2helm.helm import render
from compose2helm.pipeline.migrate import migrate


@pytest.fixture(scope="module")
def migrated(tmp_path_factory):
    out = tmp_path_factory.mktemp("out")
    migrate(EXAMPLES, out, jobs=1)
    return out


def _whole(monkeypatch, chart: Path, values: dict, release: str):
    with monkeypatch.context() as m:
        m.setattr(render, "_chunk_plan", lambda *a: None)
        return render.render_chart(chart, values, release)


def test_an_umbrella_renders_the_same_in_parts(migrated, monkeypatch):
    """Parts of one dependency each (the size only matters above 100 dependencies)."""
    umbrella = migrated / "helm-charts" / "chatqna"
    for overlay in sorted(umbrella.glob("*-values.yaml")):
        values = load_yaml(overlay.read_text(encoding="utf-8"))
        monkeypatch.setattr(render, "_CHUNK", 1)
        assert render._chunk_plan(umbrella.resolve(), values) is not None
        parts = render.render_chart(umbrella, values, "chatqna")
        assert [(d.source, d.text) for d in parts] == \
            [(d.source, d.text) for d in _whole(monkeypatch, umbrella, values, "chatqna")]


def test_parts_are_not_used_when_subcharts_could_depend_on_each_other(migrated, monkeypatch):
    umbrella = (migrated / "helm-charts" / "chatqna").resolve()
    monkeypatch.setattr(render, "_CHUNK", 1)
    assert render._chunk_plan(umbrella, {}) is not None
    assert render._chunk_plan(umbrella, {"global": {"proxy": {"http": "x"}}}) is None   # a nested global


def test_disabled_dependencies_are_left_out_and_render_the_same(migrated, monkeypatch):
    umbrella = migrated / "helm-charts" / "chatqna"
    for overlay in sorted(umbrella.glob("*-values.yaml")):
        values = load_yaml(overlay.read_text(encoding="utf-8"))
        off = render.disabled_dependencies(umbrella, values)
        assert off and all(not (values.get(n) or {}).get("enabled") for n in off)
        pruned = render.render_chart(umbrella, values, "chatqna")
        with monkeypatch.context() as m:
            m.setattr(render, "disabled_dependencies", lambda *a: frozenset())
            whole = render.render_chart(umbrella, values, "chatqna")
        assert [(d.source, d.text) for d in pruned] == [(d.source, d.text) for d in whole]


def _umbrella(tmp_path: Path, deps: list[dict], values: dict, sub_values: str = "") -> Path:
    sub = tmp_path / "sub"
    (sub / "templates").mkdir(parents=True)
    (sub / "Chart.yaml").write_text("apiVersion: v2\nname: sub\nversion: 0.1.0\n")
    (sub / "values.yaml").write_text(sub_values)
    top = tmp_path / "top"
    top.mkdir()
    (top / "Chart.yaml").write_text(yaml.safe_dump({"apiVersion": "v2", "name": "top", "version": "0.1.0",
                                                    "dependencies": deps}))
    (top / "values.yaml").write_text(yaml.safe_dump(values))
    return top


def _dep(alias: str = "", **more) -> dict:
    key = alias or "sub"
    return {"name": "sub", "version": "0.1.0", "repository": "file://../sub", "alias": alias,
            "condition": f"{key}.enabled", **more}


@pytest.mark.parametrize("deps, defaults, given, sub_values, off", [
    ([_dep()], {"sub": {"enabled": False}}, {}, "", {"sub"}),
    ([_dep()], {"sub": {"enabled": False}}, {"sub": {"enabled": True}}, "", set()),
    ([_dep()], {}, {}, "enabled: false\n", {"sub"}),                          # the chart's own default
    ([_dep()], {"sub": {"enabled": True}}, {}, "enabled: false\n", set()),    # the parent's wins
    ([_dep()], {"sub": {"enabled": False}}, {"sub": None}, "", set()),         # null: Helm's rules, kept
    ([_dep()], {"sub": {"enabled": False}}, {"sub": {"enabled": "no"}}, "", set()),   # not a boolean
    ([_dep()], {}, {}, "", set()),                                             # no condition value
    ([_dep(condition="sub.enabled,x.on")], {"sub": {"enabled": False}}, {}, "", set()),
    ([_dep(tags=["t"])], {"sub": {"enabled": False}}, {}, "", set()),
    ([_dep(**{"import-values": ["a"]})], {"sub": {"enabled": False}}, {}, "", set()),
    ([_dep("a"), _dep("b")], {"a": {"enabled": False}, "b": {"enabled": True}}, {}, "", set()),   # b needs it
    ([_dep("a"), _dep("b")], {"a": {"enabled": True}, "b": {"enabled": False}}, {}, "", set()),   # a needs it
    ([_dep("a"), _dep("b")], {"a": {"enabled": False}}, {"b": {"enabled": False}}, "", {"sub"}),
])
def test_only_plainly_disabled_dependencies_are_left_out(tmp_path, deps, defaults, given, sub_values, off):
    top = _umbrella(tmp_path, deps, defaults, sub_values)
    assert render.disabled_dependencies(top, given) == off


def test_rendered_objects_are_copies(migrated):
    umbrella = migrated / "helm-charts" / "chatqna"
    values = load_yaml((umbrella / "cpu-tgi-values.yaml").read_text(encoding="utf-8"))
    first = render.render_chart(umbrella, values, "chatqna")
    first[0].obj["metadata"]["name"] = "changed"
    assert render.render_chart(umbrella, values, "chatqna")[0].obj["metadata"]["name"] != "changed"


@pytest.mark.parametrize("text", [
    "services:\n  a:\n    image: x\n    environment:\n      A: False\n      B: 1.0\n      C: 017\n    restart: no\n",
    "x-c: &c\n  image: x\n  environment: &e\n    A: 1\nservices:\n  a:\n    <<: *c\n    environment:\n"
    "      <<: *e\n      B: yes\n",
    "services:\n  a:\n    image: x\n    ports: [22:22, \"80:80\"]\n    labels: {k: 2024-01-01, l: .inf}\n",
    "services:\n  a:\n    image: x\n    image: y\n",                # duplicate key: the same error
    "services:\n  a:\n    image: \"\\ud83d\"\n",                  # lone surrogate: the same error
    "services:\n  a:\n    image:\tx\n",                           # a tab: PyYAML's reading
    "services:\n  a:\n    image: [x\n",                            # bad YAML: the same error
    "services:\n  a: {image: x}\n---\nservices: {}\n",             # two documents: the same error
])
def test_libyaml_reads_compose_files_as_the_python_loader_does(tmp_path, monkeypatch, text):
    f = tmp_path / "compose.yaml"
    f.write_text(text, encoding="utf-8")

    def outcome():
        try:
            return "ok", read.read_yaml(f)
        except InputError as exc:
            return "error", str(exc)

    fast = outcome()
    monkeypatch.setattr(read, "_CYamlLoader", None)
    assert fast == outcome()


def test_verify_compares_as_deepdiff_does():
    from deepdiff import DeepDiff

    from compose2helm.verify.check import _same
    values = [None, 0, 1, True, False, 1.0, -0.0, "1", "", [], [1], [1.0], [1, 2], [2, 1], (1,), {}, {"a": 1},
              {"a": 1.0}, {"a": True}, {"a": [1, {"b": "x"}]}, {"a": [1, {"b": "y"}]}, {1: "a"}, {True: "a"},
              float("nan"), [float("nan")], {"a": None}, {"b": None}, {"a": 1, "b": 2}, {"b": 2, "a": 1}]
    for a, b in itertools.product(values, values):
        assert _same(a, b) == (not DeepDiff(a, b, ignore_order=False)), (a, b)


def test_migrate_lints_each_umbrella_as_written(migrated):
    """Every file's outcome counts the lint of the umbrella it was converted into."""
    from compose2helm.helm.lint import lint_chart
    for chart in ("chatqna", "codegen"):
        assert [m for m in lint_chart(migrated / "helm-charts" / chart) if m.severity == "error"] == []


def test_migrate_reports_umbrella_lint_errors_for_every_file(tmp_path, monkeypatch):
    src = tmp_path / "in" / "Ex" / "docker"
    for platform in ("xeon", "gaudi"):
        (src / platform).mkdir(parents=True)
        (src / platform / "compose.yaml").write_text(textwrap.dedent("""
            services:
              web:
                image: nginx:1.25
                ports: ["8080:80"]
            """))
    linted = []

    def lint(tmp, target):
        with tmp:
            linted.append(target.name)
            return [helm_lint.LintMessage("error", "Chart.yaml", "broken")] if target.name == "ex" else []

    monkeypatch.setattr(helm_lint, "_lint_assembled", lint)
    monkeypatch.setattr(helm_lint, "_LINTED", {})
    report = migrate(tmp_path / "in", tmp_path / "out", jobs=1)
    assert [o.status for o in report.outcomes] == ["unverified", "unverified"]
    assert all("helm-charts/ex: Chart.yaml: broken" in o.unexplained_detail for o in report.outcomes)
    assert linted.count("ex") == 1


_READ = ("ConfigMap", "Secret", "Deployment", "StatefulSet", "DaemonSet")


def _read_objects(docs) -> list[tuple[str, str]]:
    from compose2helm.helm.documents import is_test_hook
    return sorted((d.source, d.text) for d in docs if d.obj.get("kind") in _READ and not is_test_hook(d))


@pytest.mark.parametrize("chunk", [None, 1])
def test_the_marked_rendering_leaves_out_only_what_coupling_does_not_read(migrated, monkeypatch, chunk):
    """verify/coupling.py's second rendering carries only the templates that made workloads, their
    ConfigMaps and Secrets (or nothing): those objects come out as in the whole rendering, in one
    pass and in parts."""
    from compose2helm.verify.coupling import unread_templates
    if chunk:
        monkeypatch.setattr(render, "_CHUNK", chunk)
    umbrella = migrated / "helm-charts" / "chatqna"
    for overlay in sorted(umbrella.glob("*-values.yaml")):
        values = load_yaml(overlay.read_text(encoding="utf-8"))
        whole = render.render_chart(umbrella, values, "chatqna")
        skip = unread_templates(whole)
        kinds = {d.obj["kind"] for d in whole if d.source in skip}
        assert {"Service", "NetworkPolicy"} <= kinds and not kinds & {"ConfigMap", "Deployment"}
        part = render.render_chart(umbrella, values, "chatqna", skip=skip)
        assert _read_objects(part) == _read_objects(whole)
        assert not {d.source for d in part} & skip


def test_a_template_is_left_out_only_when_no_alias_and_no_include_needs_it(tmp_path):
    top = _umbrella(tmp_path, [_dep("a"), _dep("b")], {"a": {"enabled": True, "n": "a"},
                                                       "b": {"enabled": True, "n": "b"}}, "n: x\n")
    sub = tmp_path / "sub"
    (sub / "templates" / "svc.yaml").write_text(
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: {{ .Values.n }}\n")
    # a named template defined outside a partial: left in, whatever skip says
    (sub / "templates" / "defs.yaml").write_text(
        '{{- define "sub.label" }}from-defs{{ end }}\n'
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: d-{{ .Values.n }}\n")
    (sub / "templates" / "cm.yaml").write_text(
        'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Values.n }}\ndata:\n  l: {{ include "sub.label" . }}\n')

    def sources(skip):
        return sorted(d.source for d in render.render_chart(top, {}, "r", skip=frozenset(skip)))

    every = sources(())
    assert "top/charts/a/templates/svc.yaml" in every and "top/charts/b/templates/svc.yaml" in every
    # b's Service comes from the same file: the file stays
    assert sources({"top/charts/a/templates/svc.yaml"}) == every
    both = {"top/charts/a/templates/svc.yaml", "top/charts/b/templates/svc.yaml"}
    assert sources(both) == [s for s in every if s not in both]
    defs = {f"top/charts/{k}/templates/defs.yaml" for k in "ab"}
    assert sources(both | defs) == [s for s in every if s not in both]
    cms = [d.obj for d in render.render_chart(top, {}, "r", skip=frozenset(both | defs)) if d.obj["kind"] == "ConfigMap"]
    assert [c["data"]["l"] for c in cms] == ["from-defs", "from-defs"]


_LABELS = st.dictionaries(st.sampled_from(["app", "tier", "x"]), st.sampled_from(["a", "b", "c"]), max_size=3)
_SELECTOR = st.one_of(st.none(), st.fixed_dictionaries({}, optional={
    "matchLabels": _LABELS,
    "matchExpressions": st.lists(st.fixed_dictionaries({
        "key": st.sampled_from(["app", "tier", "x"]), "operator": st.sampled_from(["In", "NotIn", "Exists", "DoesNotExist"]),
        "values": st.lists(st.sampled_from(["a", "b", "c"]), max_size=2)}), max_size=2)}))


@settings(max_examples=200, deadline=None)
@given(st.lists(_LABELS, max_size=12), _SELECTOR)
def test_network_policy_peers_are_found_by_label_as_by_scanning(labels, selector):
    """verify/netpol.py finds the workloads a selector selects through an index of their labels
    (linear checking of 1,000 services): the same workloads, in the same order, as testing each."""
    from compose2helm.verify import netpol
    objects = [{"kind": "Deployment", "metadata": {"name": f"w{i}"},
                "spec": {"template": {"metadata": {"labels": lab}}}} for i, lab in enumerate(labels)]
    scanned = [f"w{i}" for i, lab in enumerate(labels) if netpol._selects(selector, lab)]
    assert netpol._Network(objects).selected(selector) == scanned
