"""Spells of social assistance: consecutive months (or years) with assistance, per person
or household, with censoring, end reasons, time to re-entry and an issues table.

::

    import mikrodata
    s = mikrodata.spells(eb, gap=1)                       # one row per spell
    r = mikrodata.build_spells(eb, gap=1, befolkning=bef) # spells, issues, window

The definitions (exact; ``docs/analysis.md`` has them with worked tables):

* **Periods.** From 2002 a row is a person-month (``statistikar``, ``manad``); before
  2002 a person-year (``statistikar``, ``bistandsmanader``). ``resolution="month"``
  builds spells of months, ``"year"`` spells of years; a frame holding both kinds is an
  error unless ``resolution`` says which to build (rows of the other kind then go to the
  issues table; :func:`to_annual` turns monthly rows into annual ones on purpose).
* **Paid periods.** A unit (person ``lopnr``, or household ``lopnr_hushall``) has a paid
  period when it has at least one placed row in it.
* **Gap.** Two paid periods p < q of a unit with no paid period between them belong to
  the same spell when the empty periods between them, ``q - p - 1``, are at most
  ``gap``. ``gap=0``: only consecutive months; ``gap=2``: up to two empty months are
  bridged, three split the spell.
* **Columns.** ``start``/``end``: first and last paid period; ``months``: calendar months
  from the first day of ``start`` to the last day of ``end`` (bridged empty months
  included; at annual resolution 12 per year); ``paid_months``: paid months in the
  spell (at annual resolution the sum of ``bistandsmanader``); ``amount``: the sum of
  ``belopp_forsorjningsstod`` and ``belopp_livsforing_ovrigt`` over the spell's periods
  (household amounts repeat on members' rows: a person's spell carries its household's
  amount in each of its periods, a household's spell counts each household-period
  once); ``rows``: the input rows placed in the spell.
* **Censoring.** The observation window is the first to the last period in the data
  (or ``window=(start, end)``). ``left_censored``: ``start - window_start <= gap`` (a
  paid period just before the window would have joined the spell);
  ``right_censored``: ``window_end - end <= gap`` and the spell did not end in death or
  emigration.
* **End reason.** ``death`` if the person (a household's applicant in its last period)
  died in ``end`` or the period after (``dodsdatum`` of ``befolkning``/``dodsorsak``);
  else ``emigration`` (``utvandringsdatum``, same rule); else ``censored`` if
  right-censored; else ``avslutsorsak`` when the register reported a reason in ``end``
  (from 2017; the code is in column ``avslutsorsak``); else ``unknown``.
* **Re-entry.** ``next_start``: the start of the unit's next spell. ``reentered``: there
  is one. ``months_to_reentry``: empty periods from ``end`` to ``next_start``
  (``next_start - end - 1``); without a next spell the empty periods observed after
  ``end`` up to the window end, death or emigration (a censored time); null for
  spells that are right-censored or end in death or emigration.
* **Issues.** Rows that cannot be placed go to the issues table with a reason, never
  silently dropped (rows in = rows placed + rows in the issues table), checked in this
  order: ``missing_pseudonym``, ``annual_row``/``monthly_row`` (the other resolution),
  ``bad_period`` (no year, a month outside 1-12, ``bistandsmanader`` outside 1-12),
  ``outside_window``, ``before_birth`` (a period before the birth month),
  ``after_death`` (after the death month), then among the remaining rows of one unit
  and period one is placed, the others are ``duplicate`` (same household) or, for
  person spells, ``two_households``. The placed row is the first by role code,
  household pseudonym, amount (largest), months, avslutsorsak, input position: so the
  spells do not depend on the input order. Household spells are built from the
  household's periods, so a person seen in two households gives each a period.

Engine: DuckDB runs one SQL definition (gaps and islands with window functions:
``presorted=False``, what any engine runs). Person spells normally take a shorter road
with the same result: the rows in (``lopnr``, period) order, as extracts are written
(other rows are put in that order by one integer sort of ids and periods), one
vectorised pass over neighbours gives each row its spell key (a running count of spell
starts), and one GROUP BY of that key makes the spells, with no window. Each person's
spells are then checked (no row with an issue, no duplicate period, inside the window
and the person's life): the few persons that fail are redone row by row with the issue
rules and the definition's windows, so the result is the same either way. A clean
frame (no row with an issue; births and deaths, if given, as date columns) needs no
engine at all:
:func:`_numpy_spells` computes its spells with NumPy on the ordered rows.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from mikrodata.toolkit.errors import BadInputError

from .columns import AMOUNT_COLUMNS, HOUSEHOLD, PERSON, require
from .dialect import integer, month_of_date, text, using, value_at_max
from .engine import ROW, Engine, as_arrow, column_names
from .engines import open_engine
from .keys import chunk_runs, packed_keys, unpacked

__all__ = [
    "ISSUE_REASONS",
    "IssuesWarning",
    "SpellResult",
    "build_spells",
    "period_index",
    "spell_issues",
    "spells",
    "to_annual",
]

ISSUE_REASONS = (
    "missing_pseudonym",
    "annual_row",
    "monthly_row",
    "bad_period",
    "outside_window",
    "before_birth",
    "after_death",
    "duplicate",
    "two_households",
)
UNITS = {"person": PERSON, "household": HOUSEHOLD}
RESOLUTIONS = ("month", "year")
# The register's role code of the applicant: a household's deaths are the applicant's.
APPLICANT_ROLE = "1"


class IssuesWarning(UserWarning):
    """Some input rows could not be placed in a spell (they are in the issues table)."""


@dataclass(frozen=True)
class SpellResult:
    """What :func:`build_spells` returns: the spells, the issues table and the window.

    ``rows_in == spells["rows"].sum() + len(issues)`` always holds.
    """

    spells: pd.DataFrame
    issues: pd.DataFrame
    unit: str
    gap: int
    resolution: str
    window: tuple[pd.Period, pd.Period] | None
    rows_in: int
    sorted_input: bool = field(default=False)


def period_index(period: pd.Period | str | int, resolution: str, end: bool = False) -> int:
    """A period as the toolkit's integer index: months since year 0 (``year*12 +
    month - 1``) or the year. A bare year stands for its first (``end=False``) or last
    month."""
    if isinstance(period, (int, np.integer)) and not isinstance(period, bool):
        year = int(period)
        return year if resolution == "year" else year * 12 + (11 if end else 0)
    try:
        text_ = str(period)
        if resolution == "year":
            return int(text_[:4])
        if len(text_) == 4:
            return int(text_) * 12 + (11 if end else 0)
        p = pd.Period(text_, freq="M")
    except (ValueError, TypeError):
        raise BadInputError(
            f"window bound {period!r} is not a period",
            "Write it as 'YYYY-MM' (or a year, 'YYYY')",
        ) from None
    return p.year * 12 + p.month - 1


_NAT_INDEX = np.iinfo(np.int64).min  # a missing period (pandas' NaT ordinal)


def _periods(values: pa.Array | np.ndarray, resolution: str) -> pd.PeriodIndex:
    arr = pa.array(values, type=pa.int64()) if not isinstance(values, pa.Array) else values
    arr = arr.cast(pa.int64())
    mask = np.asarray(arr.is_null())
    ints = np.asarray(arr.fill_null(0)).astype(np.int64)
    base = 1970 if resolution == "year" else 1970 * 12
    ordinals = np.where(mask, np.iinfo(np.int64).min, ints - base)  # min is NaT
    return pd.PeriodIndex.from_ordinals(ordinals, freq="Y" if resolution == "year" else "M")


def _period_label(p: int, resolution: str) -> pd.Period:
    return _periods(np.array([p]), resolution)[0]


def _resolution(engine: Engine, cols: list[str], asked: str | None) -> str:
    if asked is not None:
        if asked not in RESOLUTIONS:
            raise BadInputError(f"resolution {asked!r} is unknown", "Use 'month' or 'year'")
        return asked
    has_month, has_year = "manad" in cols, "bistandsmanader" in cols
    if not has_month and not has_year:
        raise BadInputError(
            "ekonomiskt_bistand frame has no column 'manad' (monthly rows, from 2002) "
            "and no column 'bistandsmanader' (yearly rows, before 2002)",
            "Pass the register's rows with their period columns",
        )
    if not has_year:
        return "month"
    if not has_month:
        return "year"
    monthly, annual = engine.row(
        "SELECT sum(CASE WHEN manad IS NOT NULL THEN 1 ELSE 0 END),"
        " sum(CASE WHEN manad IS NULL AND bistandsmanader IS NOT NULL THEN 1 ELSE 0 END)"
        " FROM eb"
    )
    if monthly and annual:
        raise BadInputError(
            f"the frame mixes {annual} yearly rows (before 2002, bistandsmanader) with "
            f"{monthly} monthly rows",
            "Pass resolution='month' (yearly rows go to the issues table) or "
            "resolution='year' with mikrodata.to_annual(frame) to build yearly spells",
        )
    return "year" if annual else "month"


def _source_view(
    cols: list[str], unit: str, resolution: str, ids: bool = False, keys: str | None = None
) -> str:
    """One row per input row with the columns every later stage uses. With ``ids`` the
    person is the integer ``__pid`` (see :func:`_person_ids`, null exactly when the
    pseudonym is), else the pseudonym. With ``keys``, the table holding the one-pass
    spell keys of :func:`_ordered_keys`: only the columns the spells' GROUP BY reads."""

    def col(name: str, sql_type: str = "STRING") -> str:
        return name if name in cols else f"CAST(NULL AS {sql_type})"

    year = "TRY_CAST(statistikar AS BIGINT)"
    month = f"TRY_CAST({col('manad', 'BIGINT')} AS BIGINT)"
    months = f"TRY_CAST({col('bistandsmanader', 'BIGINT')} AS BIGINT)"
    if resolution == "month":
        kind_wrong = "manad IS NULL" if "manad" in cols else "TRUE"
        wrong = "annual_row"
        period_ok = f"{year} IS NOT NULL AND {month} BETWEEN 1 AND 12"
        p = f"{year} * 12 + {month} - 1"
        paid = "CAST(1 AS BIGINT)"
    else:
        kind_wrong = "manad IS NOT NULL" if "manad" in cols else "FALSE"
        wrong = "monthly_row"
        period_ok = f"{year} IS NOT NULL AND {months} BETWEEN 1 AND 12"
        p = year
        paid = months
    amounts = [c for c in AMOUNT_COLUMNS if c in cols]
    amount = (
        " + ".join(f"coalesce(TRY_CAST({c} AS DOUBLE), 0)" for c in amounts)
        if amounts
        else "CAST(NULL AS DOUBLE)"
    )
    if amounts:  # null when every amount of the row is null
        any_amount = " OR ".join(f"{c} IS NOT NULL" for c in amounts)
        amount = f"CASE WHEN {any_amount} THEN {amount} END"
    unit_col = UNITS[unit]
    missing = "__pid IS NULL" if ids else f"{PERSON} IS NULL OR {unit_col} IS NULL"
    pre_issue = (
        f"CASE WHEN {missing} THEN 'missing_pseudonym'"
        f" WHEN {kind_wrong} THEN '{wrong}'"
        f" WHEN NOT ({period_ok}) OR ({period_ok}) IS NULL THEN 'bad_period' END"
    )
    if keys:
        return f"""
        SELECT __pid AS unit, CASE WHEN pre_issue IS NULL THEN p END AS p, paid, amount,
               CAST({col("avslutsorsak")} AS STRING) AS avsl, pre_issue,
               __g, __spell, __next, __dup
        FROM (SELECT *, {p} AS p, {paid} AS paid, {amount} AS amount,
                     {pre_issue} AS pre_issue FROM {keys}) x"""
    return f"""
        SELECT {ROW} AS row_id,
               {"__pid" if ids else f"CAST({unit_col} AS STRING)"} AS unit,
               {"__pid" if ids else f"CAST({PERSON} AS STRING)"} AS person,
               CAST({PERSON} AS STRING) AS lopnr_in,
               CAST({col(HOUSEHOLD)} AS STRING) AS hh,
               CAST({col("roll")} AS STRING) AS roll,
               CASE WHEN pre_issue IS NULL THEN p END AS p,
               paid, amount,
               CAST({col("avslutsorsak")} AS STRING) AS avsl,
               pre_issue, statistikar_in, manad_in
        FROM (SELECT *, {p} AS p, {paid} AS paid, {amount} AS amount,
                     {pre_issue} AS pre_issue,
                     statistikar AS statistikar_in, {col("manad", "BIGINT")} AS manad_in
              FROM eb) x"""


