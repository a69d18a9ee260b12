"""Magnitude tables: sums and means of amounts per cell, checked.

Each cell is checked on the distinct units that contribute to it: at least ``min_count``
units; not dominated (the ``n`` largest units' share below ``k``); the p-ratio (what is
left after the two largest units at least ``p`` of the largest). A unit's contribution to
a cell is the sum of its amounts there. Protection (secondary suppression and the audit)
works on the sums, which always add up; a mean is published where its sum is.

Example::

    t = disclosure.magnitude(frame, "kommun", "manad", values="belopp_forsorjningsstod",
                             aggfunc="mean", rules="acro")
    t.published   # means, suppressed cells missing
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from mikrodata.toolkit.disclosure.differencing import check_differencing
from mikrodata.toolkit.disclosure.rules import Rules
from mikrodata.toolkit.disclosure.structure import TOTAL, Grid, build_grid
from mikrodata.toolkit.disclosure.table import (
    CheckedTable,
    assemble,
    check,
    names_of,
    population,
    resolve_rules,
)
from mikrodata.toolkit.errors import BadInputError

__all__ = ["magnitude", "union_check"]


def magnitude(
    frame: pd.DataFrame,
    index: str | Sequence[str],
    columns: str | Sequence[str] | None = None,
    *,
    values: str,
    aggfunc: str = "sum",
    unit: str | None = None,
    rules: Rules | str | None = None,
    mitigation: str | None = None,
    hierarchy: Mapping[str, Any] | None = None,
    codes: Mapping[str, Sequence[Any]] | None = None,
    released: Any = None,
) -> CheckedTable:
    """A checked table of the sum or mean (``aggfunc``) of ``values`` by ``index`` (and
    ``columns``), margins included, from microdata with a ``unit`` column."""
    if values is None:
        raise BadInputError("a magnitude table needs values=", "Name the amount column")
    if aggfunc not in ("sum", "mean"):
        raise BadInputError(f"aggfunc {aggfunc!r} is not checked", "Use 'sum' or 'mean'")
    rules = resolve_rules(rules, unit)
    rows = names_of(index)
    cols = names_of(columns) if columns is not None else []
    top_n = max(2, rules.dominance_n or 0)
    grid = build_grid(
        frame,
        rows + cols,
        unit=rules.unit,
        values=values,
        hierarchy=hierarchy,
        codes=codes,
        top_n=top_n,
    )
    group_check = union_check(frame, grid, rows + cols, values, rules)
    record, shown, _prim, _audit, state = check(
        grid,
        rules,
        kind="magnitude",
        magnitude=True,
        mitigation=mitigation,
        group_check=group_check,
    )
    statistic = aggfunc
    if aggfunc == "mean":
        units = grid.cells["units"].to_numpy(dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            shown = np.where(units > 0, shown / units, np.nan)
    table = assemble(
        "magnitude",
        grid,
        rows,
        cols,
        shown,
        state,
        record,
        statistic=statistic,
        population=population(frame, rules.unit),
        label=f"{aggfunc} of {values}",
    )
    if released is not None:
        check_differencing(table, released, rules)
    return table


def union_check(frame: pd.DataFrame, grid: Grid, dims: list[str], values: str, rules: Rules):
    """The rules applied to a union of suppressed cells whose sum is known exactly."""
    leaf = {d: frame[d].astype(str).to_numpy(dtype=object) for d in dims}
    unit = frame[rules.unit].to_numpy()
    amount = frame[values].to_numpy(dtype=float)
    below: dict[str, dict[str, set[str]]] = {}
    for d in grid.dims:  # code -> the lowest-level codes under it
        under: dict[str, set[str]] = {c: {c} for c in d.leaves}
        for c in d.leaves:
            p = d.parents[c]
            while True:
                under.setdefault(p, set()).add(c)
                if p == TOTAL:
                    break
                p = d.parents[p]
        below[d.name] = under

    def check_union(members: np.ndarray, lo: float, hi: float) -> list[str]:
        if not np.isclose(lo, hi):
            return []  # the union's sum is not known exactly
        rows = np.zeros(len(unit), dtype=bool)
        for m in members:
            key = grid.key(int(m))
            inside = np.ones(len(unit), dtype=bool)
            for d in dims:
                inside &= np.isin(leaf[d], list(below[d][key[d]]))
            rows |= inside
        per_unit = pd.Series(amount[rows]).groupby(unit[rows]).sum().sort_values(ascending=False)
        broken = []
        if 0 < len(per_unit) < rules.min_count:
            broken.append("min_count")
        total = float(per_unit.sum())
        if total > 0 and (per_unit >= 0).all():
            top = per_unit.to_numpy()
            if rules.dominance_n and top[: rules.dominance_n].sum() >= rules.dominance_k * total:
                broken.append("dominance")
            if rules.p_ratio is not None and len(top) and top[0] > 0:
                rest = total - top[:2].sum()
                if rest / top[0] < rules.p_ratio:
                    broken.append("p_ratio")
        return broken

    return check_union
