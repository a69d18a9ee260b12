"""The few places where the toolkit's SQL depends on the engine.

Everything else in the definitions is SQL that DuckDB and Spark SQL both run:
``GROUP BY``, joins, ``CASE``, ``LAG``/``LEAD``/``ROW_NUMBER``/``SUM ... OVER`` with
``ROWS`` frames, ``TRY_CAST``, ``year()``/``month()``, ``make_date``,
``IS NOT DISTINCT FROM``, ``NULLS LAST``, the type name ``STRING`` (DuckDB's alias of
``VARCHAR``; Spark has no ``VARCHAR`` without a length). No ``QUALIFY``, no ``ASOF
JOIN``, no ``GROUP BY ALL``, no list or struct functions.

The functions below write the engine's spelling of the dialect in force: DuckDB's,
unless an engine runs a computation inside :func:`using` (the Spark engine of
:mod:`.spark` does), so a definition is built as SQL for the engine that runs it.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator

__all__ = [
    "DIALECT",
    "DIALECTS",
    "active",
    "count_if",
    "integer",
    "month_of_date",
    "period_series",
    "row_position",
    "text",
    "using",
    "value_at_max",
]

DIALECT = "duckdb"  # the default engine's
DIALECTS = ("duckdb", "spark")
_ACTIVE: contextvars.ContextVar[str] = contextvars.ContextVar("dialect", default=DIALECT)


def active() -> str:
    """The dialect the SQL being built is for."""
    return _ACTIVE.get()


@contextlib.contextmanager
def using(dialect: str) -> Iterator[None]:
    """Build SQL for ``dialect`` inside the block (per thread and task)."""
    if dialect not in DIALECTS:
        raise ValueError(f"unknown SQL dialect {dialect!r}")
    token = _ACTIVE.set(dialect)
    try:
        yield
    finally:
        _ACTIVE.reset(token)


def row_position() -> str:
    """1-based position of a row in a table's insertion order (Spark:
    positions come from the partitions' row counts, see :mod:`.spark`)."""
    if active() == "spark":
        raise NotImplementedError("Spark tables get their positions when registered")
    return "rowid + 1"


def integer(value: int) -> str:
    """An integer literal; parameters are validated ints, so no quoting is needed."""
    return str(int(value))


def text(value: str) -> str:
    """A string literal, quoted once here (the toolkit only quotes its own constants)."""
    return "'" + str(value).replace("'", "''") + "'"


def month_of_date(expr: str) -> str:
    """Months since year 0 (year * 12 + month - 1) of a date expression."""
    return f"(year({expr}) * 12 + month({expr}) - 1)"


def value_at_max(value: str, order: str) -> str:
    """``value`` on the row where ``order`` is largest, null if that row's value is null.

    DuckDB's ``max_by``/``arg_max`` skip rows whose value is null (so they would return
    an earlier month's value); ``arg_max_null`` does not. Spark's ``max_by`` keeps nulls.
    """
    if active() == "spark":
        return f"max_by({value}, {order})"
    return f"arg_max_null({value}, {order})"


def count_if(condition: str) -> str:
    """The number of rows where ``condition`` holds, as a BIGINT."""
    return f"CAST(sum(CASE WHEN {condition} THEN 1 ELSE 0 END) AS BIGINT)"


def period_series(first: int, last: int) -> str:
    """A one-column table ``p`` of the integers first..last (Spark: ``range``'s ``id``)."""
    if active() == "spark":
        return f"SELECT id AS p FROM range({integer(first)}, {integer(last)} + 1)"
    return f"SELECT range AS p FROM range({integer(first)}, {integer(last)} + 1)"
