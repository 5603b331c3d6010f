"""Results kept between processes (util/cache.py): keyed by content, never changing an output,
never failing a command."""
from __future__ import annotations

import copy
import json
import os
import subprocess
import sys

import pytest
from conftest import EXAMPLES, load_yaml

from compose2helm.helm import lint as helm_lint
from compose2helm.util import cache

SOURCE = EXAMPLES / "ChatQnA" / "docker" / "gaudi" / "compose.yaml"


@pytest.fixture
def kept(tmp_path, monkeypatch):
    monkeypatch.delenv("COMPOSE2HELM_NO_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(helm_lint, "_LINTED", {})
    return tmp_path / "cache" / "compose2helm"


def _convert(out, env=None) -> dict[str, bytes]:
    proc = subprocess.run([sys.executable, "-m", "compose2helm", "convert", str(SOURCE), "--out", str(out), "-q"],
                          capture_output=True, text=True, env=env or os.environ.copy())
    assert proc.returncode == 0, proc.stderr
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


def test_a_second_conversion_reads_lints_templates_and_renderings_and_writes_the_same_bytes(kept, tmp_path):
    first = _convert(tmp_path / "a")
    lints = sorted(os.listdir(kept / "lint"))
    assert len(lints) == 9 and len(os.listdir(kept / "templates")) >= 20   # 8 common charts and the umbrella
    assert len(os.listdir(kept / "render")) == 2      # the overlay, and with its values marked (coupling)
    assert len(os.listdir(kept / "charts")) == 9      # the common charts and the umbrella, generated
    stamps = {name: (kept / "lint" / name).stat().st_mtime_ns for name in lints}
    assert _convert(tmp_path / "b") == first
    assert {name: (kept / "lint" / name).stat().st_mtime_ns for name in lints} == stamps   # read, not written
    # every chart kept: the template engine is not even imported
    probe = ("import sys\nfrom compose2helm.cli.main import main\n"
             f"sys.argv = ['compose2helm', 'convert', {str(SOURCE)!r}, '--out', {str(tmp_path / 'd')!r}, '-q']\n"
             "try:\n    main()\nexcept SystemExit:\n    pass\nprint('jinja2' in sys.modules)\n")
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert proc.stdout.split()[-1] == "False", proc.stderr
    env = dict(os.environ, COMPOSE2HELM_NO_CACHE="1")
    assert _convert(tmp_path / "c", env) == first


def test_a_kept_lint_is_what_lint_says_and_a_changed_chart_is_linted_again(kept, tmp_path, monkeypatch):
    chart = tmp_path / "c"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: c\nversion: 1.0\n")   # not SemVer: a warning
    (chart / "values.yaml").write_text("a: 1\n")
    first = helm_lint.lint_chart(chart)
    assert any("SemVer" in m.message for m in first)
    calls = []
    monkeypatch.setattr(helm_lint, "_LINTED", {})
    monkeypatch.setattr(helm_lint, "_lint", lambda d: calls.append(d) or [])
    assert helm_lint.lint_chart(chart) == first and calls == []          # from the cache, in a new process's place
    (chart / "values.yaml").write_text("a: 2\n")
    assert helm_lint.lint_chart(chart) == [] and len(calls) == 1        # another digest: linted


def test_a_cache_that_cannot_be_written_or_read_changes_nothing(tmp_path, monkeypatch):
    monkeypatch.delenv("COMPOSE2HELM_NO_CACHE", raising=False)
    blocked = tmp_path / "file"
    blocked.write_text("not a directory")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocked))
    assert cache.cache_dir("lint") is None and cache.load("lint", "k") is None
    cache.store("lint", "k", b"x")               # nothing kept, nothing raised
    env = dict(os.environ)
    assert _convert(tmp_path / "a", env) == _convert(tmp_path / "b", dict(env, COMPOSE2HELM_NO_CACHE="1"))


def test_a_damaged_entry_is_computed_again(kept, tmp_path):
    chart = tmp_path / "c"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: c\nversion: 1.0.0\n")
    first = helm_lint.lint_chart(chart)
    (entry,) = os.listdir(kept / "lint")
    (kept / "lint" / entry).write_bytes(b"{half")
    helm_lint._LINTED.clear()
    assert helm_lint.lint_chart(chart) == first
    assert (kept / "lint" / entry).read_bytes() != b"{half"    # and kept again