def _persons(engine: Engine, befolkning, dodsorsak, resolution: str, names=None) -> bool:
    """``persons`` (person, birth_p, death_p) and ``emigrations`` (person, p); whether
    any frame gave them. With ``names`` persons are keyed by their integer id."""

    def period(expr: str) -> str:
        d = f"TRY_CAST({expr} AS DATE)"
        return f"year({d})" if resolution == "year" else month_of_date(d)

    parts, emig = [], []
    pkey = "__pid" if names is not None else f"CAST({PERSON} AS STRING)"
    ptype = "BIGINT" if names is not None else "STRING"
    if befolkning is not None:
        require(column_names(befolkning, "befolkning frame"), [PERSON], "befolkning frame")
        cols = engine.register("bef", _with_ids(befolkning, names, "befolkning frame"))
        birth = period("fodelsedatum") if "fodelsedatum" in cols else "CAST(NULL AS BIGINT)"
        death = period("dodsdatum") if "dodsdatum" in cols else "CAST(NULL AS BIGINT)"
        parts.append(f"SELECT {pkey} AS person, {birth} AS birth_p, {death} AS death_p FROM bef")
        if "utvandringsdatum" in cols:
            emig.append(
                f"SELECT DISTINCT {pkey} AS person,"
                f" {period('utvandringsdatum')} AS p FROM bef"
                " WHERE utvandringsdatum IS NOT NULL"
            )
    if dodsorsak is not None:
        require(
            column_names(dodsorsak, "dodsorsak frame"), [PERSON, "dodsdatum"], "dodsorsak frame"
        )
        cols = engine.register("dod", _with_ids(dodsorsak, names, "dodsorsak frame"))
        parts.append(
            f"SELECT {pkey} AS person, CAST(NULL AS BIGINT) AS birth_p,"
            f" {period('dodsdatum')} AS death_p FROM dod"
        )
    if parts:
        union = " UNION ALL ".join(parts)
        # The earliest birth and death recorded for a person (registers may disagree).
        engine.table(
            "persons",
            f"SELECT person, min(birth_p) AS birth_p, min(death_p) AS death_p"
            f" FROM ({union}) u WHERE person IS NOT NULL GROUP BY person",
        )
    else:
        engine.empty("persons", [("person", ptype), ("birth_p", "BIGINT"), ("death_p", "BIGINT")])
    if emig:
        engine.table("emigrations", f"SELECT person, p FROM ({emig[0]}) e WHERE p IS NOT NULL")
    else:
        engine.empty("emigrations", [("person", ptype), ("p", "BIGINT")])
    return bool(parts)


# The unit's previous run's end and next run's start, beside each run (one window).
_NEIGHBOURS = """lag(last_p) OVER (PARTITION BY unit ORDER BY first_p) AS prev_last,
                 lead(first_p) OVER (PARTITION BY unit ORDER BY first_p) AS next_first"""
_EMPTY_ISSUES = pa.schema(
    [
        ("row", pa.int64()),
        ("person", pa.string()),
        ("hh", pa.string()),
        ("statistikar", pa.int64()),
        ("manad", pa.int64()),
        ("issue", pa.string()),
    ]
).empty_table()


def _run_columns() -> str:
    """A run's summary, from unit-periods (built when used: the dialect decides)."""
    return f"""unit, min(p) AS first_p, max(p) AS last_p, sum(n_rows) AS n_rows,
    sum(paid) AS paid, sum(amount) AS amount, {value_at_max("avsl", "p")} AS avsl_last,
    {value_at_max("who", "p")} AS who_last"""


def _first_runs(cols: list[str], resolution: str) -> str:
    """A run's summary straight from person rows (the first pass over the input): the
    same columns as :func:`_run_columns`, with only the aggregates the frame needs (this
    pass touches every row, so each aggregate costs)."""
    paid = "count(*)" if resolution == "month" else "sum(paid)"
    avsl = value_at_max("avsl", "p") if "avslutsorsak" in cols else "CAST(NULL AS STRING)"
    amount = "sum(amount)" if any(c in cols for c in AMOUNT_COLUMNS) else "CAST(NULL AS DOUBLE)"
    return f"""unit, min(p) AS first_p, max(p) AS last_p, count(*) AS n_rows,
        {paid} AS paid, {amount} AS amount, {avsl} AS avsl_last, unit AS who_last,
        count(pre_issue) AS n_bad"""


