"""Frequency tables and cross tables of distinct units, with margins, checked.

Example::

    from mikrodata import disclosure
    t = disclosure.crosstab(frame, "kommun", "manad", unit="lopnr",
                            rules=disclosure.Rules.profile("acro"), hierarchy={"kommun": "lan"})
    t.published      # kommun (and län) x month, totals included, suppressed cells missing
    t.status         # "pass", "review" or "fail"
    t.record.counts()  # {"suppressed": 4, "secondary": 6}

An aggregate table (one row per cell with its count of distinct units already computed)
is checked the same way: ``crosstab(agg, "kommun", "manad", counts="persons")``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from mikrodata.toolkit.disclosure.differencing import check_differencing
from mikrodata.toolkit.disclosure.magnitude import magnitude
from mikrodata.toolkit.disclosure.rules import Rules
from mikrodata.toolkit.disclosure.structure import build_grid
from mikrodata.toolkit.disclosure.table import (
    CheckedTable,
    assemble,
    check,
    names_of,
    population,
    resolve_rules,
)

__all__ = ["crosstab", "frequency"]


def crosstab(
    frame: pd.DataFrame,
    index: str | Sequence[str],
    columns: str | Sequence[str],
    unit: str | None = None,
    rules: Rules | str | None = None,
    *,
    values: str | None = None,
    aggfunc: str | None = None,
    mitigation: str | None = None,
    hierarchy: Mapping[str, Any] | None = None,
    codes: Mapping[str, Sequence[Any]] | None = None,
    counts: str | None = None,
    released: Any = None,
) -> CheckedTable:
    """A checked cross table of distinct ``unit`` (default: the rules' unit, ``lopnr``)
    by ``index`` and ``columns``, with margins. ``values`` and ``aggfunc`` (``"sum"`` or
    ``"mean"``) make a magnitude table instead (see
    :func:`mikrodata.toolkit.disclosure.magnitude.magnitude`). ``mitigation``:
    ``"suppress"``, ``"round"`` or ``"none"`` (default: the rules'). ``released``:
    earlier released tables, for the differencing check."""
    rows, cols = names_of(index), names_of(columns)
    if values is not None or aggfunc is not None:
        return magnitude(
            frame,
            rows,
            cols,
            values=values,  # type: ignore[arg-type]
            aggfunc=aggfunc or "sum",
            unit=unit,
            rules=rules,
            mitigation=mitigation,
            hierarchy=hierarchy,
            codes=codes,
            released=released,
        )
    return _count_table(
        frame, rows, cols, "crosstab", unit, rules, mitigation, hierarchy, codes, counts, released
    )


def frequency(
    frame: pd.DataFrame,
    by: str | Sequence[str],
    unit: str | None = None,
    rules: Rules | str | None = None,
    *,
    mitigation: str | None = None,
    hierarchy: Mapping[str, Any] | None = None,
    codes: Mapping[str, Sequence[Any]] | None = None,
    counts: str | None = None,
    released: Any = None,
) -> CheckedTable:
    """A checked frequency table: distinct units per code of ``by`` (one or more
    columns), with margins, as a long table with a ``count`` column."""
    return _count_table(
        frame,
        names_of(by),
        [],
        "frequency",
        unit,
        rules,
        mitigation,
        hierarchy,
        codes,
        counts,
        released,
    )


def _count_table(
    frame: pd.DataFrame,
    rows: list[str],
    cols: list[str],
    kind: str,
    unit: str | None,
    rules: Rules | str | None,
    mitigation: str | None,
    hierarchy: Mapping[str, Any] | None,
    codes: Mapping[str, Sequence[Any]] | None,
    counts: str | None,
    released: Any,
) -> CheckedTable:
    rules = resolve_rules(rules, unit)
    grid = build_grid(
        frame, rows + cols, unit=rules.unit, counts=counts, hierarchy=hierarchy, codes=codes
    )
    record, shown, _prim, _audit, state = check(
        grid, rules, kind=kind, magnitude=False, mitigation=mitigation
    )
    table = assemble(
        kind,
        grid,
        rows,
        cols,
        shown,
        state,
        record,
        statistic="count",
        population=None if counts is not None else population(frame, rules.unit),
    )
    if released is not None:
        check_differencing(table, released, rules)
    return table
