"""No module imports from a layer above its own (the table in :mod:`mathverify.layers`), and no
two modules import each other, directly or round a longer loop (issue #37).

Every import of the package is read with ``ast``, function-level and ``TYPE_CHECKING`` ones
included, relative imports resolved; the checkers themselves are tested on a small package
with an upward import and a cycle hidden in functions.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import mathverify
from mathverify.layers import INDEPENDENT, LAYERS

PACKAGE = Path(mathverify.__file__).parent


def _module_name(root: Path, path: Path) -> str:
    parts = [root.name, *path.relative_to(root).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported(node: ast.AST, module: str, is_package: bool) -> list[str]:
    """Dotted names an import statement brings in (``from a import b`` gives ``a.b``)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if not isinstance(node, ast.ImportFrom):
        return []
    if node.level:
        base = module.split(".")
        if not is_package:
            base = base[:-1]
        base = base[: len(base) - (node.level - 1)]
        target = ".".join(base + ([node.module] if node.module else []))
    else:
        target = node.module or ""
    return [f"{target}.{alias.name}" for alias in node.names]


def _unit(dotted: str, package: str, units: set[str]) -> str | None:
    """The layer unit of a dotted name inside ``package``; None outside it."""
    parts = dotted.split(".")
    if parts[0] != package:
        return None
    if len(parts) > 1 and parts[1] in units:
        return parts[1]
    return package  # the package itself, e.g. ``from mathverify import __version__``


def layer_violations(
    root: Path,
    layers: tuple[tuple[str, ...], ...],
    independent: tuple[tuple[str, str], ...] = (),
) -> list[str]:
    """One message per import against the layer order, an unplaced unit, or a forbidden pair."""
    rank = {unit: i for i, layer in enumerate(layers) for unit in layer}
    rank.setdefault(root.name, len(layers))  # the package's __init__: below everything
    units = set(rank)
    forbidden = set(independent)
    problems: list[str] = []
    for path in sorted(root.rglob("*.py")):
        module = _module_name(root, path)
        source_unit = _unit(module, root.name, units) if module != root.name else root.name
        where = path.relative_to(root.parent)
        if source_unit == root.name and module != root.name:
            problems.append(f"{where}: module {module} is in no layer of mathverify/layers.py")
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            for dotted in _imported(node, module, path.name == "__init__.py"):
                target_unit = _unit(dotted, root.name, units)
                if target_unit is None or target_unit == source_unit:
                    continue
                line = f"{where}:{node.lineno}"
                if rank[target_unit] < rank[source_unit]:
                    problems.append(
                        f"{line}: {source_unit} (layer {rank[source_unit] + 1}) imports "
                        f"{dotted} from {target_unit} (layer {rank[target_unit] + 1}, higher)"
                    )
                elif (source_unit, target_unit) in forbidden:
                    problems.append(
                        f"{line}: {source_unit} imports {dotted} from {target_unit}; the two "
                        "are independent (shared code goes one layer down)"
                    )
    return problems


def test_every_module_is_placed_in_a_layer_once() -> None:
    units = [unit for layer in LAYERS for unit in layer]
    assert len(units) == len(set(units))
    present = {p.stem if p.is_file() else p.name for p in PACKAGE.iterdir()}
    present = {
        name
        for name in present
        if (PACKAGE / name).is_dir()
        and (PACKAGE / name / "__init__.py").exists()
        or (PACKAGE / f"{name}.py").exists()
    } - {"__init__"}
    assert present == set(units), (present - set(units), set(units) - present)


def test_no_import_goes_up_a_layer() -> None:
    problems = layer_violations(PACKAGE, LAYERS, INDEPENDENT)
    assert not problems, "\n".join(problems)


