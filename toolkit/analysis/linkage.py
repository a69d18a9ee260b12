"""Linking spells with the other registers, on the pseudonym ``lopnr``.

::

    d = demographics(s, bef, at="start")          # age, sex, born abroad, kommun at start
    iv = register_intervals(barn_unga, "barn_unga")   # placements as month intervals
    o = overlaps(s, iv)                           # spells x intervals that overlap
    e = events_near(s, barn_unga, "insats_start", after=12, members=eb)  # within a window
    deaths(eb, befolkning=bef, dodsorsak=dod)     # death date and cause per person

Definitions:

* **Demographics as of a date**: the ``befolkning`` row of the date's calendar year
  (``ar``; the person's situation on 31 December); ``age`` in completed years on the
  date (the first day of a month period; 0 in the month of birth); ``sex`` = ``kon``;
  ``born_abroad`` = ``fodelselandgrupp`` is not Sweden's code (catalogue); ``kommun``
  of that row.
* **Intervals** (:func:`register_intervals`), as month periods: ``barn_unga``: a
  placement from the month of ``insats_start`` to the month of ``insats_slut`` (the
  December of ``ar`` while it is still ongoing), one per person, start and
  ``insatsform``; ``sol_insatser``: consecutive months with the same ``insats``;
  ``lss``: consecutive years with the same ``insats``, from October of the first year
  to October of the last (LSS describes 1 October). ``kind`` is the measure's code.
* **Overlap**: a spell [start, end] and an interval [start, end] of the same person
  overlap when each starts before the other ends; ``overlap_months`` counts the
  months in both.
* **Events near a spell**: events with a date in the months from ``anchor - before``
  to ``anchor + after`` (``anchor`` = the spell's ``start`` or ``end``). For household
  spells (``lopnr_hushall``) ``members`` (the register frame) gives the persons with a
  row in the household during the spell, and their events count.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from mikrodata.toolkit.errors import BadInputError

from .columns import HOUSEHOLD, PERSON, require, sweden_code
from .dialect import integer, month_of_date, text, using
from .engine import Engine, column_names
from .engines import open_engine
from .keys import packed_keys, packed_runs, unpacked

__all__ = [
    "INTERVAL_REGISTERS",
    "deaths",
    "demographics",
    "events_near",
    "month_numbers",
    "overlaps",
    "register_intervals",
]

INTERVAL_REGISTERS = ("barn_unga", "lss", "sol_insatser")
LSS_MONTH = 10  # LSS describes the situation on 1 October
_NAT = np.iinfo(np.int64).min  # pandas' ordinal of a missing period


def month_numbers(values) -> np.ndarray:
    """Month periods (or dates) as the toolkit's month index, year * 12 + month - 1."""
    series = pd.Series(values)
    if isinstance(series.dtype, pd.PeriodDtype):
        if series.dtype != pd.PeriodDtype("M"):
            raise BadInputError(
                "a period column is not monthly",
                "Use monthly spells (resolution='month') for linkage",
            )
        ords = pd.PeriodIndex(series).asi8
        out = ords.astype(np.float64) + 1970 * 12
        out[ords == np.iinfo(np.int64).min] = np.nan  # NaT
        return out
    dates = pd.to_datetime(series.astype("string"), errors="coerce")
    return (dates.dt.year * 12 + dates.dt.month - 1).to_numpy(dtype=np.float64)


def _periods(months: pd.Series) -> pd.Series:
    m = pa.array(months, from_pandas=True).cast(pa.int64())
    ords = np.asarray(m.fill_null(0)) - 1970 * 12
    ords = np.where(np.asarray(m.is_null()), np.iinfo(np.int64).min, ords)  # NaT
    return pd.Series(pd.PeriodIndex.from_ordinals(ords, freq="M"), index=months.index)


def _months_array(values) -> pa.Array:
    """Month periods or dates as a nullable int64 Arrow array of month indexes (the
    ordinals of :func:`_ordinal_values`, counted from year 0)."""
    ords = _ordinal_values(values)
    missing = ords == _NAT
    return pa.array(np.where(missing, 0, ords + 1970 * 12), mask=missing)


