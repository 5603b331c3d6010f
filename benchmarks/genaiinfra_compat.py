"""How well our umbrellas take GenAIInfra's values files (issue 15's measure).

    .venv/bin/python benchmarks/genaiinfra_compat.py [--charts helm-charts]
        [--reference ../shared/reference/genaiinfra] [--json out.json] [-v]

For each GenAIInfra umbrella we also have (CHARTS/<name>/) and each of its `*-values.yaml` files:
  1. files: render our umbrella with our base overlay, their file on top (Helm's merge: maps key by
     key, anything else replaced). The base overlay is ours of the same file name, else, for a file
     whose name mentions gaudi, our gaudi overlay, else our cpu, else our xeon overlay.
  2. keys: every file flattened to dotted leaf paths (lists and empty maps are leaves). For each
     distinct (umbrella, key), with each base and value it has in their files: the base alone (the
     baseline), base + that key alone with the file's value, base + that key with a changed value.
       rejected   the render with the file's value raises (e.g. the values schema names the key);
       effective  a render differs from the baseline (objects compared, not text), or the chart
                  refuses the changed value (it reads the value); where our schema lists the
                  choices (enum), the changed value is another of them;
       ignored    accepted, and neither render changes anything.
     A key that alone is ignored or rejected is judged again behind its switch, as GenAIInfra means
     it to act: the same three renders, each with its switches on and with the keys their file sets
     beside it (a switch's fields go together: externalLLM's host with its model). Its switches:
     `enabled` of each object above it that has one (in their file or in our values: tgi.enabled,
     tgi.autoscaling.enabled), and the `x-switch` annotations of our schema along its path (values
     that turn it on elsewhere: dashboard needs global.monitoring, autoscaling.<target>.accel an
     accelDevice). There the key is also effective when the switch alone does not render and the
     key makes it render (the switch requires it). Effective behind its switch counts as effective.
     A key with several (base, value) trials is effective if one trial is, else ignored if one is
     (a file where it silently does nothing), else rejected. Also given: each key by the trial of
     the first file that has it (how issue 15 first counted), and how many ignored keys are ignored
     only where our base turns their subchart off (alone, the key lands in a disabled subchart;
     their file may turn it on), and how many effective keys are so only behind their switch, and
     of those only with such a subchart turned on (their umbrella runs it, our overlay does not).
Prints plain lines for a CI log; --json writes the whole result. Always exits 0: it measures.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import yaml

from compose2helm.errors import InputError
from compose2helm.helm.assemble import dependencies, disabled_dependencies
from compose2helm.helm.commands import merge_values
from compose2helm.helm.render import render_chart


REPO = Path(__file__).resolve().parents[1]
CLASSES = ("effective", "rejected", "ignored")
Key = tuple[str, ...]


# --- values files -------------------------------------------------------------------------------

def load_values(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a values file must be a YAML mapping")
    return data


def values_files(umbrella_dir: Path) -> list[Path]:
    """The files users pass with -f: `*-values.yaml`, not the chart's own values.yaml."""
    return sorted(p for p in Path(umbrella_dir).glob("*-values.yaml") if p.is_file())


def flatten(values: Any, prefix: Key = ()) -> list[tuple[Key, Any]]:
    """Leaf paths of a values tree: scalars, null, lists and empty maps are leaves."""
    if isinstance(values, dict) and values:
        out: list[tuple[Key, Any]] = []
        for k, v in values.items():
            out += flatten(v, prefix + (str(k),))
        return out
    return [(prefix, values)] if prefix else []


def dotted(key: Key) -> str:
    """a.b.c, a dot inside a segment escaped as --set writes it (resources.limits.habana\\.ai/gaudi)."""
    return ".".join(seg.replace(".", "\\.") for seg in key)


def nest(key: Key, value: Any) -> dict[str, Any]:
    out: Any = value
    for seg in reversed(key):
        out = {seg: out}
    return out


_NUMBER = re.compile(r"^(-?\d+)(\.\d+)?(.*)$")


