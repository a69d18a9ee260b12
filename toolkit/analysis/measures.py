"""The register's official measures: long-term receipt and the yearly counts.

::

    lt = mikrodata.long_term(eb)                        # one row per person and year
    counts = mikrodata.official_counts(eb, befolkning=bef)   # one row per year

Definitions (DOMAIN.md section 2; ``docs/analysis.md`` has the worked tables):

* **Months with assistance** of a unit in a year (``months``): the distinct calendar
  months with a row (from 2002); before 2002 ``bistandsmanader`` (a person's months
  are summed over the households they were in that year, at most 12; a household's
  months are the largest value on its members' rows).
* **Long-term** (``long_term``, official): assistance in at least ``threshold`` = 10 of
  the 12 months of the calendar year.
* **Very long-term** (``very_long_term``, a convention, not an official rule: no
  official definition exists): long-term in each of the last ``very_long_term_years``
  (default 3) calendar years up to and including this one; null when those years reach
  back before the first year in the data.
* **Counts per year** (:func:`official_counts`), the register's way: a household counts
  once in a year if it received assistance in any month of it, whatever municipality;
  persons are every member of a recipient household, counted once; a person is an
  adult when they have an adult role (applicant, co-applicant; catalogue codes) in any
  row of the year, otherwise a child. ``by="kommun"`` places each unit in the
  municipality of its last month with assistance in the year (a convention: each unit
  is counted once, so municipalities add up to the national count).
* **Shares** against the two denominators Kolada publishes, kept apart: long-term adults
  per adult recipient, and per adult in the population (``befolkning``: persons with a
  row for the year, aged 18 or more on 31 December).
"""

from __future__ import annotations

import pandas as pd

from mikrodata.quality.catalogue import load
from mikrodata.toolkit.errors import BadInputError

from .columns import AMOUNT_COLUMNS, HOUSEHOLD, PERSON, adult_roles, require
from .dialect import count_if, integer, text, using, value_at_max
from .engine import Engine, column_names
from .engines import open_engine

__all__ = ["LONG_TERM_MONTHS", "VERY_LONG_TERM_YEARS", "long_term", "official_counts"]

LONG_TERM_MONTHS = 10  # official: 10-12 months of the calendar year
VERY_LONG_TERM_YEARS = 3  # convention: long-term in three consecutive years


def _check(threshold: int, years: int) -> None:
    if not 1 <= int(threshold) <= 12:
        raise BadInputError(f"threshold {threshold} is not 1-12 months", "Use 10 (official)")
    if int(years) < 1:
        raise BadInputError(f"very_long_term_years {years} is below 1", "Use 3 (convention)")


def _unit_years(cols: list[str], unit: str, threshold: int, years: int) -> str:
    """SQL: one row per unit and year with months, long_term, very_long_term and, where
    the frame has them, adult, kon and the last month's kommun."""
    key = PERSON if unit == "person" else HOUSEHOLD
    month = "TRY_CAST(manad AS BIGINT)" if "manad" in cols else "CAST(NULL AS BIGINT)"
    annual = (
        "TRY_CAST(bistandsmanader AS BIGINT)"
        if "bistandsmanader" in cols
        else "CAST(NULL AS BIGINT)"
    )
    hh = HOUSEHOLD if HOUSEHOLD in cols else "CAST(NULL AS STRING)"
    adult_codes = ", ".join(text(c) for c in adult_roles())
    adult = (
        f"max(CASE WHEN CAST(roll AS STRING) IN ({adult_codes}) THEN 1 ELSE 0 END) = 1"
        if "roll" in cols
        else "CAST(NULL AS BOOLEAN)"
    )
    kon = "max(CAST(kon AS STRING))" if "kon" in cols else "CAST(NULL AS STRING)"
    kommun = (
        value_at_max("CAST(kommun AS STRING)", "coalesce(m, 12)")
        if "kommun" in cols
        else "CAST(NULL AS STRING)"
    )
    # Before 2002 a person's months add up over the households of the year (at most 12);
    # a household's months are the largest value on its members' rows.
    annual_months = "least(12, sum(a))" if unit == "person" else "max(a)"
    k = integer(years)
    return f"""
      WITH r AS (
        SELECT CAST({key} AS STRING) AS unit, TRY_CAST(statistikar AS BIGINT) AS y,
               {month} AS m, {annual} AS a0, CAST({hh} AS STRING) AS hh, *
        FROM eb WHERE {key} IS NOT NULL AND statistikar IS NOT NULL),
      annual AS (
        SELECT unit, y, hh, max(a0) AS a FROM r WHERE m IS NULL AND a0 BETWEEN 1 AND 12
        GROUP BY unit, y, hh),
      months AS (
        SELECT unit, y, sum(n) AS months FROM (
          SELECT unit, y, count(DISTINCT m) AS n FROM r WHERE m BETWEEN 1 AND 12
          GROUP BY unit, y
          UNION ALL
          SELECT unit, y, {annual_months} AS n FROM annual GROUP BY unit, y) u
        GROUP BY unit, y),
      attrs AS (
        SELECT unit, y, {adult} AS adult, {kon} AS kon, {kommun} AS kommun
        FROM r GROUP BY unit, y),
      flagged AS (
        SELECT a.unit, a.y, CAST(least(12, m.months) AS BIGINT) AS months,
               least(12, m.months) >= {integer(threshold)} AS long_term,
               a.adult, a.kon, a.kommun
        FROM attrs a JOIN months m ON m.unit = a.unit AND m.y = a.y)
      SELECT unit, y, months, long_term,
             CASE WHEN y - {k} + 1 < (SELECT min(y) FROM flagged) THEN NULL
                  ELSE sum(CASE WHEN long_term THEN 1 ELSE 0 END) OVER (
                         PARTITION BY unit ORDER BY y
                         RANGE BETWEEN {integer(years - 1)} PRECEDING AND CURRENT ROW) = {k}
             END AS very_long_term,
             adult, kon, kommun
      FROM flagged"""