def _first_pass(engine: Engine, cols: list[str], resolution: str):
    """Runs of consecutive periods of every person (``runs_w``, with each run's
    neighbours), by the general definition: period - ROW_NUMBER is constant along a
    run. Returns the first and last period."""
    seq = "row_number() OVER (PARTITION BY unit ORDER BY p, row_id)"
    engine.table(
        "runs0",
        f"""SELECT {_first_runs(cols, resolution)}
            FROM (SELECT *, p - {seq} AS k FROM src) x
            GROUP BY unit, k""",
    )
    lo, hi = engine.row("SELECT min(first_p), max(last_p) FROM runs0")
    engine.table("runs_w", f"SELECT *, {_NEIGHBOURS} FROM runs0")
    return lo, hi


def _person_ids(arrow: pa.Table, in_order: bool) -> tuple[pa.Array, pa.Array]:
    """Integer ids for the person pseudonyms (so that every later stage groups, sorts and
    joins integers, not strings) and the pseudonyms by id. Ids follow the pseudonyms'
    sort order. For input sorted by person the id is the number of the row's block of
    equal pseudonyms (one pass over neighbours); for a dictionary-encoded column the
    rank of its dictionary entry (the distinct values are there already); otherwise its
    rank among the sorted distinct pseudonyms (one hash pass to encode, a sort of the
    distinct values)."""
    column = arrow.column(PERSON)
    if pa.types.is_dictionary(column.type) and column.num_chunks:
        encoded = column.unify_dictionaries().combine_chunks()
        values = encoded.dictionary
        # A dictionary with repeated or null entries would give one pseudonym two ids.
        if values.null_count == 0 and pc.count_distinct(values).as_py() == len(values):
            return _ranked(encoded)
    lop = column.cast(pa.string()).combine_chunks()
    if in_order and len(lop) and lop.null_count == 0:
        new = pc.not_equal(lop.slice(1), lop.slice(0, len(lop) - 1))
        starts = np.concatenate([[True], np.asarray(new)])
        names = lop.filter(pa.array(starts))
        # Blocks are persons only if each pseudonym has one block: strictly increasing.
        if (
            len(names) < 2
            or pc.all(pc.less(names.slice(0, len(names) - 1), names.slice(1))).as_py()
        ):
            return pa.array(np.cumsum(starts) - 1, pa.int64()), names
    return _ranked(lop.dictionary_encode())


def _ranked(encoded: pa.DictionaryArray) -> tuple[pa.Array, pa.Array]:
    """Ids of a dictionary-encoded column in the sort order of its distinct values: the
    dictionary is sorted (its values are few), the codes are mapped through the ranks."""
    values = encoded.dictionary.cast(pa.string())
    order = np.asarray(pc.sort_indices(values))
    if not len(order):  # no pseudonym at all
        return pa.nulls(len(encoded), pa.int64()), values
    rank = np.empty(len(order), np.int64)
    rank[order] = np.arange(len(order))
    codes = encoded.indices
    ids = rank[np.asarray(codes.fill_null(0)).astype(np.int64)]
    return pa.array(ids, mask=np.asarray(codes.is_null())), values.take(pa.array(order))


def _with_ids(data, names, what: str):
    """``data`` with ``__pid``, its persons' ids in ``names`` (null when absent)."""
    if names is None:
        return data
    table = as_arrow(data, what)
    if isinstance(table, pa.RecordBatchReader):
        table = table.read_all()
    lop = table.column(PERSON).cast(pa.string())
    return table.append_column("__pid", pc.index_in(lop, value_set=names).cast(pa.int64()))


def _period_numbers(arrow: pa.Table, resolution: str) -> tuple[np.ndarray, np.ndarray] | None:
    """Each row's period index and whether it has one, or None when the period columns
    are not whole numbers (the general path then reads them with the row rules)."""
    year = arrow.column("statistikar") if "statistikar" in arrow.column_names else None
    month = arrow.column("manad") if "manad" in arrow.column_names else None
    if (
        year is not None
        and _is_int(year)
        and not year.null_count
        and (resolution != "month" or (month is not None and _is_int(month)))
        and (resolution != "month" or not month.null_count)
    ):  # whole numbers without gaps (as extracts have them): NumPy, no Arrow kernels
        p = _int64(year)
        if resolution == "month":
            p *= 12
            _int64(month, add_to=p)
            p -= 1
        return p, np.ones(len(p), bool)
    try:
        p = arrow.column("statistikar").cast(pa.int64())
        if resolution == "month":
            month = arrow.column("manad").cast(pa.int64())
            p = pc.add(pc.multiply(p, 12), pc.subtract(month, 1))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, KeyError):
        return None
    p = p.combine_chunks()
    return np.asarray(p.fill_null(0)), np.asarray(p.is_valid())


