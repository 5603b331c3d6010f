"""Values schemas checked in Python (helm/values_check.py): a rendering with schemas="python"
gives what Helm's own validation gives — the same objects when the values are valid, the same
error when they are not — and leaves to Helm every schema it cannot read exactly."""
from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from compose2helm.errors import InputError
from compose2helm.helm import render, values_check
from compose2helm.helm.render import render_chart

SUB_SCHEMA = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "propertyNames": {"pattern": "^[A-Za-z_][A-Za-z0-9_]*$"},
    "required": ["port"],
    "properties": {
        "port": {"type": "integer", "minimum": 1, "maximum": 65535},
        "mode": {"enum": ["fast", "safe"]},
        "name": {"type": "string", "pattern": "^[a-z]+$"},
        "tags": {"type": "array", "items": {"type": "string"}},
        "global": {"type": "object"},
        "enabled": {"type": "boolean"},
    },
    "additionalProperties": {"type": ["string", "integer", "boolean", "null"]},
}
TOP_SCHEMA = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "properties": {"replicas": {"type": "integer"}, "a": {"type": "object"}, "b": {"type": "object"},
                   "global": {"type": "object", "properties": {"level": {"type": "string"}}}},
}


def _chart(root: Path, top_schema: dict = TOP_SCHEMA, sub_schema: dict = SUB_SCHEMA,
           aliases: tuple[str, ...] = ("a", "b")) -> Path:
    """An umbrella with one common chart under each alias, each a ConfigMap of its values."""
    sub = root / "common" / "box"
    (sub / "templates").mkdir(parents=True)
    (sub / "Chart.yaml").write_text("apiVersion: v2\nname: box\nversion: 0.1.0\n")
    (sub / "values.yaml").write_text("port: 80\nmode: fast\nname: box\n")
    (sub / "values.schema.json").write_text(json.dumps(sub_schema))
    (sub / "templates" / "cm.yaml").write_text(textwrap.dedent("""\
        apiVersion: v1
        kind: ConfigMap
        metadata:
          name: {{ .Release.Name }}-{{ .Chart.Name }}
        data:
          values: {{ toJson .Values | quote }}
        """))
    top = root / "app"
    (top / "templates").mkdir(parents=True)
    (top / "Chart.yaml").write_text("apiVersion: v2\nname: app\nversion: 0.1.0\ndependencies:\n" + "".join(
        f"  - {{name: box, version: 0.1.0, repository: file://../common/box, alias: {a}, condition: {a}.enabled}}\n"
        for a in aliases))
    (top / "values.yaml").write_text("replicas: 1\n" + "".join(f"{a}: {{enabled: true}}\n" for a in aliases))
    (top / "values.schema.json").write_text(json.dumps(top_schema))
    (top / "templates" / "top.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: top\ndata:\n  r: {{ .Values.replicas | quote }}\n")
    return top


def _outcome(chart: Path, values: dict, schemas: str):
    try:
        return [d.text for d in render_chart(chart, values, "rel", schemas=schemas)]
    except InputError as exc:   # Helm lists a chart's errors in no fixed order
        return ("error", sorted(str(exc).split()))     # Helm lists charts and errors in no fixed order


def _record_probes(monkeypatch) -> list[list[str]]:
    """The probes of each rendering with schemas="python", as they are taken."""
    checked: list[list[str]] = []
    real = values_check.take_schemas

    def take(target):
        probes = real(target)
        checked.append(sorted(probes))
        return probes

    monkeypatch.setattr(render, "take_schemas", take)
    return checked


def test_valid_values_render_alike_without_the_engine_checking_them(tmp_path, monkeypatch):
    chart = _chart(tmp_path)
    values = {"a": {"port": 8080, "tags": ["x"], "EXTRA": "1"}, "b": {"enabled": False}, "global": {"level": "x"}}
    checked = _record_probes(monkeypatch)
    assert _outcome(chart, values, "python") == _outcome(chart, values, "helm")
    # the umbrella's schema and both aliases' were taken out and checked in Python, in one rendering
    assert checked[0] == ["app/charts/a/templates/" + values_check.PROBE, "app/charts/b/templates/" + values_check.PROBE,
                          "app/templates/" + values_check.PROBE]
    assert len(checked) == 1


