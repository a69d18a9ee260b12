"""The dependency direction of DESIGN.md holds: lower layers never import higher ones.

1. basics (toolkit.errors, toolkit.atomic, toolkit.progress, toolkit.paths): no imports
   of ours;
2. pseudonymisation, and the catalogue (quality.catalogue): independent of each other;
3. access_requests: may read the catalogue and use pseudonymisation;
4. the rest of quality and toolkit: anything below.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
OURS = ("toolkit", "quality", "pseudonymisation", "access_requests")
BASICS = {"toolkit", "toolkit.errors", "toolkit.atomic", "toolkit.progress", "toolkit.paths"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            found.add(mod)
    return {m for m in found if m.split(".")[0] in OURS}


def _layer(module: str) -> int:
    if module in BASICS:
        return 1
    if module.startswith(("pseudonymisation", "quality.catalogue")):
        return 2
    if module.startswith("access_requests"):
        return 3
    return 4


def _modules():
    for top in OURS:
        for path in sorted((ROOT / top).rglob("*.py")):
            module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            module = module.removesuffix(".__init__")
            yield module, path


@pytest.mark.parametrize("module,path", list(_modules()), ids=lambda x: str(x))
def test_no_module_imports_a_higher_layer(module, path):
    own = _layer(module)
    for imported in _imports(path):
        if imported.startswith(module):
            continue
        assert _layer(imported) <= own, f"{module} (layer {own}) imports {imported}"
        if own == 2:
            # pseudonymisation and the catalogue are independent of each other
            assert imported.split(".")[0] == module.split(".")[0] or _layer(imported) == 1, (
                f"{module} imports {imported}"
            )