def _order(pid: np.ndarray, pv: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """The permutation that sorts rows by (id, period): one integer sort of id * span +
    period. Ties need no order (a person with two rows of a period goes to the row
    rules, which rank by input position)."""
    lo = int(pv[valid].min()) if valid.any() else 0
    span = (int(pv[valid].max()) if valid.any() else 0) - lo + 1
    if (int(pid.max()) + 2) * span >= 2**62:  # periods too far apart for one key
        return np.lexsort((pv, pid))
    return np.argsort(pid * span + np.where(valid, pv - lo, 0))


def _packed_order(packed: np.ndarray, pv: np.ndarray):
    """Rows in (person, period) order from the pseudonyms packed as numbers
    (:func:`.keys.packed_keys`): the permutation into that order (None when the rows are
    in it already), the periods in that order, where a person starts and the persons
    (packed) in order.

    Rows out of order are sorted by one ``argsort`` of the packed pseudonym with its
    lowest bits replaced by the period (offset from the smallest): that sorts by
    (person, period) unless two persons share every other bit, which the check after
    the sort finds (the packed pseudonyms are then not in order) and a ``lexsort`` of
    both keys replaces."""
    later, earlier = packed[1:], packed[:-1]
    backwards = (later < earlier) | ((later == earlier) & (pv[1:] < pv[:-1]))
    perm = None
    if backwards.any():
        del backwards
        lo = int(pv.min())
        bits = max(1, int(pv.max()) - lo).bit_length()
        # Two work arrays, reused: the sort key, then the persons in order; the offset
        # periods, then the periods in order (fresh memory is the cost here).
        key = np.bitwise_and(packed, ~np.uint64((1 << bits) - 1))
        offset = np.subtract(pv, lo)
        if bits <= 24:
            np.bitwise_or(key, offset.view(np.uint64), out=key)
            perm = np.argsort(key)
            in_order = np.take(packed, perm, out=key)
            if (in_order[1:] < in_order[:-1]).any():  # persons that differ only there
                perm = None
        if perm is None:
            perm = np.lexsort((pv, packed))
            in_order = np.take(packed, perm, out=key)
        packed, pv = in_order, np.take(pv, perm, out=offset)
    new_person = np.empty(len(packed), bool)
    new_person[:1] = True
    np.not_equal(packed[1:], packed[:-1], out=new_person[1:])
    return perm, pv, new_person, packed[new_person]


@dataclass
class _Keys:
    """The one pass over rows in (person, period) order (see :func:`_ordered_keys`)."""

    pid: np.ndarray  # person id, -1 without one
    pv: np.ndarray  # period index, 0 without one
    valid: np.ndarray  # the row has a person and a period
    start: np.ndarray  # the row starts a spell
    new_unit: np.ndarray  # the row starts a person
    dup: np.ndarray  # a second row of a person and period (0/1)
    g: np.ndarray  # the spell key: a running count of starts
    spell: np.ndarray  # the spell's number within the person
    nxt: np.ndarray  # on a spell's last row: the next spell's start
    has_next: np.ndarray  # ... when the person has a next spell
    perm: np.ndarray | None  # the permutation into that order (None: in order already)


def _key_arrays(ids: pa.Array, periods, gap: int) -> _Keys:
    p, valid = periods
    pid = np.asarray(ids.fill_null(-1))
    valid = valid & np.asarray(ids.is_valid())
    pv = np.where(valid, p, 0)
    backwards = (pid[1:] < pid[:-1]) | ((pid[1:] == pid[:-1]) & (pv[1:] < pv[:-1]))
    in_order = not backwards.any()
    perm = None if in_order else _order(pid, pv, valid)
    if perm is not None:
        pid, pv, valid = pid[perm], pv[perm], valid[perm]
    n = len(pid)
    new_unit = np.ones(n, bool)
    new_unit[1:] = pid[1:] != pid[:-1]
    step = np.diff(pv)
    start = new_unit | ~valid
    start[1:] |= (step - 1 > gap) | ~valid[:-1]
    dup = np.zeros(n, np.int64)
    dup[1:] = ~start[1:] & (step == 0)
    g = np.cumsum(start) - 1
    spell = g - np.maximum.accumulate(np.where(new_unit, g, 0)) + 1
    nxt = np.zeros(n, np.int64)
    has_next = np.zeros(n, bool)
    has_next[:-1] = start[1:] & ~new_unit[1:]
    nxt[:-1] = pv[1:]
    return _Keys(pid, pv, valid, start, new_unit, dup, g, spell, nxt, has_next, perm)


def _ordered_keys(ids: pa.Array, periods, gap: int) -> tuple[pa.Table, np.ndarray | None]:
    """The one pass over rows in (person, period) order: each row's spell key ``__g``
    (a running count of spell starts), its spell's number within the person
    ``__spell``, the next spell's start on a spell's last row ``__next``, and ``__dup``
    for a second row of a person and period. Rows already in that order (as extracts
    are written) are read as they are; otherwise an integer sort of (id, period) puts
    them in it. A row without person or period is a spell of its own; its person goes
    to the row rules, as does a person with a duplicate, so only clean persons keep
    these keys. Returns the columns in (person, period) order and the permutation that
    puts the input in that order (None when it is in order already).
    """
    k = _key_arrays(ids, periods, gap)
    columns = {
        "__g": k.g,
        "__spell": k.spell,
        "__next": pa.array(k.nxt, mask=~k.has_next),
        "__dup": k.dup,
    }
    return pa.table(columns), k.perm


def _is_int(column: pa.ChunkedArray) -> bool:
    return pa.types.is_integer(column.type)


def _int64(column: pa.ChunkedArray, add_to: np.ndarray | None = None) -> np.ndarray:
    """An integer column without nulls as a new int64 NumPy array, or added to
    ``add_to`` in place: chunk by chunk, with no temporary array (fresh memory is what
    large frames pay most for)."""
    out = np.empty(len(column), np.int64) if add_to is None else add_to
    lo = 0
    for chunk in column.chunks:
        hi = lo + len(chunk)
        if add_to is None:
            out[lo:hi] = np.asarray(chunk)
        else:
            np.add(out[lo:hi], np.asarray(chunk), out=out[lo:hi])
        lo = hi
    return out


_BLOCK = 1 << 20  # rows per block of the sorted road's checks: temporaries of 8 MiB


def _sorted_starts(lop: pa.ChunkedArray, pv: np.ndarray, gap: int):
    """For rows already in (person, period) order with the extract's pseudonyms (as
    extracts are written): where each person starts, where each spell starts and the
    persons packed (:func:`.keys.chunk_runs`), found in blocks so that no temporary
    array of the frame's length is made; None when the rows are not in that order or
    a person has a period twice (the general road then sorts, or names the issue)."""
    starts, firsts, last = [], [], None
    for part in chunk_runs(lop):  # stops at the first chunk out of order
        if part is None:
            return None
        start, first = part
        if len(first) and (
            (first[1:] <= first[:-1]).any() or (last is not None and first[0] <= last)
        ):
            return None  # persons out of order, or one split in two
        last = first[-1] if len(first) else last
        starts.append(start)
        firsts.append(first)
    if not starts:
        return None
    new_person, persons = np.concatenate(starts), np.concatenate(firsts)
    starts = _spell_starts(pv, new_person, gap)
    return None if starts is None else (new_person, starts, persons)


def _spell_starts(pv: np.ndarray, new_person: np.ndarray, gap: int) -> np.ndarray | None:
    """Where a spell starts in rows in person order: where the person changes or more
    than ``gap`` empty periods follow; None when a person's periods do not rise (out of
    order, or a period twice). In blocks: no temporary of the rows' length."""
    starts = new_person.copy()
    for lo in range(0, len(pv) - 1, _BLOCK):
        hi = min(len(pv) - 1, lo + _BLOCK)
        step = pv[lo + 1 : hi + 1] - pv[lo:hi]
        if ((step <= 0) & ~new_person[lo + 1 : hi + 1]).any():
            return None
        starts[lo + 1 : hi + 1] |= step > gap + 1
    return starts


def _in_order(column: pa.ChunkedArray, perm: np.ndarray | None):
    """The column's values in (person, period) order, a piece at a time: its chunks, or
    blocks of ``perm`` taken from it."""
    if perm is None:
        yield from column.chunks
        return
    for lo in range(0, len(perm), _BLOCK):
        yield from column.take(pa.array(perm[lo : lo + _BLOCK])).chunks


def _spell_sums(
    columns: list[pa.ChunkedArray], first: np.ndarray, perm: np.ndarray | None, kind: pa.DataType
) -> tuple[np.ndarray, np.ndarray | None]:
    """Each spell's sum of the ``columns`` over its rows (from ``first`` to the next
    spell's first, in (person, period) order: the input's, or ``perm`` of it), nulls
    counted as 0, and whether it had any value (None when no value is null). Chunk by
    piece with ``np.add.reduceat``: a spell cut by a piece's edge adds up its parts, so
    no column is copied whole."""
    total = np.zeros(len(first), kind.to_pandas_dtype())
    # A spell has a value unless every column can be empty and is, in all its rows.
    has = None if any(not c.null_count for c in columns) else np.zeros(len(first), bool)
    zero = pa.scalar(0, kind)
    for column in columns:
        lo = 0
        for chunk in _in_order(column, perm):
            hi = lo + len(chunk)
            if lo == hi:
                continue
            # The spells with rows in the chunk: from the one holding its first row.
            k0 = int(np.searchsorted(first, lo, "right")) - 1
            k1 = int(np.searchsorted(first, hi, "left"))
            at = first[k0:k1] - lo
            at[0] = 0
            values = chunk.cast(kind)
            total[k0:k1] += np.add.reduceat(np.asarray(values.fill_null(zero)), at)
            if has is not None:
                has[k0:k1] |= np.logical_or.reduceat(np.asarray(values.is_valid()), at)
            lo = hi
    return total, has


def _numpy_spells(
    frame,
    gap: int,
    window,
    asked: str | None,
    presorted: bool | None,
    befolkning=None,
    dodsorsak=None,
) -> SpellResult | None:
    """Person spells of a clean frame computed with NumPy on the rows in (person,
    period) order, with no SQL engine: the same result as the definition, or None when
    the frame is not one this road takes (then the engine runs). It takes frames with
    whole-number period columns, numeric amounts, no row with an issue (no missing
    pseudonym or period, no row of the other resolution, no duplicate period of a
    person, nothing outside a given window, none before a birth or after a death);
    ``befolkning``/``dodsorsak`` need date columns (births, deaths and emigrations are
    looked up by person id). Extracts usually are such frames. Spell boundaries are where the person
    changes or more than ``gap`` empty periods follow; each spell's sums are one
    ``np.add.reduceat``, its first and last values are picks at the boundaries."""
    if presorted is False or asked not in (None, *RESOLUTIONS):
        return None
    if not isinstance(frame, (pd.DataFrame, pa.Table)):
        return None
    cols = column_names(frame, "ekonomiskt_bistand frame")
    if PERSON not in cols or "statistikar" not in cols:
        return None
    arrow = as_arrow(frame, "ekonomiskt_bistand frame")
    rows_in = arrow.num_rows
    if not rows_in:
        return None
    manad = arrow.column("manad") if "manad" in cols else None
    bm = arrow.column("bistandsmanader") if "bistandsmanader" in cols else None
    if not _is_int(arrow.column("statistikar")):
        return None
    if asked is None:  # the rows' resolution; a frame mixing both goes to the engine
        if manad is None and bm is None:
            return None
        if manad is not None and bm is not None:
            monthly = len(manad) - manad.null_count
            annual = pc.sum(pc.and_(pc.is_null(manad), pc.is_valid(bm))).as_py() or 0
            if monthly and annual:
                return None
            resolution = "year" if annual else "month"
        else:
            resolution = "month" if manad is not None else "year"
    else:
        resolution = asked
    if resolution == "month":
        if manad is None or not _is_int(manad):
            return None
        if pc.any(pc.or_(pc.less(manad, 1), pc.greater(manad, 12))).as_py():
            return None  # a bad period: the row rules name it
    else:
        if bm is None or not _is_int(bm) or (manad is not None and manad.null_count < rows_in):
            return None  # no months of assistance, or monthly rows: issues
        if bm.null_count or pc.any(pc.or_(pc.less(bm, 1), pc.greater(bm, 12))).as_py():
            return None
    amounts = [arrow.column(c) for c in AMOUNT_COLUMNS if c in cols]
    numeric = (pa.types.is_integer, pa.types.is_floating, pa.types.is_null)
    if not all(any(is_(a.type) for is_ in numeric) for a in amounts):
        return None
    avsl_col = arrow.column("avslutsorsak") if "avslutsorsak" in cols else None
    if avsl_col is not None and not (
        pa.types.is_string(avsl_col.type)
        or pa.types.is_large_string(avsl_col.type)
        or pa.types.is_integer(avsl_col.type)
        or pa.types.is_null(avsl_col.type)
    ):
        return None
    periods = _period_numbers(arrow, resolution)
    if periods is None or not periods[1].all():
        return None
    # Rows in (person, period) order (sorted first when they are not), spell starts
    # where the person changes or more than `gap` empty periods follow.
    lop = arrow.column(PERSON)
    in_order = _sorted_starts(lop, periods[0], gap)
    if in_order is not None:  # the extract's order: no sort, no copy of a column
        perm, pv = None, periods[0]
        new_person, starts, persons = in_order
        names = unpacked(persons)
    else:
        packed = packed_keys(lop)
        if packed is not None:  # the extract's pseudonyms: 64-bit numbers in string order
            perm, pv, new_person, persons = _packed_order(packed, periods[0])
            # Each person's pseudonym spelled from its number: exactly the input's string.
            names = unpacked(persons)
        else:
            ids, names = _person_ids(arrow, in_order=True)
            if ids.null_count:
                return None
            pid, pv = np.asarray(ids), periods[0]
            d_pid = np.diff(pid)
            perm = None
            if ((d_pid < 0) | ((d_pid == 0) & (pv[1:] < pv[:-1]))).any():
                perm = _order(pid, pv, np.ones(len(pv), bool))
                pid, pv = pid[perm], pv[perm]
            new_person = np.empty(len(pid), bool)
            new_person[0] = True
            np.not_equal(pid[1:], pid[:-1], out=new_person[1:])
        starts = _spell_starts(pv, new_person, gap)  # in order now: none falls
        if starts is None:
            return None  # a duplicate period: the row rules rank the rows
    lo, hi = int(pv.min()), int(pv.max())
    w0 = period_index(window[0], resolution) if window and window[0] is not None else lo
    w1 = period_index(window[1], resolution, end=True) if window and window[1] is not None else hi
    if w0 > w1 or lo < w0 or hi > w1:
        return None  # an empty window (an error) or rows outside it (issues)

    n = len(pv)
    first = np.flatnonzero(starts)
    del starts
    last = np.empty_like(first)
    last[:-1] = first[1:] - 1
    last[-1] = n - 1
    n_rows = np.diff(np.append(first, n))
    person_first = new_person[first]  # the spell is its person's first
    del new_person
    spell_pid = np.cumsum(person_first) - 1  # persons numbered in pseudonym order
    index = np.arange(len(first))
    spell_no = index - np.maximum.accumulate(np.where(person_first, index, 0)) + 1
    del index
    start_p, end_p = pv[first], pv[last]
    # The row arrays go as soon as they are read (the peak is what a large frame pays
    # for, more than the arithmetic).
    del periods, pv
    if resolution == "month":
        paid = n_rows
    else:
        paid, _ = _spell_sums([bm], first, perm, pa.int64())
    if amounts:
        try:
            total, has = _spell_sums(amounts, first, perm, pa.float64())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return None
        amount = pa.array(total, mask=None if has is None or has.all() else ~has)
    else:
        amount = pa.nulls(len(first), pa.float64())
    at_end = last if perm is None else perm[last]  # input positions of the last rows
    sorted_input, spells = perm is None, len(first)
    del first, last, perm
    if avsl_col is None:
        avsl = pa.nulls(spells, pa.string())
    else:
        avsl = avsl_col.take(pa.array(at_end)).combine_chunks().cast(pa.string())
    has_next = np.append(~person_first[1:], False)
    next_start = np.append(start_p[1:], 0)

    open_end = w1 - end_p <= gap
    died = emigrated = np.zeros(spells, bool)
    until = np.full(spells, w1, np.int64)  # the end of observation after a spell
    if befolkning is not None or dodsorsak is not None:
        life = _numpy_life(befolkning, dodsorsak, names, resolution)
        if life is None:
            return None
        birth, death, em_pid, em_p = life
        if (start_p < birth[spell_pid]).any() or (end_p > death[spell_pid]).any():
            return None  # rows before birth or after death: issues
        d = death[spell_pid]
        died = (d >= end_p) & (d <= end_p + 1)
        until = np.minimum(until, d)
        if len(em_p):  # the first emigration in or after the spell's last period
            base = min(int(em_p.min()), int(end_p.min())) - 2
            span = max(int(em_p.max()), int(end_p.max())) - base + 3
            keys = np.unique(em_pid * span + (em_p - base))  # distinct, sorted
            em_pid, em_p = keys // span, keys % span + base
            at = np.searchsorted(keys, spell_pid * span + (end_p - base), "left")
            found = at < len(keys)
            at = np.minimum(at, len(keys) - 1)
            own = found & (em_pid[at] == spell_pid)
            e = np.where(own, em_p[at], np.iinfo(np.int64).max)
            emigrated = (e == end_p) | (e == end_p + 1)
            # the next emigration after `end`: the found one, or the one after it
            after = np.where(e == end_p, np.minimum(at + 1, len(keys) - 1), at)
            later = own & (e > end_p) | (
                (e == end_p) & (at + 1 < len(keys)) & (em_pid[after] == spell_pid)
            )
            until = np.where(later, np.minimum(until, em_p[after]), until)
    gone = died | emigrated
    months = end_p - start_p + 1
    if resolution == "year":
        months = 12 * months
    avsl_null = np.asarray(avsl.is_null())
    reason = np.where(
        died, 0, np.where(emigrated, 1, np.where(open_end, 2, np.where(avsl_null, 4, 3)))
    ).astype(np.int8)
    end_reason = pa.DictionaryArray.from_arrays(
        pa.array(reason),
        pa.array(["death", "emigration", "censored", "avslutsorsak", "unknown"]),
    ).cast(pa.string())
    reentry = np.where(has_next, next_start - end_p - 1, until - end_p)
    result = pa.table(
        {
            "unit": names.take(pa.array(spell_pid)),
            "spell": pa.array(spell_no, pa.int64()),
            "start_p": pa.array(start_p, pa.int64()),
            "end_p": pa.array(end_p, pa.int64()),
            "months": pa.array(months, pa.int64()),
            "paid_months": pa.array(paid, pa.int64()),
            "amount": amount,
            "rows_placed": pa.array(n_rows, pa.int64()),
            "left_censored": pa.array(start_p - w0 <= gap),
            "right_censored": pa.array(open_end & ~gone),
            "end_reason": end_reason,
            "avslutsorsak": pc.if_else(
                pa.array(open_end | gone), pa.scalar(None, pa.string()), avsl
            ),
            "next_start": pa.array(next_start, pa.int64(), mask=~has_next),
            "months_to_reentry": pa.array(reentry, pa.int64(), mask=(open_end | gone) & ~has_next),
            "reentered": pa.array(has_next),
        }
    )
    numbers = {
        "start_p": start_p,
        "end_p": end_p,
        "next_start": np.where(has_next, next_start, _NAT_INDEX),
    }
    out = _spell_frame(result, PERSON, resolution, numbers)
    return _finish(
        out,
        _issue_frame(_EMPTY_ISSUES, cols),
        "person",
        gap,
        resolution,
        (w0, w1),
        rows_in,
        sorted_input,
    )


def _numpy_life(befolkning, dodsorsak, names: pa.Array, resolution: str):
    """Each person's (by id) earliest birth and death period (without one, a huge
    negative birth and a huge death) and the emigrations as (id, period) arrays, from
    date columns; None when a frame is not one NumPy reads (the engine then runs, and
    names any error)."""
    big = np.iinfo(np.int64).max // 4
    birth = np.full(len(names), big, np.int64)
    death = np.full(len(names), big, np.int64)
    em_pid, em_p = [], []

    def dated(table: pa.Table, name: str, ids: np.ndarray):
        column = table.column(name)
        t = column.type
        zoned = pa.types.is_timestamp(t) and t.tz is not None
        if zoned or not (pa.types.is_date(t) or pa.types.is_timestamp(t) or pa.types.is_null(t)):
            raise TypeError
        if pa.types.is_null(t):
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        year = pc.year(column)
        p = year if resolution == "year" else pc.add(pc.multiply(year, 12), pc.month(column))
        p = np.asarray(p.combine_chunks().fill_null(0)).astype(np.int64)
        if resolution == "month":
            p = p - 1
        ok = np.asarray(column.combine_chunks().is_valid()) & (ids >= 0)
        return ids[ok], p[ok]

    try:
        for data, what, columns in (
            (befolkning, "befolkning", ("fodelsedatum", "dodsdatum", "utvandringsdatum")),
            (dodsorsak, "dodsorsak", ("dodsdatum",)),
        ):
            if data is None:
                continue
            if not isinstance(data, (pd.DataFrame, pa.Table)):
                return None
            cols = column_names(data, f"{what} frame")
            if PERSON not in cols or (what == "dodsorsak" and "dodsdatum" not in cols):
                return None
            table = as_arrow(data, f"{what} frame")
            lop = table.column(PERSON).cast(pa.string())
            ids = np.asarray(pc.index_in(lop, value_set=names).fill_null(-1)).astype(np.int64)
            for name in columns:
                if name not in cols:
                    continue
                who, p = dated(table, name, ids)
                if name == "fodelsedatum":
                    np.minimum.at(birth, who, p)
                elif name == "dodsdatum":
                    np.minimum.at(death, who, p)
                else:
                    em_pid.append(who)
                    em_p.append(p)
    except (TypeError, pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    birth[birth == big] = -big  # no birth recorded: no lower bound
    pid = np.concatenate(em_pid) if em_pid else np.zeros(0, np.int64)
    p = np.concatenate(em_p) if em_p else np.zeros(0, np.int64)
    return birth, death, pid, p


def _ordered_pass(engine: Engine, cols: list[str], resolution: str):
    """Spells of every person from the keys of :func:`_ordered_keys`: one GROUP BY, no
    window. Each spell keeps ``n_bad`` (rows with an issue or a duplicate); the persons
    with one are redone by the row rules. Returns the first and last period."""
    paid = "count(*)" if resolution == "month" else "sum(paid)"
    avsl = value_at_max("avsl", "p") if "avslutsorsak" in cols else "CAST(NULL AS STRING)"
    amount = "sum(amount)" if any(c in cols for c in AMOUNT_COLUMNS) else "CAST(NULL AS DOUBLE)"
    engine.table(
        "spells0",
        f"""SELECT min(unit) AS unit, min(__spell) AS spell, min(p) AS start_p,
                   max(p) AS end_p, count(*) AS n_rows, {paid} AS paid, {amount} AS amount,
                   {avsl} AS avsl, max(__next) AS next_start,
                   count(pre_issue) + sum(__dup) AS n_bad
            FROM src_keys GROUP BY __g""",
    )
    return engine.row("SELECT min(start_p), max(end_p) FROM spells0")


def _numbered_spells(runs: str, gap: int, who: str) -> str:
    """Runs -> spells: a run starts a new spell when it is its unit's first (no previous
    run) or more than `gap` empty periods follow the previous run; the running count of
    starts within the unit is the spell number. The next spell starts at the run after
    the spell's last run."""
    start = (
        f"CASE WHEN prev_last IS NOT NULL AND first_p - prev_last - 1 <= {integer(gap)}"
        " THEN 0 ELSE 1 END"
    )
    frame_ = "ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW"
    numbered = (
        f"SELECT *, sum({start}) OVER (PARTITION BY unit ORDER BY first_p {frame_}) AS g"
        f" FROM ({runs}) r"
    )
    return f"""SELECT unit, g AS spell, min(first_p) AS start_p,
                   max(last_p) AS end_p, sum(n_rows) AS n_rows, sum(paid) AS paid,
                   sum(amount) AS amount, {value_at_max("avsl_last", "last_p")} AS avsl,
                   {who} AS who,
                   CASE WHEN max(next_first) > max(last_p) THEN max(next_first) END
                       AS next_start
            FROM ({numbered}) n
            GROUP BY unit, g"""


def build_spells(
    frame,
    gap: int = 0,
    unit: str = "person",
    *,
    window: tuple | None = None,
    resolution: str | None = None,
    befolkning=None,
    dodsorsak=None,
    presorted: bool | None = None,
    engine: Engine | str | None = None,
    spark=None,
) -> SpellResult:
    """Spells, the issues table and the observation window of a social-assistance frame.

    ``frame`` needs ``lopnr``, ``statistikar`` and ``manad`` (or ``bistandsmanader``),
    and ``lopnr_hushall`` for household spells; ``roll``, the amount columns and
    ``avslutsorsak`` are used when present. ``befolkning`` (``lopnr``, ``fodelsedatum``,
    ``dodsdatum``, ``utvandringsdatum``) and ``dodsorsak`` (``lopnr``, ``dodsdatum``) give
    births, deaths and emigrations. ``presorted=False`` runs the general window
    definition instead of the one-pass road; with ``True`` or ``None`` (the default)
    whether the frame is sorted by (``lopnr``, period) is checked (cheaply) and rows in
    another order are sorted first. Neither changes the result, only the speed.

    ``engine``: ``"duckdb"`` (default, embedded), ``"spark"`` (the same definitions as
    Spark SQL on ``spark``, a SparkSession; ``frame`` may then be a Spark DataFrame, its
    rows numbered in partition order) or an open engine. Both give identical results.

    >>> import pandas as pd
    >>> eb = pd.DataFrame({"lopnr": ["a"] * 3, "statistikar": [2015] * 3,
    ...                    "manad": [1, 2, 4]})
    >>> r = build_spells(eb, gap=1)
    >>> (len(r.spells), int(r.spells.months[0]), int(r.spells.paid_months[0]))
    (1, 4, 3)
    """
    if unit not in UNITS:
        raise BadInputError(f"unit {unit!r} is unknown", "Use unit='person' or 'household'")
    if isinstance(gap, bool) or not isinstance(gap, (int, np.integer)) or gap < 0:
        raise BadInputError(f"gap {gap!r} is not a whole number >= 0", "Pass gap=0, 1, 2, ...")
    gap = int(gap)
    if unit == "person" and engine in (None, "duckdb") and spark is None:
        fast = _numpy_spells(frame, gap, window, resolution, presorted, befolkning, dodsorsak)
        if fast is not None:
            return fast
    engine, own = open_engine(engine, spark)
    try:
        with using(engine.DIALECT):
            return _build(
                engine, frame, gap, unit, window, resolution, befolkning, dodsorsak, presorted
            )
    finally:
        if own:
            engine.close()


def _build(engine, frame, gap, unit, window, resolution, befolkning, dodsorsak, presorted):
    cols = column_names(frame, "ekonomiskt_bistand frame")
    needed = [PERSON, "statistikar"] + ([HOUSEHOLD] if unit == "household" else [])
    require(cols, needed, "ekonomiskt_bistand frame")
    person_mode = unit == "person"
    names = None
    ordered = False  # the one-pass path (person spells, periods readable)
    sorted_input = False
    if engine.distributed:
        # The input stays where it is: no one-machine shortcuts (integer person ids,
        # the one-pass road), which change the speed and never the result.
        engine.register("eb", frame, row_position=True, what="ekonomiskt_bistand frame")
        rows_in = int(engine.scalar("SELECT count(*) FROM eb"))
        resolution = _resolution(engine, cols, resolution)
        engine.view("src", _source_view(cols, unit, resolution))
    else:
        arrow = as_arrow(frame, "ekonomiskt_bistand frame")
        if isinstance(arrow, pa.RecordBatchReader):  # a relation: read once, in its order
            arrow = arrow.read_all()
        rows_in = arrow.num_rows
        if "manad" in cols and "bistandsmanader" in cols:  # the resolution check reads rows
            engine.register("eb", arrow)
            resolution = _resolution(engine, cols, resolution)
            engine.con.unregister("eb")
        else:
            resolution = _resolution(engine, cols, resolution)
        if person_mode:
            periods = _period_numbers(arrow, resolution) if presorted is not False else None
            ordered = periods is not None
            ids, names = _person_ids(arrow, in_order=ordered)
            arrow = arrow.append_column("__pid", ids)
        engine.register("eb", arrow, row_position=True)
        engine.view("src", _source_view(cols, unit, resolution, ids=person_mode))
        if ordered:
            keys, perm = _ordered_keys(ids, periods, gap)
            sorted_input = perm is None
            if sorted_input:
                ordered_rows = arrow
            else:  # the columns the GROUP BY reads, in (person, period) order
                read = ["__pid", "statistikar", "manad", "bistandsmanader", "avslutsorsak"]
                read += list(AMOUNT_COLUMNS)
                ordered_rows = arrow.select([c for c in read if c in arrow.column_names])
                ordered_rows = ordered_rows.take(pa.array(perm))
            for name in keys.column_names:
                ordered_rows = ordered_rows.append_column(name, keys.column(name))
            engine.register("eb_keys", ordered_rows)
            engine.view("src_keys", _source_view(cols, unit, resolution, ids=True, keys="eb_keys"))
    have_persons = _persons(engine, befolkning, dodsorsak, resolution, names)

    if ordered:
        lo, hi = _ordered_pass(engine, cols, resolution)
    elif person_mode:
        lo, hi = _first_pass(engine, cols, resolution)
    else:
        lo, hi = engine.row("SELECT min(p), max(p) FROM src")
    # The window comes from the data unless given.
    w0 = period_index(window[0], resolution) if window and window[0] is not None else lo
    w1 = period_index(window[1], resolution, end=True) if window and window[1] is not None else hi
    if w0 is not None and w1 is not None and w0 > w1:
        raise BadInputError("the window ends before it starts", "Pass window=(start, end)")
    if w0 is None:  # no placeable row at all
        w0 = w1 = 0
    W0, W1 = integer(w0), integer(w1)

    if person_mode:
        # 2. Units whose runs (or spells) are not clean need the row rules: a run with a
        # gap inside (unsorted rows), overlapping runs or duplicates (two households),
        # invalid rows, periods outside the window or the person's life.
        life = (
            (
                "LEFT JOIN persons ps ON ps.person = r.unit",
                "OR r.first_p < ps.birth_p OR r.last_p > ps.death_p",
            )
            if have_persons
            else ("", "")
        )
        if ordered:
            checked = """(SELECT unit, start_p AS first_p, end_p AS last_p, n_bad
                          FROM spells0) r"""
            shape = ""
        else:
            checked = "runs_w r"
            shape = "OR r.last_p - r.first_p + 1 <> r.n_rows OR r.first_p <= r.prev_last"
        engine.table(
            "bad",
            f"""SELECT DISTINCT r.unit FROM {checked} {life[0]}
                WHERE r.unit IS NULL OR r.n_bad > 0 OR r.first_p IS NULL {shape}
                   OR r.first_p < {W0} OR r.last_p > {W1} {life[1]}""",
        )
        rework = bool(engine.scalar("SELECT count(*) FROM bad"))
        selection = (
            "WHERE s.unit IS NULL OR s.unit IN (SELECT unit FROM bad WHERE unit IS NOT NULL)"
        )
        partition = "unit, p, issue"
    else:
        rework = True
        selection = ""
        partition = "unit, person, p, issue"

    issues = _EMPTY_ISSUES
    fixed = ""
    if rework:
        # 3. Row rules, for the units that need them (every row for household spells).
        engine.table(
            "classified",
            f"""SELECT s.*,
                       CASE WHEN s.pre_issue IS NOT NULL THEN s.pre_issue
                            WHEN s.p < {W0} OR s.p > {W1} THEN 'outside_window'
                            WHEN s.p < ps.birth_p THEN 'before_birth'
                            WHEN s.p > ps.death_p THEN 'after_death' END AS issue
                FROM src s LEFT JOIN persons ps ON ps.person = s.person
                {selection}""",
        )
        rank = (
            "roll ASC NULLS LAST, hh ASC NULLS LAST, amount DESC NULLS LAST,"
            " paid DESC NULLS LAST, avsl ASC NULLS LAST, row_id"
        )
        two = "two_households" if person_mode else "duplicate"
        window_ = f"PARTITION BY {partition} ORDER BY {rank}"
        engine.table(
            "ranked",
            f"""SELECT *, CASE WHEN issue IS NOT NULL THEN issue
                              WHEN rk > 1 AND hh IS NOT DISTINCT FROM first_hh THEN 'duplicate'
                              WHEN rk > 1 THEN {text(two)} END AS final_issue
                FROM (SELECT *, row_number() OVER ({window_}) AS rk,
                             first_value(hh) OVER ({window_}) AS first_hh
                      FROM classified) c""",
        )
        # Unit-periods of the placed rows, then their runs.
        if person_mode:
            unit_periods = """SELECT unit, p, 1 AS n_rows, paid, amount, avsl, person AS who
                              FROM ranked WHERE final_issue IS NULL"""
        else:
            unit_periods = f"""SELECT unit, p, count(*) AS n_rows, max(paid) AS paid,
                                  max(amount) AS amount, max(avsl) AS avsl,
                                  min(CASE WHEN roll = {text(APPLICANT_ROLE)} THEN person END)
                                      AS who
                               FROM ranked WHERE final_issue IS NULL GROUP BY unit, p"""
        fixed = f"""SELECT *, {_NEIGHBOURS}
                    FROM (SELECT {_run_columns()}
                          FROM (SELECT *, p - row_number() OVER (
                                              PARTITION BY unit ORDER BY p) AS k
                                FROM ({unit_periods}) up) x
                          GROUP BY unit, k) f"""
        issues = engine.arrow(
            """SELECT row_id AS row_position, lopnr_in, hh, statistikar_in, manad_in, final_issue
               FROM ranked WHERE final_issue IS NOT NULL ORDER BY row_id"""
        )
    run_cols = (
        "unit, first_p, last_p, n_rows, paid, amount, avsl_last, who_last, prev_last, next_first"
    )
    spell_cols = "unit, spell, start_p, end_p, n_rows, paid, amount, avsl, who, next_start"
    who = "unit" if person_mode else value_at_max("who_last", "last_p")
    # 4. Runs -> spells (the clean persons of the one-pass path have theirs already).
    if ordered:
        clean = """SELECT s.unit, s.spell, s.start_p, s.end_p, s.n_rows, s.paid, s.amount,
                          s.avsl, s.unit AS who, s.next_start
                   FROM spells0 s"""
        if rework:
            clean += """ LEFT JOIN bad b ON b.unit = s.unit
                        WHERE b.unit IS NULL AND s.unit IS NOT NULL"""
        parts = [clean] + ([_numbered_spells(fixed, gap, who)] if rework else [])
        engine.view(
            "spells_raw", " UNION ALL ".join(f"SELECT {spell_cols} FROM ({q}) q" for q in parts)
        )
    else:
        if person_mode and rework:
            runs = f"""SELECT {", ".join("r." + c for c in run_cols.split(", "))}
                       FROM runs_w r LEFT JOIN bad b ON b.unit = r.unit
                       WHERE b.unit IS NULL AND r.unit IS NOT NULL
                       UNION ALL SELECT {run_cols} FROM ({fixed}) fx"""
        elif person_mode:
            runs = f"SELECT {run_cols} FROM runs_w"
        else:
            runs = f"SELECT {run_cols} FROM ({fixed}) fx"
        engine.view("spells_raw", _numbered_spells(runs, gap, who))
    final_order = "unit, spell"
    # 5. Censoring, end reasons, re-entry.
    months = "end_p - start_p + 1" if resolution == "month" else "12 * (end_p - start_p + 1)"
    G = integer(gap)
    if have_persons:
        people = """ps.death_p,
                     coalesce(ps.death_p BETWEEN end_p AND end_p + 1, FALSE) AS died,
                     coalesce(e1.person IS NOT NULL OR e2.person IS NOT NULL, FALSE)
                         AS emigrated,
                     (SELECT min(e.p) FROM emigrations e
                      WHERE e.person = s.who AND e.p > s.end_p) AS next_emigration
                  FROM spells_raw s
                  LEFT JOIN persons ps ON ps.person = s.who
                  LEFT JOIN emigrations e1 ON e1.person = s.who AND e1.p = s.end_p
                  LEFT JOIN emigrations e2 ON e2.person = s.who AND e2.p = s.end_p + 1"""
    else:
        people = """CAST(NULL AS BIGINT) AS death_p, FALSE AS died, FALSE AS emigrated,
                    CAST(NULL AS BIGINT) AS next_emigration
                  FROM spells_raw s"""
    result = engine.arrow(
        f"""SELECT unit, CAST(spell AS BIGINT) AS spell, start_p, end_p,
                   CAST({months} AS BIGINT) AS months, CAST(paid AS BIGINT) AS paid_months,
                   amount, CAST(n_rows AS BIGINT) AS rows_placed,
                   start_p - {W0} <= {G} AS left_censored,
                   open_end AND NOT (died OR emigrated) AS right_censored,
                   CASE WHEN died THEN 'death' WHEN emigrated THEN 'emigration'
                        WHEN open_end THEN 'censored'
                        WHEN avsl IS NOT NULL THEN 'avslutsorsak' ELSE 'unknown' END
                       AS end_reason,
                   CASE WHEN NOT (died OR emigrated OR open_end) THEN avsl END AS avslutsorsak,
                   next_start,
                   CASE WHEN next_start IS NOT NULL THEN next_start - end_p - 1
                        WHEN open_end OR died OR emigrated THEN NULL
                        ELSE least({W1}, death_p, next_emigration) - end_p END
                       AS months_to_reentry,
                   next_start IS NOT NULL AS reentered
            FROM (SELECT s.*, {W1} - end_p <= {G} AS open_end, {people}) f
            ORDER BY {final_order}"""
    )
    if names is not None:  # person ids back to pseudonyms
        result = result.set_column(0, "unit", names.take(result.column("unit")))
    out = _spell_frame(result, UNITS[unit], resolution)
    iss = _issue_frame(issues, cols)
    bounds = None if lo is None and window is None else (w0, w1)
    return _finish(out, iss, unit, gap, resolution, bounds, rows_in, sorted_input)


def _finish(out, iss, unit, gap, resolution, bounds, rows_in, sorted_input) -> SpellResult:
    """The result with its window and the row counts (checked: rows in = placed +
    issues, the invariant the issues table promises)."""
    placed = int(out["rows"].sum()) if len(out) else 0
    if placed + len(iss) != rows_in:
        raise AssertionError(f"rows in {rows_in} != placed {placed} + issues {len(iss)}")
    win = (
        None
        if bounds is None
        else (_period_label(bounds[0], resolution), _period_label(bounds[1], resolution))
    )
    out.attrs.update(
        unit=unit,
        gap=gap,
        resolution=resolution,
        window=None if win is None else (str(win[0]), str(win[1])),
        rows_in=rows_in,
        rows_placed=placed,
        rows_issues=len(iss),
    )
    return SpellResult(out, iss, unit, gap, resolution, win, rows_in, sorted_input)


def _spell_frame(
    result: pa.Table, unit_col: str, resolution: str, numbers: dict | None = None
) -> pd.DataFrame:
    """The result as the spells frame, built in one go (each column once, no inserts).
    ``numbers``: period columns given as NumPy period indexes (a missing one
    ``np.iinfo(np.int64).min``) instead of the result's."""

    def column(name: str) -> pd.api.extensions.ExtensionArray:
        return result.column(name).to_pandas(types_mapper=pd.ArrowDtype).array

    def periods(name: str) -> pd.arrays.PeriodArray:
        if numbers is not None and name in numbers:
            base = 1970 if resolution == "year" else 1970 * 12
            values = numbers[name]
            ordinals = np.where(values == _NAT_INDEX, values, values - base)
            freq = "Y" if resolution == "year" else "M"
            return pd.PeriodIndex.from_ordinals(ordinals, freq=freq).array
        return _periods(result.column(name).combine_chunks(), resolution).array

    data = {unit_col: column("unit"), "spell": column("spell")}
    data["start"], data["end"] = periods("start_p"), periods("end_p")
    for name in ("months", "paid_months", "amount", "left_censored", "right_censored"):
        data[name] = column(name)
    data["end_reason"], data["avslutsorsak"] = column("end_reason"), column("avslutsorsak")
    data["next_start"] = periods("next_start")
    data["months_to_reentry"], data["reentered"] = column("months_to_reentry"), column("reentered")
    data["rows"] = column("rows_placed")
    data["resolution"] = pd.arrays.ArrowExtensionArray(
        pa.repeat(pa.scalar(resolution, pa.string()), result.num_rows)
    )
    return pd.DataFrame(data)


def _issue_frame(issues: pa.Table, cols: list[str]) -> pd.DataFrame:
    frame = issues.rename_columns(
        ["row", PERSON, HOUSEHOLD, "statistikar", "manad", "issue"]
    ).to_pandas(types_mapper=pd.ArrowDtype)
    keep = ["row", PERSON] + [c for c in (HOUSEHOLD, "statistikar", "manad") if c in cols]
    return frame[keep + ["issue"]]


def spells(frame, gap: int = 0, unit: str = "person", **options) -> pd.DataFrame:
    """One row per spell of social assistance (see the module docstring for every
    definition). Options are those of :func:`build_spells`; rows that cannot be placed
    raise an :class:`IssuesWarning` saying how many and why, and
    ``build_spells(...).issues`` lists them.

    >>> import pandas as pd
    >>> eb = pd.DataFrame({"lopnr": ["a", "a", "b"], "statistikar": [2015] * 3,
    ...                    "manad": [1, 2, 2]})
    >>> spells(eb)[["lopnr", "spell", "months", "left_censored"]].to_dict("records")
    [{'lopnr': 'a', 'spell': 1, 'months': 2, 'left_censored': True}, \
{'lopnr': 'b', 'spell': 1, 'months': 1, 'left_censored': False}]
    """
    result = build_spells(frame, gap, unit, **options)
    if len(result.issues):
        counts = result.issues["issue"].value_counts()
        why = ", ".join(f"{n} {reason}" for reason, n in counts.items())
        warnings.warn(
            f"{len(result.issues)} of {result.rows_in} rows could not be placed in a spell "
            f"({why}); mikrodata.build_spells(...).issues lists them",
            IssuesWarning,
            stacklevel=2,
        )
    return result.spells


def spell_issues(frame, gap: int = 0, unit: str = "person", **options) -> pd.DataFrame:
    """The issues table of :func:`build_spells`: one row per input row that could not be
    placed, with its position (``row``), pseudonyms, period and ``issue``."""
    return build_spells(frame, gap, unit, **options).issues


def to_annual(frame, engine: Engine | None = None) -> pd.DataFrame:
    """Monthly rows as the register's yearly rows (one per person, household and year,
    ``bistandsmanader`` = distinct months, amounts summed over distinct months); yearly
    rows are kept as they are. Use it to build yearly spells across 2002 on purpose:
    ``spells(to_annual(eb), resolution="year")``."""
    cols = column_names(frame, "ekonomiskt_bistand frame")
    require(cols, [PERSON, "statistikar"], "ekonomiskt_bistand frame")
    own = engine is None
    engine = engine or Engine()
    try:
        engine.register("eb", frame, row_position=True)
        hh = HOUSEHOLD if HOUSEHOLD in cols else "CAST(NULL AS STRING)"
        roll = "roll" if "roll" in cols else "CAST(NULL AS STRING)"
        amounts = [c for c in AMOUNT_COLUMNS if c in cols]
        keep = [PERSON, HOUSEHOLD, "statistikar", "bistandsmanader", "roll", *amounts]
        if "manad" not in cols:
            return engine.frame(f"SELECT * EXCLUDE ({ROW}) FROM eb")
        annual = "bistandsmanader" in cols
        month_amounts = "".join(f", max({c}) AS {c}" for c in amounts)
        year_amounts = "".join(f", sum({c}) AS {c}" for c in amounts)
        monthly = f"""SELECT {PERSON}, {hh} AS {HOUSEHOLD}, statistikar,
                         CAST(count(*) AS BIGINT) AS bistandsmanader, min(roll) AS roll
                         {year_amounts}
                      FROM (SELECT {PERSON}, {hh} AS hhx, statistikar, manad,
                                   min({roll}) AS roll {month_amounts}
                            FROM eb WHERE manad IS NOT NULL
                            GROUP BY {PERSON}, hhx, statistikar, manad) m
                      GROUP BY {PERSON}, hhx, statistikar"""
        monthly = monthly.replace(f"{hh} AS {HOUSEHOLD}", f"hhx AS {HOUSEHOLD}")
        parts = [monthly]
        if annual:
            sel = ", ".join(
                (c if c in cols else f"CAST(NULL AS STRING) AS {c}")
                if c != "bistandsmanader"
                else "CAST(bistandsmanader AS BIGINT) AS bistandsmanader"
                for c in keep
            )
            parts.append(f"SELECT {sel} FROM eb WHERE manad IS NULL")
        return engine.frame(
            " UNION ALL ".join(parts) + f" ORDER BY {PERSON}, statistikar, {HOUSEHOLD}"
        )
    finally:
        if own:
            engine.close()
