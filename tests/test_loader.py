import re
import textwrap
from pathlib import Path

import pytest

from compose2helm.compose.interpolate import parse, resolve
from compose2helm.compose.load import load_project
from compose2helm.compose.model import DeviceRequest, Port, Template, Volume
from compose2helm.errors import InputError


SHARED = Path(__file__).resolve().parents[2] / "shared"
CORPUS = SHARED / "genaiexamples"


def write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(textwrap.dedent(text))
    return p


def load(tmp_path, text, **kw):
    return load_project([write(tmp_path, "compose.yaml", text)], **kw)


def svc(tmp_path, body, **kw):
    """Load a one-service file ("app") whose service body is given."""
    text = "services:\n  app:\n" + textwrap.indent(textwrap.dedent(body), "    ")
    return load(tmp_path, text, **kw).services["app"]


def env(s):
    return {k: (None if v is None else v.source()) for k, v in s.environment.items()}


# --- basics ---------------------------------------------------------------------------------------

def test_image_and_environment_forms(tmp_path):
    s = svc(tmp_path, """
        image: ${REGISTRY:-opea}/chatqna:${TAG:-latest}
        environment:
          URL: http://${host_ip}:8090
          FLAG: False
          ZERO: 0
          LOWER: true
          FLOAT: 1.0
          OCTAL: 010
          EMPTY:
          QUOTED: "5"
    """)
    assert s.image == "opea/chatqna:latest"
    assert env(s) == {"URL": "http://${host_ip}:8090", "FLAG": "False", "ZERO": "0",
                      "LOWER": "true", "FLOAT": "1.0", "OCTAL": "010", "EMPTY": None,
                      "QUOTED": "5"}
    assert s.environment["URL"] == parse("http://${host_ip}:8090")


def test_environment_list_form(tmp_path):
    s = svc(tmp_path, """
        image: x
        environment:
          - A=1=2
          - PASS
          - EMPTY=
    """)
    assert env(s) == {"A": "1=2", "PASS": None, "EMPTY": ""}


def test_anchors_and_merge_keys_keep_env_text(tmp_path):
    p = load(tmp_path, """
        x-env: &env
          no_proxy: ${no_proxy}
          DEBUG: False
        x-base: &base
          image: base:1
          restart: always
          environment:
            <<: *env
            PORT: 80
        services:
          a:
            <<: *base
            environment: *env
          b:
            <<: *base
    """)
    a, b = p.services["a"], p.services["b"]
    assert a.image == b.image == "base:1" and a.restart == "always"
    assert env(a) == {"no_proxy": "${no_proxy}", "DEBUG": "False"}
    assert env(b) == {"no_proxy": "${no_proxy}", "DEBUG": "False", "PORT": "80"}


def test_nested_merge_is_not_a_duplicate_key(tmp_path):
    s = load(tmp_path, """
        x-a: &a {A: 1}
        services:
          s:
            image: x
            environment:
              <<: &b {<<: *a, A: 2, B: 3}
            labels: *b
            deploy:
              <<: [{mode: global, replicas: 1}, {mode: replicated, replicas: 2}]
              replicas: 3
    """).services["s"]
    assert env(s) == {"A": "2", "B": "3"}
    assert s.extra["labels"] == {"A": 2, "B": 3}
    assert (s.deploy.mode, s.deploy.replicas) == ("global", 3)


def test_variables_env_files_then_environ(tmp_path, monkeypatch):
    e1 = write(tmp_path, "a.env", "A=1\nB=${A}\n")
    e2 = write(tmp_path, "b.env", "A=2\n")
    f = write(tmp_path, "compose.yaml", "services:\n  s:\n    image: img:${A}-${B}-${C:-none}\n")
    monkeypatch.setenv("C", "from-os")
    p = load_project([f], [e1, e2])
    assert p.services["s"].image == "img:2-2-none"            # os.environ is not read
    assert p.env_files == [e1, e2]
    p = load_project([f], [e1, e2], environ={"A": "9", "C": "c"})
    assert p.services["s"].image == "img:9-9-c"
    assert p.variables["A"] == Template.literal("9")


