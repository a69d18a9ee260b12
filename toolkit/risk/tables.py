"""The tables the risk measures read: one per register, as a DuckDB relation with its
column roles, and the SQL fragments they share.

A caller hands in pandas DataFrames, Arrow tables or names of DuckDB tables/views;
:func:`risk_table` registers the first two on a connection, so every measure is a
DuckDB query and nothing loops over persons in Python.

    >>> import duckdb, pandas as pd
    >>> con = duckdb.connect()
    >>> t = risk_table(con, pd.DataFrame({"lopnr": ["a", "b"], "kon": ["1", "2"]}),
    ...                "befolkning")
    >>> t.roles.quasi_identifiers
    ('kon',)
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa

from mikrodata.toolkit.errors import BadInputError
from mikrodata.toolkit.extract.source import quote, sql_literal

from .roles import ColumnRoles, column_roles

__all__ = ["RiskTable", "relation_types", "risk_table", "sql_literal"]

_names = itertools.count()


def relation_types(con: duckdb.DuckDBPyConnection, relation: str) -> dict[str, str]:
    """Column name -> DuckDB type of ``relation``."""
    return {r[0]: r[1] for r in con.execute(f"DESCRIBE SELECT * FROM {relation}").fetchall()}


@dataclass(frozen=True)
class RiskTable:
    """One register's rows on a DuckDB connection (``relation`` is a table or view name)."""

    con: duckdb.DuckDBPyConnection
    relation: str
    roles: ColumnRoles

    @property
    def register(self) -> str:
        return self.roles.register

    def columns(self) -> list[str]:
        return list(self.column_types())

    def column_types(self) -> dict[str, str]:
        return relation_types(self.con, self.relation)

    def rows(self) -> int:
        return self.con.execute(f"SELECT count(*) FROM {self.relation}").fetchall()[0][0]

    def with_relation(self, relation: str) -> RiskTable:
        return replace(self, relation=relation)

    def with_roles(self, **changes: Any) -> RiskTable:
        """The same rows with some roles changed (e.g. other quasi-identifiers)."""
        return replace(self, roles=replace(self.roles, **changes))

    def person_sql(self) -> str:
        """The person key; without one, each row is its own person."""
        return quote(self.roles.person) if self.roles.person else "_row_id"


def register_frame(con: duckdb.DuckDBPyConnection, table: Any) -> str:
    """A DuckDB name for ``table`` (DataFrame, Arrow table, or an existing relation name).
    A row id ``_row_id`` (from 1, in input order) is added so rows without a person key
    can stand for themselves."""
    name = f"_risk_input_{next(_names)}"
    if isinstance(table, pd.DataFrame):
        table = pa.Table.from_pandas(table, preserve_index=False)
    if isinstance(table, pa.Table):
        con.register(f"{name}_arrow", table)
        source = f"{name}_arrow"
    elif isinstance(table, str):
        source = table
    else:
        raise BadInputError(
            f"cannot measure a {type(table).__name__}",
            "Pass a pandas DataFrame, a pyarrow Table or a DuckDB table name",
        )
    columns = {r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()}
    if "_row_id" in columns:
        return source
    con.execute(
        f"CREATE OR REPLACE TEMP VIEW {name} AS SELECT *, row_number() OVER () AS _row_id "
        f"FROM {source}"
    )
    return name


def risk_table(
    con: duckdb.DuckDBPyConnection,
    table: Any,
    register: str,
    *,
    person: str | None = None,
    quasi_identifiers: Sequence[str] | None = None,
    sensitive: Sequence[str] | None = None,
) -> RiskTable:
    """``table`` with the roles the catalogue of ``register`` gives its columns."""
    relation = register_frame(con, table)
    columns = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {relation}").fetchall()]
    columns = [c for c in columns if c != "_row_id"]
    roles = column_roles(
        register,
        columns,
        person=person,
        quasi_identifiers=quasi_identifiers,
        sensitive=sensitive,
    )
    return RiskTable(con, relation, roles)
