"""Several files of one example converted together (convert_many, and migrate through it)."""
from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from conftest import by_kind, load_yaml, manifest_objects

from compose2helm.errors import InputError, VerificationError
from compose2helm.helm import render
from compose2helm.helm.documents import manifest_text
from compose2helm.pipeline.convert import Source, convert, convert_many
from compose2helm.pipeline.migrate import migrate
from compose2helm.util.stamp import unstamped


MEGA = """
services:
  backend:
    image: opea/chatqna:1.2
    ports: ["8888:8888"]
    environment:
      LLM_SERVER_HOST_IP: vllm
      LLM_SERVER_PORT: 80
  vllm:
    image: opea/vllm:1.2
    ports: ["9009:80"]
"""
# No megaservice: sorted first, so a conversion in turn wrote its overlay before the umbrella had one.
NO_MEGA = """
services:
  vllm:
    image: opea/vllm:1.2
    ports: ["9009:80"]
"""


def _write(root: Path, platform: str, text: str) -> Path:
    path = root / "Ex" / "docker" / platform / "compose.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def _rendered_again(out: Path, chart: str, overlay: str) -> str:
    """As the manifests are rendered: render-only, into the release's namespace, created first."""
    from compose2helm.pipeline.umbrella import namespace_text

    values = load_yaml((out / "helm-charts" / chart / f"{overlay}-values.yaml").read_text(encoding="utf-8"))
    values["global"] = {**(values.get("global") or {}), "renderOnly": True}
    return namespace_text(chart) + manifest_text(render.render_chart(out / "helm-charts" / chart, values, chart,
                                                                     namespace=chart))


def test_every_manifest_is_what_its_overlay_gives_with_the_final_umbrella(tmp_path):
    root = tmp_path / "in"
    _write(root, "aipc", NO_MEGA)
    _write(root, "xeon", MEGA)
    report = migrate(root, tmp_path / "out", jobs=1)
    assert [o.status for o in report.outcomes] == ["verified", "verified"]
    out = tmp_path / "out"
    for overlay in ("aipc", "cpu"):
        committed = (out / "manifests/Ex" / overlay / "ex.yaml").read_text(encoding="utf-8")
        assert unstamped(committed) == _rendered_again(out, "ex", overlay)
    # The umbrella has the megaservice's templates: the overlay without one turns them off.
    assert load_yaml((out / "helm-charts/ex/aipc-values.yaml").read_text())["enabled"] is False
    assert "ex" not in by_kind(manifest_objects(out / "manifests/Ex/aipc/ex.yaml"), "Deployment")
    assert "ex" in by_kind(manifest_objects(out / "manifests/Ex/cpu/ex.yaml"), "Deployment")


def test_a_file_that_does_not_render_leaves_the_others_and_the_umbrella_without_it(tmp_path, monkeypatch):
    root = tmp_path / "in"
    sources = [Source((_write(root, "aipc", NO_MEGA),)), Source((_write(root, "xeon", MEGA),))]
    real = render.render_chart

    def render_chart(chart_dir, values, release, namespace="default", **kwargs):
        if values.get("enabled") is False:   # the file without a megaservice
            raise InputError("template: boom", file=chart_dir)
        return real(chart_dir, values, release, namespace, **kwargs)

    monkeypatch.setattr("compose2helm.pipeline.umbrella.render_chart", render_chart)
    first, second = convert_many(sources, tmp_path / "out")
    assert isinstance(first, VerificationError) and "aipc/compose.yaml" in str(first) and "boom" in str(first)
    assert second.ok and "manifests/Ex/cpu/ex.yaml" in second.changed
    chart = tmp_path / "out/helm-charts/ex"
    assert sorted(p.name for p in chart.glob("*-values.yaml")) == ["cpu-values.yaml"]
    assert "aipc" not in (chart / "README.md").read_text() + (chart / "values.yaml").read_text()
    assert not (tmp_path / "out/manifests/Ex/aipc").exists()


def test_each_result_lists_the_files_it_wrote(tmp_path):
    root = tmp_path / "in"
    sources = [Source((_write(root, "aipc", NO_MEGA),)), Source((_write(root, "xeon", MEGA),))]
    first, second = convert_many(sources, tmp_path / "out")
    assert "helm-charts/ex/aipc-values.yaml" in first.changed and "helm-charts/ex/aipc-values.yaml" not in second.changed
    assert "manifests/Ex/cpu/ex.yaml" in second.changed and "manifests/Ex/cpu/ex.yaml" not in first.changed
    assert "helm-charts/ex/Chart.yaml" in first.changed and "helm-charts/ex/Chart.yaml" in second.changed
    again = convert_many(sources, tmp_path / "out")
    assert [r.changed for r in again] == [[], []]


