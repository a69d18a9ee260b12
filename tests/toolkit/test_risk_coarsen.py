"""Coarsening: each step by hand, steps as data (round trip, clear errors), and the
properties: never a row lost, k and trajectory k never lower."""

from __future__ import annotations

import datetime as dt

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mikrodata.quality.catalogue import load
from mikrodata.toolkit.errors import BadInputError
from mikrodata.toolkit.risk import (
    Band,
    KommunToLan,
    MergeCodes,
    MonthToQuarter,
    Suppress,
    Targets,
    TopCode,
    TruncateDate,
    coarsen,
    cross_section,
    k_anonymity,
    next_steps,
    risk_table,
    search,
    step_from_dict,
    steps_from_list,
    steps_to_list,
    trajectory,
)
from mikrodata.toolkit.risk.ladders import small_municipalities


def test_each_step_by_hand():
    df = pd.DataFrame(
        {
            "fodelsedatum": [dt.date(1987, 5, 17), dt.date(1990, 12, 31)],
            "birth_year": [1987, 1990],
            "antal_barn": [7, 2],
            "belopp": [12_345.5, 30_000.0],
            "kommun": ["2584", "0180"],
            "fodelselandgrupp": ["8", "1"],
            "manad": [5, 12],
        }
    )
    out = coarsen(
        df,
        [
            TruncateDate("fodelsedatum", "month"),
            Band("birth_year", 5),
            TopCode("antal_barn", 4),
            TopCode("belopp", 25_000),
            KommunToLan("kommun", ("2584",)),
            MergeCodes("fodelselandgrupp", ("7", "8", "9"), "7+8+9"),
            MonthToQuarter("manad"),
        ],
    )
    assert out.to_dict("list") == {
        "fodelsedatum": [dt.date(1987, 5, 1), dt.date(1990, 12, 1)],
        "birth_year": [1985, 1990],
        "antal_barn": [4, 2],
        "belopp": [12_345.5, 25_000.0],
        "kommun": ["25", "0180"],
        "fodelselandgrupp": ["7+8+9", "1"],
        "manad": [4, 10],
    }
    assert list(out.dtypes) == list(df.dtypes)
    year = coarsen(df, [TruncateDate("fodelsedatum", "year")])["fodelsedatum"].tolist()
    assert year == [dt.date(1987, 1, 1), dt.date(1990, 1, 1)]


def test_months_to_quarters_all_twelve():
    df = pd.DataFrame({"manad": list(range(1, 13))})
    assert (
        coarsen(df, [MonthToQuarter("manad")])["manad"].tolist()
        == [1] * 3 + [4] * 3 + [7] * 3 + [10] * 3
    )


def test_suppression_by_hand():
    # classes by (ar, kommun, sex): (0180,1) has a, b; (2584,1) c; (1280,1) d; (2584,2) e
    df = pd.DataFrame(
        {
            "lopnr": list("abcde"),
            "ar": [2020] * 5,
            "kommun": ["0180", "0180", "2584", "1280", "2584"],
            "sex": ["1", "1", "1", "1", "2"],
        }
    )
    out = coarsen(df, [Suppress(("kommun", "sex"), 2, ("kommun", "sex"), ("ar",))])
    # kommun goes in c, d, e; then (NULL, 1) holds c and d (2), (NULL, 2) holds e: sex
    # goes; e alone is all-suppressed (1 < 2), so the smallest other class, (0180, 1)
    # (tied in size with (NULL, 1), first in order), joins it: a, b, e all NULL
    assert out["kommun"].isna().tolist() == [True] * 5
    assert out["sex"].isna().tolist() == [True, True, False, False, True]
    assert k_anonymity(out, ["kommun", "sex"], person="lopnr") == 2