def long_term(
    frame,
    unit: str = "person",
    threshold: int = LONG_TERM_MONTHS,
    very_long_term_years: int = VERY_LONG_TERM_YEARS,
    *,
    engine: Engine | str | None = None,
    spark=None,
) -> pd.DataFrame:
    """One row per person (or household) and year: ``statistikar``, ``months``,
    ``long_term``, ``very_long_term`` (and ``adult``, ``kon``, ``kommun`` when the frame
    has ``roll``, ``kon``, ``kommun``). See the module docstring for the definitions.
    ``engine="spark"`` (with ``spark``, a SparkSession) runs the same SQL on Spark, with
    identical results; ``frame`` may then be a Spark DataFrame.

    >>> import pandas as pd
    >>> eb = pd.DataFrame({"lopnr": ["a"] * 10, "statistikar": [2015] * 10,
    ...                    "manad": list(range(1, 11))})
    >>> long_term(eb)[["lopnr", "statistikar", "months", "long_term"]].values.tolist()
    [['a', 2015, 10, True]]
    """
    if unit not in ("person", "household"):
        raise BadInputError(f"unit {unit!r} is unknown", "Use unit='person' or 'household'")
    _check(threshold, very_long_term_years)
    cols = column_names(frame, "ekonomiskt_bistand frame")
    key = PERSON if unit == "person" else HOUSEHOLD
    require(cols, [key, "statistikar"], "ekonomiskt_bistand frame")
    runner, own = open_engine(engine, spark)
    try:
        with using(runner.DIALECT):
            runner.register("eb", frame)
            out = runner.frame(
                f"SELECT * FROM ({_unit_years(cols, unit, threshold, very_long_term_years)}) x"
                " ORDER BY unit, y"
            )
    finally:
        if own:
            runner.close()
    out = out.rename(columns={"unit": key, "y": "statistikar"})
    extra = [
        c for c in ("adult", "kon", "kommun") if c in cols or (c == "adult" and "roll" in cols)
    ]
    if unit == "household":
        extra = [c for c in extra if c == "kommun"]
    return out[[key, "statistikar", "months", "long_term", "very_long_term", *extra]]


def _sex_codes() -> tuple[str, str]:
    codes = load("ekonomiskt_bistand").variable("kon").codes.codes
    women = next(c.code for c in codes if c.label_en == "Female")
    men = next(c.code for c in codes if c.label_en == "Male")
    return women, men


