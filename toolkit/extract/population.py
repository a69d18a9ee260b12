"""The approved population as a set of normalised identifiers, in a DuckDB table.

``social_assistance_recipients``: every person with a row in the social-assistance
register in the population years. The register has a row for every member of a
recipient household (applicant, co-applicant and children: DOMAIN.md section 2,
"Biståndsmottagare"), so this already includes the members of the recipients'
households; no second pass over the household id is needed. ``cohort_file``:
the valid identifiers of the project's file (CSV or Parquet); invalid ones go to the
steward's reject folder with their row number and reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from mikrodata.access_requests import POPULATION_REGISTER, AccessRequest
from mikrodata.pseudonymisation import parse_identifiers
from mikrodata.quality.catalogue import load
from mikrodata.quality.delivery import open_delivery
from mikrodata.toolkit.errors import BadInputError
from mikrodata.toolkit.rejects import REASONS, REJECT_SCHEMA

from .parsed import parsed_identifiers
from .source import quote, source_relation

__all__ = ["PopulationResult", "build_population"]

TABLE = "population"


@dataclass(frozen=True)
class PopulationResult:
    """The population table's size, and the cohort rows that could not be used."""

    type: str
    persons: int
    rejected: pa.Table | None = None  # reject records (cohort files only)


def _valid_normalised(
    values: pa.Array, source: str = "", column: str | None = None
) -> tuple[pa.Array, pa.Table]:
    """Normalised valid (non-interim) identifiers, and the reject records of the others
    (:data:`toolkit.rejects.REJECT_SCHEMA`, rows counted from 1)."""
    parsed = parse_identifiers(values)
    ok = (parsed["reason"].isna() & (parsed["kind"] != "interim")).to_numpy(dtype=bool)
    codes = parsed["reason"].fillna("interim").to_numpy(dtype=object)[~ok].tolist()
    normalised = pa.array(parsed["normalised"], pa.string())
    rejected = pa.table(
        {
            "source_file": pa.array([source] * len(codes), pa.string()),
            "source_row": pa.array((~ok).nonzero()[0] + 1, pa.int64()),
            "column": pa.array([column] * len(codes), pa.string()),
            "reason": pa.array(codes, pa.string()),
            "detail": pa.array([REASONS[c] for c in codes], pa.string()),
        },
        schema=REJECT_SCHEMA,
    )
    return normalised.filter(pa.array(ok)), rejected


def _read_cohort(path: Path, column: str) -> pa.Array:
    """The identifier column of a cohort file, in any delivery format (the one reader:
    a semicolon or Latin-1 CSV, Stata, SAS...), as text."""
    if not path.exists():
        raise BadInputError(f"cohort file {path} does not exist", "Check population.file")
    if path.is_dir():
        raise BadInputError(f"cohort file {path} is a directory", "Give population.file a file")
    delivery = open_delivery(path)
    if column not in delivery.schema.names:
        raise BadInputError(
            f"cohort file {path.name} has no column {column!r}",
            "Check population.column against the file's header",
        )
    values = [pc.cast(b.column(column), pa.string()) for b in delivery.batches()]
    if delivery.rows_rejected:
        raise BadInputError(
            f"cohort file {path.name}: {delivery.rows_rejected} line(s) cannot be read "
            "(wrong number of fields)",
            "Fix the file and build again",
        )
    return pa.chunked_array(values, pa.string()).combine_chunks()


def build_population(
    con: duckdb.DuckDBPyConnection, request: AccessRequest, registers_dir: Path
) -> PopulationResult:
    """Create the DuckDB table ``population(normalised)`` for ``request``."""
    pop = request.population
    if pop.type == "cohort_file":
        values, rejected = _valid_normalised(
            _read_cohort(pop.file, pop.column), Path(pop.file).name, pop.column
        )
        con.register("_population_arrow", pa.table({"normalised": values}))
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {TABLE} AS "
            "SELECT DISTINCT normalised FROM _population_arrow"
        )
        con.unregister("_population_arrow")
    else:
        reg = load(POPULATION_REGISTER)
        person = next(v.name for v in reg.direct_identifiers() if v.identifier_domain == "person")
        year = next(p for p in reg.period if reg.variable(p).unit == "year")
        src = source_relation(registers_dir, POPULATION_REGISTER)
        years = ", ".join(str(y) for y in pop.years)
        sql = (
            f"SELECT CAST({quote(person)} AS VARCHAR) AS raw FROM {src} "
            f"WHERE {quote(year)} IN ({years})"
        )
        # Parsed once for the build: the register's own selection reads these again.
        parsed_identifiers(con, sql, "_population_ids")
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {TABLE} AS SELECT DISTINCT normalised "
            "FROM _population_ids WHERE reason IS NULL AND coalesce(kind, '') <> 'interim'"
        )
        con.execute("DROP TABLE _population_ids")
        rejected = None  # invalid register rows are rejected with their register's rows
    persons = con.execute(f"SELECT count(*) FROM {TABLE}").fetchall()[0][0]
    return PopulationResult(type=pop.type, persons=persons, rejected=rejected)
