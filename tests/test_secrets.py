"""Secret values from env files never reach a generated file: every file written is scanned."""
from __future__ import annotations

import shutil

from conftest import load_yaml, load_yaml_all, REPO
from hypothesis import given
from hypothesis import strategies as st

from compose2helm.pipeline.migrate import migrate
from compose2helm.plan.rules import load_rules


PLANTED = {
    "HF_TOKEN": "planted-hf-7f3a",
    "HUGGINGFACEHUB_API_TOKEN": "planted-hub-91c2",
    "OPENAI_API_KEY": "planted-key-55de",
    "POSTGRES_PASSWORD": "planted-pass-0b8e",
    "JWT_SECRET": "planted-jwt-c4d1",
}

EXTRA = """\
services:
  db:
    image: postgres:16
    environment:
      POSTGRES_PASSWORD: ${POSTGRES_PASSWORD}
      POSTGRES_USER: app
    ports: ["5432:5432"]
  chatqna-xeon-backend-server:
    image: opea/chatqna:latest
    command: ["--token", "${HF_TOKEN}"]
    environment:
      - OPENAI_API_KEY=${OPENAI_API_KEY}
      - DB_URL=postgresql://app:${POSTGRES_PASSWORD}@db:5432/x
      - JWT_SECRET
      - ADMIN_PASSWORD=planted-literal-a9e0
      - FALLBACK=${UNSET_VALUE:-${HUGGINGFACEHUB_API_TOKEN}}
      - MAX_TOTAL_TOKENS=${MAX_TOTAL_TOKENS}
    ports: ["8888:8888"]
"""


def _tree(tmp_path):
    root = tmp_path / "tree"
    shutil.copytree(REPO / "examples", root)
    extra = root / "Planted/docker/xeon"
    extra.mkdir(parents=True)
    (extra / "compose.yaml").write_text(EXTRA)
    lines = "".join(f"{k}={v}\n" for k, v in PLANTED.items()) + "MAX_TOTAL_TOKENS=4096\n"
    for compose in root.rglob("compose.yaml"):   # every example's env file carries the planted values
        env = compose.parent / "set_env.env"
        env.write_text((env.read_text() if env.is_file() else "") + lines)
    return root


def test_no_planted_secret_in_any_generated_file(tmp_path):
    root = _tree(tmp_path)
    before = {p for p in root.rglob("*") if p.is_file()}
    report = migrate(root, tmp_path / "out", jobs=1, into_examples=True)
    assert report.ok and report.summary()["verified"] == 9
    written = [p for p in (tmp_path / "out").rglob("*") if p.is_file()]
    written += [p for p in root.rglob("*") if p.is_file() and p not in before]
    assert len(written) > 150 and any("kubernetes" in p.parts for p in written)
    leaks = [(p, v) for p in written for v in [*PLANTED.values(), "planted-literal-a9e0"]
             if v in p.read_text(encoding="utf-8")]
    assert leaks == []
    # The values are still wired: each secret lands, empty, in a Secret, and non-secrets carry over.
    manifest = tmp_path / "out/manifests/Planted/cpu/planted.yaml"
    docs = [d for d in load_yaml_all(manifest.read_text()) if d]
    secret_keys = {k for d in docs if d["kind"] == "Secret" for k in d.get("stringData", {})}
    assert {"OPENAI_API_KEY", "DB_URL", "JWT_SECRET", "ADMIN_PASSWORD", "FALLBACK", "POSTGRES_PASSWORD"} <= secret_keys
    config = {k: v for d in docs if d["kind"] == "ConfigMap" for k, v in d.get("data", {}).items()}
    assert config["MAX_TOTAL_TOKENS"] == "4096" and not set(config) & secret_keys


def test_existing_secret_replaces_the_generated_one(tmp_path):
    root = _tree(tmp_path)
    migrate(root, tmp_path / "out", jobs=1)
    values = load_yaml((tmp_path / "out/helm-charts/planted/values.yaml").read_text())
    assert "existingSecret" in values
    from compose2helm.helm.render import render_chart
    docs = render_chart(tmp_path / "out/helm-charts/planted", {"existingSecret": "made-elsewhere"}, "planted")
    deployments = [d.obj for d in docs if d.obj["kind"] == "Deployment" and d.obj["metadata"]["name"] == "planted"]
    refs = [e["secretRef"]["name"] for c in deployments[0]["spec"]["template"]["spec"]["containers"]
            for e in c.get("envFrom", []) if "secretRef" in e]
    assert refs == ["made-elsewhere"]
    assert not [d for d in docs if d.obj["kind"] == "Secret" and d.obj["metadata"]["name"] == "planted-secret"]


@given(name=st.one_of(st.text(max_size=20), st.sampled_from(["HF_TOKEN", "X_API_KEY", "A_PASSWORD", "_TOKEN",
                                                            "MY_SECRET", "my_token", "HF_TOKENS", "A_SECRET\n"])))
def test_a_secret_is_a_name_any_secret_pattern_matches(name):
    import fnmatch
    policy = load_rules([]).policy
    expected = name not in policy.secret_exceptions and any(fnmatch.fnmatchcase(name, p)
                                                            for p in policy.secret_patterns)
    assert policy.is_secret(name) == expected
