"""benchmarks/genaiinfra_compat.py: flattening, base overlays, changed values and the classification
of keys, on a tiny synthetic umbrella; and (slow) the whole measure over GenAIInfra's values files."""
from __future__ import annotations

import importlib.util
import json
import sys
import textwrap
from pathlib import Path

import pytest
import yaml


REPO = Path(__file__).resolve().parents[1]
REFERENCE = REPO.parent / "shared" / "reference" / "genaiinfra"


def _load_tool():
    spec = importlib.util.spec_from_file_location("genaiinfra_compat", REPO / "benchmarks" / "genaiinfra_compat.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module   # dataclasses look their module up while the file runs
    spec.loader.exec_module(module)
    return module


compat = _load_tool()


def test_flatten_makes_dotted_leaf_paths():
    values = {"a": {"b": 1, "c": {"d": [1, 2]}, "e": {}}, "f": None, "g": "x",
              "r": {"limits": {"habana.ai/gaudi": 1}}}
    assert compat.flatten(values) == [(("a", "b"), 1), (("a", "c", "d"), [1, 2]), (("a", "e"), {}),
                                      (("f",), None), (("g",), "x"), (("r", "limits", "habana.ai/gaudi"), 1)]
    assert compat.flatten({}) == []
    assert compat.dotted(("r", "limits", "habana.ai/gaudi")) == "r.limits.habana\\.ai/gaudi"
    assert compat.nest(("a", "b"), 1) == {"a": {"b": 1}}


@pytest.mark.parametrize("value, changed", [
    (True, False), (False, True), (3, 4), (0.5, 1.0), ("80", "81"), ("1Gi", "2Gi"), ("true", "false"),
    ("False", "True"), ("opea/vllm", "opea/vllm-changed"), ("2.4.1", "2.4.1-changed"), ("", "changed"),
    (None, "changed"), ([], ["changed"]), (["--a", "1"], ["--a", "1", "2"]), ({}, {"changed": "changed"}),
])
def test_changed_value_differs_and_keeps_the_type(value, changed):
    assert compat.changed_value(value) == changed
    if value is not None:
        assert type(compat.changed_value(value)) is type(value)


def test_pick_base_prefers_the_same_name_then_the_platform():
    today = ["gaudi-values.yaml", "xeon-values.yaml", "gaudi-tgi-values.yaml"]
    assert compat.pick_base(today, "gaudi-tgi-values.yaml") == "gaudi-tgi-values.yaml"
    assert compat.pick_base(today, "faqgen-gaudi-values.yaml") == "gaudi-values.yaml"
    assert compat.pick_base(today, "cpu-values.yaml") == "xeon-values.yaml"
    assert compat.pick_base(today, "rocm-tgi-values.yaml") == "xeon-values.yaml"
    assert compat.pick_base(today, "nv-values.yaml") == "xeon-values.yaml"
    soon = ["gaudi-values.yaml", "cpu-values.yaml", "xeon-values.yaml"]
    assert compat.pick_base(soon, "hpa-values.yaml") == "cpu-values.yaml"
    assert compat.pick_base(["gaudi-values.yaml"], "cpu-values.yaml") == "gaudi-values.yaml"
    assert compat.pick_base(["xeon-values.yaml"], "gaudi-values.yaml") == "xeon-values.yaml"
    assert compat.pick_base([], "gaudi-values.yaml") is None


def test_classify_one_trial():
    base = compat.Outcome(None, {("ConfigMap", "", "a", "t"): "1"})
    same = compat.Outcome(None, dict(base.objects))
    other = compat.Outcome(None, {("ConfigMap", "", "a", "t"): "2"})
    refused = compat.Outcome("schema says no")
    assert compat.classify(base, refused, None) == "rejected"
    assert compat.classify(base, other, None) == "effective"
    assert compat.classify(base, same, other) == "effective"     # the file's value was the base's own
    assert compat.classify(base, same, refused) == "effective"   # the chart checks the value: it reads it
    assert compat.classify(base, same, same) == "ignored"
    assert compat.classify(refused, refused, None) == "untested"
    assert other.changes(base) == ["ConfigMap/a"]
    assert compat.key_class(["ignored", "effective", "rejected"]) == "effective"
    assert compat.key_class(["rejected", "ignored"]) == "ignored"
    assert compat.key_class(["rejected"]) == "rejected"


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")


def _synthetic(tmp_path: Path) -> tuple[Path, Path]:
    """charts/demo (an umbrella over common/web) with gaudi and xeon overlays; ref/demo with their files."""
    charts, ref = tmp_path / "charts", tmp_path / "ref"
    _write(charts / "common/web/Chart.yaml", "apiVersion: v2\nname: web\nversion: 0.1.0\n")
    _write(charts / "common/web/values.yaml", """
        enabled: true
        replicas: 1
        image: {tag: "1"}
        env: {}
        extra: ""
        """)
    (charts / "common/web/values.schema.json").write_text(json.dumps({
        "type": "object", "additionalProperties": False,
        "properties": {"enabled": {"type": "boolean"}, "replicas": {"type": "integer"}, "extra": {"type": "string"},
                       "env": {"type": "object"}, "global": {"type": "object"},
                       "image": {"type": "object", "additionalProperties": False,
                                 "properties": {"tag": {"type": "string"}}}}}), encoding="utf-8")
    _write(charts / "common/web/templates/deploy.yaml", """
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: {{ .Release.Name }}-web}
        spec:
          replicas: {{ .Values.replicas }}
          template:
            spec:
              containers:
                - name: web
                  image: "web:{{ .Values.image.tag }}"
                  env:
                  {{- range $k, $v := .Values.env }}
                    - {name: {{ $k }}, value: {{ $v | quote }}}
                  {{- end }}
        """)
    _write(charts / "demo/Chart.yaml", """
        apiVersion: v2
        name: demo
        version: 0.1.0
        dependencies:
          - {name: web, version: 0.1.0, repository: "file://../common/web", condition: web.enabled}
        """)
    _write(charts / "demo/values.yaml", "greeting: hello\nweb:\n  enabled: true\n")
    (charts / "demo/values.schema.json").write_text(json.dumps({
        "type": "object", "additionalProperties": {"type": ["string", "number", "boolean", "null"]},
        "properties": {"web": {"type": "object"}, "global": {"type": "object"}}}), encoding="utf-8")
    _write(charts / "demo/templates/cm.yaml", """
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: {{ .Release.Name }}}
        data: {greeting: {{ .Values.greeting | quote }}}
        """)
    _write(charts / "demo/gaudi-values.yaml", "web:\n  replicas: 2\n")
    _write(charts / "demo/xeon-values.yaml", "web:\n  enabled: false\n")
    # Theirs: on gaudi-values.yaml, bogus is refused (so the file fails), replicas is the base's own
    # value (effective through the changed value), tag changes the image, extra is accepted unused.
    _write(ref / "demo/gaudi-values.yaml", """
        web:
          replicas: 2
          image: {tag: "2"}
          extra: x
          bogus: 1
        """)
    # On xeon-values.yaml (web off): greeting changes the ConfigMap, a top-level named value nobody
    # reads is ignored, web.env.A lands in the disabled subchart when alone.
    _write(ref / "demo/cpu-values.yaml", "greeting: hi\nunused: 1\n")
    _write(ref / "demo/rocm-values.yaml", "web:\n  enabled: true\n  env: {A: '1'}\n")
    _write(ref / "other/cpu-values.yaml", "x: {y: 1}\n")   # an umbrella we do not have
    return charts, ref


def test_measure_classifies_the_keys_of_a_synthetic_umbrella(tmp_path, capsys):
    charts, ref = _synthetic(tmp_path)
    out = tmp_path / "out.json"
    assert compat.main(["--charts", str(charts), "--reference", str(ref), "--json", str(out)]) == 0
    result = json.loads(out.read_text(encoding="utf-8"))
    demo = result["umbrellas"]["demo"]
    files = {f["file"]: f for f in demo["files"]}
    assert files["gaudi-values.yaml"]["base"] == "gaudi-values.yaml" and not files["gaudi-values.yaml"]["ok"]
    assert "bogus" in files["gaudi-values.yaml"]["error"]
    assert files["cpu-values.yaml"]["base"] == "xeon-values.yaml" and files["cpu-values.yaml"]["ok"]
    assert files["rocm-values.yaml"]["base"] == "xeon-values.yaml" and files["rocm-values.yaml"]["ok"]
    classes = {k["key"]: k["class"] for k in demo["keys"]}
    assert classes == {"web.replicas": "effective", "web.image.tag": "effective", "web.extra": "ignored",
                       "web.bogus": "rejected", "greeting": "effective", "unused": "ignored",
                       "web.enabled": "effective", "web.env.A": "ignored"}
    keys = {k["key"]: k for k in demo["keys"]}
    assert keys["web.replicas"]["trials"][0]["changed_value"] == 3
    assert keys["web.image.tag"]["trials"][0]["changes"] == ["Deployment/demo-web"]
    assert keys["web.env.A"]["trials"][0]["subchart_off"] == "web"
    assert demo["summary"] == {"files": 3, "rendered": 2, "keys": 8, "effective": 4, "rejected": 1, "ignored": 3,
                               "untested": 0, "first_file_effective": 4, "first_file_rejected": 1,
                               "first_file_ignored": 3, "ignored_subchart_off": 1}
    other = result["umbrellas"]["other"]
    assert not other["present"] and other["keys_not_measured"] == 1 and not other["files"][0]["ok"]
    assert result["overall"]["files"] == 4 and result["overall"]["rendered"] == 2
    assert result["overall"]["files_on_our_umbrellas"] == 3
    # The baseline of each base renders once; repeated (key, value) pairs are not rendered again.
    assert demo["renders"] <= 2 + 3 + 2 * 8
    text = capsys.readouterr().out
    assert "demo: files rendered 2/3 (66.7%); keys 8: effective 4/8 (50.0%), rejected 1/8 (12.5%), " \
           "ignored 3/8 (37.5%)" in text
    assert "  demo: web.bogus [gaudi-values.yaml]" in text
    assert "  demo: web.env.A [rocm-values.yaml (web off in xeon-values.yaml)]" in text
    assert "overall: files rendered 2/4 (50.0%)" in text
    verbose = compat.summary_lines(result, verbose=True)
    assert "  demo: web.image.tag -> Deployment/demo-web" in verbose
    assert any(line.startswith("  demo: web.bogus [gaudi-values.yaml] -- ") and "bogus" in line[40:]
               for line in verbose)


def test_documents_compare_as_objects_not_text():
    from compose2helm.helm.documents import Document

    a = [Document("t/a.yaml", "", {"kind": "Service", "metadata": {"name": "s"}, "spec": {"x": 1, "y": 2}}),
         Document("t/b.yaml", "", {"kind": "ConfigMap", "metadata": {"name": "c"}, "data": {}})]
    b = [Document("t/b.yaml", "", {"kind": "ConfigMap", "metadata": {"name": "c"}, "data": {}}),
         Document("t/a.yaml", "", {"kind": "Service", "metadata": {"name": "s"}, "spec": {"y": 2, "x": 1}})]
    assert compat.outcome_of(a).objects == compat.outcome_of(b).objects


@pytest.mark.slow
@pytest.mark.skipif(not REFERENCE.is_dir(), reason="../shared/reference/genaiinfra is not present")
def test_measure_over_genaiinfra_values_files(tmp_path):
    out = tmp_path / "compat.json"
    assert compat.main(["--reference", str(REFERENCE), "--json", str(out)]) == 0
    result = json.loads(out.read_text(encoding="utf-8"))
    overall = result["overall"]
    theirs = sorted(REFERENCE.glob("*/*-values.yaml"))
    assert overall["files"] == len(theirs) == 45
    ours = [u for u in result["umbrellas"] if (REPO / "helm-charts" / u / "Chart.yaml").is_file()]
    distinct = {(p.parent.name, k) for p in theirs if p.parent.name in ours
                for k, _v in compat.flatten(yaml.safe_load(p.read_text(encoding="utf-8")) or {})}
    assert overall["keys"] == len(distinct)
    assert overall["effective"] + overall["rejected"] + overall["ignored"] + overall["untested"] == overall["keys"]
    assert overall["untested"] == 0   # every base overlay of ours renders alone
    assert 0 <= overall["rendered"] <= overall["files_on_our_umbrellas"] <= overall["files"]
