"""The tables to measure: a built extract, or an extract as it would be built.

- :func:`extract_tables`: a built extract directory (``manifest.json`` and one Parquet
  file per register); the person key is the column the manifest calls the person
  pseudonym (``lopnr``).
- :func:`planned_tables`: an access request and the raw delivery, selected exactly as
  the extract builder would select them (its own ``register_spec``, population and
  ``approved_rows_sql``: approved registers, years, variables, derived variables and
  population, without the rows it or its pseudonymiser would reject). The person key
  is the normalised
  identifier, used only inside DuckDB: every output of this package is counts.

``quasi_identifiers`` / ``sensitive`` override the catalogue: a list applies to every
register (each takes the names it has), a dict maps register -> list.

    >>> import duckdb
    >>> con = duckdb.connect()
    >>> extract_tables(con, "no-such-dir")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    mikrodata.IntegrityError: no-such-dir: no manifest.json. This is not a genuine ...
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from pathlib import Path

import duckdb

from mikrodata.access_requests import load_request
from mikrodata.pseudonymisation import ProjectKey, pseudonymise_table
from mikrodata.toolkit.errors import BadInputError, IntegrityError
from mikrodata.toolkit.extract.columns import RegisterSpec, register_spec
from mikrodata.toolkit.extract.manifest import read_manifest
from mikrodata.toolkit.extract.pipeline import approved_rows_sql
from mikrodata.toolkit.extract.population import build_population
from mikrodata.toolkit.extract.source import quote

from .tables import RiskTable, risk_table, sql_literal

__all__ = ["PLANNED_PERSON", "Override", "extract_tables", "planned_tables"]

# The person key of a planned extract (the normalised identifier; never output).
PLANNED_PERSON = "_person"

Override = Sequence[str] | Mapping[str, Sequence[str]] | None


def _for_register(override: Override, register: str, columns: Sequence[str]):
    if override is None:
        return None
    if isinstance(override, Mapping):
        return override.get(register)
    return [c for c in override if c in columns]


def _check_override(override: Override, tables: Sequence[RiskTable], what: str) -> None:
    if override is None or isinstance(override, Mapping):
        return
    present = {c for t in tables for c in t.columns()}
    missing = [c for c in override if c not in present]
    if missing:
        raise BadInputError(
            f"no register of the extract has {', '.join(missing)} (named as {what})",
            "Name columns the extract holds",
        )


def _tables(
    con: duckdb.DuckDBPyConnection,
    relations: dict[str, tuple[str, str]],
    quasi_identifiers: Override,
    sensitive: Override,
) -> list[RiskTable]:
    tables = []
    for register, (relation, person) in relations.items():
        columns = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {relation}").fetchall()]
        tables.append(
            risk_table(
                con,
                relation,
                register,
                person=person,
                quasi_identifiers=_for_register(quasi_identifiers, register, columns),
                sensitive=_for_register(sensitive, register, columns),
            )
        )
    _check_override(quasi_identifiers, tables, "quasi-identifiers")
    _check_override(sensitive, tables, "sensitive variables")
    return tables


def extract_tables(
    con: duckdb.DuckDBPyConnection,
    directory: str | Path,
    *,
    quasi_identifiers: Override = None,
    sensitive: Override = None,
) -> list[RiskTable]:
    """One :class:`RiskTable` per register of the built extract in ``directory``."""
    directory = Path(directory)
    manifest = read_manifest(directory)
    relations = {}
    for register, entry in sorted(manifest.registers.items()):
        person = next(
            (c.name for c in entry.columns if c.role == "pseudonym" and c.domain == "person"),
            None,
        )
        files = [directory / f for f in entry.files]
        missing = [f.name for f in files if not f.exists()]
        if person is None or not files or missing:
            raise IntegrityError(
                f"{directory}: register {register} has no person pseudonym or no files",
                "This is not a complete mikrodata extract; ask the data steward for a new one",
            )
        name = f"_risk_extract_{register}"
        paths = ", ".join(sql_literal(str(f)) for f in files)
        con.execute(f"CREATE OR REPLACE TEMP VIEW {name} AS SELECT * FROM read_parquet([{paths}])")
        relations[register] = (name, person)
    return _tables(con, relations, quasi_identifiers, sensitive)


def _drop_rejected(con: duckdb.DuckDBPyConnection, name: str, spec: RegisterSpec) -> None:
    """Leave out the rows the builder's pseudonymiser would reject for another identifier
    (a household id that is missing, too long, ...): its own rules, run on the values
    under a throwaway key whose pseudonyms are discarded."""
    others = {
        c.delivered: c.domain
        for c in spec.columns
        if c.role == "pseudonym" and c.domain != "person" and c.name != spec.person_column
    }
    if not others:
        return
    cols = ", ".join(quote(c) for c in others)
    values = con.sql(f"SELECT {cols} FROM {name} ORDER BY _plan_row").to_arrow_table()
    throwaway = ProjectKey("risk-validation", 0, secrets.token_bytes(32))
    result = pseudonymise_table(
        values, throwaway, others, allow_null=spec.nullable_pseudonyms, check_residual=False
    )
    rejected = result.rejected.select(["source_row"])
    if rejected.num_rows:
        con.register("_risk_rejected", rejected)
        con.execute(
            f"DELETE FROM {name} WHERE _plan_row IN (SELECT source_row FROM _risk_rejected)"
        )
        con.unregister("_risk_rejected")


def planned_tables(
    con: duckdb.DuckDBPyConnection,
    request: str | Path,
    registers_dir: str | Path,
    *,
    quasi_identifiers: Override = None,
    sensitive: Override = None,
) -> list[RiskTable]:
    """One :class:`RiskTable` per approved register of ``request``, selected from the
    raw delivery in ``registers_dir`` as the extract builder would select it. The raw
    identifier columns are dropped; the person key is :data:`PLANNED_PERSON`."""
    req = load_request(request)
    specs = [register_spec(req, r) for r in req.register_names]
    build_population(con, req, Path(registers_dir))
    relations = {}
    for spec in specs:
        sql = approved_rows_sql(con, spec, Path(registers_dir))
        name = f"_risk_planned_{spec.register}"
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT *, row_number() OVER () AS _plan_row "
            f"FROM ({sql})"
        )
        _drop_rejected(con, name, spec)
        drop = ", ".join(
            [quote(c.delivered) for c in spec.columns if c.role == "pseudonym"] + ["_plan_row"]
        )
        con.execute(f"ALTER TABLE {name} RENAME TO {name}_full")
        con.execute(f"CREATE TEMP TABLE {name} AS SELECT * EXCLUDE ({drop}) FROM {name}_full")
        con.execute(f"DROP TABLE {name}_full")
        relations[spec.register] = (name, PLANNED_PERSON)
    return _tables(con, relations, quasi_identifiers, sensitive)
