"""Bad input through the command line: exit code 2, one line naming file/service/key, nothing written.

Every case runs `compose2helm convert ...` (its entry point, main(), in this process; a sample of
them also as `python -m compose2helm` in a process of its own) into an output directory that
already holds a file, and checks that the output tree (files, directories and symlinks) is
byte-for-byte unchanged, that no `.compose2helm-*` scratch directory is left, and that nothing
was written outside it.
"""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pytest
from conftest import call_cli

from compose2helm.compose.load import load_project
from compose2helm.compose.model import Port
from compose2helm.errors import InputError


SRC = "Ex/docker/xeon/compose.yaml"


@dataclass
class Case:
    files: dict[str, str | bytes]                  # relative to the case directory; SRC is the input
    args: list[str] = field(default_factory=list)  # extra arguments; {dir}, {src}, {out}, {elsewhere}
    file: str = "{src}"                            # the file the error line must name
    service: str | None = None
    key: str | None = None
    match: str = ""                                # a phrase the error line must contain
    out_setup: str | None = None                   # name of a function preparing the output tree
    src: str = SRC                                 # the file given as the first argument
    root_skips: bool = False                       # the case cannot be built when running as root


def compose(text: str) -> dict[str, str]:
    return {SRC: textwrap.dedent(text)}


OK = "services:\n  app: {image: nginx}\n"

