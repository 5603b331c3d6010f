"""Deterministic YAML output: insertion order kept, block style, no line folding; and the one
safe loader every reader of generated YAML uses (load_kept: parsed once, kept between runs)."""
from __future__ import annotations

import re
from typing import Any

import yaml

from .util import cache

SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)   # libyaml when PyYAML has it


def load_kept(text: str) -> Any:
    """A generated YAML text (an overlay ...) as the safe loader reads it. Every conversion of an
    example reads its overlays again: each distinct text is parsed once per process and kept
    between processes as JSON where JSON holds it exactly (util/cache.parsed); every caller gets
    its own copy. A text that is not YAML raises yaml.YAMLError, as yaml.load does."""
    if text not in _LOADED:
        if len(_LOADED) >= 512:
            _LOADED.clear()
        _LOADED[text] = cache.parsed("yaml", text, lambda t: yaml.load(t, Loader=SAFE_LOADER))
    return copy_tree(_LOADED[text])


_LOADED: dict[str, Any] = {}


def copy_tree(node: Any) -> Any:
    """A copy of what the safe loader (or json) builds: dicts, lists and sets hold the only
    mutable state."""
    if type(node) is dict:
        return {k: copy_tree(v) for k, v in node.items()}
    if type(node) is list:
        return [copy_tree(v) for v in node]
    if type(node) is set:
        return set(node)
    return node


class _Dumper(yaml.SafeDumper):
    def ignore_aliases(self, data: Any) -> bool:
        return True   # shared objects are written out in full: no &id001 anchors

    def increase_indent(self, flow: bool = False, indentless: bool = False):
        # Indent list items under their key, as helm create and kubectl do.
        return super().increase_indent(flow, False)


# Booleans to Go's YAML 1.1 reader (Helm) that PyYAML writes bare: quote them, keys included.
GO_BOOLEANS = frozenset({"y", "Y", "n", "N"})


def _str(dumper: yaml.SafeDumper, data: str):
    style = "|" if "\n" in data else ("'" if data in GO_BOOLEANS else None)
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


# Words (and their capitalised forms) that a YAML 1.1 reader takes for booleans or null.
_WORDS = {"y", "n", "yes", "no", "on", "off", "true", "false", "null", "~", ""}
_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_./-]*")


def plain(text: str) -> bool:
    """Whether text is safe unquoted: a name-like word no YAML reader takes for anything else."""
    return bool(_PLAIN.fullmatch(text)) and text.lower() not in _WORDS


def key(text: str) -> str:
    """A mapping key written by hand, quoted when a YAML reader would take it for another type."""
    if plain(text):          # the common case, without running the emitter
        return text
    return dump(text).rstrip("\n").removesuffix("\n...")


_Dumper.add_representer(str, _str)


def dump(data: Any) -> str:
    """data as block-style YAML, keys in insertion order: what PyYAML's emitter writes with the
    settings of _pyyaml, byte for byte. Dicts and lists are laid out here, and each distinct
    scalar is emitted by PyYAML once per process: values repeat across overlays and the emitter
    took a third of a conversion's Python time. Anything this layout does not cover (a block
    scalar, a long or empty key, another type) goes to PyYAML whole."""
    if type(data) in (dict, list) and data:
        lines: list[str] = []
        try:
            (_mapping if type(data) is dict else _sequence)(data, 0, None, lines)
        except _Whole:
            return _pyyaml(data)
        return "\n".join(lines) + "\n"
    return _pyyaml(data)


def _pyyaml(data: Any) -> str:
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, default_flow_style=False,
                     allow_unicode=True, width=100000)


class _Whole(Exception):
    """The layout below does not cover this document: PyYAML writes it."""


def _mapping(data: dict, indent: int, first: str | None, lines: list[str]) -> None:
    """A block mapping at indent; its first key after `first` (a sequence item's "- ") if given."""
    pad = " " * indent
    for n, (k, v) in enumerate(data.items()):
        head = f"{first if n == 0 and first is not None else pad}{_key(k)}:"
        if type(v) is dict and v:
            lines.append(head)
            _mapping(v, indent + 2, None, lines)
        elif type(v) is list and v:
            lines.append(head)          # sequences are indented under their key (_Dumper)
            _sequence(v, indent + 2, None, lines)
        else:
            lines.append(f"{head} {_flow(v)}")


def _sequence(data: list, indent: int, first: str | None, lines: list[str]) -> None:
    pad = " " * indent
    for n, item in enumerate(data):
        dash = f"{first if n == 0 and first is not None else pad}- "
        if type(item) is dict and item:
            _mapping(item, indent + 2, dash, lines)
        elif type(item) is list and item:
            _sequence(item, indent + 2, dash, lines)
        else:
            lines.append(dash + _flow(item))


def _flow(value: Any) -> str:
    if type(value) is dict:
        return "{}"
    if type(value) is list:
        return "[]"
    return _scalar(value)


def _key(k: Any) -> str:
    if type(k) not in _SCALAR_TYPES or (type(k) is str and k.splitlines() != [k]):
        raise _Whole   # empty or multi-line: PyYAML writes it as "? key"
    text = _scalar(k)
    if len(text) >= 128:   # PyYAML writes keys this long as "? key"
        raise _Whole
    return text


_SCALAR_TYPES = (str, int, float, bool, type(None))


def _scalar(value: Any) -> str:
    """The scalar as PyYAML writes it in a block mapping or sequence (the same style in both)."""
    if type(value) is str and plain(value):
        return value
    if type(value) not in _SCALAR_TYPES:
        raise _Whole
    memo = (type(value), repr(value) if type(value) is float else value)   # 0.0 == -0.0
    text = _SCALARS.get(memo)
    if text is None:
        item = _pyyaml([value])
        if not item.startswith("- ") or len(item.splitlines()) != 1:
            raise _Whole   # a block or broken scalar: its layout depends on the indentation
        if len(_SCALARS) >= 20000:
            _SCALARS.clear()
        text = _SCALARS[memo] = item[2:-1]
    return text


_SCALARS: dict[tuple[type, Any], str] = {}


def dump_indented(data: Any, indent: int) -> str:
    pad = " " * indent
    return "\n".join(pad + line for line in dump(data).rstrip("\n").split("\n"))
