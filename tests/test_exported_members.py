"""Public names are exported on purpose: every package's ``__all__`` lists exactly its
public, non-module names, and every name it lists exists."""

from __future__ import annotations

import importlib
import pkgutil
import types

import pytest

PACKAGES = ["toolkit", "quality", "pseudonymisation", "access_requests"]


def _modules():
    for top in PACKAGES:
        package = importlib.import_module(top)
        yield top
        for info in pkgutil.walk_packages(package.__path__, prefix=f"{top}."):
            if ".cli" in info.name or info.name.endswith("__main__"):
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