def _text(series: pd.Series) -> pa.Array:
    """A column as an Arrow string array (no copy when it is Arrow-backed already in
    one chunk)."""
    values = pa.array(series.astype(pd.ArrowDtype(pa.string())))
    return values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values


def _unit(spells: pd.DataFrame) -> str:
    for c in (PERSON, HOUSEHOLD):
        if c in spells.columns:
            return c
    raise BadInputError("spells frame has no column 'lopnr'", "Pass the frame spells() returns")


def _spell_table(spells: pd.DataFrame, extra=()) -> pd.DataFrame:
    require(spells.columns, ["spell", "start", "end"], "spells frame")
    unit = _unit(spells)
    out = {
        "unit": _text(spells[unit]),
        "spell": pa.array(spells["spell"].astype("int64")),
        "s0": _months_array(spells["start"]),
        "s1": _months_array(spells["end"]),
    }
    for name in extra:
        out[name] = pa.array(spells[name])
    return pa.table(out)


def demographics(frame: pd.DataFrame, befolkning, at: str = "start") -> pd.DataFrame:
    """``frame`` with ``age``, ``sex``, ``born_abroad`` and ``kommun`` as of its column
    ``at`` (a month period or a date), from ``befolkning``."""
    require(frame.columns, [PERSON, at], "frame")
    bcols = column_names(befolkning, "befolkning frame")
    require(bcols, [PERSON, "ar", "fodelsedatum"], "befolkning frame")
    if isinstance(frame[at].dtype, pd.PeriodDtype):
        dates = frame[at].dt.start_time
    else:
        dates = pd.to_datetime(frame[at].astype("string"), errors="coerce")
    keys = pd.DataFrame(
        {
            "i": np.arange(len(frame)),
            "person": frame[PERSON].astype("string").to_numpy(),
            "d": dates.dt.date.to_numpy(),
        }
    )
    sex = "CAST(b.kon AS VARCHAR)" if "kon" in bcols else "CAST(NULL AS VARCHAR)"
    kommun = "CAST(b.kommun AS VARCHAR)" if "kommun" in bcols else "CAST(NULL AS VARCHAR)"
    abroad = (
        f"CAST(b.fodelselandgrupp AS VARCHAR) <> {text(sweden_code())}"
        if "fodelselandgrupp" in bcols
        else "CAST(NULL AS BOOLEAN)"
    )
    with Engine() as engine:
        engine.register("k", keys)
        engine.register("bef", befolkning)
        birth = "TRY_CAST(b.fodelsedatum AS DATE)"
        got = engine.frame(
            f"""SELECT k.i,
                   CAST(CASE WHEN {month_of_date("k.d")} = {month_of_date(birth)} THEN 0
                        ELSE year(k.d) - year({birth})
                             - CASE WHEN month(k.d) * 100 + day(k.d)
                                         < month({birth}) * 100 + day({birth})
                                    THEN 1 ELSE 0 END END AS BIGINT) AS age,
                   {sex} AS sex, {abroad} AS born_abroad, {kommun} AS kommun
                FROM k LEFT JOIN (
                    SELECT *, row_number() OVER (
                        PARTITION BY {PERSON}, ar ORDER BY fodelsedatum) AS rk FROM bef) b
                  ON b.{PERSON} = k.person AND TRY_CAST(b.ar AS BIGINT) = year(k.d)
                     AND b.rk = 1
                ORDER BY k.i"""
        )
    out = frame.reset_index(drop=True).copy()
    for col in ("age", "sex", "born_abroad", "kommun"):
        out[col] = got[col].to_numpy()
        out[col] = out[col].astype(got[col].dtype)
    return out


