"""Rounding as the profiles define it.

- :func:`round_to_base`: to the nearest multiple of the base (5 for ``opensafely``),
  halves up, as ehrQL's measures do: 0-2 -> 0, 3-7 -> 5, 8-12 -> 10.
- :func:`midpoint6`: OpenSAFELY's midpoint-6 rounding for rates and Kaplan-Meier
  inputs, ``ceil(x / 6) * 6 - 3`` for ``x > 0`` and 0 for 0: 1-6 -> 3, 7-12 -> 9. Every
  count from 1 to 6 shows as 3, so no small count is ever shown as itself.

Example::

    round_to_base(np.array([2, 3, 7, 8]), 5)   # [0, 5, 5, 10]
    midpoint6(np.array([0, 1, 6, 7]))          # [0, 3, 3, 9]
"""

from __future__ import annotations

import numpy as np

__all__ = ["midpoint6", "round_to_base"]


def round_to_base(x: np.ndarray, base: int) -> np.ndarray:
    """Each value to the nearest multiple of ``base`` (halves away from zero)."""
    x = np.asarray(x, dtype=float)
    return np.sign(x) * np.floor(np.abs(x) / base + 0.5) * base


def midpoint6(x: np.ndarray) -> np.ndarray:
    """OpenSAFELY's midpoint-6 rounding of counts (0 stays 0)."""
    x = np.asarray(x, dtype=float)
    return np.where(x > 0, np.ceil(x / 6) * 6 - 3, 0.0)
