"""One row number everywhere: a bad row of a delivery is named by the same file and row
in the quality summary (its examples and ``unexpected_rows.parquet``), in the rejects of
``extract build`` and in the rejects of ``pseudonymise``: the row as the delivered file
numbers it, its first data row being row 1 (toolkit.rejects)."""

from __future__ import annotations

import json

import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from mikrodata.pseudonymisation import KeyStore, pseudonymise_file
from mikrodata.quality.run import run_quality
from tests.access_requests.support import (
    FAULT_YEAR,
    PASSPHRASE,
    approved_extract,
    make_delivery,
    make_keystore,
)

REGISTER = "ekonomiskt_bistand"
FAULT_FILE = f"statistikar={FAULT_YEAR}/part-0.parquet"
# make_delivery spoils the first three rows' personnummer (a wrong check digit, none,
# not a number) and the fourth row's hushallsid.
BAD_PNR_ROWS = {1, 2, 3}


@pytest.fixture(scope="module")
def delivery(tmp_path_factory):
    return make_delivery(tmp_path_factory.mktemp("registers"))


@pytest.fixture(scope="module")
def keystore(tmp_path_factory):
    return make_keystore(tmp_path_factory.mktemp("keys") / "keystore")


def _quality_rows(data, out, year=FAULT_YEAR) -> tuple[set[int], set[int]]:
    """The rows the quality summary names for personnummer: in unexpected_rows.parquet
    and in the examples of summary.json."""
    run_quality(REGISTER, data, out, year=year, data_docs=False, raise_on_failure=False)
    rows = pq.read_table(out / "unexpected_rows.parquet").to_pandas()
    rows = rows[rows["variable"].str.split(",").map(lambda v: "personnummer" in v)]
    summary = json.loads((out / "summary.json").read_text())
    examples = {
        e["row"]
        for o in summary["outcomes"]
        if o["variable"] and "personnummer" in o["variable"].split(",")
        for e in o["examples"]
        if "row" in e
    }
    return set(rows["row"].astype(int)), examples


def _pseudonymise_rows(path, tmp_path, keystore) -> set[int]:
    key = KeyStore.open(keystore, PASSPHRASE).project_key("P2026-001")
    out = tmp_path / "pseudonymised.parquet"
    rejects = tmp_path / "rejected.parquet"
    pseudonymise_file(path, out, key, ["personnummer"], reject_path=rejects)
    table = pq.read_table(rejects).to_pylist()
    return {r["source_row"] for r in table if r["column"] == "personnummer"}


def test_a_bad_parquet_row_has_one_number_in_quality_extract_and_pseudonymise(
    delivery, keystore, tmp_path
):
    root = delivery["root"] / REGISTER
    unexpected, examples = _quality_rows(root, tmp_path / "quality")
    assert unexpected == BAD_PNR_ROWS
    assert examples == BAD_PNR_ROWS
    review = (tmp_path / "quality" / "review.html").read_text()
    assert f"{FAULT_FILE}:1" in review and f"{FAULT_FILE}:0" not in review

    approved_extract(tmp_path, delivery["root"], keystore)
    rejects = pq.read_table(tmp_path / "rejects" / f"{REGISTER}.parquet").to_pylist()
    extract_rows = {
        r["source_row"]
        for r in rejects
        if r["column"] == "personnummer" and r["source_file"].endswith(FAULT_FILE)
    }
    assert extract_rows == BAD_PNR_ROWS

    assert _pseudonymise_rows(root / FAULT_FILE, tmp_path, keystore) == BAD_PNR_ROWS


def test_a_bad_csv_row_has_one_number_in_quality_and_pseudonymise(delivery, keystore, tmp_path):
    table = pq.read_table(delivery["root"] / REGISTER / FAULT_FILE)
    csv = tmp_path / "delivery" / f"{REGISTER}.csv"
    csv.parent.mkdir()
    pacsv.write_csv(table, csv)  # a header line, then row 1
    unexpected, examples = _quality_rows(csv, tmp_path / "quality")
    assert unexpected == BAD_PNR_ROWS
    assert examples == BAD_PNR_ROWS
    assert _pseudonymise_rows(csv, tmp_path, keystore) == BAD_PNR_ROWS