@pytest.mark.parametrize("values", [
    {"a": {"port": "80"}},                      # a type
    {"b": {"port": 0}},                         # a minimum, in the second alias
    {"a": {"mode": "slow"}},                    # an enum
    {"a": {"name": "box\n"}},                   # Python's $ matches before a final newline, Go's does not
    {"a": {"bad-key": "x"}},                    # propertyNames
    {"a": {"port": None}},                      # null removes the default: required
    {"replicas": "one"},                        # the umbrella's own schema
    {"global": {"level": 3}},                   # globals, as every chart sees them
    {"a": {"EXTRA": [1]}},                      # additionalProperties
])
def test_invalid_values_fail_with_helms_own_message(tmp_path, values):
    chart = _chart(tmp_path)
    helm = _outcome(chart, values, "helm")
    assert helm[0] == "error" and "schema(s)" in helm[1]
    assert _outcome(chart, values, "python") == helm


def test_a_schema_it_cannot_read_exactly_stays_with_helm(tmp_path, monkeypatch):
    ref = dict(SUB_SCHEMA, definitions={"p": {"type": "integer"}},
               properties=dict(SUB_SCHEMA["properties"], port={"$ref": "#/definitions/p"}))
    chart = _chart(tmp_path, sub_schema=ref)
    checked = _record_probes(monkeypatch)
    assert _outcome(chart, {"a": {"port": "x"}}, "python") == _outcome(chart, {"a": {"port": "x"}}, "helm")
    assert checked[0] == ["app/templates/" + values_check.PROBE]   # only the umbrella's was taken


@pytest.mark.parametrize("schema, readable", [
    (SUB_SCHEMA, True),
    (TOP_SCHEMA, True),
    ({"type": "object", "properties": {"x": {"$ref": "#/definitions/y"}}}, False),
    ({"type": "string", "format": "email"}, False),                          # draft-07 may assert formats
    ({"type": "array", "items": [{"type": "string"}]}, False),               # tuple items
    ({"type": "string", "pattern": "^\\d+$"}, False),                        # \d: ASCII in Go, Unicode in Python
    ({"type": "string", "pattern": "^a$|^b$"}, False),                       # $ not only at the end
    ({"type": "number", "exclusiveMinimum": True, "minimum": 0}, False),     # draft-04's boolean form
    ({"$schema": "http://json-schema.org/draft-04/schema#", "type": "object"}, False),
    ({"type": "object", "dependencies": {"a": ["b"]}}, False),
    ({"type": "object", "if": {"required": ["a"]}, "then": {"required": ["b"]}}, False),
    ({"type": "integer", "multipleOf": 2}, False),
])
def test_only_schemas_whose_meaning_python_and_go_share_are_read(schema, readable):
    assert values_check._readable(schema) is readable


_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-5, 70000), st.sampled_from(
    ["fast", "safe", "slow", "box", "Box", "box\n", "80", "", "a1"]))
_KEYS = st.sampled_from(["port", "mode", "name", "tags", "enabled", "EXTRA", "bad-key", "_x"])
_BOX = st.dictionaries(_KEYS, st.one_of(_SCALARS, st.lists(_SCALARS, max_size=2)), max_size=4)


@pytest.fixture(params=["one rendering", "in parts"])
def parts(request, monkeypatch):
    """A large umbrella renders in parts (render.py), each carrying the schemas of its charts."""
    if request.param == "in parts":
        monkeypatch.setattr(render, "_CHUNK", 1)
    return request.param


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(a=_BOX, b=_BOX, c=_BOX, replicas=_SCALARS, level=_SCALARS)
def test_python_and_helm_give_the_same_answer_for_any_values(tmp_path_factory, parts, a, b, c, replicas, level):
    chart = _chart(tmp_path_factory.mktemp("chart"), aliases=("a", "b", "c"))
    assert (render._chunk_plan(chart.resolve(), {}) is not None) is (parts == "in parts")
    values = {"a": a, "b": b, "c": c, "replicas": replicas, "global": {"level": level}}
    assert _outcome(chart, values, "python") == _outcome(chart, values, "helm")


def test_markers_are_rendered_without_schemas(tmp_path):
    chart = _chart(tmp_path)
    marked = {"a": {"port": "7310001"}}         # a marker where an integer goes
    assert _outcome(chart, marked, "helm")[0] == "error"
    assert "7310001" in "".join(_outcome(chart, marked, "none"))


def test_in_parts_each_part_checks_the_schemas_it_carries(tmp_path, monkeypatch):
    chart = _chart(tmp_path, aliases=("a", "b", "c"))
    monkeypatch.setattr(render, "_CHUNK", 1)
    checked = _record_probes(monkeypatch)
    helm = _outcome(chart, {"a": {"port": 81}}, "helm")
    monkeypatch.setattr(render, "_render_once", lambda *a: pytest.fail("rendered in one pass"))
    assert _outcome(chart, {"a": {"port": 81}}, "python") == helm
    assert sorted(p for part in checked for p in part) == [f"app/charts/{a}/templates/{values_check.PROBE}"
                                                           for a in "abc"] + [f"app/templates/{values_check.PROBE}"]
