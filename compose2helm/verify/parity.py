"""Parity with GenAIInfra: our rendered umbrella and GenAIInfra's rendering of the same values file,
compared on what a user of either would notice first (issue 15).

Both sides are reduced to components, matched by role rather than by object name:
  role         the workload's `app.kubernetes.io/name` label (the common chart's name, or the
               umbrella's alias of it: `chatqna-ui`), else the chart name in `helm.sh/chart`, else
               the workload name without the release prefix. Components left unmatched on both
               sides are then paired when their image repositories are equal (a chart renamed
               between the two, same software).
  image        the container image of the main (first) container, repository:tag.
  accelerators the extended resources in the container limits (`habana.ai/gaudi`, `nvidia.com/gpu`,
               `amd.com/gpu`, `gpu.intel.com/i915` ...): names with a domain, as Kubernetes spells
               device-plugin resources; cpu and memory are sizing, not parity.
  endpoints    which component each component addresses, and on which ports. Addresses are read
               from env values (literal, from the ConfigMaps and Secrets they load or reference)
               and from command/args: a URL anywhere, or a bare host in a key named like a host
               (`*_HOST_IP`, `*_HOST`, `*_IP`, `*_ENDPOINT`, `*_URL` ...). A host is resolved to a
               Service of the same manifest (short name or `<svc>.<ns>.svc...`), the Service to the
               workload its selector picks, the workload to its role. A host that names no Service
               is kept as `<host> (no Service)`: the program would fail to reach it. Ports: the URL's
               port, else the scheme's default; for a bare host the value of its companion key
               (`LLM_SERVER_HOST_IP` -> `LLM_SERVER_PORT`), else none (the program's default — no
               claim made, so it is not compared).
Differences come out as Difference records; classify() splits them against a documented list of
the drift GenAIInfra carries (see benchmarks/genaiinfra_parity.yaml).
"""
from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import yaml

from ..helm.render import render_chart
from ..yamlout import SAFE_LOADER


WORKLOADS = ("Deployment", "StatefulSet", "DaemonSet")
# Keys whose bare value is a host name. `_NAME` is left out on purpose: nginx's
# BACKEND_SERVICE_NAME is a URL path segment that happens to equal the megaservice's name.
_HOST_KEY = re.compile(r"(?:_HOST_IP|_HOST|_IP|_HOSTNAME|_ENDPOINT|_URL|_ADDR|_ADDRESS|_SERVER)$")
_HOST_SUFFIXES = ("_HOST_IP", "_HOST", "_IP", "_HOSTNAME")
_URL = re.compile(r"\b([a-z][a-z0-9+.-]*)://([A-Za-z0-9_.-]+)(?::(\d+))?")
_HOST_PORT = re.compile(r"^([A-Za-z0-9_.-]+)(?::(\d+))?$")
# Ports implied by a URL's scheme when it names none.
_SCHEME_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443, "redis": 6379, "rediss": 6379}


@dataclass(frozen=True)
class Component:
    role: str
    workload: str                                   # Kind/name, for messages
    image: str
    accelerators: dict[str, str]
    endpoints: dict[str, frozenset[int]] = field(default_factory=dict)   # target role -> ports


@dataclass(frozen=True)
class Difference:
    component: str          # our role (theirs when the component is only theirs)
    aspect: str             # presence | image | accelerator | endpoint | endpoint-port | unserved-port
    ours: Any
    theirs: Any

    def key(self) -> tuple:
        return (self.component, self.aspect, _text(self.ours), _text(self.theirs))

    def line(self) -> str:
        return f"{self.component}: {self.aspect}: ours {_text(self.ours)}, GenAIInfra {_text(self.theirs)}"


def _text(value: Any) -> str:
    return "-" if value is None else str(value)


# --- reading one side -----------------------------------------------------------------------------

def load_manifest(path: Path) -> list[dict[str, Any]]:
    """The objects of a manifest file (multi-document YAML)."""
    text = Path(path).read_text(encoding="utf-8")
    return [d for d in yaml.load_all(text, Loader=SAFE_LOADER) if isinstance(d, dict) and d]


def render_reference(chart_dir: Path, values_file: Path, release: str) -> list[dict[str, Any]]:
    """GenAIInfra's umbrella rendered with one of its values files by the embedded Helm engine (its
    file:// dependencies assembled from the same tree; remote ones, Milvus and Qdrant, are absent
    and so dropped, as their conditions are off in the files compared here). Test hooks left out."""
    values = yaml.load(Path(values_file).read_text(encoding="utf-8"), Loader=SAFE_LOADER) or {}
    objs = []
    for doc in render_chart(Path(chart_dir), values, release):
        hooks = str(((doc.obj.get("metadata") or {}).get("annotations") or {}).get("helm.sh/hook", ""))
        if "test" not in [h.strip() for h in hooks.split(",")]:
            objs.append(doc.obj)
    return objs