CASES: dict[str, Case] = {
    # --- unreadable input ----------------------------------------------------------------------
    "missing file": Case({}, src="Ex/docker/xeon/nope.yaml", file="{dir}/Ex/docker/xeon/nope.yaml",
                         match="no such file"),
    "directory instead of a file": Case({"Ex/docker/xeon/compose.yaml/x": ""}),
    "invalid utf-8": Case({SRC: b"services:\n  app: {image: \xff\xfe}\n"}, match="cannot read"),
    "binary file": Case({SRC: bytes(range(256))}),
    "permission denied": Case(compose(OK), match="cannot read", out_setup="chmod_src", root_skips=True),
    # --- not a compose document ---------------------------------------------------------------
    "not yaml": Case(compose("services: [\n"), match="invalid YAML"),
    "tab indentation": Case(compose("services:\n\tapp: {image: x}\n"), match="invalid YAML"),
    "duplicate service": Case(compose("services:\n  app: {image: x}\n  app: {image: y}\n"),
                              match="duplicate key"),
    "merge of a scalar": Case(compose("x-a: &a 1\nservices:\n  app:\n    <<: *a\n    image: x\n"),
                              match="invalid YAML"),
    "top level is a list": Case(compose("- a\n- b\n"), match="not a mapping"),
    "top level is a scalar": Case(compose("just text\n"), match="not a mapping"),
    "empty file": Case(compose(""), match="not a mapping"),
    "no services": Case(compose("version: '3'\n"), key="services", match="no services"),
    "compose format v1": Case(compose("web: {image: x}\nredis: {image: redis}\n"), key="services",
                              match="no services: redis, web at the top level are compose file format v1"),
    "services is a list": Case(compose("services: [app]\n"), key="services"),
    "service is not a mapping": Case(compose("services:\n  app: [x]\n"), service="app"),
    "service is null": Case(compose("services:\n  app:\n"), service="app"),
    "surrogate escape": Case(compose('services:\n  app: {image: x, working_dir: "/srv/\\ud800"}\n'),
                             match="surrogate"),
    "non-string service name": Case(compose("services:\n  1: {image: x}\n"), service="1", match="not a string"),
    "non-string key": Case(compose("services:\n  app: {image: x, environment: {1: a}}\n"),
                           service="app", key="environment", match="not a string"),
    "schema: wrong type": Case(compose("services:\n  app: {image: x, shm_size: [1]}\n"),
                               service="app", key="shm_size"),
    "schema: nested unknown key": Case(compose("services:\n  app: {image: x, healthcheck: {tst: x}}\n"),
                                       service="app", key="healthcheck.tst", match="unknown key"),
    # --- services that cannot run ---------------------------------------------------------------
    "neither image nor build": Case(compose("services:\n  app:\n    environment: {A: '1'}\n"),
                                    service="app", key="image"),
    # --- interpolation --------------------------------------------------------------------------
    "required ${V?msg} unset": Case(compose("services:\n  app:\n    image: x\n    environment:\n"
                                            "      A: ${NOPE?set NOPE please}\n"),
                                    service="app", key="environment", match="set NOPE please"),
    "required ${V:?msg} unset": Case(compose("services:\n  app:\n    image: 'x:${TAG:?need a TAG}'\n"),
                                     service="app", key="image", match="need a TAG"),
    "required ${V:?msg} empty": Case({SRC: "services:\n  app:\n    image: x\n    command: run ${ARG:?need ARG}\n",
                                      "env": "ARG=\n"}, args=["--env-file", "{dir}/env"],
                                     service="app", key="command", match="need ARG"),
    "unterminated ${": Case(compose("services:\n  app: {image: x, environment: {A: '${oops'}}\n"),
                            service="app", key="environment", match="unterminated"),
    "invalid ${-x}": Case(compose("services:\n  app: {image: x, environment: {A: '${-x}'}}\n"),
                          service="app", key="environment", match="invalid interpolation"),
    # --- ports ----------------------------------------------------------------------------------
    "port 80:": Case(compose("services:\n  app: {image: x, ports: ['80:']}\n"), service="app", key="ports"),
    "port a:b": Case(compose("services:\n  app: {image: x, ports: ['a:b']}\n"), service="app", key="ports"),
    "port 70000:80": Case(compose("services:\n  app: {image: x, ports: ['70000:80']}\n"),
                          service="app", key="ports", match="70000"),
    "port ranges of different lengths": Case(compose("services:\n  app: {image: x, ports: ['8000-8010:80-81']}\n"),
                                             service="app", key="ports", match="differ in length"),
    "port from a variable out of range": Case(
        compose("services:\n  app: {image: x, ports: ['${P:-99999}:80']}\n"), service="app", key="ports"),
    "long-form port without target": Case(compose("services:\n  app: {image: x, ports: [{published: 80}]}\n"),
                                          service="app", key="ports", match="target"),
    "port protocol": Case(compose("services:\n  app: {image: x, ports: ['80/icmp']}\n"),
                          service="app", key="ports", match="icmp"),
    # --- other values ---------------------------------------------------------------------------
    "shm_size": Case(compose("services:\n  app: {image: x, shm_size: lots}\n"), service="app", key="shm_size"),
    "healthcheck interval": Case(compose("services:\n  app: {image: x, healthcheck: {test: [CMD, x], "
                                         "interval: soon}}\n"), service="app", key="healthcheck.interval"),
    "replicas": Case(compose("services:\n  app: {image: x, deploy: {replicas: '${R:-many}'}}\n"),
                     service="app", key="deploy.replicas"),
    "pull policy": Case(compose("services:\n  app: {image: x, pull_policy: '${P:-sometimes}'}\n"),
                        service="app", key="pull_policy", match="sometimes"),
    "volume": Case(compose("services:\n  app: {image: x, volumes: ['a:b:c:d']}\n"), service="app", key="volumes"),
    # a Windows container path parses as compose reads it (drive letters in source and target), and
    # is refused as what it is, not as an unreadable entry
    "windows container path": Case(compose("services:\n  app: {image: x, volumes: ['C:\\data:D:\\config:rw']}\n"),
                                   service="app", key="volumes",
                                   match="container path 'D:\\\\config' is a Windows path"),
    "fragment of a sibling": Case({"Ex/docker/xeon/compose.yaml": OK,
                                   "Ex/docker/xeon/compose.extra.yaml": "services:\n  app: {environment: {A: b}}\n"},
                                  src="Ex/docker/xeon/compose.extra.yaml", service="app", key="image",
                                  match="compose.yaml beside it defines the service: convert the two together, "
                                        "compose2helm convert compose.yaml -f compose.extra.yaml"),
    "provider service": Case(compose("services:\n  ai:\n    provider: {type: model, options: {model: ai/smollm2}}\n"),
                             service="ai", key="provider",
                             match="a provider service (model) is run by a compose plugin"),
    "windows pipe path": Case(compose("services:\n  app:\n    image: x\n    volumes:\n      - {type: npipe, "
                                      "source: '\\\\.\\pipe\\x', target: '\\\\.\\pipe\\x'}\n"),
                              service="app", key="volumes", match="Windows path"),
    "command quoting": Case(compose("services:\n  app: {image: x, command: 'sh -c \"echo'}\n"),
                            service="app", key="command"),
    # --- names ----------------------------------------------------------------------------------
    "names collide after DNS normalisation": Case(
        compose("services:\n  web_app: {image: nginx}\n  web-app: {image: nginx}\n"),
        service="web-app", match="collides"),
    "release name too long": Case(compose(OK), args=["--release", "r" * 54], match="53"),
    "path-like service name": Case(compose("services:\n  ../../etc: {image: x}\n"),
                                   service="../../etc", match="invalid service name"),
    "dots-only service name": Case(compose("services:\n  '..': {image: x}\n"), service="..",
                                   match="invalid service name"),
    "service name with a blank": Case(compose("services:\n  'my app': {image: x}\n"), service="my app",
                                      match="invalid service name"),
    "bad release name": Case(compose(OK), args=["--release", "Not_A_Label"], match="release name"),
    # --- extends, depends_on, -f overlays -------------------------------------------------------
    "extends cycle": Case(compose("services:\n  a: {image: x, extends: b}\n  b: {image: x, extends: a}\n"),
                          key="extends", match="cycle"),
    "extends itself": Case(compose("services:\n  a: {image: x, extends: a}\n"), service="a", key="extends",
                           match="cycle"),
    "extends missing base": Case(compose("services:\n  a: {image: x, extends: ghost}\n"), service="a",
                                 key="extends", match="ghost"),
    "extends missing file": Case(compose("services:\n  a: {image: x, extends: {file: no.yaml, service: b}}\n"),
                                 service="a", key="extends", match="not found"),
    "depends_on missing service": Case(compose("services:\n  app: {image: x, depends_on: [db]}\n"),
                                       service="app", key="depends_on", match="db"),
    "depends_on map on missing service": Case(
        compose("services:\n  app: {image: x, depends_on: {db: {condition: service_healthy}}}\n"),
        service="app", key="depends_on"),
    "overlay adds a service without image": Case(
        {SRC: OK, "Ex/docker/xeon/compose.telemetry.yaml": "services:\n  extra: {environment: [A=1]}\n"},
        args=["-f", "{dir}/Ex/docker/xeon/compose.telemetry.yaml"],
        file="{dir}/Ex/docker/xeon/compose.telemetry.yaml", service="extra", key="image"),
    "overlay that is not YAML": Case(
        {SRC: OK, "Ex/docker/xeon/compose.telemetry.yaml": "services: {\n"},
        args=["-f", "{dir}/Ex/docker/xeon/compose.telemetry.yaml"],
        file="{dir}/Ex/docker/xeon/compose.telemetry.yaml", match="invalid YAML"),
    "include of a missing file": Case(compose("include: [nowhere.yaml]\n" + OK), key="include",
                                      match="not found"),
    # --- env files ------------------------------------------------------------------------------
    "env file with a malformed line": Case({SRC: OK, "bad.env": "A=1\nthis is not an assignment\n"},
                                           args=["--env-file", "{dir}/bad.env"], file="{dir}/bad.env",
                                           key="line 2", match="KEY=VALUE"),
    "env file with an unterminated quote": Case({SRC: OK, "bad.env": "A=\"open\n"},
                                                args=["--env-file", "{dir}/bad.env"], file="{dir}/bad.env",
                                                key="line 1", match="quote"),
    "env file with a bad variable": Case({SRC: OK, "bad.env": "A=${B\n"},
                                         args=["--env-file", "{dir}/bad.env"], file="{dir}/bad.env",
                                         key="line 1"),
    "env file that does not exist": Case(compose(OK), args=["--env-file", "{dir}/none.env"],
                                         file="{dir}/none.env", match="cannot read"),
    "env file with invalid utf-8": Case({SRC: OK, "bad.env": b"A=\xff\n"},
                                        args=["--env-file", "{dir}/bad.env"], file="{dir}/bad.env"),
    "env_file of a service missing": Case(compose("services:\n  app: {image: x, env_file: gone.env}\n"),
                                          service="app", key="env_file", match="gone.env not found"),
    # --- the output tree ------------------------------------------------------------------------
    "--out is the compose file": Case(compose(OK), args=["--out", "{src}"], match="not a directory"),
    "--out under a file": Case(compose(OK), args=["--out", "{src}/charts"], file="{src}/charts",
                               match="not a directory"),
    "symlinked helm-charts pointing outside": Case(compose(OK), file="{out}", match="outside",
                                                   out_setup="link_helm_charts"),
    "symlinked common chart dir pointing outside": Case(compose(OK), file="{out}", match="outside",
                                                        out_setup="link_common"),
    "symlinked manifests pointing outside": Case(compose(OK), file="{out}", match="outside",
                                                 out_setup="link_manifests"),
    "symlinked manifest file pointing outside": Case(compose(OK), file="{out}", match="outside",
                                                     out_setup="link_manifest_file"),
    "a directory where a file goes": Case(compose(OK), file="{out}", match="is a directory",
                                          out_setup="dir_in_place_of_file"),
    "a file where a directory goes": Case(compose(OK), file="{out}", match="manifests",
                                          out_setup="file_in_place_of_dir"),
}


