"""One register through the extract pipeline, streaming in bounded memory.

select (approved years and columns, the population) -> derive (birth year, sex, age
from the person identifier) -> reject rows whose person identifier is invalid or an
interim number -> pseudonymise every direct identifier with the project key ->
sort by (person pseudonym, period) -> one Parquet file per register.

DuckDB reads the delivered files and does the joins and the final out-of-core sort;
batches of rows pass through the pseudonymiser in between. Rejected rows (whole rows,
raw identifiers included) go to the steward's reject folder with their source file,
row number and reason; ``rows_in = rows_out + rows_rejected`` is checked.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from mikrodata.pseudonymisation import ProjectKey, parse_identifiers
from mikrodata.pseudonymisation.tables import Pseudonymiser, residual_message
from mikrodata.toolkit.atomic import private_file
from mikrodata.toolkit.errors import BadInputError, IntegrityError
from mikrodata.toolkit.progress import progress

from .columns import RegisterSpec
from .population import TABLE as POPULATION
from .source import quote, source_relation

__all__ = [
    "BATCH_ROWS",
    "PERSONS_SEEN",
    "RegisterResult",
    "approved_rows_sql",
    "check_collisions_across_registers",
    "run_register",
]

BATCH_ROWS = 250_000
PERSONS_SEEN = "persons_seen"


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
    """Parse the distinct person identifiers once; a DuckDB table ``ids``."""
    raw = (
        con.sql(
            f"SELECT DISTINCT CAST({quote(spec.person)} AS VARCHAR) AS raw FROM {src} "
            f"WHERE {quote(spec.year_column)} IN ({years})"
        )
        .to_arrow_table()
        .column("raw")
    )
    parsed = parse_identifiers(raw)
    ids = pa.table(
        {
            "raw": raw,
            "normalised": pa.array(parsed["normalised"], pa.string()),
            "kind": pa.array(parsed["kind"], pa.string()),
            "reason": pa.array(parsed["reason"], pa.string()),
            "birth_date": pa.array(parsed["birth_date"], pa.date32()),
            "sex": pa.array(parsed["sex"], pa.string()),
        }
    )
    con.register("_ids_arrow", ids)
    con.execute("CREATE OR REPLACE TEMP TABLE ids AS SELECT * FROM _ids_arrow")
    con.unregister("_ids_arrow")
    # Every valid person seen, over all registers, for the cross-register collision check.
    con.execute(f"CREATE TEMP TABLE IF NOT EXISTS {PERSONS_SEEN} (normalised VARCHAR)")
    con.execute(
        f"INSERT INTO {PERSONS_SEEN} SELECT normalised FROM ids "
        "WHERE normalised IS NOT NULL AND kind <> 'interim'"
    )


def _select_sql(src: str, spec: RegisterSpec, years: str, population: bool) -> str:
    year = f"s.{quote(spec.year_column)}"
    if spec.month_column is not None:
        month = f"s.{quote(spec.month_column)}"
        period_end = f"last_day(make_date({year}::BIGINT, coalesce({month}, 12)::BIGINT, 1))"
    else:
        period_end = f"make_date({year}::BIGINT, 12, 31)"
    derived = {
        "birth_year": "year(i.birth_date)::BIGINT",
        "sex": "i.sex::VARCHAR",
        "age": (
            f"(date_diff('year', i.birth_date, {period_end}) - CASE WHEN "
            f"month({period_end}) * 100 + day({period_end}) < "
            "month(i.birth_date) * 100 + day(i.birth_date) THEN 1 ELSE 0 END)::BIGINT"
        ),
    }
    cols = []
    for c in spec.columns:
        if c.role == "derived":
            cols.append(f"{derived[c.name]} AS {quote(c.name)}")
        elif c.role == "pseudonym":
            cols.append(f"CAST(s.{quote(c.name)} AS VARCHAR) AS {quote(c.name)}")
        else:
            cols.append(f"CAST(s.{quote(c.name)} AS {c.sql_type}) AS {quote(c.name)}")
    unusable = "i.normalised IS NULL OR i.kind = 'interim'"
    where = f"{year} IN ({years})"
    if population:
        where += f" AND ({unusable} OR i.normalised IN (SELECT normalised FROM {POPULATION}))"
    return (
        f"SELECT s._file AS _file, s._row AS _row, CASE WHEN i.normalised IS NULL THEN "
        f"coalesce(i.reason, 'missing') WHEN i.kind = 'interim' THEN 'interim_number' END "
        f"AS _reject, {', '.join(cols)} FROM {src} s LEFT JOIN ids i "
        f"ON CAST(s.{quote(spec.person)} AS VARCHAR) IS NOT DISTINCT FROM i.raw WHERE {where}"
    )


def _check_columns(con: duckdb.DuckDBPyConnection, src: str, spec: RegisterSpec) -> None:
    present = {r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {src}").fetchall()}
    needed = [c.name for c in spec.columns if c.role != "derived"]
    needed += [spec.year_column] + ([spec.month_column] if spec.month_column else [])
    missing = sorted(set(needed) - present)
    if missing:
        raise BadInputError(
            f"register {spec.register}: the delivered files have no column " + ", ".join(missing),
            "Deliver every approved variable (names as in the catalogue)",
        )


def _reject_rows(rows: pa.Table, columns: pa.Array, reasons: pa.Array) -> pa.Table:
    """Rejected rows as the steward keeps them: source file and row, the column at fault,
    the reason, and the row's (steward-side) values as text."""
    data = {
        "source_file": rows.column("_file"),
        "source_row": rows.column("_row"),
        "column": columns.cast(pa.string()),
        "reason": reasons.cast(pa.string()),
    }
    for name in rows.column_names:
        if not name.startswith("_"):
            data[f"value_{name}"] = pc.cast(rows.column(name), pa.string())
    return pa.table(data)


