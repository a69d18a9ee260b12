"""Reading a delivered register: ``DIR/<register>/**/*.parquet`` (hive partitions such as
``statistikar=2015/`` are read as columns), through DuckDB so it streams.

A register delivered in another format (``DIR/<register>/`` of CSV, fixed-width, SAS,
Stata or SPSS files, or one file ``DIR/<register>.<suffix>``) is read by the one
delivery reader and staged as Parquet (:mod:`quality.delivery.stage`) inside the
build's staging context; the staged rows keep their delivered file and row."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb

from mikrodata.quality.delivery.stage import active, delivery_path, staged
from mikrodata.toolkit.errors import BadInputError

__all__ = ["connect", "quote", "source_files", "source_relation", "sql_literal"]


def quote(name: str) -> str:
    """A DuckDB identifier in double quotes."""
    return '"' + name.replace('"', '""') + '"'


def sql_literal(value: Any) -> str:
    """A DuckDB literal for a text or a number (the one quoter of values)."""
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadInputError(f"a value of type {type(value).__name__} is not a number or text")
    return repr(value)


def _staged_file(registers_dir: Path, register: str) -> Path | None:
    found = delivery_path(Path(registers_dir), register)
    if found is None or found[1] == "parquet" or not active():
        return None
    return staged(found[0], register).file


def source_files(registers_dir: Path, register: str) -> list[Path]:
    """The Parquet files of ``register`` under ``registers_dir`` (staged, for another
    format); an error if none."""
    staged_file = _staged_file(registers_dir, register)
    if staged_file is not None:
        return [staged_file]
    found = delivery_path(Path(registers_dir), register)
    if found is not None and found[1] == "parquet" and found[0].is_file():
        return [found[0]]  # one file, DIR/<register>.parquet
    root = Path(registers_dir) / register
    files = sorted(root.rglob("*.parquet")) if root.is_dir() else []
    if not files:
        raise BadInputError(
            f"no delivered files for register {register} under {registers_dir}",
            f"Deliver it as {registers_dir}/{register}/<year column>=YYYY/part-0.parquet, "
            f"or as {register}.csv, .dta, .sas7bdat, .xpt or .sav (see docs/deliveries.md)",
        )
    return files


def source_relation(registers_dir: Path, register: str) -> str:
    """A DuckDB table expression over the register's files, with ``_file`` and ``_row``
    (the row's file and its row number in that file, from 1) for reject records."""
    staged_file = _staged_file(registers_dir, register)
    if staged_file is not None:  # carries _file and _row of the delivered file
        return f"(SELECT * FROM read_parquet([{sql_literal(str(staged_file))}]))"
    files = ", ".join(sql_literal(str(f)) for f in source_files(registers_dir, register))
    return (
        f"(SELECT * EXCLUDE (filename, file_row_number), filename AS _file, "
        f"file_row_number + 1 AS _row FROM read_parquet([{files}], hive_partitioning = true, "
        "union_by_name = true, filename = true, file_row_number = true))"
    )


def connect(scratch: Path) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with bounded memory that spills to ``scratch``."""
    con = duckdb.connect()
    con.execute(f"SET temp_directory = {sql_literal(str(scratch))}")
    con.execute("SET memory_limit = '4GB'")
    con.execute("SET preserve_insertion_order = true")
    return con
