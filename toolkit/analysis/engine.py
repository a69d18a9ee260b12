"""Where the toolkit's relational definitions run: DuckDB, embedded and out of core.

Every transformation in :mod:`mikrodata.toolkit.analysis` is written once, as SQL of
relational operations and window functions (see :mod:`.dialect` for the few places a
second engine would differ), and run here. Inputs may be pandas DataFrames, Arrow
tables or DuckDB relations; results come back as pandas frames with Arrow-backed
columns::

    with Engine() as engine:
        engine.register("eb", frame, row_position=True)
        table = engine.arrow("SELECT count(*) AS n FROM eb")

``row_position=True`` adds ``__row``, the 0-based position of each row in the input:
issues tables name rows by it, and a frame already sorted by person and period is
recognised through it (``spells`` then skips its sort).
"""

from __future__ import annotations

from collections.abc import Iterable

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from mikrodata.toolkit.errors import BadInputError

from . import dialect

__all__ = [
    "Engine",
    "ROW",
    "as_arrow",
    "column_names",
    "is_spark_frame",
    "to_pandas",
]

ROW = "__row"  # the input position column added by Engine.register(row_position=True)


def is_spark_frame(data: object) -> bool:
    """Is ``data`` a Spark DataFrame? (Known without importing pyspark, an optional
    extra.)"""
    return type(data).__module__.startswith("pyspark.") and hasattr(data, "sparkSession")


def column_names(data: object, what: str = "frame") -> list[str]:
    """The column names of a pandas frame, Arrow table, DuckDB relation or Spark
    DataFrame."""
    if is_spark_frame(data):
        return [str(c) for c in data.columns]  # type: ignore[attr-defined]
    if isinstance(data, pd.DataFrame):
        return [str(c) for c in data.columns]
    if isinstance(data, pa.Table):
        return list(data.column_names)
    if isinstance(data, duckdb.DuckDBPyRelation):
        return list(data.columns)
    raise BadInputError(
        f"{what} is a {type(data).__name__}, not a table",
        "Pass a pandas DataFrame, a pyarrow Table or a DuckDB relation",
    )


def as_arrow(data: object, what: str = "frame") -> pa.Table | pa.RecordBatchReader:
    """An Arrow view of the input (zero-copy where the columns are Arrow already)."""
    column_names(data, what)  # type check with the one error message
    if isinstance(data, pd.DataFrame):
        frame = data.reset_index(drop=True)
        frame.columns = [str(c) for c in frame.columns]
        return pa.Table.from_pandas(frame, preserve_index=False)
    if isinstance(data, pa.Table):
        return data
    return data.to_arrow_reader()


def to_pandas(table: pa.Table) -> pd.DataFrame:
    """A result as pandas with Arrow-backed columns (no copy of strings into objects)."""
    return table.to_pandas(types_mapper=pd.ArrowDtype)


class Engine:
    """One embedded DuckDB connection for one computation.

    ``DIALECT`` names the SQL it runs (:mod:`.dialect`); ``distributed`` is False: the
    whole input is at hand in this process, so one-machine shortcuts may be taken.

    ``memory_limit`` (e.g. ``"8GB"``) and ``temp_directory`` let DuckDB spill to disk
    for inputs larger than memory; ``threads`` defaults to DuckDB's choice.
    """

    DIALECT = "duckdb"
    distributed = False

    def __init__(
        self,
        threads: int | None = None,
        memory_limit: str | None = None,
        temp_directory: str | None = None,
    ) -> None:
        # Stages are ordered explicitly (ORDER BY) where order matters; not keeping the
        # insertion order lets DuckDB write intermediate tables in parallel.
        config: dict[str, object] = {"preserve_insertion_order": False}
        if threads is not None:
            config["threads"] = int(threads)
        if memory_limit is not None:
            config["memory_limit"] = str(memory_limit)
        if temp_directory is not None:
            config["temp_directory"] = str(temp_directory)
        self.con = duckdb.connect(config=config)

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.con.close()

    def register(
        self, name: str, data: object, row_position: bool = False, what: str | None = None
    ) -> list[str]:
        """Make ``data`` queryable as ``name``; returns its column names."""
        arrow = as_arrow(data, what or name)
        if isinstance(arrow, pa.RecordBatchReader):
            # A relation of another connection: copied once into this engine (DuckDB's
            # own storage, which spills to disk), in the relation's order.
            self.con.register(f"{name}__reader", arrow)
            position = f", {dialect.row_position()} - 1 AS {ROW}" if row_position else ""
            self.con.execute(f"CREATE TEMP TABLE {name} AS SELECT *{position} FROM {name}__reader")
            self.con.unregister(f"{name}__reader")
        else:
            if row_position:
                arrow = arrow.append_column(ROW, pa.array(np.arange(arrow.num_rows)))
            self.con.register(name, arrow)
            return [c for c in arrow.column_names if c != ROW]  # no DESCRIBE round trip
        return [c for c in self.columns(name) if c != ROW]

    def empty(self, name: str, columns: Iterable[tuple[str, str]]) -> None:
        """An empty table ``name`` with the given (column, SQL type) pairs."""
        cols = ", ".join(f"{c} {t}" for c, t in columns)
        self.con.execute(f"CREATE TEMP TABLE {name} ({cols})")

    def columns(self, name: str) -> list[str]:
        return [row[0] for row in self.con.sql(f"DESCRIBE {name}").fetchall()]

    def execute(self, sql: str) -> None:
        self.con.execute(sql)

    def view(self, name: str, sql: str) -> None:
        """A named query, computed where it is used (nothing is stored)."""
        self.con.execute(f"CREATE OR REPLACE TEMP VIEW {name} AS {sql}")

    def table(self, name: str, sql: str) -> None:
        """Materialise a stage: later stages read it instead of recomputing it."""
        self.con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS {sql}")

    def arrow(self, sql: str) -> pa.Table:
        return self.con.sql(sql).to_arrow_table()

    def frame(self, sql: str) -> pd.DataFrame:
        return to_pandas(self.arrow(sql))

    def row(self, sql: str) -> tuple:
        """The first row of a query (the result is read to its end, so the connection
        is free for the next statement)."""
        rows = self.con.sql(sql).fetchall()
        return rows[0] if rows else ()

    def scalar(self, sql: str) -> object:
        row = self.row(sql)
        return row[0] if row else None