def test_misc_fields_and_extra(tmp_path):
    s = svc(tmp_path, """
        image: x
        container_name: ${NAME:-box}
        restart: unless-stopped
        runtime: habana
        ipc: host
        user: "1000"
        working_dir: /w
        read_only: true
        privileged: true
        cap_add: [SYS_NICE]
        cap_drop: [ALL]
        devices: [/dev/kfd, /dev/dri]
        group_add: [video, 109]
        security_opt: [seccomp:unconfined]
        network_mode: host
        profiles: [gpu]
        tmpfs: /run
        build: .
        labels: [a=b]
        stop_signal: SIGINT
        networks: [default]
        x-note: kept
    """)
    assert (s.container_name, s.restart, s.runtime, s.ipc, s.user, s.working_dir) == \
        ("box", "unless-stopped", "habana", "host", "1000", "/w")
    assert s.read_only and s.privileged and s.build
    assert (s.cap_add, s.cap_drop, s.devices, s.group_add, s.security_opt) == \
        (["SYS_NICE"], ["ALL"], ["/dev/kfd", "/dev/dri"], ["video", "109"],
         ["seccomp:unconfined"])
    assert (s.network_mode, s.profiles, s.tmpfs) == ("host", ["gpu"], ["/run"])
    assert s.extra == {"labels": ["a=b"], "stop_signal": "SIGINT", "networks": ["default"],
                       "x-note": "kept"}


def test_command_and_entrypoint(tmp_path):
    s = svc(tmp_path, """
        image: x
        command: --model-id ${MODEL:-a b} --port 80 "quoted arg" $$HOME $OTHER
        entrypoint: ["sh", "-c", "echo ${X:-1} && run"]
    """)
    assert [t.source() for t in s.command] == \
        ["--model-id", "${MODEL:-a b}", "--port", "80", "quoted arg", "$$HOME", "${OTHER}"]
    assert [t.source() for t in s.entrypoint] == ["sh", "-c", "echo ${X:-1} && run"]


def test_service_env_file(tmp_path):
    write(tmp_path, "svc.env", "FROM_FILE=1\nOVERRIDDEN=file\nREF=${host_ip}\n")
    s = svc(tmp_path, """
        image: x
        environment:
          OVERRIDDEN: compose
        env_file: svc.env
    """)
    assert env(s) == {"FROM_FILE": "1", "OVERRIDDEN": "compose", "REF": "${host_ip}"}
    assert "env_file" not in s.extra


# --- ports ----------------------------------------------------------------------------------------

def test_ports_good(tmp_path):
    s = svc(tmp_path, """
        image: x
        ports:
          - "80"
          - "8080:80"
          - "127.0.0.1:8081:81"
          - "127.0.0.1::82"
          - "53:53/udp"
          - "${NGINX_PORT:-8000}:80"
          - 9000
          - target: 90
            published: "9090"
            protocol: udp
            host_ip: 0.0.0.0
        expose: ["3000", 4000, "5000/tcp"]
    """)
    assert s.ports == [Port(80), Port(80, 8080), Port(81, 8081, host_ip="127.0.0.1"),
                       Port(82, None, host_ip="127.0.0.1"), Port(53, 53, "udp"),
                       Port(80, 8000), Port(9000), Port(90, 9090, "udp", "0.0.0.0")]
    assert s.expose == [3000, 4000, 5000]


@pytest.mark.parametrize("port", ["8000-8010:8000-8005", "8010-8000", "a:b", "80:", "0", "70000",
                                  "80:70000", "1:2:3:4", "80/icmp"])
def test_ports_bad(tmp_path, port):
    with pytest.raises(InputError) as e:
        svc(tmp_path, f'image: x\nports: ["{port}"]\n')
    assert (e.value.service, e.value.key) == ("app", "ports")
    assert e.value.file.endswith("compose.yaml")


@pytest.mark.parametrize("port, expected", [(":80", Port(80)), ("::1:8081:81", Port(81, 8081, host_ip="::1")),
                                            ("[::1]::82", Port(82, None, host_ip="::1"))])
def test_ports_compose_reads_as_valid(tmp_path, port, expected):
    # compose parses ports with go-connections: an empty host port is "any free one", and an IPv6
    # host address may come without brackets
    assert svc(tmp_path, f'image: x\nports: ["{port}"]\n').ports == [expected]


