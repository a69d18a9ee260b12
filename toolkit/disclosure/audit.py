"""The exact audit: for every suppressed cell, the smallest and largest value consistent
with everything published, from two linear programs (scipy's HiGHS).

What the attacker is given: every published value (exact, or an interval for a rounded
one), that counts and amounts of units are not negative, and the table's relations
(:mod:`mikrodata.toolkit.disclosure.structure`: a margin is the sum of its cells, or for
overlapping counts lies between their maximum and their sum). This is τ-ARGUS's audit
model. For counts the bounds are rounded inwards to whole numbers.

A suppressed cell **passes** when it is not recoverable (its bounds differ) and, for a
cell that broke a rule itself, when its bounds reach its protection interval:
``lower <= value - LPL`` and ``upper >= value + UPL``. A **group** (the suppressed cells
of one published row, column or hierarchy node) passes unless what can be worked out
about it breaks a rule: at most ``min_count - 1`` units in all, or, for sums known
exactly, a dominated or p-ratio-failing union of units.

The LP bounds are those of the linear relaxation, as in τ-ARGUS: an attacker who also
uses that counts are whole numbers can do no better in two-dimensional tables (their
constraint matrix is totally unimodular) and at most slightly better in others.

Example::

    result = audit(grid, lo, hi, suppressed, primary)
    result.passed, result.failures[:1]
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from mikrodata.toolkit.disclosure.lp import LinearProgram
from mikrodata.toolkit.disclosure.primary import Primary
from mikrodata.toolkit.disclosure.structure import Grid

__all__ = [
    "AuditResult",
    "Constraints",
    "audit",
    "Model",
    "constraints",
    "group_failures",
    "interval",
]

_TOL = 1e-6

GroupCheck = Callable[[np.ndarray, float, float], list[str]]


@dataclass(frozen=True)
class Constraints:
    """The relations as ``E @ x == 0`` and ``U @ x <= 0`` over all cells."""

    E: sp.csr_matrix
    U: sp.csr_matrix
    # the relation each row of E or U comes from (for groups)
    groups: list[tuple[int, np.ndarray]]


def constraints(grid: Grid) -> Constraints:
    """The grid's relations as sparse matrices (cached on the grid)."""
    cached = getattr(grid, "_constraints", None)
    if cached is not None:
        return cached
    n = len(grid.cells)
    er, ec, ev, ur, uc, uv = [], [], [], [], [], []
    n_e = n_u = 0
    groups = []
    for rel in grid.relations:
        groups.append((rel.parent, rel.children))
        if rel.additive:
            er += [n_e] * (len(rel.children) + 1)
            ec += [rel.parent, *rel.children.tolist()]
            ev += [-1.0] + [1.0] * len(rel.children)
            n_e += 1
        else:
            for c in rel.children.tolist():  # child <= parent
                ur += [n_u, n_u]
                uc += [c, rel.parent]
                uv += [1.0, -1.0]
                n_u += 1
            ur += [n_u] * (len(rel.children) + 1)  # parent <= sum(children)
            uc += [rel.parent, *rel.children.tolist()]
            uv += [1.0] + [-1.0] * len(rel.children)
            n_u += 1
    E = sp.csr_matrix((ev, (er, ec)), shape=(n_e, n))
    U = sp.csr_matrix((uv, (ur, uc)), shape=(n_u, n))
    out = Constraints(E, U, groups)
    grid._constraints = out  # type: ignore[attr-defined]
    return out


@dataclass
class AuditResult:
    """The audit of one published table (or of tables published together)."""

    method: str = "lp-highs"
    passed: bool = True
    cells: int = 0
    groups: int = 0
    intervals: list[dict[str, Any]] = field(default_factory=list)
    failures: list[dict[str, Any]] = field(default_factory=list)
    lp_solves: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "passed": self.passed,
            "cells": self.cells,
            "groups": self.groups,
            "lp_solves": self.lp_solves,
            "intervals": self.intervals,
            "failures": self.failures,
        }


class Model:
    """The audit LP restricted to the unknown cells, split into independent parts."""

    def __init__(self, grid: Grid, lo: np.ndarray, hi: np.ndarray) -> None:
        cons = constraints(grid)
        x_fixed = np.where(lo == hi, lo, 0.0)
        var = np.flatnonzero(~(np.abs(hi - lo) <= _TOL))
        fixed = np.setdiff1d(np.arange(len(lo)), var)
        self.var = var
        self.pos = {int(c): i for i, c in enumerate(var)}
        self.lo, self.hi = lo[var], hi[var]
        self.solves = 0
        blocks = []
        for M, eq in ((cons.E, True), (cons.U, False)):
            Mv = M[:, var].tocsr()
            rhs = -(M[:, fixed] @ x_fixed[fixed])
            keep = np.flatnonzero(np.diff(Mv.indptr) > 0)
            blocks.append((Mv[keep], rhs[keep], eq))
        (self.Ev, self.be, _), (self.Uv, self.bu, _) = blocks
        # independent parts: variables linked through some row
        n = len(var)
        link = sp.vstack([self.Ev, self.Uv]).tocsr()
        if n:
            adj = (link.T @ link) != 0 if link.shape[0] else sp.eye(n, format="csr")
            _, self.part = connected_components(adj, directed=False)
        else:
            self.part = np.zeros(0, dtype=int)
        self._cache: dict[int, tuple] = {}

    def _part(self, p: int) -> tuple[np.ndarray, LinearProgram]:
        if p not in self._cache:
            cols = np.flatnonzero(self.part == p)
            blocks = []
            for M, b in ((self.Ev, self.be), (self.Uv, self.bu)):
                sub = M[:, cols].tocsr()
                rows = np.flatnonzero(np.diff(sub.indptr) > 0)
                blocks.append((sub[rows], b[rows]))
            (E, be), (U, bu) = blocks
            lp = LinearProgram(
                len(cols), A_eq=E, b_eq=be, A_ub=U, b_ub=bu, lo=self.lo[cols], hi=self.hi[cols]
            )
            self._cache[p] = (cols, lp)
        return self._cache[p]

    def bounds_of(self, cells: np.ndarray) -> tuple[float, float]:
        """min and max of the sum of some unknown cells (all in one part or not)."""
        idx = np.array([self.pos[int(c)] for c in cells])
        lo_total = hi_total = 0.0
        for p in np.unique(self.part[idx]):
            cols, lp = self._part(int(p))
            c = np.isin(cols, idx).astype(float)
            out = []
            for sign in (1.0, -1.0):
                status, value, _ = lp.solve(sign * c)
                self.solves += 1
                if status == "unbounded":
                    out.append(-np.inf * sign)
                elif status != "optimal":
                    raise RuntimeError("audit LP found the published table inconsistent")
                else:
                    out.append(sign * value)
            lo_total += out[0]
            hi_total += out[1]
        return lo_total, hi_total


