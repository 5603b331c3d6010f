"""What compose says that a first conversion lost (issue 17, the Kompose fixtures): port protocols,
deploy resources and placement, addresses told from plain words, flags that are not credentials,
required secrets, Windows host paths, and the port beside a rewritten host."""
from __future__ import annotations

import textwrap
from pathlib import Path

from conftest import by_kind, load_yaml, manifest_objects
from compose2helm.pipeline.convert import convert
from compose2helm.plan.prepare import prepare
from compose2helm.verify.check import verify_objects


def _convert(tmp_path: Path, text: str, folder: str = "app"):
    src = tmp_path / folder / "compose.yaml"
    src.parent.mkdir(parents=True, exist_ok=True)
    src.write_text(textwrap.dedent(text))
    result = convert([src], tmp_path / "out")
    return src, result, manifest_objects(tmp_path / "out" / result.manifest)


def _ports(obj: dict) -> list[tuple]:
    if obj["kind"] == "Service":
        return [(p["name"], p["port"], p["protocol"]) for p in obj["spec"]["ports"]]
    return [(p["name"], p["containerPort"], p["protocol"])
            for p in obj["spec"]["template"]["spec"]["containers"][0]["ports"]]


PROTOCOLS = """
    services:
      dns:
        image: coredns/coredns:1.11.1
        ports: ["53:53/udp", "53:53/tcp"]
      cache:
        image: redis:7.2
        ports: ["6379:6379/tcp", "6379:6379/udp", {target: 9000, published: 9000, protocol: sctp}]
    """


def test_ports_keep_their_protocol_in_the_container_and_the_service(tmp_path):
    src, result, objs = _convert(tmp_path, PROTOCOLS)
    assert result.ok
    services, deployments = by_kind(objs, "Service"), by_kind(objs, "Deployment")
    expected_dns = [("port-53-udp", 53, "UDP"), ("port-53", 53, "TCP")]
    expected_cache = [("port-6379", 6379, "TCP"), ("port-6379-udp", 6379, "UDP"), ("port-9000-sctp", 9000, "SCTP")]
    assert _ports(services["app-dns"]) == expected_dns == _ports(deployments["app-dns"])
    assert _ports(services["app-cache"]) == expected_cache == _ports(deployments["app-cache"])


def test_verify_tells_a_udp_port_from_the_tcp_port_of_the_same_number(tmp_path):
    src, result, objs = _convert(tmp_path, PROTOCOLS)
    for obj in objs:      # what a converter that ignores protocols would render
        for port in (obj.get("spec") or {}).get("ports") or []:
            port["protocol"] = "TCP"
    report = verify_objects(prepare([src]), objs)
    bad = {(s.service, d.field) for s in report for d in s.unexplained}
    assert {("dns", "service_ports"), ("cache", "service_ports")} <= bad
    assert ("dns", "ports") not in bad        # the container ports were left as rendered


SCHEDULED = """
    services:
      api:
        image: example.com/api:1
        ports: ["8080:8080"]
        deploy:
          replicas: 3
          resources:
            limits: {cpus: "0.5", memory: 512M, pids: 100}
            reservations: {cpus: "2", memory: 1g}
          placement:
            constraints:
              - node.labels.disktype==ssd
              - node.labels.zone != eu-west-1a
              - node.platform.arch == x86_64
              - node.role==manager
            preferences:
              - spread: node.hostname
              - spread: node.labels.rack
            max_replicas_per_node: 1
          restart_policy: {condition: on-failure}
    """


def test_deploy_resources_and_placement_schedule_the_pod(tmp_path):
    src, result, objs = _convert(tmp_path, SCHEDULED)
    assert result.ok
    deployment = by_kind(objs, "Deployment")["app-api"]
    pod = deployment["spec"]["template"]["spec"]
    assert deployment["spec"]["replicas"] == 3
    assert pod["containers"][0]["resources"] == {"limits": {"cpu": "500m", "memory": "512Mi"},
                                                 "requests": {"cpu": "2", "memory": "1Gi"}}
    assert pod["nodeSelector"] == {"disktype": "ssd", "kubernetes.io/arch": "amd64"}
    assert pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"] == {
        "nodeSelectorTerms": [{"matchExpressions": [{"key": "zone", "operator": "NotIn", "values": ["eu-west-1a"]}]}]}
    assert [c["topologyKey"] for c in pod["topologySpreadConstraints"]] == ["kubernetes.io/hostname"]