def _meta(obj: dict[str, Any]) -> dict[str, Any]:
    return obj.get("metadata") or {}


def _role(workload: dict[str, Any], release: str) -> str:
    labels = _meta(workload).get("labels") or {}
    if labels.get("app.kubernetes.io/name"):
        return str(labels["app.kubernetes.io/name"])
    chart = str(labels.get("helm.sh/chart", ""))
    if chart:   # `<name>-<version>`: versions start with a digit (0.1.0, GenAIInfra's 0-latest)
        return re.sub(r"-v?\d[\w.+-]*$", "", chart)
    name = str(_meta(workload).get("name", ""))
    return name[len(release) + 1:] if name.startswith(release + "-") else name


def _pod(workload: dict[str, Any]) -> dict[str, Any]:
    return ((workload.get("spec") or {}).get("template") or {})


def _data(obj: dict[str, Any]) -> dict[str, str]:
    """A ConfigMap's data, or a Secret's stringData and decoded data."""
    out = {k: str(v) for k, v in (obj.get("data") or {}).items()} if obj.get("kind") == "ConfigMap" else {}
    if obj.get("kind") == "Secret":
        for k, v in (obj.get("data") or {}).items():
            try:
                out[k] = base64.b64decode(str(v)).decode("utf-8")
            except (ValueError, UnicodeDecodeError):
                continue   # binary data holds no address
        out.update({k: str(v) for k, v in (obj.get("stringData") or {}).items()})
    return out


def _environment(container: dict[str, Any], sources: dict[tuple[str, str], dict[str, str]]) -> dict[str, str]:
    """The container's environment as the kubelet builds it: envFrom first, env over it."""
    env: dict[str, str] = {}
    for ref in container.get("envFrom") or []:
        for kind, field_name in (("ConfigMap", "configMapRef"), ("Secret", "secretRef")):
            if isinstance(ref.get(field_name), dict):
                prefix = str(ref.get("prefix") or "")
                data = sources.get((kind, str(ref[field_name].get("name"))), {})
                env.update({prefix + k: v for k, v in data.items()})
    for item in container.get("env") or []:
        name = str(item.get("name"))
        if "value" in item:
            env[name] = str(item["value"])
        source = item.get("valueFrom") or {}
        for kind, field_name in (("ConfigMap", "configMapKeyRef"), ("Secret", "secretKeyRef")):
            ref = source.get(field_name)
            if isinstance(ref, dict):
                value = sources.get((kind, str(ref.get("name"))), {}).get(str(ref.get("key")))
                if value is not None:
                    env[name] = value
    return env


def _selects(selector: dict[str, Any], labels: dict[str, Any]) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


class _Resolver:
    """Host name -> role, through the Services of one manifest."""

    def __init__(self, objs: list[dict[str, Any]], roles: dict[int, str]):
        self.services: dict[str, tuple[str | None, set[int]]] = {}
        workloads = [o for o in objs if o.get("kind") in WORKLOADS]
        for svc in (o for o in objs if o.get("kind") == "Service"):
            selector = (svc.get("spec") or {}).get("selector") or {}
            target = next((roles[id(w)] for w in workloads
                           if _selects(selector, _meta(_pod(w)).get("labels") or {})), None)
            ports = {int(p["port"]) for p in (svc.get("spec") or {}).get("ports") or [] if "port" in p}
            self.services[str(_meta(svc).get("name"))] = (target, ports)

    def service(self, host: str) -> str | None:
        """The Service a host name designates: its name, or `<name>.<namespace>[.svc...]`."""
        if host in self.services:
            return host
        first = host.split(".", 1)[0]
        return first if "." in host and first in self.services else None


def _addresses(env: dict[str, str], words: list[str]) -> list[tuple[str, int | None]]:
    """(host, port or None) of every address found in env values and command/args words."""
    found: list[tuple[str, int | None]] = []
    for key, value in sorted(env.items()):
        urls = list(_URL.finditer(value))
        for m in urls:
            port = int(m.group(3)) if m.group(3) else _SCHEME_PORTS.get(m.group(1).lower())
            found.append((m.group(2), port))
        bare = _HOST_PORT.match(value.strip())
        if not urls and bare and _HOST_KEY.search(key):
            port = int(bare.group(2)) if bare.group(2) else None
            if port is None:
                suffix = next((s for s in _HOST_SUFFIXES if key.endswith(s)), None)
                companion = env.get(key[: -len(suffix)] + "_PORT", "") if suffix else ""
                port = int(companion) if companion.strip().isdigit() else None
            found.append((bare.group(1), port))
    for word in words:
        for m in _URL.finditer(word):
            port = int(m.group(3)) if m.group(3) else _SCHEME_PORTS.get(m.group(1).lower())
            found.append((m.group(2), port))
    return found


