"""The toolkit's definitions on Spark: the same SQL, run by Spark SQL past one machine.

:class:`SparkEngine` has the methods of :class:`~.engine.Engine` (register, view, table,
arrow, row, ...), so spells and the official measures run their one SQL definition on
either engine; :mod:`.dialect` writes the few functions Spark spells differently
(``max_by``, ``range``). The results are identical to DuckDB's (the tests compare them
on the synthetic registers)::

    from pyspark.sql import SparkSession
    spark = SparkSession.builder.getOrCreate()
    s = mikrodata.spells(eb, gap=1, engine="spark", spark=spark)

Inputs may be Spark DataFrames (they stay on the cluster; their rows are numbered in
partition order, see :func:`~mikrodata.pseudonymisation.spark.with_row_numbers`) or
pandas/Arrow tables (sent to the cluster first). Results come back to the driver as
pandas frames with Arrow-backed columns, as with DuckDB: spells and person-years are
far fewer than register rows.

One computation at a time per engine: stages are session temporary views (named as in
the SQL), dropped and unpersisted by :meth:`SparkEngine.close`.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd
import pyarrow as pa

from mikrodata.pseudonymisation.spark import local_arrow, spark_session_of, with_row_numbers

from .engine import ROW, as_arrow, is_spark_frame, to_pandas

__all__ = ["SparkEngine"]


def _sendable(table: pa.Table) -> pa.Table:
    """An Arrow table Spark can take: dictionary (categorical) columns as their values."""
    for i, f in enumerate(table.schema):
        if pa.types.is_dictionary(f.type):
            table = table.set_column(i, f.name, table.column(i).cast(f.type.value_type))
    return table


class SparkEngine:
    """The toolkit's SQL run by a SparkSession (``spark``, or the active one)."""

    DIALECT = "spark"
    distributed = True

    def __init__(self, spark: object = None) -> None:
        self.spark = spark_session_of(None, spark)
        self._views: list[str] = []
        self._cached: list[object] = []

    def __enter__(self) -> SparkEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for df in self._cached:
            df.unpersist()  # type: ignore[attr-defined]
        catalog = self.spark.catalog  # type: ignore[attr-defined]
        for name in dict.fromkeys(self._views):
            catalog.dropTempView(name)
        self._cached, self._views = [], []

    def _name(self, name: str, df: object) -> None:
        df.createOrReplaceTempView(name)  # type: ignore[attr-defined]
        self._views.append(name)

    def dataframe(self, data: object, row_position: bool = False, what: str = "frame"):
        """``data`` as a Spark DataFrame; ``row_position`` adds ``__row`` (0-based)."""
        if is_spark_frame(data):
            if not row_position:
                return data
            return with_row_numbers(data, ROW, start=0)
        arrow = as_arrow(data, what)
        if isinstance(arrow, pa.RecordBatchReader):
            arrow = arrow.read_all()
        if row_position:
            arrow = arrow.append_column(ROW, pa.array(range(arrow.num_rows), pa.int64()))
        return self.spark.createDataFrame(_sendable(arrow))  # type: ignore[attr-defined]

    def register(
        self, name: str, data: object, row_position: bool = False, what: str | None = None
    ) -> list[str]:
        """Make ``data`` queryable as ``name``; returns its column names."""
        df = self.dataframe(data, row_position, what or name)
        self._name(name, df)
        return [c for c in df.columns if c != ROW]

    def empty(self, name: str, columns: Iterable[tuple[str, str]]) -> None:
        """An empty table ``name`` with the given (column, SQL type) pairs."""
        cols = ", ".join(f"CAST(NULL AS {t}) AS {c}" for c, t in columns)
        self._name(name, self.spark.sql(f"SELECT {cols} WHERE 1 = 0"))  # type: ignore[attr-defined]

    def columns(self, name: str) -> list[str]:
        return list(self.spark.table(name).columns)  # type: ignore[attr-defined]

    def execute(self, sql: str) -> None:
        self.spark.sql(sql).collect()  # type: ignore[attr-defined]

    def view(self, name: str, sql: str) -> None:
        """A named query, computed where it is used (nothing is stored)."""
        self._name(name, self.spark.sql(sql))  # type: ignore[attr-defined]

    def table(self, name: str, sql: str) -> None:
        """A stage later stages read: kept (memory, then local disk) once computed."""
        df = self.spark.sql(sql).persist()  # type: ignore[attr-defined]
        self._cached.append(df)
        self._name(name, df)

    def arrow(self, sql: str) -> pa.Table:
        return local_arrow(self.spark.sql(sql).toArrow())  # type: ignore[attr-defined]

    def frame(self, sql: str) -> pd.DataFrame:
        return to_pandas(self.arrow(sql))

    def row(self, sql: str) -> tuple:
        rows = self.spark.sql(sql).collect()  # type: ignore[attr-defined]
        return tuple(rows[0]) if rows else ()

    def scalar(self, sql: str) -> object:
        row = self.row(sql)
        return row[0] if row else None
