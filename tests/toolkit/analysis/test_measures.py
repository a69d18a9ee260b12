"""Official measures reproduced on the synthetic registers, each figure computed a
second time, independently, from the raw rows with plain pandas."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mikrodata.toolkit.analysis import long_term, official_counts
from mikrodata.toolkit.errors import BadInputError

from .spec import table


def _person_months(eb: pd.DataFrame) -> pd.Series:
    monthly = eb[eb["manad"].notna()]
    m = monthly.groupby(["lopnr", "statistikar"])["manad"].nunique()
    annual = eb[eb["manad"].isna()]
    a = (
        annual.groupby(["lopnr", "statistikar", "lopnr_hushall"])["bistandsmanader"]
        .max()
        .groupby(["lopnr", "statistikar"])
        .sum()
        .clip(upper=12)
    )
    return pd.concat([m, a]).groupby(level=[0, 1]).sum().astype(int)


def _household_months(eb: pd.DataFrame) -> pd.Series:
    monthly = eb[eb["manad"].notna()]
    m = monthly.groupby(["lopnr_hushall", "statistikar"])["manad"].nunique()
    annual = eb[eb["manad"].isna()]
    a = annual.groupby(["lopnr_hushall", "statistikar"])["bistandsmanader"].max()
    return pd.concat([m, a]).groupby(level=[0, 1]).sum().astype(int)


def test_long_term_matches_the_raw_rows(registers):
    eb = registers["ekonomiskt_bistand"]
    lt = long_term(eb)
    months = _person_months(eb)
    got = lt.set_index(["lopnr", "statistikar"])["months"].astype(int)
    pd.testing.assert_series_equal(got.sort_index(), months.sort_index(), check_names=False)
    assert (lt["long_term"] == (lt["months"] >= 10)).all()
    assert lt["long_term"].any() and not lt["long_term"].all()
    # very long-term: long-term in this year and the two before (null in 1999 and 2000)
    flags = lt.set_index(["lopnr", "statistikar"])["long_term"].astype(bool)
    for (p, y), v in lt.set_index(["lopnr", "statistikar"])["very_long_term"].items():
        if y < 2001:
            assert pd.isna(v)
        else:
            want = all(flags.get((p, y - k), False) for k in range(3))
            assert bool(v) == want, y
    assert lt["very_long_term"].fillna(False).any()


def test_official_counts_match_the_raw_rows(registers):
    eb, bef = registers["ekonomiskt_bistand"], registers["befolkning"]
    counts = official_counts(eb, befolkning=bef).set_index("statistikar")
    g = eb.groupby("statistikar")
    assert counts["households"].tolist() == g["lopnr_hushall"].nunique().tolist()
    assert counts["persons"].tolist() == g["lopnr"].nunique().tolist()
    adult_rows = eb[eb["roll"].isin(["1", "2"])]
    adults = adult_rows.groupby("statistikar")["lopnr"].nunique()
    assert counts["adults"].tolist() == adults.tolist()
    assert (counts["persons"] == counts["adults"] + counts["children"]).all()
    women = adult_rows[adult_rows["kon"] == "2"].groupby("statistikar")["lopnr"].nunique()
    assert counts["adult_women"].tolist() == women.tolist()
    hm = _household_months(eb)
    assert counts["household_months"].tolist() == hm.groupby(level=1).sum().tolist()
    amount = (
        (eb["belopp_forsorjningsstod"].fillna(0) + eb["belopp_livsforing_ovrigt"].fillna(0))
        .groupby([eb["lopnr_hushall"], eb["statistikar"], eb["manad"].fillna(0)])
        .max()
        .groupby(level=1)
        .sum()
    )
    np.testing.assert_allclose(counts["amount"].astype(float), amount.to_numpy())
    pm = _person_months(eb)
    adult_keys = adult_rows.set_index(["lopnr", "statistikar"]).index.unique()
    lt_adults = pm[pm.index.isin(adult_keys) & (pm >= 10)].groupby(level=1).size()
    assert (
        counts["long_term_adults"].tolist()
        == lt_adults.reindex(counts.index, fill_value=0).tolist()
    )
    age = bef["ar"] - pd.to_datetime(bef["fodelsedatum"].astype(str)).dt.year
    pop = bef[age >= 18].groupby("ar")["lopnr"].nunique()
    assert counts["adult_population"].tolist() == pop.reindex(counts.index).tolist()
    share = counts["long_term_adults"] / counts["adult_population"]
    np.testing.assert_allclose(counts["long_term_share_of_adult_population"], share)
    np.testing.assert_allclose(
        counts["long_term_share_of_adult_recipients"], counts["long_term_adults"] / counts["adults"]
    )
    # Plausible against the published figures (DOMAIN.md section 6): 5-9 months per
    # household, roughly 1% of adults long-term recipients.
    assert counts["months_per_household"].between(4, 9).all()
    assert counts.loc[2012:, "long_term_share_of_adult_population"].between(0.003, 0.03).all()


def test_a_household_in_two_municipalities_counts_once():
    eb = table(
        """
        lopnr | lopnr_hushall | roll | kommun | statistikar | manad
        ------+---------------+------+--------+-------------+------
        a     | h1            | 1    | 0180   | 2015        | 1
        a     | h1            | 1    | 0180   | 2015        | 2
        a     | h1            | 1    | 1280   | 2015        | 9
        c     | h1            | 3    | 1280   | 2015        | 9
        """
    )
    national = official_counts(eb)
    assert national[["households", "persons", "adults", "children"]].values.tolist() == [
        [1, 2, 1, 1]
    ]
    assert national["household_months"].tolist() == [3]
    by = official_counts(eb, by="kommun")  # the municipality of the last month
    assert by[["kommun", "households", "persons"]].values.tolist() == [["1280", 1, 2]]


def test_long_term_threshold_is_ten_months_and_annual_rows_count():
    eb = table(
        """
        lopnr | lopnr_hushall | statistikar | bistandsmanader
        ------+---------------+-------------+----------------
        a     | h1            | 2000        | 6
        a     | h2            | 2000        | 5
        b     | h3            | 2000        | 9
        """
    )
    eb["manad"] = pd.array([None] * 3, dtype="Int64")
    lt = long_term(eb)
    assert lt[["lopnr", "months", "long_term"]].values.tolist() == [
        ["a", 11, True],
        ["b", 9, False],
    ]
    hh = long_term(eb, unit="household")
    assert hh["months"].tolist() == [6, 5, 9]
    with pytest.raises(BadInputError, match="threshold"):
        long_term(eb, threshold=13)