def components(objs: list[dict[str, Any]], release: str) -> tuple[dict[str, Component], list[Difference]]:
    """The components of a rendered manifest by role, and the ports each side addresses that its
    target Service does not expose (a broken wiring of that side alone)."""
    workloads = sorted((o for o in objs if o.get("kind") in WORKLOADS), key=lambda o: str(_meta(o).get("name")))
    roles = {id(w): _role(w, release) for w in workloads}
    sources = {(str(o.get("kind")), str(_meta(o).get("name"))): _data(o)
               for o in objs if o.get("kind") in ("ConfigMap", "Secret")}
    resolver = _Resolver(objs, roles)
    out: dict[str, Component] = {}
    unserved: list[Difference] = []
    for w in workloads:
        role = roles[id(w)]
        containers = (_pod(w).get("spec") or {}).get("containers") or [{}]
        main = containers[0]
        limits = (main.get("resources") or {}).get("limits") or {}
        endpoints: dict[str, set[int]] = {}
        for c in containers:
            words = [str(x) for x in (c.get("command") or []) + (c.get("args") or [])]
            for host, port in _addresses(_environment(c, sources), words):
                svc = resolver.service(host)
                if svc is None:
                    if host == "localhost" or "." in host:
                        continue   # the pod itself, or outside the cluster: not wiring between components
                    target = f"{host} (no Service)"
                else:
                    target = resolver.services[svc][0] or f"{svc} (selects nothing)"
                    if port is not None and port not in resolver.services[svc][1]:
                        unserved.append(Difference(role, "unserved-port", f"{svc}:{port}", None))
                ports = endpoints.setdefault(target, set())
                if port is not None:
                    ports.add(port)
        if role in out:
            continue   # two workloads of one role: the first (by name) stands for it
        out[role] = Component(role, f"{w.get('kind')}/{_meta(w).get('name')}", str(main.get("image", "")),
                              {str(k): str(v) for k, v in sorted(limits.items()) if "/" in str(k)},
                              {t: frozenset(p) for t, p in sorted(endpoints.items())})
    return out, unserved


def _repository(image: str) -> str:
    name = image.split("@", 1)[0]
    return name.rsplit(":", 1)[0] if ":" in name.rsplit("/", 1)[-1] else name


def _match(ours: dict[str, Component], theirs: dict[str, Component]) -> dict[str, str]:
    """Our role -> theirs: same role, else (among the rest) the same image repository."""
    pairs = {r: r for r in ours if r in theirs}
    left = [r for r in ours if r not in pairs]
    free = [r for r in theirs if r not in pairs.values()]
    for r in left:
        same = [t for t in free if _repository(theirs[t].image) == _repository(ours[r].image)]
        if len(same) == 1:
            pairs[r] = same[0]
            free.remove(same[0])
    return pairs


def compare(ours_objs: list[dict[str, Any]], theirs_objs: list[dict[str, Any]], release: str) -> list[Difference]:
    """Every difference between our manifest and GenAIInfra's, in a stable order. Endpoint targets
    on their side are named by our role where the two are matched."""
    ours, ours_unserved = components(ours_objs, release)
    theirs, theirs_unserved = components(theirs_objs, release)
    pairs = _match(ours, theirs)
    back = {t: o for o, t in pairs.items()}
    diffs = list(ours_unserved)
    diffs += [Difference(back.get(d.component, d.component), d.aspect, None, d.ours) for d in theirs_unserved]
    for role in sorted(set(ours) - set(pairs)):
        diffs.append(Difference(role, "presence", ours[role].image, None))
    for role in sorted(set(theirs) - set(back)):
        diffs.append(Difference(role, "presence", None, theirs[role].image))
    for role in sorted(pairs):
        a, b = ours[role], theirs[pairs[role]]
        if a.image != b.image:
            diffs.append(Difference(role, "image", a.image, b.image))
        for res in sorted(set(a.accelerators) | set(b.accelerators)):
            if a.accelerators.get(res) != b.accelerators.get(res):
                diffs.append(Difference(role, "accelerator",
                                        _count(res, a.accelerators), _count(res, b.accelerators)))
        b_endpoints = {back.get(t, t): p for t, p in b.endpoints.items()}
        for target in sorted(set(a.endpoints) | set(b_endpoints)):
            if target not in b_endpoints or target not in a.endpoints:
                diffs.append(Difference(role, "endpoint", target if target in a.endpoints else None,
                                        target if target in b_endpoints else None))
            elif a.endpoints[target] and b_endpoints[target] and a.endpoints[target] != b_endpoints[target]:
                diffs.append(Difference(role, "endpoint-port", _ports(target, a.endpoints[target]),
                                        _ports(target, b_endpoints[target])))
    return sorted(diffs, key=Difference.key)


