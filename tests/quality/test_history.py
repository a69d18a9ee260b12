"""Variable history: documented versus observed, on real Parquet. The 2017 revision of
försörjningshinder is found and explained by the catalogue; an undocumented code
injected into one year is flagged for review."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from mikrodata.quality.catalogue import load
from mikrodata.quality.history_report import write_history
from mikrodata.toolkit.synthetic.clean import clean_year, write_dataset

REG = load("ekonomiskt_bistand")
YEARS = range(2015, 2019)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    root = tmp_path_factory.mktemp("hist")
    frames = {y: clean_year(REG, y, 300, seed=7) for y in YEARS}
    f = frames[2015]
    adults = np.flatnonzero(f["roll"].isin(["1", "2"]).to_numpy())[:24]
    values = f["forsorjningshinder"].astype(object).to_numpy().copy()
    values[adults] = "99"  # no such code in the catalogue, in any year
    f["forsorjningshinder"] = pd.array(values, dtype="str")
    write_dataset(frames, root / "data", REG)
    return write_history(REG.name, root / "data", root / "out"), root


def test_2017_revision_of_forsorjningshinder_is_documented(report):
    rep, _ = report
    b = rep.breaks
    fh = b[(b["variable"] == "forsorjningshinder") & (b["year"] == 2017)]
    shift = fh[fh["kind"] == "distribution_shift"]
    assert len(shift) == 1 and bool(shift["documented"].iloc[0])
    assert "HSLF-FS 2015:30" in shift["explanation"].iloc[0]
    new = set(fh[fh["kind"] == "code_new"]["code"])
    gone = set(fh[fh["kind"] == "code_vanished"]["code"])
    assert new == {c.code for c in REG.codes_in("forsorjningshinder", 2017)}
    assert gone == {c.code for c in REG.codes_in("forsorjningshinder", 2016)}
    assert fh["documented"].all()
    # retirements and introductions of whole variables are documented too
    flykting = b[(b["variable"] == "flykting") & (b["kind"] == "variable_vanishes")]
    assert flykting["year"].tolist() == [2017] and flykting["documented"].all()


def test_undocumented_code_in_one_year_is_flagged(report):
    rep, _ = report
    flagged = rep.flagged
    hit = flagged[(flagged["variable"] == "forsorjningshinder") & (flagged["code"] == "99")]
    kinds = set(zip(hit["year"], hit["kind"], strict=True))
    assert (2015, "code_undocumented") in kinds
    assert (2016, "code_vanished") in kinds
    assert set(flagged["code"].dropna()) == {"99"}  # nothing else is flagged
    codes = rep.codes
    row = codes[(codes["variable"] == "forsorjningshinder") & (codes["code"] == "99")].iloc[0]
    assert row["status"] == "undocumented" and row["observed_first"] == row["observed_last"] == 2015


def test_documented_vs_observed_code_years(report):
    rep, _ = report
    codes = rep.codes[rep.codes["variable"] == "forsorjningshinder"].set_index("code")
    assert codes.loc["11", "documented_last"] == 2016 and codes.loc["11", "observed_last"] == 2016
    assert codes.loc["31", "observed_first"] == 2017 and codes.loc["31", "status"] == "agrees"
    dist = rep.distributions
    shares = dist.groupby(["variable", "year"])["share"].sum()
    assert np.allclose(shares, 1.0)


def test_outputs_timeline_and_cli(report, run_cli, tmp_path):
    _, root = report
    out = root / "out"
    for name in (
        "history_breaks.csv",
        "history_codes.csv",
        "history_distributions.csv",
        "history.md",
        "history.html",
    ):
        assert (out / name).exists(), name
    html = (out / "history.html").read_text()
    assert not re.search(r"<script[^>]*\bsrc\s*=", html)
    md = (out / "history.md").read_text()
    assert "code 99" in md
    result = run_cli(
        "quality",
        "history",
        "--register",
        REG.name,
        "--in",
        str(root / "data"),
        "--out",
        str(tmp_path / "h"),
    )
    assert result.exit_code == 0, result.output
    assert "review 2015 forsorjningshinder code_undocumented" in result.output
