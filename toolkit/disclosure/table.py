"""A checked table: what may leave, why, and the proof.

:func:`check` runs every step on a table's cells (:class:`~.structure.Grid`): primary
checks, the mitigation the rules ask for (secondary suppression, or redaction and
rounding), the exact audit, and, given earlier releases, the differencing check. It
returns a :class:`CheckedTable`, whose ``published`` is the table as it may leave
(margins included, suppressed cells missing) and whose ``record`` explains it.

Breaking a rule where the caller asked for no mitigation (``mitigation="none"``) raises
:class:`~mikrodata.toolkit.errors.DisclosureError` (exit code 17 on the command line).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from mikrodata.toolkit.disclosure.audit import AuditResult, GroupCheck, audit
from mikrodata.toolkit.disclosure.primary import Primary, primary
from mikrodata.toolkit.disclosure.record import CheckRecord
from mikrodata.toolkit.disclosure.rounding import round_to_base
from mikrodata.toolkit.disclosure.rules import Rules
from mikrodata.toolkit.disclosure.structure import TOTAL, Grid
from mikrodata.toolkit.disclosure.suppression import secondary
from mikrodata.toolkit.errors import DisclosureError

__all__ = ["CheckedTable", "assemble", "check", "no_mitigation_error", "resolve_rules"]

# cell states in CheckedTable.cells["state"]
PUBLISHED, SUPPRESSED, SECONDARY, REDACTED, ROUNDED, RECOMPUTED, HIDDEN = (
    "published",
    "suppressed",
    "secondary",
    "redacted",
    "rounded",
    "recomputed",
    "hidden",
)


@dataclass
class CheckedTable:
    """A table that went through the disclosure checks.

    ``published``: the table as it may leave. ``cells``: one row per cell (margins
    included) with its published value and state (``published``, ``suppressed`` for a
    cell that broke a rule, ``secondary``, ``redacted``, ``rounded``, ``recomputed``).
    ``record``: the check record. ``population``: the distinct units behind the table
    (hashed, for the differencing check; never released)."""

    kind: str
    published: pd.DataFrame
    cells: pd.DataFrame
    record: CheckRecord
    dims: list[str]
    statistic: str
    population: np.ndarray | None = field(default=None, repr=False)
    grid: Grid | None = field(default=None, repr=False)

    @property
    def status(self) -> str:
        return self.record.status

    def figure(self, **kwargs: Any) -> Any:
        """A plotly figure of the published table that carries this table's check record
        (see :func:`mikrodata.toolkit.disclosure.figures.figure`)."""
        from mikrodata.toolkit.disclosure.figures import figure

        return figure(self, **kwargs)

    def suppressed_positions(self) -> dict[str, list[list[int]]]:
        """Positions ``[row, column]`` in ``published`` of each kind of hidden cell."""
        out: dict[str, list[list[int]]] = {}
        if self.published.ndim != 2:
            return out
        table = self.published
        for state in (SUPPRESSED, SECONDARY, REDACTED):
            rows = self.cells[self.cells["state"] == state]
            pos = []
            for _, r in rows.iterrows():
                if len(self.dims) == 2 and self.kind in ("crosstab", "magnitude"):
                    ri = table.index.get_loc(r[self.dims[0]])
                    ci = table.columns.get_loc(r[self.dims[1]])
                    pos.append([int(ri), int(ci)])
                else:
                    pos.append([int(r.name), int(table.columns.get_loc(self.statistic))])
            if pos:
                out[state] = pos
        return out

    def _repr_html_(self) -> str:
        return (
            f"<p><b>{self.kind}</b>: status <b>{self.status}</b>; "
            f"{self.record.counts() or 'no cell hit'}</p>" + self.published.to_html()
        )

    def __repr__(self) -> str:
        return (
            f"CheckedTable({self.kind}, status={self.status!r}, "
            f"actions={self.record.counts()})\n{self.published!r}"
        )


def no_mitigation_error(record: CheckRecord) -> DisclosureError:
    hits = ", ".join(f"{k}: {v}" for k, v in sorted(record.rules_hit().items()))
    return DisclosureError(
        f"{len(record.findings)} cells break the disclosure rules ({hits}) and no "
        "mitigation was asked for",
        "Ask for mitigation='suppress' or 'round', or make the table coarser",
    )


def check(
    grid: Grid,
    rules: Rules,
    *,
    kind: str,
    magnitude: bool,
    mitigation: str | None = None,
    group_check: GroupCheck | None = None,
    hidden: np.ndarray | None = None,
) -> tuple[CheckRecord, np.ndarray, Primary, AuditResult | None, str]:
    """Primary checks, mitigation and audit of one grid. Returns the record, each cell's
    published value (NaN where hidden), the primary result, the audit, and per cell its
    state (as an array). ``hidden``: cells no table publishes (the common inner cells of
    tables protected together): never primary, free to move, not audited."""
    mitigation = mitigation or rules.mitigation
    record = CheckRecord(kind=kind, rules=rules.as_dict(), unit=rules.unit)
    record.properties["mitigation"] = mitigation
    if isinstance(grid.source, dict):
        record.properties["source"] = dict(grid.source)
    prim = primary(grid, rules, magnitude=magnitude)
    value = grid.cells["value"].to_numpy(dtype=float)
    hidden = np.zeros(len(value), dtype=bool) if hidden is None else hidden
    prim.mask &= ~hidden
    prim.reasons = [[] if h else r for r, h in zip(prim.reasons, hidden, strict=True)]
    state = np.full(len(value), PUBLISHED, dtype=object)
    state[hidden] = HIDDEN
    for i in np.flatnonzero(prim.mask):
        for rule in prim.reasons[i]:
            record.hit(rule, grid.key(int(i)), "pending")
    if magnitude and prim.negative.any():
        record.escalate(
            "review",
            f"{int(prim.negative.sum())} cells have a unit with a negative amount: "
            "dominance and p-ratio cannot be judged there",
        )
    if not prim.mask.any() and mitigation != "round":
        record.findings = [f for f in record.findings if f.action != "pending"]
        return record, value.copy(), prim, None, state
    if mitigation == "none":
        if prim.mask.any():
            raise no_mitigation_error(record)
    if mitigation == "round":
        shown, state, result = _redact_and_round(grid, prim, rules, magnitude, group_check, hidden)
    else:
        sup = secondary(
            grid,
            prim,
            min_count=rules.min_count,
            zeros_disclosive=rules.zeros_disclosive,
            group_check=group_check,
            already=hidden,
        )
        state[sup.suppressed & ~hidden] = SUPPRESSED
        state[sup.secondary & ~hidden] = SECONDARY
        shown = np.where(sup.suppressed, np.nan, value)
        # where zeros are published, a suppressed count holds at least one unit
        floor = 1.0 if grid.integer and not rules.zeros_disclosive else 0.0
        lo = np.where(sup.suppressed, floor, value)
        hi = np.where(sup.suppressed, np.inf, value)
        result = audit(
            grid,
            lo,
            hi,
            sup.suppressed & ~hidden,
            prim,
            min_count=rules.min_count,
            zeros_disclosive=rules.zeros_disclosive,
            group_check=group_check,
            published=~hidden,
        )
        if sup.capped:
            record.notes.append(
                f"{len(sup.capped)} cells can be worked out to within fewer units than their "
                "protection level asks, whatever is suppressed, because empty cells are "
                "published: their intervals are as wide as the table allows"
            )
            for i in sup.capped:
                record.hit(
                    "protection_limited",
                    grid.key(i),
                    "suppressed",
                    "interval as wide as the published zeros allow",
                )
        record.properties["protection_lps"] = sup.protection_lps
        record.properties["check_lps"] = sup.check_lps
    action = {SUPPRESSED: "suppressed", REDACTED: "redacted"}
    record.findings = [
        type(f)(f.rule, f.cell, action.get(state[grid.index[_key(grid, f.cell)]], "rounded"))
        for f in record.findings
    ]
    for i in np.flatnonzero(state == SECONDARY):
        record.hit("secondary", grid.key(int(i)), "secondary", "protects a primary cell")
    n_rounded = int((state == ROUNDED).sum())
    if n_rounded:
        record.properties["rounded_cells"] = n_rounded
    record.audit = result.as_dict()
    if not result.passed:
        record.escalate(
            "fail",
            f"the audit found {len(result.failures)} suppressed cells or groups that can be "
            "worked back too closely",
        )
    gone = np.isnan(shown) & ~hidden
    inner = ~grid.is_margin()
    record.properties["information_loss"] = {
        "cells_hidden": int(gone.sum()),
        "inner_cells_hidden": int((gone & inner).sum()),
        "share_of_inner_total_hidden": float(
            value[gone & inner].sum() / max(value[inner & ~hidden].sum(), 1)
        ),
    }
    return record, shown, prim, result, state


def _key(grid: Grid, cell: dict[str, str]) -> tuple[str, ...]:
    return tuple(cell[d] for d in grid.names)


def _redact_and_round(
    grid: Grid,
    prim: Primary,
    rules: Rules,
    magnitude: bool,
    group_check: GroupCheck | None,
    hidden: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, AuditResult]:
    """OpenSAFELY's way: redact the cells that break a rule, round the others (counts) to
    the rounding base, and recompute additive totals from the published cells."""
    value = grid.cells["value"].to_numpy(dtype=float)
    n = len(value)
    state = np.full(n, ROUNDED if not magnitude else PUBLISHED, dtype=object)
    shown = round_to_base(value, rules.rounding_base) if not magnitude else value.copy()
    state[prim.mask] = REDACTED
    state[hidden] = HIDDEN
    shown[prim.mask | hidden] = np.nan
    lo = np.where(prim.mask, 0.0, shown)
    hi = np.where(prim.mask, np.inf, shown)
    if not magnitude:
        half = rules.rounding_base / 2
        lo = np.where(prim.mask, 0.0, np.maximum(shown - half, 0.0))
        hi = np.where(prim.mask, np.inf, shown + half)
    lo[hidden], hi[hidden] = 0.0, np.inf
    if rules.totals_from_rounded:
        # each additive margin is the sum of its published cells, from the lowest level
        # up: it says nothing about the true total, so the attacker learns nothing of it
        levels = np.zeros(n, dtype=int)
        for d in grid.dims:
            levels += grid.cells[d.name].map(d.level).to_numpy()
        for rel in sorted(grid.relations, key=lambda r: levels[r.parent]):
            if rel.additive and state[rel.parent] not in (REDACTED, HIDDEN):
                shown[rel.parent] = np.nansum(shown[rel.children])
                state[rel.parent] = RECOMPUTED
                lo[rel.parent], hi[rel.parent] = 0.0, np.inf
    result = audit(
        grid,
        lo,
        hi,
        prim.mask,
        prim,
        min_count=rules.min_count,
        zeros_disclosive=rules.zeros_disclosive,
        group_check=group_check,
        published=~hidden,
        method="lp-highs (rounded cells as intervals)",
    )
    return shown, state, result


def cells_frame(grid: Grid, shown: np.ndarray, state: np.ndarray, statistic: str) -> pd.DataFrame:
    out = grid.cells[grid.names].copy()
    out[statistic] = shown
    out["state"] = state
    return out


def pivot(
    cells: pd.DataFrame, grid: Grid, rows: list[str], cols: list[str], statistic: str
) -> pd.DataFrame:
    """The published cross table: rows and columns in reading order, totals last."""
    order = {d.name: d.codes for d in grid.dims}
    table = cells.pivot_table(
        index=rows, columns=cols, values=statistic, aggfunc="first", dropna=False, sort=False
    )
    row_index = (
        pd.MultiIndex.from_product([order[r] for r in rows], names=rows)
        if len(rows) > 1
        else pd.Index(order[rows[0]], name=rows[0])
    )
    col_index = (
        pd.MultiIndex.from_product([order[c] for c in cols], names=cols)
        if len(cols) > 1
        else pd.Index(order[cols[0]], name=cols[0])
    )
    table = table.reindex(index=row_index, columns=col_index)
    return table


def population(frame: pd.DataFrame | None, unit: str) -> np.ndarray | None:
    """The table's distinct units as sorted 64-bit hashes (for the differencing check)."""
    if frame is None or unit not in frame.columns:
        return None
    values = pd.unique(frame[unit].astype(str))
    hashed = pd.util.hash_array(np.asarray(values, dtype=object), categorize=False)
    return np.unique(hashed.astype(np.uint64))


