"""Named volumes become PersistentVolumeClaims; config files at hand become ConfigMaps."""
from __future__ import annotations

import os


from compose2helm.pipeline.convert import convert
from compose2helm.verify.podpolicy import check_objects
from conftest import load_yaml_all


COMPOSE = """\
services:
  nginx:
    image: nginx:1.27
    ports: ["80:80"]
    volumes:
      - ./nginx.conf:/etc/nginx/conf.d/default.conf:ro
      - ./conf:/etc/extra:ro
      - ./missing.conf:/etc/missing.conf
      - {outside}:/etc/outside:ro
      - ./link.conf:/etc/link.conf:ro
      - ./linkdir:/etc/linkdir:ro
      - cache:/var/cache/nginx
volumes:
  cache:
"""


def _convert(tmp_path):
    base = tmp_path / "Ex" / "docker" / "xeon"
    (base / "conf").mkdir(parents=True)
    outside = tmp_path / "host-secret.conf"
    outside.write_text("token=outside-7d1c\n")
    (base / "compose.yaml").write_text(COMPOSE.format(outside=outside))
    (base / "nginx.conf").write_text("server { listen 80; }\n")
    (base / "conf/a.ini").write_text("a=1\n")
    (base / "conf/b.ini").write_text("b=2\n")
    os.symlink(outside, base / "link.conf")          # a link out of the folder is not followed
    (base / "linkdir").mkdir()
    os.symlink(outside, base / "linkdir/member.conf")   # nor is one inside an embedded folder
    r = convert([base / "compose.yaml"], tmp_path / "out")
    assert r.ok, r.verification.as_dict()
    docs = [d for d in load_yaml_all((tmp_path / "out" / r.manifest).read_text()) if d]
    return r, docs


def test_named_volume_is_a_claim_and_config_files_a_configmap(tmp_path):
    r, docs = _convert(tmp_path)
    pod = next(d for d in docs if d["kind"] == "Deployment")["spec"]["template"]["spec"]
    mounts = {m["mountPath"]: m for m in pod["containers"][0]["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}

    claim = volumes[mounts["/var/cache/nginx"]["name"]]["persistentVolumeClaim"]["claimName"]
    pvc = next(d for d in docs if d["kind"] == "PersistentVolumeClaim")
    assert pvc["metadata"]["name"] == claim and pvc["spec"]["resources"]["requests"]["storage"] == "1Gi"

    single = mounts["/etc/nginx/conf.d/default.conf"]
    assert single["subPath"] == "nginx.conf" and single["readOnly"] is True
    cm = volumes[single["name"]]["configMap"]["name"]
    data = {d["metadata"]["name"]: d.get("data") for d in docs if d["kind"] == "ConfigMap"}
    assert data[cm] == {"nginx.conf": "server { listen 80; }\n"}
    folder = mounts["/etc/extra"]
    assert "subPath" not in folder and data[volumes[folder["name"]]["configMap"]["name"]] == {"a.ini": "a=1\n",
                                                                                            "b.ini": "b=2\n"}
    for path in ("/etc/missing.conf", "/etc/outside", "/etc/link.conf", "/etc/linkdir"):
        assert "emptyDir" in volumes[mounts[path]["name"]], path
    why = {f.key: f.detail for f in r.plan.findings if f.service == "nginx"}
    assert "not at hand" in why["volumes[2]"] and "outside the compose file's folder" in why["volumes[3]"]
    assert "outside the compose file's folder" in why["volumes[4]"]
    assert check_objects(docs) == []


def test_files_outside_the_compose_folder_are_never_copied(tmp_path):
    _convert(tmp_path)
    for f in (tmp_path / "out").rglob("*"):
        if f.is_file():
            assert "outside-7d1c" not in f.read_text(), f
