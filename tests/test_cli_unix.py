"""The command line as a Unix tool (issue 19): exit codes with one meaning each, output that reads
well on a pipe or in a CI log, JSON errors, migrate's progress and dry run, YAML error places,
which manifest verify compared, and --helm-bin. Every test runs the installed command as a
subprocess whose stdout and stderr are pipes (test_cli.run)."""
from __future__ import annotations

import json
import os
import re
import shutil
import textwrap
from pathlib import Path

import pytest
from conftest import FIXTURES, load_yaml_all, REPO
from test_cli import GAUDI, run


INPUT_GAUDI = FIXTURES / "ChatQnA/docker_compose/intel/hpu/gaudi"
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
BOX = set("┃│┏┓┗┛━─┡┩╇╭╮╰╯")


def one_error_line(r) -> str:
    lines = r.stderr.splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("compose2helm: error: ") and "Traceback" not in r.stderr, r.stderr
    return lines[0]


# --- exit codes -------------------------------------------------------------------------------------

USAGE = {
    "unknown command": (["frobnicate"], "No such command 'frobnicate'"),
    "unknown option": (["convert", "--bogus", "x.yaml"], "No such option: --bogus"),
    "option without its value": (["convert", "-f"], "Option '-f' requires an argument"),
    "value out of range": (["migrate", "x", "--jobs", "0"], "Invalid value for '--jobs' / '-j': 0 is not"),
    "missing argument": (["convert"], "Missing argument"),
    "missing argument of template": (["template"], "Missing argument"),
    "bad --format": (["convert", "{gaudi}", "--format", "xml"], "--format must be text or json, not 'xml'"),
    "bad --format of explain": (["explain", "{gaudi}", "--format", "xml"], "--format must be text or json"),
    "bad --layout": (["convert", "{gaudi}", "--layout", "sideways"], "--layout must be flat or nested"),
    "unknown option of verify": (["verify", "{gaudi}", "--frobnicate"], "No such option: --frobnicate"),
}


@pytest.mark.parametrize("name", sorted(USAGE))
def test_usage_errors_exit_2_with_one_line_naming_the_option(name, tmp_path):
    args, message = USAGE[name]
    r = run(*[a.format(gaudi=GAUDI) for a in args], cwd=tmp_path)
    assert r.returncode == 2, (r.returncode, r.stderr)
    line = one_error_line(r)
    assert message in line and "internal error" not in line, line
    assert r.stdout == "" and list(tmp_path.iterdir()) == []


def test_no_command_prints_the_help_on_stderr_and_exits_2():
    r = run()
    assert r.returncode == 2 and "Usage: compose2helm" in r.stderr and r.stdout == ""
    r = run("dependency")
    assert r.returncode == 2 and "update" in r.stdout + r.stderr and "internal error" not in r.stderr
    for args in (["--help"], ["convert", "--help"], ["--version"]):
        r = run(*args)
        assert r.returncode == 0 and r.stdout and r.stderr == "", (args, r.stderr)


@pytest.fixture
def breaks_reading(tmp_path):
    """An environment in which reading any compose file raises ZeroDivisionError: a bug."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(textwrap.dedent("""
        import compose2helm.compose.read as read

        def read_yaml(path):
            raise ZeroDivisionError("a bug of ours")

        read.read_yaml = read_yaml
    """))
    return {"PYTHONPATH": os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))}


def test_internal_error_exits_123_with_the_debug_hint(breaks_reading):
    r = run("explain", str(GAUDI), env=breaks_reading)
    assert r.returncode == 123, (r.returncode, r.stderr)
    line = one_error_line(r)
    assert "internal error (ZeroDivisionError): a bug of ours" in line and "COMPOSE2HELM_DEBUG=1" in line
    r = run("explain", str(GAUDI), "--format", "json", env=breaks_reading)
    assert r.returncode == 123 and "internal error (ZeroDivisionError)" in json.loads(r.stdout)["error"]["message"]
    r = run("explain", str(GAUDI), env={**breaks_reading, "COMPOSE2HELM_DEBUG": "1"})
    assert r.returncode != 0 and "Traceback" in r.stderr and "ZeroDivisionError" in r.stderr


@pytest.fixture(scope="module")
def converted(tmp_path_factory) -> Path:
    """input-compose's ChatQnA Gaudi TGI file converted into a fresh output root (overlay gaudi-tgi)."""
    out = tmp_path_factory.mktemp("converted")
    r = run("convert", str(INPUT_GAUDI / "compose_tgi.yaml"), "--out", str(out), "-q")
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.startswith("verified: ") and len(r.stdout.splitlines()) == 1   # -q: the verdict line only
    return out


