"""Properties on random tables (2-D with margins; 3-level hierarchies): no released cell
breaks its rule, and the LP audit finds no suppressed cell recoverable or narrower than
its protection interval. For flat 2-D tables an independent audit, written in the test
from the published table alone, agrees.

CI runs a fixed, derandomised set (tests/conftest.py); ``HYPOTHESIS_PROFILE=explore``
runs 2000 tables per property.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
from hypothesis import example, given, settings
from hypothesis import strategies as st

from mikrodata import disclosure
from mikrodata.toolkit.disclosure import Rules
from tests.toolkit.disclosure.support import aggregate, independent_bounds

ACRO = Rules.profile("acro")
EXPLORE = os.environ.get("HYPOTHESIS_PROFILE") == "explore"


def examples(n: int):
    """``n`` tables per property in CI (about a second per ten), 2000 when exploring."""
    return settings(max_examples=2000 if EXPLORE else n)


@st.composite
def tables(draw, hierarchy: bool = False):
    n_rows = draw(st.integers(2, 6))
    n_cols = draw(st.integers(2, 5))
    small = st.integers(0, 14)
    big = st.integers(0, 60)
    cells = st.one_of(small, big)
    rows = (
        [f"{g}{i}" for g in "AB" for i in range(n_rows)]
        if hierarchy
        else [f"r{i}" for i in range(n_rows)]
    )
    if hierarchy:
        rows = rows[: draw(st.integers(3, len(rows)))]
    counts = {(r, f"c{j}"): draw(cells) for r in rows for j in range(n_cols)}
    return counts


def _check_released(t, rules: Rules):
    cells = t.cells
    shown = cells[cells["state"] == "published"]["count"].astype(float)
    assert ((shown >= rules.min_count) | ((shown == 0) & (not rules.zeros_disclosive))).all()
    audit = t.record.audit
    if audit is not None:
        assert audit["passed"], audit["failures"][:3]
        for e in audit["intervals"]:
            assert e["upper"] - e["lower"] > 0
            if e["primary"]:
                assert e["lower"] <= e["required_lower"] + 1e-6
                assert e["upper"] >= e["required_upper"] - 1e-6
    assert t.status == "pass"


@examples(50)
@given(tables())
def test_random_2d_tables_are_protected(counts):
    frame = aggregate(counts, ["r", "c"])
    t = disclosure.crosstab(frame, "r", "c", counts="persons", rules=ACRO)
    _check_released(t, ACRO)
    # the independent audit: every hidden primary cell is protected
    bounds = independent_bounds(t.published.astype("Float64").astype(float))
    primary = t.cells[t.cells["state"] == "suppressed"]
    true = t.grid.cells.set_index(["r", "c"])["value"]
    for _, row in primary.iterrows():
        lo, hi = bounds[(row["r"], row["c"])]
        x = true[(row["r"], row["c"])]
        need = max(1.0, np.ceil(0.1 * x - 1e-9))
        assert lo <= x - min(need, x) + 1e-6 and hi >= x + need - 1e-6


@examples(30)
@given(tables())
# found by this test: a cell added to protect a group of small cells was recoverable
@example(
    {
        ("r0", "c0"): 2,
        ("r0", "c1"): 0,
        ("r1", "c0"): 2,
        ("r1", "c1"): 1,
        ("r2", "c0"): 10,
        ("r2", "c1"): 0,
    }
)
def test_random_2d_tables_with_published_zeros(counts):
    rules = ACRO.replace(zeros_disclosive=False)
    t = disclosure.crosstab(aggregate(counts, ["r", "c"]), "r", "c", counts="persons", rules=rules)
    _check_released(t, rules)


@examples(50)
@given(tables(hierarchy=True))
def test_random_three_level_hierarchies_are_protected(counts):
    # rows A0.. and B0.. in groups A and B, under the total: three levels
    frame = aggregate(counts, ["r", "c"])
    t = disclosure.crosstab(
        frame, "r", "c", counts="persons", rules=ACRO, hierarchy={"r": lambda code: code[0]}
    )
    _check_released(t, ACRO)
    groups = [g for g in ("A", "B") if g in t.published.index]
    assert groups and "Total" in t.published.index


@examples(30)
@given(tables())
def test_random_tables_under_opensafely_show_no_count_of_seven_or_fewer(counts):
    rules = Rules.profile("opensafely")
    t = disclosure.crosstab(aggregate(counts, ["r", "c"]), "r", "c", counts="persons", rules=rules)
    values = t.published.astype("Float64").to_numpy(dtype=float, na_value=np.nan).ravel()
    values = values[~np.isnan(values)]
    assert (values % 5 == 0).all()
    inner = t.cells[(t.cells["r"] != "Total") & (t.cells["c"] != "Total")]
    assert not ((inner["count"].astype(float) <= 7) & inner["count"].notna()).any()
    # totals are the sums of the published (rounded) cells
    pub = t.published.astype("Float64").fillna(0)
    assert (
        pub.loc[pub.index != "Total", "Total"]
        == pub.loc[pub.index != "Total", pub.columns != "Total"].sum(axis=1)
    ).all()
    assert t.status == "pass"


def test_microdata_and_aggregate_give_the_same_table():
    from tests.toolkit.disclosure.support import microdata

    counts = {
        ("a", "x"): 3,
        ("a", "y"): 30,
        ("b", "x"): 12,
        ("b", "y"): 50,
        ("c", "x"): 0,
        ("c", "y"): 22,
    }
    micro = disclosure.crosstab(microdata(counts, ["r", "c"]), "r", "c")
    agg = disclosure.crosstab(aggregate(counts, ["r", "c"]), "r", "c", counts="persons")
    pd.testing.assert_frame_equal(micro.published, agg.published)