def interval(grid: Grid, lo: np.ndarray, hi: np.ndarray, cells: np.ndarray) -> tuple[float, float]:
    """The bounds of the sum of ``cells`` given what is known (``lo``/``hi`` per cell)."""
    return Model(grid, lo, hi).bounds_of(np.asarray(cells))


def audit(
    grid: Grid,
    known_lo: np.ndarray,
    known_hi: np.ndarray,
    suppressed: np.ndarray,
    prim: Primary,
    *,
    min_count: int,
    zeros_disclosive: bool,
    group_check: GroupCheck | None = None,
    published: np.ndarray | None = None,
    method: str = "lp-highs",
) -> AuditResult:
    """Audit a protected table. ``known_lo``/``known_hi`` are what is published about each
    cell (equal for a published value, ``0``/``inf`` for a suppressed one)."""
    model = Model(grid, known_lo.astype(float), known_hi.astype(float))
    value = grid.cells["value"].to_numpy(dtype=float)
    result = AuditResult(method=method)
    rounding = np.floor if grid.integer else (lambda v: v)
    ceiling = np.ceil if grid.integer else (lambda v: v)
    for c in np.flatnonzero(suppressed):
        lo, hi = model.bounds_of(np.array([c]))
        if grid.integer:
            lo, hi = float(ceiling(lo - 1e-7)), float(rounding(hi + 1e-7))
        lo, hi = lo + 0.0, hi + 0.0  # no -0.0 in records
        entry: dict[str, Any] = {
            "cell": grid.key(int(c)),
            "value": float(value[c]),
            "lower": lo,
            "upper": hi,
            "primary": bool(prim.mask[c]),
        }
        problems = []
        if hi - lo <= _TOL:
            problems.append("recoverable")
        if prim.mask[c]:
            need_lo, need_hi = value[c] - prim.lower[c], value[c] + prim.upper[c]
            entry |= {"required_lower": float(need_lo), "required_upper": float(need_hi)}
            if lo > need_lo + _TOL:
                problems.append("lower bound too close")
            if hi < need_hi - _TOL:
                problems.append("upper bound too close")
        entry["ok"] = not problems
        result.intervals.append(entry)
        if problems:
            result.failures.append({"cell": entry["cell"], "problems": problems})
        result.cells += 1
    for parent, _children, members, _lo, _hi, broken in group_failures(
        grid,
        model,
        suppressed,
        min_count=min_count,
        zeros_disclosive=zeros_disclosive,
        group_check=group_check,
        published=published,
        primary_mask=prim.mask,
    ):
        result.groups += 1
        if broken:
            result.failures.append(
                {
                    "group": [grid.key(int(m)) for m in members],
                    "margin": grid.key(int(parent)),
                    "problems": broken,
                }
            )
    result.lp_solves = model.solves
    result.passed = not result.failures
    return result


def group_failures(
    grid: Grid,
    model: Model,
    suppressed: np.ndarray,
    *,
    min_count: int,
    zeros_disclosive: bool,
    group_check: GroupCheck | None = None,
    published: np.ndarray | None = None,
    primary_mask: np.ndarray,
) -> list[tuple[int, np.ndarray, np.ndarray, float, float, list[str]]]:
    """Every group of two or more suppressed primary cells under a published margin (a
    row, column or hierarchy node), with the bounds of their sum and the rules what is
    known about it breaks (empty when none). ``published``: the cells some table
    publishes."""
    out = []
    seen: set[tuple[int, ...]] = set()
    for parent, children in constraints(grid).groups:
        if suppressed[parent]:
            continue
        if published is not None and not (published[parent] and published[children].all()):
            continue
        # the cells that broke a rule (a secondary cell is safe by itself)
        members = children[suppressed[children] & primary_mask[children]]
        key = tuple(sorted(members.tolist()))
        if len(members) < 2 or key in seen:
            continue
        seen.add(key)
        lo, hi = model.bounds_of(members)
        if grid.integer:
            lo, hi = float(np.ceil(lo - 1e-7)), float(np.floor(hi + 1e-7))
        broken = []
        if grid.integer and hi < min_count and (hi > 0 or zeros_disclosive):
            broken.append("min_count")
        if group_check is not None:
            broken += group_check(members, lo, hi)
        out.append((parent, children, members, lo, hi, sorted(set(broken))))
    return out