# --- volumes, depends_on, healthcheck, sizes, deploy ---------------------------------------------

def test_volumes(tmp_path):
    s = svc(tmp_path, """
        image: x
        volumes:
          - ${MODEL_CACHE:-./data}:/data
          - /etc/conf.yaml:/conf.yaml:ro
          - cache:/cache:rw,z
          - /anonymous
          - ~/home:/h
          - type: bind
            source: ./src
            target: /src
            read_only: true
          - type: tmpfs
            target: /tmp
    """)
    v = s.volumes
    assert v[0] == Volume("bind", "/data", "./data", parse("${MODEL_CACHE:-./data}"))
    assert v[1] == Volume("bind", "/conf.yaml", "/etc/conf.yaml", parse("/etc/conf.yaml"), True)
    assert v[2] == Volume("volume", "/cache", "cache", parse("cache"), False)
    assert v[3] == Volume("volume", "/anonymous")
    assert v[4].type == "bind"
    assert v[5] == Volume("bind", "/src", "./src", parse("./src"), True)
    assert v[6] == Volume("tmpfs", "/tmp")


def test_depends_on(tmp_path):
    p = load(tmp_path, """
        services:
          a: {image: x, depends_on: [b]}
          b: {image: x, depends_on: {c: {condition: service_healthy}}}
          c: {image: x}
    """)
    assert p.services["a"].depends_on == {"b": "service_started"}
    assert p.services["b"].depends_on == {"c": "service_healthy"}
    with pytest.raises(InputError) as e:
        load(tmp_path, "services:\n  a: {image: x, depends_on: [ghost]}\n")
    assert (e.value.service, e.value.key) == ("a", "depends_on")


def test_healthcheck(tmp_path):
    s = svc(tmp_path, """
        image: x
        healthcheck:
          test: curl -f http://localhost:${PORT:-80}/health || exit 1
          interval: 1m30s
          timeout: 500ms
          start_period: 10s
          retries: 3
    """)
    h = s.healthcheck
    assert h.test == (Template.literal("CMD-SHELL"),
                      parse("curl -f http://localhost:${PORT:-80}/health || exit 1"))
    assert (h.interval, h.timeout, h.start_period, h.retries, h.disable) == (90, 0.5, 10, 3, False)
    s = svc(tmp_path, "image: x\nhealthcheck: {test: [CMD, redis-cli, ping]}\n")
    assert [t.source() for t in s.healthcheck.test] == ["CMD", "redis-cli", "ping"]
    assert svc(tmp_path, "image: x\nhealthcheck: {disable: true}\n").healthcheck.disable
    with pytest.raises(InputError) as e:
        svc(tmp_path, "image: x\nhealthcheck: {test: [CMD], interval: soon}\n")
    assert e.value.key == "healthcheck.interval"


@pytest.mark.parametrize("size,expected", [("1g", 1 << 30), ("2gb", 2 << 30), ("64m", 64 << 20),
                                           (1073741824, 1 << 30), ("512", 512), ("1.5k", 1536)])
def test_shm_size(tmp_path, size, expected):
    assert svc(tmp_path, f"image: x\nshm_size: {size}\n").shm_size == expected


def test_shm_size_bad(tmp_path):
    with pytest.raises(InputError) as e:
        svc(tmp_path, "image: x\nshm_size: lots\n")
    assert (e.value.service, e.value.key) == ("app", "shm_size")


def test_deploy(tmp_path):
    s = svc(tmp_path, """
        image: x
        deploy:
          mode: replicated
          replicas: ${REPLICAS:-2}
          resources:
            limits: {cpus: "0.5", memory: 1G}
            reservations:
              cpus: 0.25
              memory: 512M
              devices:
                - {driver: nvidia, count: all, capabilities: [gpu]}
                - {driver: nvidia, count: 2, capabilities: [gpu, utility]}
                - {driver: nvidia, device_ids: ["0"], capabilities: [gpu]}
    """)
    d = s.deploy
    assert (d.mode, d.replicas, d.cpu_limit, d.memory_limit, d.cpu_request, d.memory_request) == \
        ("replicated", 2, "0.5", "1G", "0.25", "512M")
    assert d.devices == [DeviceRequest("nvidia", None, ("gpu",)),
                         DeviceRequest("nvidia", 2, ("gpu", "utility")),
                         DeviceRequest("nvidia", None, ("gpu",), ("0",))]
    with pytest.raises(InputError) as e:
        svc(tmp_path, "image: x\ndeploy: {replicas: '${R:-many}'}\n")
    assert e.value.key == "deploy.replicas"