def test_parsed_texts_are_kept_only_when_json_holds_them_exactly(kept):
    import datetime
    calls = []

    def parse(text):
        calls.append(text)
        return load_yaml(text)

    for text, keeps in (("a: [1, 2.5, true, null, x]\n", True), ("80: http\n", False), ("d: 2020-01-01\n", False)):
        first = cache.parsed("t", text, parse)
        assert cache.parsed("t", text, parse) == first == load_yaml(text)
        assert len(calls) == (1 if keeps else 2)
        calls.clear()
    assert isinstance(cache.parsed("t", "d: 2020-01-01\n", parse)["d"], datetime.date)


def test_rules_read_from_the_cache_are_the_rules(kept, monkeypatch):
    from compose2helm.plan import rules
    rules._load_rules.cache_clear()
    fresh = rules.load_rules()
    assert len(os.listdir(kept / "rules")) == len(fresh.rules) + 1      # the policy file too
    rules._load_rules.cache_clear()
    monkeypatch.setattr(rules.yaml, "load", lambda *a, **k: pytest.fail("parsed again"))
    assert rules.load_rules() == fresh
    rules._load_rules.cache_clear()


def _small_chart(root, template="x: {{ .Values.a }}\n"):
    (root / "templates").mkdir(parents=True)
    (root / "Chart.yaml").write_text("apiVersion: v2\nname: c\nversion: 1.0.0\n")
    (root / "values.yaml").write_text("a: 1\n")
    (root / "templates" / "cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  "
                                                 + template)
    (root / "README.md").write_text("first\n")
    return root


def _texts(docs):
    return [(d.source, d.text) for d in docs]


def test_a_kept_rendering_is_what_helm_renders_and_any_input_it_depends_on_renders_again(kept, tmp_path,
                                                                                           monkeypatch):
    from compose2helm.helm import render
    chart = _small_chart(tmp_path / "c")
    first = _texts(render.render_chart(chart, {"a": 2}, "r"))
    assert first == [("c/templates/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  x: 2")]
    engine = render._render
    calls = []
    monkeypatch.setattr(render, "_render", lambda *a: calls.append(a) or engine(*a))
    assert _texts(render.render_chart(chart, {"a": 2}, "r")) == first and calls == []    # kept
    (chart / "README.md").write_text("second\n")       # no template reads .Files: not an input
    assert _texts(render.render_chart(chart, {"a": 2}, "r")) == first and calls == []
    for change in ({"a": 3}, "r2"):                    # other values, another release
        values, release = (change, "r") if isinstance(change, dict) else ({"a": 2}, change)
        render.render_chart(chart, values, release)
    assert len(calls) == 2
    (chart / "templates" / "cm.yaml").write_text(
        (chart / "templates" / "cm.yaml").read_text().replace("x:", "y:"))
    assert "y: 2" in render.render_chart(chart, {"a": 2}, "r")[0].text and len(calls) == 3


def test_a_chart_that_reads_its_files_renders_again_when_they_change(kept, tmp_path):
    from compose2helm.helm import render
    chart = _small_chart(tmp_path / "c", template='x: {{ .Files.Get "README.md" | quote }}\n')
    assert 'x: "first\\n"' in render.render_chart(chart, {}, "r")[0].text
    (chart / "README.md").write_text("second\n")
    assert 'x: "second\\n"' in render.render_chart(chart, {}, "r")[0].text


def test_a_damaged_rendering_is_rendered_again_and_errors_are_not_kept(kept, tmp_path):
    from compose2helm.errors import InputError
    from compose2helm.helm import render
    chart = _small_chart(tmp_path / "c")
    first = _texts(render.render_chart(chart, {"a": 2}, "r"))
    (entry,) = os.listdir(kept / "render")
    (kept / "render" / entry).write_bytes(b"not zlib")
    assert _texts(render.render_chart(chart, {"a": 2}, "r")) == first
    bad = _small_chart(tmp_path / "bad", template="x: {{ .Values.a | nosuchfunction }}\n")
    for _ in range(2):
        with pytest.raises(InputError, match="nosuchfunction"):
            render.render_chart(bad, {"a": 2}, "r")
    assert len(os.listdir(kept / "render")) == 1