def register_intervals(frame, register: str) -> pd.DataFrame:
    """Another register's rows as month intervals: ``lopnr``, ``kind``, ``start``,
    ``end`` (month periods), one row per interval (see the module docstring)."""
    if register not in INTERVAL_REGISTERS:
        raise BadInputError(
            f"register {register!r} has no intervals here",
            f"Use one of {', '.join(INTERVAL_REGISTERS)}",
        )
    cols = column_names(frame, f"{register} frame")
    if register == "barn_unga":
        require(
            cols, [PERSON, "ar", "insats_start", "insats_slut", "insatsform"], "barn_unga frame"
        )
        start = month_of_date("TRY_CAST(insats_start AS DATE)")
        end = month_of_date("TRY_CAST(insats_slut AS DATE)")
        sql = f"""SELECT CAST({PERSON} AS VARCHAR) AS lopnr, CAST(insatsform AS VARCHAR) AS kind,
                         {start} AS s0,
                         max(coalesce({end}, TRY_CAST(ar AS BIGINT) * 12 + 11)) AS s1
                  FROM r WHERE insats_start IS NOT NULL
                  GROUP BY lopnr, kind, s0"""
    else:
        period = (
            "TRY_CAST(ar AS BIGINT) * 12 + TRY_CAST(manad AS BIGINT) - 1"
            if register == "sol_insatser"
            else "TRY_CAST(ar AS BIGINT)"
        )
        require(
            cols,
            [PERSON, "ar", "insats"] + (["manad"] if register == "sol_insatser" else []),
            f"{register} frame",
        )
        # Gaps and islands: consecutive periods with the same measure.
        islands = f"""SELECT lopnr, kind, min(p) AS p0, max(p) AS p1 FROM (
                        SELECT *, p - row_number() OVER (PARTITION BY lopnr, kind ORDER BY p) AS k
                        FROM (SELECT DISTINCT CAST({PERSON} AS VARCHAR) AS lopnr,
                                     CAST(insats AS VARCHAR) AS kind, {period} AS p
                              FROM r WHERE {PERSON} IS NOT NULL AND insats IS NOT NULL) d
                        WHERE p IS NOT NULL) x
                      GROUP BY lopnr, kind, k"""
        if register == "sol_insatser":
            sql = f"SELECT lopnr, kind, p0 AS s0, p1 AS s1 FROM ({islands}) i"
        else:
            m = integer(LSS_MONTH - 1)
            sql = f"SELECT lopnr, kind, p0 * 12 + {m} AS s0, p1 * 12 + {m} AS s1 FROM ({islands}) i"
    with Engine() as engine:
        engine.register("r", frame)
        got = engine.frame(sql + " ORDER BY lopnr, s0, kind")
    return pd.DataFrame(
        {
            PERSON: got["lopnr"],
            "kind": got["kind"],
            "start": _periods(got["s0"]),
            "end": _periods(got["s1"]),
        }
    )


OVERLAP_SQL = """
    SELECT s.unit, s.spell, i.kind, i.i0, i.i1,
           greatest(s.s0, i.i0) AS o0, least(s.s1, i.i1) AS o1,
           least(s.s1, i.i1) - greatest(s.s0, i.i0) + 1 AS overlap_months
    FROM s JOIN i ON i.person = s.unit AND i.i0 <= s.s1 AND i.i1 >= s.s0
    ORDER BY s.position, i.i0, i.kind NULLS LAST, i.i1"""


def _ordinal_values(values) -> np.ndarray:
    """Month periods (or dates) as month ordinals, months since 1970-01, pandas' NaT
    value where missing: pandas' own numbers for monthly periods, so a period column
    is read as it is."""
    series = values if isinstance(values, pd.Series) else pd.Series(values)
    if series.dtype == pd.PeriodDtype("M"):
        return series.array.asi8
    m = month_numbers(series) - 1970 * 12  # dates; a period of another frequency raises
    missing = np.isnan(m)
    ords = np.where(missing, 0, m).astype(np.int64)
    ords[missing] = _NAT
    return ords


def _nullable(ordinals: np.ndarray) -> pa.Array:
    """Month ordinals as an Arrow array, null where NaT (for the SQL engines)."""
    return pa.array(ordinals, mask=ordinals == _NAT)


def _from_ordinals(ordinals: np.ndarray) -> pd.arrays.PeriodArray:
    return pd.PeriodIndex.from_ordinals(ordinals, freq="M").array


