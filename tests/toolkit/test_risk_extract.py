"""`mikrodata extract risk` end to end: a planned extract (request + raw delivery) and the
built one agree, the outputs hold counts only (no identifier, no value), the HTML loads
nothing from the network, the search meets a reachable target; and the request's
``output_rules.risk``."""

from __future__ import annotations

import json
import re

import pyarrow.parquet as pq
import pytest
import yaml

from mikrodata.access_requests import load_request
from mikrodata.toolkit.errors import BadInputError
from mikrodata.toolkit.risk import extract_risk, request_targets
from tests.access_requests.support import (
    approved_extract,
    make_delivery,
    make_keystore,
    write_request,
)

REQUIRED = ("persons", "records", "k", "persons_below_k", "unicity")


@pytest.fixture(scope="module")
def delivery(tmp_path_factory):
    return make_delivery(tmp_path_factory.mktemp("registers"), persons=150, seed=7)


@pytest.fixture(scope="module")
def built(tmp_path_factory, delivery):
    tmp = tmp_path_factory.mktemp("built")
    made = approved_extract(
        tmp,
        delivery["root"],
        make_keystore(tmp / "keystore"),
        request={"output_rules": {"min_cell_count": 10, "risk": {"min_k": 2, "max_unicity": 0.9}}},
    )
    return {"request": made.request, "extract": made.out}


def _no_identifier_or_value(out, delivery, extract):
    text = (out / "risk.json").read_text() + (out / "risk.html").read_text()
    for raw in list(delivery["raw_ids"])[:300]:
        assert raw not in text and raw[2:] not in text
    table = pq.read_table(extract / "ekonomiskt_bistand" / "part-0.parquet")
    person = "lopnr" if "lopnr" in table.column_names else "personnummer"
    for pseudonym in set(table.column(person).to_pylist()[:300]):
        assert pseudonym not in text


def test_planned_and_built_extract_agree_and_show_counts_only(run_cli, built, delivery, tmp_path):
    planned = run_cli(
        "extract",
        "risk",
        "--request",
        str(built["request"]),
        "--registers",
        str(delivery["root"]),
        "--k",
        "3",
        "--out",
        str(tmp_path / "planned"),
        "--json",
    )
    assert planned.exit_code == 0, planned.output
    summary = json.loads(planned.output)
    made = run_cli(
        "extract", "risk", str(built["extract"]), "--k", "3", "--out", str(tmp_path / "built")
    )
    assert made.exit_code == 0, made.output
    assert "persons in classes smaller than 3" in made.output
    doc = json.loads((tmp_path / "built" / "risk.json").read_text())
    for key in REQUIRED:
        assert key in doc
        # pseudonyms are one to one: the planned extract's risk is the built one's
        assert summary[key] == doc[key], key
    assert set(doc["unicity"]) == {"1", "2", "3", "4"}
    assert doc["registers"]["ekonomiskt_bistand"]["records"] == doc["records"]
    entry = json.loads((built["extract"] / "manifest.json").read_text())
    assert doc["records"] == entry["registers"]["ekonomiskt_bistand"]["rows_out"]
    for out in (tmp_path / "planned", tmp_path / "built"):
        _no_identifier_or_value(out, delivery, built["extract"])
        page = (out / "risk.html").read_text()
        assert "Plotly.newPlot" in page
        # plotly.js inline: no script, stylesheet or image is fetched from anywhere
        assert not re.search(r"<(script|link|img)[^>]+(src|href)=", page)


def test_search_meets_the_request_rules(built, delivery, tmp_path):
    assert request_targets(built["request"]) == {"min_k": 2, "max_unicity": 0.9}
    doc = extract_risk(
        out=tmp_path / "r",
        request=built["request"],
        registers=delivery["root"],
        quasi_identifiers=["kommun", "birth_year", "sex"],
        coarsen=True,
        sample=500,
    )
    search = doc["search"]
    assert search["targets"]["min_k"] == 2
    assert search["before"]["k"] == doc["k"]
    after = doc["after_coarsening"]
    assert after["k"] >= doc["k"] and after["persons_below_k"] <= doc["persons_below_k"]
    assert after["records"] == doc["records"]  # no row lost
    assert search["steps"] and all("step" in s for s in search["steps"])
    for applied in search["applied"]:
        for lost in applied["information_lost"].values():
            assert lost["cells_changed"] >= 0 and 0 <= lost["share_of_cells"] <= 1
            if applied["step"]["step"] != "suppress":  # a value map never adds information
                assert lost["entropy_bits_after"] <= lost["entropy_bits_before"] + 1e-9
    _no_identifier_or_value(tmp_path / "r", delivery, built["extract"])


def test_bad_calls_are_one_line_errors(run_cli, built, tmp_path):
    result = run_cli("extract", "risk", "--out", str(tmp_path / "x"))
    assert result.exit_code == 11
    assert "give either a built extract directory" in result.output
    result = run_cli(
        "extract", "risk", str(built["extract"]), "--qi", "shoe_size", "--out", str(tmp_path / "x")
    )
    assert result.exit_code == 11 and "shoe_size" in result.output
    with pytest.raises(BadInputError):
        extract_risk(out=tmp_path / "x", extract=built["extract"], k=0)


def test_output_rules_risk_in_the_request(tmp_path):
    plain = write_request(tmp_path / "a.yaml")
    assert load_request(plain).output_rules.min_cell_count == 10  # existing requests stay valid
    assert request_targets(plain) == {}
    ok = write_request(
        tmp_path / "b.yaml", output_rules={"min_cell_count": 10, "risk": {"min_k": 5}}
    )
    assert request_targets(ok) == {"min_k": 5}
    for bad, match in (
        ({"min_k": 0}, "output_rules.risk.min_k"),
        ({"max_unicity": 0.5}, "output_rules.risk.min_k"),
        ({"min_k": 5, "max_unicity": 1.5}, "output_rules.risk.max_unicity"),
        ({"min_k": 5, "colour": 1}, "unknown field"),
    ):
        path = write_request(tmp_path / "c.yaml", output_rules={"min_cell_count": 10, "risk": bad})
        with pytest.raises(BadInputError, match=match):
            load_request(path)
    assert yaml.safe_load(plain.read_text())["output_rules"] == {
        "min_cell_count": 10,
        "dominance": {"n": 2, "k": 0.85},
        "rounding_base": 5,
    }
