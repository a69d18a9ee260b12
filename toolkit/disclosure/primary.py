"""Primary checks: which cells break a rule by themselves, and how much protection each
needs.

Rules (see :mod:`mikrodata.toolkit.disclosure.rules`), each cell on its own, margins
included:

- ``min_count``: fewer than ``min_count`` distinct units (and more than none);
- ``zero``: no unit at all, where zeros are disclosive;
- ``dominance`` (magnitude tables): the ``n`` largest units hold at least ``k`` of the
  cell's total;
- ``p_ratio`` (magnitude tables): what is left after the two largest units is less than
  ``p`` of the largest (the second largest could estimate the largest too closely).

Protection levels are τ-ARGUS's (lower ``LPL`` and upper ``UPL``, distances from the true
value that the values an attacker can work out must reach): a share of the cell value
for a count rule, at least ``min_protection``; ``top_n / k - X`` for dominance;
``p * top1 - (X - top1 - top2)`` for the p-ratio; the largest where several rules apply.
For counts they are whole numbers (rounded up). ``LPL`` never takes a cell below 0, nor
below 1 where zeros are published (then every hidden count is known to be at least 1).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mikrodata.toolkit.disclosure.rules import Rules
from mikrodata.toolkit.disclosure.structure import Grid

__all__ = ["Primary", "primary"]


@dataclass
class Primary:
    """Per cell: whether it breaks a rule, which rules, and its protection levels."""

    mask: np.ndarray
    reasons: list[list[str]]
    lower: np.ndarray
    upper: np.ndarray
    negative: np.ndarray  # dominance cannot be judged where a unit is negative


def primary(grid: Grid, rules: Rules, *, magnitude: bool) -> Primary:
    cells = grid.cells
    n = len(cells)
    units = cells["units"].to_numpy()
    x = np.abs(cells["value"].to_numpy(dtype=float))
    reasons: list[list[str]] = [[] for _ in range(n)]
    lower = np.zeros(n)
    upper = np.zeros(n)

    def flag(mask: np.ndarray, rule: str, level: np.ndarray) -> None:
        for i in np.flatnonzero(mask):
            reasons[i].append(rule)
        upper[mask] = np.maximum(upper[mask], level[mask])
        lower[mask] = np.maximum(lower[mask], level[mask])

    share = np.maximum(rules.min_protection, x * max(rules.upper_protection, 0.0))
    share_low = np.maximum(rules.min_protection, x * max(rules.lower_protection, 0.0))
    small = (units > 0) & (units < rules.min_count)
    flag(small, "min_count", share)
    lower[small] = np.maximum(lower[small], share_low[small])
    if rules.zeros_disclosive:
        flag(units == 0, "zero", np.full(n, rules.min_protection))

    negative = cells["negative"].to_numpy(dtype=bool)
    if magnitude:
        total = cells["value"].to_numpy(dtype=float)
        top = {i: cells[f"top{i}"].to_numpy(dtype=float) for i in (1, 2) if f"top{i}" in cells}
        ok = (units > 0) & ~negative & (total > 0)
        if rules.dominance_n is not None and rules.dominance_k is not None:
            cols = [f"top{i}" for i in range(1, rules.dominance_n + 1)]
            top_n = cells[cols].to_numpy(dtype=float).sum(axis=1)
            dom = ok & (top_n >= rules.dominance_k * total)
            flag(dom, "dominance", top_n / rules.dominance_k - total)
        if rules.p_ratio is not None:
            rest = total - top[1] - top[2]
            with np.errstate(divide="ignore", invalid="ignore"):
                pr = ok & (top[1] > 0) & (rest / top[1] < rules.p_ratio)
            flag(pr, "p_ratio", rules.p_ratio * top[1] - rest)

    mask = np.array([bool(r) for r in reasons], dtype=bool)
    # a count cannot go below 0, nor below 1 where zeros are published (a hidden cell
    # is then known to hold someone)
    floor = 1.0 if grid.integer and not rules.zeros_disclosive else 0.0
    lower = np.minimum(lower, np.maximum(x - floor, 0.0))
    if grid.integer:
        lower = np.ceil(lower - 1e-9)
        upper = np.ceil(upper - 1e-9)
    upper[mask] = np.maximum(upper[mask], 1e-6)
    return Primary(mask, reasons, lower, upper, negative)