def overlaps(
    spells: pd.DataFrame,
    intervals: pd.DataFrame,
    engine: Engine | str | None = None,
    *,
    spark=None,
):
    """Every pair of a spell and an interval of the same person that overlap: the
    spell's ``lopnr`` and ``spell``, the interval's ``kind``, ``interval_start``,
    ``interval_end``, and ``overlap_start``, ``overlap_end``, ``overlap_months``; in the
    order of ``spells``, then by interval start, kind (missing last) and interval end.

    ``engine="spark"`` (with ``spark``, a SparkSession) runs the same join as Spark SQL,
    with identical results."""
    unit = _unit(spells)
    if unit != PERSON:
        raise BadInputError(
            "overlaps need person spells (lopnr)", "Build spells with unit='person'"
        )
    require(spells.columns, ["spell", "start", "end"], "spells frame")
    require(intervals.columns, [PERSON, "start", "end"], "intervals frame")
    # The join runs on month ordinals (no conversion of period columns either way).
    s = {
        "unit": _text(spells[PERSON]),
        "spell": pa.array(spells["spell"].astype("int64")),
        "s0": _ordinal_values(spells["start"]),
        "s1": _ordinal_values(spells["end"]),
    }
    kinds = intervals["kind"] if "kind" in intervals else pd.Series([None] * len(intervals))
    i = {
        "person": _text(intervals[PERSON]),
        "kind": _text(kinds),
        "i0": _ordinal_values(intervals["start"]),
        "i1": _ordinal_values(intervals["end"]),
    }
    if engine is None and spark is None:  # NumPy on integer codes; an engine runs the SQL
        got = _overlap_pairs(s, i)
    else:
        runner, own = open_engine(engine, spark)
        try:
            with using(runner.DIALECT):
                # Pairs come in the order of the spells frame (an integer sort; spells()
                # returns it by person and spell), then by interval start and kind.
                position = pa.array(np.arange(len(spells)))
                runner.register("s", _sql_table({**s, "position": position}, ("s0", "s1")))
                runner.register("i", _sql_table(i, ("i0", "i1")))
                table = runner.arrow(OVERLAP_SQL)
        finally:
            if own:
                runner.close()
        got = {name: table.column(name).combine_chunks() for name in table.column_names}
        for name in ("i0", "i1", "o0", "o1"):
            got[name] = np.asarray(got[name].fill_null(_NAT))

    def column(name: str) -> pd.api.extensions.ExtensionArray:
        values = got[name]  # Arrow, or NumPy (the months)
        return pd.arrays.ArrowExtensionArray(
            values if isinstance(values, pa.Array) else pa.array(values)
        )

    return pd.DataFrame(
        {
            PERSON: column("unit"),
            "spell": column("spell"),
            "kind": column("kind"),
            "interval_start": _from_ordinals(got["i0"]),
            "interval_end": _from_ordinals(got["i1"]),
            "overlap_start": _from_ordinals(got["o0"]),
            "overlap_end": _from_ordinals(got["o1"]),
            "overlap_months": column("overlap_months"),
        }
    )


def _sql_table(columns: dict, ordinals: tuple[str, ...]) -> pa.Table:
    return pa.table({k: _nullable(v) if k in ordinals else v for k, v in columns.items()})


def _order_by(*keys: np.ndarray) -> np.ndarray:
    """The stable permutation sorting rows by ``keys`` (non-negative or not, integers),
    the first the most significant: one integer argsort of the keys combined when
    their ranges fit in 62 bits, else ``np.lexsort``."""
    if not len(keys[0]):
        return np.zeros(0, np.int64)
    combined = np.zeros(len(keys[0]), np.int64)
    room = 1
    for key in keys:
        lo = int(key.min())
        span = int(key.max()) - lo + 1
        room *= span
        if room >= 2**62:
            return np.lexsort(keys[::-1])
        combined = combined * span + (key - lo)
    return np.argsort(combined, kind="stable")


