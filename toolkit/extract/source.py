"""Reading a delivered register: ``DIR/<register>/**/*.parquet`` (hive partitions such as
``statistikar=2015/`` are read as columns), through DuckDB so it streams."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb

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


def source_files(registers_dir: Path, register: str) -> list[Path]:
    """The Parquet files of ``register`` under ``registers_dir``; an error if none."""
    root = Path(registers_dir) / register
    files = sorted(root.rglob("*.parquet")) if root.is_dir() else []
    if not files:
        raise BadInputError(
            f"no Parquet files for register {register} under {registers_dir}",
            f"Deliver it as {registers_dir}/{register}/<year column>=YYYY/part-0.parquet",
        )
    return files


def source_relation(registers_dir: Path, register: str) -> str:
    """A DuckDB table expression over the register's files, with ``_file`` and ``_row``
    (the row's file and its row number in that file, from 1) for reject records."""
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
