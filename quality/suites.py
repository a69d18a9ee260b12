"""Expectation suites built from the catalogue, per register, year and mode.

What is valid changes with the year (variables come and go, codes are revised), so a
suite is built for one register and one year, from the catalogue only: no code list,
validity period or variable list is written here.

Every expectation carries ``meta``: ``check`` (what kind of check), ``variable``,
``critical`` (a failure makes ``mikrodata quality run`` exit non-zero) and a one-line
``description`` for the summary.

Three suites per year:

- the row suite (:func:`build_suite`), run on each batch of rows: columns present and
  typed, not-null, value sets valid that year, ranges, the unique key, identifiers
  (deliveries) or pseudonym format (extracts), cross-column rules, variables that do
  not exist in the year are empty;
- the kommun-month suite (:func:`build_period_suite`), run on one row per kommun with
  the number of months delivered: a complete year has all 12 months;
- the household-month suite (:func:`build_holes_suite`), run on one row per household
  with its one-month holes: a month left out of a delivery for a household.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from great_expectations.expectations.row_conditions import Column

from mikrodata.quality.catalogue import Register, Variable
from mikrodata.quality.expectations import (
    ExpectColumnValuesToBeValidIdentifiers,
    ExpectColumnValuesToHaveCatalogueType,
    ExpectRowsToSatisfyRule,
)
from mikrodata.quality.gx_context import gx
from mikrodata.quality.identifiers import pseudonym_pattern
from mikrodata.quality.rules import RULES, check_rule_codes

__all__ = [
    "HOLES_COLUMN",
    "HOLES_MOSTLY",
    "PROBABLE_COLUMN",
    "DROP_COLUMN",
    "BEFORE_COLUMN",
    "ITEM_MISSING_MOSTLY",
    "KOMMUN_MIN_ROWS",
    "ROWS_COLUMN",
    "SEVERITIES",
    "SEVERITY_LABELS",
    "SuitePart",
    "MONTHS_COLUMN",
    "PERIOD_COLUMNS",
    "build_holes_suite",
    "build_period_suite",
    "build_suite",
    "household_column",
    "spell_end_variable",
    "split_suite",
    "unchanged_household_variables",
    "suite_name",
]

# Share of rows that must be filled in a variable the catalogue says is always
# reported: item non-response below this is a warning, not a failure, because real
# deliveries carry some (the missingness report measures it).
ITEM_MISSING_MOSTLY = 0.9

# Columns of the kommun frame the kommun-month suite validates.
MONTHS_COLUMN = "months_delivered"
ROWS_COLUMN = "rows"
PERIOD_COLUMNS = ("kommun", MONTHS_COLUMN, ROWS_COLUMN)
# A kommun with at least this many rows in a year is expected to have every month.
KOMMUN_MIN_ROWS = 120
# Column of the household frame: 1 for a one-month hole, 0 for a household without.
HOLES_COLUMN = "one_month_holes"
# 1 for a hole the data say is a month missing inside a spell (see Source.month_holes).
PROBABLE_COLUMN = "probable_missing_month"
# Columns of the kommun frame for the completeness checks (see Source.months_by).
DROP_COLUMN = "month_drop"
BEFORE_COLUMN = "rows_before"
HOLES_MOSTLY = 0.75


def suite_name(register: str, year: int, mode: str, part: str = "rows") -> str:
    """``<register>.<year>.<mode>.<part>``, e.g. ``ekonomiskt_bistand.2015.delivery.rows``."""
    return f"{register}.{year}.{mode}.{part}"


SEVERITIES = ("critical", "warning", "info")


def _meta(
    check: str,
    variable: str | None,
    severity: str,
    description: str,
    *,
    part: str | None = None,
    extra_columns: Sequence[str] = (),
    rows: str = "person",
) -> dict:
    """``severity``: critical (fails the run, exit code 15), warning (a reviewer looks)
    or info (listed, asks for nothing); ``part``: the group of checks computed together
    (default: the variable); ``extra_columns``: columns a row condition reads besides
    the checked ones; ``rows``: the Data Docs page the check is shown on (``person`` or
    ``household`` rows, by the variable's level in the catalogue).

    Data Docs show the severity in each expectation's description (:func:`_described`)."""
    if severity not in SEVERITIES:
        raise ValueError(f"unknown severity {severity!r}")
    return {
        "check": check,
        "variable": variable,
        "severity": severity,
        "critical": severity == "critical",
        "description": description,
        "part": part or variable,
        "rows": rows,
        "extra_columns": list(extra_columns),
    }


# How Data Docs name each severity: GX renders an expectation's ``description`` in
# place of its generated sentence, on suite and validation pages alike, so the severity
# leads the line a reviewer reads. (GX's META_PROPERTIES column would be the other way,
# but in GX 1.24 it breaks the rendering of every page whose suite asks for it.)
SEVERITY_LABELS = {"critical": "CRITICAL", "warning": "Warning", "info": "Info"}


def _described(expectations: list) -> list:
    """Give every expectation its GX ``description``: severity, then the sentence."""
    for exp in expectations:
        meta = exp.meta or {}
        exp.description = f"{SEVERITY_LABELS[meta['severity']]}: {meta['description']}"
    return expectations


def _suite_meta(reg: Register, year: int, mode: str) -> dict:
    return {
        "register": reg.name,
        "year": year,
        "mode": mode,
        "catalogue": reg.version,
    }


def _rows(reg: Register, variables: Sequence[str]) -> str:
    """The Data Docs page of a check on ``variables``: household rows when every one
    is a household variable, else person rows."""
    levels = {reg.variable(v).level for v in variables if v in reg.names}
    return "household" if levels == {"household"} else "person"


def _variable_expectations(
    reg: Register, var: Variable, year: int, columns: set[str], extract: bool
) -> list:
    name = var.name
    out: list = []
    rows = _rows(reg, [name])
    if name not in columns:
        if extract:
            # An extract holds the approved variables only; its manifest says which.
            return out
        # Absence fails the suite; nothing else can be checked on a missing column.
        out.append(
            gx.expectations.ExpectColumnToExist(
                column=name,
                meta=_meta(
                    "column_present", name, "critical", f"{name} is present ({year})", rows=rows
                ),
            )
        )
        return out
    out.append(
        ExpectColumnValuesToHaveCatalogueType(
            column=name,
            catalogue_type=var.type,
            meta=_meta(
                "type", name, "critical", f"{name} has catalogue type {var.type}", rows=rows
            ),
        )
    )
    in_key = name in reg.key

    # Not-null: identifiers and key columns always; other variables with some item
    # non-response tolerated; where applies_to limits the rows, only on those rows, and
    # the other rows must be empty (structurally not applicable).
    if var.applies_to is not None:
        cond_var, cond_codes = var.applies_to
        if cond_var in columns:
            applicable = Column(cond_var).is_in(list(cond_codes))
            not_applicable = Column(cond_var).is_not_in(list(cond_codes))
            if not var.nullable:
                out.append(
                    gx.expectations.ExpectColumnValuesToNotBeNull(
                        column=name,
                        mostly=ITEM_MISSING_MOSTLY,
                        row_condition=applicable,
                        meta=_meta(
                            "not_null",
                            name,
                            "warning",
                            f"{name} reported where {cond_var} in {list(cond_codes)}",
                            extra_columns=[cond_var],
                            rows=rows,
                        ),
                    )
                )
            out.append(
                gx.expectations.ExpectColumnValuesToBeNull(
                    column=name,
                    row_condition=not_applicable,
                    meta=_meta(
                        "not_applicable_empty",
                        name,
                        "critical",
                        f"{name} empty where {cond_var} not in {list(cond_codes)}",
                        extra_columns=[cond_var],
                        rows=rows,
                    ),
                )
            )
    elif var.is_direct_identifier or in_key:
        out.append(
            gx.expectations.ExpectColumnValuesToNotBeNull(
                column=name,
                meta=_meta("not_null", name, "critical", f"{name} is never missing", rows=rows),
            )
        )
    elif not var.nullable:
        out.append(
            gx.expectations.ExpectColumnValuesToNotBeNull(
                column=name,
                mostly=ITEM_MISSING_MOSTLY,
                meta=_meta(
                    "not_null",
                    name,
                    "warning",
                    f"{name} reported in at least {ITEM_MISSING_MOSTLY:.0%} of rows",
                    rows=rows,
                ),
            )
        )

    if var.is_direct_identifier:
        if extract:
            out.append(
                gx.expectations.ExpectColumnValuesToMatchRegex(
                    column=name,
                    regex=pseudonym_pattern(),
                    meta=_meta(
                        "pseudonym_format",
                        name,
                        "critical",
                        f"{name} holds project pseudonyms",
                        rows=rows,
                    ),
                )
            )
        elif var.identifier_domain == "person":
            out.append(
                ExpectColumnValuesToBeValidIdentifiers(
                    column=name,
                    reference_year=year,
                    meta=_meta(
                        "identifier_valid",
                        name,
                        "critical",
                        f"{name} is a valid personnummer or samordningsnummer",
                        rows=rows,
                    ),
                )
            )
            out.append(
                ExpectColumnValuesToBeValidIdentifiers(
                    column=name,
                    normalised=True,
                    reference_year=year,
                    meta=_meta(
                        "identifier_form",
                        name,
                        "warning",
                        f"{name} is in the normalised 12-digit form",
                        rows=rows,
                    ),
                )
            )

    codes = var.codes_in(year)
    if var.codes is not None:
        out.append(
            gx.expectations.ExpectColumnValuesToBeInSet(
                column=name,
                value_set=[c.code for c in codes],
                meta=_meta(
                    "value_set", name, "critical", f"{name} uses codes valid in {year}", rows=rows
                ),
            )
        )
    if name in reg.period and name == reg.period[0]:
        out.append(
            gx.expectations.ExpectColumnValuesToBeInSet(
                column=name,
                value_set=[year],
                meta=_meta("period", name, "critical", f"{name} is {year}", rows=rows),
            )
        )
    elif var.min is not None or var.max is not None:
        out.append(
            gx.expectations.ExpectColumnValuesToBeBetween(
                column=name,
                min_value=var.min,
                max_value=var.max,
                meta=_meta(
                    "range",
                    name,
                    "critical",
                    f"{name} between {var.min} and {var.max}"
                    + (f" {var.unit}" if var.unit else ""),
                    rows=rows,
                ),
            )
        )
    return out


def build_suite(
    reg: Register, year: int, columns: Sequence[str], *, extract: bool = False
) -> gx.ExpectationSuite:
    """The row suite of ``reg`` for ``year``, given the columns of the data.

    ``extract``: the data is a pseudonymised extract, so direct identifiers are checked
    for the pseudonym format instead of as personnummer.
    """
    present = set(columns)
    mode = "extract" if extract else "delivery"
    expectations: list = []
    for var in reg.variables_in(year):
        expectations.extend(_variable_expectations(reg, var, year, present, extract))
    for var in reg.variables:
        if not var.exists_in(year) and var.name in present:
            expectations.append(
                gx.expectations.ExpectColumnValuesToBeNull(
                    column=var.name,
                    meta=_meta(
                        "not_in_year",
                        var.name,
                        "critical",
                        f"{var.name} does not exist in {year} and is empty",
                        rows=_rows(reg, [var.name]),
                    ),
                )
            )
    key = [k for k in reg.key if k in present and reg.variable(k).exists_in(year)]
    if key:
        key_meta = _meta(
            "unique_key",
            ",".join(key),
            "critical",
            f"one row per {', '.join(key)}",
            part="unique_key",
            rows=_rows(reg, key),
        )
        expectations.append(
            gx.expectations.ExpectCompoundColumnsToBeUnique(
                column_list=key, ignore_row_if="never", meta=key_meta
            )
            if len(key) > 1
            # GX's compound check needs two columns or more
            else gx.expectations.ExpectColumnValuesToBeUnique(column=key[0], meta=key_meta)
        )
    for rule in RULES.values():
        usable = all(
            c in reg.names and c in present and reg.variable(c).exists_in(year)
            for c in rule.columns
        )
        if usable:
            check_rule_codes(reg, rule)
            expectations.append(
                ExpectRowsToSatisfyRule(
                    column_list=list(rule.columns),
                    rule=rule.name,
                    meta=_meta(
                        "cross_column",
                        ",".join(rule.columns),
                        "warning",
                        rule.description,
                        part=rule.name,
                        rows=_rows(reg, rule.columns),
                    ),
                )
            )
    # Built whole: adding to a suite one by one needs an active GX context.
    return gx.ExpectationSuite(
        name=suite_name(reg.name, year, mode),
        expectations=_described(expectations),
        meta=_suite_meta(reg, year, mode),
    )


@dataclass(frozen=True)
class SuitePart:
    """Checks of a suite that read the same few columns, run together on those only."""

    suite: gx.ExpectationSuite
    columns: tuple[str, ...]


def split_suite(suite: gx.ExpectationSuite) -> list[SuitePart]:
    """Split a row suite into parts by ``meta["part"]`` (a variable, the unique key, a
    rule), each with the columns it reads.

    Why: GX's pandas engine filters the whole batch frame (every column) for each
    metric of each expectation, so one suite on all columns costs expectations x
    columns x rows. Run per part on only its columns, the same checks cost a fraction
    (measured in benchmarks/bench_quality.py); Data Docs show one suite per part.
    """
    groups: dict[str, list] = {}
    columns: dict[str, list[str]] = {}
    for exp in suite.expectations:
        part = exp.meta.get("part") or exp.meta.get("variable") or "table"
        groups.setdefault(part, []).append(exp)
        cols = columns.setdefault(part, [])
        kwargs = exp.configuration.kwargs
        for col in [kwargs.get("column")] + list(kwargs.get("column_list") or []):
            if col and col not in cols:
                cols.append(col)
        for col in exp.meta.get("extra_columns", []):
            if col not in cols:
                cols.append(col)
    return [
        SuitePart(
            gx.ExpectationSuite(
                name=f"{suite.name}.{part}",
                expectations=[e.copy() if hasattr(e, "copy") else e for e in exps],
                meta={**suite.meta, "part": part},
            ),
            tuple(columns[part]),
        )
        for part, exps in groups.items()
    ]


def build_period_suite(
    reg: Register, year: int, *, extract: bool = False
) -> gx.ExpectationSuite | None:
    """The kommun-month suite for ``year``: every kommun large enough to have
    recipients every month delivered all months of the year.

    Runs on one row per kommun (:data:`PERIOD_COLUMNS` plus ``rows``). Kommuns with
    fewer than :data:`KOMMUN_MIN_ROWS` rows in the year are left out: a tiny kommun
    can have a month without any recipient. None when the register has no month in
    that year (one row per person and year).
    """
    month = _month(reg, year)
    if month is None or "kommun" not in reg.names:
        return None
    mode = "extract" if extract else "delivery"
    months = int(month.max - (month.min or 1) + 1)
    checks = [
        gx.expectations.ExpectColumnValuesToBeBetween(
            column=MONTHS_COLUMN,
            min_value=months,
            max_value=months,
            row_condition=Column(ROWS_COLUMN) >= KOMMUN_MIN_ROWS,
            meta=_meta(
                "months_complete",
                month.name,
                "warning",
                f"every kommun with at least {KOMMUN_MIN_ROWS} rows delivered all {months} "
                f"months of {year}",
                extra_columns=[ROWS_COLUMN],
            ),
        ),
        gx.expectations.ExpectColumnValuesToBeInSet(
            column=DROP_COLUMN,
            value_set=[0],
            row_condition=Column(ROWS_COLUMN) >= KOMMUN_MIN_ROWS,
            meta=_meta(
                "kommun_month_drop",
                "kommun",
                "warning",
                f"no kommun's month of {year} falls far below its own median month (a "
                "file missing from one municipality)",
                extra_columns=[ROWS_COLUMN],
            ),
        ),
        gx.expectations.ExpectColumnValuesToBeBetween(
            column=ROWS_COLUMN,
            min_value=1,
            row_condition=Column(BEFORE_COLUMN) >= KOMMUN_MIN_ROWS,
            meta=_meta(
                "kommun_present",
                "kommun",
                "warning",
                f"every kommun with at least {KOMMUN_MIN_ROWS} rows in {year - 1} has rows "
                f"in {year}",
                extra_columns=[BEFORE_COLUMN],
            ),
        ),
    ]
    return gx.ExpectationSuite(
        name=suite_name(reg.name, year, mode, "kommun_months"),
        expectations=_described(checks),
        meta=_suite_meta(reg, year, mode),
    )


def household_column(reg: Register) -> str | None:
    """The column whose months are followed for holes: the household identifier (a
    direct identifier of domain household) or, without one, the person identifier."""
    for domain in ("household", "person"):
        for var in reg.direct_identifiers():
            if var.identifier_domain == domain:
                return var.name
    return None


def build_holes_suite(
    reg: Register, year: int, *, extract: bool = False
) -> gx.ExpectationSuite | None:
    """The household-month suite for ``year``: few households have a one-month hole
    (months m-1 and m+1 delivered, m not), the trace a month left out of a delivery
    leaves.

    Runs on one row per hole and one per household without a hole (per person in
    registers without a household id), :data:`HOLES_COLUMN` 1 or 0: every hole is
    listed, even two in one household.
    Real spells have short breaks too, hence a warning with ``mostly``
    (:data:`HOLES_MOSTLY`), never a failure of the delivery: the holes are listed for
    review. None without a month or a household identifier in that year.
    """
    month = _month(reg, year)
    household = household_column(reg)
    if month is None or household is None or not reg.variable(household).exists_in(year):
        return None
    mode = "extract" if extract else "delivery"
    checks = [
        gx.expectations.ExpectColumnValuesToBeInSet(
            column=HOLES_COLUMN,
            value_set=[0],
            mostly=HOLES_MOSTLY,
            meta=_meta(
                "month_holes",
                month.name,
                "info",
                f"one-month holes in {year} are listed (at most {1 - HOLES_MOSTLY:.0%} of "
                "households); most cannot be told from a gap between spells",
                rows="household",
            ),
        ),
    ]
    if spell_end_variable(reg, year) is not None:
        checks.append(
            gx.expectations.ExpectColumnValuesToBeInSet(
                column=PROBABLE_COLUMN,
                value_set=[0],
                meta=_meta(
                    "missing_month",
                    month.name,
                    "warning",
                    f"no household has a month missing inside a spell in {year} (a hole "
                    "after a month without avslutsorsak, household variables unchanged "
                    "either side)",
                    rows="household",
                ),
            )
        )
    return gx.ExpectationSuite(
        name=suite_name(reg.name, year, mode, "household_months"),
        expectations=_described(checks),
        meta=_suite_meta(reg, year, mode),
    )


def spell_end_variable(reg: Register, year: int) -> str | None:
    """The variable reported only in the month a spell ends (``applies_in:
    spell_end``), if it exists in ``year``: what tells a gap between spells from a
    month missing from a delivery."""
    for var in reg.variables:
        if var.applies_in == "spell_end" and var.exists_in(year):
            return var.name
    return None


def unchanged_household_variables(reg: Register, year: int) -> tuple[str, ...]:
    """What a household is through a spell: its kommun and its composition (the
    columns of the household-composition rule, :mod:`quality.rules`), compared either
    side of a hole. Not the month's assistance (amounts, purposes), which vary."""
    wanted = ("kommun", *RULES["household_composition"].columns)
    return tuple(
        v.name for v in reg.variables_in(year) if v.name in wanted and v.level == "household"
    )


def _month(reg: Register, year: int) -> Variable | None:
    if len(reg.period) < 2:
        return None
    month = reg.variable(reg.period[1])
    if not month.exists_in(year) or month.max is None:
        return None
    return month