# --- preparing the output tree ------------------------------------------------------------------

def _link(out: Path, rel: str, elsewhere: Path) -> None:
    (out / rel).parent.mkdir(parents=True, exist_ok=True)
    (out / rel).symlink_to(elsewhere, target_is_directory=True)


OUT_SETUPS = {
    "link_helm_charts": lambda out, elsewhere, d: _link(out, "helm-charts", elsewhere),
    "link_common": lambda out, elsewhere, d: _link(out, "helm-charts/common", elsewhere),
    "link_manifests": lambda out, elsewhere, d: _link(out, "manifests", elsewhere),
    "link_manifest_file": lambda out, elsewhere, d: (
        (out / "manifests/Ex/cpu").mkdir(parents=True),
        (out / "manifests/Ex/cpu/ex.yaml").symlink_to(elsewhere / "ex.yaml")),
    "dir_in_place_of_file": lambda out, elsewhere, d: (
        out / "helm-charts/common/app/values.yaml").mkdir(parents=True),
    "file_in_place_of_dir": lambda out, elsewhere, d: (out / "manifests").write_text("a file\n"),
    "chmod_src": lambda out, elsewhere, d: (d / SRC).chmod(0),
}


def snapshot(root: Path) -> dict[str, tuple]:
    """Every entry under root, symlinks not followed: kind and content (or link target)."""
    found: dict[str, tuple] = {}
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            rel = str(p.relative_to(root))
            if p.is_symlink():
                found[rel] = ("link", os.readlink(p))
            elif p.is_dir():
                found[rel] = ("dir",)
            else:
                found[rel] = ("file", p.read_bytes(), p.stat().st_mode)
    return found