# --- required variables -------------------------------------------------------------------------

@pytest.mark.parametrize("body,key", [
    ("image: x\nenvironment: {TOKEN: '${HF_TOKEN?set HF_TOKEN}'}\n", "environment"),
    ("image: 'x:${TAG:?set TAG}'\n", "image"),
    ("image: x\ncommand: run ${ARG?need ARG}\n", "command"),
    ("image: x\nvolumes: ['${DIR?need DIR}:/d']\n", "volumes"),
    ("image: x\nhealthcheck: {test: 'curl ${U?need U}'}\n", "healthcheck"),
    ("image: x\nports: ['${P?need P}:80']\n", "ports"),
])
def test_required_variable(tmp_path, body, key):
    with pytest.raises(InputError) as e:
        svc(tmp_path, body)
    assert (e.value.service, e.value.key) == ("app", key)
    assert e.value.file.endswith("compose.yaml")
    assert re.search(r"required variable \w+ is not set: need|set", e.value.message)


def test_required_variable_satisfied(tmp_path):
    s = svc(tmp_path, "image: 'x:${TAG:?set TAG}'\n", environ={"TAG": "1"})
    assert s.image == "x:1"


# --- bad input --------------------------------------------------------------------------------

@pytest.mark.parametrize("text,service,key", [
    ("services:\n  app: {image: x, bogus: 1}\n", "app", "bogus"),
    ("services:\n  app: {image: x, shm_size: [1]}\n", "app", "shm_size"),
    ("services:\n  app: {image: x, ports: {a: 1}}\n", "app", "ports"),
    ("services:\n  app: {image: x, healthcheck: {retries: []}}\n", "app", "healthcheck.retries"),
    ("services:\n  app: {image: x}\nbogus_top: 1\n", None, "bogus_top"),
])
def test_schema_errors_name_service_and_key(tmp_path, text, service, key):
    # strict: unknown keys are fatal too (without it they are warnings: test_unknown_keys_warn)
    with pytest.raises(InputError) as e:
        load(tmp_path, text, strict=True)
    assert (e.value.service, e.value.key) == (service, key)
    assert e.value.file.endswith("compose.yaml")
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("text,match,service", [
    ("services: [\n", "invalid YAML", None),
    ("- a\n- b\n", "not a mapping", None),
    ("", "not a mapping", None),
    ("version: '3'\n", "no services", None),
    ("services: [a]\n", "services is not a mapping", None),
    ("services:\n  app: [x]\n", "service is not a mapping", "app"),
    ("services:\n  app: {image: x}\n  app: {image: y}\n", "duplicate key", None),
    ("services:\n  app: {image: x, environment: {A: '${oops'}}\n", "unterminated", "app"),
])
def test_bad_files(tmp_path, text, match, service):
    with pytest.raises(InputError, match=match) as e:
        load(tmp_path, text)
    assert e.value.file.endswith("compose.yaml") and e.value.service == service
    assert "\n" not in str(e.value)


def test_unreadable_file(tmp_path):
    with pytest.raises(InputError, match="cannot read") as e:
        load_project([tmp_path / "nope.yaml"])
    assert e.value.file.endswith("nope.yaml")
    (tmp_path / "bin.yaml").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(InputError):
        load_project([tmp_path / "bin.yaml"])


# --- -f overlays, include, extends --------------------------------------------------------------

