"""The install is consistent: pyproject.toml, environment.yml, Makefile, CI and README."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]

# PyPI name -> conda-forge name, where they differ.
CONDA_NAMES = {"duckdb": "python-duckdb"}
# Installed by pip inside environment.yml because conda-forge does not carry them.
# (configurable-http-proxy: conda-forge's package of that name is the Node one.)
PIP_ONLY = {"personnummer", "configurable-http-proxy", "pytauargus", "pycanon", "suda"}


def _name_and_spec(requirement: str) -> tuple[str, str]:
    match = re.match(r"^\s*([A-Za-z0-9_.\-]+)\s*(.*)$", requirement)
    assert match, requirement
    return match.group(1).lower().replace("_", "-"), match.group(2).replace(" ", "")


def _pyproject() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = list(project["dependencies"]) + list(project["optional-dependencies"]["dev"])
    return dict(_name_and_spec(r) for r in reqs)


def _environment() -> dict[str, str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    found: dict[str, str] = {}
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            for pip_dep in dep.get("pip", []):
                if not pip_dep.startswith("-"):
                    name, spec = _name_and_spec(pip_dep)
                    found[name] = spec
            continue
        name, spec = _name_and_spec(dep)
        if name not in ("python", "pip"):
            found[name] = spec
    return found


def test_environment_yml_lists_the_same_dependencies_as_pyproject():
    expected = {CONDA_NAMES.get(name, name): spec for name, spec in _pyproject().items()}
    assert _environment() == expected


def test_environment_yml_uses_conda_forge():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert env["channels"] == ["conda-forge"]


def test_pip_only_packages_are_really_pip_only():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    names = {_name_and_spec(p)[0] for p in pip_section if not p.startswith("-")}
    assert names == PIP_ONLY


def test_ci_runs_make_test():
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_readme_starts_with_the_two_commands():
    text = (ROOT / "README.md").read_text()
    first_block = text.split("```")[1]
    assert "make demo" in first_block and "make test" in first_block


def test_readme_documents_every_exit_code():
    from mikrodata.toolkit import errors

    text = (ROOT / "README.md").read_text()
    for name in errors.__all__:
        cls = getattr(errors, name)
        if isinstance(cls, type):
            assert re.search(rf"\| {cls.exit_code} \|.*`{name}`", text), name


def test_fixed_top_level_layout_exists():
    for folder in ("toolkit", "notebooks", "pseudonymisation", "quality", "access_requests"):
        assert (ROOT / folder).is_dir(), folder
    for path in ("tests", "environment.yml", "README.md", "pyproject.toml", "Makefile"):
        assert (ROOT / path).exists(), path


def test_nothing_is_compiled():
    # The install is pip (or conda) alone: no C sources, no extension modules.
    compiled = [
        p.relative_to(ROOT)
        for suffix in ("*.c", "*.h", "*.so", "*.pyx")
        for top in ("toolkit", "quality", "pseudonymisation", "access_requests")
        for p in (ROOT / top).rglob(suffix)
    ]
    assert compiled == []
    assert "ext_modules" not in (ROOT / "setup.py").read_text()


def test_every_package_folder_is_installed_under_mikrodata(monkeypatch):
    import runpy

    import setuptools

    captured: dict = {}
    monkeypatch.setattr(setuptools, "setup", lambda **kwargs: captured.update(kwargs))
    monkeypatch.chdir(ROOT)
    runpy.run_path(str(ROOT / "setup.py"))
    expected = {"mikrodata"}
    for top in ("toolkit", "quality", "pseudonymisation", "access_requests"):
        for init in (ROOT / top).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT).as_posix().replace("/", ".")
            if rel != "toolkit.facade":
                expected.add(f"mikrodata.{rel}")
    listed = set(captured["packages"])
    assert expected <= listed
    # The rest are folders of data files (schemas, code lists, Data Docs assets), listed so
    # that setuptools ships them by package-data without warnings: no code, no caches.
    for extra in listed - expected:
        folder = ROOT / extra.removeprefix("mikrodata.").replace(".", "/")
        assert folder.is_dir() and "__pycache__" not in extra, extra
        assert not (folder / "__init__.py").exists(), extra
        assert any(f.is_file() for f in folder.rglob("*") if f.suffix != ".pyc"), extra
    assert captured["package_dir"]["mikrodata"] == "toolkit/facade"