def run_cli(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "COMPOSE2HELM_DEBUG"}
    return subprocess.run([sys.executable, "-m", "compose2helm", *args], capture_output=True, text=True,
                          timeout=120, env=env)


# Every case is run through main() in this process; these through a real process too (the
# program as installed: interpreter start, imports, its own streams and exit status).
IN_A_PROCESS = ["missing file", "invalid utf-8", "not yaml", "schema: wrong type", "required ${V:?msg} unset",
                "pull policy", "release name too long", "env file with a malformed line", "--out is the compose file",
                "symlinked manifests pointing outside"]


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input(tmp_path, name):
    check_case(tmp_path, name, call_cli)


@pytest.mark.parametrize("name", IN_A_PROCESS)
def test_bad_input_in_a_process(tmp_path, name):
    check_case(tmp_path, name, run_cli)


def check_case(tmp_path: Path, name: str, cli: Callable[..., subprocess.CompletedProcess]) -> None:
    case = CASES[name]
    if case.root_skips and hasattr(os, "geteuid") and os.geteuid() == 0:
        pytest.skip("root reads files whatever their mode")
    d = tmp_path / "case"
    d.mkdir()
    for rel, content in case.files.items():
        p = d / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(content if isinstance(content, bytes) else content.encode())
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "theirs.txt").write_text("theirs\n")
    if case.out_setup:
        OUT_SETUPS[case.out_setup](out, elsewhere, d)
    subst = {"dir": str(d), "src": str(d / case.src), "out": str(out), "elsewhere": str(elsewhere)}
    args = [a.format(**subst) for a in case.args]
    if "--out" not in case.args:
        args += ["--out", str(out)]
    before, before_elsewhere, before_input = snapshot(out), snapshot(elsewhere), snapshot(d)

    r = cli("convert", str(d / case.src), *args)

    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr and "internal error" not in r.stderr, r.stderr
    lines = r.stderr.splitlines()
    assert len(lines) == 1, r.stderr
    line = lines[0]
    assert line.startswith("compose2helm: error: "), line
    assert case.file.format(**subst) in line, line
    if case.service:
        assert f"service {case.service!r}" in line, line
    if case.key:
        assert f"key {case.key!r}" in line, line
    assert case.match in line, line
    assert snapshot(out) == before
    assert snapshot(elsewhere) == before_elsewhere
    assert snapshot(d) == before_input
    assert not list(tmp_path.rglob(".compose2helm-*"))


