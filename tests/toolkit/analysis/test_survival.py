"""Kaplan-Meier and log-rank against estimates computed by hand, and on spells."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mikrodata.toolkit.analysis import (
    build_spells,
    kaplan_meier,
    log_rank,
    numbers_at_risk,
    reentry_durations,
    spell_durations,
)
from mikrodata.toolkit.errors import BadInputError

from .spec import table

# Seven spells; the second at 2 months and the first at 4 are censored.
#   t  at risk  events  S(t)
#   1    7        1     6/7
#   2    6        1     6/7 * 5/6 = 5/7
#   3    4        1     5/7 * 3/4 = 15/28
#   4    3        1     15/28 * 2/3 = 5/14
#   5    1        1     0
HAND = pd.DataFrame(
    {
        "lopnr": list("abcdefg"),
        "duration": [1, 2, 2, 3, 4, 4, 5],
        "event": [True, True, False, True, False, True, True],
    }
)


def test_kaplan_meier_matches_the_hand_computed_estimate():
    km = kaplan_meier(HAND)
    assert km["time"].tolist() == [1, 2, 3, 4, 5]
    assert km["n_at_risk"].tolist() == [7, 6, 4, 3, 1]
    assert km["n_events"].tolist() == [1, 1, 1, 1, 1]
    assert km["n_censored"].tolist() == [0, 1, 0, 1, 0]
    np.testing.assert_allclose(km["survival"], [6 / 7, 5 / 7, 15 / 28, 5 / 14, 0])
    # Greenwood at t=1: S * sqrt(d / (n (n - d))) = 6/7 * sqrt(1/42)
    assert km["std_error"][0] == pytest.approx(6 / 7 * np.sqrt(1 / 42))
    assert (km["ci_lower"][:4] <= km["survival"][:4]).all()
    assert (km["ci_upper"][:4] >= km["survival"][:4]).all()
    assert km["n_units_at_risk"].tolist() == [7, 6, 4, 3, 1]


def test_log_rank_matches_the_hand_computed_statistic():
    # A: events at 1 and 3; B: events at 2 and 4.
    #   t=1: n=4 nA=2 d=1 dA=1  E=1/2  V=2*2*1*3/(16*3)=1/4
    #   t=2: n=3 nA=1 d=1 dA=0  E=1/3  V=1*2*1*2/(9*2)=2/9
    #   t=3: n=2 nA=1 d=1 dA=1  E=1/2  V=1/4
    #   t=4: n=1 nA=0           E=0    V=0
    # (O-E)^2/V = (2 - 4/3)^2 / (1/4 + 2/9 + 1/4) = (4/9) / (13/18) = 8/13
    d = pd.DataFrame({"duration": [1, 3, 2, 4], "event": [True] * 4, "g": list("AABB")})
    res = log_rank(d, group="g")
    assert res["statistic"][0] == pytest.approx(8 / 13)
    assert res["df"][0] == 1
    with pytest.raises(BadInputError, match="one group"):
        log_rank(d.assign(g="A"), group="g")


def test_kaplan_meier_by_group_and_numbers_at_risk():
    d = HAND.assign(g=list("xxxyyyy"))
    km = kaplan_meier(d, by="g")
    assert set(km["g"]) == {"x", "y"}
    risk = numbers_at_risk(d, [0, 2, 4], by="g")
    assert risk[risk.g == "y"]["n_at_risk"].tolist() == [4, 4, 3]


def test_spell_durations_respect_censoring():
    eb = table(
        """
        lopnr | months
        ------+---------------------------------
        a     | 2015-01..2015-03
        b     | 2015-02..2015-03, 2015-06..2015-12
        c     | 2015-04
        """
    )
    s = build_spells(eb).spells
    d = spell_durations(s)  # a is left-censored: left out
    assert d[["lopnr", "duration", "event"]].values.tolist() == [
        ["b", 2.0, True],
        ["b", 7.0, False],
        ["c", 1.0, True],
    ]
    r = reentry_durations(s)
    assert r[["lopnr", "duration", "event"]].values.tolist() == [
        ["a", 9.0, False],
        ["b", 2.0, True],
        ["c", 8.0, False],
    ]
    km = kaplan_meier(d)
    assert km["survival"].tolist()[0] == pytest.approx(2 / 3)
