"""Scoring the suites against the ground truth of `mikrodata synth`: on a synthetic
delivery with faults every kind of injected fault is flagged at its file and row by the
check and severity quality.coverage names, or is listed there as undetectable with the
reason; on the clean delivery of the same seed nothing fails (no critical failure, no
warning, not even an info), for every register."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from mikrodata.quality.catalogue import registers
from mikrodata.quality.run import run_quality

pytestmark = pytest.mark.slow

# 2016-2018: a year before avslutsorsak (holes cannot be told) and two after it.
ARGS = ["--persons", "8000", "--years", "2016-2018", "--seed", "3"]


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    from click.testing import CliRunner

    from mikrodata.toolkit.cli import cli

    root = tmp_path_factory.mktemp("synth")
    runner = CliRunner()
    for name, faults in (("clean", "0"), ("faulty", "0.01")):
        result = runner.invoke(cli, ["synth", *ARGS, "--faults", faults, "--out", str(root / name)])
        assert result.exit_code == 0, result.output
    return root


def _run(root, register, out):
    return run_quality(register, root, out, data_docs=False, raise_on_failure=False)


def _interior(data: pd.DataFrame, column: str, unit: str, month: int) -> bool:
    months = set(data.loc[data[column] == unit, "manad"])
    return month - 1 in months and month + 1 in months


def _missing(root, fault) -> tuple[str, int]:
    """The household (or person) and month a missing_month fault left out; a person is
    named only by rows of the clean file of the same seed."""
    m = re.search(r"(\w+)=([^;]+); manad=(\d+); clean_rows=(\d+)-", fault.detail)
    column, unit, month, clean_row = m.group(1), m.group(2), int(m.group(3)), int(m.group(4))
    if unit == "(person)":
        unit = pd.read_parquet(root / "clean" / fault.file)[column].iloc[clean_row - 1]
    return unit, month


def test_clean_synthetic_deliveries_fail_nothing(synth, tmp_path):
    for register in registers():
        report = _run(synth / "clean", register, tmp_path / register)
        assert report.rows > 0, register
        assert report.failures == [], (register, [o.as_dict() for o in report.failures])


def test_every_kind_of_injected_fault_is_flagged_or_listed_as_undetectable(synth, tmp_path):
    from mikrodata.quality.coverage import DETECTED_BY, UNDETECTABLE
    from mikrodata.toolkit.synthetic.faults import FAULT_KINDS

    assert set(FAULT_KINDS) == set(DETECTED_BY) | set(UNDETECTABLE)
    assert all(len(reason) > 40 for reason in UNDETECTABLE.values())
    truth = pd.read_parquet(synth / "faulty" / "ground_truth" / "faults.parquet")
    kinds_found: dict[str, int] = {}
    for register in registers():
        faults = truth[truth["register"] == register]
        if faults.empty:
            continue
        report = _run(synth / "faulty", register, tmp_path / register)
        assert report.critical_failures, register
        rows = pd.read_parquet(tmp_path / register / "unexpected_rows.parquet")
        for fault in faults.itertuples():
            checks, severity = DETECTED_BY[fault.kind]
            if fault.kind == "missing_month":
                unit, month = _missing(synth, fault)
                data = pd.read_parquet(synth / "faulty" / fault.file)
                column = "hushallsid" if "hushallsid" in data else "personnummer"
                at = rows[rows["file"] == fault.file]
                named = [
                    data[column].iloc[r - 1] == unit and data["manad"].iloc[r - 1] == month - 1
                    for r in at["row"]
                ]
                at = at[named]
                flagged = at[at["check"].isin(checks) & (at["severity"] == severity)]
                listed = at[at["check"] == "month_holes"]
                if _interior(data, column, unit, month):
                    told = "avslutsorsak" in data and data["avslutsorsak"].notna().any()
                    if told and column == "hushallsid":
                        # A spell that went on through the hole: flagged, a warning.
                        assert not flagged.empty, fault
                    else:
                        # Cannot be told from a gap between spells: listed, info.
                        assert not listed.empty, fault
                kinds_found[fault.kind] = kinds_found.get(fault.kind, 0) + int(not flagged.empty)
                continue
            hits = rows[(rows["file"] == fault.file) & (rows["row"] == fault.row)]
            if isinstance(fault.column, str) and fault.column:
                named = hits["variable"].str.split(",")
                hits = hits[[fault.column in v for v in named]]
            hits = hits[hits["check"].isin(checks) & (hits["severity"] == severity)]
            assert not hits.empty, (register, fault.kind, fault.file, fault.row, fault.column)
            kinds_found[fault.kind] = kinds_found.get(fault.kind, 0) + 1
    assert set(DETECTED_BY) == {k for k, n in kinds_found.items() if n > 0}, kinds_found