def test_prune_keeps_the_most_recently_used_half(kept, monkeypatch):
    monkeypatch.setattr(cache, "_PRUNED", set())
    for n in range(7):
        cache.store("k", f"e{n}", b"x")
        os.utime(kept / "k" / f"e{n}", ns=(n * 10**9, n * 10**9))
    os.utime(kept / "k" / "e0", ns=(99 * 10**9, 99 * 10**9))     # e0 was just read (cache.touch)
    cache.prune("k", 6)
    assert sorted(os.listdir(kept / "k")) == ["e0", "e5", "e6"]
    cache.store("k", "e7", b"x")
    cache.prune("k", 2)       # once per process
    assert len(os.listdir(kept / "k")) == 4


def test_a_kept_common_chart_is_the_chart_and_other_code_or_rules_make_it_again(kept, monkeypatch):
    from compose2helm.chart import charts
    from compose2helm.plan import rules as plan_rules
    rule = next(r for r in plan_rules.load_rules().rules if r.component == "tgi")
    monkeypatch.setattr(charts, "_COMMON", {})
    first = charts.common_chart(rule)
    made = charts._common_chart
    calls = []
    monkeypatch.setattr(charts, "_common_chart", lambda *a: calls.append(a) or made(*a))
    monkeypatch.setattr(charts, "_COMMON", {})          # as in a new process
    assert charts.common_chart(rule) == first and calls == []
    monkeypatch.setattr(charts, "_COMMON", {})
    monkeypatch.setattr(cache, "code_version", lambda: "other code")
    assert charts.common_chart(rule) == first and len(calls) == 1
    import dataclasses
    other = dataclasses.replace(rule, description="another description")
    assert charts.common_chart(other) != first and len(calls) == 2


