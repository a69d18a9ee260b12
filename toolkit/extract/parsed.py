"""Each delivered person identifier parsed once per build.

The population (everyone with a row in the social-assistance register in its years) and
the register's own selection read the same identifiers. Both go through
:func:`parsed_identifiers`, which keeps what it parsed in a temporary table of the
build's DuckDB connection and parses only values it has not seen before, so a build
parses each distinct identifier once. The build's registers are read once each and do
not change while it runs, so the distinct values of one query are kept too.
"""

from __future__ import annotations

import hashlib

import duckdb
import pyarrow as pa

from mikrodata.pseudonymisation import parse_identifiers

__all__ = ["parsed_batch", "parsed_identifiers"]

_SEEN = "_parsed_identifiers"  # raw -> parsed, on the connection: every value parsed so far


def parsed_batch(raw: pa.Array) -> pa.RecordBatch:
    """``raw`` identifiers (text) and what the parser makes of each: the columns
    ``raw, normalised, kind, reason, birth_date, sex`` of both engines' ``ids``."""
    parsed = parse_identifiers(raw)
    return pa.RecordBatch.from_arrays(
        [
            raw,
            pa.array(parsed["normalised"], pa.string()),
            pa.array(parsed["kind"], pa.string()),
            pa.array(parsed["reason"], pa.string()),
            pa.array(parsed["birth_date"], pa.date32()),
            pa.array(parsed["sex"], pa.string()),
        ],
        names=["raw", "normalised", "kind", "reason", "birth_date", "sex"],
    )


def parsed_identifiers(con: duckdb.DuckDBPyConnection, raw_sql: str, name: str) -> None:
    """Create the temporary table ``name (raw, normalised, kind, reason, birth_date,
    sex)``: one row per distinct value of the column ``raw`` (text) of the query
    ``raw_sql``, parsed as :func:`~pseudonymisation.parse_identifiers` parses it (its
    reference date: today)."""
    # The distinct values of one query are found once too (the population and the
    # register's selection ask the same of the social-assistance register).
    raw = "_raw_" + hashlib.sha256(raw_sql.encode()).hexdigest()[:16]
    con.execute(f"CREATE TEMP TABLE IF NOT EXISTS {raw} AS SELECT DISTINCT raw FROM ({raw_sql})")
    con.execute(
        f"CREATE TEMP TABLE IF NOT EXISTS {_SEEN} (raw VARCHAR, normalised VARCHAR, "
        "kind VARCHAR, reason VARCHAR, birth_date DATE, sex VARCHAR)"
    )
    unseen = (
        f"SELECT raw FROM {raw} r WHERE NOT EXISTS "
        f"(SELECT 1 FROM {_SEEN} p WHERE p.raw IS NOT DISTINCT FROM r.raw)"
    )
    new = con.sql(unseen).to_arrow_table().column("raw").combine_chunks()
    if len(new):
        con.register("_parsed_arrow", pa.Table.from_batches([parsed_batch(new)]))
        con.execute(f"INSERT INTO {_SEEN} SELECT * FROM _parsed_arrow")
        con.unregister("_parsed_arrow")
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT p.* FROM {raw} r JOIN {_SEEN} p "
        "ON r.raw IS NOT DISTINCT FROM p.raw"
    )