def test_an_input_error_is_that_files_result_only(tmp_path):
    root = tmp_path / "in"
    bad = _write(root, "gaudi", "services:\n  a:\n    image: x\n    ports: ['99999:80']\n")
    good = _write(root, "xeon", MEGA)
    first, second = convert_many([Source((bad,)), Source((good,))], tmp_path / "out")
    assert isinstance(first, InputError) and "ports" in str(first)
    assert second.ok
    assert not (tmp_path / "out/helm-charts/ex/gaudi-values.yaml").exists()


def test_a_hand_edited_output_file_stops_the_whole_batch(tmp_path):
    root = tmp_path / "in"
    sources = [Source((_write(root, "aipc", NO_MEGA),)), Source((_write(root, "xeon", MEGA),))]
    convert_many(sources, tmp_path / "out")
    readme = tmp_path / "out/helm-charts/ex/README.md"
    readme.write_text(readme.read_text() + "\nmy notes\n")
    _write(root, "xeon", MEGA.replace("1.2", "1.3"))
    before = {p: p.read_bytes() for p in (tmp_path / "out").rglob("*") if p.is_file()}
    results = convert_many(sources, tmp_path / "out")
    assert all(isinstance(r, InputError) and "edited by hand" in str(r) for r in results)
    assert before == {p: p.read_bytes() for p in (tmp_path / "out").rglob("*") if p.is_file()}


def test_convert_raises_what_convert_many_reports(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        convert([tmp_path / "missing.yaml"], tmp_path / "out")
    with pytest.raises(InputError, match="layout"):
        convert_many([Source((tmp_path / "x.yaml",))], tmp_path / "out", layout="sideways")


def test_a_file_whose_overlay_a_later_file_replaces_says_so(tmp_path):
    folder = tmp_path / "in" / "Ex" / "docker" / "xeon"   # compose.yaml beside docker-compose.yaml: one place
    folder.mkdir(parents=True)
    (folder / "compose.yaml").write_text(textwrap.dedent(MEGA).replace("1.2", "1.1"))
    (folder / "docker-compose.yaml").write_text(textwrap.dedent(MEGA))
    report = migrate(tmp_path / "in", tmp_path / "out", jobs=1)
    first, second = report.outcomes
    assert (first.status, second.status) == ("verified", "verified")
    assert "replaced by those of Ex/docker/xeon/docker-compose.yaml" in first.reason
    assert second.reason == ""
    manifest = (tmp_path / "out" / second.manifest).read_text()
    assert "opea/chatqna:1.2" in manifest and "opea/chatqna:1.1" not in manifest


def test_two_versions_of_an_example_side_by_side_each_keep_their_output(tmp_path):
    root = tmp_path / "in"
    for version, tag in (("a", "1.1"), ("b", "1.2")):
        path = root / version / "Ex" / "docker" / "xeon" / "compose.yaml"
        path.parent.mkdir(parents=True)
        path.write_text(textwrap.dedent(MEGA).replace("1.2", tag))
    report = migrate(root, tmp_path / "out", jobs=1)
    first, second = report.outcomes
    assert (first.status, first.reason, second.status, second.reason) == ("verified", "", "verified", "")
    assert (first.example, second.example) == ("a", "b")
    assert first.manifest != second.manifest
    assert "opea/chatqna:1.1" in (tmp_path / "out" / first.manifest).read_text()
    assert "opea/chatqna:1.2" in (tmp_path / "out" / second.manifest).read_text()


@pytest.mark.parametrize("meta, message", [
    ("dependencies: [tgi]\n", "dependency without a name"),
    ("dependencies:\n  - alias: x\n", "dependency without a name"),
    ("- a\n", "was not written by compose2helm"),     # not a mapping: nothing is read from it
])
def test_an_umbrella_left_with_odd_metadata_is_a_one_line_input_error(tmp_path, meta, message):
    src = _write(tmp_path / "in", "xeon", MEGA)
    chart = tmp_path / "out/helm-charts/ex"
    chart.mkdir(parents=True)
    (chart / "Chart.yaml").write_text(meta)
    with pytest.raises(InputError, match=message) as err:
        convert([src], tmp_path / "out")
    assert "Chart.yaml" in str(err.value) and "\n" not in str(err.value)


def test_an_interrupted_batch_does_not_wait_for_the_renders_still_queued(tmp_path, monkeypatch):
    import time as clock

    root = tmp_path / "in"
    sources = [Source((_write(root, platform, MEGA),)) for platform in ("aipc", "gaudi", "rocm", "xeon")]
    rendered = []
    real = render.render_chart

    def slow(*args, **kwargs):
        clock.sleep(0.3)
        rendered.append(args[1])
        return real(*args, **kwargs)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("compose2helm.pipeline.umbrella.render_chart", slow)
    monkeypatch.setattr("compose2helm.pipeline.umbrella._checks", interrupted)
    with pytest.raises(KeyboardInterrupt):
        convert_many(sources, tmp_path / "out", lint=False)
    assert len(rendered) < len(sources)
    assert not (tmp_path / "out/helm-charts").exists()