class _IntervalBlocks(NamedTuple):
    """The intervals side of :func:`_overlap_pairs`, prepared once: each usable
    interval's row (``usable``, sorted by person code, start, kind, end), each person
    code's block of them (``per_code`` long from ``block_start``), the persons
    (``packed``: sorted packed pseudonyms, a code is the rank; or None, when
    ``names`` holds them and a code is the index) and the columns."""

    person: pa.Array
    usable: np.ndarray
    per_code: np.ndarray
    block_start: np.ndarray
    packed: np.ndarray | None
    names: pa.Array | None
    kind: pa.Array
    i0: np.ndarray
    i1: np.ndarray


def _overlap_pairs(s: dict, i: dict) -> dict:
    """:data:`OVERLAP_SQL` with NumPy: the same pairs, columns and order. Persons are
    integer codes: for the extract's pseudonyms (16 lower-case hex characters) the rank
    of the packed number (:mod:`.keys`) among the intervals' distinct persons, found by
    binary search; for any other names the intervals' pseudonyms dictionary-encoded and
    the spells' looked up in that dictionary. The intervals are sorted by (person, start,
    kind, end), so each spell's candidates are one contiguous block (start and length
    by person code, from ``np.bincount``); the blocks are expanded (spell by spell, in
    the spells' order) and the pairs that overlap kept. Columns go in and out as NumPy
    month ordinals (NaT where missing) and Arrow arrays (persons, spell, kind)."""
    blocks = _interval_blocks(i)
    block, live, live_code = _live_runs(s["unit"], blocks)
    usable = blocks.usable
    # Only the spells of persons with an interval go on: the runs of neighbouring
    # spells whose person has one, expanded to their positions (in the spells' order).
    head_at = np.append(np.flatnonzero(block), len(block))
    first, lengths = head_at[live], head_at[live + 1] - head_at[live]
    cum = np.cumsum(lengths)
    within = np.arange(int(cum[-1]) if len(cum) else 0) - np.repeat(cum - lengths, lengths)
    spell = np.repeat(first, lengths) + within
    code = np.repeat(live_code, lengths)
    s0, s1 = s["s0"][spell], s["s1"][spell]
    ok = (s0 != _NAT) & (s1 != _NAT)
    if not ok.all():
        spell, code, s0, s1 = spell[ok], code[ok], s0[ok], s1[ok]
    # Each spell against every interval of its person: the candidate pairs.
    count = blocks.per_code[code]
    at = np.repeat(np.arange(len(count)), count)  # each candidate pair's spell (of these)
    offsets = np.cumsum(count) - count
    candidate = usable[blocks.block_start[code][at] + np.arange(len(at)) - offsets[at]]
    a0, a1 = s0[at], s1[at]
    b0, b1 = blocks.i0[candidate], blocks.i1[candidate]
    keep = np.flatnonzero((b0 <= a1) & (b1 >= a0))  # positions: cheaper than masks, 6 times
    a0, a1, b0, b1 = a0[keep], a1[keep], b0[keep], b1[keep]
    take_s, take_i = pa.array(spell[at[keep]]), pa.array(candidate[keep])
    o0, o1 = np.maximum(a0, b0), np.minimum(a1, b1)
    return {
        # a pair's person is its interval's (the same name): taken from the fewer rows
        "unit": blocks.person.take(take_i),
        "spell": s["spell"].take(take_s),
        "kind": blocks.kind.take(take_i),
        "i0": b0,
        "i1": b1,
        "o0": o0,
        "o1": o1,
        "overlap_months": o1 - o0 + 1,
    }


