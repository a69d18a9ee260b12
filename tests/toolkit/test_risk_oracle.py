"""Cross-sectional k-anonymity and l-diversity agree with pycanon (an independent
implementation, dev extra), and the optional SUDA wrapper gives what suda computes."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pycanon import anonymity

from mikrodata.toolkit.risk import k_anonymity, l_diversity

# pycanon 1.0.1 groups by a one-element list, which pandas 3 warns about
pytestmark = pytest.mark.filterwarnings("ignore:In a future version, the keys of `groups`")


def _frame(rng: np.random.Generator, rows: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "birth_year": rng.integers(1940, 2005, rows),
            "sex": rng.choice(["1", "2"], rows),
            "kommun": rng.choice(["0180", "1280", "1480", "2584", "0509"], rows),
            "hushallstyp": rng.choice(["1", "3", "4", "5", "6", "7", "8"], rows),
            "forsorjningshinder": rng.choice(list("abcdef"), rows),
            "flykting": rng.choice(["0", "1", "2"], rows, p=[0.8, 0.15, 0.05]),
        }
    )


QIS = [
    ["sex"],
    ["sex", "kommun"],
    ["sex", "kommun", "hushallstyp"],
    ["birth_year", "sex", "kommun"],
    ["birth_year", "sex", "kommun", "hushallstyp"],
]
SENSITIVE = ["forsorjningshinder", "flykting"]


@pytest.mark.parametrize("qis", QIS, ids=["-".join(q) for q in QIS])
def test_k_and_l_agree_with_pycanon(qis):
    df = _frame(np.random.default_rng(len(qis)), 500)
    assert k_anonymity(df, qis) == anonymity.k_anonymity(df, qis)
    ours = l_diversity(df, qis, SENSITIVE)
    # pycanon takes the smallest over sensitive variables of each class; ours is per
    # variable: the minimum of ours over variables is its number
    assert min(x.distinct for x in ours.values()) == anonymity.l_diversity(df, qis, SENSITIVE)
    for s in SENSITIVE:
        assert ours[s].distinct == anonymity.l_diversity(df, qis, [s])
        # pycanon truncates exp(entropy) to an integer
        theirs = anonymity.entropy_l_diversity(df, qis, [s])
        assert theirs in (math.floor(ours[s].entropy + 1e-9), math.floor(ours[s].entropy))


@settings(max_examples=25)
@given(
    st.lists(
        st.tuples(st.sampled_from("abc"), st.sampled_from("xy"), st.sampled_from("pqrs")),
        min_size=1,
        max_size=60,
    )
)
def test_agreement_on_any_small_table(rows):
    df = pd.DataFrame(rows, columns=["q1", "q2", "s"])
    assert k_anonymity(df, ["q1", "q2"]) == anonymity.k_anonymity(df, ["q1", "q2"])
    assert l_diversity(df, ["q1", "q2"], ["s"])["s"].distinct == anonymity.l_diversity(
        df, ["q1", "q2"], ["s"]
    )


def test_suda_wrapper_gives_the_packages_scores():
    from mikrodata.toolkit.risk.special_uniques import suda_scores

    # row 4 is unique on b alone (score (2-1)! = 1) and on (a, b) ((2-2)! = 1): suda 0.2.2
    # sums both (it does not check minimality); every other row is in a pair
    df = pd.DataFrame({"a": [1, 1, 2, 2, 2], "b": ["x", "x", "y", "y", "z"]})
    assert suda_scores(df, ["a", "b"]).tolist() == [0, 0, 0, 0, 2]
    assert list(df.columns) == ["a", "b"]  # the caller's frame is not changed


def test_suda_summary_is_counts_of_the_last_year():
    import duckdb

    from mikrodata.toolkit.risk import risk_table
    from mikrodata.toolkit.risk.special_uniques import suda_summary

    # 2021 (the last year): a, b share (0180, 1); c is unique on kommun alone (score 1)
    # and on the pair (score 1): 2; d is unique on the pair only ((2-2)! = 1)
    rows = pd.DataFrame(
        {
            "lopnr": ["a", "b", "c", "d", "a"],
            "ar": [2021, 2021, 2021, 2021, 2020],
            "kommun": ["0180", "0180", "1280", "0180", "2584"],
            "kon": ["1", "1", "2", "2", "1"],
        }
    )
    con = duckdb.connect()
    summary = suda_summary(risk_table(con, rows, "befolkning"))
    assert summary == {
        "persons": 4,
        "persons_with_score": 2,
        "max_msu": 2,
        "scores": {"1": 1, "2": 1},
    }
