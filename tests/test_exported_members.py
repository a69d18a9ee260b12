"""Public names are exported on purpose: every package's ``__all__`` lists exactly its
public, non-module names, and every name it lists exists."""

from __future__ import annotations

import importlib
import pkgutil
import types

import pytest

PACKAGES = [
    "mikrodata.toolkit",
    "mikrodata.quality",
    "mikrodata.pseudonymisation",
    "mikrodata.access_requests",
]


def _modules():
    for top in PACKAGES:
        package = importlib.import_module(top)
        yield top
        for info in pkgutil.walk_packages(package.__path__, prefix=f"{top}."):
            # the CLI declares its commands; the façade folder is the package `mikrodata`
            if ".cli" in info.name or info.name.endswith(("__main__", ".facade")):
                continue
            yield info.name


@pytest.mark.parametrize("name", list(_modules()))
def test_all_is_declared_and_exact(name):
    module = importlib.import_module(name)
    if name.rsplit(".", 1)[-1].startswith("_") and not hasattr(module, "__all__"):
        pytest.skip("private module")
    assert hasattr(module, "__all__"), f"{name} declares no __all__"
    for exported in module.__all__:
        assert hasattr(module, exported), f"{name}.__all__ lists missing {exported}"
    if hasattr(module, "__path__"):  # a package: __all__ is its whole public surface
        public = {
            n
            for n, v in vars(module).items()
            if not n.startswith("_") and not isinstance(v, types.ModuleType)
        }
        public |= {"__version__"} & set(vars(module))
        assert sorted(module.__all__) == sorted(public), name


def test_the_facade_exports_exactly_its_list():
    import mikrodata

    assert mikrodata.__all__ == sorted(mikrodata.__all__, key=str.casefold)
    for name in mikrodata.__all__:
        assert getattr(mikrodata, name) is not None, name
    public = {n for n in vars(mikrodata) if not n.startswith("_")}
    public -= {n for n, v in vars(mikrodata).items() if isinstance(v, types.ModuleType)}
    assert public <= set(mikrodata.__all__)
    assert dir(mikrodata) == sorted(mikrodata.__all__)  # dir() sorts by code point
    assert set(mikrodata._LAZY) <= set(mikrodata.__all__)


def test_the_facade_imports_nothing_heavy():
    import subprocess
    import sys

    code = (
        "import sys, mikrodata; heavy = [m for m in ('great_expectations', 'duckdb', 'pandas')"
        " if m in sys.modules]; print(','.join(heavy))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ""
