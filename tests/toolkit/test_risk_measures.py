"""Risk measures on tables small enough to compute by hand: classes, k, below-k,
per-record risk, l-diversity, trajectory k and unicity; roles from the catalogue."""

from __future__ import annotations

import doctest
import importlib
import math
import pkgutil

import duckdb
import numpy as np
import pandas as pd
import pytest

from mikrodata.toolkit import risk
from mikrodata.toolkit.errors import BadInputError
from mikrodata.toolkit.risk import (
    class_sizes,
    column_roles,
    cross_section,
    k_anonymity,
    l_diversity,
    risk_table,
    trajectory,
    unicity,
)

# Person-months of four persons in one register and two years. By (year, kommun, sex):
#   2020 0180 1: p1 (3 rows), p2 (1 row)           -> class of 2 persons
#   2020 1280 2: p3 (2 rows)                       -> class of 1
#   2021 0180 1: p1 (1 row), p2 (1 row), p4 (1 row) -> class of 3
#   2021 1280 2: p3 (1 row)                        -> class of 1
EB = pd.DataFrame(
    {
        "lopnr": ["p1"] * 4 + ["p2"] * 2 + ["p3"] * 3 + ["p4"],
        "statistikar": [2020, 2020, 2020, 2021, 2020, 2021, 2020, 2020, 2021, 2021],
        "manad": [1, 2, 3, 1, 5, 5, 1, 2, 1, 7],
        "kommun": ["0180"] * 6 + ["1280"] * 3 + ["0180"],
        "sex": ["1"] * 6 + ["2"] * 3 + ["1"],
        "forsorjningshinder": ["a", "a", "b", "a", "b", "a", "c", "c", "c", "a"],
    }
)


@pytest.fixture
def con():
    c = duckdb.connect()
    yield c
    c.close()


def _eb(con, **kw):
    return risk_table(con, EB, "ekonomiskt_bistand", **kw)


def test_cross_section_worked_example(con):
    cs = cross_section(_eb(con), k=2)
    assert cs.by == ("statistikar",)
    assert cs.quasi_identifiers == ("kommun", "sex")
    assert (cs.records, cs.persons, cs.classes, cs.k) == (10, 4, 4, 1)
    # classes below 2: p3's two classes (2 + 1 records); one person
    assert (cs.records_below_k, cs.persons_below_k) == (3, 1)
    assert cs.class_sizes == {
        "1": {"classes": 2, "persons": 1, "records": 3},
        "2": {"classes": 1, "persons": 2, "records": 4},
        "3": {"classes": 1, "persons": 3, "records": 3},
    }
    # mean of 1/size over the 10 records: 4 records at 1/2, 3 at 1/3, 3 at 1
    assert cs.mean_risk == pytest.approx((4 / 2 + 3 / 3 + 3 / 1) / 10)
    cs4 = cross_section(_eb(con), k=4)
    assert (cs4.records_below_k, cs4.persons_below_k) == (10, 4)


def test_l_diversity_worked_example(con):
    (ld,) = cross_section(_eb(con), k=2).l_diversity
    assert ld.variable == "forsorjningshinder"
    # 2020/0180/1: a a b (p1) b (p2); 2020/1280/2: c c; 2021/0180/1: a a a;
    # 2021/1280/2: c  -> the smallest number of distinct values is 1
    assert ld.distinct == 1
    assert ld.entropy == pytest.approx(1.0)
    assert (ld.classes_with_one_value, ld.records_with_one_value) == (3, 6)
    # a table whose smallest entropy class is a, a, b: exp(H) by hand
    df = pd.DataFrame({"q": ["x"] * 3 + ["y"] * 2, "s": ["a", "a", "b", "a", "b"]})
    h = -(2 / 3 * math.log(2 / 3) + 1 / 3 * math.log(1 / 3))
    got = l_diversity(df, ["q"], ["s"])["s"]
    assert (got.distinct, got.entropy) == (2, pytest.approx(math.exp(h)))


def test_null_is_a_value_in_classes_and_diversity():
    df = pd.DataFrame({"q": [None, None, "x"], "s": [None, "a", "a"]})
    assert k_anonymity(df, ["q"]) == 1
    assert class_sizes(df, ["q"])["class_size"].tolist() == [2, 2, 1]
    assert l_diversity(df, ["q"], ["s"])["s"].distinct == 1  # the class of x; NULL+a is 2