def test_verify_says_which_manifest_and_is_short_when_it_passes(converted):
    r = run("verify", str(INPUT_GAUDI / "compose_tgi.yaml"), "--out", str(converted))
    assert r.returncode == 0, r.stdout + r.stderr
    lines = r.stdout.splitlines()
    manifest = converted / "manifests/ChatQnA/gaudi-tgi"
    assert lines[0] == f"compared ChatQnA/docker_compose/intel/hpu/gaudi/compose_tgi.yaml with {manifest}"
    assert lines[-1].startswith("verified: ") and len(lines) <= 4 and "warning" not in r.stdout, r.stdout
    verbose = run("verify", str(INPUT_GAUDI / "compose_tgi.yaml"), "--out", str(converted), "-v").stdout
    assert len(verbose.splitlines()) > 50 and "\nexplained: tgi-service -> chatqna-tgi: " in verbose
    quiet = run("verify", str(INPUT_GAUDI / "compose_tgi.yaml"), "--out", str(converted), "-q").stdout
    assert quiet.splitlines() == [lines[-1]]


def test_verify_warns_when_the_manifest_was_converted_from_another_file_and_exits_1(converted):
    """examples/ChatQnA/docker/gaudi/compose.yaml (mid-2024, TGI) has the same overlay name, gaudi-tgi."""
    r = run("verify", str(GAUDI), "--out", str(converted))
    assert r.returncode == 1, r.stdout + r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == f"compared ChatQnA/docker/gaudi/compose.yaml with {converted / 'manifests/ChatQnA/gaudi-tgi'}"
    warning = next(line for line in lines if line.startswith("warning: "))
    assert "converted from ChatQnA/docker_compose/intel/hpu/gaudi/compose_tgi.yaml" in warning
    assert any(line.startswith("unexplained: ") for line in lines) and lines[-1].startswith("NOT verified: ")
    quiet = run("verify", str(GAUDI), "--out", str(converted), "-q")
    assert quiet.returncode == 1 and len(quiet.stdout.splitlines()) == 1 and "warning: " in quiet.stdout
    report = run("verify", str(GAUDI), "--out", str(converted), "--format", "json")
    assert report.returncode == 1
    data = json.loads(report.stdout)
    assert data["ok"] is False and data["manifest"].endswith("manifests/ChatQnA/gaudi-tgi") and data["warnings"]


# --- JSON errors and error places -------------------------------------------------------------------

def test_errors_are_json_with_format_json(tmp_path):
    r = run("convert", str(tmp_path / "nope.yaml"), "--format", "json", "--out", str(tmp_path / "out"))
    assert r.returncode == 2 and one_error_line(r)
    error = json.loads(r.stdout)["error"]
    assert error["file"] == str(tmp_path / "nope.yaml") and error["message"] and error["service"] is None
    assert set(error) >= {"message", "file", "service", "key"}

    src = tmp_path / "Ex/docker/xeon/compose.yaml"
    src.parent.mkdir(parents=True)
    src.write_text("services:\n  app:\n    image: x\n    ports: ['99999:80']\n")
    r = run("convert", str(src), "--format=json", "--out", str(tmp_path / "out"))
    assert r.returncode == 2
    error = json.loads(r.stdout)["error"]
    assert (error["file"], error["service"], error["key"]) == (str(src), "app", "ports")

    r = run("migrate", str(tmp_path), "--bogus", "--format", "json")
    assert r.returncode == 2 and "--bogus" in json.loads(r.stdout)["error"]["message"]


def test_yaml_errors_read_file_line_column(tmp_path):
    src = tmp_path / "Ex/docker/xeon/compose.yaml"
    src.parent.mkdir(parents=True)
    src.write_text('services:\n  web:\n    image: nginx\n    ports:\n      - "8080:80\n')
    r = run("convert", str(src), "--out", str(tmp_path / "out"))
    assert r.returncode == 2
    assert one_error_line(r) == (f"compose2helm: error: {src}:6:1: invalid YAML: found unexpected end of stream "
                                 "(while scanning a quoted scalar from line 5, column 9)")
    r = run("explain", str(src), "--format", "json")
    assert r.returncode == 2 and "<unicode string>" not in r.stdout + r.stderr and "^" not in r.stderr
    error = json.loads(r.stdout)["error"]
    assert (error["file"], error["line"], error["column"]) == (str(src), 6, 1)


# --- output where it lands --------------------------------------------------------------------------

