"""Spell spec tests: person-months in, spells (and the issues table) out.

Every case runs three ways, which must agree: as written (sorted, the fast path),
with the sorted path switched off, and with the rows shuffled.
"""

from __future__ import annotations

import warnings

import pytest

from mikrodata.toolkit.analysis import IssuesWarning, build_spells, spells
from mikrodata.toolkit.errors import BadInputError

from .spec import comparable, table


def check(rows: str, expected: str, issues: str | None = None, **options):
    frame = table(rows)
    want = table(expected)
    runs = [
        build_spells(frame, **options),
        build_spells(frame, presorted=False, **options),
        build_spells(frame.sample(frac=1.0, random_state=7), **options),
    ]
    for r in runs:
        assert comparable(r.spells, list(want.columns)) == comparable(want, list(want.columns))
        assert r.rows_in == len(frame) == int(r.spells["rows"].sum()) + len(r.issues)
    got = runs[0].issues
    if issues is None:
        assert len(got) == 0, got
    else:
        want_i = table(issues)
        assert comparable(got, list(want_i.columns)) == comparable(want_i, list(want_i.columns))
    return runs[0]


def test_gap_of_exactly_g_months_is_bridged():
    check(
        """
        lopnr | months
        ------+-------------------------------------
        p1    | 2015-01..2015-02, 2015-05..2015-06
        p2    | 2015-01..2015-02, 2015-06
        """,
        """
        lopnr | spell | start   | end     | months | paid_months
        ------+-------+---------+---------+--------+------------
        p1    | 1     | 2015-01 | 2015-06 | 6      | 4
        p2    | 1     | 2015-01 | 2015-02 | 2      | 2
        p2    | 2     | 2015-06 | 2015-06 | 1      | 1
        """,
        gap=2,
    )


def test_gap_zero_splits_at_one_empty_month():
    check(
        """
        lopnr | months
        ------+----------------------------------
        p1    | 2015-01..2015-03, 2015-05..2015-06
        """,
        """
        lopnr | spell | start   | end     | months | next_start | months_to_reentry | reentered
        ------+-------+---------+---------+--------+------------+-------------------+----------
        p1    | 1     | 2015-01 | 2015-03 | 3      | 2015-05    | 1                 | T
        p1    | 2     | 2015-05 | 2015-06 | 2      |            |                   | F
        """,
    )


def test_spells_crossing_each_edge_of_the_window():
    # The window is given: rows outside it are issues, spells touching it are censored.
    check(
        """
        lopnr | months
        ------+------------------
        p1    | 2015-01..2015-05
        p2    | 2015-06..2015-07
        p3    | 2015-09..2015-12
        """,
        """
        lopnr | start   | end     | left_censored | right_censored | end_reason
        ------+---------+---------+---------------+----------------+-----------
        p1    | 2015-03 | 2015-05 | T             | F              | unknown
        p2    | 2015-06 | 2015-07 | F             | F              | unknown
        p3    | 2015-09 | 2015-10 | F             | T              | censored
        """,
        """
        row | lopnr | statistikar | manad | issue
        ----+-------+-------------+-------+---------------
        0   | p1    | 2015        | 1     | outside_window
        1   | p1    | 2015        | 2     | outside_window
        9   | p3    | 2015        | 11    | outside_window
        10  | p3    | 2015        | 12    | outside_window
        """,
        window=("2015-03", "2015-10"),
    )


def test_the_window_comes_from_the_data_and_censoring_widens_with_the_gap():
    # Data from 2015-01 to 2015-12. With gap=1 a spell starting in 2015-02 could have
    # joined one ending in 2014-12, unseen: it is left-censored too.
    check(
        """
        lopnr | months
        ------+------------------
        p1    | 2015-01..2015-03
        p2    | 2015-02..2015-04
        p3    | 2015-03..2015-04
        p4    | 2015-06..2015-11
        p5    | 2015-12
        """,
        """
        lopnr | start   | end     | left_censored | right_censored
        ------+---------+---------+---------------+---------------
        p1    | 2015-01 | 2015-03 | T             | F
        p2    | 2015-02 | 2015-04 | T             | F
        p3    | 2015-03 | 2015-04 | F             | F
        p4    | 2015-06 | 2015-11 | F             | T
        p5    | 2015-12 | 2015-12 | F             | T
        """,
        gap=1,
    )


