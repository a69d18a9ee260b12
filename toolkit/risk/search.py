"""The search for the least coarsening that reaches a minimum k and a unicity bound.

Greedy, one step at a time, re-measuring after each:

1. measure the extract (k, persons below k, unicity at the bound's number of points);
2. try the next rung of every ladder (:func:`~mikrodata.toolkit.risk.ladders.next_steps`):
   for each, the risk it removes (the share of persons below k, plus the mean record
   risk, plus the unicity above the bound) per unit of information it costs (the share
   of the column's original entropy it removes); take the best, apply, measure again;
3. stop global recoding when the bound holds, when nothing helps, or when the persons
   still below k are few (``suppress_below``, default 1% of persons): then suppress
   their values locally (:class:`~mikrodata.toolkit.risk.coarsen.Suppress`, the column
   with the most distinct values first), which touches only the records at risk.

Each applied step is reported with the risk after it and the information it lost: per
column the cells changed (and their share) and the entropy before and after, in bits
(NULL counts as a value, so a suppression can raise the entropy: its cost is the cells
it suppressed).
The result's :attr:`SearchResult.steps` is the serialisable list to give
:func:`~mikrodata.toolkit.risk.coarsen.coarsen` (or the extract builder).

    >>> import duckdb, pandas as pd
    >>> from mikrodata.toolkit.risk.tables import risk_table
    >>> con = duckdb.connect()
    >>> rows = pd.DataFrame({"lopnr": list("abcdef"), "ar": [2020] * 6,
    ...                      "kommun": ["0180"] * 4 + ["0509", "0512"]})
    >>> result = search(con, [risk_table(con, rows, "lss")], Targets(min_k=2))
    >>> result.reached, [s.kind for s in result.steps]
    (True, ['kommun_to_lan'])
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import duckdb

from mikrodata.toolkit.errors import BadInputError
from mikrodata.toolkit.extract.source import quote
from mikrodata.toolkit.progress import progress

from .assess import count_persons, cross_sections
from .coarsen import MonthToQuarter, Step, Suppress, applies, cells_changed, coarsen_sql
from .ladders import next_steps
from .longitudinal import trajectory, unicity
from .tables import RiskTable

__all__ = ["Applied", "Measured", "SearchResult", "Targets", "apply_steps", "search"]

_stage = itertools.count()


@dataclass(frozen=True)
class Targets:
    """What the coarsening must reach: the request's ``output_rules.risk``."""

    min_k: int
    max_unicity: float | None = None
    points: int = 4  # unicity is bounded at this many points

    def __post_init__(self) -> None:
        if self.min_k < 1 or (self.max_unicity is not None and not 0 <= self.max_unicity <= 1):
            raise BadInputError(
                "risk targets: min_k must be >= 1 and max_unicity between 0 and 1", ""
            )


@dataclass(frozen=True)
class Measured:
    """The risk after a step (a light summary; the report measures everything)."""

    k: int | None
    persons: int
    persons_below_k: int
    records_below_k: int
    mean_risk: float  # mean over records of 1 / class size
    trajectory_k: int | None
    unicity: float | None  # at Targets.points
    unicity_sample: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Applied:
    """One applied step, the risk after it and the information it lost."""

    step: Step
    measured: Measured
    information_lost: dict[str, dict[str, float]]

    def as_dict(self) -> dict[str, Any]:
        return {
            "step": self.step.to_dict(),
            "description": self.step.describe(),
            "after": self.measured.as_dict(),
            "information_lost": self.information_lost,
        }


@dataclass(frozen=True)
class SearchResult:
    targets: Targets
    before: Measured
    applied: tuple[Applied, ...]
    reached: bool
    tables: tuple[RiskTable, ...]  # the coarsened tables, on the same connection

    @property
    def steps(self) -> list[Step]:
        return [a.step for a in self.applied]

    @property
    def after(self) -> Measured:
        return self.applied[-1].measured if self.applied else self.before

    def as_dict(self) -> dict[str, Any]:
        return {
            "targets": asdict(self.targets),
            "reached": self.reached,
            "before": self.before.as_dict(),
            "after": self.after.as_dict(),
            "applied": [a.as_dict() for a in self.applied],
            "steps": [s.to_dict() for s in self.steps],
        }


