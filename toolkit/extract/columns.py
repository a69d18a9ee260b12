"""What an extract of one register holds: its columns, their types and roles, its order.

Everything here is read from the approved request and the catalogue, so the builder,
the dummy extract and the verifier agree by construction.
"""

from __future__ import annotations

from dataclasses import dataclass

from mikrodata.access_requests import DERIVED_VARIABLES, AccessRequest
from mikrodata.quality.catalogue import Register, load
from mikrodata.toolkit.errors import BadInputError

__all__ = ["SQL_TYPES", "ColumnSpec", "RegisterSpec", "register_spec"]

# catalogue type -> the DuckDB type an extract column is cast to
SQL_TYPES = {
    "string": "VARCHAR",
    "code": "VARCHAR",
    "integer": "BIGINT",
    "decimal": "DOUBLE",
    "date": "DATE",
}


@dataclass(frozen=True)
class ColumnSpec:
    """One extract column. ``role``: ``pseudonym`` (a direct identifier, delivered as the
    project pseudonym of ``domain``), ``variable`` (as the catalogue has it) or
    ``derived`` (computed from the person identifier)."""

    name: str
    type: str
    role: str
    domain: str | None = None
    nullable: bool = False
    source: str | None = None  # a pseudonym's delivered column (personnummer for lopnr)

    @property
    def delivered(self) -> str:
        """The column this one is read from in the delivery."""
        return self.source or self.name

    @property
    def sql_type(self) -> str:
        return SQL_TYPES[self.type]


@dataclass(frozen=True)
class RegisterSpec:
    """The approved shape of one register's extract."""

    register: str
    years: tuple[int, ...]
    columns: tuple[ColumnSpec, ...]
    person: str  # the delivered person identifier column (personnummer)
    year_column: str  # the period column holding the year
    month_column: str | None  # the period column holding the month, if any
    sort_order: tuple[str, ...]  # person pseudonym, then the period columns
    person_column: str = ""  # its pseudonym column in the extract (lopnr, from the catalogue)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def pseudonymised(self) -> dict[str, str]:
        """Delivered identifier column -> domain (pseudonymised under their delivered
        names, so reject records name the delivery's columns; renamed after)."""
        return {c.delivered: c.domain for c in self.columns if c.role == "pseudonym"}

    @property
    def nullable_pseudonyms(self) -> tuple[str, ...]:
        return tuple(c.delivered for c in self.columns if c.role == "pseudonym" and c.nullable)

    @property
    def extract_names(self) -> dict[str, str]:
        """Delivered name -> extract name of each pseudonym column (personnummer -> lopnr)."""
        return {c.delivered: c.name for c in self.columns if c.role == "pseudonym"}


def _month_column(reg: Register) -> str | None:
    return next((p for p in reg.period if reg.variable(p).unit == "month"), None)


def _year_column(reg: Register) -> str:
    for name in reg.period:
        if reg.variable(name).unit == "year":
            return name
    if reg.period:
        return reg.period[0]
    raise BadInputError(f"register {reg.name} has no period column", "Fix its catalogue")


def register_spec(request: AccessRequest, register: str) -> RegisterSpec:
    """The extract shape of ``register`` under ``request``."""
    reg = load(register)
    persons = [v.name for v in reg.direct_identifiers() if v.identifier_domain == "person"]
    if not persons:
        raise BadInputError(
            f"register {register} has no person identifier in the catalogue",
            "An extract is keyed by person; fix the catalogue",
        )
    person = next((p for p in persons if p in reg.key), persons[0])
    person_column = reg.variable(person).extract_name
    columns = []
    for name in request.columns(register):
        if name in DERIVED_VARIABLES and name not in reg.names:
            columns.append(ColumnSpec(name, DERIVED_VARIABLES[name].type, "derived"))
            continue
        v = reg.variable(name)
        if v.is_direct_identifier:
            # Named as the catalogue says (lopnr, lopnr_hushall), read from the delivered one.
            columns.append(
                ColumnSpec(
                    v.extract_name, "string", "pseudonym", v.identifier_domain, v.nullable, name
                )
            )
        else:
            columns.append(ColumnSpec(name, v.type, "variable"))
    if person_column not in {c.name for c in columns}:  # the key is always delivered
        columns.insert(0, ColumnSpec(person_column, "string", "pseudonym", "person", False, person))
    period = tuple(p for p in reg.period if p in {c.name for c in columns})
    return RegisterSpec(
        register=register,
        years=request.register(register).years,
        columns=tuple(columns),
        person=person,
        year_column=_year_column(reg),
        month_column=_month_column(reg),
        sort_order=(person_column, *period),
        person_column=person_column,
    )
