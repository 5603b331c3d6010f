"""The code's shape: stage packages importing only the stages below them, no import cycles, small
modules, no private helper used outside its module. Every import counts, those inside functions too."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

import compose2helm


PACKAGE = Path(compose2helm.__file__).parent
# Lowest first: a module may import its own layer and the layers before it, never one after it.
LAYERS = [
    ("compose2helm", "compose2helm.errors", "compose2helm.yamlout", "compose2helm.util"),
    ("compose2helm.compose",),
    ("compose2helm.plan",),
    ("compose2helm.chart",),
    ("compose2helm.helm",),
    ("compose2helm.verify",),
    ("compose2helm.pipeline",),
    ("compose2helm.cli", "compose2helm.__main__"),
]
MAX_LINES = 400


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _layer(module: str) -> int:
    best, rank = -1, None
    for i, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best:
                best, rank = len(prefix), i
    assert rank is not None, f"{module} is in no layer: add its package to LAYERS"
    return rank


def _imports(module: str, path: Path) -> list[tuple[str, list[str], int]]:
    """(imported module, names taken from it, line) for every import of a compose2helm module."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(a.name, [], node.lineno) for a in node.names if a.name.split(".")[0] == "compose2helm"]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "compose2helm":
                continue
            names = [a.name for a in node.names]
            # `from pkg import module` imports the module itself
            subs = [n for n in names if f"{target}.{n}" in MODULES]
            out += [(f"{target}.{n}", [], node.lineno) for n in subs]
            rest = [n for n in names if n not in subs]
            if rest or not subs:
                out.append((target, rest, node.lineno))
    return out


GRAPH = {m: _imports(m, p) for m, p in MODULES.items()}


def test_every_import_points_down_the_layers():
    upward = [f"{m}:{line} imports {target} (layer {_layer(target)} above {_layer(m)})"
              for m, edges in GRAPH.items() for target, _names, line in edges
              if target in MODULES and _layer(target) > _layer(m)]
    assert upward == []


def test_no_import_cycle():
    edges = {m: sorted({t for t, _n, _l in es if t in MODULES and t != m and not MODULES[t].name == "__init__.py"})
             for m, es in GRAPH.items()}
    state: dict[str, int] = {}
    cycles = []

    def visit(m: str, stack: list[str]) -> None:
        state[m] = 1
        for t in edges[m]:
            if state.get(t) == 1:
                cycles.append(" -> ".join(stack[stack.index(t):] + [t]))
            elif t not in state:
                visit(t, stack + [t])
        state[m] = 2

    for m in sorted(edges):
        if m not in state:
            visit(m, [m])
    assert cycles == []


def test_no_private_name_imported_from_another_module():
    private = [f"{m}:{line} takes {', '.join(n for n in names if n.startswith('_'))} from {target}"
               for m, edges in GRAPH.items() for target, names, line in edges
               if target != m and any(n.startswith("_") and not n.startswith("__") for n in names)]
    assert private == []


def test_every_import_names_a_module_that_exists():
    missing = [f"{m}:{line} imports {target}" for m, edges in GRAPH.items() for target, _n, line in edges
               if target not in MODULES]
    assert missing == []


@pytest.mark.parametrize("module", sorted(MODULES))
def test_module_is_small(module):
    lines = len(MODULES[module].read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{module} has {lines} lines"


def test_the_layering_check_sees_an_upward_import(tmp_path):
    """The checks above can fail: a plan module importing the pipeline is caught."""
    path = tmp_path / "x.py"
    path.write_text("def f():\n    from ..pipeline.convert import convert\n", encoding="utf-8")
    [(target, names, line)] = _imports("compose2helm.plan.x", path)
    assert (target, names, line) == ("compose2helm.pipeline.convert", ["convert"], 2)
    assert _layer(target) > _layer("compose2helm.plan.x")


def test_library_api_is_importable_from_the_package_and_loads_lazily():
    import subprocess
    import sys

    code = ("import sys, compose2helm; loaded = sorted(m for m in sys.modules if m.startswith('compose2helm.')); "
            "print(loaded); print([n for n in compose2helm.__all__ if not callable(getattr(compose2helm, n))])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.splitlines()
    assert out == ["[]", "[]"]   # nothing loaded by the import; every exported name resolves to a callable
    from compose2helm.pipeline.convert import convert, convert_many
    assert compose2helm.convert is convert and compose2helm.convert_many is convert_many
    with pytest.raises(AttributeError):
        compose2helm.no_such_name
