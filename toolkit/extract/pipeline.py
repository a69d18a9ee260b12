"""One register through the extract pipeline, streaming in bounded memory.

select (approved years and columns, the population) -> derive (birth year, sex, age
from the person identifier) -> reject rows whose person identifier is invalid or an
interim number -> pseudonymise every direct identifier with the project key ->
sort by (person pseudonym, period, then the other columns: a total order) -> one
Parquet file per register.

DuckDB reads the delivered files and does the joins and the final out-of-core sort. The
pseudonymiser judges and hashes each distinct identifier once, and DuckDB joins its
verdicts back (the rows never pass through Python); the rejected rows, usually few, go
through the pseudonymiser's own batch step for their reject records. Rejected rows (whole
rows, raw identifiers included) go to the steward's reject folder with their source
file, row number and reason; ``rows_in = rows_out + rows_rejected`` is checked. The
residual guard reads every value of the written file's other columns.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from mikrodata.pseudonymisation import ProjectKey
from mikrodata.pseudonymisation.pseudonyms import ColumnPseudonymiser
from mikrodata.pseudonymisation.residual import (
    RESIDUAL_HIGH,
    RESIDUAL_LOW,
    RESIDUAL_RUN,
    residual_identifiers,
)
from mikrodata.pseudonymisation.tables import Pseudonymiser, residual_message
from mikrodata.toolkit.atomic import private_file
from mikrodata.toolkit.errors import BadInputError, IntegrityError
from mikrodata.toolkit.progress import progress

from .coarsen import Step, applies, cells_changed, coarsen_sql
from .columns import RegisterSpec
from .parsed import parsed_identifiers
from .population import TABLE as POPULATION
from .source import quote, source_relation, sql_literal

__all__ = [
    "BATCH_ROWS",
    "RegisterResult",
    "approved_rows_sql",
    "output_order",
    "residual_in_parquet",
    "run_register",
    "spark_quote",
]

BATCH_ROWS = 250_000
# DuckDB types of whole numbers, of other numbers, and of values with no room for an
# identifier (the residual guard's own type rules).
_WHOLE_TYPES = {
    "TINYINT",
    "SMALLINT",
    "INTEGER",
    "BIGINT",
    "HUGEINT",
    "UTINYINT",
    "USMALLINT",
    "UINTEGER",
    "UBIGINT",
    "UHUGEINT",
}
_NUMBER_TYPES = {"FLOAT", "DOUBLE"}
_NO_ROOM_TYPES = {"BOOLEAN", "DATE", "TIME", "TIMESTAMP", "TIMESTAMP WITH TIME ZONE"}


@dataclass(frozen=True)
class RegisterResult:
    """Counts for one register: ``rows_in = rows_out + rows_rejected``."""

    register: str
    rows_read: int  # rows in the approved years
    rows_outside_population: int
    rows_in: int
    rows_out: int
    rows_rejected: int
    years_found: tuple[int, ...]
    file: Path
    # The coarsening steps applied to this register, with the cells each changed.
    coarsening: tuple[dict[str, Any], ...] = ()
    # All its files in row order, when there are several (a Spark build's parts).
    parts: tuple[Path, ...] = ()

    @property
    def files(self) -> tuple[Path, ...]:
        return self.parts or (self.file,)

    def as_dict(self) -> dict[str, Any]:
        return {
            "rows_read": self.rows_read,
            "rows_outside_population": self.rows_outside_population,
            "rows_in": self.rows_in,
            "rows_out": self.rows_out,
            "rows_rejected": self.rows_rejected,
            "years_found": list(self.years_found),
        }


def _identifiers(con: duckdb.DuckDBPyConnection, src: str, spec: RegisterSpec, years: str) -> None:
    """The distinct person identifiers of the selection as a DuckDB table ``ids`` (for
    the derived variables and the population), each parsed once per build
    (:mod:`.parsed`); the pseudonymiser is given the normalised form, which it checks
    by integer arithmetic and hashes once per person."""
    parsed_identifiers(
        con,
        f"SELECT CAST({quote(spec.person)} AS VARCHAR) AS raw FROM {src} "
        f"WHERE {quote(spec.year_column)} IN ({years})",
        "ids",
    )


def _select_sql(
    src: str, spec: RegisterSpec, years: str, population: bool, dialect: str = "duckdb"
) -> str:
    """The selection of one register (approved years and columns, the population, the
    derived variables): one definition, in SQL that DuckDB and Spark SQL both run
    (``dialect`` decides only how identifiers are quoted)."""
    q = quote if dialect == "duckdb" else spark_quote
    year = f"s.{q(spec.year_column)}"
    if spec.month_column is not None:
        month = f"s.{q(spec.month_column)}"
        period_end = (
            f"last_day(make_date(CAST({year} AS INT), CAST(coalesce({month}, 12) AS INT), 1))"
        )
    else:
        period_end = f"make_date(CAST({year} AS INT), 12, 31)"
    derived = {
        "birth_year": "CAST(year(i.birth_date) AS BIGINT)",
        "sex": "CAST(i.sex AS STRING)",
        # Completed years at the period's end (DuckDB's date_diff('year') is this
        # difference of the years).
        "age": (
            f"CAST(year({period_end}) - year(i.birth_date) - CASE WHEN "
            f"month({period_end}) * 100 + day({period_end}) < "
            "month(i.birth_date) * 100 + day(i.birth_date) THEN 1 ELSE 0 END AS BIGINT)"
        ),
    }
    cols = []
    for c in spec.columns:
        if c.role == "derived":
            cols.append(f"{derived[c.name]} AS {q(c.name)}")
        elif c.name == spec.person_column:
            # The normalised number where it parsed, else the value as delivered (the
            # pseudonymiser rejects it with its reason).
            raw = f"CAST(s.{q(c.delivered)} AS STRING)"
            cols.append(f"coalesce(i.normalised, {raw}) AS {q(c.delivered)}")
        elif c.role == "pseudonym":
            cols.append(f"CAST(s.{q(c.delivered)} AS STRING) AS {q(c.delivered)}")
        else:
            kind = "STRING" if c.sql_type == "VARCHAR" else c.sql_type  # both engines' name
            cols.append(f"CAST(s.{q(c.name)} AS {kind}) AS {q(c.name)}")
    unusable = "i.normalised IS NULL OR i.kind = 'interim'"
    where = f"{year} IN ({years})"
    if population:
        where += f" AND ({unusable} OR i.normalised IN (SELECT normalised FROM {POPULATION}))"
    return (
        f"SELECT s._file AS _file, s._row AS _row, ({unusable}) AS _unusable, "
        f"{', '.join(cols)} FROM {src} s LEFT JOIN ids i "
        f"ON CAST(s.{q(spec.person)} AS STRING) IS NOT DISTINCT FROM i.raw WHERE {where}"
    )


def spark_quote(name: str) -> str:
    """A Spark SQL identifier in backticks."""
    return "`" + name.replace("`", "``") + "`"


def output_order(spec: RegisterSpec) -> list[str]:
    """The extract's row order: the register's sort order (person pseudonym, period),
    then every other column, missing values last: a total order, so both engines write
    the same rows in the same order (rows equal in every column are interchangeable)."""
    rest = [c for c in spec.names if c not in spec.sort_order]
    return [*spec.sort_order, *rest]


def _check_columns(con: duckdb.DuckDBPyConnection, src: str, spec: RegisterSpec) -> None:
    present = {r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {src}").fetchall()}
    needed = [c.delivered for c in spec.columns if c.role != "derived"]
    needed += [spec.year_column] + ([spec.month_column] if spec.month_column else [])
    missing = sorted(set(needed) - present)
    if missing:
        raise BadInputError(
            f"register {spec.register}: the delivered files have no column " + ", ".join(missing),
            "Deliver every approved variable (names as in the catalogue)",
        )


def _refuse_residual(
    con: duckdb.DuckDBPyConnection, engine: Pseudonymiser, target: Path, spec: RegisterSpec
) -> None:
    """A column not declared an identifier but holding personnummer would leak them:
    every value of the written file's other columns is looked at. The build's staging
    folder is dropped on refusal."""
    plain = [c.name for c in spec.columns if c.role != "pseudonym"]
    found = residual_in_parquet(con, target, plain, engine.reference_date)
    if found:
        raise IntegrityError(
            f"register {spec.register}: {residual_message(found)} (not direct "
            "identifiers in the catalogue)",
            "Fix the delivery or the catalogue; nothing was written",
        )


def residual_in_parquet(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    columns: Sequence[str],
    reference_date: dt.date | None = None,
) -> dict[str, int]:
    """:func:`~pseudonymisation.residual.residual_identifiers` of ``columns`` of a
    Parquet file, with the same result, in one parallel DuckDB scan: DuckDB passes on
    only the distinct values that could hold an identifier by the guard's own first
    filters (ten digits in a row in text; whole numbers of nine to twelve digits), and
    the guard judges those. Values of other types go to the guard whole; dates and
    booleans have no room for one."""
    relation = f"read_parquet({sql_literal(str(path))})"
    types = {r[0]: r[1] for r in con.execute(f"DESCRIBE SELECT * FROM {relation}").fetchall()}
    picks = []
    for name in columns:
        kind, col = types[name], quote(name)
        whole = f"abs({col}) >= {RESIDUAL_LOW} AND abs({col}) < {RESIDUAL_HIGH}"
        if kind == "VARCHAR":
            test = f"strlen({col}) >= 10 AND regexp_matches({col}, {sql_literal(RESIDUAL_RUN)})"
        elif kind in _WHOLE_TYPES:
            test = whole
        elif kind in _NUMBER_TYPES:
            test = f"isfinite({col}) AND abs({col}) = floor(abs({col})) AND {whole}"
        elif kind in _NO_ROOM_TYPES:
            continue
        else:
            test = "TRUE"
        picks.append((name, f"list(DISTINCT {col}) FILTER (WHERE {test})"))
    if not picks:
        return {}
    row = con.sql(f"SELECT {', '.join(p for _, p in picks)} FROM {relation}").to_arrow_table()
    found: dict[str, int] = {}
    for (name, _), column in zip(picks, row.columns, strict=True):
        lists = column.combine_chunks()
        # A null list: no value passed the filter (or the file has no rows).
        values = lists.flatten() if lists.null_count == 0 else pa.array([], lists.type.value_type)
        found.update(residual_identifiers(pa.table({name: values}), reference_date=reference_date))
    return found


def run_register(
    con: duckdb.DuckDBPyConnection,
    spec: RegisterSpec,
    registers_dir: Path,
    out_dir: Path,
    reject_dir: Path,
    key: ProjectKey,
    *,
    population: bool = True,
    shared: dict[str, ColumnPseudonymiser] | None = None,
    coarsening: Sequence[Step] = (),
) -> RegisterResult:
    """Build ``out_dir/<register>/part-0.parquet``; rejects to ``reject_dir``.

    The identifiers go through the same :class:`~pseudonymisation.tables.Pseudonymiser`
    as ``mikrodata pseudonymise``, once per distinct value: its verdicts and pseudonyms
    become a map table that DuckDB joins back while it sorts and writes, so the rows
    themselves never leave DuckDB. The rejected rows (usually few) go through the
    engine's own batch step, so their records are those of ``mikrodata pseudonymise``:
    one reject record type, rows counted from 1 in their delivered file. ``shared``
    pseudonym maps (one per domain) span the registers of one build, so a person is
    hashed once and collisions are checked across registers. The ``coarsening`` steps
    that apply to the register are applied after pseudonymisation."""
    src = source_relation(registers_dir, spec.register)
    _check_columns(con, src, spec)
    years = ", ".join(str(y) for y in spec.years)
    _identifiers(con, src, spec, years)
    rows_read, years_found = con.sql(
        f"SELECT count(*), list(DISTINCT {quote(spec.year_column)}) FROM {src} "
        f"WHERE {quote(spec.year_column)} IN ({years})"
    ).fetchall()[0]
    engine = Pseudonymiser(
        key,
        spec.pseudonymised,
        allow_null=spec.nullable_pseudonyms,
        source=spec.register,
        shared=shared,
    )
    selected = f"({_select_sql(src, spec, years, population)})"
    with progress(f"extract {spec.register}", total=4) as task:
        rows_in, maps = _pseudonym_maps(con, engine, selected)
        task.advance()
        rows_rejected = _write_rejects(con, engine, selected, maps, reject_dir, spec, registers_dir)
        task.advance()
        engine.finish()  # pseudonym collisions (across this build's registers) stop the build
        target = out_dir / spec.register / "part-0.parquet"
        applied = write_sorted(con, _accepted_sql(selected, spec, maps), target, spec, coarsening)
        task.advance()
        _refuse_residual(con, engine, target, spec)
        task.advance()
    for name in maps.values():
        con.execute(f"DROP TABLE {name}")
    rows_out = pq.ParquetFile(target).metadata.num_rows
    if rows_in != rows_out + rows_rejected:
        raise IntegrityError(
            f"register {spec.register}: {rows_in} rows in but {rows_out} out and "
            f"{rows_rejected} rejected",
            "This is a bug; the extract was not written. Please report it",
        )
    return RegisterResult(
        register=spec.register,
        rows_read=rows_read,
        rows_outside_population=rows_read - rows_in,
        rows_in=rows_in,
        rows_out=rows_out,
        rows_rejected=rows_rejected,
        years_found=tuple(sorted(years_found or ())),
        file=target,
        coarsening=applied,
    )


def _pseudonym_maps(
    con: duckdb.DuckDBPyConnection, engine: Pseudonymiser, selected: str
) -> tuple[int, dict[str, str]]:
    """For each identifier column, a DuckDB table ``(value, pseudonym, reason)`` of its
    distinct selected values, as the engine judged and hashed them (``reason`` 0 =
    accepted; an accepted null, where the column may be empty, has a null pseudonym).
    Returns the selected rows' count and column -> table name. One scan finds the
    distinct values of every identifier column (grouping sets)."""
    columns = list(engine.columns)
    names = [quote(c) for c in columns]
    sets = ", ".join(f"({n})" for n in names)
    flags = ", ".join(f"GROUPING({n}) = 0 AS _in_{i}" for i, n in enumerate(names))
    counted = con.sql(
        f"SELECT {', '.join(names)}, {flags}, count(*) AS _n FROM {selected} "
        f"GROUP BY GROUPING SETS ({sets})"
    ).to_arrow_table()
    maps, rows_in = {}, 0
    for i, column in enumerate(columns):
        mine = counted.filter(counted.column(f"_in_{i}"))
        rows_in = int(pc.sum(mine.column("_n")).as_py() or 0)
        values = mine.column(column).combine_chunks()
        pseudonyms, reasons = engine.resolve_distinct(column, values)
        name = f"_pseudonyms_{i}"
        con.register(
            "_map_arrow",
            pa.table(
                {"value": values, "pseudonym": pseudonyms, "reason": pa.array(reasons, pa.int8())}
            ),
        )
        con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM _map_arrow")
        con.unregister("_map_arrow")
        maps[column] = name
    return rows_in, maps


def _accepted_sql(selected: str, spec: RegisterSpec, maps: dict[str, str]) -> str:
    """The accepted rows under the extract's column names: each identifier replaced by
    its pseudonym from the map joined on (every value has exactly one map row)."""
    alias = {column: f"m{i}" for i, column in enumerate(maps)}
    cols = [
        f"{alias[c.delivered]}.pseudonym AS {quote(c.name)}"
        if c.delivered in alias
        else f"s.{quote(c.name)} AS {quote(c.name)}"
        for c in spec.columns
    ]
    joins = " ".join(
        f"JOIN {maps[column]} {a} ON s.{quote(column)} IS NOT DISTINCT FROM {a}.value"
        for column, a in alias.items()
    )
    accepted = " AND ".join(f"{a}.reason = 0" for a in alias.values()) or "TRUE"
    return f"(SELECT {', '.join(cols)} FROM {selected} s {joins} WHERE {accepted})"


def _write_rejects(
    con: duckdb.DuckDBPyConnection,
    engine: Pseudonymiser,
    selected: str,
    maps: dict[str, str],
    reject_dir: Path,
    spec: RegisterSpec,
    registers_dir: Path,
) -> int:
    """The rows with an identifier the engine refused, in delivered order, through the
    engine's own batch step (whole rows with raw identifiers: the steward corrects the
    delivery); ``reject_dir/<register>.parquet``, mode 0600. Returns how many."""
    refusals = " UNION ALL ".join(f"SELECT 1 FROM {t} WHERE reason <> 0" for t in maps.values())
    if not refusals or not con.execute(f"SELECT EXISTS ({refusals})").fetchall()[0][0]:
        return 0  # no value was refused: no scan
    # A semi-join on the (few) refused values; a null is refused where the map says so.
    refused = (
        " OR ".join(
            f"s.{quote(column)} IN (SELECT value FROM {table} WHERE reason <> 0) OR "
            f"(s.{quote(column)} IS NULL AND EXISTS "
            f"(SELECT 1 FROM {table} WHERE value IS NULL AND reason <> 0))"
            for column, table in maps.items()
        )
        or "FALSE"
    )
    reader = con.sql(
        f"SELECT s.* FROM {selected} s WHERE {refused} ORDER BY s._file, s._row"
    ).to_arrow_reader(BATCH_ROWS)
    data_names = [f.name for f in reader.schema if not f.name.startswith("_")]
    root = str(Path(registers_dir).resolve()).rstrip("/") + "/"
    rejects_path = reject_dir / f"{spec.register}.parquet"
    writer: pq.ParquetWriter | None = None
    count = 0
    try:
        for batch in reader:
            out, rej = engine.process(
                batch.select(data_names),
                with_identifiers=True,
                source_file=pc.replace_substring(batch.column("_file"), root, ""),
                source_rows=batch.column("_row").to_numpy(zero_copy_only=False),
            )
            if out.num_rows:
                raise IntegrityError(
                    f"register {spec.register}: the engine accepted a row its map refused",
                    "This is a bug; the extract was not written. Please report it",
                )
            if writer is None:
                rejects_path.parent.mkdir(parents=True, exist_ok=True)
                writer = pq.ParquetWriter(private_file(rejects_path), rej.schema)
            writer.write_batch(rej)
            count += rej.num_rows
    finally:
        if writer is not None:
            writer.close()
    return count


def write_sorted(
    con: duckdb.DuckDBPyConnection,
    relation: str,
    target: Path,
    spec: RegisterSpec,
    coarsening: Sequence[Step] = (),
) -> tuple[dict[str, Any], ...]:
    """Sort the rows of the SQL ``relation`` (the extract's columns) by the register's
    order into ``target`` (DuckDB, out of core),
    applying on the way the ``coarsening`` steps that apply to this register. Returns
    what each applied step did (its manifest entry, with the cells it changed)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    applied = []
    if coarsening:
        types = {r[0]: r[1] for r in con.execute(f"DESCRIBE SELECT * FROM {relation}").fetchall()}
        # Suppression counts persons, not rows: the person pseudonym leads the sort order.
        person = spec.sort_order[0]
        for step in coarsening:
            if not applies(step, spec.register, list(types)):
                continue
            before = relation
            relation = f"({coarsen_sql(before, types, [step], person=person)})"
            changed = sum(
                cells_changed(con, before, relation, step, c) for c in step.columns_changed
            )
            applied.append(
                {
                    "register": spec.register,
                    "step": step.to_dict(),
                    "description": step.describe(),
                    "cells_changed": changed,
                }
            )
    order = ", ".join(f"{quote(c)} NULLS LAST" for c in output_order(spec))
    cols = ", ".join(quote(c) for c in spec.names)
    # DuckDB's own row groups (122,880 rows): it compresses them in parallel, where
    # larger ones cost a build about a fifth of its time on two cores.
    con.execute(
        f"COPY (SELECT {cols} FROM {relation} ORDER BY {order}) TO {sql_literal(str(target))} "
        "(FORMAT parquet, COMPRESSION zstd)"
    )
    return tuple(applied)


def approved_rows_sql(
    con: duckdb.DuckDBPyConnection,
    spec: RegisterSpec,
    registers_dir: Path,
    *,
    population: bool = True,
) -> str:
    """The rows an extract of ``spec`` would hold, before pseudonymisation: the builder's
    own selection (approved years and columns, the population table, the derived
    variables) without the rows it would reject, with the normalised person identifier
    as ``_person``. Steward side only (the re-identification risk of a planned extract):
    the rows hold raw identifiers."""
    src = source_relation(registers_dir, spec.register)
    _check_columns(con, src, spec)
    years = ", ".join(str(y) for y in spec.years)
    _identifiers(con, src, spec, years)
    person = quote(spec.person)
    return (
        f"SELECT s.* EXCLUDE (_file, _row, _unusable), s.{person} AS _person "
        f"FROM ({_select_sql(src, spec, years, population)}) s WHERE NOT s._unusable"
    )