VARIANT = "with_a_deliberately_long_variant_name_for_the_plain_output_test"


def small_tree(root: Path) -> str:
    """A tree of one example, one file with a long path; returns that path inside the tree."""
    rel = f"LongPaths/docker_compose/intel/cpu/xeon/compose_{VARIANT}.yaml"
    (root / rel).parent.mkdir(parents=True)
    (root / rel).write_text("services:\n  web:\n    image: example.com/web:1.0\n    ports: ['8080:80']\n")
    return rel


def test_plain_lines_on_a_pipe_and_rich_tables_with_force_color(tmp_path):
    rel = small_tree(tmp_path / "tree")
    r = run("migrate", str(tmp_path / "tree"), "--out", str(tmp_path / "out"))
    assert r.returncode == 0, r.stdout + r.stderr
    assert not ANSI.search(r.stdout + r.stderr) and not BOX & set(r.stdout) and "…" not in r.stdout
    assert any(line.startswith(f"verified {rel}: ") for line in r.stdout.splitlines()), r.stdout
    assert r.stdout.splitlines()[-1].startswith("summary: 1 files: 1 verified, 0 unverified, 0 rejected")
    # progress: the files counted first, then one line per file, on stderr
    assert r.stderr.splitlines() == ["converting LongPaths: 1 file(s)", f"[1/1] verified {rel}"]

    quiet = run("migrate", str(tmp_path / "tree"), "--out", str(tmp_path / "out"), "-q")
    assert quiet.stdout.splitlines() == [r.stdout.splitlines()[-1]] and quiet.stderr == ""

    wide = run("migrate", str(tmp_path / "tree"), "--out", str(tmp_path / "out"),
               env={"FORCE_COLOR": "1", "COLUMNS": "200"})
    widths = [len(ANSI.sub("", line)) for line in wide.stdout.splitlines()]
    assert BOX & set(wide.stdout) and ANSI.search(wide.stdout) and max(widths) <= 200 and max(widths) > 120
    narrow = run("migrate", str(tmp_path / "tree"), "--out", str(tmp_path / "out"),
                 env={"FORCE_COLOR": "1", "COLUMNS": "60", "NO_COLOR": "1"})
    assert BOX & set(narrow.stdout) and max(len(ANSI.sub("", line)) for line in narrow.stdout.splitlines()) <= 60
    assert not re.search(r"\x1b\[[0-9;]*(3|9)[0-7]m", narrow.stdout)     # NO_COLOR: no colour codes


def test_explain_summary_says_what_each_count_is(tmp_path):
    src = tmp_path / "Ex/docker/xeon/compose.yaml"
    src.parent.mkdir(parents=True)
    src.write_text(textwrap.dedent("""\
        services:
          app:
            image: example.com/app:1
            ports: ["8080:80"]
            environment:
              REMOTE_URL: http://${host_ip}:7777
    """))
    r = run("explain", str(src), "--summary")
    assert r.returncode == 0, r.stderr
    assert "unresolved 1 (addresses that name no service or port of the file, left as written)" in r.stdout
    assert "services per rule: " in r.stdout and not BOX & set(r.stdout)
    assert run("explain", str(src), "--format", "text").returncode == 0
    rich = run("explain", str(src), env={"FORCE_COLOR": "1", "COLUMNS": "120"})
    assert "app -> app [app] rule generic" in ANSI.sub("", rich.stdout)   # text is never read as rich markup


# --- migrate --dry-run does what the real run does --------------------------------------------------

def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_dry_runs_refuse_hand_edits_and_exit_as_the_real_run(tmp_path):
    small_tree(tmp_path / "tree")
    fresh = tmp_path / "fresh"
    r = run("migrate", str(tmp_path / "tree"), "--out", str(fresh), "--dry-run")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "would write manifests/LongPaths/" in r.stdout and not fresh.exists()

    out = tmp_path / "out"
    report = json.loads(run("migrate", str(tmp_path / "tree"), "--out", str(out), "--format", "json").stdout)
    manifest = out / report["files"][0]["manifest"]
    manifest.write_text(manifest.read_text() + "# a note of mine\n")
    before = snapshot(out)
    dry = run("migrate", str(tmp_path / "tree"), "--out", str(out), "--dry-run")
    assert dry.returncode == 1 and snapshot(out) == before
    refused = [line for line in dry.stdout.splitlines() if line.startswith("rejected ")]
    assert len(refused) == 1 and f"{manifest}: was edited by hand" in refused[0], dry.stdout
    real = run("migrate", str(tmp_path / "tree"), "--out", str(out))
    assert real.returncode == 1 and snapshot(out) == before
    assert [line for line in real.stdout.splitlines() if line.startswith("rejected ")] == refused

    src = tmp_path / "tree" / report["files"][0]["file"]
    for extra in (["--dry-run"], []):
        r = run("convert", str(src), "--out", str(out), *extra)
        assert r.returncode == 2 and f"{manifest}: was edited by hand" in one_error_line(r)
    assert snapshot(out) == before


