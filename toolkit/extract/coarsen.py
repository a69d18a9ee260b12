"""Coarsening steps: each a pure function of a table, as a serialisable value.

A step is a small frozen value with every parameter resolved (the codes merged, the
threshold used), so the same list applied to the same table always gives the same
table, and the list can be written into a manifest and read back
(:meth:`Step.to_dict`, :func:`step_from_dict`). Steps never drop or add a row, and
each either maps a column's values through a function of the value alone (so records
that were alike stay alike) or suppresses a value in whole equivalence classes; both
only merge classes, so k never falls.

The steps (``step`` name in the dict):

- ``truncate_date``: a date to the first day of its ``month`` or ``year``;
- ``band``: an integer down to a multiple of ``width`` (birth year 1987 -> 1985);
- ``top_code``: values above ``at`` become ``at`` (amounts, household counts);
- ``kommun_to_lan``: the listed municipalities become their county (län), the first
  two digits of the four-digit code;
- ``merge_codes``: the listed codes become one code ``into`` (e.g. ``"7+8+9"``);
- ``month_to_quarter``: a month 1-12 becomes the first month of its quarter (1, 4, 7, 10);
- ``suppress``: in every record whose equivalence class over ``quasi_identifiers``
  (within ``by``) has fewer than ``min_k`` persons, the value of ``columns[0]`` is set
  to NULL; classes are then recomputed and ``columns[1]`` is suppressed where still
  needed, and so on. Where the records suppressed in every quasi-identifier are then
  still fewer than ``min_k`` persons in a cross-section, whole further classes,
  smallest first, are suppressed with them until they are not (NULL is a value, so
  the all-suppressed records are a class too).

A step with ``register`` applies to that register's table only, and its column must be
there; without one it applies to every table that has the column.

The extract builder applies the steps a request lists (``coarsening:``) to each
register after pseudonymisation (:func:`coarsen_sql`) and records them in the signed
manifest; :func:`mikrodata.toolkit.risk.coarsen.coarsen` applies them to a table in memory.

    >>> step_from_dict({"step": "band", "column": "fodelsear", "width": 5}).describe()
    'fodelsear in bands of 5'
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import duckdb

from mikrodata.toolkit.errors import BadInputError

from .source import quote, sql_literal

__all__ = [
    "STEP_KINDS",
    "Band",
    "KommunToLan",
    "MergeCodes",
    "MonthToQuarter",
    "Step",
    "Suppress",
    "TopCode",
    "TruncateDate",
    "applies",
    "cells_changed",
    "coarsen_sql",
    "step_from_dict",
    "steps_from_list",
    "steps_to_list",
]


def _in_list(values: Iterable[Any]) -> str:
    return ", ".join(sql_literal(v) for v in values)


@dataclass(frozen=True)
class Step:
    """One coarsening step. Subclasses set ``kind`` and define :meth:`expression`."""

    kind: ClassVar[str] = ""

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"step": self.kind}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value is None and f.name == "register":
                continue
            d[f.name] = list(value) if isinstance(value, tuple) else value
        return d

    @property
    def columns_changed(self) -> tuple[str, ...]:
        return (self.column,)  # type: ignore[attr-defined]

    def describe(self) -> str:
        raise NotImplementedError

    def expression(self, column: str) -> str:
        """The SQL of the new value, from the old value ``column`` (a quoted name)."""
        raise NotImplementedError


@dataclass(frozen=True)
class TruncateDate(Step):
    column: str
    to: str  # "month" or "year"
    register: str | None = None
    kind: ClassVar[str] = "truncate_date"

    def __post_init__(self) -> None:
        if self.to not in ("month", "year"):
            raise BadInputError(f"truncate_date {self.column}: 'to' must be month or year", "")

    def describe(self) -> str:
        return f"{self.column} to the {self.to}"

    def expression(self, column: str) -> str:
        return f"CAST(date_trunc('{self.to}', {column}) AS DATE)"


@dataclass(frozen=True)
class Band(Step):
    column: str
    width: int
    register: str | None = None
    kind: ClassVar[str] = "band"

    def __post_init__(self) -> None:
        if not isinstance(self.width, int) or self.width < 1:
            raise BadInputError(f"band {self.column}: width must be a whole number >= 1", "")

    def describe(self) -> str:
        return f"{self.column} in bands of {self.width}"

    def expression(self, column: str) -> str:
        return f"CAST(floor({column} / {self.width}) * {self.width} AS BIGINT)"


@dataclass(frozen=True)
class TopCode(Step):
    column: str
    at: float
    register: str | None = None
    kind: ClassVar[str] = "top_code"

    def describe(self) -> str:
        return f"{self.column} top-coded at {self.at:g}"

    def expression(self, column: str) -> str:
        at = sql_literal(self.at)
        return f"CASE WHEN {column} > {at} THEN {at} ELSE {column} END"


@dataclass(frozen=True)
class KommunToLan(Step):
    column: str
    codes: tuple[str, ...]
    below_share: float | None = None  # what chose the codes (for the reader)
    register: str | None = None
    kind: ClassVar[str] = "kommun_to_lan"

    def describe(self) -> str:
        why = f" (population share below {self.below_share:g})" if self.below_share else ""
        return f"{self.column}: {len(self.codes)} municipalities to their county{why}"

    def expression(self, column: str) -> str:
        if not self.codes:
            return column
        codes = _in_list(self.codes)
        return f"CASE WHEN {column} IN ({codes}) THEN left({column}, 2) ELSE {column} END"


@dataclass(frozen=True)
class MergeCodes(Step):
    column: str
    codes: tuple[str, ...]
    into: str
    register: str | None = None
    kind: ClassVar[str] = "merge_codes"

    def describe(self) -> str:
        return f"{self.column}: {len(self.codes)} rare codes merged into {self.into!r}"

    def expression(self, column: str) -> str:
        if not self.codes:
            return column
        return (
            f"CASE WHEN CAST({column} AS VARCHAR) IN ({_in_list(self.codes)}) "
            f"THEN {sql_literal(self.into)} ELSE {column} END"
        )


@dataclass(frozen=True)
class MonthToQuarter(Step):
    column: str
    register: str | None = None
    kind: ClassVar[str] = "month_to_quarter"

    def describe(self) -> str:
        return f"{self.column} to the first month of its quarter"

    def expression(self, column: str) -> str:
        return f"CAST((({column} - 1) // 3) * 3 + 1 AS BIGINT)"


@dataclass(frozen=True)
class Suppress(Step):
    columns: tuple[str, ...]
    min_k: int
    quasi_identifiers: tuple[str, ...]
    by: tuple[str, ...] = ()
    register: str | None = None
    kind: ClassVar[str] = "suppress"

    @property
    def columns_changed(self) -> tuple[str, ...]:
        return self.columns

    @property
    def column(self) -> str:
        return self.columns[0]

    def describe(self) -> str:
        return (
            f"local suppression of {', '.join(self.columns)} in classes of fewer than "
            f"{self.min_k} persons"
        )

    def expression(self, column: str) -> str:  # pragma: no cover - not a value map
        raise TypeError("suppress depends on whole classes, not on one value")


STEP_KINDS: dict[str, type[Step]] = {
    cls.kind: cls
    for cls in (TruncateDate, Band, TopCode, KommunToLan, MergeCodes, MonthToQuarter, Suppress)
}


def step_from_dict(d: Mapping[str, Any]) -> Step:
    """A step from its dict (as :meth:`Step.to_dict` writes it); a clear error otherwise."""
    kind = d.get("step")
    if kind not in STEP_KINDS:
        raise BadInputError(
            f"unknown coarsening step {kind!r}", f"Use one of: {', '.join(sorted(STEP_KINDS))}"
        )
    cls = STEP_KINDS[kind]
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(d) - names - {"step"})
    if unknown:
        raise BadInputError(f"coarsening step {kind}: unknown field {', '.join(unknown)}", "")
    args = {k: tuple(v) if isinstance(v, list) else v for k, v in d.items() if k != "step"}
    try:
        return cls(**args)
    except TypeError:
        required = [
            f.name
            for f in dataclasses.fields(cls)
            if f.default is dataclasses.MISSING and f.name not in args
        ]
        raise BadInputError(
            f"coarsening step {kind}: missing field {', '.join(required)}", ""
        ) from None


def steps_from_list(items: Sequence[Mapping[str, Any]]) -> list[Step]:
    return [step_from_dict(d) for d in items]


def steps_to_list(steps: Sequence[Step]) -> list[dict[str, Any]]:
    return [s.to_dict() for s in steps]


def applies(step: Step, register: str | None, columns: Sequence[str]) -> bool:
    """Whether ``step`` applies to a table of ``register`` with ``columns``."""
    if step.register is not None and register is not None and step.register != register:
        return False
    missing = [c for c in step.columns_changed if c not in columns]
    if isinstance(step, Suppress):
        missing += [c for c in (*step.quasi_identifiers, *step.by) if c not in columns]
    if not missing:
        return True
    if step.register is not None:
        raise BadInputError(
            f"coarsening step {step.kind} for {step.register}: no column "
            f"{', '.join(sorted(set(missing)))}",
            "Fix the step or the register it names",
        )
    return False


def _suppress_sql(step: Suppress, relation: str, person: str | None) -> str:
    keys = ", ".join(quote(c) for c in (*step.by, *step.quasi_identifiers))
    part = f"PARTITION BY {keys}" if keys else ""
    who = quote(person) if person else "_row_id"
    sql = relation
    for col in step.columns:
        c = quote(col)
        sql = (
            f"(SELECT * REPLACE (CASE WHEN count(DISTINCT {who}) OVER ({part}) < "
            f"{int(step.min_k)} THEN NULL ELSE {c} END AS {c}) FROM {sql})"
        )
    return _pad_sql(step, sql, who, part) if step.quasi_identifiers else sql


def _pad_sql(step: Suppress, sql: str, who: str, part: str) -> str:
    """Where the records suppressed in every quasi-identifier are fewer than ``min_k``
    persons in a cross-section, suppress whole further classes, smallest first, until
    they are not: the all-suppressed class is a class like any other."""
    k = int(step.min_k)
    qis = [quote(c) for c in step.quasi_identifiers]
    by = [quote(c) for c in step.by]
    keys = [*by, *qis]
    all_null = " AND ".join(f"{c} IS NULL" for c in qis)
    by_sel = "".join(f"{c}, " for c in by)
    group = f"GROUP BY {', '.join(by)}" if by else ""
    on_by = " AND ".join(f"r.{c} IS NOT DISTINCT FROM n.{c}" for c in by) or "true"
    same = " AND ".join(f"p.{c} IS NOT DISTINCT FROM cur.{c}" for c in keys)
    return f"""(
        WITH cur AS (SELECT *, count(DISTINCT {who}) OVER ({part}) AS _sz FROM {sql}),
        need AS (SELECT {by_sel}{k} - count(DISTINCT {who}) AS _need FROM cur
                 WHERE {all_null} {group} HAVING count(DISTINCT {who}) < {k}),
        cls AS (SELECT {", ".join(keys)}, any_value(_sz) AS _sz FROM cur
                WHERE NOT ({all_null}) GROUP BY {", ".join(keys)}),
        ranked AS (SELECT r.*, n._need, sum(r._sz) OVER (
                       {f"PARTITION BY {', '.join(f'r.{c}' for c in by)}" if by else ""}
                       ORDER BY r._sz, {", ".join(f"r.{c}" for c in qis)}
                       ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS _before
                   FROM cls r JOIN need n ON {on_by}),
        pick AS (SELECT * FROM ranked WHERE coalesce(_before, 0) < _need),
        marked AS (SELECT cur.*, EXISTS (SELECT 1 FROM pick p WHERE {same}) AS _hit FROM cur)
        SELECT * EXCLUDE (_sz, _hit) REPLACE ({
        ", ".join(f"CASE WHEN _hit THEN NULL ELSE {c} END AS {c}" for c in qis)
    }) FROM marked)"""


def coarsen_sql(
    relation: str,
    columns: Mapping[str, str],
    steps: Sequence[Step],
    *,
    register: str | None = None,
    person: str | None = None,
) -> str:
    """The DuckDB ``SELECT`` that applies ``steps`` to ``relation``, whose columns and
    DuckDB types are ``columns``. Each changed column keeps its type (codes are text).
    ``person``: the person key for ``suppress`` (without one a row is a person, and the
    relation must have ``_row_id``)."""
    sql = relation
    for step in steps:
        if not applies(step, register, list(columns)):
            continue
        if isinstance(step, Suppress):
            sql = _suppress_sql(step, sql, person)
            continue
        c = quote(step.column)
        if isinstance(step, MergeCodes | KommunToLan) and columns[step.column] != "VARCHAR":
            raise BadInputError(
                f"coarsening step {step.kind}: column {step.column} is not text",
                "Merge codes only in code columns",
            )
        value = f"CAST({step.expression(c)} AS {columns[step.column]})"
        sql = f"(SELECT * REPLACE ({value} AS {c}) FROM {sql})"
    return f"SELECT * FROM {sql}"


def cells_changed(
    con: duckdb.DuckDBPyConnection, before: str, after: str, step: Step, column: str
) -> int:
    """The cells of ``column`` that ``step`` changed, from the relation ``before`` it and
    ``after`` it. A value map changes a cell when the new value differs; a suppression
    changes a cell when it becomes NULL."""
    c = quote(column)
    if isinstance(step, Suppress):
        sql = (
            f"SELECT (SELECT count(*) FROM {after} WHERE {c} IS NULL) - "
            f"(SELECT count(*) FROM {before} WHERE {c} IS NULL)"
        )
    else:
        sql = f"SELECT count(*) FROM {before} WHERE ({step.expression(c)}) IS DISTINCT FROM {c}"
    return int(con.execute(sql).fetchall()[0][0])