def test_per_record_class_size_and_risk_in_input_order():
    out = class_sizes(EB, ["kommun", "sex"], person="lopnr", by=["statistikar"])
    assert out["class_size"].tolist() == [2, 2, 2, 3, 2, 3, 1, 1, 1, 3]
    assert out["risk"].tolist() == pytest.approx([1 / s for s in out["class_size"]])
    assert list(out.columns[: len(EB.columns)]) == list(EB.columns)
    # without a person key every row is its own person
    assert class_sizes(EB, ["kommun"])["class_size"].tolist() == [7] * 6 + [3] * 3 + [7]


def test_trajectory_worked_example(con):
    # trajectories: p1 = p2 = {2020:(0180,1), 2021:(0180,1)}; p3 {2020/2021: 1280,2};
    # p4 only 2021 (0180, 1)
    tr = trajectory(con, [_eb(con)], k=2)
    assert (tr.persons, tr.classes, tr.k, tr.persons_below_k) == (4, 3, 1, 2)
    assert tr.class_sizes == {"1": {"classes": 2, "persons": 2}, "2": {"classes": 1, "persons": 2}}


def test_unicity_worked_example(con):
    # points (year, month, kommun, sex): p1 has 4, p2 2, p3 3, p4 1, and no two persons
    # share a point: every person is unique with one point
    u = unicity(con, [_eb(con)], points=(1, 2, 3, 4, 5), sample=100)
    assert [u[p].sample for p in (1, 2, 3, 4, 5)] == [4, 3, 2, 1, 0]
    assert u[1].share == 1.0 and u[1].unique == 4
    assert u[5].share is None
    # a point shared by everyone makes nobody unique at p = 1
    same = pd.DataFrame({"lopnr": ["a", "b", "c"], "ar": [2020] * 3, "kommun": ["0180"] * 3})
    u = unicity(con, [risk_table(con, same, "lss")], points=(1,))
    assert (u[1].unique, u[1].share) == (0, 0.0)
    assert 0.0 <= u[1].low <= u[1].share <= u[1].high <= 1.0


def test_unicity_two_points_by_hand(con):
    # a and b share 2020; a and c share 2021; b and c share 2022: one point never makes
    # anyone unique, two distinct points always do
    rows = pd.DataFrame(
        {
            "lopnr": ["a", "a", "b", "b", "c", "c"],
            "ar": [2020, 2021, 2020, 2022, 2021, 2022],
            "kommun": ["0180"] * 6,
        }
    )
    u = unicity(con, [risk_table(con, rows, "lss")], points=(1, 2))
    assert (u[1].share, u[2].share) == (0.0, 1.0)


def test_unicity_never_falls_with_more_points(con):
    # every person has 10 distinct months, so each p samples the same persons and a
    # person unique with p drawn points stays unique with p + 1 (nested draws)
    rng = np.random.default_rng(5)
    n = 300
    big = pd.DataFrame(
        {
            "lopnr": np.repeat([f"p{i}" for i in range(n)], 10),
            "statistikar": 2015,
            "manad": np.tile(np.arange(1, 11), n),
            "kommun": rng.choice(["0180", "1280", "1480"], 10 * n),
        }
    )
    u = unicity(con, [risk_table(con, big, "ekonomiskt_bistand")], sample=150, seed=3)
    shares = [u[p].share for p in (1, 2, 3, 4)]
    assert shares == sorted(shares) and shares[0] < shares[-1]
    assert u[1].sample == 150
    again = unicity(con, [risk_table(con, big, "ekonomiskt_bistand")], sample=150, seed=3)
    assert again == u  # reproducible


def test_roles_come_from_the_catalogue_and_can_be_overridden():
    cols = ["lopnr", "ar", "fodelsedatum", "kon", "fodelselandgrupp", "kommun", "birth_year"]
    r = column_roles("befolkning", cols)
    assert r.quasi_identifiers == (
        "fodelsedatum",
        "kon",
        "fodelselandgrupp",
        "kommun",
        "birth_year",
    )
    assert (r.person, r.year, r.month) == ("lopnr", "ar", None)
    r = column_roles("befolkning", cols, quasi_identifiers=["kommun"], sensitive=["kon"])
    assert (r.quasi_identifiers, r.sensitive) == (("kommun",), ("kon",))
    with pytest.raises(BadInputError, match="no column nope"):
        column_roles("befolkning", cols, quasi_identifiers=["nope"])
    with pytest.raises(BadInputError, match="not a quasi-identifier"):
        column_roles("befolkning", cols, quasi_identifiers=["ar"])


def test_every_risk_docstring_example_runs():
    failures = 0
    for info in pkgutil.iter_modules(risk.__path__, prefix="mikrodata.toolkit.risk."):
        module = importlib.import_module(info.name)
        failures += doctest.testmod(module, optionflags=doctest.ELLIPSIS).failed
    failures += doctest.testmod(risk).failed
    assert failures == 0