def changed_value(value: Any, choices: Iterable[Any] = ()) -> Any:
    """A different value of the same type: where our schema lists the choices (enum), the first
    other choice of that type; else bools flipped, numbers moved, strings altered so that a
    number or quantity stays one ("80" -> "81", "1Gi" -> "2Gi", "true" -> "false")."""
    other = [c for c in choices if c != value and type(c) is type(value)]
    if other:
        return other[0]
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, float):
        return value + 0.5
    if isinstance(value, str):
        low = value.strip().lower()
        if low in ("true", "false"):
            flipped = "false" if low == "true" else "true"
            return flipped.capitalize() if value.strip()[:1].isupper() else flipped
        m = _NUMBER.match(value)
        if m and (m.group(3) == "" or m.group(3).isalpha()):
            return f"{int(m.group(1)) + 1}{m.group(2) or ''}{m.group(3)}"
        return f"{value}-changed" if value else "changed"
    if isinstance(value, list):
        return list(value) + [changed_value(value[-1])] if value else ["changed"]
    if isinstance(value, dict):
        return {"changed": "changed"} if not value else {k: changed_value(v) for k, v in value.items()}
    return "changed"   # null (or an unusual YAML type): a string where there was nothing


def pick_base(ours: Iterable[str], theirs: str) -> str | None:
    """Our overlay to put their file on: the same name, else gaudi for a gaudi file, else cpu,
    else xeon (rocm and nv files too); else whatever platform overlay there is; else None (the
    umbrella's values.yaml alone)."""
    names = set(ours)
    if theirs in names:
        return theirs
    gaudi = ["gaudi-values.yaml"]
    cpu = ["cpu-values.yaml", "xeon-values.yaml"]
    for name in (gaudi + cpu) if "gaudi" in theirs else (cpu + gaudi):
        if name in names:
            return name
    return None


# --- rendering ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Outcome:
    error: str | None = None                                  # the error's one line
    objects: dict[tuple, str] = field(default_factory=dict)   # (kind, namespace, name, template) -> digest

    @property
    def ok(self) -> bool:
        return self.error is None

    def changes(self, other: "Outcome") -> list[str]:
        """kind/name of the objects that differ between two renders (added, removed or changed)."""
        ids = sorted(k for k in set(self.objects) | set(other.objects) if self.objects.get(k) != other.objects.get(k))
        return [f"{k[0]}/{k[2]}" for k in ids]


def _canonical(data: Any) -> str:
    try:
        return json.dumps(data, sort_keys=True, default=str)
    except TypeError:   # keys of mixed types
        return repr(data)


def outcome_of(docs: list) -> Outcome:
    objects: dict[tuple, str] = {}
    for d in docs:
        meta = d.obj.get("metadata") or {}
        ident = (str(d.obj.get("kind", "")), str(meta.get("namespace", "")), str(meta.get("name", "")), d.source)
        while ident in objects:   # two objects of one name from one template
            ident += ("+",)
        objects[ident] = hashlib.sha256(_canonical(d.obj).encode()).hexdigest()
    return Outcome(None, objects)


class Renderer:
    """Renders one umbrella; each distinct values tree once."""

    def __init__(self, chart_dir: Path, release: str, render: Callable = render_chart):
        self.chart_dir, self.release, self._render = Path(chart_dir), release, render
        self._cache: dict[str, Outcome] = {}
        self.renders = 0

    def __call__(self, values: dict[str, Any]) -> Outcome:
        ck = _canonical(values)
        if ck not in self._cache:
            self.renders += 1
            try:
                self._cache[ck] = outcome_of(self._render(self.chart_dir, values, self.release))
            except InputError as exc:
                self._cache[ck] = Outcome(" ".join(exc.message.split()))
        return self._cache[ck]


