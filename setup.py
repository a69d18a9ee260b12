"""The package layout only; everything else about the package is in pyproject.toml.

The repository's top-level folders are installed as sub-packages of one import name,
``mikrodata`` (``toolkit/`` -> ``mikrodata.toolkit``, ...), and ``toolkit/facade/`` is
the ``mikrodata`` package itself: the thin façade that re-exports what each role uses.
No generic top-level names (``toolkit``, ``quality``) reach a researcher's environment.
Pure Python: nothing is compiled.

Folders of data files (schemas, code lists, Data Docs assets, the hub configuration) are
listed as packages too, namespace packages without an ``__init__.py``: setuptools then
ships their files by ``package-data`` without warning that it sees importable folders it
was not told about.
"""

from setuptools import find_namespace_packages, setup

FOLDERS = ("toolkit", "quality", "pseudonymisation", "access_requests")
FACADE = "toolkit/facade"

package_dir = {"mikrodata": FACADE}
packages = ["mikrodata"]
for folder in FOLDERS:
    package_dir[f"mikrodata.{folder}"] = folder
    packages.append(f"mikrodata.{folder}")
    packages += [
        f"mikrodata.{folder}.{sub}"
        for sub in find_namespace_packages(folder, exclude=["*__pycache__*"])
        if not (folder == "toolkit" and sub.split(".")[0] == "facade")
    ]

setup(package_dir=package_dir, packages=packages)