def _interval_blocks(i: dict) -> _IntervalBlocks:
    person = i["person"]
    packed = packed_keys(person)
    if packed is not None:
        # The extract's pseudonyms as numbers (:mod:`.keys`): codes are ranks among the
        # intervals' distinct persons; no strings compared.
        persons, i_code = np.unique(packed, return_inverse=True)
        i_code = i_code.astype(np.int64).ravel()
        names, n_codes = None, len(persons)  # spelled only if a spell needs them
    else:
        encoded = person.dictionary_encode()
        i_code = np.asarray(encoded.indices.fill_null(-1)).astype(np.int64)
        persons, names, n_codes = None, encoded.dictionary, len(encoded.dictionary)

    i0, i1, kind = i["i0"], i["i1"], i["kind"]
    # Intervals that can match: a person and both ends. Sorted by person, start, kind
    # (a null kind last, as ORDER BY sorts it), end.
    usable = np.flatnonzero((i_code >= 0) & (i0 != _NAT) & (i1 != _NAT))
    if len(usable):
        kinds = kind.take(pa.array(usable))
        enc = kinds.dictionary_encode()  # ranks of the few distinct kinds, null last
        rank = np.empty(len(enc.dictionary) + 1, np.int64)
        rank[np.asarray(pc.sort_indices(enc.dictionary))] = np.arange(len(enc.dictionary))
        rank[-1] = len(enc.dictionary)
        codes = np.asarray(enc.indices.fill_null(-1)).astype(np.int64)
        kind_rank = rank[codes]
        usable = usable[_order_by(i_code[usable], i0[usable], kind_rank, i1[usable])]
    # Each person's block of usable intervals: its start and length, by code.
    per_code = np.bincount(i_code[usable], minlength=n_codes)
    block_start = np.cumsum(per_code) - per_code
    return _IntervalBlocks(person, usable, per_code, block_start, persons, names, kind, i0, i1)


def _live_runs(unit: pa.Array, blocks: _IntervalBlocks) -> tuple[np.ndarray, ...]:
    """Where each run of equal neighbouring spell persons starts (a bool per spell),
    the runs whose person has a usable interval (their numbers, ascending) and those
    persons' codes: one look-up per run (spells come by person: one a person)."""
    runs = packed_runs(unit) if blocks.packed is not None else None
    if runs is not None:
        block, heads = runs
        persons = blocks.packed
        if len(persons) and len(heads) and (heads[1:] > heads[:-1]).all():
            # spells by person (as spells() gives them): the persons searched among
            # the spells' (the fewer needles); the runs found come in order.
            at = np.minimum(np.searchsorted(heads, persons), len(heads) - 1)
            found = np.flatnonzero((heads[at] == persons) & (blocks.per_code > 0))
            return block, at[found], found
        head_code = np.full(len(heads), -1, np.int64)
        if len(persons):
            at = np.minimum(np.searchsorted(persons, heads), len(persons) - 1)
            found = persons[at] == heads
            head_code[found] = at[found]
    else:
        block = np.ones(len(unit), bool)
        if len(unit) > 1:
            same = pc.equal(unit.slice(1), unit.slice(0, len(unit) - 1))
            block[1:] = ~np.asarray(same.fill_null(False))
        names = blocks.names if blocks.packed is None else unpacked(blocks.packed)
        head_code = pc.index_in(unit.take(pa.array(np.flatnonzero(block))), value_set=names)
        head_code = np.asarray(head_code.fill_null(-1)).astype(np.int64)
    live = np.flatnonzero(head_code >= 0)
    live = live[blocks.per_code[head_code[live]] > 0]
    return block, live, head_code[live]


