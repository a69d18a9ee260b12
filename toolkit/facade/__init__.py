"""mikrodata: pseudonymised, checked and audited research extracts from Swedish
social-services registers.

This package is a thin façade. The work is done in four sub-packages, one per concern
(``mikrodata.pseudonymisation``, ``mikrodata.quality``, ``mikrodata.access_requests``,
``mikrodata.toolkit``); the few names each role uses are re-exported here on purpose::

    import mikrodata
    project = mikrodata.open_extract("extract/")     # a researcher: verified, gated, audited
    mikrodata.build_extract("P.yaml", "registers/", "extract/")   # a data steward

Names are imported on first use, so ``import mikrodata`` stays fast and loads neither
Great Expectations nor DuckDB until a name that needs them is asked for. The error
classes are imported at once: every user-facing error is a :class:`MikrodataError`.
"""

import importlib as _importlib

from mikrodata.toolkit import __version__
from mikrodata.toolkit.errors import (
    AccessRefused,
    BadInputError,
    CatalogueError,
    DisclosureError,
    ExportRefused,
    IntegrityError,
    KeyStoreError,
    MikrodataError,
    QualityFailure,
)

# name -> the module that defines it (imported on first use).
_LAZY: dict[str, str] = {
    "AuditLog": "mikrodata.access_requests",
    "KeyStore": "mikrodata.pseudonymisation",
    "build_dummy_extract": "mikrodata.toolkit.extract",
    "build_extract": "mikrodata.toolkit.extract",
    "build_spells": "mikrodata.toolkit.analysis",
    "check_access": "mikrodata.access_requests",
    "kaplan_meier": "mikrodata.toolkit.analysis",
    "load_request": "mikrodata.access_requests",
    "open_extract": "mikrodata.toolkit.project",
    "Project": "mikrodata.toolkit.project",
    "long_term": "mikrodata.toolkit.analysis",
    "official_counts": "mikrodata.toolkit.analysis",
    "parse_identifiers": "mikrodata.pseudonymisation",
    "pseudonymise_file": "mikrodata.pseudonymisation",
    "pseudonymise_table": "mikrodata.pseudonymisation",
    "run_quality": "mikrodata.quality",
    "spells": "mikrodata.toolkit.analysis",
    "verify_extract": "mikrodata.toolkit.extract",
}

# name -> the package it is (imported on first use): mikrodata.disclosure.
_LAZY_PACKAGES: dict[str, str] = {"disclosure": "mikrodata.toolkit.disclosure"}

# Sorted case-insensitively; tests/test_exported_members.py checks it against _LAZY.
__all__ = [
    "__version__",
    "AccessRefused",
    "AuditLog",
    "BadInputError",
    "build_dummy_extract",
    "build_extract",
    "build_spells",
    "CatalogueError",
    "check_access",
    "disclosure",
    "DisclosureError",
    "ExportRefused",
    "IntegrityError",
    "kaplan_meier",
    "KeyStore",
    "KeyStoreError",
    "load_request",
    "long_term",
    "MikrodataError",
    "official_counts",
    "open_extract",
    "parse_identifiers",
    "Project",
    "pseudonymise_file",
    "pseudonymise_table",
    "QualityFailure",
    "run_quality",
    "spells",
    "verify_extract",
]


def __getattr__(name: str) -> object:
    if name in _LAZY_PACKAGES:
        value = _importlib.import_module(_LAZY_PACKAGES[name])
        globals()[name] = value
        return value
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'mikrodata' has no attribute {name!r}")
    value = getattr(_importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return list(__all__)
