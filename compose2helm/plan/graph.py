"""Who calls whom in an example: its components and the calls the endpoint rewrite found.

The edges are the plan's own record of the rewrite (Instance.calls: an env key or flag whose
address named another service, now that service's Service DNS name), so the picture, the
wiring verify checks and any policy built from it share one source. Drawn as mermaid (GitHub and
GitLab render it in Markdown), Graphviz dot, or JSON.
"""
from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field

from .plan import ExamplePlan, Instance
from .texts import EXTERNAL_HOST


@dataclass(frozen=True)
class Node:
    id: str                 # the values key (the umbrella's own name for the megaservice)
    service: str            # the compose service
    chart: str              # common chart, or the umbrella for the megaservice
    image: str
    ports: tuple[int, ...]  # Service ports
    accelerator: str = ""   # device-plugin resource, e.g. habana.ai/gaudi
    count: int = 0          # how many of it
    entry: bool = False     # where users come in
    enabled: bool = True    # False: off by default (compose profiles): drawn dashed
    external: bool = False  # a server outside the compose file (EXTERNAL_HOST)


@dataclass(frozen=True)
class Edge:
    source: str             # node ids
    target: str
    via: str                # the env key or flag the address came from
    port: int | None


@dataclass
class Graph:
    title: str
    nodes: list[Node] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"title": self.title, "nodes": [asdict(n) for n in self.nodes],
                "edges": [asdict(e) for e in self.edges]}


def entry_points(plan: ExamplePlan) -> list[Instance]:
    """The instances users come in through: the running ones of the lowest entry rank (nginx, else
    the UI, else the megaservice; rule field entry_point)."""
    ranked = [i for i in plan.instances if i.rule.entry_point and i.values.enabled is not False]
    if not ranked:
        return []
    best = min(i.rule.entry_point for i in ranked)
    return [i for i in ranked if i.rule.entry_point == best]


def build(plan: ExamplePlan) -> Graph:
    by_service = {i.service: i for i in plan.instances}
    entries = {i.service for i in entry_points(plan)}
    graph = Graph(f"{plan.example} on {plan.overlay_name}: {', '.join(plan.sources)}")
    for inst in plan.instances:
        limits = inst.values.device_limits
        accel = next(iter(sorted(limits)), "")
        image = inst.values.image
        graph.nodes.append(Node(
            id=inst.name, service=inst.service, chart=inst.component or plan.chart,
            image=f"{image.repository}:{image.tag}" if image.repository else "",
            ports=tuple(p.port for p in inst.values.ports), accelerator=accel,
            count=limits[accel] if accel else 0,
            entry=inst.service in entries, enabled=inst.values.enabled is not False))
    for inst in plan.instances:
        for via, target in inst.calls:
            callee = by_service.get(target)
            if callee is None:
                continue
            graph.edges.append(Edge(inst.name, callee.name, via, call_port(inst, via, callee)))
    if any(EXTERNAL_HOST in text for inst in plan.instances for text in _texts(inst)):
        graph.nodes.append(Node(id=EXTERNAL_HOST, service="", chart="", image="", ports=(), external=True))
        for inst in plan.instances:
            for via, text in _keyed_texts(inst):
                if EXTERNAL_HOST in text:
                    graph.edges.append(Edge(inst.name, EXTERNAL_HOST, via, _port_in(text, EXTERNAL_HOST)))
    graph.edges.sort(key=lambda e: (e.source, e.target, e.via))
    return graph


def callers_of(plan: ExamplePlan) -> dict[str, set[str]]:
    """common chart -> the instances (values keys; the megaservice by the umbrella's name) that
    address an instance of it: the same edges the diagram draws."""
    by_service = {i.service: i for i in plan.instances}
    out: dict[str, set[str]] = {}
    for inst in plan.instances:
        for _key, target in inst.calls:
            callee = by_service.get(target)
            if callee is not None and not callee.is_megaservice and callee is not inst:
                out.setdefault(callee.component, set()).add(plan.chart if inst.is_megaservice else inst.name)
    return out


def call_port(caller: Instance, via: str, callee: Instance) -> int | None:
    """The port a call uses: written after the callee's Service name in the caller's text, else
    the `*_PORT` sibling of a `*_HOST_IP`-style key, else the callee's first Service port."""
    texts = dict(_keyed_texts(caller))
    name = f"-{callee.name}" if callee.component else "{{ .Release.Name }}"
    port = _port_in(texts.get(via, ""), name)
    if port is None:
        for suffix in ("_HOST_IP", "_SERVICE_IP", "_HOST", "_IP", "_NAME"):
            if via.endswith(suffix):
                sibling = texts.get(via[: -len(suffix)] + "_PORT", "")
                if sibling.isdigit():
                    port = int(sibling)
                break
    if port is None and callee.values.ports:
        port = callee.values.ports[0].port
    return port


