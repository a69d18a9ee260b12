"""Linkage: demographics as of a date, overlaps with other registers' intervals,
events in a window, deaths."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mikrodata.toolkit.analysis import (
    build_spells,
    deaths,
    demographics,
    events_near,
    overlaps,
    register_intervals,
)
from mikrodata.toolkit.analysis.engine import Engine

from .spec import comparable, table


def test_demographics_at_spell_start():
    s = build_spells(
        table(
            """
            lopnr | months
            ------+------------------
            a     | 2015-03..2015-05
            b     | 2016-01
            """
        )
    ).spells
    bef = table(
        """
        lopnr | ar   | fodelsedatum | kon | fodelselandgrupp | kommun
        ------+------+--------------+-----+------------------+-------
        a     | 2015 | 1990-03-02   | 2   | 1                | 0180
        b     | 2015 | 1980-01-01   | 1   | 5                | 1280
        b     | 2016 | 1980-01-01   | 1   | 5                | 1480
        """
    )
    d = demographics(s, bef, at="start")
    # a is 24 on 2015-03-01 (25 on 2 March); b's row of 2016 gives kommun 1480.
    assert comparable(d, ["lopnr", "age", "sex", "born_abroad", "kommun"]) == [
        ("a", 24, "2", False, "0180"),
        ("b", 36, "1", True, "1480"),
    ]


def test_intervals_and_overlaps():
    bu = table(
        """
        lopnr | ar   | insats_start | insats_slut | insatsform
        ------+------+--------------+-------------+-----------
        a     | 2015 | 2015-02-10   |             | 1
        a     | 2016 | 2015-02-10   | 2016-03-01  | 1
        b     | 2015 | 2015-11-01   |             | 2
        """
    )
    iv = register_intervals(bu, "barn_unga")
    assert comparable(iv, ["lopnr", "kind", "start", "end"]) == [
        ("a", "1", "2015-02", "2016-03"),
        ("b", "2", "2015-11", "2015-12"),
    ]
    sol = table(
        """
        lopnr | ar   | manad | insats
        ------+------+-------+-------
        a     | 2015 | 1     | 3
        a     | 2015 | 2     | 3
        a     | 2015 | 4     | 3
        """
    )
    assert comparable(register_intervals(sol, "sol_insatser"), ["start", "end"]) == [
        ("2015-01", "2015-02"),
        ("2015-04", "2015-04"),
    ]
    lss = table(
        """
        lopnr | ar   | insats
        ------+------+-------
        a     | 2014 | 2
        a     | 2015 | 2
        """
    )
    assert comparable(register_intervals(lss, "lss"), ["start", "end"]) == [("2014-10", "2015-10")]
    s = build_spells(
        table(
            """
            lopnr | months
            ------+----------------------------------
            a     | 2015-01..2015-03, 2016-06..2016-07
            b     | 2015-01
            """
        )
    ).spells
    o = overlaps(s, iv)
    assert comparable(
        o, ["lopnr", "spell", "kind", "overlap_start", "overlap_end", "overlap_months"]
    ) == [("a", 1, "1", "2015-02", "2015-03", 2)]


def test_events_near_person_and_household_spells():
    eb = table(
        """
        lopnr | lopnr_hushall | roll | months
        ------+---------------+------+------------------
        m     | h1            | 1    | 2015-01..2015-02
        c     | h1            | 3    | 2015-01..2015-02
        """
    )
    placements = table(
        """
        lopnr | insats_start
        ------+-------------
        c     | 2015-12-05
        c     | 2016-02-01
        """
    )
    hh = build_spells(eb, unit="household").spells
    # The spell starts in 2015-01: 2016-01 is 12 months after, 2016-02 is 13.
    got = events_near(hh, placements, "insats_start", after=13, members=eb)
    assert got["n_events"].tolist() == [2]
    assert str(got["first_event"][0]) == "2015-12"
    got = events_near(hh, placements, "insats_start", after=12, members=eb)
    assert got["n_events"].tolist() == [1]
    person = build_spells(eb).spells
    got = events_near(person, placements, "insats_start", after=12)
    assert got["n_events"].tolist() == [1, 0]  # c's own placement, none for m


def test_deaths():
    eb = table(
        """
        lopnr | months
        ------+--------
        a     | 2015-01
        b     | 2015-01
        """
    )
    dod = pd.DataFrame(
        {
            "lopnr": ["a"],
            "dodsdatum": [pd.Timestamp("2016-05-01").date()],
            "underliggande_dodsorsak": ["I219"],
        }
    )
    got = deaths(eb, dodsorsak=dod)
    assert comparable(got, ["lopnr", "underliggande_dodsorsak"]) == [("a", "I219"), ("b", None)]


def test_linkage_on_the_synthetic_registers(registers):
    eb, bef = registers["ekonomiskt_bistand"], registers["befolkning"]
    monthly = eb[eb["manad"].notna()]
    s = build_spells(monthly, befolkning=bef, dodsorsak=registers["dodsorsak"]).spells
    d = demographics(s, bef)
    assert d["age"].notna().mean() > 0.9 and (d["age"].dropna() >= 0).all()
    iv = register_intervals(registers["barn_unga"], "barn_unga")
    o = overlaps(s, iv)
    assert (o["overlap_months"] >= 1).all()
    assert set(s["end_reason"]) >= {"censored", "unknown", "avslutsorsak"}


@settings(max_examples=100, deadline=None, derandomize=True)
@given(
    spells_=st.lists(
        st.tuples(st.sampled_from(["a", "b", "c", None]), st.integers(0, 20), st.integers(0, 6)),
        max_size=12,
    ),
    intervals=st.lists(
        st.tuples(
            st.sampled_from(["a", "b", "d", None]),
            st.sampled_from(["x", "y", None]),
            st.one_of(st.none(), st.integers(-2, 22)),
            st.integers(0, 8),
        ),
        max_size=12,
    ),
    names=st.sampled_from(
        [
            ["a", "b", "c", "d"],
            ["0123456789abcde1", "0123456789abcde0", "9fffffffffffffff", "a000000000000000"],
            ["0000000000000000", "ffffffffffffffff", "0123456789abcdef", "00000000000000ff"],
            ["0123456789abcdef", "0123456789ABCDEF", "a000000000000000", "b000000000000000"],
            ["0123456789abcdef", "0123456789abcde", "a000000000000000", "h000000001"],
        ]
    ),
    by_person=st.booleans(),
)
def test_overlaps_numpy_and_the_sql_definition_agree(spells_, intervals, names, by_person):
    # The names as the extract has them (16 lower-case hex: packed as numbers), or not.
    rename = dict(zip(["a", "b", "c", "d"], names, strict=True))
    spells_ = [(rename.get(p), *rest) for p, *rest in spells_]
    intervals = [(rename.get(p), *rest) for p, *rest in intervals]
    if by_person:  # as spells() returns them
        spells_ = sorted(spells_, key=lambda r: (r[0] is None, r[0] or ""))
    p0 = pd.Period("2015-01", freq="M")
    s = pd.DataFrame(
        {
            "lopnr": pd.array([p for p, _, _ in spells_], dtype="string[pyarrow]"),
            "spell": range(1, len(spells_) + 1),
            "start": pd.PeriodIndex([p0 + a for _, a, _ in spells_], freq="M"),
            "end": pd.PeriodIndex([p0 + a + n for _, a, n in spells_], freq="M"),
        }
    )
    iv = pd.DataFrame(
        {
            "lopnr": pd.array([p for p, _, _, _ in intervals], dtype="string[pyarrow]"),
            "kind": pd.array([k for _, k, _, _ in intervals], dtype="string[pyarrow]"),
            "start": pd.PeriodIndex(
                [None if a is None else p0 + a for _, _, a, _ in intervals], freq="M"
            ),
            "end": pd.PeriodIndex([p0 + (a or 0) + n for _, _, a, n in intervals], freq="M"),
        }
    )
    fast = overlaps(s, iv)
    with Engine() as engine:
        sql = overlaps(s, iv, engine=engine)
    pd.testing.assert_frame_equal(fast, sql)
    # the pairs by brute force
    want = sorted(
        (
            sp.lopnr,
            sp.spell,
            it.kind if isinstance(it.kind, str) else "",  # None sorts with str
            max(sp.start, it.start),
            min(sp.end, it.end),
        )
        for sp in s.itertuples()
        for it in iv.itertuples()
        if isinstance(sp.lopnr, str)
        and isinstance(it.lopnr, str)
        and sp.lopnr == it.lopnr
        and it.start is not pd.NaT
        and it.start <= sp.end
        and it.end >= sp.start
    )
    got = sorted(
        (
            r.lopnr,
            r.spell,
            r.kind if isinstance(r.kind, str) else "",
            r.overlap_start,
            r.overlap_end,
        )
        for r in fast.itertuples()
    )
    assert got == want


@pytest.mark.parametrize("person", ["a", "0123456789abcdef"])
def test_overlaps_with_the_same_start_and_kind_come_by_interval_end(person):
    # OVERLAP_SQL orders by interval end last; the NumPy join did not (it kept the
    # intervals' input order for equal start and kind) before it sorted by end too.
    p0 = pd.Period("2015-01", freq="M")
    s = pd.DataFrame(
        {
            "lopnr": pd.array([person], dtype="string[pyarrow]"),
            "spell": [1],
            "start": pd.PeriodIndex([p0], freq="M"),
            "end": pd.PeriodIndex([p0 + 20], freq="M"),
        }
    )
    iv = pd.DataFrame(
        {
            "lopnr": pd.array([person] * 3, dtype="string[pyarrow]"),
            "kind": pd.array(["x", "x", "x"], dtype="string[pyarrow]"),
            "start": pd.PeriodIndex([p0] * 3, freq="M"),
            "end": pd.PeriodIndex([p0 + 5, p0 + 2, p0 + 9], freq="M"),
        }
    )
    fast = overlaps(s, iv)
    assert [str(p) for p in fast["interval_end"]] == ["2015-03", "2015-06", "2015-10"]
    with Engine() as engine:
        pd.testing.assert_frame_equal(fast, overlaps(s, iv, engine=engine))
