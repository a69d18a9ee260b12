"""One linear program, solved many times with scipy's HiGHS.

The audit solves two LPs per suppressed cell that differ only in their objective, and
secondary suppression solves LPs that differ in a few bounds. Built once and re-solved
from the previous basis, each takes a fraction of a millisecond; through
``scipy.optimize.linprog`` each would rebuild the model (about 10 ms of overhead here).
So :class:`LinearProgram` keeps one HiGHS model: the HiGHS that scipy ships (its bundled
binding, ``scipy.optimize._highspy``), and ``linprog`` (the same solver through scipy's
public function) when that binding is not there. Both give the same answers; a test
holds them to it.

Example::

    lp = LinearProgram(n=2, A_ub=sp.csr_matrix([[1.0, 1.0]]), b_ub=np.array([4.0]))
    lp.solve(np.array([-1.0, 0.0]))   # ("optimal", -4.0, array([4., 0.]))
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.optimize import linprog

__all__ = ["LinearProgram"]

try:  # scipy's bundled HiGHS binding; linprog itself is the fallback
    from scipy.optimize._highspy import _core as _highs
except ImportError:  # pragma: no cover - every scipy this project supports has it
    _highs = None


class LinearProgram:
    """``min c @ x`` subject to ``A_eq x = b_eq``, ``A_ub x <= b_ub``, ``lo <= x <= hi``
    (``hi`` may be ``inf``), with changeable costs and bounds."""

    def __init__(
        self,
        n: int,
        *,
        A_eq: sp.spmatrix | None = None,
        b_eq: np.ndarray | None = None,
        A_ub: sp.spmatrix | None = None,
        b_ub: np.ndarray | None = None,
        lo: np.ndarray | None = None,
        hi: np.ndarray | None = None,
        backend: str | None = None,
    ) -> None:
        self.n = n
        self.lo = np.zeros(n) if lo is None else np.asarray(lo, dtype=float).copy()
        self.hi = np.full(n, np.inf) if hi is None else np.asarray(hi, dtype=float).copy()
        empty = sp.csr_matrix((0, n))
        self.A_eq = empty if A_eq is None or A_eq.shape[0] == 0 else sp.csr_matrix(A_eq)
        self.b_eq = (
            np.zeros(0) if b_eq is None or self.A_eq.shape[0] == 0 else np.asarray(b_eq, float)
        )
        self.A_ub = empty if A_ub is None or A_ub.shape[0] == 0 else sp.csr_matrix(A_ub)
        self.b_ub = (
            np.zeros(0) if b_ub is None or self.A_ub.shape[0] == 0 else np.asarray(b_ub, float)
        )
        self.extra: list[tuple[np.ndarray, np.ndarray, float]] = []  # rows a @ x >= b
        self.backend = backend or ("highs" if _highs is not None else "linprog")
        self.solves = 0
        self._h = None
        if self.backend == "highs":
            self._build()

    def _build(self) -> None:
        h = _highs._Highs()
        h.setOptionValue("output_flag", False)
        lp = _highs.HighsLp()
        A = sp.vstack([self.A_eq, self.A_ub]).tocsc()
        inf = _highs.kHighsInf
        lp.num_col_ = self.n
        lp.num_row_ = A.shape[0]
        lp.col_cost_ = np.zeros(self.n)
        lp.col_lower_ = self.lo
        lp.col_upper_ = np.where(np.isinf(self.hi), inf, self.hi)
        lp.row_lower_ = np.concatenate([self.b_eq, np.full(len(self.b_ub), -inf)])
        lp.row_upper_ = np.concatenate([self.b_eq, self.b_ub])
        lp.a_matrix_.format_ = _highs.MatrixFormat.kColwise
        lp.a_matrix_.start_ = A.indptr.astype(np.int32)
        lp.a_matrix_.index_ = A.indices.astype(np.int32)
        lp.a_matrix_.value_ = A.data.astype(float)
        h.passModel(lp)
        self._h = h
        self._cost = np.zeros(self.n)

    def set_bounds(self, idx: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> None:
        idx = np.asarray(idx, dtype=np.int32)
        self.lo[idx], self.hi[idx] = lo, hi
        if self._h is not None:
            inf = _highs.kHighsInf
            up = np.where(np.isinf(np.asarray(hi, float)), inf, hi).astype(float)
            self._h.changeColsBounds(len(idx), idx, np.asarray(lo, float), up)

    def add_row_at_least(self, idx: np.ndarray, coef: np.ndarray, bound: float) -> None:
        """Add ``coef @ x[idx] >= bound`` (removed again by :meth:`drop_rows`)."""
        self.extra.append((np.asarray(idx), np.asarray(coef, float), float(bound)))
        if self._h is not None:
            self._h.addRow(
                float(bound),
                _highs.kHighsInf,
                len(idx),
                np.asarray(idx, np.int32),
                np.asarray(coef, float),
            )

    def drop_rows(self) -> None:
        if self._h is not None and self.extra:
            first = self.A_eq.shape[0] + self.A_ub.shape[0]
            rows = np.arange(first, first + len(self.extra), dtype=np.int32)
            self._h.deleteRows(len(rows), rows)
        self.extra = []

    def solve(self, c: np.ndarray) -> tuple[str, float, np.ndarray | None]:
        """Minimise ``c @ x``: ``("optimal", value, x)``, ``("unbounded", -inf, None)``
        or ``("infeasible", nan, None)``."""
        self.solves += 1
        c = np.asarray(c, dtype=float)
        if self._h is None:
            return self._linprog(c)
        changed = np.flatnonzero(c != self._cost).astype(np.int32)
        if len(changed):
            self._h.changeColsCost(len(changed), changed, c[changed])
            self._cost = c.copy()
        self._h.run()
        status = self._h.getModelStatus()
        S = _highs.HighsModelStatus
        if status == S.kOptimal:
            x = np.asarray(self._h.getSolution().col_value)
            return "optimal", float(self._h.getInfo().objective_function_value), x
        if status in (S.kUnbounded, S.kUnboundedOrInfeasible):
            return "unbounded", -np.inf, None
        if status == S.kInfeasible:
            return "infeasible", np.nan, None
        return self._linprog(c)  # pragma: no cover - HiGHS gave up; ask linprog

    def _linprog(self, c: np.ndarray) -> tuple[str, float, np.ndarray | None]:
        A_ub, b_ub = self.A_ub, self.b_ub
        if self.extra:
            rows = [
                sp.csr_matrix((-coef, (np.zeros(len(idx)), idx)), shape=(1, self.n))
                for idx, coef, _ in self.extra
            ]
            A_ub = sp.vstack([A_ub, *rows])
            b_ub = np.concatenate([b_ub, [-b for _, _, b in self.extra]])
        res = linprog(
            c,
            A_ub=A_ub if A_ub.shape[0] else None,
            b_ub=b_ub if A_ub.shape[0] else None,
            A_eq=self.A_eq if self.A_eq.shape[0] else None,
            b_eq=self.b_eq if self.A_eq.shape[0] else None,
            bounds=list(zip(self.lo, [None if np.isinf(h) else h for h in self.hi], strict=True)),
            method="highs",
        )
        if res.status == 0:
            return "optimal", float(res.fun), res.x
        if res.status == 3:
            return "unbounded", -np.inf, None
        return "infeasible", np.nan, None
