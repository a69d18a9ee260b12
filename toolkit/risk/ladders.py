"""Which coarsening steps a column can take, from least to most, read from the catalogue.

Each quasi-identifier gets a *ladder* by its catalogue type and unit:

- a ``date``: to the month, then to the year;
- an integer count (unit ``persons``: adults, children in the household): top-coded at
  5, 4, 3, 2;
- any other integer (``birth_year``, ``age``, a year): bands of 5, 10, 20 (each a
  multiple of the one before, so steps compose);
- a code from the shared ``kommun`` list: municipalities whose population share (the
  list's ``befolkningsandel``) is below 0.1%, 0.2%, 0.5%, 2%, then all, to their county;
- any other code or text: codes held by fewer than k persons, then fewer than 10k,
  merged into one;

and the month of a monthly register can go to quarters (it is no quasi-identifier, but
it is part of every point a person's history is made of). :func:`next_steps` gives the
next rung of every ladder after the steps already taken.

    >>> from mikrodata.quality.catalogue import load
    >>> ladder_kind(load("befolkning"), "fodelsedatum")
    'date'
"""

from __future__ import annotations

from collections.abc import Sequence

from mikrodata.access_requests import DERIVED_VARIABLES
from mikrodata.quality.catalogue import Register, load
from mikrodata.toolkit.extract.source import quote

from .coarsen import Band, KommunToLan, MergeCodes, MonthToQuarter, Step, TopCode, TruncateDate
from .tables import RiskTable

__all__ = [
    "BAND_WIDTHS",
    "KOMMUN_SHARES",
    "TOP_CODES",
    "ladder_kind",
    "merge_rare_codes",
    "next_steps",
    "small_municipalities",
]

BAND_WIDTHS = (5, 10, 20)
TOP_CODES = (5, 4, 3, 2)
KOMMUN_SHARES = (0.001, 0.002, 0.005, 0.02, 1.0)
RARE_FACTORS = (1, 10)  # codes held by fewer than factor * k persons are rare


def ladder_kind(reg: Register, column: str) -> str | None:
    """``date``, ``count``, ``band``, ``kommun``, ``codes`` or None (no ladder)."""
    if column in reg.names:
        v = reg.variable(column)
        kind, unit, ref = v.type, v.unit, v.codes.ref if v.codes else None
    elif column in DERIVED_VARIABLES:
        kind, unit, ref = DERIVED_VARIABLES[column].type, None, None
    else:
        return None
    if kind == "date":
        return "date"
    if kind == "integer":
        return "count" if unit == "persons" else "band"
    if ref == "kommun":
        return "kommun"
    if kind in ("code", "string"):
        return "codes"
    return None


def small_municipalities(reg: Register, column: str, below_share: float) -> tuple[str, ...]:
    """The municipality codes of the catalogue's list with a population share below
    ``below_share`` (all of them for a share of 1 or more)."""
    codes = reg.variable(column).codes
    return tuple(
        c.code
        for c in codes.codes
        if below_share >= 1 or float(c.extra.get("befolkningsandel") or 0) < below_share
    )


def merge_rare_codes(
    tables: Sequence[RiskTable], column: str, fewer_than: int
) -> MergeCodes | None:
    """Merge the values of ``column`` held by fewer than ``fewer_than`` persons (over
    every table with the column); at least two values, adding the next rarest when only
    one is rare. None when nothing is rare."""
    parts = [
        f"SELECT CAST({quote(column)} AS VARCHAR) AS v, CAST({t.person_sql()} AS VARCHAR) AS p "
        f"FROM {t.relation}"
        for t in tables
        if column in t.roles.quasi_identifiers
    ]
    if not parts:
        return None
    counts = (
        tables[0]
        .con.execute(
            f"SELECT v, count(DISTINCT p) AS n FROM ({' UNION ALL '.join(parts)}) "
            "WHERE v IS NOT NULL GROUP BY v ORDER BY n, v"
        )
        .fetchall()
    )
    rare = [v for v, n in counts if n < fewer_than]
    if not rare or len(counts) < 3:  # merging two of two values is suppressing the column
        return None
    if len(rare) == 1:
        rare.append(counts[1][0])
    rare = sorted(rare)
    return MergeCodes(column, tuple(rare), "+".join(rare))


def _taken(applied: Sequence[Step], cls: type, column: str) -> list[Step]:
    return [s for s in applied if isinstance(s, cls) and s.column == column]


def next_steps(tables: Sequence[RiskTable], applied: Sequence[Step], min_k: int) -> list[Step]:
    """The next rung of every ladder of the quasi-identifiers in ``tables`` (and of the
    month), after ``applied``."""
    seen: dict[str, Register] = {}
    for t in tables:
        reg = load(t.register)
        for c in t.roles.quasi_identifiers:
            seen.setdefault(c, reg)
    out: list[Step] = []
    for column, reg in seen.items():
        kind = ladder_kind(reg, column)
        if kind == "date":
            done = {s.to for s in _taken(applied, TruncateDate, column)}
            nxt = next((to for to in ("month", "year") if to not in done), None)
            if nxt and "year" not in done:
                out.append(TruncateDate(column, nxt))
        elif kind == "band":
            widths = [s.width for s in _taken(applied, Band, column)]
            rest = [w for w in BAND_WIDTHS if w > max(widths, default=1)]
            if rest:
                out.append(Band(column, rest[0]))
        elif kind == "count":
            ats = [s.at for s in _taken(applied, TopCode, column)]
            rest = [a for a in TOP_CODES if a < min(ats, default=float("inf"))]
            if rest:
                out.append(TopCode(column, rest[0]))
        elif kind == "kommun":
            shares = [s.below_share or 0 for s in _taken(applied, KommunToLan, column)]
            rest = [s for s in KOMMUN_SHARES if s > max(shares, default=0)]
            if rest:
                out.append(KommunToLan(column, small_municipalities(reg, column, rest[0]), rest[0]))
        elif kind == "codes":
            merged = len(_taken(applied, MergeCodes, column))
            for factor in RARE_FACTORS[merged:]:
                step = merge_rare_codes(tables, column, factor * min_k)
                if step is not None:
                    out.append(step)
                    break
    months = {t.roles.month for t in tables if t.roles.month}
    for month in sorted(months):
        if not _taken(applied, MonthToQuarter, month):
            out.append(MonthToQuarter(month))
    return out