def test_what_deploy_cannot_carry_is_a_finding_verify_reports(tmp_path):
    src, result, objs = _convert(tmp_path, SCHEDULED)
    dropped = {f.key: f.detail for f in result.plan.findings if f.action == "dropped" and f.service == "api"}
    assert "'node.role==manager'" in dropped["deploy.placement.constraints"]
    assert "node.labels.rack" in dropped["deploy.placement.preferences"]
    assert {"deploy.placement.max_replicas_per_node", "deploy.restart_policy",
            "deploy.resources.limits.pids"} <= set(dropped)
    explained = {d.field for s in verify_objects(prepare([src]), objs) for d in s.explained}
    assert {"deploy.placement.constraints", "deploy.restart_policy", "deploy.resources.limits.pids"} <= explained


PULLS = """
    services:
      a: {image: "example.com/a:1", pull_policy: always}
      b: {image: "example.com/b:1", pull_policy: never}
      c: {image: "example.com/c", pull_policy: missing}
      d: {image: "example.com/d:1", pull_policy: daily}
      e: {image: "example.com/e:1"}
      f: {image: "example.com/f"}
      g: {image: "example.com/g:1", pull_policy: build, build: .}
    """


def test_pull_policy_is_compose_s_or_the_kubelet_default_for_the_tag(tmp_path):
    src, result, objs = _convert(tmp_path, PULLS)
    assert result.ok, result.verify_summary
    pulls = {name.removeprefix("app-"): d["spec"]["template"]["spec"]["containers"][0].get("imagePullPolicy")
             for name, d in by_kind(objs, "Deployment").items()}
    # e, f and g leave it to the kubelet: IfNotPresent for a tag, Always for latest (f)
    assert pulls == {"a": "Always", "b": "Never", "c": "IfNotPresent", "d": "Always", "e": None, "f": None,
                     "g": None}
    said = {(f.service, f.action) for f in result.plan.findings if f.key == "pull_policy"}
    assert said == {("d", "changed"), ("f", "changed"), ("g", "dropped")}
    # verify compares the kubelet's effective policy: a chart that pulled `always` only when
    # missing, or pinned f's latest to IfNotPresent, differs from compose unexplained
    for obj in by_kind(objs, "Deployment").values():
        container = obj["spec"]["template"]["spec"]["containers"][0]
        if container["image"].startswith(("example.com/a", "example.com/f")):
            container["imagePullPolicy"] = "IfNotPresent"
    bad = {(s.service, d.field) for s in verify_objects(prepare([src]), objs) for d in s.unexplained}
    assert bad == {("a", "pull_policy"), ("f", "pull_policy")}


def test_cpus_become_cpu_quantities():
    from compose2helm.plan.scheduling import cpu_quantity
    assert [cpu_quantity(x) for x in ("0.5", "1", "1.25", "0.001", "2.0", "0.0001", "lots")] == \
        ["500m", "1", "1250m", "1m", "2", "0.0001", "lots"]


WORDPRESS = """
    services:
      db:
        image: mysql:8.0
        ports: ["3306:3306"]
        environment:
          MYSQL_DATABASE: wordpress
          MYSQL_USER: wordpress
          MYSQL_ALLOW_EMPTY_PASSWORD: "yes"
      wordpress:
        image: wordpress:6
        ports: ["8000:80"]
        environment:
          WORDPRESS_DB_HOST: db
          WORDPRESS_DB_NAME: ${DB_NAME:-wordpress}
          WORDPRESS_DB_USER: wordpress
          ALLOW_EMPTY_PASSWORD: "yes"
          no_proxy: localhost,db
          NO_PROXY: localhost,db
          ME_CONFIG_DB_SERVER: ${DB_SERVER:-db}
    """


def _config(objs: list[dict], name: str) -> dict:
    return by_kind(objs, "ConfigMap")[name]["data"]