def test_kept_kubernetes_schemas_give_the_same_verdicts(kept, monkeypatch):
    from compose2helm.verify import k8scheck, k8sschemas

    def fresh():
        for f in (k8sschemas.checker, k8sschemas.validator, k8sschemas._definitions):
            f.cache_clear()
        monkeypatch.setattr(k8sschemas, "_PACKED", {})
        monkeypatch.setattr(k8scheck, "_VALIDATED", {})

    kinds = (("v1", "ConfigMap"), ("apps/v1", "Deployment"))
    good = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
            "spec": {"selector": {"matchLabels": {"a": "b"}}, "template": {
                "metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}}}
    bad = copy.deepcopy(good)
    bad["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] = 3
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}, "spec": {"portz": []}}
    fresh()
    k8sschemas.prepare_schemas(kinds)
    first = [k8scheck.validate_schema([o]) for o in (good, bad, service)]
    assert first[0] == [] and first[1] and first[2]
    assert len(os.listdir(kept / "k8s-schemas")) == 1
    fresh()
    monkeypatch.setattr(k8sschemas, "_make_pack", lambda *a: pytest.fail("made again"))
    k8sschemas.prepare_schemas(kinds)
    assert k8sschemas._definitions.cache_info().currsize == 0         # the pack, not the 1.8 MB file
    assert [k8scheck.validate_schema([o]) for o in (good, bad, service)] == first


def test_kept_documents_are_read_back_parsed_or_as_text_when_json_cannot_hold_them(kept, tmp_path, monkeypatch):
    import datetime

    from compose2helm.helm import render
    from compose2helm.helm.kept import kept_documents, rendering_key
    plain = _small_chart(tmp_path / "plain")
    dated = _small_chart(tmp_path / "dated", template="x: {{ .Values.a }}\n  d: 2020-01-01\n")   # a YAML date
    for chart in (plain, dated):
        first = render.render_chart(chart, {"a": 2}, "r")
        key = rendering_key(chart, {"a": 2}, "r", "default", frozenset(), "helm")
        again = kept_documents(key)
        assert again == first and again[0].obj is not first[0].obj
    assert isinstance(again[0].obj["data"]["d"], datetime.date)
    calls = []
    monkeypatch.setattr(render, "_render", lambda *a: calls.append(a) or pytest.fail("rendered again"))
    assert render.render_chart(dated, {"a": 2}, "r") == first and calls == []


def test_renderings_of_one_chart_share_its_digest_while_the_caller_says_it_is_unchanged(kept, tmp_path,
                                                                                        monkeypatch):
    from compose2helm.helm import kept as kept_module
    from compose2helm.helm import render
    chart = _small_chart(tmp_path / "c")
    digested = []
    real = kept_module.chart_digest
    monkeypatch.setattr(kept_module, "chart_digest", lambda *a, **k: digested.append(a) or real(*a, **k))
    digests: dict = {}
    for values in ({"a": 1}, {"a": 2}, {"a": 1}):
        render.render_chart(chart, values, "r", digests=digests)
    assert len(digested) == 1
    (chart / "templates" / "cm.yaml").write_text((chart / "templates" / "cm.yaml").read_text().replace("x:", "y:"))
    assert "y: 1" in render.render_chart(chart, {"a": 1}, "r", digests={})[0].text and len(digested) == 2


def test_yaml_texts_are_kept_parsed_and_each_caller_gets_its_own_copy(kept):
    from compose2helm.yamlout import SAFE_LOADER, load_kept
    import yaml
    text = "a:\n  b: [1, 2]\nc: x\n"
    first = load_kept(text)
    first["a"]["b"].append(3)
    assert load_kept(text) == yaml.load(text, Loader=SAFE_LOADER) == {"a": {"b": [1, 2]}, "c": "x"}
    assert len(os.listdir(kept / "yaml")) == 1
    with pytest.raises(yaml.YAMLError):
        load_kept("a: [1\n")


def test_a_rendering_that_changes_by_itself_is_never_kept(kept, tmp_path, monkeypatch):
    from compose2helm.helm import render
    random = _small_chart(tmp_path / "random", template="x: {{ randAlphaNum 12 | quote }}\n")
    quoted = _small_chart(tmp_path / "quoted", template='x: {{ dict "from" "now-1h" | toJson | quote }}\n')
    engine = render._render
    calls = []
    monkeypatch.setattr(render, "_render", lambda *a: calls.append(a[0]) or engine(*a))
    for chart in (random, random, quoted, quoted):
        render.render_chart(chart, {}, "r")
    assert calls == [random, random, quoted]            # "now" in a string is no call of now
    assert len(os.listdir(kept / "render")) == 1


def test_a_kept_chart_of_another_shape_is_made_again(kept, monkeypatch):
    from compose2helm.chart import charts
    from compose2helm.plan import rules as plan_rules
    rule = next(r for r in plan_rules.load_rules().rules if r.component == "tgi")
    monkeypatch.setattr(charts, "_COMMON", {})
    first = charts.common_chart(rule)
    (entry,) = os.listdir(kept / "charts")
    (kept / "charts" / entry).write_text('["valid JSON", "not a chart"]')
    monkeypatch.setattr(charts, "_COMMON", {})
    assert charts.common_chart(rule) == first
    assert cache.text_files(json.loads((kept / "charts" / entry).read_text()))      # and kept again


def test_computed_results_are_touched_when_read_and_pruned_when_too_many(kept, monkeypatch):
    monkeypatch.setattr(cache, "_PRUNED", set())
    monkeypatch.setattr(cache, "LIMIT", 4)
    for n in range(4):
        assert cache.computed("c", f"k{n}", lambda n=n: {"n": n}) == {"n": n}
        os.utime(kept / "c" / f"k{n}", ns=(n * 10**9, n * 10**9))
    assert cache.computed("c", "k0", lambda: pytest.fail("made again")) == {"n": 0}
    assert (kept / "c" / "k0").stat().st_mtime_ns > 3 * 10**9         # read: the most recently used
    monkeypatch.setattr(cache, "_PRUNED", set())                         # another process (once in each)
    cache.computed("c", "k4", lambda: {"n": 4})                          # a fifth: above the limit
    assert sorted(os.listdir(kept / "c")) == ["k0", "k4"]
