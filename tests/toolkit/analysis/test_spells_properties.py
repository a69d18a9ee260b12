"""Properties of spells on random person-months (Hypothesis, derandomised in CI):
the DuckDB definition agrees with the plain-Python oracle, spells never overlap, paid
months are conserved, and neither the input order nor the sorted fast path changes the
result."""

from __future__ import annotations

import datetime as dt
import importlib
from unittest import mock

import pandas as pd
import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mikrodata.toolkit.analysis import build_spells
from mikrodata.toolkit.analysis.spells import _numpy_spells

from .oracle import oracle

# The module (the package exports the function of the same name).
spells_module = importlib.import_module("mikrodata.toolkit.analysis.spells")
SETTINGS = settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
PERSONS = ["p1", "p2", "p3"]
# Names the NumPy road is run with: the extract's pseudonyms (16 lower-case hex
# characters: packed as numbers, here differing only in their last bits, where the sort
# key puts the period, and across the digit/letter boundary), and sets it must not pack
# (upper-case, another length, a household-like id): those take the string road.
PERSON_SETS = [
    PERSONS,
    ["0123456789abcde1", "0123456789abcde0", "9fffffffffffffff"],
    ["a000000000000000", "0123456789abcdef", "0123456789abcde2"],
    ["0123456789abcdef", "0123456789ABCDEF", "a000000000000000"],
    ["0123456789abcdef", "0123456789abcde", "f000000000000000"],
    ["h000000001", "0123456789abcdef", "0123456789abcde0"],
]
HOUSEHOLDS = ["h1", "h2"]
COLUMNS = ["lopnr", "lopnr_hushall", "roll", "statistikar", "manad", "belopp_forsorjningsstod"]
P0 = 2015 * 12  # the months drawn are 2015-01 .. 2016-06

row = st.fixed_dictionaries(
    {
        "lopnr": st.sampled_from(PERSONS),
        "lopnr_hushall": st.sampled_from(HOUSEHOLDS),
        "roll": st.sampled_from(["1", "2", "3", None]),
        "m": st.integers(0, 17),
        "belopp_forsorjningsstod": st.one_of(st.none(), st.integers(0, 3).map(float)),
        "avslutsorsak": st.one_of(st.none(), st.sampled_from(["1", "5"])),
    }
)
life = st.one_of(st.none(), st.integers(-2, 19))


def _frame(rows: list[dict]) -> pd.DataFrame:
    out = [
        {
            **{k: v for k, v in r.items() if k != "m"},
            "statistikar": 2015 + r["m"] // 12,
            "manad": r["m"] % 12 + 1,
        }
        for r in rows
    ]
    frame = pd.DataFrame(out, columns=COLUMNS + ["avslutsorsak"])
    frame["statistikar"] = frame["statistikar"].astype("Int64")
    frame["manad"] = frame["manad"].astype("Int64")
    return frame


