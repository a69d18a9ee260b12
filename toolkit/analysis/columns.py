"""The column names the researcher's toolkit reads, and checking that a frame has them.

An extract names the person pseudonym ``lopnr`` and the household pseudonym
``lopnr_hushall`` (the catalogue's ``pseudonym`` of personnummer and hushallsid, read
from it); every other column keeps its catalogue name. The toolkit works on
any frame with these names, made by the extract or by hand::

    require(columns, ["lopnr", "statistikar"], "ekonomiskt_bistand frame")
"""

from __future__ import annotations

from collections.abc import Iterable

from mikrodata.quality.catalogue import load
from mikrodata.toolkit.errors import BadInputError

__all__ = [
    "AMOUNT_COLUMNS",
    "HOUSEHOLD",
    "PERSON",
    "adult_roles",
    "require",
    "sweden_code",
]


def _pseudonym_column(domain: str) -> str:
    """The extract column of a domain's pseudonym, as the catalogue declares it
    (``Variable.extract_name``): not repeated in code."""
    reg = load("ekonomiskt_bistand")
    return next(v.extract_name for v in reg.direct_identifiers() if v.identifier_domain == domain)


PERSON = _pseudonym_column("person")  # lopnr
HOUSEHOLD = _pseudonym_column("household")  # lopnr_hushall
# The amounts that make up the assistance of a row (försörjningsstöd and livsföring i
# övrigt, SoL 4 kap. 1 §); introduction compensation is not social assistance.
AMOUNT_COLUMNS = ("belopp_forsorjningsstod", "belopp_livsforing_ovrigt")


def require(columns: Iterable[str], needed: Iterable[str], what: str, hint: str = "") -> None:
    """Raise :class:`BadInputError` naming the first column of ``needed`` that is missing."""
    have = set(columns)
    for name in needed:
        if name not in have:
            if name in (PERSON, HOUSEHOLD) and "personnummer" in have | {"hushallsid"}:
                hint = hint or (
                    "Extracts name the pseudonyms lopnr and lopnr_hushall; rename "
                    "personnummer/hushallsid to them"
                )
            raise BadInputError(
                f"{what} has no column {name!r}",
                hint or f"Add a {name!r} column, or pass the frame that has it",
            )


def adult_roles() -> tuple[str, ...]:
    """The ``roll`` codes of adults (applicant, co-applicant), read from the catalogue:
    every code whose English label does not name a child."""
    codes = load("ekonomiskt_bistand").variable("roll").codes.codes
    return tuple(c.code for c in codes if not c.label_en.lower().startswith("child"))


def sweden_code() -> str:
    """The ``fodelselandgrupp`` code of persons born in Sweden (catalogue label)."""
    codes = load("befolkning").variable("fodelselandgrupp").codes.codes
    return next(c.code for c in codes if c.label_en == "Sweden")