def test_a_bare_service_name_is_an_address_only_where_the_key_says_so(tmp_path):
    src, result, objs = _convert(tmp_path, WORDPRESS)
    assert result.ok
    db, wp = _config(objs, "app-db-config"), _config(objs, "app-wordpress-config")
    # a database and a user that share the service's name stay words
    assert (db["MYSQL_DATABASE"], db["MYSQL_USER"]) == ("wordpress", "wordpress")
    assert (wp["WORDPRESS_DB_NAME"], wp["WORDPRESS_DB_USER"]) == ("wordpress", "wordpress")
    # host keys, proxy lists and a variable's default in a SERVER key are addresses
    assert wp["WORDPRESS_DB_HOST"] == "app-db"
    assert wp["no_proxy"] == wp["NO_PROXY"] == "localhost,app-db"
    assert wp["ME_CONFIG_DB_SERVER"] == "app-db"


def test_a_flag_that_allows_an_empty_password_is_not_a_secret(tmp_path):
    src, result, objs = _convert(tmp_path, WORDPRESS)
    assert _config(objs, "app-db-config")["MYSQL_ALLOW_EMPTY_PASSWORD"] == "yes"
    assert _config(objs, "app-wordpress-config")["ALLOW_EMPTY_PASSWORD"] == "yes"
    assert not by_kind(objs, "Secret")
    from compose2helm.plan.rules import load_rules
    policy = load_rules().policy
    assert not any(policy.is_secret(n) for n in ("MYSQL_RANDOM_ROOT_PASSWORD", "MARIADB_ALLOW_EMPTY_PASSWORD"))
    assert policy.is_secret("MYSQL_ROOT_PASSWORD") and policy.is_secret("EMPTY_PASSWORD_SECRET")


def test_windows_drive_paths_are_host_paths(tmp_path):
    src, result, objs = _convert(tmp_path, r"""
        services:
          web:
            image: example.com/web:1
            volumes:
              - C:\data:/data
              - c:/Users/me/cache:/cache:ro
              - 'D:\logs:/logs'
        """)
    assert result.ok
    container = by_kind(objs, "Deployment")["app-web"]["spec"]["template"]["spec"]["containers"][0]
    assert {(m["mountPath"], m.get("readOnly", False)) for m in container["volumeMounts"]} >= {
        ("/data", False), ("/cache", True), ("/logs", False)}
    changed = {f.key: f.detail for f in result.plan.findings if f.service == "web" and f.key.startswith("volumes")}
    # bind mounts of host paths, as the policy has them: emptyDirs, each named with its Windows source
    assert [d.split(" at ")[0] for d in changed.values()] == [r"host path C:\data", "host path c:/Users/me/cache",
                                                               r"host path D:\logs"]


def test_the_port_beside_a_rewritten_host_is_the_services_port_not_the_published_one(tmp_path):
    src = tmp_path / "app" / "compose.yaml"
    src.parent.mkdir(parents=True)
    (src.parent / "set_env.sh").write_text("export host_ip=10.0.0.1\nexport LLM_SERVER_PORT=3006\n"
                                           "export LLM_SERVICE_HOST_IP=${host_ip}\n")
    src, result, objs = _convert(tmp_path, """
        services:
          llm:
            image: opea/llm-textgen:latest
            ports: ["3006:80"]
          backend:
            image: opea/chatqna:latest
            ports: ["8888:8888"]
            environment:
              LLM_SERVICE_HOST_IP: ${LLM_SERVICE_HOST_IP}
              LLM_SERVICE_PORT: 3006
              LLM_SERVER_HOST_IP: ${host_ip}
              LLM_SERVER_PORT: ${LLM_SERVER_PORT}
        """)
    assert result.ok and result.verification.ok
    config = _config(objs, "app-config")
    assert config["LLM_SERVICE_HOST_IP"] == config["LLM_SERVER_HOST_IP"] == "app-llm-uservice"
    assert config["LLM_SERVICE_PORT"] == config["LLM_SERVER_PORT"] == "80"
    assert by_kind(objs, "Service")["app-llm-uservice"]["spec"]["ports"][0]["port"] == 80


