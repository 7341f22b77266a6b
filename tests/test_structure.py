"""The structure of the package: imports point one way (DESIGN §1), and they are honest.

Ranks, from the bottom: base helpers and the data model (``errors``, ``geom``, ``crs``,
``config``, ``model``, ``_version``) → ``sources`` → ``network`` / ``population`` →
``indicators`` → ``workflows`` → ``outputs`` → ``cli`` / ``batch`` → the public face
``kmgis/__init__.py``.  A module may import its own rank or a lower one, never a higher.
Every import counts, also one inside a function; and imports of kmgis modules inside
functions are not allowed at all (they hide real dependencies).
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "kmgis"

RANKS = {
    "kmgis._version": 0, "kmgis.errors": 0, "kmgis.geom": 0, "kmgis.crs": 0, "kmgis.config": 0, "kmgis.model": 0,
    "kmgis.sources": 1,
    "kmgis.network": 2, "kmgis.population": 2,
    "kmgis.indicators": 3,
    "kmgis.workflows": 4,
    "kmgis.outputs": 5,
    "kmgis.cli": 6, "kmgis.batch": 6,
    "kmgis": 7,
}
MAX_FUNCTION_LINES = 80
MAX_MODULE_LINES = 800


def _module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def rank(module: str) -> int:
    """Rank of a kmgis module: the longest prefix listed in RANKS."""
    parts = module.split(".")
    for n in range(len(parts), 0, -1):
        key = ".".join(parts[:n])
        if key in RANKS:
            return RANKS[key]
    raise AssertionError(f"{module} has no rank: add it to RANKS in tests/test_structure.py")


def _imports(path: Path) -> list[tuple[str, int, bool]]:
    """(imported kmgis module, line, inside a function) for every import in ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    me = _module_name(path)
    package = me if path.name == "__init__.py" else me.rsplit(".", 1)[0]
    out = []

    def visit(node: ast.AST, in_func: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inner = in_func or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.Import):
                out.extend((a.name, child.lineno, in_func) for a in child.names if a.name.split(".")[0] == "kmgis")
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.split(".")
                    base = base[: len(base) - child.level + 1]
                    mod = ".".join(base + ([child.module] if child.module else []))
                else:
                    mod = child.module or ""
                if mod.split(".")[0] == "kmgis":
                    for a in child.names:  # `from kmgis.indicators import roads` imports a module
                        sub = f"{mod}.{a.name}"
                        known = (PACKAGE.parent / sub.replace(".", "/")).with_suffix(".py").exists() or (
                            PACKAGE.parent / sub.replace(".", "/")).is_dir()
                        out.append((sub if known else mod, child.lineno, in_func))
            visit(child, inner)

    visit(tree, False)
    return out


def _sources() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_every_module_has_a_rank():
    for path in _sources():
        rank(_module_name(path))


def test_imports_point_down_the_flow():
    against = []
    for path in _sources():
        me = _module_name(path)
        for mod, line, _ in _imports(path):
            if rank(mod) > rank(me):
                against.append(f"{path.relative_to(PACKAGE.parent)}:{line} {me} (rank {rank(me)}) imports "
                               f"{mod} (rank {rank(mod)})")
    assert not against, "imports against the flow:\n" + "\n".join(sorted(set(against)))


def test_no_kmgis_imports_inside_functions():
    hidden = [f"{path.relative_to(PACKAGE.parent)}:{line} imports {mod} inside a function"
              for path in _sources() for mod, line, inside in _imports(path) if inside]
    assert not hidden, "\n".join(sorted(set(hidden)))


def test_the_rank_check_catches_an_arrow_up(tmp_path):
    """The checker itself: an indicator importing a workflow is reported (the test can fail)."""
    assert rank("kmgis.indicators.roads") < rank("kmgis.workflows.recipe")
    assert rank("kmgis.outputs.maps") > rank("kmgis.workflows.recipe")
    assert rank("kmgis.sources.osm") < rank("kmgis.network")


def test_functions_and_modules_are_small():
    long_functions, long_modules = [], []
    for path in _sources():
        text = path.read_text(encoding="utf-8")
        if len(text.splitlines()) > MAX_MODULE_LINES:
            long_modules.append(f"{path.relative_to(PACKAGE.parent)} {len(text.splitlines())} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1
                if n > MAX_FUNCTION_LINES:
                    long_functions.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno} {node.name} {n} lines")
    assert not long_modules, "modules over 800 lines:\n" + "\n".join(long_modules)
    assert not long_functions, "functions over 80 lines:\n" + "\n".join(long_functions)
