"""Least privilege by default; wider only with --allow; every rendered pod passes the policy check."""
from __future__ import annotations

import copy
import subprocess
import sys
import textwrap

import pytest
from conftest import load_yaml, load_yaml_all, needs_shared, REPO, SHARED

from compose2helm.errors import InputError
from compose2helm.helm.render import render_chart
from compose2helm.pipeline.convert import convert
from compose2helm.verify.podpolicy import check_objects, check_pod


HOSTILE = """\
services:
  tgi-service:
    image: ghcr.io/huggingface/text-generation-inference:2.4.0-intel-cpu
    privileged: true
    ipc: host
    network_mode: host
    devices: ["/dev/fuse:/dev/fuse"]
    group_add: ["44", "render"]
    cap_add: [SYS_PTRACE]
    security_opt: ["seccomp:unconfined", "apparmor=unconfined"]
    tmpfs: ["/tmp"]
    environment:
      MODEL_ID: m
    ports: ["8008:80"]
"""
ALL = ["privileged", "host-ipc", "host-network", "host-devices", "unconfined"]


def _example(tmp_path, text, name="compose.yaml"):
    base = tmp_path / "Ex" / "docker" / "xeon"
    base.mkdir(parents=True, exist_ok=True)
    (base / name).write_text(textwrap.dedent(text))
    return base / name


def _objects(result, out):
    return [d for d in load_yaml_all((out / result.manifest).read_text()) if d]


def _pod(objects, kind="Deployment"):
    return next(o for o in objects if o["kind"] == kind)["spec"]["template"]["spec"]


def test_nothing_wider_than_least_privilege_without_opt_in(tmp_path):
    r = convert([_example(tmp_path, HOSTILE)], tmp_path / "out")
    assert r.ok, r.verification.as_dict()
    pod = _pod(_objects(r, tmp_path / "out"))
    sc = pod["containers"][0]["securityContext"]
    assert sc["allowPrivilegeEscalation"] is False and "privileged" not in sc
    assert sc["capabilities"] == {"drop": ["ALL"], "add": ["SYS_PTRACE"]}
    assert sc["seccompProfile"] == {"type": "RuntimeDefault"} and "appArmorProfile" not in sc
    assert not pod.get("hostIPC") and not pod.get("hostNetwork")
    assert pod["securityContext"] == {"seccompProfile": {"type": "RuntimeDefault"}}   # no rule: the image's user
    assert not [v for v in pod["volumes"] if "hostPath" in v]
    dropped = {f.key: f.detail for f in r.plan.findings if f.action == "dropped"}
    for key, opt in (("privileged", "privileged"), ("ipc", "host-ipc"), ("network_mode", "host-network"),
                     ("devices", "host-devices"), ("security_opt", "unconfined"), ("group_add", "host-devices")):
        assert f"--allow {opt}" in dropped[key], key
    assert check_objects(_objects(r, tmp_path / "out")) == []


def test_each_opt_in_carries_what_it_names(tmp_path):
    r = convert([_example(tmp_path, HOSTILE)], tmp_path / "out", allow=ALL)
    assert r.ok, r.verification.as_dict()
    objects = _objects(r, tmp_path / "out")
    pod = _pod(objects)
    sc = pod["containers"][0]["securityContext"]
    assert sc["privileged"] is True and sc["allowPrivilegeEscalation"] is True
    assert sc["seccompProfile"] == {"type": "Unconfined"} and sc["appArmorProfile"] == {"type": "Unconfined"}
    assert pod["hostIPC"] is True and pod["hostNetwork"] is True
    assert pod["securityContext"] == {"seccompProfile": {"type": "RuntimeDefault"}, "supplementalGroups": [44]}
    assert {"name": "device-0", "hostPath": {"path": "/dev/fuse"}} in pod["volumes"]
    assert {"name": "device-0", "mountPath": "/dev/fuse"} in pod["containers"][0]["volumeMounts"]
    # The same pods break the policy when nobody opted in, one violation per privilege.
    fields = {v.field for v in check_objects(objects)}
    assert {"hostIPC", "hostNetwork", "volumes.device-0", "securityContext.privileged",
            "securityContext.allowPrivilegeEscalation", "securityContext.seccompProfile",
            "securityContext.appArmorProfile"} <= fields
    assert check_objects(objects, ALL) == []


def test_opt_in_names_are_checked(tmp_path):
    with pytest.raises(InputError, match="--allow takes"):
        convert([_example(tmp_path, HOSTILE)], tmp_path / "out", allow=["root"])
    assert not (tmp_path / "out").exists()


