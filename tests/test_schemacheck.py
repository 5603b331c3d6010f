"""util/schemacheck.py says "valid" exactly when jsonschema finds no error (and never when it finds one)."""
from __future__ import annotations

import copy
import json
import random
from pathlib import Path

import jsonschema
import pytest
from conftest import EXAMPLES, load_yaml_all

from compose2helm.compose import schema as compose_schema
from compose2helm.compose.read import read_yaml
from compose2helm.util.schemacheck import Checker
from compose2helm.verify import k8sschemas


REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "genaiexamples"
VALUES = [None, True, False, 0, 1, -1, 1.5, 2.0, "", "x", "${X}", "80:80", "1Gi", [], [1], ["a"], {}, {"a": 1},
          {"x-a": 1}, {"name": "x"}, 10 ** 20]
KEYS = ["image", "ports", "environment", "x-foo", "bogus", "deploy", "healthcheck", "command", "volumes", "name",
        "port", "targetPort", "value", "labels", "resources", "securityContext"]


def _paths(node, pre=()):
    yield pre
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, pre + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, pre + (i,))


def _mutate(doc, rng: random.Random):
    """doc with one random change: a value replaced, a key dropped or added, a value wrapped."""
    d = copy.deepcopy(doc)
    path = rng.choice(list(_paths(d))[1:] or [()])
    if not path:
        return d
    parent = d
    for step in path[:-1]:
        parent = parent[step]
    target, op = parent[path[-1]], rng.random()
    if op < 0.45:
        parent[path[-1]] = copy.deepcopy(rng.choice(VALUES))
    elif op < 0.6 and isinstance(parent, dict):
        del parent[path[-1]]
    elif op < 0.8 and isinstance(target, dict):
        target[rng.choice(KEYS)] = copy.deepcopy(rng.choice(VALUES))
    elif op < 0.8 and isinstance(target, list):
        target.append(copy.deepcopy(rng.choice(VALUES)))
    else:
        parent[path[-1]] = {"k": target} if not isinstance(target, dict) else list(target.values())
    return d


def _agrees(checker: Checker, validator, instance) -> None:
    expected = next(validator.iter_errors(instance), None) is None
    assert checker.is_valid(instance) == expected, json.dumps(instance, default=str)[:500]


def _compose_docs(roots: list[Path]) -> list[dict]:
    docs = []
    for root in roots:
        for f in sorted(root.rglob("*compose*.y*ml")):
            doc = read_yaml(f)
            if isinstance(doc, dict):
                docs.append(doc)
    return docs


def _k8s_objects() -> list[dict]:
    objects, seen = [], set()
    for f in sorted((REPO / "manifests").rglob("*.yaml")):
        for obj in load_yaml_all(f.read_text(encoding="utf-8")):
            if isinstance(obj, dict) and repr(obj) not in seen:
                seen.add(repr(obj))
                objects.append(obj)
    return objects


def _k8s(obj: dict):
    version = k8sschemas.resolve_version(None)
    validator = k8sschemas.validator(version, obj["apiVersion"], obj["kind"])
    return k8sschemas.checker(version, obj["apiVersion"], obj["kind"]), validator


def test_compose_files_and_changed_ones_are_judged_as_jsonschema_judges():
    checker, validator = Checker(compose_schema._schema()), compose_schema._validator()
    rng = random.Random(20)
    docs = _compose_docs([REPO / "input-compose", EXAMPLES])
    assert len(docs) > 50
    for doc in docs:
        assert checker.is_valid(doc)
        _agrees(checker, validator, doc)
        for _ in range(4):
            _agrees(checker, validator, _mutate(doc, rng))


def test_kubernetes_objects_and_changed_ones_are_judged_as_jsonschema_judges():
    rng = random.Random(21)
    objects = _k8s_objects()
    kinds = {(o["apiVersion"], o["kind"]) for o in objects}
    assert {("apps/v1", "Deployment"), ("v1", "Service"), ("v1", "ConfigMap")} <= kinds
    for obj in objects:
        checker, validator = _k8s(obj)
        if checker is None:
            continue
        assert checker.is_valid(obj)
        for _ in range(6):
            _agrees(checker, validator, _mutate(obj, rng))


@pytest.mark.slow
@pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/genaiexamples is absent")
def test_the_corpus_and_many_changes_of_it_are_judged_as_jsonschema_judges():
    checker, validator = Checker(compose_schema._schema()), compose_schema._validator()
    rng = random.Random(22)
    for doc in _compose_docs([CORPUS]):
        for i in range(31):
            _agrees(checker, validator, doc if i == 0 else _mutate(doc, rng))


@pytest.mark.parametrize("schema, instance, valid", [
    (True, {"a": 1}, True),
    (False, None, False),
    ({"type": "integer"}, 1.0, True),              # draft 6 and later
    ({"type": "integer"}, True, False),
    ({"enum": [1]}, True, False),                  # True is not 1
    ({"const": [0]}, [False], False),
    ({"uniqueItems": True}, [1, True], True),
    ({"uniqueItems": True}, [{"a": 1}, {"a": 1}], False),
    ({"oneOf": [{"type": "string"}, {"minLength": 1}]}, "x", False),   # valid under both
    ({"oneOf": [{"type": "string"}, {"minLength": 1}]}, 3, True),
    ({"not": {"type": "null"}}, None, False),
    ({"properties": {"a": {"type": "string"}}, "additionalProperties": False}, {"a": "x", "b": 1}, False),
    ({"patternProperties": {"^x-": {}}, "additionalProperties": False}, {"x-a": 1}, True),
    ({"allOf": [{"properties": {"a": {}}}], "unevaluatedProperties": False}, {"a": 1, "b": 2}, False),
    ({"anyOf": [{"properties": {"a": {}}}, {"required": ["zz"]}], "unevaluatedProperties": False}, {"a": 1}, True),
    ({"$defs": {"n": {"type": "object", "properties": {"next": {"$ref": "#/$defs/n"}}}}, "$ref": "#/$defs/n"},
     {"next": {"next": {"next": 1}}}, False),
    ({"format": "int32"}, "not a number", True),   # formats annotate
])
def test_keywords(schema, instance, valid):
    expected = next(jsonschema.Draft202012Validator(schema).iter_errors(instance), None) is None
    assert expected == valid
    assert Checker(schema).is_valid(instance) == valid


@pytest.mark.parametrize("schema", [
    {"if": {"type": "string"}, "then": {"minLength": 2}},   # not implemented: jsonschema decides
    {"prefixItems": [{"type": "string"}]},
    {"$ref": "https://example.com/elsewhere.json"},          # not among the resources
    {"properties": {"a": {"$id": "https://example.com/a", "type": "string"}}},
])
def test_what_it_does_not_read_is_never_called_valid(schema):
    assert Checker(schema).is_valid({"a": "x"}) is False