def test_multiple_files_merge(tmp_path):
    base = write(tmp_path, "compose.yaml", """
        services:
          app:
            image: app:1
            command: ["serve", "--a"]
            environment: [A=1, B=2]
            ports: ["80:80"]
            volumes: ["./data:/data", "./conf:/conf"]
            cap_add: [SYS_NICE]
            healthcheck: {test: [CMD, old], interval: 5s}
            labels: {x: "1"}
    """)
    over = write(tmp_path, "compose.override.yaml", """
        services:
          app:
            image: app:2
            command: serve --b
            environment: {B: "3", C: "4"}
            ports: ["80:80", "9090:9090"]
            volumes: ["./other:/data"]
            cap_add: [SYS_NICE, SYS_PTRACE]
            healthcheck: {test: [CMD, new]}
            labels: [y=2]
          built:
            build: ./src
    """)
    p = load_project([base, over])
    a = p.services["app"]
    assert a.image == "app:2"
    assert [t.source() for t in a.command] == ["serve", "--b"]
    assert env(a) == {"A": "1", "B": "3", "C": "4"}
    assert a.ports == [Port(80, 80), Port(9090, 9090)]
    assert [(v.source, v.target) for v in a.volumes] == [("./other", "/data"), ("./conf", "/conf")]
    assert a.cap_add == ["SYS_NICE", "SYS_PTRACE"]
    assert [t.source() for t in a.healthcheck.test] == ["CMD", "new"]
    assert a.healthcheck.interval == 5
    assert a.extra["labels"] == {"x": "1", "y": "2"}
    assert a.file == base
    assert p.services["built"].build and p.services["built"].file == over


def test_overlay_service_without_image_or_build(tmp_path):
    base = write(tmp_path, "compose.yaml", "services:\n  app: {image: x}\n")
    over = write(tmp_path, "compose.telemetry.yaml",
                 "services:\n  app: {environment: [A=1]}\n  new: {environment: [B=1]}\n")
    with pytest.raises(InputError) as e:
        load_project([base, over])
    assert (e.value.file, e.value.service, e.value.key) == (str(over), "new", "image")


def test_include(tmp_path):
    write(tmp_path, "sub/db.yaml", "services:\n  db: {image: redis, env_file: db.env}\n")
    write(tmp_path, "sub/db.env", "DB=1\n")
    write(tmp_path, "sub/inc.env", "FROM_INC=yes\n")
    p = load(tmp_path, """
        include:
          - path: sub/db.yaml
            env_file: sub/inc.env
        services:
          app: {image: "x:${FROM_INC}", depends_on: [db]}
    """)
    assert list(p.services) == ["db", "app"]
    assert env(p.services["db"]) == {"DB": "1"}
    assert p.services["app"].image == "x:yes"
    assert p.services["db"].file == tmp_path / "sub/db.yaml"
    with pytest.raises(InputError) as e:
        load(tmp_path, "include: [sub/db.yaml]\nservices:\n  db: {image: x}\n")
    assert e.value.service == "db"
    with pytest.raises(InputError, match="not found") as e:
        load(tmp_path, "include: [sub/none.yaml]\n")
    assert e.value.key == "include"
    only = load(tmp_path, "include: [sub/db.yaml]\n")
    assert list(only.services) == ["db"]


def test_extends_same_file_and_other_file(tmp_path):
    write(tmp_path, "common/base.yaml", """
        services:
          root: {image: "root:1", environment: {R: "1"}, env_file: base.env}
          mid:
            extends: root
            environment: {M: "2"}
            ports: ["80"]
    """)
    write(tmp_path, "common/base.env", "FROM_BASE_ENV=1\n")
    p = load(tmp_path, """
        services:
          llm-base:
            image: llm:1
            environment: {A: "1"}
            restart: unless-stopped
          llm:
            extends: llm-base
            environment: {B: "2"}
            ports: ["9000:9000"]
          far:
            extends: {file: common/base.yaml, service: mid}
            environment: {F: "3"}
            ports: ["81"]
    """)
    llm, far = p.services["llm"], p.services["far"]
    assert llm.image == "llm:1" and llm.restart == "unless-stopped"
    assert env(llm) == {"A": "1", "B": "2"}
    assert far.image == "root:1"
    assert env(far) == {"FROM_BASE_ENV": "1", "R": "1", "M": "2", "F": "3"}
    assert far.ports == [Port(80), Port(81)]
    assert "extends" not in far.extra


