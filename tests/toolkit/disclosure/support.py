"""Small builders for disclosure tests: microdata with given distinct units per cell, and
an independent audit (written here from the published table alone, sharing no code with
the package's audit)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.optimize import linprog


def microdata(counts: dict[tuple[str, ...], int], dims: list[str], rows_per_unit: int = 1):
    """One unit per count (``rows_per_unit`` rows each), pseudonyms unique per cell."""
    rows = []
    serial = 0
    for key, n in counts.items():
        for _ in range(n):
            serial += 1
            for _ in range(rows_per_unit):
                rows.append({**dict(zip(dims, key, strict=True)), "lopnr": f"{serial:016x}"})
    return pd.DataFrame(rows, columns=[*dims, "lopnr"])


def aggregate(counts: dict[tuple[str, ...], int], dims: list[str]) -> pd.DataFrame:
    return pd.DataFrame(
        [{**dict(zip(dims, k, strict=True)), "persons": n} for k, n in counts.items()]
    )


def independent_bounds(published: pd.DataFrame) -> dict[tuple[str, str], tuple[float, float]]:
    """Bounds of every hidden cell of a flat 2-D table with its row and column totals
    (label ``Total``), written from the published numbers alone: each row and each column
    (totals included) sums to its total; all cells are >= 0."""
    rows, cols = list(published.index), list(published.columns)
    hidden = [(r, c) for r in rows for c in cols if pd.isna(published.loc[r, c])]
    var = {cell: i for i, cell in enumerate(hidden)}
    A, b = [], []
    lines = [([(r, c) for c in cols if c != "Total"], (r, "Total")) for r in rows]
    lines += [([(r, c) for r in rows if r != "Total"], ("Total", c)) for c in cols]
    for members, total in lines:
        row = np.zeros(len(var))
        rhs = 0.0
        for cell, sign in [(m, 1.0) for m in members] + [(total, -1.0)]:
            if cell in var:
                row[var[cell]] += sign
            else:
                rhs -= sign * float(published.loc[cell])
        if row.any():
            A.append(row)
            b.append(rhs)
    out = {}
    for cell, i in var.items():
        c = np.zeros(len(var))
        c[i] = 1
        kw = {"A_eq": np.array(A), "b_eq": np.array(b)} if A else {}
        lo = linprog(c, bounds=[(0, None)] * len(var), method="highs", **kw)
        hi = linprog(-c, bounds=[(0, None)] * len(var), method="highs", **kw)
        out[cell] = (lo.fun, np.inf if hi.status == 3 else -hi.fun)
    return out