def _empty_batch(schema: pa.Schema) -> pa.RecordBatch:
    return pa.RecordBatch.from_pylist([], schema=schema)


def _refuse_residual(engine: Pseudonymiser, batch: pa.RecordBatch, spec: RegisterSpec) -> None:
    """A column not declared an identifier but full of personnummer would leak them."""
    found = engine.residual_identifiers(batch)
    if found:
        raise IntegrityError(
            f"register {spec.register}: {residual_message(found)} (not direct identifiers "
            "in the catalogue)",
            "Fix the delivery or the catalogue; nothing was written",
        )


def run_register(
    con: duckdb.DuckDBPyConnection,
    spec: RegisterSpec,
    registers_dir: Path,
    out_dir: Path,
    reject_dir: Path,
    key: ProjectKey,
    *,
    population: bool = True,
) -> RegisterResult:
    """Build ``out_dir/<register>/part-0.parquet``; rejects to ``reject_dir``."""
    src = source_relation(registers_dir, spec.register)
    _check_columns(con, src, spec)
    years = ", ".join(str(y) for y in spec.years)
    _identifiers(con, src, spec, years)
    rows_read, years_found = con.sql(
        f"SELECT count(*), list(DISTINCT {quote(spec.year_column)}) FROM {src} "
        f"WHERE {quote(spec.year_column)} IN ({years})"
    ).fetchall()[0]
    work = out_dir / ".work" / f"{spec.register}.parquet"
    work.parent.mkdir(parents=True, exist_ok=True)
    rejects_path = reject_dir / f"{spec.register}.parquet"
    rows_in = rows_rejected = 0
    writer: pq.ParquetWriter | None = None
    reject_writer: pq.ParquetWriter | None = None
    engine = Pseudonymiser(key, spec.pseudonymised, allow_null=spec.nullable_pseudonyms)
    sql = _select_sql(src, spec, years, population)
    reader = con.sql(sql).to_arrow_reader(BATCH_ROWS)
    with progress(f"extract {spec.register}", total=rows_read) as task:
        for record_batch in reader:
            batch = pa.Table.from_batches([record_batch])
            rows_in += batch.num_rows
            bad = pc.is_valid(batch.column("_reject"))
            rejected = []
            if pc.any(bad).as_py():
                rows = batch.filter(bad)
                person = pa.array([spec.person] * rows.num_rows, pa.string())
                rejected.append(_reject_rows(rows, person, rows.column("_reject")))
                rows_rejected += rows.num_rows
            good = batch.filter(pc.invert(bad))
            data = good.drop_columns(["_file", "_row", "_reject"]).combine_chunks()
            data_batch = data.to_batches()[0] if data.num_rows else _empty_batch(data.schema)
            _refuse_residual(engine, data_batch, spec)
            first_row = engine.rows_in + 1
            out, rej = engine.process(data_batch)
            if rej.num_rows:
                # the engine numbers rows from 1 across the whole run
                rows = good.take(pc.subtract(rej.column("row_number"), first_row))
                rejected.append(_reject_rows(rows, rej.column("column"), rej.column("reason")))
                rows_rejected += rej.num_rows
            table = pa.Table.from_batches([out]).select(list(spec.names))
            if writer is None:
                writer = pq.ParquetWriter(work, table.schema, compression="zstd")
            writer.write_table(table)
            for r in rejected:
                if reject_writer is None:
                    rejects_path.parent.mkdir(parents=True, exist_ok=True)
                    # Whole rows with raw identifiers: steward only, mode 0600.
                    reject_writer = pq.ParquetWriter(private_file(rejects_path), r.schema)
                reject_writer.write_table(r.cast(reject_writer.schema))
            task.advance(batch.num_rows)
    engine.finish()  # pseudonym collisions across the whole register stop the build
    if reject_writer is not None:
        reject_writer.close()
    if writer is None:  # no rows at all: still an empty file with the approved schema
        schema = (
            con.sql(sql + " LIMIT 0")
            .to_arrow_table()
            .drop_columns(["_file", "_row", "_reject"])
            .schema
        )
        writer = pq.ParquetWriter(
            work, engine.output_schema(schema).remove_metadata(), compression="zstd"
        )
    writer.close()
    target = write_sorted(con, work, out_dir / spec.register / "part-0.parquet", spec)
    work.unlink()
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
    )


