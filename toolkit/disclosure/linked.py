"""Tables released together are protected together.

Two tables from the same data share cells (``kommun x manad`` and ``kommun x kon`` share
every kommun total), and an attacker combines them. :func:`protect_together` builds one
grid over all the tables' dimensions (the common inner cells, as GaussSuppression's
consistent linked-table method does): each table is a slice of it (its other dimensions
at their total), the cells no table publishes are hidden but still tie the tables
together (both tables come from one cross classification). Primary checks, secondary
suppression and the audit run once on the whole: a shared cell is suppressed in every
table or in none, and the audit gives the attacker every published cell of every table.

Example::

    by_month, by_sex = protect_together(frame, [("kommun", "manad"), ("kommun", "kon")])
    by_month.record.properties["protected_with"]   # the other table
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from mikrodata.toolkit.disclosure.magnitude import union_check
from mikrodata.toolkit.disclosure.record import CheckRecord
from mikrodata.toolkit.disclosure.rules import Rules
from mikrodata.toolkit.disclosure.structure import TOTAL, build_grid
from mikrodata.toolkit.disclosure.table import (
    CheckedTable,
    assemble,
    check,
    names_of,
    population,
    resolve_rules,
)
from mikrodata.toolkit.errors import BadInputError

__all__ = ["MAX_JOINT_CELLS", "protect_together"]

# The joint grid is the product of every dimension's codes: refuse what would not fit.
MAX_JOINT_CELLS = 250_000


def _spec(spec: Any) -> tuple[list[str], list[str]]:
    if isinstance(spec, str):
        return [spec], []
    spec = list(spec)
    if len(spec) == 1:
        return names_of(spec[0]), []
    if len(spec) == 2:
        return names_of(spec[0]), names_of(spec[1])
    raise BadInputError(
        "a table is (index,) or (index, columns)", "For example ('kommun', 'manad')"
    )


def protect_together(
    frame: pd.DataFrame,
    tables: Sequence[Any],
    unit: str | None = None,
    rules: Rules | str | None = None,
    *,
    values: str | None = None,
    aggfunc: str = "sum",
    mitigation: str | None = None,
    hierarchy: Mapping[str, Any] | None = None,
    codes: Mapping[str, Sequence[Any]] | None = None,
) -> list[CheckedTable]:
    """Check tables of one ``frame`` together: each entry of ``tables`` is a dimension,
    ``(index,)`` for a frequency table or ``(index, columns)`` for a cross table.
    ``values`` makes them magnitude tables (``aggfunc`` ``"sum"`` or ``"mean"``)."""
    rules = resolve_rules(rules, unit)
    specs = [_spec(s) for s in tables]
    if len(specs) < 2:
        raise BadInputError("protect_together needs two or more tables", "Use crosstab for one")
    dims = list(dict.fromkeys(d for rows, cols in specs for d in rows + cols))
    size = 1
    for d in dims:
        size *= frame[d].nunique() + 1 if d in frame.columns else 1
    if size > MAX_JOINT_CELLS:
        raise BadInputError(
            f"the tables together span {size} cells, more than {MAX_JOINT_CELLS}",
            "Protect fewer tables together, or coarsen their codes",
        )
    magnitude = values is not None
    grid = build_grid(
        frame,
        dims,
        unit=rules.unit,
        values=values,
        hierarchy=hierarchy,
        codes=codes,
        top_n=max(2, rules.dominance_n or 0),
    )
    cells = grid.cells
    selects = []
    for rows, cols in specs:
        own = rows + cols
        sel = np.ones(len(cells), dtype=bool)
        for d in dims:
            if d not in own:
                sel &= (cells[d] == TOTAL).to_numpy()
        selects.append(sel)
    published = np.logical_or.reduce(selects)
    group_check = union_check(frame, grid, dims, values, rules) if magnitude else None
    record, shown, _prim, _audit, state = check(
        grid,
        rules,
        kind="linked",
        magnitude=magnitude,
        mitigation=mitigation,
        group_check=group_check,
        hidden=~published,
    )
    if magnitude and aggfunc == "mean":
        units = cells["units"].to_numpy(dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            shown = np.where(units > 0, shown / units, np.nan)
    statistic = aggfunc if magnitude else "count"
    pop = population(frame, rules.unit)
    names = [" x ".join(r + c) for r, c in specs]
    out = []
    for (rows, cols), sel, name in zip(specs, selects, names, strict=True):
        own = CheckRecord(
            kind="crosstab" if cols else "frequency", rules=record.rules, unit=record.unit
        )
        own.status = record.status
        own.notes = list(record.notes)
        own.audit = record.audit
        keys = set(map(tuple, cells.loc[sel, rows + cols].itertuples(index=False, name=None)))
        own.findings = [
            f
            for f in record.findings
            if tuple(f.cell.get(d) for d in rows + cols) in keys
            and all(f.cell.get(d) == TOTAL for d in dims if d not in rows + cols)
        ]
        own.properties = dict(record.properties)
        own.properties["protected_with"] = [n for n in names if n != name]
        kind = "magnitude" if magnitude else ("crosstab" if cols else "frequency")
        out.append(
            assemble(
                kind,
                grid,
                rows,
                cols,
                shown,
                state,
                own,
                statistic=statistic,
                population=pop,
                select=sel,
                label=f"{aggfunc} of {values}" if magnitude else None,
            )
        )
    return out
