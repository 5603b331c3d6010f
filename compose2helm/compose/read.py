"""Reading one compose file's YAML as Compose does: YAML 1.2 scalars, `<<:` merge keys.

Also refused here, as Compose refuses them: duplicate keys and lone UTF-16 surrogates. Environment
values keep the spelling the container sees. libyaml is a fast path that gives the same result.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from ..errors import InputError


_MERGE_TAG = "tag:yaml.org,2002:merge"
_STR_TAG = "tag:yaml.org,2002:str"
_TEXT_TAGS = {"tag:yaml.org,2002:bool", "tag:yaml.org,2002:int", "tag:yaml.org,2002:float"}


# Compose reads YAML 1.2 (core schema); PyYAML resolves plain scalars as YAML 1.1 does, where
# `restart: no` is False, `22:22` is the sexagesimal 1342, `017` is octal and `2024-01-01` a date.
# The resolvers below give YAML 1.2's reading: only true/false are booleans, ints are decimal,
# 0o octal or 0x hex, no timestamps; everything else is a string.
_YAML12_IMPLICIT = [
    ("tag:yaml.org,2002:bool", r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF"),
    ("tag:yaml.org,2002:int", r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$", "-+0123456789"),
    ("tag:yaml.org,2002:float",
     r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
     r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$", "-+.0123456789"),
    ("tag:yaml.org,2002:null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
    (_MERGE_TAG, r"^(?:<<)$", ["<"]),
]


def _yaml12_resolvers() -> dict:
    table: dict = {}
    for tag, regexp, first in _YAML12_IMPLICIT:
        for ch in first:
            table.setdefault(ch, []).append((tag, re.compile(regexp)))
    return table


class _YamlLoader(yaml.SafeLoader):
    yaml_implicit_resolvers = _yaml12_resolvers()

    def construct_yaml_int(self, node):
        text = self.construct_scalar(node)
        if text.startswith("0o"):
            return int(text[2:], 8)
        if text.startswith("0x"):
            return int(text[2:], 16)
        return int(text, 10)

    def construct_yaml_float(self, node):
        text = self.construct_scalar(node).lower()
        if text.endswith(".inf"):
            return float("-inf") if text.startswith("-") else float("inf")
        if text == ".nan":
            return float("nan")
        return float(text)

    def flatten_mapping(self, node):
        """`<<:` merges: own keys beat merged ones, earlier merge sources beat later ones.

        PyYAML 6.0.x keeps the first copy of a repeated key, so in `<<: {<<: *a, A: 2}` the
        nested override is lost; here later pairs win when the mapping is constructed.
        """
        merged, own = [], []
        for key, value in node.value:
            if key.tag != _MERGE_TAG:
                own.append((key, value))
                continue
            sources = value.value if isinstance(value, yaml.SequenceNode) else [value]
            for src in reversed(sources):
                if not isinstance(src, yaml.MappingNode):
                    raise yaml.constructor.ConstructorError(
                        "while constructing a mapping", node.start_mark,
                        f"expected a mapping for merging, but found {src.id}", src.start_mark)
                self.flatten_mapping(src)
                merged.extend(src.value)
        node.value = merged + own


_YamlLoader.add_constructor("tag:yaml.org,2002:int", _YamlLoader.construct_yaml_int)
_YamlLoader.add_constructor("tag:yaml.org,2002:float", _YamlLoader.construct_yaml_float)


if getattr(yaml, "__with_libyaml__", False):
    class _CYamlLoader(yaml.cyaml.CParser, yaml.constructor.SafeConstructor, yaml.resolver.Resolver):
        """_YamlLoader's reading with libyaml's parser: the same resolvers, constructors and merges.

        Only a fast path: read_yaml takes the pure-Python loader whenever this one fails (so every
        error message stays the same) or the text has tabs (libyaml accepts some PyYAML refuses)."""

        yaml_implicit_resolvers = _YamlLoader.yaml_implicit_resolvers
        yaml_constructors = _YamlLoader.yaml_constructors
        flatten_mapping = _YamlLoader.flatten_mapping

        def __init__(self, stream):
            yaml.cyaml.CParser.__init__(self, stream)
            yaml.constructor.SafeConstructor.__init__(self)
            yaml.resolver.Resolver.__init__(self)
else:  # pragma: no cover - PyYAML without libyaml
    _CYamlLoader = None


_SURROGATE = re.compile("[\ud800-\udfff]")


def _prepare_nodes(node: yaml.Node, seen: set[int]) -> None:
    """Check the node graph for duplicate keys and keep environment scalars' text.

    Duplicate keys: Compose rejects them, PyYAML silently keeps the last. Checked before
    construction because `<<:` merging rewrites nodes in place.
    Environment: safe_load would turn `False` into False and `1.0` into 1.0, and str() cannot give
    back the spelling the container sees; such scalars are retagged as strings (on copies, so an
    anchor reused outside `environment:` is untouched). Anchors and merges are covered.
    """
    if id(node) in seen:
        return
    seen.add(id(node))
    if isinstance(node, yaml.ScalarNode) and (m := _SURROGATE.search(node.value)):
        # `"\ud83d"` escapes: PyYAML keeps the lone UTF-16 half, compose's parser refuses it.
        raise yaml.constructor.ConstructorError(
            None, None, f"invalid Unicode escape \\u{ord(m.group()):04x} (a UTF-16 surrogate); write the "
            "character itself or use \\U with 8 hex digits", node.start_mark)
    if isinstance(node, yaml.MappingNode):
        keys = set()
        for idx, (k, v) in enumerate(node.value):
            if isinstance(k, yaml.ScalarNode) and k.tag != _MERGE_TAG:
                if k.value in keys:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key {k.value!r}", k.start_mark)
                keys.add(k.value)
            _prepare_nodes(k, seen)
            _prepare_nodes(v, seen)
            if isinstance(k, yaml.ScalarNode) and k.value == "environment" \
                    and isinstance(v, yaml.MappingNode):
                node.value[idx] = (k, _env_copy(v))
    elif isinstance(node, yaml.SequenceNode):
        for v in node.value:
            _prepare_nodes(v, seen)


def _env_copy(m: yaml.MappingNode) -> yaml.MappingNode:
    pairs = []
    for k, v in m.value:
        if k.tag == _MERGE_TAG and isinstance(v, yaml.MappingNode):
            v = _env_copy(v)
        elif k.tag == _MERGE_TAG and isinstance(v, yaml.SequenceNode):
            v = yaml.SequenceNode(v.tag, [_env_copy(x) if isinstance(x, yaml.MappingNode) else x
                                          for x in v.value], v.start_mark, v.end_mark)
        elif isinstance(v, yaml.ScalarNode) and v.tag in _TEXT_TAGS:
            v = yaml.ScalarNode(_STR_TAG, v.value, v.start_mark, v.end_mark, v.style)
        pairs.append((k, v))
    return yaml.MappingNode(m.tag, pairs, m.start_mark, m.end_mark, m.flow_style)


def _construct(loader_class: Any, text: str) -> Any:
    loader = loader_class(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _prepare_nodes(node, set())
        return loader.construct_document(node)
    finally:
        loader.dispose()


def read_yaml(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"cannot read file: {getattr(e, 'strerror', None) or e}", file=path)
    if _CYamlLoader is not None and "\t" not in text:
        try:
            return _construct(_CYamlLoader, text)
        except Exception:  # noqa: BLE001 - the pure-Python loader below says what is wrong
            pass
    try:
        return _construct(_YamlLoader, text)
    except yaml.YAMLError as e:
        raise yaml_error(e, path) from None
    except RecursionError:
        raise InputError("invalid YAML: structure nested too deeply", file=path) from None


def yaml_error(e: yaml.YAMLError, path: Path) -> InputError:
    """PyYAML's error as `FILE:LINE:COL: invalid YAML: problem (context from line L, column C)`.

    PyYAML's own text quotes the source as "<unicode string>" and prints the offending line with a
    caret under it, which a one-line message squashes into the sentence; the marks say it better."""
    problem = getattr(e, "problem", None)
    mark = getattr(e, "problem_mark", None)
    if not problem:
        return InputError(f"invalid YAML: {' '.join(str(e).split())}", file=path)
    text = problem
    context, context_mark = getattr(e, "context", None), getattr(e, "context_mark", None)
    if context:
        here = mark is not None and context_mark is not None and \
            (context_mark.line, context_mark.column) == (mark.line, mark.column)
        where = f" from line {context_mark.line + 1}, column {context_mark.column + 1}" \
            if context_mark is not None and not here else ""
        # "while scanning a quoted scalar" qualifies the problem; "expected a single document in
        # the stream" is the first half of a sentence the problem ("but found ...") ends
        text = f"{problem} ({context}{where})" if context.startswith("while") else f"{context}, {problem}"
    if getattr(e, "note", None):
        text += f"; {e.note}"
    if mark is None:
        mark = context_mark
    return InputError(f"invalid YAML: {text}", file=path, line=mark.line + 1 if mark else None,
                      column=mark.column + 1 if mark else None)
