"""The dependency direction of DESIGN.md holds: lower layers never import higher ones,
and no modules import each other in a cycle.

1. basics (mikrodata.toolkit.errors, .atomic, .progress, .paths, ...): no imports of ours;
2. mikrodata.pseudonymisation, and the catalogue (mikrodata.quality.catalogue):
   independent of each other;
3. mikrodata.access_requests: may read the catalogue and use pseudonymisation;
4. the rest of mikrodata.quality and mikrodata.toolkit, and the façade ``mikrodata``.

Every import of our code goes through the one namespace, ``mikrodata.``: a bare
``import toolkit`` works from a source checkout but not from an install.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = ("toolkit", "quality", "pseudonymisation", "access_requests")
FACADE = ROOT / "toolkit" / "facade"
BASICS = {
    "mikrodata.toolkit",
    "mikrodata.toolkit.errors",
    "mikrodata.toolkit.atomic",
    "mikrodata.toolkit.progress",
    "mikrodata.toolkit.paths",
    "mikrodata.toolkit.clock",
    "mikrodata.toolkit.identity",
    "mikrodata.toolkit.rejects",
    "mikrodata.toolkit.jsonschemas",
}


def _module_name(path: Path) -> str:
    if path.is_relative_to(FACADE):
        parts = ("mikrodata", *path.relative_to(FACADE).with_suffix("").parts)
    else:
        parts = ("mikrodata", *path.relative_to(ROOT).with_suffix("").parts)
    name = ".".join(parts)
    return name.removesuffix(".__init__")


def _imports(path: Path, *, top_level_only: bool = False) -> dict[str, int]:
    """Our modules imported by ``path`` -> line. ``top_level_only``: only imports run at
    import time (not those inside functions, which cannot form an import-time cycle)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found: dict[str, int] = {}
    package = _module_name(path)
    if path.name != "__init__.py":
        package = package.rpartition(".")[0]
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    for node in nodes:
        if isinstance(node, ast.Import):
            for alias in node.names:
                found.setdefault(alias.name, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
                # "from . import x" imports the submodule x when x is one
                for alias in node.names if not node.module else ():
                    found.setdefault(f"{mod}.{alias.name}", node.lineno)
            else:
                mod = node.module or ""
                for alias in node.names:
                    found.setdefault(f"{mod}.{alias.name}", node.lineno)
            found.setdefault(mod, node.lineno)
    return {m: line for m, line in found.items() if m.split(".")[0] in ("mikrodata", *FOLDERS)}


def _layer(module: str) -> int:
    if module in BASICS:
        return 1
    if module.startswith(("mikrodata.pseudonymisation", "mikrodata.quality.catalogue")):
        return 2
    if module.startswith("mikrodata.access_requests"):
        return 3
    return 4


def _paths():
    for top in FOLDERS:
        yield from sorted((ROOT / top).rglob("*.py"))


MODULES = {_module_name(p): p for p in _paths()}


def _known(name: str) -> str | None:
    """The module ``name`` refers to (``pkg.mod.Name`` -> ``pkg.mod``), if it is ours."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_module_imports_a_higher_layer(module):
    own = _layer(module)
    for imported in _imports(MODULES[module]):
        target = _known(imported)
        if target is None or target.startswith(module):
            continue
        assert _layer(target) <= own, f"{module} (layer {own}) imports {target}"
        if own == 2:
            # pseudonymisation and the catalogue are independent of each other
            assert target.split(".")[1] == module.split(".")[1] or _layer(target) == 1, (
                f"{module} imports {target}"
            )


@pytest.mark.parametrize("module", sorted(MODULES))
def test_every_import_goes_through_the_mikrodata_namespace(module):
    for imported, line in _imports(MODULES[module]).items():
        assert imported.split(".")[0] == "mikrodata", (
            f"{MODULES[module].relative_to(ROOT)}:{line} imports {imported}: "
            f"write mikrodata.{imported}"
        )


def test_the_facade_is_not_imported_by_the_packages():
    for module, path in MODULES.items():
        if module == "mikrodata":
            continue
        for imported, line in _imports(path).items():
            assert _known(imported) != "mikrodata", f"{path.relative_to(ROOT)}:{line}"


def test_tests_and_benchmarks_import_through_the_namespace():
    for folder in ("tests", "benchmarks"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            for imported, line in _imports(path).items():
                assert imported.split(".")[0] == "mikrodata", (
                    f"{path.relative_to(ROOT)}:{line} imports {imported}"
                )


def _import_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for module, path in MODULES.items():
        edges = set()
        for imported in _imports(path):
            target = _known(imported)
            if target is not None and target != module and not module.startswith(target + "."):
                edges.add(target)
        graph[module] = edges
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle, if any (depth-first search with colours)."""
    colour: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        colour[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if colour.get(nxt) == 1:
                return stack[stack.index(nxt) :] + [nxt]
            if colour.get(nxt) is None and (found := visit(nxt)):
                return found
        stack.pop()
        colour[node] = 2
        return None

    for node in sorted(graph):
        if colour.get(node) is None and (found := visit(node)):
            return found
    return None


def test_no_import_cycles():
    cycle = _cycle(_import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_the_cycle_finder_finds_cycles():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def _component(module: str) -> str:
    """The part of the design a module belongs to (DESIGN.md, dependency direction)."""
    if _layer(module) == 1:
        return "basics"
    if module.startswith("mikrodata.quality.catalogue"):
        return "catalogue"
    if module == "mikrodata":
        return "facade"
    return module.split(".")[1]


def test_no_cycles_between_the_packages():
    # quality's suites and reports, and the toolkit, are both on the top layer: the
    # toolkit may use quality (the extract builder runs the delivery checks), so quality
    # must not use the toolkit above its basics.
    graph: dict[str, set[str]] = {}
    for module, targets in _import_graph().items():
        graph.setdefault(_component(module), set()).update(
            _component(t) for t in targets if _component(t) != _component(module)
        )
    cycle = _cycle(graph)
    assert cycle is None, "cycle between packages: " + " -> ".join(cycle or [])
