"""The import rules of docs/architecture.md, read from the source with `ast`.

Every `import` and `from ... import` in src/vpclab is read, those inside functions
included, resolved to the vpclab module it names, and checked against the layer table
below. The test fails on:
- an import that the table does not allow (a lower layer importing a higher one, or two
  pure packages importing each other);
- any import circle between modules;
- an import inside a function outside the faces (cli/, api/, ui/ and the package root,
  which import lazily for start-up time);
- more than 16 entries in src/vpclab, a file named for a release (`*_v2*`), or a module
  over 500 lines.
The last tests plant a violation of each kind in a copy of the tree and show the check
finds exactly it: the check can fail.
"""
from __future__ import annotations

import ast
import shutil
from pathlib import Path
from typing import Dict, List, Set, Tuple

import pytest

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src"

PURE = {"errors", "model", "explain.verdict"}  # the pure types every face may name
# layer -> the layers it may import (its own package is always allowed; "vpclab" is the package root).
MAY_IMPORT: Dict[str, Set[str]] = {
    "errors": set(),
    "model": {"errors"},
    "topology": {"model", "errors"},
    "explain": {"model", "errors"},
    "plan": {"model", "errors"},
    "state": {"model", "errors"},
    "kernel": {"plan", "errors"},
    "probe": {"kernel", "plan", "errors"},
    "usage": {"kernel", "state", "model", "plan.names", "errors"},
    "controller": {"errors", "model", "topology", "explain", "plan", "state", "kernel", "probe", "usage"},
    "exercises": {"controller"} | PURE,
    # `vpclab ui` starts the web view: the one face that launches another (docs/architecture.md)
    "cli": {"controller", "exercises", "vpclab", "ui.server"} | PURE,
    "api": {"controller", "exercises", "vpclab"} | PURE,
    "ui": {"controller", "exercises", "vpclab"} | PURE,
    "__main__": {"cli"},
    "vpclab": {"api"},  # the package root's lazy `from vpclab import Lab`
}
FACES = {"cli", "api", "ui", "vpclab"}  # where an import inside a function is allowed
MAX_ENTRIES = 16
MAX_LINES = 500


