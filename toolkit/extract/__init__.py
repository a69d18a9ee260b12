"""Project extracts: build, verify and mock them.

::

    from mikrodata.toolkit.extract import build_extract, verify_extract, build_dummy_extract
    build_extract("P.yaml", "registers/", "extract/")   # gated, pseudonymised, atomic, audited
    verify_extract("extract/", request="P.yaml")        # manifest against files and approval
    build_dummy_extract("P.yaml", "dummy/")             # synthetic, same shape
"""

from .build import (
    BuildResult,
    build_extract,
    default_check_dir,
    default_reject_dir,
    run_delivery_checks,
)
from .columns import ColumnSpec, RegisterSpec, register_spec
from .dummy import DummyResult, build_dummy_extract, synthetic_register
from .manifest import MANIFEST_FORMAT, MANIFEST_NAME, read_manifest
from .verify import VerifyResult, verify_extract

__all__ = [
    "MANIFEST_FORMAT",
    "MANIFEST_NAME",
    "BuildResult",
    "ColumnSpec",
    "DummyResult",
    "RegisterSpec",
    "VerifyResult",
    "build_dummy_extract",
    "build_extract",
    "default_check_dir",
    "default_reject_dir",
    "read_manifest",
    "register_spec",
    "run_delivery_checks",
    "synthetic_register",
    "verify_extract",
]