def classify(baseline: Outcome, with_value: Outcome, with_changed: Outcome | None) -> str:
    """One trial: rejected, effective or ignored (see the module's docstring)."""
    if not baseline.ok:
        return "untested"
    if not with_value.ok:
        return "rejected"
    if with_value.objects != baseline.objects:
        return "effective"
    if with_changed is not None and (not with_changed.ok or with_changed.objects != baseline.objects):
        return "effective"
    return "ignored"


def key_class(trial_classes: Iterable[str]) -> str:
    seen = set(trial_classes)
    for c in ("effective", "ignored", "rejected"):
        if c in seen:
            return c
    return "untested"


# --- switches -----------------------------------------------------------------------------------

SWITCH = "x-switch"   # our schemas' annotation: {values that turn the key on, from the chart's root}
_MISSING = object()


def _get(tree: Any, path: Key) -> Any:
    for seg in path:
        if not isinstance(tree, dict) or seg not in tree:
            return _MISSING
        tree = tree[seg]
    return tree


class Schemas:
    """Our umbrella's values schema and its file:// subcharts' schemas, for their x-switch notes."""

    def __init__(self, chart_dir: Path):
        self.root = self._load(Path(chart_dir))
        self.sub = {}
        for d in dependencies(Path(chart_dir)):
            repo = str(d.get("repository") or "")
            if repo.startswith("file://"):
                self.sub[str(d.get("alias") or d.get("name"))] = self._load(Path(chart_dir) / repo[len("file://"):])

    @staticmethod
    def _load(chart: Path) -> dict:
        path = chart / "values.schema.json"
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}

    def choices(self, key: Key) -> list:
        """The enum our schema gives the key's value (the subchart's for a key under one), else []."""
        node: Any
        node, path = (self.sub[key[0]], key[1:]) if key[0] in self.sub and len(key) > 1 else (self.root, key)
        for seg in path:
            node = (node.get("properties") or {}).get(seg) if isinstance(node, dict) else None
        return list(node.get("enum") or []) if isinstance(node, dict) else []

    def switches(self, key: Key) -> dict[str, Any]:
        out = self._walk(self.root, key, ())
        if key[0] in self.sub:
            out = merge_values(out, self._walk(self.sub[key[0]], key[1:], key[:1]))
        return out

    @staticmethod
    def _walk(node: Any, path: Key, prefix: Key) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for i in range(len(path) + 1):
            if not isinstance(node, dict):
                break
            for k, v in (node.get(SWITCH) or {}).items():   # global is the release's, wherever noted
                out = merge_values(out, {k: v} if k == "global" else nest(prefix + (k,), v))
            if i < len(path):
                node = (node.get("properties") or {}).get(path[i])
        return out


def switch_context(key: Key, theirs: dict, ours: dict, schemas: Schemas) -> tuple[dict, list[str]] | None:
    """What a key is judged with behind its switch: (values, the switches' dotted keys), or None
    when it has no switch and is no switch itself."""
    switches: dict[str, Any] = {}
    for i in range(1, len(key)):
        above = key[:i]
        if key[i:] != ("enabled",) and any(isinstance(_get(t, above), dict) and "enabled" in _get(t, above)
                                          for t in (theirs, ours)):
            switches = merge_values(switches, nest(above + ("enabled",), True))
    switches = merge_values(switches, schemas.switches(key))
    if not switches and key[-1] != "enabled":
        return None
    context = switches
    parent = _get(theirs, key[:-1]) if len(key) > 1 else _MISSING
    if isinstance(parent, dict):   # the file's keys beside it, the switches winning
        beside = {k: v for k, v in parent.items() if k != key[-1]}
        context = merge_values(nest(key[:-1], beside), switches) if beside else switches
    names = [dotted(k) for k, _ in flatten(switches)] or [dotted(key)]   # a switch: behind itself, with its fields
    return (context, names) if context else None


# --- measuring ----------------------------------------------------------------------------------