def test_cases_cover_the_brief():
    assert len(CASES) >= 25
    assert set(IN_A_PROCESS) <= set(CASES)


# --- unknown keys: a warning by default, fatal with strict ------------------------------------

UNKNOWN = textwrap.dedent("""\
    services:
      app:
        image: nginx
        imagee: nginx:2
        x-mine: fine
    bogus_top: 1
    x-top: fine
""")


def test_unknown_keys_warn_on_the_command_line(tmp_path):
    src = tmp_path / SRC
    src.parent.mkdir(parents=True)
    src.write_text(UNKNOWN)
    out = tmp_path / "out"
    r = run_cli("convert", str(src), "--out", str(out), "--format", "json")
    assert r.returncode == 0, r.stderr
    import json
    warnings = json.loads(r.stdout)["warnings"]
    assert f"{src}: service 'app': key 'imagee': unknown service key (did you mean 'image'?); ignored" \
        in warnings
    assert f"{src}: key 'bogus_top': unknown top-level key; ignored" in warnings
    assert not any("x-" in w for w in warnings)
    r = run_cli("convert", str(src), "--out", str(out))
    assert r.returncode == 0, r.stderr
    text = " ".join(r.stdout.split())
    assert "imagee" in text and "bogus_top" in text


@pytest.mark.parametrize("text,service,key", [
    ("services:\n  app: {image: x, imagee: y}\n", "app", "imagee"),
    ("services:\n  app: {image: x}\nbogus_top: 1\n", None, "bogus_top"),
    ("x-a: &a {imagee: y}\nservices:\n  app:\n    <<: *a\n    image: x\n", "app", "imagee"),
])
def test_unknown_keys_fatal_when_strict(tmp_path, text, service, key):
    src = tmp_path / "compose.yaml"
    src.write_text(text)
    with pytest.raises(InputError) as e:
        load_project([src], strict=True)
    assert (e.value.file, e.value.service, e.value.key) == (str(src), service, key)
    assert "unknown" in str(e.value) and "\n" not in str(e.value)
    p = load_project([src])
    assert len(p.warnings) == 1 and key in p.warnings[0]
    assert key not in p.services["app"].extra


def test_strict_on_the_command_line(tmp_path):
    if "--strict" not in run_cli("convert", "--help").stdout:
        pytest.skip("--strict is not wired into the command line yet")
    src = tmp_path / SRC
    src.parent.mkdir(parents=True)
    src.write_text(UNKNOWN)
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine\n")
    before = snapshot(out)
    r = run_cli("convert", str(src), "--out", str(out), "--strict")
    assert r.returncode == 2 and len(r.stderr.splitlines()) == 1, r.stderr
    assert str(src) in r.stderr and "unknown" in r.stderr
    assert snapshot(out) == before


# --- YAML as compose reads it (1.2): valid files the loader once refused or misread ---------------

def test_yaml_1_2_scalars(tmp_path):
    src = tmp_path / "compose.yaml"
    src.write_text(textwrap.dedent("""\
        services:
          app:
            image: x
            restart: no
            ports: [22:22, 8080:80]
            environment: {A: yes, B: on, C: 2024-01-01, D: 017, E: 0x1F, F: =}
            labels: {no: off, y: n}
    """))
    s = load_project([src]).services["app"]
    assert s.restart == "no"
    assert s.ports == [Port(22, 22), Port(80, 8080)]
    assert {k: v.source() for k, v in s.environment.items()} == \
        {"A": "yes", "B": "on", "C": "2024-01-01", "D": "017", "E": "0x1F", "F": "="}
    assert s.extra["labels"] == {"no": "off", "y": "n"}
