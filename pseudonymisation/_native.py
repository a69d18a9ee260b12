"""Whether the hot loops of pseudonymising run in C or in their Python twins.

``kernels`` is the C extension built from ``_kernels.c`` at install (HMAC over
OpenSSL, reading 12-digit identifiers, writing hex), or None where the install had no
compiler, or where ``MIKRODATA_PURE_PYTHON=1`` asks for the twins. Callers read
``_native.kernels`` when they run, so the tests can switch the C loops off and check
that both ways give the same results.
"""

from __future__ import annotations

import os
from types import ModuleType

PURE_PYTHON_ENV = "MIKRODATA_PURE_PYTHON"  # "1": use the Python twins even when built

kernels: ModuleType | None
try:
    from . import _kernels as kernels
except ImportError:  # pragma: no cover - only where the install had no compiler
    kernels = None
if os.environ.get(PURE_PYTHON_ENV) == "1":  # to cross-check or measure the twins
    kernels = None

NATIVE_KERNELS = kernels is not None