def test_a_required_secret_stops_the_install_until_set_and_the_manifest_carries_it_empty(tmp_path):
    import pytest
    from compose2helm.errors import InputError
    from compose2helm.helm.render import render_chart

    src, result, objs = _convert(tmp_path, """
        services:
          web:
            image: example.com/web:1
            ports: ["8080:8080"]
            environment:
              OPENAI_API_KEY: ${OPENAI_API_KEY:?set your "OpenAI" key}
              OTHER_API_KEY: ${OTHER_API_KEY}
        """)
    assert result.ok
    assert by_kind(objs, "Secret")["app-web-secret"]["stringData"] == {"OPENAI_API_KEY": "", "OTHER_API_KEY": ""}
    umbrella = tmp_path / "out" / "helm-charts" / "app"
    overlay = load_yaml((umbrella / "default-values.yaml").read_text())

    def secret(**web):
        values = {**overlay, "web": {**overlay["web"], **web}}
        docs = render_chart(umbrella, values, "r")
        return {d.obj["metadata"]["name"]: d.obj for d in docs if d.obj and d.obj["kind"] == "Secret"}

    with pytest.raises(InputError, match=r'OPENAI_API_KEY is required: set your "OpenAI" key'):
        secret()
    assert secret(OPENAI_API_KEY="sk-1")["r-web-secret"]["stringData"]["OPENAI_API_KEY"] == "sk-1"
    assert secret(existingSecret="made-elsewhere") == {}    # the Secret is the user's
    overlay["global"] = {"renderOnly": True}
    assert secret()["r-web-secret"]["stringData"]["OPENAI_API_KEY"] == ""


def test_helm_test_connects_to_a_tcp_port_and_skips_a_udp_only_service(tmp_path):
    from compose2helm.helm.render import render_chart
    src, result, objs = _convert(tmp_path, PROTOCOLS)
    umbrella = tmp_path / "out" / "helm-charts" / "app"
    docs = render_chart(umbrella, load_yaml((umbrella / "default-values.yaml").read_text()), "r")
    tests = {d.obj["metadata"]["name"]: d.obj["spec"]["containers"][0]["command"][-1]
             for d in docs if d.obj and d.obj["kind"] == "Pod"}
    assert tests["r-dns-testpod"] == "nc -z -w 5 r-dns 53"        # its TCP port, not the UDP one listed first
    src, result, objs = _convert(tmp_path / "udp", """
        services:
          statsd:
            image: example.com/statsd:1
            ports: ["8125:8125/udp"]
        """)
    umbrella = tmp_path / "udp" / "out" / "helm-charts" / "app"
    docs = render_chart(umbrella, load_yaml((umbrella / "default-values.yaml").read_text()), "r")
    assert not [d for d in docs if d.obj and d.obj["kind"] == "Pod"]
    assert [p["protocol"] for p in by_kind([d.obj for d in docs if d.obj], "Service")["r-statsd"]["spec"]["ports"]] \
        == ["UDP"]


def test_exposed_ports_keep_their_protocol_too(tmp_path):
    src, result, objs = _convert(tmp_path, """
        services:
          dns:
            image: coredns/coredns:1.11.1
            expose: [53, "53/udp", "9153", "5000-5001/udp"]
        """)
    assert result.ok and result.verification.ok
    assert _ports(by_kind(objs, "Service")["app-dns"]) == [
        ("port-53", 53, "TCP"), ("port-53-udp", 53, "UDP"), ("port-9153", 9153, "TCP"),
        ("port-5000-udp", 5000, "UDP"), ("port-5001-udp", 5001, "UDP")]


def test_a_required_secret_inside_a_longer_value_is_required_too(tmp_path):
    import pytest
    from compose2helm.errors import InputError
    from compose2helm.helm.render import render_chart

    src, result, objs = _convert(tmp_path, """
        services:
          web:
            image: example.com/web:1
            ports: ["8080:8080"]
            environment:
              AUTH_HEADER: Bearer ${SERVICE_TOKEN:?a token for the API}
        """)
    assert result.ok
    assert by_kind(objs, "Secret")["app-web-secret"]["stringData"] == {"AUTH_HEADER": "Bearer "}
    umbrella = tmp_path / "out" / "helm-charts" / "app"
    overlay = load_yaml((umbrella / "default-values.yaml").read_text())
    with pytest.raises(InputError, match="SERVICE_TOKEN is required: a token for the API"):
        render_chart(umbrella, overlay, "r")
    overlay["web"]["SERVICE_TOKEN"] = "t0k"
    secret = next(d.obj for d in render_chart(umbrella, overlay, "r") if d.obj and d.obj["kind"] == "Secret")
    assert secret["stringData"]["AUTH_HEADER"] == "Bearer t0k"