def measure_umbrella(chart_dir: Path, ref_dir: Path, renderer: Renderer | None = None) -> dict[str, Any]:
    chart_dir, ref_dir = Path(chart_dir), Path(ref_dir)
    renderer = renderer or Renderer(chart_dir, chart_dir.name)
    ours = {p.name: p for p in values_files(chart_dir)}
    base_values: dict[str | None, dict[str, Any]] = {None: {}}
    files = []
    occurrences: dict[Key, list[tuple[str, str | None, Any]]] = {}
    theirs_by_file: dict[str, dict[str, Any]] = {}
    for their in values_files(ref_dir):
        base = pick_base(ours, their.name)
        if base not in base_values:
            base_values[base] = load_values(ours[base])
        entry: dict[str, Any] = {"file": their.name, "base": base}
        try:
            theirs = load_values(their)
        except (ValueError, yaml.YAMLError) as exc:
            entry.update(ok=False, error=" ".join(str(exc).split()))
            files.append(entry)
            continue
        theirs_by_file[their.name] = theirs
        result = renderer(merge_values(base_values[base], theirs))
        entry.update(ok=result.ok, error=result.error)
        files.append(entry)
        for key, value in flatten(theirs):
            occurrences.setdefault(key, []).append((their.name, base, value))

    off = {base: _subcharts_off(chart_dir, values) for base, values in base_values.items()}
    ours_values = {base: merge_values(load_values(chart_dir / "values.yaml"), values)
                   for base, values in base_values.items()}
    schemas = Schemas(chart_dir)
    keys = []
    for key in sorted(occurrences):
        trials: dict[tuple, dict[str, Any]] = {}
        for fname, base, value in occurrences[key]:
            context = switch_context(key, theirs_by_file[fname], ours_values[base], schemas)
            slot = (base, _canonical(value), _canonical(context))
            if slot in trials:
                trials[slot]["files"].append(fname)
                continue
            changed = changed_value(value, schemas.choices(key))
            cls, trial = _trial(renderer, base_values[base], key, value, changed)
            if cls in ("ignored", "rejected") and context is not None:
                behind_cls, behind = _trial(renderer, merge_values(base_values[base], context[0]), key, value,
                                            changed, switched=True)
                if behind_cls == "effective" or (cls, behind_cls) == ("ignored", "ignored"):
                    cls, trial = behind_cls, dict(behind, behind_switch=context[1])
            trial.update(files=[fname], base=base, value=value, **{"class": cls})
            if key[0] in off[base]:
                trial["subchart_off"] = key[0]   # alone, the key lands in a subchart the base turns off
            trials[slot] = trial
        listed = list(trials.values())
        keys.append({"key": dotted(key), "path": list(key), "class": key_class(t["class"] for t in listed),
                     "trials": listed})
    return {"present": True, "files": files, "keys": keys, "renders": renderer.renders,
            "summary": summarise(files, keys)}


def _trial(renderer: Renderer, base: dict[str, Any], key: Key, value: Any, changed: Any,
           switched: bool = False) -> tuple[str, dict[str, Any]]:
    """One trial of a key on base values: its class and what it found (error or changes)."""
    baseline = renderer(base)
    with_value = renderer(merge_values(base, nest(key, value)))
    with_changed = None
    if baseline.ok and with_value.ok and with_value.objects == baseline.objects:
        with_changed = renderer(merge_values(base, nest(key, changed)))
    if switched and not baseline.ok and with_value.ok:   # the switch requires the key: it is read
        return "effective", {"changes": [f"required behind its switch: {baseline.error}"]}
    cls = classify(baseline, with_value, with_changed)
    if cls == "untested":
        return cls, {"error": f"the base alone does not render: {baseline.error}"}
    if cls == "rejected":
        return cls, {"error": with_value.error}
    if with_changed is not None:
        return cls, {"changed_value": changed, "changes": with_changed.changes(baseline) if with_changed.ok
                     else [f"changed value refused: {with_changed.error}"]}
    return cls, {"changes": with_value.changes(baseline)}


