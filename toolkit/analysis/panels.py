"""Following people over time: person-period panels, event-time alignment and
month-by-month state sequences.

::

    states = {"placed_child": register_intervals(bu, "barn_unga")}
    p = panel(eb, states=states)                      # person x month, one row each
    et = event_time(s, eb, before=12, after=24)       # months around each spell start
    seq = sequences(eb, window=("2015-01", "2016-12"))  # one row per person, one column per month

Definitions:

* **Panel**: every person of the frame (``lopnr``) times every month (or year, with
  ``freq="year"``) of the window (the data's first to last period, or ``window=``);
  ``span="observed"`` keeps each person's months from their first to their last month
  with assistance. ``on_assistance``: the person has a row in the period (a year: in
  any of its months). One boolean column per entry of ``states`` (intervals from
  :func:`register_intervals`): the period lies inside one of the person's intervals.
* **Event time**: for each spell, the months from ``anchor - before`` to
  ``anchor + after`` (``anchor`` = ``start`` or ``end``), ``event_time`` = month minus
  anchor (0 is the anchor month), with ``on_assistance`` and the states.
* **Sequences**: one row per person, one column per month of the window; the value is
  the state of the month: the letters of the states that hold (``A`` on assistance, then
  the first letter of each ``states`` name, or its given code), ``-`` for none.

All three run on DuckDB (the default) or, with ``engine="spark"`` and ``spark=`` (a
SparkSession), as the same SQL on Spark, with identical results; ``frame`` may then be a
Spark DataFrame. A state is a semi-join of the period grid with the state's intervals.
"""

from __future__ import annotations

import pandas as pd

from mikrodata.toolkit.errors import BadInputError

from .columns import PERSON, require
from .dialect import integer, period_series, using
from .engine import Engine, column_names
from .engines import open_engine
from .linkage import month_numbers

__all__ = ["event_time", "panel", "sequences"]


def _window(engine: Engine, window, freq: str) -> tuple[int, int]:
    lo, hi = engine.row("SELECT min(p), max(p) FROM pm")
    if window is not None:
        a, b = (pd.Period(str(w), freq="M") if w is not None else None for w in window)
        lo = a.year * 12 + a.month - 1 if a is not None else lo
        hi = b.year * 12 + b.month - 1 if b is not None else hi
    if lo is None or hi is None:
        raise BadInputError("the frame has no monthly rows", "Pass rows with statistikar and manad")
    if freq == "year":
        return lo // 12, hi // 12
    return lo, hi


def _person_months(engine: Engine, frame) -> None:
    cols = engine.register("eb", frame)
    require(cols, [PERSON, "statistikar", "manad"], "ekonomiskt_bistand frame")
    engine.table(
        "pm",
        f"""SELECT DISTINCT CAST({PERSON} AS STRING) AS person,
                   TRY_CAST(statistikar AS BIGINT) * 12 + TRY_CAST(manad AS BIGINT) - 1 AS p
            FROM eb WHERE {PERSON} IS NOT NULL AND manad IS NOT NULL""",
    )


def _states(engine: Engine, states: dict | None) -> list[str]:
    names = []
    for name, intervals in (states or {}).items():
        if not str(name).isidentifier():
            raise BadInputError(f"state name {name!r} is not a word", "Use names like placed_child")
        require(intervals.columns, [PERSON, "start", "end"], f"intervals of state {name!r}")
        engine.register(
            f"st_{name}",
            pd.DataFrame(
                {
                    "person": intervals[PERSON].astype("string").to_numpy(),
                    "i0": month_numbers(intervals["start"]),
                    "i1": month_numbers(intervals["end"]),
                }
            ),
        )
        names.append(str(name))
    return names


def _state_joins(names: list[str], freq: str, alias: str = "g") -> tuple[str, str]:
    """SQL: one boolean column per state, true when an interval of the person covers
    the period, and the joins that give it (a semi-join: DISTINCT person-periods)."""
    columns, joins = [], []
    for n in names:
        if freq == "year":
            cover = f"i.i0 <= {alias}.p * 12 + 11 AND i.i1 >= {alias}.p * 12"
        else:
            cover = f"i.i0 <= {alias}.p AND i.i1 >= {alias}.p"
        columns.append(f", c_{n}.person IS NOT NULL AS {n}")
        joins.append(
            f""" LEFT JOIN (SELECT DISTINCT {alias}.person, {alias}.p FROM {alias}
                           JOIN st_{n} i ON i.person = {alias}.person AND {cover}) c_{n}
                 ON c_{n}.person = {alias}.person AND c_{n}.p = {alias}.p"""
        )
    return "".join(columns), "".join(joins)


def panel(
    frame,
    freq: str = "month",
    window=None,
    states: dict | None = None,
    span: str = "window",
    *,
    engine: Engine | str | None = None,
    spark=None,
) -> pd.DataFrame:
    """A person-period panel (see the module docstring): ``lopnr``, ``period`` (a
    month or year period), ``on_assistance`` and one column per state.
    ``engine="spark"`` (with ``spark``) runs the same SQL on Spark."""
    if freq not in ("month", "year"):
        raise BadInputError(f"freq {freq!r} is unknown", "Use freq='month' or 'year'")
    if span not in ("window", "observed"):
        raise BadInputError(f"span {span!r} is unknown", "Use span='window' or 'observed'")
    runner, own = open_engine(engine, spark)
    try:
        with using(runner.DIALECT):
            got = _panel(runner, frame, freq, window, states, span)
    finally:
        if own:
            runner.close()
    got.insert(1, "period", _to_periods(got.pop("p"), freq))
    return got