def apply_steps(
    tables: Sequence[RiskTable], steps: Sequence[Step], *, materialise: bool = True
) -> list[RiskTable]:
    """``tables`` with ``steps`` applied (each a new DuckDB table, or a view)."""
    out = []
    for t in tables:
        sql = coarsen_sql(
            t.relation, t.column_types(), steps, register=t.register, person=t.roles.person
        )
        name = f"_risk_stage_{next(_stage)}"
        kind = "TABLE" if materialise else "VIEW"
        t.con.execute(f"CREATE OR REPLACE TEMP {kind} {name} AS {sql}")
        out.append(t.with_relation(name))
    return out


def _measure(
    con: duckdb.DuckDBPyConnection,
    tables: Sequence[RiskTable],
    targets: Targets,
    sample: int,
    seed: int,
    *,
    full: bool,
) -> Measured:
    sections, below = cross_sections(con, tables, targets.min_k, l_diversity=False)
    ks = [c.k for c in sections.values() if c.k is not None]
    persons = count_persons(con, tables)
    u = None
    if targets.max_unicity is not None or full:
        u = unicity(con, tables, (targets.points,), sample=sample, seed=seed)[targets.points]
    return Measured(
        k=min(ks) if ks else None,
        persons=int(persons),
        persons_below_k=below,
        records_below_k=sum(c.records_below_k for c in sections.values()),
        mean_risk=sum((c.mean_risk or 0.0) * c.records for c in sections.values())
        / max(sum(c.records for c in sections.values()), 1),
        trajectory_k=trajectory(con, tables, targets.min_k).k if full else None,
        unicity=None if u is None else u.share,
        unicity_sample=0 if u is None else u.sample,
    )


def _risk(m: Measured, targets: Targets) -> float:
    # The share below k alone is flat while nearly everyone is below k; the mean record
    # risk still falls as classes grow, so the search can make progress from there.
    r = (m.persons_below_k / m.persons if m.persons else 0.0) + m.mean_risk
    if targets.max_unicity is not None and m.unicity is not None:
        r += max(0.0, m.unicity - targets.max_unicity)
    return r


def _reached(m: Measured, targets: Targets) -> bool:
    k_ok = m.k is None or m.k >= targets.min_k
    u_ok = targets.max_unicity is None or (m.unicity or 0.0) <= targets.max_unicity
    return k_ok and u_ok


def _entropy(tables: Sequence[RiskTable], column: str) -> float:
    parts = [
        f"SELECT CAST({quote(column)} AS VARCHAR) AS v FROM {t.relation}"
        for t in tables
        if column in t.column_types()
    ]
    if not parts:
        return 0.0
    h = (
        tables[0]
        .con.execute(
            f"SELECT -sum(n / tot * log2(n / tot)) FROM (SELECT count(*) AS n, "
            f"sum(count(*)) OVER () AS tot FROM ({' UNION ALL '.join(parts)}) GROUP BY v)"
        )
        .fetchall()[0][0]
    )
    return max(float(h or 0.0), 0.0)


def _information_lost(
    before: Sequence[RiskTable], after: Sequence[RiskTable], step: Step
) -> dict[str, dict[str, float]]:
    lost: dict[str, dict[str, float]] = {}
    for col in step.columns_changed:
        changed = cells = 0
        for b, a in zip(before, after, strict=True):
            types = b.column_types()
            if col in types and applies(step, b.register, list(types)):
                changed += cells_changed(b.con, b.relation, a.relation, step, col)
                cells += b.rows()
        lost[col] = {
            "cells_changed": changed,
            "share_of_cells": changed / cells if cells else 0.0,
            "entropy_bits_before": _entropy(before, col),
            "entropy_bits_after": _entropy(after, col),
        }
    return lost


def _project(tables: Sequence[RiskTable]) -> list[RiskTable]:
    """Only the columns the measures read (person, period, quasi-identifiers, sensitive)."""
    out = []
    for t in tables:
        r = t.roles
        keep = [c for c in (r.person, *r.period, *r.quasi_identifiers, *r.sensitive) if c]
        cols = ", ".join(quote(c) for c in dict.fromkeys([*keep, "_row_id"]))
        name = f"_risk_stage_{next(_stage)}"
        t.con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT {cols} FROM {t.relation}")
        out.append(t.with_relation(name))
    return out