def _count(resource: str, limits: dict[str, str]) -> str | None:
    return f"{resource}: {limits[resource]}" if resource in limits else None


def _ports(target: str, ports: Iterable[int]) -> str:
    return f"{target}:{','.join(str(p) for p in sorted(ports))}"


# --- the documented drift -------------------------------------------------------------------------

@dataclass
class Verdict:
    documented: list[tuple[Difference, dict[str, Any]]]
    undocumented: list[Difference]
    stale: list[dict[str, Any]]        # documented entries no difference matched


def classify(diffs: list[Difference], entries: list[dict[str, Any]], values_name: str) -> Verdict:
    """Split the differences of one values file against the documented drift entries (those whose
    `values` list names it). An entry matches a difference with its component, aspect, ours and
    theirs (null for absent)."""
    mine = [e for e in entries if values_name in (e.get("values") or [])]
    index = {(str(e["component"]), str(e["aspect"]), _text(e.get("ours")), _text(e.get("theirs"))): e
             for e in mine}
    documented, undocumented, used = [], [], set()
    for d in diffs:
        entry = index.get(d.key())
        if entry is None:
            undocumented.append(d)
        else:
            documented.append((d, entry))
            used.add(d.key())
    stale = [e for k, e in index.items() if k not in used]
    return Verdict(documented, undocumented, stale)


def drift_markdown(entries: list[dict[str, Any]]) -> str:
    """The README's table of the drift GenAIInfra carries, one row per documented difference."""
    rows = ["| values file | component | aspect | ours (= compose) | GenAIInfra | why |",
            "|---|---|---|---|---|---|"]
    for e in entries:
        cells = [", ".join(f"`{v}-values.yaml`" for v in e["values"]), f"`{e['component']}`", e["aspect"],
                 _cell(e.get("ours")), _cell(e.get("theirs")), " ".join(str(e["reason"]).split())]
        rows.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(rows) + "\n"


def _cell(value: Any) -> str:
    return "—" if value is None else f"`{value}`"


def evidence_problems(entry: dict[str, Any], compose_files: dict[str, Path]) -> list[str]:
    """What an entry's evidence claims about the compose files and they do not say: each item names
    a file (by its key under `compose`) and a text it `contains` or `lacks`."""
    problems = []
    for item in entry.get("evidence") or []:
        path = compose_files.get(str(item.get("file")))
        if path is None or not path.is_file():
            problems.append(f"{entry['component']} {entry['aspect']}: no compose file {item.get('file')!r}")
            continue
        text = path.read_text(encoding="utf-8")
        if "contains" in item and str(item["contains"]) not in text:
            problems.append(f"{entry['component']} {entry['aspect']}: {path.name} lacks {item['contains']!r}")
        if "lacks" in item and str(item["lacks"]) in text:
            problems.append(f"{entry['component']} {entry['aspect']}: {path.name} contains {item['lacks']!r}")
        if not ({"contains", "lacks"} & set(item)):
            problems.append(f"{entry['component']} {entry['aspect']}: evidence says neither contains nor lacks")
    if not entry.get("evidence"):
        problems.append(f"{entry['component']} {entry['aspect']}: no evidence from compose")
    return problems


@dataclass
class ParityResult:
    values: str
    differences: list[Difference]
    verdict: Verdict


def parity(drift: dict[str, Any], repo: Path, reference: Path) -> tuple[list[ParityResult], list[str]]:
    """For each values file the drift data names (its `compose` keys): GenAIInfra's umbrella
    rendered with `<reference>/<chart>/<values>-values.yaml` against our
    `<manifests>/<values>/<chart>.yaml`, classified; and the evidence problems of every entry."""
    chart, release = str(drift["reference"]), str(drift["release"])
    compose_files = {str(k): repo / str(v) for k, v in (drift.get("compose") or {}).items()}
    entries = list(drift.get("differences") or [])
    results = []
    for name in compose_files:
        theirs = render_reference(reference / chart, reference / chart / f"{name}-values.yaml", release)
        ours = load_manifest(repo / str(drift["manifests"]) / name / f"{drift['chart']}.yaml")
        diffs = compare(ours, theirs, release)
        results.append(ParityResult(name, diffs, classify(diffs, entries, name)))
    problems = [p for e in entries for p in evidence_problems(e, compose_files)]
    return results, problems
