"""What each column of a register's extract is for the risk measures: the person key,
the period, the quasi-identifiers and the sensitive variables.

The catalogue decides (each variable's ``identifier_class``: ``quasi_identifier``,
``sensitive``, ``direct_identifier``, ``other``); a caller may override the
quasi-identifiers and the sensitive variables per call. The derived variables an
approval may add (``birth_year``, ``sex``, ``age``) are computed from the person
identifier's birth date and sex, so they are quasi-identifiers by construction.

    >>> r = column_roles("ekonomiskt_bistand", ["lopnr", "statistikar", "manad", "kommun",
    ...                  "hushallstyp", "belopp_forsorjningsstod", "birth_year"])
    >>> r.quasi_identifiers, r.sensitive
    (('kommun', 'hushallstyp', 'birth_year'), ('belopp_forsorjningsstod',))
    >>> r.person, r.year, r.month
    ('lopnr', 'statistikar', 'manad')
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from mikrodata.access_requests import DERIVED_VARIABLES
from mikrodata.quality.catalogue import load
from mikrodata.toolkit.errors import BadInputError

__all__ = ["PERSON_PSEUDONYM", "ColumnRoles", "column_roles"]

# The person pseudonym of every extract (HELPERS.md: the extract contract).
# The person pseudonym's extract column, as the catalogue declares it (lopnr).
PERSON_PSEUDONYM = next(
    v.extract_name
    for v in load("ekonomiskt_bistand").direct_identifiers()
    if v.identifier_domain == "person"
)


@dataclass(frozen=True)
class ColumnRoles:
    """The roles of one register's columns. ``person`` may be None: every row is then
    its own person (a plain cross-sectional table)."""

    register: str
    person: str | None
    year: str | None
    month: str | None
    quasi_identifiers: tuple[str, ...]
    sensitive: tuple[str, ...]

    @property
    def period(self) -> tuple[str, ...]:
        return tuple(c for c in (self.year, self.month) if c is not None)


def _check_named(register: str, names: Sequence[str], columns: set[str], what: str) -> None:
    missing = [n for n in names if n not in columns]
    if missing:
        raise BadInputError(
            f"register {register}: no column {', '.join(missing)} for the {what}",
            "Name only columns the extract holds",
        )


def column_roles(
    register: str,
    columns: Sequence[str],
    *,
    person: str | None = None,
    quasi_identifiers: Sequence[str] | None = None,
    sensitive: Sequence[str] | None = None,
) -> ColumnRoles:
    """The roles of ``columns`` of ``register``'s extract, read from the catalogue.

    ``person``: the person key (default ``lopnr`` if present, else the catalogue's person
    identifier if present). ``quasi_identifiers`` / ``sensitive`` override the catalogue.
    """
    reg = load(register)
    present = set(columns)
    if person is None:
        ids = [v.name for v in reg.direct_identifiers() if v.identifier_domain == "person"]
        person = next((c for c in (PERSON_PSEUDONYM, *ids) if c in present), None)
    elif person not in present:
        raise BadInputError(f"register {register}: no person column {person!r}", "")
    year = next((p for p in reg.period if reg.variable(p).unit == "year" and p in present), None)
    month = next((p for p in reg.period if reg.variable(p).unit == "month" and p in present), None)

    def catalogued(cls: str) -> tuple[str, ...]:
        names = []
        for c in columns:
            if c in reg.names:
                if reg.variable(c).identifier_class == cls:
                    names.append(c)
            elif cls == "quasi_identifier" and c in DERIVED_VARIABLES:
                names.append(c)
        return tuple(names)

    if quasi_identifiers is None:
        qis = catalogued("quasi_identifier")
    else:
        _check_named(register, quasi_identifiers, present, "quasi-identifiers")
        qis = tuple(quasi_identifiers)
    if sensitive is None:
        sens = catalogued("sensitive")
    else:
        _check_named(register, sensitive, present, "sensitive variables")
        sens = tuple(sensitive)
    clash = set(qis) & {person, year, month}
    if clash:
        raise BadInputError(
            f"register {register}: {', '.join(sorted(c for c in clash if c))} is the person or "
            "period, not a quasi-identifier",
            "The period is always part of a cross-section; leave it out of the list",
        )
    return ColumnRoles(register, person, year, month, qis, sens)