def _changes_nothing(tables: Sequence[RiskTable], step: Step) -> bool:
    if isinstance(step, Suppress):
        return False
    for t in tables:
        types = t.column_types()
        if applies(step, t.register, list(types)) and cells_changed(
            t.con, t.relation, t.relation, step, step.column
        ):
            return False
    return True


def _suppression(tables: Sequence[RiskTable], min_k: int) -> list[Suppress]:
    """One local suppression per register: its quasi-identifiers, most distinct first."""
    steps = []
    for t in tables:
        qis = t.roles.quasi_identifiers
        if not qis:
            continue
        counts = t.con.execute(
            "SELECT "
            + ", ".join(f"count(DISTINCT {quote(c)})" for c in qis)
            + f" FROM {t.relation}"
        ).fetchall()[0]
        order = tuple(c for _, c in sorted(zip(counts, qis, strict=True), key=lambda x: -x[0]))
        by = (t.roles.year,) if t.roles.year else ()
        steps.append(Suppress(order, min_k, qis, by, register=t.register))
    return steps


def search(
    con: duckdb.DuckDBPyConnection,
    tables: Sequence[RiskTable],
    targets: Targets,
    *,
    sample: int = 10_000,
    trial_sample: int = 2_000,
    seed: int = 0,
    max_steps: int = 30,
    suppress_below: float = 0.01,
) -> SearchResult:
    """The least coarsening of ``tables`` that reaches ``targets`` (module docstring)."""
    current = _project(tables)
    originals: dict[str, float] = {}
    before = m = _measure(con, current, targets, sample, seed, full=True)
    applied: list[Applied] = []
    skipped: list[Step] = []  # rungs that change nothing here: the ladder moves past them

    def take(step: Step) -> None:
        nonlocal current, m
        nxt = apply_steps(current, [step])
        lost = _information_lost(current, nxt, step)
        current = nxt
        m = _measure(con, current, targets, sample, seed, full=True)
        applied.append(Applied(step, m, lost))

    with progress("risk: search", total=max_steps) as task:
        while len(applied) < max_steps and not _reached(m, targets):
            unicity_ok = targets.max_unicity is None or (m.unicity or 0.0) <= targets.max_unicity
            if unicity_ok and m.persons_below_k <= suppress_below * m.persons:
                break
            candidates = next_steps(current, [a.step for a in applied] + skipped, targets.min_k)
            if targets.max_unicity is None:
                candidates = [c for c in candidates if not isinstance(c, MonthToQuarter)]
            # Trials are measured on a smaller unicity sample; compare like with like.
            base = _measure(con, current, targets, trial_sample, seed, full=False)
            best: tuple[float, Step] | None = None
            while candidates:
                cand = candidates.pop(0)
                col = cand.columns_changed[0]
                if _changes_nothing(current, cand):
                    skipped.append(cand)
                    candidates += [
                        c
                        for c in next_steps(current, [a.step for a in applied] + skipped, 1)
                        if c.columns_changed[0] == col and c.kind == cand.kind
                    ][:1]
                    continue
                if col not in originals:
                    originals[col] = _entropy(tables, col) or 1.0
                trial = apply_steps(current, [cand], materialise=False)
                tm = _measure(con, trial, targets, trial_sample, seed, full=False)
                gain = _risk(base, targets) - _risk(tm, targets)
                loss = max(_entropy(current, col) - _entropy(trial, col), 0.0) / originals[col]
                score = gain / (loss + 1e-3)
                if gain > 0 and (best is None or score > best[0]):
                    best = (score, cand)
                for t in trial:
                    con.execute(f"DROP VIEW {t.relation}")
            if best is None:
                break
            take(best[1])
            task.advance()
        if m.k is not None and m.k < targets.min_k:
            for step in _suppression(current, targets.min_k):
                take(step)
    return SearchResult(targets, before, tuple(applied), _reached(m, targets), tuple(current))
