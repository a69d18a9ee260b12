"""A delivery or extract on disk, read a year and a batch at a time.

The data is one Parquet file or a hive-partitioned dataset,
``DIR/<register>/statistikar=YYYY/part-*.parquet`` (``DIR/<register>`` may be given
directly). DuckDB reads it: a year is split into batches by a hash of the first key
column (the person), so every row of one key lands in the same batch and the
unique-key check stays exact while a batch, not the whole register, is in memory.

Every row keeps where it came from: ``_file`` (path relative to the data root) and
``_row`` (the row's number in that file, counting its first data row as 1, as the
rejects of ``pseudonymise`` and ``extract build`` count), the only way rows are named in
reports.

A delivery in another format (CSV, fixed width, SAS, Stata, SPSS) is first staged as
Parquet by :mod:`quality.delivery.stage`, keeping each row's delivered file and row;
rows it cannot read as their catalogue types are in :attr:`Source.staged`'s rejects.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandas as pd

from mikrodata.quality.delivery.stage import Staged, active, delivery_path, staged, staging
from mikrodata.toolkit.errors import BadInputError

__all__ = ["FILE_COLUMN", "ROW_COLUMN", "Source", "open_source"]

FILE_COLUMN = "_file"
ROW_COLUMN = "_row"


def _sql_str(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


@dataclass
class Source:
    """The Parquet data of one register: its files, root, year column and key."""

    register: str
    root: Path
    files: list[Path]
    year_column: str
    year: int | None = None  # the year asked for; used as the year of a file without one
    staged: Staged | None = None  # a delivery in another format, staged as Parquet
    _stack: contextlib.ExitStack | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self._con = duckdb.connect()
        self._con.execute("SET threads TO 2")
        # DuckDB draws its own progress bar on long queries; ours is the only one. In a
        # Jupyter kernel without ipywidgets DuckDB refuses to change the setting at all
        # (and draws no bar there), so a notebook must not fail on it.
        with contextlib.suppress(duckdb.InvalidInputException):
            self._con.execute("SET enable_progress_bar = false")
        file_list = ", ".join(_sql_str(str(f)) for f in self.files)
        if self.staged is not None:
            # The staged file carries the delivered file and row (from 1) of each row.
            self._scan = (
                f"(SELECT * EXCLUDE (_file, _row), _file AS filename, "
                f"_row AS file_row_number FROM read_parquet([{file_list}]))"
            )
        else:
            # DuckDB numbers a file's rows from 0; reports count them from 1.
            self._scan = (
                f"(SELECT * REPLACE (file_row_number + 1 AS file_row_number) "
                f"FROM read_parquet([{file_list}], hive_partitioning=true, "
                "union_by_name=true, filename=true, file_row_number=true))"
            )
        try:
            self.columns = [
                c
                for c in self._con.sql(f"SELECT * FROM {self._scan} LIMIT 0").columns
                if c not in ("filename", "file_row_number")
            ]
            self._read_pseudonyms_under_catalogue_names()
        except duckdb.Error as exc:
            self._con.close()
            # DuckDB names the file and the problem, never row values.
            first = str(exc).splitlines()[0][:200]
            raise BadInputError(
                f"cannot read the Parquet data: {first}", "Check that --in holds Parquet files"
            ) from None
        # A single file without a year column holds the year asked for.
        self.fixed_year = self.year if self.year_column not in self.columns else None
        if self.fixed_year is None and self.year_column not in self.columns:
            raise BadInputError(
                f"the data has no column {self.year_column!r}",
                "Pass --year for a file that holds a single year",
            )

    def _read_pseudonyms_under_catalogue_names(self) -> None:
        """An extract names its pseudonym columns as the catalogue declares them
        (``lopnr`` for ``personnummer``); the suites, keys and rules are the catalogue's,
        so such a column is read under its catalogue name."""
        from mikrodata.quality.catalogue import load

        reg = load(self.register)
        renames = {
            v.extract_name: v.name
            for v in reg.direct_identifiers()
            if v.extract_name != v.name
            and v.extract_name in self.columns
            and v.name not in self.columns
        }
        if not renames:
            return
        pairs = ", ".join(f'"{a}" AS "{b}"' for a, b in renames.items())
        self._scan = f"(SELECT * RENAME ({pairs}) FROM {self._scan})"
        self.columns = [renames.get(c, c) for c in self.columns]

    def _where_year(self, year: int) -> str:
        if self.fixed_year is not None:
            return "TRUE"
        return f"{self.year_column} = {int(year)}"

    def years(self) -> list[int]:
        if self.fixed_year is not None:
            return [self.fixed_year]
        rows = self._con.sql(
            f"SELECT DISTINCT {self.year_column} FROM {self._scan} "
            f"WHERE {self.year_column} IS NOT NULL ORDER BY 1"
        ).fetchall()
        return [int(r[0]) for r in rows]

    def count(self, year: int) -> int:
        return int(
            self._con.sql(
                f"SELECT count(*) FROM {self._scan} WHERE {self._where_year(year)}"
            ).fetchall()[0][0]
        )

    def _relative(self, names: pd.Series) -> pd.Series:
        if self.staged is not None:  # already relative to the delivery's root
            return names.astype("category")
        root = str(self.root)
        mapping = {n: os.path.relpath(n, root) if n else "" for n in names.unique()}
        return names.map(mapping).astype("category")

    def batches(self, year: int, batch_rows: int, key: str | None) -> Iterator[pd.DataFrame]:
        """The rows of ``year`` in batches of about ``batch_rows`` rows, each keyed
        value in exactly one batch; rows keep ``_file`` and ``_row``."""
        total = self.count(year)
        n = max(1, math.ceil(total / max(1, batch_rows)))
        for i in range(n):
            where = self._where_year(year)
            if n > 1:
                split = (
                    f"hash(coalesce(CAST({key} AS VARCHAR), '')) % {n} = {i}"
                    if key
                    else (f"file_row_number % {n} = {i}")
                )
                where += f" AND {split}"
            # No ORDER BY: DuckDB keeps the files' row order for a plain scan (insertion
            # order is preserved by default), and sorting 2 million rows costs seconds.
            table = self._con.sql(f"SELECT * FROM {self._scan} WHERE {where}").to_arrow_table()
            frame = table.to_pandas()
            frame = frame.rename(columns={"file_row_number": ROW_COLUMN})
            frame[FILE_COLUMN] = self._relative(frame.pop("filename"))
            if self.fixed_year is not None and self.year_column not in frame.columns:
                frame[self.year_column] = self.fixed_year
            yield frame

    def batch_count(self, year: int, batch_rows: int) -> int:
        return max(1, math.ceil(self.count(year) / max(1, batch_rows)))

    def months_by(self, year: int, group: str, month: str) -> pd.DataFrame:
        """One row per value of ``group`` (the kommun) in ``year`` or the year before:
        ``months_delivered`` (distinct ``month`` values), ``rows``, ``rows_before`` (in
        the year before) and ``month_drop``: 1 when the group's smallest month is far
        below its median month (under half of it, and more than four Poisson standard
        deviations below it, so that small kommuns' chance variation never counts),
        the trace of one kommun's file missing from a month's delivery."""
        where = self._where_year(year)
        before = "FALSE" if self.fixed_year is not None else f"{self.year_column} = {year - 1}"
        return (
            self._con.sql(
                f"""
                WITH km AS (
                    SELECT {group} AS g, {month} AS m, count(*) AS n FROM {self._scan}
                    WHERE {where} AND {group} IS NOT NULL GROUP BY 1, 2
                ), k AS (
                    SELECT g, count(DISTINCT m) AS months_delivered, sum(n) AS rows,
                           min(n) AS lo, median(n) AS mid
                    FROM km GROUP BY 1
                ), prev AS (
                    SELECT {group} AS g, count(*) AS rows_before FROM {self._scan}
                    WHERE {before} AND {group} IS NOT NULL GROUP BY 1
                )
                SELECT coalesce(k.g, prev.g) AS {group},
                       coalesce(months_delivered, 0) AS months_delivered,
                       coalesce(rows, 0) AS rows,
                       coalesce(rows_before, 0) AS rows_before,
                       CASE WHEN lo < 0.5 * mid AND lo < mid - 4 * sqrt(mid) THEN 1 ELSE 0 END
                           AS month_drop
                FROM k FULL OUTER JOIN prev ON k.g = prev.g
                ORDER BY 1
                """
            )
            .to_arrow_table()
            .to_pandas()
        )

    def month_holes(
        self,
        year: int,
        household: str,
        month: str,
        *,
        ended: str | None = None,
        same: tuple[str, ...] = (),
    ) -> pd.DataFrame:
        """One row per one-month hole in ``year`` (a month m with m-1 and m+1 delivered
        for the household and m not) and one row per household without a hole:
        ``one_month_holes`` 1 or 0, ``hole_month`` m, and ``_file``, ``_row`` of the
        household's last row of month m-1. The household id itself is not returned.

        ``probable_missing_month`` (1 or 0) tells a month left out of the delivery from a
        real gap between two spells where the data can: ``ended`` names the variable
        reported in the month a spell ends (avslutsorsak); a hole after a month without
        it, with the household variables ``same`` identical either side, is a spell that
        went on through a month the delivery lacks. Without ``ended`` it stays 0: the
        data cannot tell.
        """
        where = self._where_year(year)
        ended_sql = (
            f"bool_or({ended} IS NOT NULL AND trim(CAST({ended} AS VARCHAR)) <> '')"
            if ended
            else "NULL"
        )
        same_sql = (
            "hash(" + ", ".join(f"min({c}), max({c})" for c in same) + ")" if same else "NULL"
        )
        frame = (
            self._con.sql(
                f"""
                WITH hm AS (
                    SELECT {household} AS h, {month} AS m,
                           max(filename) AS f, max(file_row_number) AS r,
                           {ended_sql} AS ended, {same_sql} AS v
                    FROM {self._scan}
                    WHERE {where} AND {household} IS NOT NULL
                      AND {month} IS NOT NULL
                    GROUP BY 1, 2
                ), g AS (
                    SELECT *, lead(m) OVER (PARTITION BY h ORDER BY m) AS nxt,
                           lead(v) OVER (PARTITION BY h ORDER BY m) AS v_next FROM hm
                ), holes AS (
                    SELECT h, m + 1 AS hole_month, f, r,
                           CASE WHEN ended IS NOT NULL AND NOT ended
                                     AND v IS NOT DISTINCT FROM v_next THEN 1 ELSE 0 END
                               AS probable
                    FROM g WHERE nxt - m = 2
                )
                SELECT 1 AS one_month_holes, probable AS probable_missing_month, hole_month,
                       f AS filename, r AS file_row_number
                FROM holes
                UNION ALL
                SELECT 0, 0, NULL, NULL, NULL FROM (
                    SELECT DISTINCT h FROM hm WHERE h NOT IN (SELECT h FROM holes)
                )
                ORDER BY 1 DESC, filename, file_row_number
                """
            )
            .to_arrow_table()
            .to_pandas()
        )
        frame = frame.rename(columns={"file_row_number": ROW_COLUMN})
        frame["hole_month"] = frame["hole_month"].astype("Int64")
        frame[FILE_COLUMN] = self._relative(frame.pop("filename").fillna(""))
        return frame

    def query(self, sql_template: str) -> pd.DataFrame:
        """Run SQL with ``{data}`` standing for the dataset scan; for reports."""
        return self._con.sql(sql_template.format(data=self._scan)).to_arrow_table().to_pandas()

    def close(self) -> None:
        self._con.close()
        if self._stack is not None:
            self._stack.close()


def _stage(path: Path, register: str, year_column: str, year: int | None) -> Source:
    stack = contextlib.ExitStack()
    try:
        if not active():  # no build around us: a staging area of our own
            stack.enter_context(staging())
        done = staged(path, register)
        root = path.parent if path.is_file() else path
        return Source(register, root, [done.file], year_column, year, staged=done, _stack=stack)
    except BaseException:
        stack.close()
        raise


def open_source(
    data: str | os.PathLike[str], register: str, year_column: str, year: int | None = None
) -> Source:
    """Find the files of ``register`` under ``data`` (a file or a directory): Parquet
    as it is, any other delivery format staged as Parquet first."""
    path = Path(data)
    if path.is_file():
        if path.suffix.lower() not in (".parquet", ".pq"):
            return _stage(path, register, year_column, year)
        files, root = [path], path.parent
    elif path.is_dir():
        # Rows are named relative to the directory given, as the synthetic ground truth
        # names them (<register>/statistikar=YYYY/part-0.parquet).
        root = path
        folder = path / register if (path / register).is_dir() else path
        files = sorted(p for p in folder.rglob("*.parquet") if not p.name.startswith("."))
        if not files:
            found = delivery_path(path, register)
            if found is not None and found[1] == "other":
                return _stage(found[0], register, year_column, year)
            if found is None and delivery_path(path.parent, path.name) is not None:
                return _stage(path, register, year_column, year)
            raise BadInputError(
                f"no delivered files for register {register!r} under {path}",
                f"Give a file or a directory holding {register}/ or {register}.<format>",
            )
    else:
        raise BadInputError(f"no such file or directory: {path}", "Check --in")
    return Source(register, root, files, year_column, year)
