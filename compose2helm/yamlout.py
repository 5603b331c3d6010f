"""Deterministic YAML output: insertion order kept, block style, no line folding; and the one
safe loader every reader of generated YAML uses."""
from __future__ import annotations

import re
from typing import Any

import yaml


SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)   # libyaml when PyYAML has it


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
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, default_flow_style=False,
                     allow_unicode=True, width=100000)


def dump_indented(data: Any, indent: int) -> str:
    pad = " " * indent
    return "\n".join(pad + line for line in dump(data).rstrip("\n").split("\n"))
