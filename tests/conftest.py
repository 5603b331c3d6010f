"""Shared test helpers. Tests that read ../shared skip when it is absent (a user's fresh clone)."""
from __future__ import annotations

import contextlib
import io
import os
import subprocess
import textwrap
from pathlib import Path

import pytest
import yaml


# Tests stand in for helm lint and the like: nothing they compute may reach the user's cache
# (util/cache.py), nor may what is there decide a test. The cache's own tests turn it on.
os.environ["COMPOSE2HELM_NO_CACHE"] = "1"

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
CORPUS = SHARED / "genaiexamples"
FIXTURES = REPO / "input-compose"   # what the committed helm-charts/ and manifests/ are converted from
EXAMPLES = REPO / "examples"         # the mid-2024 layout files, kept as documented examples

# The tests read much YAML (every committed manifest, some of them): libyaml's loader, where
# PyYAML has it, reads what PyYAML's pure-Python one does, several times faster.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_yaml(text):
    """yaml.safe_load, with libyaml."""
    return yaml.load(text, Loader=_LOADER)


def load_yaml_all(text):
    """yaml.safe_load_all, with libyaml."""
    return yaml.load_all(text, Loader=_LOADER)


def call_cli(*args: str) -> subprocess.CompletedProcess:
    """The command line's entry point (main()) called in this process, its streams captured: what
    a run of the program prints and the code it exits with, without starting an interpreter. The
    tests of the program as a process of its own (test_cli.py, test_cli_unix.py) start one."""
    from compose2helm.cli.main import main

    out, err = io.StringIO(), io.StringIO()
    code: int | str | None = 0
    saved = os.environ.pop("COMPOSE2HELM_DEBUG", None)   # as a user runs it: errors in one line
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                main(list(args))
            except SystemExit as exc:
                code = exc.code
    finally:
        if saved is not None:
            os.environ["COMPOSE2HELM_DEBUG"] = saved
    return subprocess.CompletedProcess(["compose2helm", *args], code if isinstance(code, int) else int(code is not None),
                                       out.getvalue(), err.getvalue())


needs_shared = pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/genaiexamples is not present")


def manifest_objects(path: Path) -> list[dict]:
    return [d for d in load_yaml_all(path.read_text(encoding="utf-8")) if d]


def by_kind(objs: list[dict], kind: str) -> dict[str, dict]:
    return {o["metadata"]["name"]: o for o in objs if o.get("kind") == kind}


def plan_of(tmp_path: Path, text: str, env: str | None = None, platform: str = "xeon"):
    """The conversion plan of a one-file compose project (with an optional set_env.env)."""
    from compose2helm.compose.load import load_project
    from compose2helm.plan.planner import plan_project
    from compose2helm.plan.rules import load_rules

    src = tmp_path / "Ex" / "docker" / platform / "compose.yaml"
    src.parent.mkdir(parents=True, exist_ok=True)
    src.write_text(textwrap.dedent(text))
    env_files = []
    if env is not None:
        (src.parent / "set_env.env").write_text(textwrap.dedent(env))
        env_files = [src.parent / "set_env.env"]
    project = load_project([src], env_files)
    return plan_project(project, load_rules(), example="Ex", chart="ex", platform=platform, variant="",
                        sources=["x"])


def convert_example(tmp_path: Path, text: str, **options):
    """Convert a one-file compose project (Ex/docker/xeon) into tmp_path/out; returns the result and the
    rendered objects."""
    from compose2helm.pipeline.convert import convert

    src = tmp_path / "Ex" / "docker" / "xeon" / "compose.yaml"
    src.parent.mkdir(parents=True, exist_ok=True)
    src.write_text(textwrap.dedent(text))
    result = convert([src], tmp_path / "out", **options)
    return result, manifest_objects(tmp_path / "out" / result.manifest)
