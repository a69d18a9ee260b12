"""Rules from the approval, linked tables, differencing, the LP backends, the command."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import yaml

from mikrodata import BadInputError, DisclosureError, disclosure
from mikrodata.access_requests import load_request
from mikrodata.toolkit.disclosure import ReleasedTable, Rules
from mikrodata.toolkit.disclosure.lp import LinearProgram
from tests.toolkit.disclosure.support import microdata

EXAMPLE = "access_requests/examples/example_project.yaml"


def _request(tmp_path, **rules):
    from pathlib import Path

    doc = yaml.safe_load(Path(EXAMPLE).read_text())
    doc["output_rules"] |= rules
    path = tmp_path / "P.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True))
    return path


def test_rules_from_an_old_request_keep_its_numbers_and_take_acro_for_the_rest():
    rules = Rules.from_request(EXAMPLE)  # min 10, dominance (2, 0.85), rounding 5
    assert (rules.min_count, rules.dominance_n, rules.dominance_k) == (10, 2, 0.85)
    assert rules.p_ratio == 0.10 and rules.profile_name == "acro" and rules.reviewers == 1
    assert Rules.from_request(load_request(EXAMPLE)) == rules


def test_rules_from_a_request_with_the_new_fields(tmp_path):
    path = _request(
        tmp_path,
        profile="opensafely",
        min_cell_count=8,
        protection={"lower": 0.2, "upper": 0.3},
        reviewers=2,
        zeros_disclosive=True,
        min_dof=20,
        p_ratio=0.15,
    )
    rules = Rules.from_request(path)
    assert rules.profile_name == "opensafely" and rules.mitigation == "round"
    assert (rules.lower_protection, rules.upper_protection) == (0.2, 0.3)
    assert (rules.reviewers, rules.min_dof, rules.p_ratio) == (2, 20, 0.15)


def test_a_bad_output_rule_names_the_field(tmp_path):
    with pytest.raises(BadInputError, match="output_rules.reviewers"):
        load_request(_request(tmp_path, reviewers=3))
    with pytest.raises(BadInputError, match="no disclosure profile"):
        Rules.profile("lenient")


def test_linked_tables_hide_a_shared_cell_in_both():
    rng = np.random.default_rng(4)
    n = 400
    frame = pd.DataFrame(
        {
            "lopnr": [f"{i:016x}" for i in range(n)],
            "kommun": rng.choice(["0114", "0180", "2584"], n, p=[0.6, 0.375, 0.025]),
            "manad": rng.integers(1, 4, n).astype(str),
            "kon": rng.choice(["k", "m"], n),
        }
    )
    by_month, by_sex = disclosure.protect_together(frame, [("kommun", "manad"), ("kommun", "kon")])
    # the kommun totals are the same cells in both tables: hidden in both or in neither
    pd.testing.assert_series_equal(
        by_month.published["Total"].isna(), by_sex.published["Total"].isna()
    )
    assert by_month.status == by_sex.status == "pass"
    assert by_month.record.audit["passed"]
    assert by_month.record.properties["protected_with"] == ["kommun x kon"]
    # checked alone, the second table can leave a shared cell that the first hides
    alone = disclosure.crosstab(frame, "kommun", "kon")
    assert alone.published.shape == by_sex.published.shape


def test_differencing_refuses_a_table_without_one_small_kommun(tmp_path):
    counts = {
        ("0114", "k"): 40,
        ("0114", "m"): 45,
        ("0180", "k"): 30,
        ("0180", "m"): 35,
        ("2584", "k"): 3,
        ("2584", "m"): 4,
    }
    frame = microdata(counts, ["kommun", "kon"])
    first = disclosure.frequency(frame, "kon")
    without = disclosure.frequency(frame[frame.kommun != "2584"], "kon", released=[first])
    assert without.status == "fail"
    assert any("fewer than 10 units" in n for n in without.record.notes)
    # through the trail's records, as the lead will feed them
    ReleasedTable.from_table("kon_all", first).save(tmp_path)
    again = disclosure.frequency(
        frame[frame.kommun != "2584"],
        "kon",
        released=[ReleasedTable.load(tmp_path / "kon_all.released.json")],
    )
    assert again.status == "fail"
    # a difference of 10 or more units is fine
    other = disclosure.frequency(frame[frame.kommun != "0180"], "kon", released=[first])
    assert other.status == "pass"
    with pytest.raises(DisclosureError):
        disclosure.frequency(
            frame[frame.kommun != "2584"],
            "kon",
            released=[first],
            rules=Rules.profile("acro").replace(mitigation="none"),
        )


def test_differencing_of_aggregate_tables_compares_cells():
    agg1 = pd.DataFrame({"kon": ["k", "m"], "persons": [40, 50]})
    agg2 = pd.DataFrame({"kon": ["k", "m"], "persons": [38, 50]})
    first = disclosure.frequency(agg1, "kon", counts="persons")
    second = disclosure.frequency(agg2, "kon", counts="persons", released=[first])
    assert second.status == "fail"


@pytest.mark.parametrize("backend", ["highs", "linprog"])
def test_both_lp_backends_give_the_same_answers(backend):
    # x + y = 4, x - y <= 1, 0 <= x, y <= 3
    lp = LinearProgram(
        2,
        A_eq=sp.csr_matrix([[1.0, 1.0]]),
        b_eq=np.array([4.0]),
        A_ub=sp.csr_matrix([[1.0, -1.0]]),
        b_ub=np.array([1.0]),
        hi=np.array([3.0, 3.0]),
        backend=backend,
    )
    assert lp.solve(np.array([1.0, 0.0]))[1] == pytest.approx(1.0)
    assert lp.solve(np.array([-1.0, 0.0]))[1] == pytest.approx(-2.5)
    lp.set_bounds(np.array([1]), np.array([0.0]), np.array([np.inf]))
    assert lp.solve(np.array([1.0, 0.0]))[1] == pytest.approx(0.0)
    lp.add_row_at_least(np.array([0]), np.array([1.0]), 2.0)
    assert lp.solve(np.array([1.0, 0.0]))[1] == pytest.approx(2.0)
    lp.drop_rows()
    assert lp.solve(np.array([1.0, 0.0]))[1] == pytest.approx(0.0)
    unbounded = LinearProgram(1, backend=backend)
    assert unbounded.solve(np.array([-1.0]))[0] == "unbounded"


def test_bad_input_names_the_column():
    frame = microdata({("a",): 12}, ["x"])
    with pytest.raises(BadInputError, match="'y'"):
        disclosure.frequency(frame, "y")
    with pytest.raises(BadInputError, match="missing values"):
        disclosure.frequency(frame.assign(x=None), "x")
    with pytest.raises(BadInputError, match="counts"):
        disclosure.frequency(pd.DataFrame({"x": ["a"], "n": [-1]}), "x", counts="n")


def test_the_command_exits_17_without_mitigation(tmp_path, run_cli):
    frame = microdata({("a", "x"): 3, ("a", "y"): 30, ("b", "x"): 20, ("b", "y"): 25}, ["r", "c"])
    path = tmp_path / "t.parquet"
    frame.to_parquet(path)
    result = run_cli(
        "disclosure", "check", str(path), "--index", "r", "--columns", "c", "--mitigation", "none"
    )
    assert result.exit_code == 17, result.output
    assert "error:" in result.output and "mitigation" in result.output
    result = run_cli("disclosure", "check", str(path), "--index", "r", "--columns", "c", "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["status"] == "pass" and doc["record"]["actions"] == {"suppressed": 1, "secondary": 3}
