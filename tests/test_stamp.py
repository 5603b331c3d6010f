"""Generated files carry a stamp; hand-edited ones are never overwritten without --force."""
from __future__ import annotations

import json
import shutil

from conftest import call_cli, load_yaml, REPO

from compose2helm.pipeline.output import generated_files as _files
from compose2helm.util.stamp import stamp, state


CHATQNA = REPO / "examples/ChatQnA/docker/gaudi/compose.yaml"


def test_stamp_round_trip_in_each_syntax():
    for rel, body in [("a/values.yaml", "x: 1\n"), ("a/README.md", "# a\n"),
                      ("a/templates/svc.yaml", "kind: Service\n"), ("a/.helmignore", ".git/\n"),
                      ("a/values.schema.json", '{\n  "type": "object"\n}\n')]:
        text = stamp(rel, body)
        assert text != body and state(text) == "generated"
        assert stamp(rel, text) == text                      # idempotent
        assert state(text.replace("1", "2").replace("Service", "Pod").replace("object", "array")
                     .replace(".git", ".svn").replace("# a", "# b")) == "edited"
    assert state("x: 1\n") == "foreign"
    assert json.loads(stamp("s.json", '{\n  "type": "object"\n}\n'))["type"] == "object"
    assert load_yaml(stamp("v.yaml", "x: 1\n")) == {"x": 1}


def test_every_committed_file_is_stamped_and_unedited():
    files = _files(REPO)
    assert len(files) > 100
    bad = [rel for rel, p in files.items() if state(p.read_text(encoding="utf-8")) != "generated"]
    assert bad == []


def _convert(out, *extra):
    return call_cli("convert", str(CHATQNA), "--out", str(out), "-q", "--no-verify", *extra)


def test_hand_edited_file_is_kept_unless_forced(tmp_path):
    assert _convert(tmp_path).returncode == 0
    values = tmp_path / "helm-charts/common/tgi/values.yaml"
    edited = values.read_text() + "# a note of mine\n"
    values.write_text(edited)
    before = {rel: p.read_bytes() for rel, p in _files(tmp_path).items()}
    result = _convert(tmp_path, "--chart-version", "9.9.9")      # a run that would change every chart
    assert result.returncode == 2
    line = result.stderr.strip()
    assert "\n" not in line and "helm-charts/common/tgi/values.yaml" in line and "--force" in line
    assert {rel: p.read_bytes() for rel, p in _files(tmp_path).items()} == before   # nothing written
    assert _convert(tmp_path, "--chart-version", "9.9.9", "--force").returncode == 0
    assert state(values.read_text()) == "generated" and "a note of mine" not in values.read_text()


def test_file_not_written_by_the_tool_is_refused(tmp_path):
    assert _convert(tmp_path).returncode == 0
    chart = tmp_path / "helm-charts/common/tgi/Chart.yaml"
    body = "".join(chart.read_text().splitlines(keepends=True)[1:])   # the same chart, no stamp
    chart.write_text(body)
    result = _convert(tmp_path)
    assert result.returncode == 2 and "not written by compose2helm" in result.stderr
    assert chart.read_text() == body


def test_unchanged_files_are_not_rewritten(tmp_path):
    assert _convert(tmp_path).returncode == 0
    mtimes = {rel: p.stat().st_mtime_ns for rel, p in _files(tmp_path).items()}
    assert _convert(tmp_path).returncode == 0
    assert {rel: p.stat().st_mtime_ns for rel, p in _files(tmp_path).items()} == mtimes
    assert not [p for p in tmp_path.rglob(".*") if p.name.startswith(".compose2helm-") or p.name.startswith(".values")]


def test_stamped_charts_still_lint_and_copy(tmp_path):
    shutil.copytree(REPO / "helm-charts", tmp_path / "helm-charts")
    assert _convert(tmp_path).returncode == 0
