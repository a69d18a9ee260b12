"""Worked examples, computed by hand, for each rule and each profile."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mikrodata import DisclosureError, disclosure
from mikrodata.toolkit.disclosure import Rules
from tests.toolkit.disclosure.support import aggregate, microdata

ACRO = Rules.profile("acro")
OPENSAFELY = Rules.profile("opensafely")


def test_profiles_have_the_numbers_of_acro_and_opensafely():
    assert (ACRO.min_count, ACRO.dominance_n, ACRO.dominance_k, ACRO.p_ratio) == (10, 2, 0.9, 0.1)
    assert ACRO.zeros_disclosive and ACRO.min_dof == 10 and ACRO.mitigation == "suppress"
    # opensafely: counts of 7 or fewer redacted, the rest rounded to 5, totals recomputed
    assert OPENSAFELY.min_count == 8 and OPENSAFELY.rounding_base == 5
    assert OPENSAFELY.totals_from_rounded and OPENSAFELY.survival_rounding == "midpoint6"
    assert OPENSAFELY.reviewers == 2
    assert ACRO.lower_protection == ACRO.upper_protection == 0.10 and ACRO.min_protection == 1


def test_min_count_one_dimension_by_hand():
    # a=12, b=4, c=20, Total=36. b < 10 is primary; to protect it another cell of the same
    # total must go: the cheapest is a (cost 12+1 < 20+1 < 36+1).
    frame = microdata({("a",): 12, ("b",): 4, ("c",): 20}, ["x"])
    t = disclosure.frequency(frame, "x", rules=ACRO)
    pub = dict(zip(t.published["x"], t.published["count"], strict=True))
    assert pd.isna(pub["a"]) and pd.isna(pub["b"])
    assert (pub["c"], pub["Total"]) == (20, 36)
    assert t.status == "pass"
    (b,) = [e for e in t.record.audit["intervals"] if e["cell"] == {"x": "b"}]
    # a + b = 16: b lies in [0, 16]; it needs [4 - 1, 4 + 1] (10 % of 4, at least 1)
    assert (b["lower"], b["upper"]) == (0, 16)
    assert (b["required_lower"], b["required_upper"]) == (3, 5)
    assert {f.rule for f in t.record.findings} == {"min_count", "secondary"}


def test_thresholds_count_distinct_units_not_rows():
    # 9 persons with 3 rows each: 27 rows, 9 units: below 10
    frame = microdata({("a",): 9, ("b",): 30, ("c",): 30}, ["x"], rows_per_unit=3)
    t = disclosure.frequency(frame, "x", rules=ACRO)
    assert t.cells.set_index("x").loc["a", "state"] == "suppressed"
    assert t.published.set_index("x").loc["Total", "count"] == 69


def test_household_unit_counts_households():
    frame = pd.DataFrame(
        {
            "lopnr": [f"{i:016x}" for i in range(24)],
            "lopnr_hushall": [f"h{i // 2:015x}" for i in range(24)],  # 12 households of 2
            "x": ["a"] * 24,
        }
    )
    persons = disclosure.frequency(frame, "x", unit="lopnr")
    households = disclosure.frequency(frame, "x", unit="lopnr_hushall")
    assert persons.published["count"].tolist() == [24, 24]
    assert households.published["count"].tolist() == [12, 12]


def test_zeros_are_disclosive_under_acro_and_published_when_not():
    counts = {("a", "x"): 20, ("a", "y"): 0, ("b", "x"): 15, ("b", "y"): 25}
    frame = microdata(counts, ["r", "c"])
    t = disclosure.crosstab(frame, "r", "c", rules=ACRO)
    assert any(f.rule == "zero" and f.cell == {"r": "a", "c": "y"} for f in t.record.findings)
    assert pd.isna(t.published.loc["a", "y"])
    t2 = disclosure.crosstab(frame, "r", "c", rules=ACRO.replace(zeros_disclosive=False))
    assert t2.published.loc["a", "y"] == 0 and t2.record.findings == []


def test_two_by_two_with_one_small_cell_needs_the_whole_square():
    # a 2x2 table with margins: hiding one inner cell alone is undone by its row total;
    # the smallest safe pattern hides all four inner cells, margins stay.
    counts = {("a", "x"): 3, ("a", "y"): 30, ("b", "x"): 40, ("b", "y"): 50}
    t = disclosure.crosstab(microdata(counts, ["r", "c"]), "r", "c", rules=ACRO)
    inner = t.published.loc[["a", "b"], ["x", "y"]]
    assert inner.isna().all().all()
    assert t.published.loc["Total"].tolist() == [43, 80, 123]
    assert t.published["Total"].tolist() == [33, 90, 123]
    (ax,) = [e for e in t.record.audit["intervals"] if e["cell"] == {"r": "a", "c": "x"}]
    # ax + ay = 33, ax + bx = 43: ax in [0, 33]
    assert (ax["lower"], ax["upper"]) == (0, 33)


def test_opensafely_redacts_seven_or_fewer_rounds_to_five_and_recomputes_totals():
    counts = {("a",): 7, ("b",): 8, ("c",): 12, ("d",): 13, ("e",): 100}
    t = disclosure.frequency(aggregate(counts, ["x"]), "x", counts="persons", rules=OPENSAFELY)
    pub = dict(zip(t.published["x"], t.published["count"], strict=True))
    assert pd.isna(pub["a"])
    assert (pub["b"], pub["c"], pub["d"], pub["e"]) == (10, 10, 15, 100)
    assert pub["Total"] == 10 + 10 + 15 + 100  # from the rounded cells, not 140 rounded
    assert t.status == "pass"
    assert t.cells.set_index("x").loc["Total", "state"] == "recomputed"


def test_dominance_and_p_ratio_by_hand():
    # cell "a": 12 units, the two largest hold 460 + 450 of 1000 = 91 % >= 90 % (the rest,
    # 90, is 19.6 % of the largest: the p-ratio holds)
    # cell "b": 12 units, 500 + 480 of 1000, the rest 20 < 10 % of 500 (p-ratio); with
    # ACRO's numbers a p-ratio breach is always a dominance breach too (rest < 0.1 top1
    # means top1 + top2 > 0.9 total), so b breaks both
    # cell "c": 12 equal units of 100: safe
    def rows(cell, amounts):
        return [{"x": cell, "lopnr": f"{cell}{i:015x}", "belopp": v} for i, v in enumerate(amounts)]

    a = [460, 450] + [9] * 10
    b = [500, 480] + [2] * 10
    c = [100] * 12
    frame = pd.DataFrame(rows("a", a) + rows("b", b) + rows("c", c))
    t = disclosure.magnitude(frame, "x", values="belopp", rules=ACRO)
    rules_hit = {(f.cell.get("x"), f.rule) for f in t.record.findings if f.rule != "secondary"}
    assert rules_hit == {("a", "dominance"), ("b", "dominance"), ("b", "p_ratio")}
    # protection levels (τ-ARGUS): dominance 910 / 0.9 - 1000 = 11.1 for a; for b the
    # larger of 980 / 0.9 - 1000 = 88.9 and the p-ratio's 0.1 * 500 - (1000 - 980) = 30
    audit = {e["cell"]["x"]: e for e in t.record.audit["intervals"]}
    assert audit["a"]["required_upper"] == pytest.approx(1000 + 910 / 0.9 - 1000)
    assert audit["b"]["required_upper"] == pytest.approx(980 / 0.9)
    only_p = disclosure.magnitude(
        frame, "x", values="belopp", rules=ACRO.replace(dominance_n=None, dominance_k=None)
    )
    audit = {e["cell"]["x"]: e for e in only_p.record.audit["intervals"]}
    assert audit["b"]["required_upper"] == pytest.approx(1000 + 30)
    assert "required_upper" not in audit.get("a", {})
    assert t.status == "pass"
    assert t.published.set_index("x").loc["Total", "sum"] == 3200


def test_negative_amounts_send_a_magnitude_table_to_review():
    frame = pd.DataFrame(
        {"x": ["a"] * 12, "lopnr": [f"{i:016x}" for i in range(12)], "belopp": [-5] + [10] * 11}
    )
    t = disclosure.magnitude(frame, "x", values="belopp", rules=ACRO)
    assert t.status == "review"


def test_mean_table_publishes_means_where_sums_are_published():
    frame = pd.DataFrame(
        {
            "x": ["a"] * 20 + ["b"] * 20,
            "lopnr": [f"{i:016x}" for i in range(40)],
            "belopp": [10.0] * 20 + [30.0] * 20,
        }
    )
    t = disclosure.magnitude(frame, "x", values="belopp", aggfunc="mean", rules=ACRO)
    assert t.published.set_index("x")["mean"].to_dict() == {"a": 10.0, "b": 30.0, "Total": 20.0}


def test_no_mitigation_raises_disclosure_error_with_exit_code_17():
    frame = microdata({("a",): 3, ("b",): 30}, ["x"])
    with pytest.raises(DisclosureError) as err:
        disclosure.frequency(frame, "x", mitigation="none")
    assert err.value.exit_code == 17
    assert "min_count: 1" in str(err.value)
    # a safe table passes without mitigation
    assert (
        disclosure.frequency(microdata({("a",): 10}, ["x"]), "x", mitigation="none").status
        == "pass"
    )


def test_kommun_within_lan_hierarchy():
    counts = {("0114",): 40, ("0180",): 50, ("0305",): 3, ("0380",): 60}
    t = disclosure.frequency(
        microdata(counts, ["kommun"]), "kommun", hierarchy={"kommun": disclosure.LAN}
    )
    assert t.published["kommun"].tolist() == ["01", "0114", "0180", "03", "0305", "0380", "Total"]
    pub = t.published.set_index("kommun")["count"]
    # 0305 is small; county 03 = 0305 + 0380 would give it back: 0380 goes too
    assert pd.isna(pub["0305"]) and pd.isna(pub["0380"])
    assert (pub["01"], pub["03"], pub["Total"]) == (90, 63, 153)
    assert disclosure.county_of("2584") == "25"


def test_percentiles_widen_minimum_and_maximum_by_hand():
    # 30 units with values 1..30: the minimum 1 has no unit below it; the smallest value
    # with 10 units below and 10 above is 11, the largest 20. The median 15.5 has 15 on
    # each side.
    frame = pd.DataFrame({"lopnr": [f"{i:016x}" for i in range(30)], "v": np.arange(1.0, 31)})
    t = disclosure.percentiles(frame, "v", q=[0, 0.5, 1], rules=ACRO)
    values = dict(zip(t.published["statistic"], t.published["value"], strict=True))
    assert values == {"min": 11.0, "p50": 15.5, "max": 20.0}
    states = dict(zip(t.cells["statistic"], t.cells["state"], strict=True))
    assert states == {"min": "widened", "p50": "published", "max": "widened"}
    # opensafely redacts minima and maxima instead
    t2 = disclosure.percentiles(frame, "v", q=[0, 0.5, 1], rules=OPENSAFELY)
    assert t2.published["value"].isna().tolist() == [True, False, True]
    # too few units for any value: refused
    small = disclosure.percentiles(frame.head(15), "v", q=[0.5], rules=ACRO)
    assert small.published["value"].isna().all()


def test_survival_acro_coarsens_steps_cuts_small_risk_sets_rounds_at_risk():
    # 20 units, one event at each of the times 1..20: steps of >= 10 events end at 10
    # (20 at risk, 10 events, S = 0.5) and at 20 (10 at risk, 10 events, S = 0)
    frame = pd.DataFrame(
        {"lopnr": [f"{i:016x}" for i in range(20)], "t": np.arange(1, 21), "e": True}
    )
    t = disclosure.survival(frame, "t", "e", rules=ACRO)
    got = t.published[["time", "n_at_risk", "events", "survival"]].to_numpy().tolist()
    assert got == [[10.0, 20.0, 10.0, 0.5], [20.0, 10.0, 10.0, 0.0]]


def test_survival_opensafely_midpoint6():
    frame = pd.DataFrame(
        {"lopnr": [f"{i:016x}" for i in range(30)], "t": [1] * 4 + [2] * 8 + [3] * 18, "e": True}
    )
    t = disclosure.survival(frame, "t", "e", rules=OPENSAFELY)
    pub = t.published
    # cumulative events 4, 12, 30 -> midpoint-6 3, 9, 27; N = 30 -> 27; at risk 27, 24
    assert pub["events_midpoint6"].tolist()[:2] == [3.0, 9.0]
    assert pub["n_at_risk_midpoint6_derived"].tolist()[:2] == [27.0, 24.0]
    assert pub["survival_midpoint6_derived"].iloc[0] == pytest.approx(1 - 3 / 27)
    # at time 3 the rounded risk set (27 - 9 = 18) is fine; no further times
    assert len(pub) == 3


def test_midpoint6_and_rounding_functions():
    assert disclosure.midpoint6(np.array([0, 1, 6, 7, 12, 13])).tolist() == [0, 3, 3, 9, 9, 15]
    assert disclosure.round_to_base(np.array([2, 3, 7, 8, 12, 13]), 5).tolist() == [
        0,
        5,
        5,
        10,
        10,
        15,
    ]


def test_regression_residual_degrees_of_freedom():
    import statsmodels.api as sm

    rng = np.random.default_rng(0)

    def fit(n):
        x = rng.normal(size=n)
        return sm.OLS(2 * x + rng.normal(size=n), sm.add_constant(x)).fit()

    assert disclosure.regression(fit(12), rules=ACRO).status == "pass"  # 12 - 2 = 10
    low = disclosure.regression(fit(11), rules=ACRO)  # 9 < 10
    assert low.status == "fail" and low.published.isna().all().all()
    with pytest.raises(DisclosureError):
        disclosure.regression(fit(11), rules=ACRO.replace(mitigation="none"))
    assert disclosure.regression(fit(11), rules=OPENSAFELY).status == "review"
