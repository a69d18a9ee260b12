"""Secondary suppression: hide enough further cells that no primary cell can be worked
back from what is published, at the least cost in information.

The method, written for this project after reading Statistics Norway's GaussSuppression
and τ-ARGUS's modular and optimal methods:

1. **Is the cell already safe?** For each primary cell and direction (up by its UPL,
   down by its LPL), the audit LP (:mod:`~mikrodata.toolkit.disclosure.audit`) on the
   cells suppressed so far says whether the attacker's bound already reaches the
   protection interval. Suppressing more never narrows a bound, so a cell once safe
   stays safe, and most primary cells after the first few need nothing.
2. **If not, the cheapest way to make it safe.** One LP over the whole table finds a
   change ``y`` of the cell values that keeps every relation true and every value
   non-negative, moves the primary cell by its protection level, and leaves published
   cells as still as possible: it minimises ``sum(cost * |y|)`` over cells not yet
   suppressed (suppressed cells move for free). Every cell that moves is suppressed.
   The changed table is then consistent with everything published, so the attacker's
   bound reaches at least that far: the cell is protected, by construction. This is
   the LP relaxation of the Fischetti-Salazar model for one cell and one direction
   (τ-ARGUS's optimal method solves all of them at once as an integer program), run
   cell by cell, the way τ-ARGUS's modular method runs its subtables.
3. **Groups.** Where the suppressed cells of a published row, column or hierarchy node
   together break a rule (a group of small cells whose sum is itself small, a dominated
   union), the cheapest further published cell of that node is suppressed, and the
   groups are checked again.

Costs: a cell's value plus one (τ-ARGUS's default: big cells and margins are dear), so
small inner cells are hidden before totals. The audit proves the result either way.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from mikrodata.toolkit.disclosure.audit import GroupCheck, Model, constraints, group_failures
from mikrodata.toolkit.disclosure.primary import Primary
from mikrodata.toolkit.disclosure.structure import Grid
from scipy.optimize import linprog

__all__ = ["Suppression", "secondary"]

_TOL = 1e-6


@dataclass
class Suppression:
    """The cells to suppress, and what finding them cost."""

    suppressed: np.ndarray
    secondary: np.ndarray
    protection_lps: int
    check_lps: int


def _protection_lp(
    grid: Grid,
    x: np.ndarray,
    cost: np.ndarray,
    free: np.ndarray,
    p: int,
    move: float,
    floor: np.ndarray,
) -> np.ndarray:
    """The cells that move when primary cell ``p`` moves by ``move`` (>0 up, <0 down)
    at least cost to the cells not in ``free``; no cell goes below ``floor``."""
    cons = constraints(grid)
    n = len(x)
    w = np.where(free, 0.0, cost)
    c = np.concatenate([w, w])
    E = sp.hstack([cons.E, -cons.E]).tocsr() if cons.E.shape[0] else None
    ub_rows = []
    ub_rhs = []
    if cons.U.shape[0]:
        ub_rows.append(sp.hstack([cons.U, -cons.U]))
        ub_rhs.append(-(cons.U @ x))
    target = sp.csr_matrix(
        ([-1.0, 1.0] if move > 0 else [1.0, -1.0], ([0, 0], [p, n + p])), shape=(1, 2 * n)
    )
    ub_rows.append(target)
    ub_rhs.append(np.array([-abs(move)]))
    A_ub = sp.vstack(ub_rows).tocsr()
    b_ub = np.concatenate(ub_rhs)
    # a published zero stays zero where zeros are published (the attacker knows every
    # suppressed cell holds at least one unit then)
    pinned = (x == 0) & (floor > 0) & ~free
    bounds = [(0.0, 0.0 if z else None) for z in pinned] + [
        (0.0, float(max(v - f, 0.0))) for v, f in zip(x, floor, strict=True)
    ]
    res = linprog(
        c,
        A_ub=A_ub,
        b_ub=b_ub,
        A_eq=E,
        b_eq=np.zeros(E.shape[0]) if E is not None else None,
        bounds=bounds,
        method="highs",
    )
    if res.status != 0:
        raise RuntimeError(f"protection LP did not solve: {res.message}")
    y = res.x[:n] - res.x[n:]
    scale = max(1.0, abs(move))
    return np.abs(y) > _TOL * scale


def secondary(
    grid: Grid,
    prim: Primary,
    *,
    min_count: int,
    zeros_disclosive: bool,
    already: np.ndarray | None = None,
    group_check: GroupCheck | None = None,
    cost: np.ndarray | None = None,
) -> Suppression:
    """Choose the cells to suppress (primary cells included). ``already``: cells no
    table publishes (the common cells of tables protected together): free to move."""
    x = np.abs(grid.cells["value"].to_numpy(dtype=float))
    n = len(x)
    cost = x + 1.0 if cost is None else cost
    suppressed = prim.mask.copy()
    if already is not None:
        suppressed |= already
    protection = checks = 0
    # where zeros are published, every suppressed count is known to be at least 1
    floor = np.full(n, 1.0 if grid.integer and not zeros_disclosive else 0.0)

    def model() -> Model:
        lo = np.where(suppressed, floor, x)
        hi = np.where(suppressed, np.inf, x)
        return Model(grid, lo, hi)

    order = np.flatnonzero(prim.mask)
    order = order[np.argsort(-(prim.upper[order] + prim.lower[order]), kind="stable")]
    current = model() if len(order) else None
    for p in order:
        for move in (prim.upper[p], -prim.lower[p]):
            if move == 0:
                continue
            lo, hi = current.bounds_of(np.array([p]))
            checks += current.solves
            current.solves = 0
            if grid.integer:
                lo, hi = np.ceil(lo - 1e-7), np.floor(hi + 1e-7)
            if (move > 0 and hi >= x[p] + move - _TOL) or (move < 0 and lo <= x[p] + move + _TOL):
                continue
            moved = _protection_lp(grid, x, cost, suppressed, int(p), float(move), floor)
            protection += 1
            if (moved & ~suppressed).any():
                suppressed |= moved
                current = model()

    # groups of suppressed cells that together break a rule
    for _ in range(n):
        current = model()
        bad = [
            (parent, siblings)
            for parent, siblings, _members, _lo, _hi, broken in group_failures(
                grid,
                current,
                suppressed,
                min_count=min_count,
                zeros_disclosive=zeros_disclosive,
                group_check=group_check,
                published=None if already is None else ~already,
            )
            if broken
        ]
        checks += current.solves
        if not bad:
            break
        for parent, siblings in bad:
            candidates = siblings[~suppressed[siblings]]
            if len(candidates):
                suppressed[candidates[np.argmin(cost[candidates])]] = True
            else:
                suppressed[parent] = True
    return Suppression(
        suppressed=suppressed,
        secondary=suppressed & ~prim.mask & (True if already is None else ~already),
        protection_lps=protection,
        check_lps=checks,
    )
