"""`compose2helm graph`: a compose file (with its -f overlays) prepared as convert prepares it,
and its components and calls drawn. Nothing is rendered or written."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import InputError
from ..plan import graph
from ..plan.prepare import prepare


def draw(files: list[Path], output_format: str = "mermaid", **options: Any) -> str:
    if output_format not in graph.FORMATS:
        raise InputError(f"--format must be one of {', '.join(graph.FORMATS)}, not {output_format!r}")
    prepared = prepare(files, **options)
    return graph.FORMATS[output_format](graph.build(prepared.plan))
