"""Any compose file converts with no flags, as a Kompose user expects (issue 17)."""
from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from conftest import by_kind, CORPUS, load_yaml, manifest_objects, needs_shared
from compose2helm.compose.layout import overlay_base
from compose2helm.errors import InputError
from compose2helm.pipeline.convert import convert
from compose2helm.pipeline.migrate import discover, migrate
from compose2helm.plan.rules import load_rules

WEB_REDIS = """
    services:
      web:
        image: nginx:1.27
        ports: ["8080:80"]
        environment:
          REDIS_HOST: redis
          DB_PASSWD: hunter2
      redis:
        image: redis:7.2
        ports: ["6379:6379"]
    """


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def test_a_plain_project_converts_without_flags(tmp_path):
    src = _write(tmp_path / "myapp" / "compose.yaml", WEB_REDIS)
    r = subprocess.run([sys.executable, "-m", "compose2helm", "convert", str(src), "--out", str(tmp_path / "out")],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    deployments = by_kind(manifest_objects(tmp_path / "out/manifests/myapp/default/myapp.yaml"), "Deployment")
    # each service keeps its name and its image: no OPEA chart claims the official nginx or redis
    assert sorted(deployments) == ["myapp-redis", "myapp-web"]
    images = {n: d["spec"]["template"]["spec"]["containers"][0]["image"] for n, d in deployments.items()}
    assert images == {"myapp-redis": "redis:7.2", "myapp-web": "nginx:1.27"}
    values = load_yaml((tmp_path / "out/helm-charts/myapp/default-values.yaml").read_text())
    assert values["web"]["env"]["REDIS_HOST"] == "{{ .Release.Name }}-redis"
    assert "DB_PASSWD" in values["web"]["secretEnv"] and "DB_PASSWD" not in values["web"].get("env", {})


def test_the_compose_name_names_the_example(tmp_path):
    src = _write(tmp_path / "folder" / "compose.yaml", "name: shop\n" + textwrap.dedent(WEB_REDIS))
    result = convert([src], tmp_path / "out")
    assert (result.plan.example, result.plan.chart, result.plan.overlay_name) == ("shop", "shop", "default")


def test_port_ranges_expand_to_one_port_each(tmp_path):
    src = _write(tmp_path / "p" / "compose.yaml", """
        services:
          app:
            image: example.com/app:1
            ports: ["9000-9002:3000-3002", "7000-7010:80"]
            expose: ["5000-5001"]
        """)
    result = convert([src], tmp_path / "out")
    assert [p.port for p in next(iter(result.plan.instances)).values.ports] == [3000, 3001, 3002, 80, 5000, 5001]
    assert result.ok


@pytest.mark.parametrize("ports, message", [(["3000-3002:80-81"], "differ in length"), (["90-80"], "backwards")])
def test_bad_port_ranges_are_input_errors(tmp_path, ports, message):
    src = _write(tmp_path / "p" / "compose.yaml", f"services:\n  app:\n    image: x\n    ports: {ports}\n")
    with pytest.raises(InputError, match=message) as err:
        convert([src], tmp_path / "out")
    assert err.value.service == "app" and err.value.key == "ports"


def test_build_without_image_converts_to_the_image_compose_would_build(tmp_path):
    src = _write(tmp_path / "shop" / "compose.yaml", """
        services:
          api:
            build: ./src
            ports: ["8000:8000"]
        """)
    result = convert([src], tmp_path / "out")
    assert result.ok
    assert next(iter(result.plan.instances)).values.image.repository == "shop-api"
    assert any("built from source" in w and "shop-api" in w for w in result.warnings)


def test_long_object_names_are_shortened_without_collisions(tmp_path):
    long = "a-very-long-service-name-from-the-opea-components-repository"
    src = _write(tmp_path / "ex" / "compose.yaml", f"""
        services:
          {long}-one:
            image: example.com/one:1
            ports: ["8000:8000"]
          {long}-two:
            image: example.com/two:1
            ports: ["8001:8001"]
            environment:
              PEER: http://{long}-one:8000
        """)
    result = convert([src], tmp_path / "out")
    assert result.ok
    names = [f"{result.release}-{i.name}" for i in result.plan.instances]
    assert all(len(n) <= 63 for n in names) and len(set(names)) == 2
    again = convert([src], tmp_path / "again")
    assert [i.name for i in again.plan.instances] == [i.name for i in result.plan.instances]
    deployments = by_kind(manifest_objects(tmp_path / "out" / result.manifest), "Deployment")
    assert sorted(deployments) == sorted(names)
    peer = result.plan.instances[1].values.env["PEER"]
    assert peer == "http://{{ .Release.Name }}-" + result.plan.instances[0].name + ":8000"


def test_an_env_entry_without_a_name_is_an_input_error(tmp_path):
    src = _write(tmp_path / "e" / "compose.yaml", 'services:\n  a:\n    image: x\n    environment: ["=novalue"]\n')
    with pytest.raises(InputError, match="no variable name") as err:
        convert([src], tmp_path / "out")
    assert (err.value.service, err.value.key) == ("a", "environment")


def test_overlays_are_told_by_content_not_name(tmp_path):
    d = tmp_path / "Ex" / "docker" / "xeon"
    _write(d / "compose.yaml", WEB_REDIS)
    webtool = _write(d / "compose.webtool.yaml", "services:\n  web:\n    environment: {TOOL: 'on'}\n")
    remote = _write(d / "compose_remote.yaml", WEB_REDIS)          # complete: converted on its own
    dependent = _write(d / "compose.extra.yaml", """
        services:
          worker:
            image: example.com/worker:1
            depends_on: [redis]
        """)
    assert overlay_base(webtool) == (d / "compose.yaml", "webtool")
    assert overlay_base(remote) is None
    assert overlay_base(dependent) == (d / "compose.yaml", "extra")
    alone = tmp_path / "Solo" / "docker" / "xeon" / "compose_remote.yaml"
    _write(alone, WEB_REDIS)
    jobs, skipped = discover(tmp_path / "Solo")
    assert [j.files for j in jobs] == [[alone]] and skipped == []


def test_migrate_converts_a_tree_without_the_genaiexamples_layout(tmp_path):
    _write(tmp_path / "tree" / "shop" / "compose.yaml", WEB_REDIS)
    _write(tmp_path / "tree" / "blog" / "docker-compose.yml", WEB_REDIS)
    report = migrate(tmp_path / "tree", tmp_path / "out")
    assert sorted((o.file, o.status) for o in report.outcomes) == [("blog/docker-compose.yml", "verified"),
                                                                   ("shop/compose.yaml", "verified")]
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no compose file"):
        migrate(tmp_path / "empty", tmp_path / "out2")


CREDENTIALS = ["HF_TOKEN", "OPENAI_API_KEY", "MINIO_SECRET_KEY", "MINIO_ACCESS_KEY", "AWS_SECRET_ACCESS_KEY",
               "AWS_ACCESS_KEY_ID", "DB_PASSWD", "DB_PASS", "SSH_PRIVATE_KEY", "GCP_CREDENTIALS", "BASIC_AUTH",
               "MARIADB_PASSWORD", "API_KEY", "GF_SECURITY_ADMIN_PASSWORD"]
NOT_CREDENTIALS = ["MAX_TOTAL_TOKENS", "MAX_INPUT_TOKENS", "DOCSUM_MAX_TOTAL_TOKENS", "MAX_BATCHED_TOKENS",
                   "NUM_TOKENS", "TOKENIZERS_PARALLELISM", "KEY_PREFIX", "INDEX_NAME", "PASSTHROUGH"]


def test_secret_names_are_what_a_credential_scanner_calls_credentials():
    policy = load_rules().policy
    assert [n for n in CREDENTIALS if not policy.is_secret(n)] == []
    assert [n for n in NOT_CREDENTIALS if policy.is_secret(n)] == []


@needs_shared
def test_no_count_or_length_in_the_corpus_is_taken_for_a_secret():
    policy = load_rules().policy
    names: set[str] = set()
    for f in CORPUS.rglob("*"):
        if f.is_file() and f.suffix in (".yaml", ".yml", ".sh", ".env"):
            names |= set(re.findall(r"\b[A-Z][A-Z0-9_]*\b", f.read_text(errors="ignore")))
    secret = {n for n in names if policy.is_secret(n)}
    assert not {n for n in secret if re.search(r"(TOKENS|LENGTH|SIZE|COUNT|NUM|MAX|PORT)", n)}
    assert {"HF_TOKEN", "MINIO_SECRET_KEY", "MINIO_ACCESS_KEY", "OPENAI_API_KEY"} <= secret


def test_a_required_secret_is_left_to_install_time_and_other_variables_still_refuse(tmp_path):
    src = _write(tmp_path / "app" / "compose.yaml", """
        services:
          app:
            image: example.com/app:1
            environment:
              OPENAI_API_KEY: ${OPENAI_API_KEY:?set your OpenAI key}
              MODEL: ${MODEL:?set MODEL}
        """)
    with pytest.raises(InputError, match="MODEL is not set: set MODEL") as err:
        convert([src], tmp_path / "out")
    assert (err.value.service, err.value.key) == ("app", "environment")
    src.write_text(src.read_text().replace("      MODEL: ${MODEL:?set MODEL}\n", ""))
    result = convert([src], tmp_path / "out")
    assert result.ok
    values = next(iter(result.plan.instances)).values
    assert list(values.secret_env) == ["OPENAI_API_KEY"]     # required at install (test_compose_fidelity.py)
    assert "set your OpenAI key" in values.secret_env["OPENAI_API_KEY"]
    assert values.named("OPENAI_API_KEY") == ""      # the committed manifest carries it empty


def test_a_file_that_includes_the_services_it_depends_on_is_complete(tmp_path):
    # GenAIComps' compose files include the engines they depend on (include: ../../third_parties/...):
    # such a file is converted on its own, not taken for an overlay of a compose.yaml it has not
    d = tmp_path / "tree" / "comps" / "llms" / "docker_compose"
    _write(tmp_path / "tree" / "comps" / "engines" / "compose.yaml", """
        services:
          engine:
            image: example.com/engine:1
            ports: ["8008:80"]
        """)
    app = _write(d / "compose_textgen.yaml", """
        include:
          - ../../engines/compose.yaml
        services:
          textgen:
            image: example.com/textgen:1
            ports: ["9000:9000"]
            depends_on: [engine]
        """)
    assert overlay_base(app) is None
    report = migrate(tmp_path / "tree", tmp_path / "out")
    assert {o.file: o.status for o in report.outcomes}["comps/llms/docker_compose/compose_textgen.yaml"] == "verified"


def test_files_of_different_folders_that_place_alike_do_not_replace_each_other(tmp_path):
    # comps/<component>/deployment/docker_compose/compose.yaml: every folder places to example
    # "deployment" and the same platform; each folder becomes an example of its own, named where
    # the paths part, and the files of one folder stay in one example
    tree = tmp_path / "tree"
    shop = _write(tree / "comps" / "shop" / "deployment" / "docker_compose" / "compose.yaml", WEB_REDIS)
    shop_tgi = _write(shop.parent / "compose_tgi.yaml", WEB_REDIS)
    blog = _write(tree / "comps" / "blog" / "deployment" / "docker_compose" / "compose.yaml", """
        services:
          blog:
            image: example.com/blog:1
            ports: ["8000:8000"]
        """)
    jobs, _ = discover(tree)
    assert {j.files[-1]: j.example for j in jobs} == {shop: "shop", shop_tgi: "shop", blog: "blog"}
    report = migrate(tree, tmp_path / "out")
    assert all(o.status == "verified" and "replaced" not in o.reason for o in report.outcomes)
    assert {o.file: o.manifest for o in report.outcomes} == {
        "comps/blog/deployment/docker_compose/compose.yaml": "manifests/blog/docker-compose/blog.yaml",
        "comps/shop/deployment/docker_compose/compose.yaml": "manifests/shop/docker-compose/shop.yaml",
        "comps/shop/deployment/docker_compose/compose_tgi.yaml": "manifests/shop/docker-compose-tgi/shop.yaml"}


def test_an_overlay_without_a_base_names_the_services_no_file_beside_it_defines(tmp_path):
    d = tmp_path / "Ex" / "docker" / "xeon"
    _write(d / "compose_openai.yaml", WEB_REDIS)
    _write(d / "compose_remote.yaml", """
        services:
          web:
            environment: {LLM: remote}
          worker:
            environment: {LLM: remote}
        """)
    report = migrate(tmp_path / "Ex", tmp_path / "out")
    outcome = {o.file: o for o in report.outcomes}["docker/xeon/compose_remote.yaml"]
    assert (outcome.status, outcome.reason) == (
        "rejected", "overlay without its base file compose.yaml: no compose file beside it defines worker")
