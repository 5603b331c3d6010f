"""Shared test helpers. Tests that read ../shared skip when it is absent (a user's fresh clone)."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
CORPUS = SHARED / "genaiexamples"
FIXTURES = REPO / "input-compose"

needs_shared = pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/genaiexamples is not present")


def manifest_objects(path: Path) -> list[dict]:
    return [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]


def by_kind(objs: list[dict], kind: str) -> dict[str, dict]:
    return {o["metadata"]["name"]: o for o in objs if o.get("kind") == kind}
