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
from mikrodata.toolkit.disclosure.lp import LinearProgram
from mikrodata.toolkit.disclosure.primary import Primary
from mikrodata.toolkit.disclosure.structure import Grid

__all__ = ["Suppression", "secondary"]

_TOL = 1e-6


@dataclass
class Suppression:
    """The cells to suppress, and what finding them cost."""

    suppressed: np.ndarray
    secondary: np.ndarray
    protection_lps: int
    check_lps: int
    # primary cells whose protection interval the table itself limits (published zeros)
    capped: list[int]


class _Protection:
    """The protection LP of one table, built once: a change ``y = u - v`` of the cell
    values that keeps every relation true and every value at or above its floor, at
    least cost to the cells not yet suppressed."""

    def __init__(self, grid: Grid, x: np.ndarray, cost: np.ndarray, floor: np.ndarray) -> None:
        cons = constraints(grid)
        n = len(x)
        self.n, self.x, self.cost, self.floor = n, x, cost, floor
        # a published zero stays zero where zeros are published (the attacker knows
        # every suppressed cell holds at least one unit then)
        self.u_hi = np.where((x == 0) & (floor > 0), 0.0, np.inf)
        self.v_hi = np.maximum(x - floor, 0.0)
        self.lp = LinearProgram(
            2 * n,
            A_eq=sp.hstack([cons.E, -cons.E]),
            b_eq=np.zeros(cons.E.shape[0]),
            A_ub=sp.hstack([cons.U, -cons.U]),
            b_ub=-(cons.U @ x),
            lo=np.zeros(2 * n),
            hi=np.concatenate([self.u_hi, self.v_hi]),
        )
        self.solves = 0

    def moved(self, free: np.ndarray, target: np.ndarray, move: float) -> np.ndarray:
        """The cells that move when the sum of ``target`` cells moves by ``move``
        (> 0 up, < 0 down), at least cost to cells not ``free``."""
        n = self.n
        w = np.where(free, 0.0, self.cost)
        u_hi, v_hi = self.u_hi.copy(), self.v_hi.copy()
        u_hi[target] = np.inf
        if len(target) == 1:  # one cell: a bound on its change does it
            p = int(target[0])
            if move > 0:
                self.lp.set_bounds([p, n + p], [move, 0.0], [np.inf, 0.0])
            else:
                self.lp.set_bounds([p, n + p], [0.0, -move], [0.0, v_hi[p]])
        else:
            sign = 1.0 if move > 0 else -1.0
            coef = np.concatenate([np.full(len(target), sign), np.full(len(target), -sign)])
            self.lp.add_row_at_least(np.concatenate([target, n + target]), coef, abs(move))
            self.lp.set_bounds(target, np.zeros(len(target)), u_hi[target])
        status, _, sol = self.lp.solve(np.concatenate([w, w]))
        self.solves += 1
        self.lp.drop_rows()
        self.lp.set_bounds(target, np.zeros(len(target)), self.u_hi[target])
        self.lp.set_bounds(n + target, np.zeros(len(target)), self.v_hi[target])
        if status != "optimal":
            return None
        y = sol[:n] - sol[n:]
        return np.abs(y) > _TOL * max(1.0, abs(move))

    def reach(self, p: int, down: bool) -> float:
        """How far cell ``p`` can move at all (down or up) with every cell free: where
        zeros are published, a cell made of a few non-empty cells cannot go below their
        number, whatever is suppressed."""
        c = np.zeros(2 * self.n)
        c[self.n + p if down else p] = -1.0
        status, value, _ = self.lp.solve(c)
        self.solves += 1
        return np.inf if status == "unbounded" else max(-value, 0.0)


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
    checks = 0
    # where zeros are published, every suppressed count is known to be at least 1
    floor = np.full(n, 1.0 if grid.integer and not zeros_disclosive else 0.0)
    protection = _Protection(grid, x, cost, floor)

    def model() -> Model:
        lo = np.where(suppressed, floor, x)
        hi = np.where(suppressed, np.inf, x)
        return Model(grid, lo, hi)

    def rounded(lo: float, hi: float) -> tuple[float, float]:
        if grid.integer:
            return float(np.ceil(lo - 1e-7)), float(np.floor(hi + 1e-7))
        return lo, hi

    capped: list[int] = []
    order = np.flatnonzero(prim.mask)
    order = order[np.argsort(-(prim.upper[order] + prim.lower[order]), kind="stable")]
    current = model() if len(order) else None
    for p in order:
        for move in (prim.upper[p], -prim.lower[p]):
            if move == 0:
                continue
            lo, hi = rounded(*current.bounds_of(np.array([p])))
            checks += 2
            if (move > 0 and hi >= x[p] + move - _TOL) or (move < 0 and lo <= x[p] + move + _TOL):
                continue
            moved = protection.moved(suppressed, np.array([p]), float(move))
            if moved is None:  # the table allows less: protect as far as it can go
                limit = protection.reach(int(p), down=move < 0)
                if move < 0:
                    prim.lower[p] = limit
                else:  # pragma: no cover - upward moves are never bounded here
                    prim.upper[p] = limit
                capped.append(int(p))
                if limit <= _TOL:
                    continue
                moved = protection.moved(suppressed, np.array([p]), float(np.sign(move) * limit))
            if moved is not None and (moved & ~suppressed).any():
                suppressed |= moved
                current = model()

    # groups of primary cells under one published margin that together break a rule:
    # protect the group's sum as if it were one more primary cell
    for _ in range(n):
        current = model()
        bad = [
            (members, lo, hi)
            for _parent, _children, members, lo, hi, broken in group_failures(
                grid,
                current,
                suppressed,
                min_count=min_count,
                zeros_disclosive=zeros_disclosive,
                group_check=group_check,
                published=None if already is None else ~already,
                primary_mask=prim.mask,
            )
            if broken
        ]
        checks += current.solves
        if not bad:
            break
        before = suppressed.copy()
        for members, _lo, hi in bad:
            total = x[members].sum()
            move = max(min_count - total, prim.upper[members].max(), hi - total + 1.0)
            moved = protection.moved(suppressed, members, float(move))
            if moved is not None:
                suppressed |= moved
        if (suppressed == before).all():
            break  # nothing more can be done; the audit will say so
    return Suppression(
        suppressed=suppressed,
        secondary=suppressed & ~prim.mask & (True if already is None else ~already),
        protection_lps=protection.solves,
        check_lps=checks,
        capped=capped,
    )