def test_a_rule_value_named_like_a_service_stays_the_rules_value(tmp_path):
    # INDEX_NAME is the retriever rule's named value; a service of the same name does not make it an address
    src, result, objs = _convert(tmp_path, """
        services:
          docs:
            image: example.com/docs:1
            ports: ["9000:9000"]
          retriever:
            image: opea/retriever:latest
            ports: ["7000:7000"]
            environment:
              INDEX_NAME: docs
              REDIS_HOST: docs
        """)
    assert result.ok
    retriever = next(i for i in result.plan.instances if i.service == "retriever").values
    assert retriever.env["INDEX_NAME"] == "{{ .Values.INDEX_NAME }}" and retriever.named("INDEX_NAME") == "docs"
    assert retriever.env["REDIS_HOST"] == "{{ .Release.Name }}-docs"


def test_gmc_component_manifests_carry_a_required_secret_empty_too(tmp_path):
    src = tmp_path / "app" / "compose.yaml"
    src.parent.mkdir(parents=True)
    src.write_text(textwrap.dedent("""
        services:
          web:
            image: example.com/web:1
            ports: ["8080:8080"]
            environment:
              OPENAI_API_KEY: ${OPENAI_API_KEY:?set your OpenAI key}
        """))
    result = convert([src], tmp_path / "out", gmc=True)
    assert result.ok
    component = manifest_objects(tmp_path / "out" / "manifests" / "app" / "default" / "gmc" / "web.yaml")
    assert by_kind(component, "Secret")["web-secret"]["stringData"] == {"OPENAI_API_KEY": ""}


def test_port_forms_compose_accepts_publish_the_container_port(tmp_path):
    # "${UI_PORT}:80" with UI_PORT unset reads ":80": compose (go-connections' port spec) takes an
    # empty host port as "any free one"; an IPv6 host address may come without brackets. Both are
    # valid files, and the container port is served.
    src, result, objs = _convert(tmp_path, """
        services:
          web:
            image: example.com/web:1
            ports: ["${UNSET_UI_PORT}:80", ":53/udp", "127.0.0.1::9000", "::1:8081:81"]
        """)
    assert result.ok and result.verification.ok
    expected = [("port-80", 80, "TCP"), ("port-53-udp", 53, "UDP"), ("port-9000", 9000, "TCP"),
                ("port-81", 81, "TCP")]
    assert _ports(by_kind(objs, "Service")["app-web"]) == expected
    assert _ports(by_kind(objs, "Deployment")["app-web"]) == expected


def test_volume_types_a_pod_cannot_reach_become_explained_emptydirs(tmp_path):
    # npipe, image and cluster volumes are valid compose; each is an emptyDir with a finding, and
    # verify takes the finding as the explanation (it did not, and the file failed the check)
    src, result, objs = _convert(tmp_path, r"""
        services:
          web:
            image: example.com/web:1
            volumes:
              - {type: npipe, source: '\\.\pipe\docker_engine', target: /pipe}
              - {type: image, source: 'alpine:3.20', target: /img}
              - {type: cluster, source: shared, target: /cv}
        volumes:
          shared: {}
        """)
    assert result.ok and result.verification.ok
    pod = by_kind(objs, "Deployment")["app-web"]["spec"]["template"]["spec"]
    mounts = {m["mountPath"]: m["name"] for m in pod["containers"][0]["volumeMounts"]}
    kinds = {v["name"]: set(v) - {"name"} for v in pod["volumes"]}
    assert {p: kinds[mounts[p]] for p in ("/pipe", "/img", "/cv")} == {p: {"emptyDir"} for p in ("/pipe", "/img", "/cv")}
    notes = {f.key: f.rule for f in result.plan.findings if f.service == "web" and f.key.startswith("volumes")}
    assert notes == {f"volumes[{i}]": "policy:host-volume-to-emptydir" for i in range(3)}