def test_the_checker_finds_upward_and_forbidden_imports(tmp_path: Path) -> None:
    root = tmp_path / "pkg"
    (root / "top").mkdir(parents=True)
    (root / "side").mkdir()
    for name in ("__init__.py", "top/__init__.py", "side/__init__.py", "top/a.py"):
        (root / name).write_text("")
    (root / "low.py").write_text(
        "import os\nfrom pkg.top import a\n\n\ndef f():\n    from .top.a import x\n"
    )
    (root / "top" / "b.py").write_text("from ..side import c\nfrom pkg import low\n")
    (root / "stray.py").write_text("")
    layers = (("top",), ("side",), ("low",))
    problems = layer_violations(root, layers, (("top", "side"),))
    assert problems == [
        "pkg/low.py:2: low (layer 3) imports pkg.top.a from top (layer 1, higher)",
        "pkg/low.py:6: low (layer 3) imports pkg.top.a.x from top (layer 1, higher)",
        "pkg/stray.py: module pkg.stray is in no layer of mathverify/layers.py",
        "pkg/top/b.py:1: top imports pkg.side.c from side; the two are independent "
        "(shared code goes one layer down)",
    ]


# -- cycles between modules -------------------------------------------------------------


def import_graph(root: Path) -> dict[str, dict[str, int]]:
    """``{module: {imported module: line}}`` over every import in the package under ``root``.

    An import names the most specific module it reaches: ``from pkg.a import f`` is an edge
    to ``pkg.a``, ``from pkg import a`` one to ``pkg.a`` when ``a`` is a module. The parent
    packages that Python initialises on the way are not edges: a package's ``__init__``
    re-exporting its modules is not a cycle with them.
    """
    paths = {_module_name(root, path): path for path in sorted(root.rglob("*.py"))}
    graph: dict[str, dict[str, int]] = {}
    for module, path in paths.items():
        edges = graph.setdefault(module, {})
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            for dotted in _imported(node, module, path.name == "__init__.py"):
                target = dotted
                while target and target not in paths:
                    target = target.rpartition(".")[0]
                if target and target != module:
                    edges.setdefault(target, node.lineno)
    return graph


def import_cycles(root: Path) -> list[str]:
    """One message per loop of imports between modules, naming each module and import line.

    A strongly connected group of modules is reported by one shortest loop through its
    first module (by name), so a group found is always shown as a loop one can follow.
    """
    graph = import_graph(root)
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10 * len(graph)))
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(module: str) -> None:  # Tarjan's strongly connected components
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for target in graph[module]:
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in on_stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == module:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    problems = []
    for group in sorted(groups):
        loop = _shortest_loop(graph, group[0], set(group))
        hops = [f"{a} (line {graph[a][b]})" for a, b in zip(loop, loop[1:], strict=False)]
        problems.append("import cycle: " + " -> ".join([*hops, loop[-1]]))
    return problems


def _shortest_loop(graph: dict[str, dict[str, int]], start: str, group: set[str]) -> list[str]:
    """``[start, ..., start]``: a shortest path of imports inside ``group`` back to ``start``."""
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        following = []
        for module in frontier:
            for target in sorted(graph[module]):
                if target == start:
                    return [*paths[module], start]
                if target in group and target not in paths:
                    paths[target] = [*paths[module], target]
                    following.append(target)
        frontier = following
    raise AssertionError(f"{start} is in a cycle but no loop leads back to it")


def test_no_two_modules_import_each_other() -> None:
    problems = import_cycles(PACKAGE)
    assert not problems, "\n".join(problems)


def test_the_checker_finds_cycles_hidden_in_functions(tmp_path: Path) -> None:
    root = tmp_path / "pkg"
    (root / "sub").mkdir(parents=True)
    (root / "__init__.py").write_text("from pkg.sub import a\n")
    (root / "sub" / "__init__.py").write_text("from .a import f\nfrom .b import g\n")
    (root / "sub" / "a.py").write_text("def f():\n    from pkg.sub.b import g\n")
    (root / "sub" / "b.py").write_text("from . import c\n\n\ndef g():\n    pass\n")
    (root / "sub" / "c.py").write_text("import os\n\n\ndef h():\n    from ..sub import a\n")
    (root / "d.py").write_text("import pkg.e\n")
    (root / "e.py").write_text("from pkg import d\nfrom pkg.sub import b\n")
    assert import_cycles(root) == [
        "import cycle: pkg.d (line 1) -> pkg.e (line 1) -> pkg.d",
        "import cycle: pkg.sub.a (line 2) -> pkg.sub.b (line 1) -> pkg.sub.c (line 5) -> pkg.sub.a",
    ]
    (root / "sub" / "c.py").write_text("import os\n")
    (root / "e.py").write_text("from pkg.sub import b\n")
    assert import_cycles(root) == []  # a package's __init__ and its own modules are no cycle