def test_a_death_during_a_spell_ends_it_and_later_months_are_issues():
    bef = table(
        """
        lopnr | ar   | fodelsedatum | dodsdatum
        ------+------+--------------+-----------
        p1    | 2015 | 1950-03-01   | 2015-04-15
        p2    | 2015 | 1980-01-01   |
        """
    )
    r = check(
        """
        lopnr | months
        ------+------------------
        p1    | 2015-01..2015-06
        p2    | 2015-01..2015-12
        """,
        """
        lopnr | start   | end     | paid_months | right_censored | end_reason
        ------+---------+---------+-------------+----------------+-----------
        p1    | 2015-01 | 2015-04 | 4           | F              | death
        p2    | 2015-01 | 2015-12 | 12          | T              | censored
        """,
        """
        row | lopnr | manad | issue
        ----+-------+-------+------------
        4   | p1    | 5     | after_death
        5   | p1    | 6     | after_death
        """,
        befolkning=bef,
    )
    assert r.spells["months_to_reentry"].isna().all()


def test_death_from_the_cause_of_death_register_and_emigration():
    dod = table(
        """
        lopnr | dodsdatum
        ------+-----------
        p1    | 2015-05-02
        """
    )
    bef = table(
        """
        lopnr | ar   | utvandringsdatum
        ------+------+-----------------
        p2    | 2015 | 2015-03-20
        p3    | 2015 | 2015-09-01
        """
    )
    check(
        """
        lopnr | months
        ------+------------------
        p1    | 2015-01..2015-04
        p2    | 2015-01..2015-02
        p3    | 2015-01..2015-02, 2015-12
        """,
        """
        lopnr | start   | end     | end_reason | months_to_reentry | reentered
        ------+---------+---------+------------+-------------------+----------
        p1    | 2015-01 | 2015-04 | death      |                   | F
        p2    | 2015-01 | 2015-02 | emigration |                   | F
        p3    | 2015-01 | 2015-02 | unknown    | 9                 | T
        p3    | 2015-12 | 2015-12 | censored   |                   | F
        """,
        befolkning=bef,
        dodsorsak=dod,
    )


def test_reentry_time_is_censored_at_death_or_the_window_end():
    bef = table(
        """
        lopnr | ar   | dodsdatum
        ------+------+-----------
        p1    | 2015 | 2015-09-10
        """
    )
    check(
        """
        lopnr | months
        ------+------------------
        p1    | 2015-01..2015-03
        p2    | 2015-02..2015-04
        p3    | 2015-12
        """,
        """
        lopnr | end     | reentered | months_to_reentry
        ------+---------+-----------+------------------
        p1    | 2015-03 | F         | 6
        p2    | 2015-04 | F         | 8
        p3    | 2015-12 | F         |
        """,
        befolkning=bef,
    )


def test_months_before_birth_are_issues():
    bef = table(
        """
        lopnr | ar   | fodelsedatum
        ------+------+-------------
        c1    | 2015 | 2015-03-09
        """
    )
    check(
        """
        lopnr | lopnr_hushall | roll | months
        ------+---------------+------+------------------
        c1    | h1            | 3    | 2015-01..2015-05
        """,
        """
        lopnr | start   | end     | paid_months
        ------+---------+---------+------------
        c1    | 2015-03 | 2015-05 | 3
        """,
        """
        row | lopnr | manad | issue
        ----+-------+-------+-------------
        0   | c1    | 1     | before_birth
        1   | c1    | 2     | before_birth
        """,
        befolkning=bef,
    )


SPLIT = """
    lopnr | lopnr_hushall | roll | belopp_forsorjningsstod | months
    ------+---------------+------+-------------------------+-----------------
    a     | h1            | 1    | 100                     | 2015-01..2015-06
    b     | h1            | 2    | 100                     | 2015-01..2015-03
    b     | h2            | 1    | 60                      | 2015-04..2015-06
    """


def test_a_household_that_splits_persons():
    # b moves out in April and gets assistance alone: b's person spell goes on.
    check(
        SPLIT,
        """
        lopnr | start   | end     | paid_months | amount
        ------+---------+---------+-------------+-------
        a     | 2015-01 | 2015-06 | 6           | 600
        b     | 2015-01 | 2015-06 | 6           | 480
        """,
    )