def test_steps_are_data():
    steps = [
        TruncateDate("fodelsedatum", "year"),
        Band("birth_year", 10, register="ekonomiskt_bistand"),
        KommunToLan("kommun", ("0509", "0512"), 0.001),
        MergeCodes("hushallstyp", ("1", "9"), "1+9"),
        Suppress(("kommun",), 5, ("kommun", "sex"), ("statistikar",)),
    ]
    as_list = steps_to_list(steps)
    assert as_list[1] == {
        "step": "band",
        "column": "birth_year",
        "width": 10,
        "register": "ekonomiskt_bistand",
    }
    assert steps_from_list(as_list) == steps
    for bad, match in (
        ({"step": "blur", "column": "x"}, "unknown coarsening step 'blur'"),
        ({"step": "band", "column": "x"}, "missing field width"),
        ({"step": "band", "column": "x", "width": 5, "colour": 1}, "unknown field colour"),
        ({"step": "band", "column": "x", "width": 0}, "width must be"),
        ({"step": "truncate_date", "column": "x", "to": "week"}, "month or year"),
    ):
        with pytest.raises(BadInputError, match=match):
            step_from_dict(bad)


def test_register_scoping():
    df = pd.DataFrame({"kommun": ["2584"], "ar": [2020]})
    step = KommunToLan("kommun", ("2584",), register="lss")
    assert coarsen(df, [step], register="lss")["kommun"].tolist() == ["25"]
    assert coarsen(df, [step], register="befolkning")["kommun"].tolist() == ["2584"]
    with pytest.raises(BadInputError, match="no column birth_year"):
        coarsen(df, [Band("birth_year", 5, register="lss")], register="lss")
    # without a register, a table without the column is left as it is
    assert coarsen(df, [Band("birth_year", 5)]).equals(df)
    with pytest.raises(BadInputError, match="not text"):
        coarsen(df, [MergeCodes("ar", ("2020",), "x")])


def test_arrow_in_arrow_out():
    table = pa.table({"birth_year": pa.array([1987, 1991], pa.int32())})
    out = coarsen(table, [Band("birth_year", 5)])
    assert out.schema == table.schema and out.column(0).to_pylist() == [1985, 1990]


def test_ladders_come_from_the_catalogue():
    con = duckdb.connect()
    df = pd.DataFrame(
        {
            "lopnr": ["a", "b", "c", "d"],
            "ar": [2020] * 4,
            "fodelsedatum": [dt.date(1980, 1, 2)] * 4,
            "kommun": ["0180"] * 4,
            "fodelselandgrupp": ["1", "1", "1", "5"],
            "birth_year": [1980] * 4,
        }
    )
    t = risk_table(con, df, "befolkning")
    first = next_steps([t], [], min_k=2)
    kinds = {(s.kind, s.column) for s in first}
    assert kinds == {
        ("truncate_date", "fodelsedatum"),
        ("kommun_to_lan", "kommun"),
        ("band", "birth_year"),
    }  # fodelselandgrupp: only two values present, merging them is suppressing
    by = {s.kind: s for s in first}
    assert by["kommun_to_lan"].codes == small_municipalities(load("befolkning"), "kommun", 0.001)
    assert all(
        float(c.extra["befolkningsandel"]) < 0.001
        for c in load("befolkning").variable("kommun").codes.codes
        if c.code in by["kommun_to_lan"].codes
    )
    later = next_steps([t], first, min_k=2)
    assert {
        (s.kind, getattr(s, "to", None) or getattr(s, "width", None) or s.below_share)
        for s in later
    } == {("truncate_date", "year"), ("band", 10), ("kommun_to_lan", 0.002)}


# -- properties ------------------------------------------------------------------------