def names_of(x: str | Iterable[str]) -> list[str]:
    return [x] if isinstance(x, str) else list(x)


def resolve_rules(rules: Rules | str | None, unit: str | None = None) -> Rules:
    """``rules`` as a :class:`Rules`: a profile name, ``None`` (``acro``) or rules; with
    ``unit`` replacing the rules' unit column."""
    if rules is None:
        rules = Rules.profile("acro")
    elif isinstance(rules, str):
        rules = Rules.profile(rules)
    if unit is not None and unit != rules.unit:
        rules = rules.replace(unit=unit)
    return rules


def assemble(
    kind: str,
    grid: Grid,
    rows: list[str],
    cols: list[str],
    shown: np.ndarray,
    state: np.ndarray,
    record: CheckRecord,
    *,
    statistic: str,
    population: np.ndarray | None,
    label: str | None = None,
    select: np.ndarray | None = None,
) -> CheckedTable:
    """A :class:`CheckedTable` from checked cells (``select``: this table's cells of a
    joint grid)."""
    cells = cells_frame(grid, shown, state, statistic)
    if select is not None:
        cells = cells[select][rows + cols + [statistic, "state"]].reset_index(drop=True)
    dtype = "Int64" if statistic == "count" else "Float64"
    if statistic == "count":
        cells[statistic] = cells[statistic].astype("Float64").round().astype("Int64")
    else:
        cells[statistic] = cells[statistic].astype("Float64")
    if cols:
        published = pivot(cells, grid, rows, cols, statistic).astype(dtype)
    else:
        published = cells[rows + [statistic]].reset_index(drop=True)
    record.properties |= {
        "dimensions": rows + cols,
        "statistic": label or statistic,
        "cells": len(cells),
    }
    return CheckedTable(
        kind=kind,
        published=published,
        cells=cells,
        record=record,
        dims=rows + cols,
        statistic=statistic,
        population=population,
        grid=grid,
    )


def by_group(data: pd.DataFrame, groups: list[str]) -> list[tuple[dict[str, str], pd.DataFrame]]:
    """The whole of ``data`` (each group column at ``Total``) and then each group of it,
    with the group's codes as a cell key."""
    parts: list[tuple[Any, pd.DataFrame]] = [((TOTAL,) * len(groups), data)]
    if groups:
        parts += list(data.groupby(groups, sort=True, observed=True))
    out = []
    for key, part in parts:
        key = key if isinstance(key, tuple) else (key,)
        out.append(({g: str(k) for g, k in zip(groups, key, strict=True)}, part))
    return out