def _panel(engine: Engine, frame, freq: str, window, states, span: str) -> pd.DataFrame:
    _person_months(engine, frame)
    lo, hi = _window(engine, window, freq)
    names = _states(engine, states)
    unit_p = "CAST(floor(p / 12) AS BIGINT)" if freq == "year" else "p"
    if span == "window":
        people = f"SELECT DISTINCT person, {integer(lo)} AS f, {integer(hi)} AS l FROM pm"
    else:
        people = f"SELECT person, min({unit_p}) AS f, max({unit_p}) AS l FROM pm GROUP BY person"
    engine.view("ppl", people)
    engine.view("paid", f"SELECT DISTINCT person, {unit_p} AS p FROM pm")
    engine.table(
        "g",
        f"""SELECT ppl.person, t.p FROM ppl JOIN ({period_series(lo, hi)}) t
            ON t.p BETWEEN ppl.f AND ppl.l""",
    )
    columns, joins = _state_joins(names, freq)
    return engine.frame(
        f"""SELECT g.person AS {PERSON}, g.p, paid.p IS NOT NULL AS on_assistance {columns}
            FROM g LEFT JOIN paid ON paid.person = g.person AND paid.p = g.p {joins}
            ORDER BY g.person, g.p"""
    )


def _to_periods(values: pd.Series, freq: str) -> pd.PeriodIndex:
    base = 1970 if freq == "year" else 1970 * 12
    ords = values.astype("int64").to_numpy() - base
    return pd.PeriodIndex.from_ordinals(ords, freq="Y" if freq == "year" else "M")


def event_time(
    spells: pd.DataFrame,
    frame,
    before: int = 12,
    after: int = 24,
    anchor: str = "start",
    states: dict | None = None,
    *,
    engine: Engine | str | None = None,
    spark=None,
) -> pd.DataFrame:
    """Months around each spell's ``anchor``: ``lopnr``, ``spell``, ``event_time``,
    ``period``, ``on_assistance`` and one column per state.
    ``engine="spark"`` (with ``spark``) runs the same SQL on Spark."""
    if anchor not in ("start", "end"):
        raise BadInputError(f"anchor {anchor!r} is unknown", "Use anchor='start' or 'end'")
    if int(before) < 0 or int(after) < 0:
        raise BadInputError("before/after are negative", "Give months >= 0")
    require(spells.columns, [PERSON, "spell", anchor], "spells frame")
    s = pd.DataFrame(
        {
            "person": spells[PERSON].astype("string").to_numpy(),
            "spell": spells["spell"].astype("int64").to_numpy(),
            "a": month_numbers(spells[anchor]),
        }
    )
    runner, own = open_engine(engine, spark)
    try:
        with using(runner.DIALECT):
            _person_months(runner, frame)
            runner.register("s", s)
            names = _states(runner, states)
            runner.table(
                "g",
                f"""SELECT s.person, s.spell, t.p AS k, CAST(s.a AS BIGINT) + t.p AS p
                    FROM s CROSS JOIN ({period_series(-int(before), int(after))}) t""",
            )
            columns, joins = _state_joins(names, "month")
            got = runner.frame(
                f"""SELECT g.person AS {PERSON}, g.spell, g.k AS event_time, g.p,
                           pm.p IS NOT NULL AS on_assistance {columns}
                    FROM g LEFT JOIN pm ON pm.person = g.person AND pm.p = g.p {joins}
                    ORDER BY g.person, g.spell, g.k"""
            )
    finally:
        if own:
            runner.close()
    got.insert(3, "period", _to_periods(got.pop("p"), "month"))
    return got


def sequences(
    frame,
    window=None,
    states: dict | None = None,
    codes: dict | None = None,
    *,
    engine: Engine | str | None = None,
    spark=None,
) -> pd.DataFrame:
    """Month-by-month state sequences, one row per person (``lopnr``) and one column per
    month of the window, in TraMineR's STS (wide) form (the panel on ``engine``; the
    pivot on the driver)."""
    cols = column_names(frame, "ekonomiskt_bistand frame")
    require(cols, [PERSON, "statistikar", "manad"], "ekonomiskt_bistand frame")
    long = panel(frame, window=window, states=states, engine=engine, spark=spark)
    codes = {"on_assistance": "A", **(codes or {})}
    for name in states or {}:
        codes.setdefault(name, str(name)[0].upper())
    state = pd.Series([""] * len(long), index=long.index, dtype="string")
    for name, code in codes.items():
        state = state.where(~long[name].astype(bool), state + code)
    long["state"] = state.where(state != "", "-")
    wide = long.pivot(index=PERSON, columns="period", values="state")
    wide.columns = [str(c) for c in wide.columns]
    return wide.reset_index()