def _subcharts_off(chart_dir: Path, values: dict[str, Any]) -> set[str]:
    """Value keys (alias or name) of the dependencies these values turn off."""
    names = disabled_dependencies(chart_dir, values)
    return {str(d.get("alias") or d.get("name")) for d in dependencies(chart_dir) if d.get("name") in names}


def summarise(files: list[dict], keys: list[dict]) -> dict[str, int]:
    out = {"files": len(files), "rendered": sum(1 for f in files if f["ok"]), "keys": len(keys)}
    for c in CLASSES + ("untested",):
        out[c] = sum(1 for k in keys if k["class"] == c)
    for c in CLASSES:   # each key by its first file's trial alone (how the issue counted)
        out["first_file_" + c] = sum(1 for k in keys if k["trials"][0]["class"] == c)
    out["behind_switch"] = sum(1 for k in keys if k["class"] == "effective"
                               and all(t.get("behind_switch") for t in k["trials"] if t["class"] == "effective"))
    out["behind_subchart_off"] = sum(1 for k in keys if k["class"] == "effective" and all(
        t.get("behind_switch") and t.get("subchart_off") for t in k["trials"] if t["class"] == "effective"))
    out["ignored_subchart_off"] = sum(1 for k in keys if k["class"] == "ignored"
                                      and all(t.get("subchart_off") for t in k["trials"] if t["class"] == "ignored"))
    return out


def measure(charts: Path, reference: Path) -> dict[str, Any]:
    start = time.perf_counter()
    umbrellas: dict[str, Any] = {}
    for ref_dir in sorted(p for p in Path(reference).iterdir() if p.is_dir() and values_files(p)):
        chart_dir = Path(charts) / ref_dir.name
        if (chart_dir / "Chart.yaml").is_file():
            umbrellas[ref_dir.name] = measure_umbrella(chart_dir, ref_dir)
        else:
            theirs = values_files(ref_dir)
            distinct = {k for f in theirs for k, _ in flatten(load_values(f))}
            umbrellas[ref_dir.name] = {"present": False, "files": [
                {"file": f.name, "base": None, "ok": False, "error": f"no umbrella {chart_dir}"} for f in theirs],
                "keys_not_measured": len(distinct), "keys": [], "renders": 0}
            umbrellas[ref_dir.name]["summary"] = summarise(umbrellas[ref_dir.name]["files"], [])
    total = {name: sum(u["summary"][name] for u in umbrellas.values()) for name in
             ("files", "rendered", "keys") + CLASSES + ("untested", "ignored_subchart_off", "behind_switch", "behind_subchart_off")
             + tuple("first_file_" + c for c in CLASSES)}
    ours = [u for u in umbrellas.values() if u["present"]]
    total["files_on_our_umbrellas"] = sum(u["summary"]["files"] for u in ours)
    total["rendered_on_our_umbrellas"] = sum(u["summary"]["rendered"] for u in ours)
    rev = Path(reference) / "GENAIINFRA_REV"
    return {"charts": str(charts), "reference": str(reference),
            "reference_rev": rev.read_text(encoding="utf-8").strip() if rev.is_file() else None,
            "umbrellas": umbrellas, "overall": total, "renders": sum(u["renders"] for u in umbrellas.values()),
            "elapsed_s": round(time.perf_counter() - start, 2)}


# --- the report ---------------------------------------------------------------------------------

def _pct(n: int, d: int) -> str:
    return f"{n}/{d} ({100 * n / d:.1f}%)" if d else f"{n}/0"


def _figures(s: dict[str, int]) -> str:
    keys = ", ".join(f"{c} {_pct(s[c], s['keys'])}" for c in CLASSES)
    extra = f", untested {s['untested']}" if s.get("untested") else ""
    if s.get("behind_switch"):
        extra += f" ({s['behind_switch']} effective only behind their switch"
        if s.get("behind_subchart_off"):   # their umbrella runs that subchart; our overlay of that name does not
            extra += f", {s['behind_subchart_off']} of them only with a subchart our base turns off"
        extra += ")"
    if s.get("ignored_subchart_off"):
        extra += f" ({s['ignored_subchart_off']} ignored only where our base turns their subchart off)"
    return f"files rendered {_pct(s['rendered'], s['files'])}; keys {s['keys']}: {keys}{extra}"