def modules(src: Path) -> Dict[str, Path]:
    """Dotted module name -> file, for every module of the vpclab package under `src`."""
    out = {}
    for path in sorted((src / "vpclab").rglob("*.py")):
        parts = list(path.relative_to(src).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _resolve(mod: str, is_pkg: bool, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    base = mod.split(".") if is_pkg else mod.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imports(src: Path) -> List[Tuple[str, str, int, bool]]:
    """(importer, imported vpclab module, line, inside a function) for every import of the tree."""
    mods = modules(src)
    found = []
    for mod, path in mods.items():
        tree = ast.parse(path.read_text(), str(path))
        is_pkg = path.name == "__init__.py"
        in_function = set()
        for fn in ast.walk(tree):
            if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for inner in ast.walk(fn):
                    in_function.add(id(inner))
        for node in ast.walk(tree):
            targets = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = _resolve(mod, is_pkg, node)
                for a in node.names:
                    sub = f"{base}.{a.name}"
                    targets.append(sub if sub in mods else base)
            for t in targets:
                if t == "vpclab" or t.startswith("vpclab."):
                    # an import of a.b.c also runs the packages a and a.b: count the module itself
                    while t not in mods and "." in t:
                        t = t.rsplit(".", 1)[0]
                    found.append((mod, t, node.lineno, id(node) in in_function))
    return found


def layer(mod: str) -> str:
    parts = mod.split(".")
    return parts[1] if len(parts) > 1 else "vpclab"


def allowed(importer: str, imported: str) -> bool:
    a, b = layer(importer), layer(imported)
    if a == b or imported == "vpclab" and a in FACES:
        return True
    rules = MAY_IMPORT.get(a, set())
    return b in rules or any(imported == f"vpclab.{r}" or imported.startswith(f"vpclab.{r}.")
                             for r in rules if "." in r)


def circles(edges: Set[Tuple[str, str]]) -> List[List[str]]:
    """The strongly connected components of more than one module (Tarjan), and self-imports."""
    graph: Dict[str, Set[str]] = {}
    for a, b in edges:
        graph.setdefault(a, set()).add(b)
        graph.setdefault(b, set())
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def violations(src: Path) -> Dict[str, list]:
    found = imports(src)
    # a package's __init__ importing its own submodules is the package, not a circle
    edges = {(a, b) for a, b, _, _ in found if a != b and not b.startswith(a + ".")}
    entries = sorted(p.name for p in (src / "vpclab").iterdir() if p.name not in ("__pycache__", "py.typed"))
    mods = modules(src)
    return {
        "layer": sorted({f"{a} -> {b} (line {line})" for a, b, line, _ in found if not allowed(a, b)}),
        "circles": circles(edges),
        "in_function": sorted({f"{a} -> {b} (line {line})" for a, b, line, inside in found
                               if inside and layer(a) not in FACES}),
        "entries": entries if len(entries) > MAX_ENTRIES else [],
        "release_named": sorted(str(p.relative_to(src.parent)) for d in (src / "vpclab", src.parent / "tests")
                                for p in d.rglob("*_v2*") if "__pycache__" not in p.parts),
        "long": sorted(f"{m} ({n} lines)" for m, p in mods.items()
                       if (n := len(p.read_text().splitlines())) > MAX_LINES),
    }


@pytest.fixture(scope="module")
def found():
    return violations(SRC)


@pytest.mark.parametrize("kind", ["layer", "circles", "in_function", "entries", "release_named", "long"])
def test_the_tree_keeps_the_rules(found, kind):
    assert found[kind] == [], f"{kind}: " + "\n".join(map(str, found[kind]))


def test_the_reader_sees_imports_inside_functions_and_relative_ones():
    """The tree has lazy imports in the faces; the reader must see them, or it checks nothing."""
    lazy = [(a, b) for a, b, _, inside in imports(SRC) if inside]
    assert any(layer(a) == "cli" and layer(b) == "controller" for a, b in lazy), lazy[:5]
    assert len(modules(SRC)) > 80


def _copy(tmp_path: Path) -> Path:
    dst = tmp_path / "src"
    shutil.copytree(SRC / "vpclab", dst / "vpclab", ignore=shutil.ignore_patterns("__pycache__", "static"))
    return dst


def _plant(src: Path, rel: str, line: str) -> None:
    p = src / "vpclab" / rel
    p.write_text(p.read_text() + "\n" + line + "\n")


def test_a_planted_upward_import_is_found(tmp_path):
    src = _copy(tmp_path)
    _plant(src, "model/units.py", "from ..controller import build  # planted")
    got = violations(src)
    planted = [v for v in got["layer"] if v.startswith("vpclab.model.units -> vpclab.controller")]
    assert planted and len(got["layer"]) == len(planted) + len(violations(SRC)["layer"])


def test_a_planted_circle_is_found(tmp_path):
    src = _copy(tmp_path)
    # plan.names is imported by plan.planner; the reverse import closes a circle inside one package
    _plant(src, "plan/names.py", "from . import planner  # planted")
    got = violations(src)
    assert any("vpclab.plan.names" in c and "vpclab.plan.planner" in c for c in got["circles"]), got["circles"]


def test_a_planted_import_inside_a_function_is_found(tmp_path):
    src = _copy(tmp_path)
    _plant(src, "plan/names.py", "def planted():\n    from ..model import types\n    return types")
    got = violations(src)
    assert any(v.startswith("vpclab.plan.names -> vpclab.model.types") for v in got["in_function"]), got


def test_a_planted_sidecar_and_a_long_module_are_found(tmp_path):
    src = _copy(tmp_path)
    (src / "vpclab" / "plan" / "planner_v2.py").write_text("x = 1\n" * (MAX_LINES + 1))
    got = violations(src)
    assert any(v.endswith("planner_v2.py") for v in got["release_named"]), got["release_named"]
    assert any(v.startswith("vpclab.plan.planner_v2 ") for v in got["long"]), got["long"]
    for extra in range(MAX_ENTRIES):
        (src / "vpclab" / f"extra{extra}.py").write_text("")
    assert violations(src)["entries"]