_KOMMUNER = ["0180", "0509", "0512", "1280", "2584"]
# Each person-year takes one of three profiles of quasi-identifiers, so classes of
# several persons (k > 1) are common and a step that split a class would show.
_profile = st.tuples(
    st.sampled_from(_KOMMUNER),
    st.integers(1940, 2005),  # birth year
    st.sampled_from(["1", "2"]),
    st.sampled_from(["1", "3", "5", "7", "9"]),  # household type
    st.one_of(st.none(), st.integers(0, 6)),  # children
)
_row = st.tuples(
    st.sampled_from("abcdefgh"),  # person
    st.sampled_from([2019, 2020]),
    st.integers(1, 12),  # month
)
_step = st.one_of(
    st.builds(Band, st.just("birth_year"), st.sampled_from([2, 5, 10, 20])),
    st.builds(TopCode, st.just("antal_barn"), st.sampled_from([1, 2, 3])),
    st.builds(
        KommunToLan, st.just("kommun"), st.lists(st.sampled_from(_KOMMUNER), unique=True).map(tuple)
    ),
    st.builds(
        MergeCodes,
        st.just("hushallstyp"),
        st.lists(st.sampled_from(["1", "3", "5", "7", "9"]), min_size=1, unique=True).map(tuple),
        st.just("merged"),
    ),
    st.builds(MonthToQuarter, st.just("manad")),
    st.builds(
        Suppress,
        st.permutations(["kommun", "birth_year", "sex", "hushallstyp", "antal_barn"]).map(tuple),
        st.integers(1, 4),
        st.just(("kommun", "birth_year", "sex", "hushallstyp", "antal_barn")),
        st.just(("statistikar",)),
    ),
)
_COLUMNS = [
    "lopnr",
    "statistikar",
    "manad",
    "kommun",
    "birth_year",
    "sex",
    "hushallstyp",
    "antal_barn",
]


@settings(max_examples=30)
@given(
    st.lists(_row, min_size=1, max_size=40),
    st.lists(_profile, min_size=3, max_size=3),
    st.lists(_step, min_size=1, max_size=4),
    st.integers(2, 5),
)
def test_coarsening_never_loses_a_row_nor_lowers_k(rows, profiles, steps, k):
    rows = [(p, y, m, *profiles[(ord(p) + y) % 3]) for p, y, m in rows]
    df = pd.DataFrame(rows, columns=_COLUMNS).astype({"antal_barn": "Int64"})
    out = coarsen(df, steps)
    assert len(out) == len(df)
    assert out["lopnr"].tolist() == df["lopnr"].tolist()  # same rows, same order
    con = duckdb.connect()
    before = risk_table(con, df, "ekonomiskt_bistand")
    after = risk_table(con, out, "ekonomiskt_bistand")
    assert before.roles == after.roles
    b, a = cross_section(before, k, l_diversity=False), cross_section(after, k, l_diversity=False)
    assert a.k >= b.k
    assert a.persons_below_k <= b.persons_below_k
    assert trajectory(con, [after], k).k >= trajectory(con, [before], k).k
    con.close()


def test_the_searchs_steps_replayed_by_coarsen_give_the_same_risk():
    # the list a search returns is all the extract builder needs: replayed on the
    # original table by the pure function, it gives the table the search measured
    rng = np.random.default_rng(11)
    n = 400
    df = pd.DataFrame(
        {
            "lopnr": [f"p{i}" for i in range(n)],
            "ar": 2020,
            "kommun": rng.choice(["0180", "1280", "0509", "0512", "2584", "0560"], n),
            "birth_year": rng.integers(1940, 2005, n),
            "kon": rng.choice(["1", "2"], n),
        }
    )
    con = duckdb.connect()
    result = search(
        con,
        [risk_table(con, df, "lss", quasi_identifiers=["kommun", "birth_year"])],
        Targets(min_k=3),
        sample=200,
    )
    assert result.reached and result.after.k >= 3
    replayed = coarsen(df, steps_from_list(steps_to_list(result.steps)), register="lss")
    assert len(replayed) == n
    assert (
        k_anonymity(replayed, ["kommun", "birth_year"], person="lopnr", by=["ar"]) == result.after.k
    )
    first = result.applied[0]
    assert first.measured.mean_risk < result.before.mean_risk  # each step bought risk