def test_a_household_that_splits_households():
    # The household's amount repeats on members' rows; each household-month counts once.
    check(
        SPLIT,
        """
        lopnr_hushall | start   | end     | paid_months | amount | rows
        --------------+---------+---------+-------------+--------+-----
        h1            | 2015-01 | 2015-06 | 6           | 600    | 9
        h2            | 2015-04 | 2015-06 | 3           | 180    | 3
        """,
        unit="household",
    )


TWO_HOUSEHOLDS = """
    lopnr | lopnr_hushall | roll | statistikar | manad
    ------+---------------+------+-------------+------
    a     | h1            | 1    | 2015        | 1
    a     | h1            | 1    | 2015        | 2
    a     | h2            | 2    | 2015        | 2
    a     | h2            | 2    | 2015        | 3
    """


def test_a_person_in_two_households_in_one_month():
    # The applicant's row is placed; the other household's row is an issue.
    check(
        TWO_HOUSEHOLDS,
        """
        lopnr | start   | end     | paid_months | rows
        ------+---------+---------+-------------+-----
        a     | 2015-01 | 2015-03 | 3           | 3
        """,
        """
        row | lopnr | lopnr_hushall | manad | issue
        ----+-------+---------------+-------+---------------
        2   | a     | h2            | 2     | two_households
        """,
    )


def test_a_person_in_two_households_gives_each_household_its_month():
    check(
        TWO_HOUSEHOLDS,
        """
        lopnr_hushall | start   | end     | paid_months
        --------------+---------+---------+------------
        h1            | 2015-01 | 2015-02 | 2
        h2            | 2015-02 | 2015-03 | 2
        """,
        unit="household",
    )


def test_duplicate_months():
    check(
        """
        lopnr | lopnr_hushall | belopp_forsorjningsstod | statistikar | manad
        ------+---------------+-------------------------+-------------+------
        a     | h1            | 100                     | 2015        | 1
        a     | h1            | 100                     | 2015        | 2
        a     | h1            | 100                     | 2015        | 2
        a     | h1            | 100                     | 2015        | 3
        """,
        """
        lopnr | start   | end     | paid_months | amount | rows
        ------+---------+---------+-------------+--------+-----
        a     | 2015-01 | 2015-03 | 3           | 300    | 3
        """,
        """
        lopnr | manad | issue
        ------+-------+----------
        a     | 2     | duplicate
        """,
    )


ANNUAL = """
    lopnr | statistikar | bistandsmanader
    ------+-------------+----------------
    a     | 1998        | 3
    a     | 1999        | 12
    a     | 2000        | 6
    b     | 1998        | 2
    b     | 2000        | 1
    """


def test_years_before_2002_make_annual_spells():
    r = check(
        ANNUAL,
        """
        lopnr | start | end  | months | paid_months | left_censored | right_censored | resolution
        ------+-------+------+--------+-------------+---------------+----------------+-----------
        a     | 1998  | 2000 | 36     | 21          | T             | T              | year
        b     | 1998  | 1998 | 12     | 2           | T             | F              | year
        b     | 2000  | 2000 | 12     | 1           | F             | T              | year
        """,
    )
    assert str(r.spells["start"].dtype) == "period[Y-DEC]"


def test_mixing_annual_and_monthly_rows_is_an_error_unless_asked():
    frame = table(ANNUAL)
    frame["manad"] = None
    monthly = table(
        """
        lopnr | months
        ------+------------------
        a     | 2002-01..2002-02
        """
    )
    import pandas as pd

    both = pd.concat([frame, monthly], ignore_index=True)
    with pytest.raises(BadInputError, match="mixes 5 yearly rows"):
        build_spells(both)
    r = build_spells(both, resolution="month")
    assert set(r.issues["issue"]) == {"annual_row"} and len(r.issues) == 5
    assert list(r.spells["paid_months"]) == [2]