@pytest.mark.parametrize("text,services,match", [
    ("services:\n  a: {image: x, extends: b}\n  b: {image: x, extends: a}\n", "ab", "cycle"),
    ("services:\n  a: {image: x, extends: a}\n", "a", "cycle"),
    ("services:\n  a: {image: x, extends: missing}\n", "a", "unknown service"),
    ("services:\n  a: {image: x, extends: {file: no.yaml, service: b}}\n", "a", "not found"),
])
def test_extends_errors(tmp_path, text, services, match):
    with pytest.raises(InputError, match=match) as e:
        load(tmp_path, text)
    assert e.value.service in services and e.value.key == "extends"
    assert e.value.file.endswith("compose.yaml")


def test_top_level_volumes_and_warnings(tmp_path):
    p = load(tmp_path, """
        version: "3.8"
        name: demo
        x-anything: {a: 1}
        services:
          app: {image: x, volumes: ["data:/data"]}
        volumes:
          data: {}
          other:
        networks:
          default: {driver: bridge}
    """)
    assert p.named_volumes == ["data", "other"] and p.warnings == []
    p = load(tmp_path, """
        services:
          app: {image: x}
        networks:
          backend: {}
        secrets:
          s: {file: ./s.txt}
    """)
    assert len(p.warnings) == 2


# --- the real corpus ------------------------------------------------------------------------------

OVERLAY_MARKS = (".telemetry", ".monitoring", "_remote", ".perf")


def _corpus(overlays: bool) -> list[Path]:
    if not CORPUS.is_dir():
        return []
    return sorted(f for f in CORPUS.rglob("compose*.y*ml")
                  if "docker_build_compose" not in f.name
                  and any(m in f.name for m in OVERLAY_MARKS) == overlays)


def _env_for(f: Path) -> list[Path]:
    """The example's set_env[_variant].env next to the file, or one/two levels up."""
    m = re.match(r"compose(?:_(.+?))?\.", f.name)
    names = ([f"set_env_{m.group(1)}.env"] if m and m.group(1) else []) + ["set_env.env"]
    for d in (f.parent, f.parent.parent, f.parent.parent.parent):
        for n in names:
            if (d / n).is_file():
                return [d / n]
    return []


def _base_for(overlay: Path) -> Path:
    # compose.telemetry.yaml -> compose.yaml; compose_tgi.telemetry.yaml -> compose_tgi.yaml;
    # compose_remote.yaml -> compose.yaml
    stem = overlay.name.split(".")[0].removesuffix("_remote")
    return overlay.with_name(stem + ".yaml")


needs_corpus = pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/genaiexamples absent")


@needs_corpus
def test_corpus_base_files_load():
    files = _corpus(overlays=False)
    assert len(files) > 50
    for f in files:
        p = load_project([f], _env_for(f))
        assert p.services, f
        for s in p.services.values():
            assert s.image, (f, s.name)
    print(f"{len(files)} base compose files loaded")


@needs_corpus
def test_corpus_overlays_load_with_base():
    overlays = _corpus(overlays=True)
    assert overlays
    for f in overlays:
        base = _base_for(f)
        assert base.is_file(), f
        p = load_project([base, f], _env_for(base))
        for s in p.services.values():
            assert s.image, (f, s.name)
    print(f"{len(overlays)} overlays loaded with their base")


@needs_corpus
def test_corpus_scalar_text_and_variables():
    d = CORPUS / "head/AudioQnA/docker_compose/intel/hpu/gaudi"
    if not (d / "compose.yaml").is_file():
        pytest.skip("example absent")
    p = load_project([d / "compose.yaml"], [d / "set_env.env"])
    vllm = p.services["vllm-service"]
    assert vllm.environment["HF_HUB_ENABLE_HF_TRANSFER"] == Template.literal("0")
    assert resolve(parse("${HF_TOKEN:-none}"), p.variables) == "none"


def test_unknown_keys_warn_unless_strict(tmp_path):
    project = load(tmp_path, "services:\n  app: {image: x, bogus: 1}\nbogus_top: 1\n")
    assert list(project.services) == ["app"]
    assert any("bogus" in w and "app" in w for w in project.warnings)
    assert any("bogus_top" in w for w in project.warnings)