def _short(text: str | None, verbose: bool, limit: int = 200) -> str:
    text = text or ""
    return text if verbose or len(text) <= limit else text[:limit - 3] + "..."


def summary_lines(result: dict[str, Any], verbose: bool = False) -> list[str]:
    lines = [f"GenAIInfra compatibility: charts {result['charts']}, reference {result['reference']}"
             + (f" ({result['reference_rev']})" if result.get("reference_rev") else "")]
    for name, u in result["umbrellas"].items():
        if u["present"]:
            lines.append(f"{name}: {_figures(u['summary'])}")
        else:
            lines.append(f"{name}: no umbrella of ours: {u['summary']['files']} files not rendered, "
                         f"{u['keys_not_measured']} keys not measured")
    o = result["overall"]
    lines.append(f"overall: {_figures(o)}")
    lines.append("overall, each key by its first file only: "
                 + ", ".join(f"{c} {_pct(o['first_file_' + c], o['keys'])}" for c in CLASSES))
    ours = _pct(o["rendered_on_our_umbrellas"], o["files_on_our_umbrellas"])
    lines.append(f"overall: files rendered on our umbrellas {ours}")
    lines.append("files:")
    for name, u in result["umbrellas"].items():
        for f in u["files"]:
            status = "ok" if f["ok"] else "FAILS: " + _short(f["error"], verbose)
            lines.append(f"  {name}/{f['file']} (on {f['base'] or 'values.yaml'}): {status}")
    for cls in ("ignored", "rejected", "untested"):
        found = [(name, k) for name, u in result["umbrellas"].items() for k in u["keys"] if k["class"] == cls]
        if not found and cls == "untested":
            continue
        lines.append(f"{cls} keys ({len(found)}):")
        for name, k in found:
            fs = sorted({f + (f" ({t['subchart_off']} off in {t['base']})" if t.get("subchart_off") else "")
                         + (f" (also behind {', '.join(t['behind_switch'])})" if t.get("behind_switch") else "")
                         for t in k["trials"] if t["class"] == cls for f in t["files"]})
            line = f"  {name}: {k['key']} [{', '.join(fs)}]"
            if verbose and cls != "ignored":
                errors = sorted({t.get("error") or "" for t in k["trials"] if t["class"] == cls})
                line += " -- " + " | ".join(errors)
            lines.append(line)
    if verbose:
        lines.append("effective keys:")
        for name, u in result["umbrellas"].items():
            for k in u["keys"]:
                if k["class"] == "effective":
                    changes = sorted({c for t in k["trials"] if t["class"] == "effective"
                                      for c in t.get("changes", [])})
                    behind = sorted({b for t in k["trials"] if t["class"] == "effective"
                                     for b in t.get("behind_switch") or ()})
                    lines.append(f"  {name}: {k['key']} -> {', '.join(changes)}"
                                 + (f" (behind {', '.join(behind)})" if behind else ""))
    lines.append(f"elapsed {result['elapsed_s']:.1f} s, {result['renders']} renders")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--charts", type=Path, default=REPO / "helm-charts", help="our helm-charts directory")
    parser.add_argument("--reference", type=Path, default=REPO.parent / "shared" / "reference" / "genaiinfra",
                        help="GenAIInfra's helm-charts (umbrellas with their *-values.yaml)")
    parser.add_argument("--json", type=Path, help="write the whole result here")
    parser.add_argument("-v", "--verbose", action="store_true", help="full errors, and what each effective key changes")
    args = parser.parse_args(argv)
    if not args.reference.is_dir():
        print(f"no reference directory {args.reference}", file=sys.stderr)
        return 0
    result = measure(args.charts, args.reference)
    print("\n".join(summary_lines(result, args.verbose)))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1, default=str) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