def test_to_annual_builds_yearly_spells_across_2002_on_purpose():
    import pandas as pd

    from mikrodata.toolkit.analysis import to_annual

    frame = table(ANNUAL)
    frame["manad"] = None
    monthly = table(
        """
        lopnr | months
        ------+-----------------------------------
        a     | 2001-01..2001-02
        a     | 2002-01..2002-04, 2002-04, 2002-06
        """
    )
    monthly = monthly[monthly["statistikar"] >= 2002]
    both = pd.concat([frame, monthly], ignore_index=True)
    annual = to_annual(both)
    got = annual[annual["statistikar"] == 2002]["bistandsmanader"].tolist()
    assert got == [5]  # the duplicated April counts once
    r = build_spells(annual, resolution="year")
    assert comparable(r.spells, ["lopnr", "start", "end", "paid_months"]) == [
        ("a", "1998", "2000", 21),
        ("a", "2002", "2002", 5),
        ("b", "1998", "1998", 2),
        ("b", "2000", "2000", 1),
    ]


def test_avslutsorsak_gives_the_end_reason_from_2017():
    check(
        """
        lopnr | lopnr_hushall | avslutsorsak | statistikar | manad
        ------+---------------+--------------+-------------+------
        a     | h1            |              | 2017        | 1
        a     | h1            | 1            | 2017        | 2
        b     | h2            |              | 2017        | 1
        b     | h2            |              | 2017        | 5
        """,
        """
        lopnr | end     | end_reason   | avslutsorsak
        ------+---------+--------------+-------------
        a     | 2017-02 | avslutsorsak | 1
        b     | 2017-01 | unknown      |
        b     | 2017-05 | censored     |
        """,
    )


def test_rows_without_a_pseudonym_or_period_are_issues():
    check(
        """
        lopnr | statistikar | manad
        ------+-------------+------
        a     | 2015        | 1
              | 2015        | 2
        a     | 2015        | 13
        a     |             | 3
        """,
        """
        lopnr | start   | paid_months
        ------+---------+------------
        a     | 2015-01 | 1
        """,
        """
        row | issue
        ----+------------------
        1   | missing_pseudonym
        2   | bad_period
        3   | bad_period
        """,
    )


def test_spells_warns_with_the_count_of_issues():
    frame = table(TWO_HOUSEHOLDS)
    with pytest.warns(IssuesWarning, match="1 of 4 rows could not be placed .*two_households"):
        spells(frame)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        spells(frame, unit="household")


def test_bad_input_names_the_column_and_what_to_do():
    frame = table(TWO_HOUSEHOLDS).rename(columns={"lopnr": "personnummer"})
    with pytest.raises(BadInputError, match="has no column 'lopnr'.*rename personnummer"):
        build_spells(frame)
    with pytest.raises(BadInputError, match="has no column 'lopnr_hushall'"):
        build_spells(table(ANNUAL), unit="household")
    with pytest.raises(BadInputError, match="gap"):
        build_spells(table(ANNUAL), gap=-1)
    with pytest.raises(BadInputError, match="not a table"):
        build_spells([1, 2, 3])


def test_the_facade_arrow_tables_and_duckdb_relations_give_the_same_spells():
    import duckdb
    import pyarrow as pa

    import mikrodata

    frame = table(
        """
        lopnr | lopnr_hushall | months
        ------+---------------+----------------------------------
        a     | h1            | 2015-01..2015-03, 2015-05..2015-06
        b     | h2            | 2015-02
        """
    )
    want = comparable(mikrodata.spells(frame, gap=1), ["lopnr", "spell", "start", "end"])
    assert want == [("a", 1, "2015-01", "2015-06"), ("b", 1, "2015-02", "2015-02")]
    arrow = pa.Table.from_pandas(frame, preserve_index=False)
    assert comparable(mikrodata.spells(arrow, gap=1), ["lopnr", "spell", "start", "end"]) == want
    con = duckdb.connect()
    relation = con.from_arrow(arrow)
    assert comparable(mikrodata.spells(relation, gap=1), ["lopnr", "spell", "start", "end"]) == want


def test_a_wrong_presorted_claim_does_not_change_the_spells():
    frame = table(
        """
        lopnr | months
        ------+-----------------
        b     | 2015-01
        a     | 2015-01..2015-02
        b     | 2015-02
        """
    )
    want = [("a", 1, "2015-01", "2015-02"), ("b", 1, "2015-01", "2015-02")]
    for presorted in (True, False, None):
        got = build_spells(frame, presorted=presorted).spells
        assert comparable(got, ["lopnr", "spell", "start", "end"]) == want