def test_policy_check_catches_each_widening():
    base = {"kind": "Deployment", "metadata": {"name": "w", "namespace": "n"}, "spec": {"template": {"spec": {
        "automountServiceAccountToken": False, "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [{
        "name": "c", "image": "i", "securityContext": {
            "allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]},
            "readOnlyRootFilesystem": True, "seccompProfile": {"type": "RuntimeDefault"}}}]}}}}
    assert check_pod(base, read_only_root=True) == []
    mutations = {
        "securityContext.allowPrivilegeEscalation": lambda c, p: c["securityContext"].pop("allowPrivilegeEscalation"),
        "securityContext.capabilities.drop": lambda c, p: c["securityContext"]["capabilities"].update(drop=[]),
        "securityContext.capabilities.add": lambda c, p: c["securityContext"]["capabilities"].update(add=["NET_ADMIN"]),
        "securityContext.seccompProfile": lambda c, p: c["securityContext"].update(seccompProfile={"type": "Unconfined"}),
        "securityContext.privileged": lambda c, p: c["securityContext"].update(privileged=True),
        "securityContext.readOnlyRootFilesystem": lambda c, p: c["securityContext"].pop("readOnlyRootFilesystem"),
        "hostPID": lambda c, p: p.update(hostPID=True),
        "automountServiceAccountToken": lambda c, p: p.pop("automountServiceAccountToken"),
        "volumes.dev": lambda c, p: p.update(volumes=[{"name": "dev", "hostPath": {"path": "/dev/kfd"}}]),
        "securityContext": lambda c, p: p.pop("securityContext"),
        "securityContext.runAsNonRoot": lambda c, p: c["securityContext"].update(runAsUser=0, runAsNonRoot=True),
        "livenessProbe": lambda c, p: c.update(livenessProbe={"tcpSocket": {"port": 80}}),
    }
    for fld, mutate in mutations.items():
        obj = copy.deepcopy(base)
        pod = obj["spec"]["template"]["spec"]
        mutate(pod["containers"][0], pod)
        assert fld in {v.field for v in check_pod(obj, read_only_root=True, capabilities=[])}, fld
    ok = copy.deepcopy(base)
    ok["spec"]["template"]["spec"]["containers"][0]["securityContext"]["capabilities"]["add"] = ["NET_ADMIN"]
    assert check_pod(ok, capabilities=["NET_ADMIN"]) == []


@pytest.mark.slow
def test_every_committed_manifest_and_chart_default_meets_the_policy():
    manifests = sorted((REPO / "manifests").rglob("*.yaml"))
    assert len(manifests) >= 8
    for m in manifests:
        objects = [d for d in load_yaml_all(m.read_text()) if d]
        assert check_objects(objects) == [], m
    charts = sorted(p.parent for p in (REPO / "helm-charts/common").glob("*/Chart.yaml"))
    assert len(charts) >= 10
    for chart in charts:   # each common chart installed on its own, with its defaults
        docs = [d.obj for d in render_chart(chart, {}, "r")]
        assert [o for o in docs if o["kind"] in ("Deployment", "DaemonSet")], chart
        assert check_objects(docs) == [], chart


def test_read_only_root_where_the_rule_says_with_writable_paths(tmp_path):
    r = convert([_example(tmp_path, """\
        services:
          tgi-service:
            image: ghcr.io/huggingface/text-generation-inference:2.4.0-intel-cpu
            environment: {MODEL_ID: m}
            ports: ["8008:80"]
          dataprep-redis-service:
            image: opea/dataprep:latest
            ports: ["6007:5000"]
        """)], tmp_path / "out")
    assert r.ok, r.verification.as_dict()
    objects = _objects(r, tmp_path / "out")
    by_name = {o["metadata"]["name"]: o["spec"]["template"]["spec"] for o in objects if o["kind"] == "Deployment"}
    tgi = by_name["ex-tgi"]
    assert tgi["containers"][0]["securityContext"]["readOnlyRootFilesystem"] is True
    mounts = {m["mountPath"]: m["name"] for m in tgi["containers"][0]["volumeMounts"]}
    assert "/tmp" in mounts and {"name": mounts["/tmp"], "emptyDir": {}} in tgi["volumes"]
    assert "readOnlyRootFilesystem" not in by_name["ex-data-prep"]["containers"][0]["securityContext"]
    # compose's own tmpfs at /tmp replaces the writable emptyDir: one mount per path
    r2 = convert([_example(tmp_path, HOSTILE)], tmp_path / "out2")
    paths = [m["mountPath"] for m in _pod(_objects(r2, tmp_path / "out2"))["containers"][0]["volumeMounts"]]
    assert paths.count("/tmp") == 1