def _port_in(text: str, name: str) -> int | None:
    m = re.search(re.escape(name) + r"(?:\}\})?:(\d{1,5})\b", text)
    return int(m.group(1)) if m else None


def _keyed_texts(inst: Instance) -> list[tuple[str, str]]:
    v = inst.values
    out = [(k, t) for k, t in {**v.env, **v.secret_env}.items() if isinstance(t, str)]
    words = list(v.command or []) + list(v.args or [])
    for i, word in enumerate(words):   # a flag's argument is keyed by the flag
        key = words[i - 1] if i and words[i - 1].startswith("-") else f"args[{i}]"
        out.append((key, word))
    return out


def _texts(inst: Instance) -> list[str]:
    return [t for _k, t in _keyed_texts(inst)]


# --- drawing --------------------------------------------------------------------------------------

def _drawn_edges(graph: Graph) -> list[tuple[tuple[str, str], str]]:
    """One arrow per caller and callee, labelled with every key that makes the call and its port(s)
    (data-prep reaches redis through REDIS_URL and REDIS_HOST: one arrow, both keys)."""
    calls: dict[tuple[str, str], list[Edge]] = {}
    for e in graph.edges:
        calls.setdefault((e.source, e.target), []).append(e)
    out = []
    for pair, edges in calls.items():
        ports = sorted({e.port for e in edges if e.port})
        out.append((pair, ", ".join(sorted({e.via for e in edges})) + "".join(f" :{p}" for p in ports)))
    return out


def _node_label(n: Node) -> str:
    if n.external:
        return "external server<br/>value EXTERNAL_HOST"
    lines = [n.id if n.id == n.chart else f"{n.id} ({n.chart})", n.image]
    if n.accelerator:
        lines.append(f"{n.accelerator}: {n.count}")
    if n.ports:
        lines.append("Service :" + ", :".join(str(p) for p in n.ports))
    return "<br/>".join(lines)


def _mermaid_id(node_id: str) -> str:
    return "n_" + re.sub(r"[^A-Za-z0-9_]", "_", node_id)


def _mermaid_text(text: str) -> str:
    # Mermaid labels are quoted; a quote inside one is written as an entity.
    return text.replace('"', "#quot;")


def mermaid(graph: Graph) -> str:
    lines = ["flowchart LR", f"  %% {_mermaid_text(graph.title)}"]
    for n in graph.nodes:
        shape = ('(["', '"])') if n.entry else (('[("', '")]') if n.external else ('["', '"]'))
        lines.append(f"  {_mermaid_id(n.id)}{shape[0]}{_mermaid_text(_node_label(n))}{shape[1]}")
    for (source, target), label in _drawn_edges(graph):
        lines.append(f'  {_mermaid_id(source)} -- "{_mermaid_text(label)}" --> {_mermaid_id(target)}')
    lines.append("  classDef entry stroke-width:3px")
    lines.append("  classDef off stroke-dasharray:5 5")
    entries = [_mermaid_id(n.id) for n in graph.nodes if n.entry]
    off = [_mermaid_id(n.id) for n in graph.nodes if not n.enabled]
    if entries:
        lines.append(f"  class {','.join(entries)} entry")
    if off:
        lines.append(f"  class {','.join(off)} off")
    return "\n".join(lines) + "\n"


def dot(graph: Graph) -> str:
    def esc(text: str) -> str:
        return text.replace("\\", "\\\\").replace('"', '\\"')

    def q(text: str) -> str:
        return f'"{esc(text)}"'

    lines = [f"digraph {q(graph.title)} {{", "  rankdir=LR;", "  node [shape=box];"]
    for n in graph.nodes:
        # dot's own line break inside a label is the two characters \n
        attrs = ['label="' + "\\n".join(esc(line) for line in _node_label(n).split("<br/>")) + '"']
        if n.entry:
            attrs.append("penwidth=3")
        if not n.enabled:
            attrs.append("style=dashed")
        if n.external:
            attrs.append("shape=cylinder")
        lines.append(f"  {q(n.id)} [{', '.join(attrs)}];")
    for (source, target), label in _drawn_edges(graph):
        lines.append(f"  {q(source)} -> {q(target)} [label={q(label)}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def as_json(graph: Graph) -> str:
    return json.dumps(graph.as_dict(), indent=2, sort_keys=True) + "\n"


FORMATS = {"mermaid": mermaid, "dot": dot, "json": as_json}
