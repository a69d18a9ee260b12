"""Whether the hot loops of pseudonymising run in C or in their Python twins.

``kernels`` is the C extension built from ``_kernels.c`` at install (HMAC over
OpenSSL, reading 12-digit identifiers, writing hex), or None where the install had no
compiler. Callers read ``_native.kernels`` when they run, so the tests can switch the C
loops off and check that both ways give the same results.
"""

from __future__ import annotations

from types import ModuleType

kernels: ModuleType | None
try:
    from . import _kernels as kernels
except ImportError:  # pragma: no cover - only where the install had no compiler
    kernels = None

NATIVE_KERNELS = kernels is not None