def events_near(
    spells: pd.DataFrame,
    events,
    date: str,
    before: int = 0,
    after: int = 12,
    anchor: str = "start",
    members=None,
) -> pd.DataFrame:
    """``spells`` with ``n_events`` and ``first_event`` (a month period): the events of
    ``events`` (``lopnr`` and the date column ``date``) in the months from
    ``anchor - before`` to ``anchor + after``."""
    if anchor not in ("start", "end"):
        raise BadInputError(f"anchor {anchor!r} is unknown", "Use anchor='start' or 'end'")
    for name, v in (("before", before), ("after", after)):
        if int(v) < 0:
            raise BadInputError(f"{name}={v} is negative", "Give months >= 0")
    unit = _unit(spells)
    ecols = column_names(events, "events frame")
    require(ecols, [PERSON, date], "events frame")
    s = _spell_table(spells).to_pandas(types_mapper=pd.ArrowDtype)
    s["a"] = s["s0"] if anchor == "start" else s["s1"]
    with Engine() as engine:
        engine.register("s", s)
        engine.register("ev", events)
        ev = (
            f"SELECT CAST({PERSON} AS VARCHAR) AS person,"
            f" {month_of_date(f'TRY_CAST({date} AS DATE)')} AS m FROM ev WHERE {date} IS NOT NULL"
        )
        if unit == HOUSEHOLD:
            if members is None:
                raise BadInputError(
                    "household spells need members= to link persons' events",
                    "Pass members=<the ekonomiskt_bistand frame>",
                )
            mcols = engine.register("mem", members)
            require(mcols, [PERSON, HOUSEHOLD, "statistikar", "manad"], "members frame")
            link = """JOIN (SELECT DISTINCT CAST(lopnr_hushall AS VARCHAR) AS hh,
                               CAST(lopnr AS VARCHAR) AS person,
                               TRY_CAST(statistikar AS BIGINT) * 12
                                 + TRY_CAST(manad AS BIGINT) - 1 AS m
                        FROM mem) mm ON mm.hh = s.unit AND mm.m BETWEEN s.s0 AND s.s1
                      JOIN e ON e.person = mm.person"""
            pairs = f"""SELECT DISTINCT s.unit, s.spell, e.person, e.m FROM s {link}
                        WHERE e.m BETWEEN s.a - {integer(before)} AND s.a + {integer(after)}"""
        else:
            pairs = f"""SELECT s.unit, s.spell, e.person, e.m FROM s JOIN e ON e.person = s.unit
                        WHERE e.m BETWEEN s.a - {integer(before)} AND s.a + {integer(after)}"""
        got = engine.frame(
            f"""WITH e AS ({ev}), p AS ({pairs})
                SELECT s.unit, s.spell, CAST(count(p.m) AS BIGINT) AS n_events,
                       min(p.m) AS first_m
                FROM s LEFT JOIN p ON p.unit = s.unit AND p.spell = s.spell
                GROUP BY s.unit, s.spell"""
        )
    key = pd.MultiIndex.from_arrays([s["unit"], s["spell"]])
    got = got.set_index(["unit", "spell"]).reindex(key)
    out = spells.reset_index(drop=True).copy()
    out["n_events"] = got["n_events"].to_numpy()
    out["first_event"] = _periods(pd.Series(got["first_m"].to_numpy())).to_numpy()
    return out


def deaths(frame, befolkning=None, dodsorsak=None) -> pd.DataFrame:
    """One row per person of ``frame`` with ``dodsdatum`` (the earliest recorded) and,
    from ``dodsorsak``, ``underliggande_dodsorsak``; null for persons not known dead."""
    cols = column_names(frame, "frame")
    require(cols, [PERSON], "frame")
    parts = []
    with Engine() as engine:
        engine.register("f", frame)
        if befolkning is not None:
            bcols = engine.register("bef", befolkning)
            require(bcols, [PERSON, "dodsdatum"], "befolkning frame")
            parts.append(
                f"SELECT CAST({PERSON} AS VARCHAR) AS person, TRY_CAST(dodsdatum AS DATE) AS d,"
                " CAST(NULL AS VARCHAR) AS cause FROM bef"
            )
        if dodsorsak is not None:
            dcols = engine.register("dod", dodsorsak)
            require(dcols, [PERSON, "dodsdatum"], "dodsorsak frame")
            cause = (
                "CAST(underliggande_dodsorsak AS VARCHAR)"
                if "underliggande_dodsorsak" in dcols
                else "CAST(NULL AS VARCHAR)"
            )
            parts.append(
                f"SELECT CAST({PERSON} AS VARCHAR) AS person, TRY_CAST(dodsdatum AS DATE) AS d,"
                f" {cause} AS cause FROM dod"
            )
        if not parts:
            raise BadInputError(
                "deaths need befolkning= or dodsorsak=", "Pass the frames that record deaths"
            )
        union = " UNION ALL ".join(parts)
        return engine.frame(
            f"""SELECT p.person AS {PERSON}, min(d.d) AS dodsdatum,
                       max(d.cause) AS underliggande_dodsorsak
                FROM (SELECT DISTINCT CAST({PERSON} AS VARCHAR) AS person FROM f) p
                LEFT JOIN ({union}) d ON d.person = p.person AND d.d IS NOT NULL
                GROUP BY p.person ORDER BY p.person"""
        )