def write_sorted(con: duckdb.DuckDBPyConnection, work: Path, target: Path, spec: RegisterSpec):
    """Sort ``work`` by the register's sort order into ``target`` (DuckDB, out of core)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    order = ", ".join(quote(c) for c in spec.sort_order)
    cols = ", ".join(quote(c) for c in spec.names)
    source = "'" + str(work).replace("'", "''") + "'"
    dest = "'" + str(target).replace("'", "''") + "'"
    con.execute(
        f"COPY (SELECT {cols} FROM read_parquet({source}) ORDER BY {order}) TO {dest} "
        "(FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 500000)"
    )
    return target


def check_collisions_across_registers(con: duckdb.DuckDBPyConnection, key: ProjectKey) -> int:
    """Each register's run checks its own pseudonyms; two people who appear only in
    different registers are checked here, over every distinct person seen (hashed once
    more, distinct values only). Raises ``IntegrityError`` on a collision; returns the
    number of distinct persons checked."""
    persons = con.sql(f"SELECT DISTINCT normalised FROM {PERSONS_SEEN}").to_arrow_table()
    engine = Pseudonymiser(key, {"normalised": "person"})
    for batch in persons.to_batches(max_chunksize=BATCH_ROWS):
        engine.process(batch)
    engine.finish()
    return persons.num_rows


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
        f"SELECT s.* EXCLUDE (_file, _row, _reject), i.normalised AS _person "
        f"FROM ({_select_sql(src, spec, years, population)}) s JOIN ids i "
        f"ON s.{person} IS NOT DISTINCT FROM i.raw WHERE s._reject IS NULL"
    )