def _date(m: int | None) -> dt.date | None:
    return None if m is None else dt.date((P0 + m) // 12, (P0 + m) % 12 + 1, 15)


COMPARED = [
    "spell",
    "start",
    "end",
    "months",
    "paid_months",
    "amount",
    "rows",
    "left_censored",
    "right_censored",
    "end_reason",
    "avslutsorsak",
    "next_start",
    "months_to_reentry",
    "reentered",
]


def _as_oracle(frame: pd.DataFrame, key: str) -> list[dict]:
    out = []
    for rec in frame.to_dict("records"):
        d = {key: rec[key]}
        for c in COMPARED:
            v = rec[c]
            if isinstance(v, pd.Period):
                v = v.year * 12 + v.month - 1
            elif v is pd.NaT or (v is not None and not isinstance(v, str) and pd.isna(v)):
                v = None
            elif isinstance(v, float):
                v = float(v)
            d[c] = v
        out.append(d)
    return out


@SETTINGS
@given(
    rows=st.lists(row, min_size=0, max_size=30),
    gap=st.integers(0, 3),
    unit=st.sampled_from(["person", "household"]),
    births=st.lists(life, min_size=3, max_size=3),
    deaths=st.lists(life, min_size=3, max_size=3),
    emig=st.lists(life, min_size=3, max_size=3),
    window=st.one_of(st.none(), st.tuples(st.integers(0, 8), st.integers(9, 17))),
    shuffle_seed=st.integers(0, 1000),
)
def test_spells_agree_with_the_plain_python_oracle(
    rows, gap, unit, births, deaths, emig, window, shuffle_seed
):
    # Sorted by person and period, as extracts are: the fast path applies.
    rows = sorted(rows, key=lambda r: (r["lopnr"], r["m"]))
    frame = _frame(rows)
    bef = pd.DataFrame(
        {
            "lopnr": PERSONS,
            "fodelsedatum": [_date(b) for b in births],
            "dodsdatum": [_date(d) for d in deaths],
            "utvandringsdatum": [_date(e) for e in emig],
        }
    )
    kw = dict(gap=gap, unit=unit, befolkning=bef)
    if window:
        kw["window"] = (
            str(pd.Period(year=2015, month=1, freq="M") + window[0]),
            str(pd.Period(year=2015, month=1, freq="M") + window[1]),
        )
    key = "lopnr" if unit == "person" else "lopnr_hushall"
    fast = build_spells(frame, **kw)
    general = build_spells(frame, presorted=False, **kw)
    shuffled = build_spells(frame.sample(frac=1.0, random_state=shuffle_seed), **kw)

    def idx(m):
        return None if m is None else P0 + m

    want, want_issues = oracle(
        frame.astype(object).where(frame.notna(), None).to_dict("records"),
        gap=gap,
        unit=unit,
        window=None if window is None else (P0 + window[0], P0 + window[1]),
        birth={p: idx(b) for p, b in zip(PERSONS, births, strict=True)},
        death={p: idx(d) for p, d in zip(PERSONS, deaths, strict=True)},
        emigration={p: [] if e is None else [P0 + e] for p, e in zip(PERSONS, emig, strict=True)},
    )
    got = _as_oracle(fast.spells, key)
    assert got == want
    assert list(zip(fast.issues["row"], fast.issues["issue"], strict=True)) == want_issues
    # The fast path, the general path and any input order give the same spells.
    assert _as_oracle(general.spells, key) == want
    assert _as_oracle(shuffled.spells, key) == want
    assert sorted(shuffled.issues["issue"]) == sorted(r for _, r in want_issues)
    assert fast.sorted_input == (unit == "person")


@SETTINGS
@given(rows=st.lists(row, min_size=1, max_size=40), gap=st.integers(0, 4))
def test_spells_never_overlap_and_paid_months_are_conserved(rows, gap):
    frame = _frame(rows)  # unsorted
    r = build_spells(frame, gap=gap)
    s = r.spells
    for _, g in s.groupby("lopnr"):
        starts = [p.ordinal for p in g["start"]]
        ends = [p.ordinal for p in g["end"]]
        assert all(a <= b for a, b in zip(starts, ends, strict=True))
        # more than `gap` empty months between consecutive spells of a person
        assert all(nxt - end - 1 > gap for end, nxt in zip(ends, starts[1:], strict=False))
    placed = frame.drop(index=r.issues["row"].astype(int).tolist())
    distinct = placed.drop_duplicates(["lopnr", "statistikar", "manad"])
    assert int(s["paid_months"].sum()) == len(distinct) == len(placed)
    assert int(s["rows"].sum()) + len(r.issues) == len(frame)
    assert (s["months"] >= s["paid_months"]).all()


@settings(SETTINGS, max_examples=80)
@given(
    rows=st.lists(row, min_size=1, max_size=40),
    gap=st.integers(0, 3),
    window=st.one_of(st.none(), st.tuples(st.integers(-3, 0), st.integers(17, 20))),
    shuffle_seed=st.integers(0, 1000),
    births=st.lists(st.one_of(st.none(), st.integers(-30, 0)), min_size=3, max_size=3),
    deaths=st.lists(st.one_of(st.none(), st.integers(17, 40)), min_size=3, max_size=3),
    emig=st.lists(life, min_size=3, max_size=3),
    with_persons=st.booleans(),
    names=st.sampled_from(PERSON_SETS),
    cuts=st.lists(st.integers(0, 40), max_size=4),
    block=st.integers(1, 4),
)
def test_the_numpy_road_agrees_with_the_oracle_and_the_sql_definition(
    rows, gap, window, shuffle_seed, births, deaths, emig, with_persons, names, cuts, block
):
    # Clean frames (one row per person and month, nothing to put in the issues table,
    # no births or deaths to look up): the NumPy road takes them, sorted or not.
    rename = dict(zip(PERSONS, names, strict=True))
    rows = [{**r, "lopnr": rename[r["lopnr"]]} for r in rows]
    seen: set = set()
    clean = []
    for r in sorted(rows, key=lambda r: (r["lopnr"], r["m"])):
        if (r["lopnr"], r["m"]) not in seen:
            seen.add((r["lopnr"], r["m"]))
            clean.append(r)
    frame = _frame(clean)
    kw: dict = {}
    if window:
        kw["window"] = tuple(str(pd.Period(year=2015, month=1, freq="M") + w) for w in window)
    bef = None
    if with_persons:  # births before and deaths after the rows: no row is an issue
        bef = pd.DataFrame(
            {
                "lopnr": names,
                "fodelsedatum": [_date(b) for b in births],
                "dodsdatum": [_date(d) for d in deaths],
                "utvandringsdatum": [_date(e) for e in emig],
            }
        )
        kw["befolkning"] = bef
    general = build_spells(frame, gap=gap, presorted=False, **kw)
    # The sorted rows also as an Arrow table cut into chunks (spells and persons then
    # go on across chunks' edges, which the sorted road stitches), its checks in
    # blocks of a few rows.
    table = pa.Table.from_pandas(frame, preserve_index=False)
    cut = sorted({0, len(frame), *(c % (len(frame) + 1) for c in cuts)})
    chunked = pa.concat_tables([table.slice(a, b - a) for a, b in zip(cut, cut[1:], strict=False)])
    for data in (frame, frame.sample(frac=1.0, random_state=shuffle_seed), chunked):
        with mock.patch.object(spells_module, "_BLOCK", block):
            fast = _numpy_spells(data, gap, kw.get("window"), None, None, bef)
        assert fast is not None  # the road was taken
        pd.testing.assert_frame_equal(fast.spells, general.spells)
        assert fast.spells.attrs == general.spells.attrs
        assert (fast.window, fast.rows_in, len(fast.issues)) == (
            general.window,
            general.rows_in,
            0,
        )
        assert fast.sorted_input or data is not frame

    def idx(m):
        return None if m is None else P0 + m

    persons = {}
    if with_persons:
        persons = dict(
            birth={p: idx(b) for p, b in zip(names, births, strict=True)},
            death={p: idx(d) for p, d in zip(names, deaths, strict=True)},
            emigration={p: [] if e is None else [P0 + e] for p, e in zip(names, emig, strict=True)},
        )
    want, want_issues = oracle(
        frame.astype(object).where(frame.notna(), None).to_dict("records"),
        gap=gap,
        window=None if window is None else (P0 + window[0], P0 + window[1]),
        **persons,
    )
    assert want_issues == []
    assert _as_oracle(general.spells, "lopnr") == want


def test_the_numpy_road_leaves_frames_with_issues_to_the_engine():
    frame = _frame(
        [
            {
                "lopnr": "p1",
                "lopnr_hushall": "h1",
                "roll": "1",
                "m": 0,
                "belopp_forsorjningsstod": 1.0,
                "avslutsorsak": None,
            },
        ]
        * 2  # a duplicate month
    )
    assert _numpy_spells(frame, 0, None, None, None) is None
    r = build_spells(frame)
    assert list(r.issues["issue"]) == ["duplicate"] and int(r.spells["rows"].sum()) == 1
    one = frame.iloc[:1]
    assert _numpy_spells(one, 0, None, None, None) is not None
    assert _numpy_spells(one, 0, ("2015-02", "2015-12"), None, None) is None  # outside
    assert _numpy_spells(one, 0, None, None, False) is None  # presorted=False