def test_global_mode_becomes_a_daemonset_and_profiles_are_off(tmp_path):
    r = convert([_example(tmp_path, """\
        services:
          node-exporter:
            image: prom/node-exporter:v1.8.2
            deploy: {mode: global}
            ports: ["9100:9100"]
          debug:
            image: busybox:1.36
            profiles: [debug]
            command: ["sleep", "3600"]
        """)], tmp_path / "out")
    assert r.ok, r.verification.as_dict()
    objects = _objects(r, tmp_path / "out")
    ds = [o for o in objects if o["kind"] == "DaemonSet"]
    assert [o["metadata"]["name"] for o in ds] == ["ex-node-exporter"] and "replicas" not in ds[0]["spec"]
    debug = next(i for i in r.plan.instances if i.service == "debug")
    assert debug.values.enabled is False
    assert not [o for o in objects if o["metadata"]["name"] == f"ex-{debug.name}"]
    on = render_chart(tmp_path / "out/helm-charts/ex", {debug.name: {"enabled": True}}, "ex")
    assert [d.obj["kind"] for d in on if d.obj["metadata"]["name"] == f"ex-{debug.name}"
            and d.obj["kind"] != "NetworkPolicy"] == ["Deployment"]


def test_a_directory_given_as_the_compose_file_is_named(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "compose2helm", "convert", str(tmp_path), "--out",
                           str(tmp_path / "out")], capture_output=True, text=True)
    assert proc.returncode == 2 and "is a directory" in proc.stderr and str(tmp_path) in proc.stderr


@needs_shared
def test_opt_ins_verify_on_real_files(tmp_path):
    """Real files that ask for privileges convert and verify with and without the opt-ins."""
    head = SHARED / "genaiexamples/head"
    cases = [[head / "ChatQnA/docker_compose/intel/hpu/gaudi/compose.yaml",
              head / "ChatQnA/docker_compose/intel/hpu/gaudi/compose.telemetry.yaml"],
             [head / "CodeGen/docker_compose/amd/gpu/rocm/compose.yaml"]]
    for i, files in enumerate(cases):
        for allow in ([], ALL):
            out = tmp_path / f"out{i}{len(allow)}"
            r = convert(files, out, allow=allow)
            assert r.ok, (files, allow, r.verification.as_dict())
            objects = _objects(r, out)
            assert check_objects(objects, allow) == []
            if not allow:
                assert not any(_pod_of(o).get("hostIPC") for o in objects if "template" in o.get("spec", {}))


def _pod_of(obj):
    return obj["spec"]["template"]["spec"]


def test_the_nginx_image_keeps_the_capabilities_it_needs_to_start(tmp_path):
    """opea/nginx starts as root, changes owner of its cache, binds port 80 and switches user: under
    drop ALL it needs CHOWN, SETUID, SETGID and NET_BIND_SERVICE (rule data), and nothing more."""
    from compose2helm.chart.charts import common_chart
    from compose2helm.plan.rules import load_rules
    rule = load_rules().by_component("nginx")
    assert rule.capabilities == ("CHOWN", "NET_BIND_SERVICE", "SETGID", "SETUID")
    default = load_yaml(common_chart(rule)["values.yaml"])["securityContext"]["capabilities"]
    assert default == {"drop": ["ALL"], "add": ["CHOWN", "NET_BIND_SERVICE", "SETGID", "SETUID"]}
    src = tmp_path / "Ex" / "docker" / "xeon" / "compose.yaml"
    src.parent.mkdir(parents=True)
    src.write_text("services:\n  gw:\n    image: opea/nginx:latest\n    ports: ['80:80']\n"
                   "    cap_add: [SYS_NICE]\n")
    result = convert([src], tmp_path / "out")
    assert result.ok
    objs = [d for d in load_yaml_all((tmp_path / "out" / result.manifest).read_text()) if d]
    [deploy] = [o for o in objs if o["kind"] == "Deployment"]
    caps = deploy["spec"]["template"]["spec"]["containers"][0]["securityContext"]["capabilities"]
    # compose's own cap_add comes on top of what the image needs, all others dropped
    assert caps == {"drop": ["ALL"], "add": ["CHOWN", "NET_BIND_SERVICE", "SETGID", "SETUID", "SYS_NICE"]}