def official_counts(
    frame,
    befolkning=None,
    by: str | None = None,
    threshold: int = LONG_TERM_MONTHS,
) -> pd.DataFrame:
    """The register's yearly figures: one row per ``statistikar`` (and ``kommun`` with
    ``by="kommun"``) with ``households``, ``persons``, ``adults``, ``children``,
    ``adult_women``, ``adult_men``, ``household_months``, ``months_per_household``,
    ``amount``, ``amount_per_household``, ``long_term_households``,
    ``long_term_adults``, ``adult_population``, ``long_term_share_of_adult_recipients``
    and ``long_term_share_of_adult_population`` (null without ``befolkning``)."""
    if by not in (None, "kommun"):
        raise BadInputError(f"by={by!r} is unknown", "Use by=None or by='kommun'")
    _check(threshold, 1)
    cols = column_names(frame, "ekonomiskt_bistand frame")
    require(cols, [PERSON, HOUSEHOLD, "statistikar", "roll"], "ekonomiskt_bistand frame")
    if by:
        require(cols, ["kommun"], "ekonomiskt_bistand frame")
    women, men = _sex_codes()
    group = "y, kommun" if by else "y"
    with Engine() as engine:
        engine.register("eb", frame)
        engine.table("py", _unit_years(cols, "person", threshold, 1))
        engine.table("hy", _unit_years(cols, "household", threshold, 1))
        amounts = [c for c in AMOUNT_COLUMNS if c in cols]
        amount = " + ".join(f"coalesce({c}, 0)" for c in amounts) or "CAST(NULL AS DOUBLE)"
        month = "manad" if "manad" in cols else "CAST(NULL AS BIGINT)"
        # A household's amount repeats on its members' rows: once per household-month.
        engine.table(
            "hamount",
            f"""SELECT unit, y, sum(a) AS amount FROM (
                  SELECT CAST({HOUSEHOLD} AS STRING) AS unit,
                         TRY_CAST(statistikar AS BIGINT) AS y, {month} AS m,
                         max({amount}) AS a
                  FROM eb WHERE {HOUSEHOLD} IS NOT NULL
                  GROUP BY unit, y, m) x GROUP BY unit, y""",
        )
        kommun_p = ", kommun" if by else ""
        persons = engine.frame(
            f"""SELECT y{kommun_p}, CAST(count(*) AS BIGINT) AS persons,
                   {count_if("adult")} AS adults,
                   CAST(sum(CASE WHEN adult THEN 0 ELSE 1 END) AS BIGINT) AS children,
                   {count_if("adult AND kon = " + text(women) + "")}
                       AS adult_women,
                   {count_if("adult AND kon = " + text(men) + "")} AS adult_men,
                   {count_if("adult AND long_term")} AS long_term_adults
                FROM py GROUP BY {group}"""
        )
        households = engine.frame(
            f"""SELECT h.y{", h.kommun" if by else ""}, CAST(count(*) AS BIGINT) AS households,
                   CAST(sum(h.months) AS BIGINT) AS household_months,
                   {count_if("h.long_term")} AS long_term_households,
                   CAST(sum(a.amount) AS DOUBLE) AS amount
                FROM hy h LEFT JOIN hamount a ON a.unit = h.unit AND a.y = h.y
                GROUP BY {group.replace("y", "h.y").replace("kommun", "h.kommun")}"""
        )
        if befolkning is not None:
            bcols = engine.register("bef", befolkning, what="befolkning frame")
            need = [PERSON, "ar", "fodelsedatum"] + (["kommun"] if by else [])
            require(bcols, need, "befolkning frame")
            population = engine.frame(
                f"""SELECT TRY_CAST(ar AS BIGINT) AS y{kommun_p},
                       CAST(count(DISTINCT {PERSON}) AS BIGINT) AS adult_population
                    FROM bef
                    WHERE TRY_CAST(ar AS BIGINT) - year(TRY_CAST(fodelsedatum AS DATE)) >= 18
                    GROUP BY {group.replace("y", "TRY_CAST(ar AS BIGINT)")}"""
            )
        else:
            population = None
    keys = ["y", "kommun"] if by else ["y"]
    out = households.merge(persons, on=keys, how="outer")
    if population is not None:
        out = out.merge(population, on=keys, how="left")
    else:
        out["adult_population"] = pd.array([pd.NA] * len(out), dtype="int64[pyarrow]")
    out = out.rename(columns={"y": "statistikar"}).sort_values(
        ["statistikar", "kommun"] if by else ["statistikar"], ignore_index=True
    )
    out["months_per_household"] = out["household_months"] / out["households"]
    out["amount_per_household"] = out["amount"] / out["households"]
    out["long_term_share_of_adult_recipients"] = out["long_term_adults"] / out["adults"]
    out["long_term_share_of_adult_population"] = out["long_term_adults"] / out["adult_population"]
    order = [
        "statistikar",
        *(["kommun"] if by else []),
        "households",
        "persons",
        "adults",
        "children",
        "adult_women",
        "adult_men",
        "household_months",
        "months_per_household",
        "amount",
        "amount_per_household",
        "long_term_households",
        "long_term_adults",
        "adult_population",
        "long_term_share_of_adult_recipients",
        "long_term_share_of_adult_population",
    ]
    return out[order]
