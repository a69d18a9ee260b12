"""Expectation suites from the catalogue, run end to end with Great Expectations 1.x
on real Parquet datasets: a clean delivery passes, every kind of injected fault is
flagged at its row, identifiers never reach the outputs, batches agree with one pass."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from mikrodata.quality.catalogue import load
from mikrodata.quality.datadocs import remote_references
from mikrodata.quality.run import run_quality
from mikrodata.quality.suites import build_period_suite, build_suite
from mikrodata.toolkit.errors import QualityFailure
from mikrodata.toolkit.synthetic.clean import clean_year, write_dataset

REG = load("ekonomiskt_bistand")
YEARS = (2016, 2017)
PERSONS = 150


def _frames(seed: int = 0) -> dict[int, pd.DataFrame]:
    return {y: clean_year(REG, y, PERSONS, seed=seed) for y in YEARS}


def _inject(frames: dict[int, pd.DataFrame]) -> tuple[dict[int, pd.DataFrame], pd.DataFrame]:
    """Inject one fault of every kind; returns the frames and the ground truth
    (year, row, column, kind) with rows numbered as written to the file."""
    truth = []
    f16 = frames[2016].copy()
    f17 = frames[2017].copy()
    pnr = f16["personnummer"].astype(object).to_numpy().copy()

    def put(row, kind, column="personnummer", year=2016):
        truth.append({"year": year, "row": row, "column": column, "kind": kind})

    # identifier faults, each on its own row of 2016
    v = pnr[3]
    pnr[3] = v[:-1] + str((int(v[-1]) + 1) % 10)
    put(3, "check_digit")
    pnr[20] = pnr[20][2:]
    put(20, "no_century")
    pnr[40] = pnr[40][:8] + "-" + pnr[40][8:]
    put(40, "separator_variant")
    pnr[60] = " " + pnr[60]
    put(60, "whitespace")
    pnr[80] = None
    put(80, "missing_identifier")
    f16["personnummer"] = pd.array(pnr, dtype="str")
    amounts = f16["belopp_forsorjningsstod"].to_numpy().copy()
    amounts[100] = -250.0
    put(100, "negative_amount", "belopp_forsorjningsstod")
    amounts[120] = 5e8
    put(120, "absurd_amount", "belopp_forsorjningsstod")
    f16["belopp_forsorjningsstod"] = amounts
    # a code valid only up to 2016, used in 2017 by an adult
    adult = int(np.flatnonzero(f17["roll"].isin(["1", "2"]).to_numpy())[5])
    fh = f17["forsorjningshinder"].astype(object).to_numpy().copy()
    fh[adult] = REG.codes_in("forsorjningshinder", 2016)[0].code
    f17["forsorjningshinder"] = pd.array(fh, dtype="str")
    put(adult, "code_outside_years", "forsorjningshinder", 2017)
    # a code the catalogue does not have at all
    ht = f17["hushallstyp"].astype(object).to_numpy().copy()
    ht[30] = "2"
    f17["hushallstyp"] = pd.array(ht, dtype="str")
    put(30, "undocumented_code", "hushallstyp", 2017)
    # a missing month: the first 20 people of 2017 live in one kommun (240 rows, enough
    # to expect every month) and their May is not delivered
    kommun = f17["kommun"].astype(object).to_numpy().copy()
    kommun[: 20 * 12] = "0180"
    f17["kommun"] = pd.array(kommun, dtype="str")
    keep = ~((np.arange(len(f17)) < 20 * 12) & (f17["manad"] == 5).to_numpy())
    shift = np.cumsum(~keep)  # rows after a dropped one move up
    f17 = f17[keep].reset_index(drop=True)
    truth = [
        t if t["year"] != 2017 else {**t, "row": t["row"] - int(shift[t["row"]])} for t in truth
    ]
    truth.append({"year": 2017, "row": None, "column": "manad", "kind": "missing_month"})
    # a duplicated row, appended at the end of 2017
    f17 = pd.concat([f17, f17.iloc[[50]]], ignore_index=True)
    put(len(f17) - 1, "duplicate_row", "personnummer", 2017)
    return {2016: f16, 2017: f17}, pd.DataFrame(truth)


@pytest.fixture(scope="module")
def clean_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("clean")
    write_dataset(_frames(), root / "data", REG)
    report = run_quality(REG.name, root / "data", root / "out")
    return report, root


@pytest.fixture(scope="module")
def faulty_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("faulty")
    frames, truth = _inject(_frames())
    write_dataset(frames, root / "data", REG)
    with pytest.raises(QualityFailure) as caught:
        run_quality(REG.name, root / "data", root / "out")
    return caught.value, truth, frames, root


# --- suites built from the catalogue -------------------------------------------------


def _by_check(suite):
    out: dict[tuple[str, str | None], list] = {}
    for e in suite.expectations:
        out.setdefault((e.meta["check"], e.meta["variable"]), []).append(e)
    return out


def test_value_sets_follow_the_catalogue_year_by_year():
    cols = REG.names
    for year in (2016, 2017):
        suite = _by_check(build_suite(REG, year, cols))
        (exp,) = suite[("value_set", "forsorjningshinder")]
        assert set(exp.value_set) == {c.code for c in REG.codes_in("forsorjningshinder", year)}
        assert exp.meta["critical"] is True
    s16 = set(
        _by_check(build_suite(REG, 2016, cols))[("value_set", "forsorjningshinder")][0].value_set
    )
    s17 = set(
        _by_check(build_suite(REG, 2017, cols))[("value_set", "forsorjningshinder")][0].value_set
    )
    assert s16.isdisjoint(s17)  # the 2017 revision replaced every code


def test_variables_outside_their_years_must_be_empty_and_absent_ones_are_required():
    suite = _by_check(build_suite(REG, 2017, REG.names))
    # flykting ends in 2016: present in the data it must be empty in 2017
    assert ("not_in_year", "flykting") in suite
    assert ("value_set", "flykting") not in suite
    cols = [c for c in REG.names if c != "avslutsorsak"]
    suite = _by_check(build_suite(REG, 2017, cols))
    assert suite[("column_present", "avslutsorsak")][0].meta["critical"] is True
    # before 2010 försörjningshinder does not exist: no check asks for it
    early = _by_check(
        build_suite(REG, 2005, [c for c in REG.names if REG.variable(c).exists_in(2005)])
    )
    assert not any(v == "forsorjningshinder" for _, v in early)


def test_applies_to_and_key_and_period_checks():
    suite = _by_check(build_suite(REG, 2016, REG.names))
    assert suite[("not_applicable_empty", "forsorjningshinder")][0].meta["critical"]
    assert suite[("unique_key", "personnummer,statistikar,manad")][0].column_list == list(REG.key)
    assert suite[("period", "statistikar")][0].value_set == [2016]
    rng = suite[("range", "belopp_forsorjningsstod")][0]
    var = REG.variable("belopp_forsorjningsstod")
    assert (rng.min_value, rng.max_value) == (var.min, var.max)
    period = build_period_suite(REG, 2016)
    assert period is not None and period.expectations[0].min_value == 12
    assert build_period_suite(REG, 2001) is None  # one row per person and year before 2002


def test_extract_suites_check_pseudonyms_not_personnummer():
    from mikrodata.pseudonymisation import PSEUDONYM_PATTERN

    suite = _by_check(build_suite(REG, 2016, REG.names, extract=True))
    assert suite[("pseudonym_format", "personnummer")][0].regex == PSEUDONYM_PATTERN
    assert ("identifier_valid", "personnummer") not in suite


# --- end to end -----------------------------------------------------------------------


def test_clean_delivery_fails_nothing(clean_run):
    report, root = clean_run
    assert report.rows == sum(len(f) for f in _frames().values())
    assert report.failures == [], [o.as_dict() for o in report.failures]
    summary = json.loads((root / "out" / "summary.json").read_text())
    assert summary["success"] is True and summary["failed"] == 0
    assert summary["expectations"] == len(report.outcomes) > 50
    assert (root / "out" / "summary.md").read_text().count("FAIL") == 0


def test_every_kind_of_injected_fault_is_flagged_at_its_row(faulty_run):
    error, truth, frames, root = faulty_run
    assert error.exit_code == 15
    summary = json.loads((root / "out" / "summary.json").read_text())
    failed = [o for o in summary["outcomes"] if not o["success"]]
    rows = pq.read_table(root / "out" / "unexpected_rows.parquet").to_pandas()
    rows["year"] = rows["year"].astype(int)
    for fault in truth.itertuples():
        if fault.kind == "missing_month":
            hit = [o for o in failed if o["check"] == "months_complete" and o["year"] == fault.year]
            assert hit and hit[0]["unexpected_count"] == 1, fault
            assert hit[0]["examples"][0]["kommun"] == "0180"
            # each of the 20 households has a one-month hole, listed at its April row
            (holes,) = [
                o
                for o in summary["outcomes"]
                if o["check"] == "month_holes" and o["year"] == fault.year
            ]
            assert holes["unexpected_count"] == 20 and holes["success"]  # a warning only
            assert {e["hole_month"] for e in holes["examples"]} == {5}
            april = rows[(rows["check"] == "month_holes") & (rows["year"] == fault.year)]
            assert len(april) == 20
            # rows count from 1, the file's first data row being row 1
            assert (frames[2017]["manad"].to_numpy()[april["row"].to_numpy() - 1] == 4).all()
            continue
        flagged = rows[
            (rows["year"] == fault.year)
            & (rows["row"] == fault.row + 1)  # truth holds positions; reports count from 1
            & (rows["variable"].str.contains(fault.column))
        ]
        assert not flagged.empty, f"{fault.kind} not flagged"
    kinds_found = {
        "check_digit": ("identifier_valid", True),
        "no_century": ("identifier_form", False),
        "duplicate_row": ("unique_key", True),
        "negative_amount": ("range", True),
        "code_outside_years": ("value_set", True),
    }
    for kind, (check, critical) in kinds_found.items():
        assert any(o["check"] == check and o["critical"] is critical for o in failed), kind


def test_no_raw_identifier_anywhere_in_the_output(faulty_run):
    _, _, frames, root = faulty_run
    raw = set()
    for f in frames.values():
        for v in f["personnummer"].dropna().astype(str):
            raw.add(v.strip())
            raw.add(v.strip()[2:])  # the 10-digit form too
    digits = re.compile(rb"\d{10,12}")
    for path in (root / "out").rglob("*"):
        if not path.is_file() or path.suffix in (".js", ".woff2", ".png", ".gif", ".ico"):
            continue
        data = path.read_bytes()
        for m in digits.finditer(data):
            assert m.group().decode() not in raw, f"raw identifier in {path.relative_to(root)}"
    summary = json.loads((root / "out" / "summary.json").read_text())
    (valid,) = [
        o for o in summary["outcomes"] if o["check"] == "identifier_valid" and o["year"] == 2016
    ]
    assert valid["examples"][0]["value"] == "############"
    assert valid["examples"][0]["reason"] == "check_digit"


def test_data_docs_are_offline_and_complete(faulty_run):
    _, _, _, root = faulty_run
    site = root / "out" / "data_docs"
    assert (site / "index.html").exists()
    assert remote_references(site) == []
    pages = list(site.rglob("*.html"))
    assert len(pages) >= 5
    for page in pages:
        text = page.read_text()
        for ref in re.findall(r'(?:src|href)="([^"#][^"]*)"', text):
            assert (page.parent / ref.split("?")[0]).exists(), (page.name, ref)


def test_batches_agree_with_one_pass_and_keep_duplicates(faulty_run, tmp_path):
    _, _, _, root = faulty_run
    one = json.loads((root / "out" / "summary.json").read_text())
    report = run_quality(
        REG.name,
        root / "data",
        tmp_path / "out",
        batch_rows=500,
        data_docs=False,
        raise_on_failure=False,
    )
    assert max(o.batches for o in report.outcomes) >= 3
    counts = {
        (o["year"], o["check"], o["variable"]): o["unexpected_count"] for o in one["outcomes"]
    }
    batched = {(o.year, o.check, o.variable): o.unexpected_count for o in report.outcomes}
    assert batched == counts


def test_cli_run_exit_codes(run_cli, clean_run, faulty_run, tmp_path):
    _, clean_root = clean_run
    ok = run_cli(
        "quality",
        "run",
        "--register",
        REG.name,
        "--in",
        str(clean_root / "data"),
        "--year",
        "2017",
        "--out",
        str(tmp_path / "a"),
    )
    assert ok.exit_code == 0, ok.output
    assert "0 failed" in ok.output
    _, _, _, root = faulty_run
    bad = run_cli(
        "quality",
        "run",
        "--register",
        REG.name,
        "--in",
        str(root / "data"),
        "--out",
        str(tmp_path / "b"),
    )
    assert bad.exit_code == 15, bad.output
    assert "CRITICAL" in bad.output and "error:" in bad.output
    unknown = run_cli(
        "quality",
        "run",
        "--register",
        "no_such_register",
        "--in",
        str(root / "data"),
        "--out",
        str(tmp_path / "c"),
    )
    assert unknown.exit_code == 12
    no_year = run_cli(
        "quality",
        "run",
        "--register",
        REG.name,
        "--in",
        str(root / "data"),
        "--year",
        "1995",
        "--out",
        str(tmp_path / "e"),
    )
    assert no_year.exit_code == 11 and "no rows" in no_year.output
    empty = tmp_path / "empty"
    empty.mkdir()
    nothing = run_cli(
        "quality", "run", "--register", REG.name, "--in", str(empty), "--out", str(tmp_path / "d")
    )
    assert nothing.exit_code == 11


def test_single_file_with_year_and_wrong_types(tmp_path):
    frame = clean_year(REG, 2016, 20).drop(columns=["statistikar"])
    frame["kommun"] = frame["kommun"].astype(int)  # codes lose their leading zeros
    path = tmp_path / "eb2016.parquet"
    frame.to_parquet(path, index=False)
    report = run_quality(
        REG.name, path, tmp_path / "out", year=2016, data_docs=False, raise_on_failure=False
    )
    failed = {(o.check, o.variable) for o in report.critical_failures}
    assert ("type", "kommun") in failed
    assert report.rows == len(frame)


def test_pseudonymised_extract_passes_and_a_raw_identifier_is_caught(tmp_path):
    from mikrodata.pseudonymisation import KeyStore, pseudonymise_table

    store = KeyStore.create(tmp_path / "keys.store", passphrase="quality-test-passphrase")
    key = store.ensure_project("q-test")
    frame = clean_year(REG, 2016, 40)
    result = pseudonymise_table(frame, key, {"personnummer": "person", "hushallsid": "household"})
    assert result.rows_rejected == 0
    extract = result.table.to_pandas()
    write_dataset({2016: extract}, tmp_path / "extract", REG)
    report = run_quality(
        REG.name, tmp_path / "extract", tmp_path / "out", extract=True, data_docs=False
    )
    assert report.failures == [], [o.as_dict() for o in report.failures]
    assert {o.check for o in report.outcomes} >= {"pseudonym_format"}
    # a raw personnummer left in an extract fails the pseudonym check, masked
    leaked = extract.copy()
    values = leaked["personnummer"].astype(object).to_numpy().copy()
    values[7] = frame["personnummer"].iloc[7]
    leaked["personnummer"] = pd.array(values, dtype="str")
    write_dataset({2016: leaked}, tmp_path / "leaked", REG)
    with pytest.raises(QualityFailure):
        run_quality(REG.name, tmp_path / "leaked", tmp_path / "out2", extract=True)
    summary = (tmp_path / "out2" / "summary.json").read_text()
    assert '"row": 8' in summary  # the eighth row of the file: rows count from 1
    raw = frame["personnummer"].iloc[7].encode()
    for path in (tmp_path / "out2").rglob("*"):
        if path.is_file():
            assert raw not in path.read_bytes(), path


def test_extract_suites_do_not_ask_for_unapproved_variables():
    cols = ["personnummer", "statistikar", "manad", "kommun", "belopp_forsorjningsstod"]
    suite = _by_check(build_suite(REG, 2016, cols, extract=True))
    assert not any(check == "column_present" for check, _ in suite)
    assert ("pseudonym_format", "personnummer") in suite
    delivery = _by_check(build_suite(REG, 2016, cols))
    assert ("column_present", "forsorjningshinder") in delivery


def test_unreadable_parquet_is_bad_input(run_cli, tmp_path):
    bad = tmp_path / "data" / REG.name / "statistikar=2016"
    bad.mkdir(parents=True)
    (bad / "part-0.parquet").write_bytes(b"not a parquet file")
    result = run_cli(
        "quality",
        "run",
        "--register",
        REG.name,
        "--in",
        str(tmp_path / "data"),
        "--out",
        str(tmp_path / "out"),
    )
    assert result.exit_code == 11, result.output
    assert "cannot read the Parquet data" in result.output
    assert not (tmp_path / "out").exists()


def test_gx_context_sends_nothing(tmp_path):
    import os

    from mikrodata.quality.gx_context import open_context

    context = open_context(tmp_path)
    assert os.environ["GX_ANALYTICS_ENABLED"] == "False"
    assert context.variables.analytics_enabled is False
    yml = (tmp_path / "gx" / "great_expectations.yml").read_text()
    assert "analytics_enabled: false" in yml and "show_how_to_buttons: false" in yml