# --- template --helm-bin ----------------------------------------------------------------------------

def test_helm_bin_gets_the_dependencies_the_embedded_engine_gets(converted, tmp_path):
    """A stand-in helm that lists charts/ of the chart it is given: they are there, in a scratch copy."""
    fake = tmp_path / "helm"
    fake.write_text('#!/bin/sh\necho "chart $3"\nls "$3/charts"\n')
    fake.chmod(0o755)
    chart = converted / "helm-charts/chatqna"
    assert not (chart / "charts").exists()
    r = run("template", "chatqna", str(chart), "--helm-bin", str(fake))
    assert r.returncode == 0, r.stderr
    listed = r.stdout.split()
    assert {"tgi", "tei", "teirerank", "redis-vector-db"} <= set(listed)
    scratch = Path(listed[1])
    assert scratch != chart and not scratch.exists() and not (chart / "charts").exists()


HELM = os.environ.get("HELM_BIN") or shutil.which("helm")


@pytest.mark.skipif(HELM is None, reason="no helm binary (HELM_BIN or helm on PATH)")
def test_helm_binary_and_embedded_engine_render_the_same_objects(converted):
    chart = converted / "helm-charts/chatqna"
    args = ["template", "chatqna", str(chart), "-f", str(chart / "gaudi-tgi-values.yaml"), "--set",
            "global.HF_TOKEN=x"]
    embedded, binary = run(*args), run(*args, "--helm-bin", HELM)
    assert embedded.returncode == 0 and binary.returncode == 0, binary.stderr

    def objects(text: str) -> list[str]:
        docs = [d for d in load_yaml_all(text) if d]
        return sorted(json.dumps(d, sort_keys=True) for d in docs)
    assert objects(binary.stdout) == objects(embedded.stdout)


# --- the READMEs say what the code does -------------------------------------------------------------

def install_overlay(readme: str, chart: str) -> tuple[str, str]:
    """(the overlay the install example names, the compose files its table row says it came from)."""
    overlay = re.search(rf"-f helm-charts/{chart}/(\S+-values\.yaml)", readme).group(1)
    sources = re.search(rf"^\| `{re.escape(overlay)}` \| `([^`]+)` \|$", readme, re.M).group(1)
    return overlay, sources


def test_umbrella_readme_installs_the_overlay_of_the_platforms_base_file(tmp_path):
    out = tmp_path / "out"
    for name in ("compose_tgi.yaml", "compose.yaml"):   # the TGI overlay sorts first
        r = run("convert", str(INPUT_GAUDI / name), "--out", str(out), "-q", "--no-verify")
        assert r.returncode == 0, r.stderr
    overlay, sources = install_overlay((out / "helm-charts/chatqna/README.md").read_text(), "chatqna")
    assert (overlay, sources) == ("gaudi-values.yaml", "ChatQnA/docker_compose/intel/hpu/gaudi/compose.yaml")


@pytest.mark.parametrize("readme", sorted((REPO / "helm-charts").glob("*/README.md")), ids=lambda p: p.parent.name)
def test_committed_umbrella_readmes_install_an_overlay_of_a_base_file(readme):
    overlay, sources = install_overlay(readme.read_text(), readme.parent.name)
    assert "," not in sources and Path(sources).name == "compose.yaml", (overlay, sources)


def test_readme_documents_exit_codes_and_output_modes():
    text = " ".join((REPO / "README.md").read_text().split())
    for needle in ("| 0 | done |", "| 1 | a check failed", "| 2 | bad input or usage", "| 123 |",
                   "COMPOSE2HELM_DEBUG=1", "FORCE_COLOR", "NO_COLOR", "COLUMNS", "`-q` prints the verdict line only",
                   '{"error": {"message"', "`FILE:LINE:COL`", "a bar on a terminal, one line per file elsewhere",
                   "plain lines: one service, finding, difference or file per line"):
        assert needle in text, needle
    policies = text[text.index("## Conversion policies"):]
    assert "named volume (`data:/var/lib/x`) → a PersistentVolumeClaim" in policies
    assert "named volumes, tmpfs → emptyDir" not in policies
