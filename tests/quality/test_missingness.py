"""Missingness: structural (the catalogue says the value cannot be there) versus item
(it existed and was not reported), per variable, year and kommun, on real Parquet."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from mikrodata.quality.catalogue import load
from mikrodata.quality.missingness import write_missingness
from mikrodata.toolkit.synthetic.clean import clean_year, write_dataset

REG = load("ekonomiskt_bistand")


def _null(frame: pd.DataFrame, column: str, rows) -> None:
    values = frame[column].astype(object).to_numpy().copy()
    values[rows] = None
    frame[column] = pd.array(values, dtype=frame[column].dtype)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    root = tmp_path_factory.mktemp("miss")
    frames = {y: clean_year(REG, y, 100, seed=3) for y in (2016, 2017)}
    f = frames[2016]
    _null(f, "kon", np.arange(0, 40))
    _null(f, "fodelseland", np.arange(0, 40))  # missing together with kon
    adults = np.flatnonzero(f["roll"].isin(["1", "2"]).to_numpy())
    _null(f, "forsorjningshinder", adults[adults >= 40][:10])
    # Empty and blank strings are missing too (a delivery writes both for "not reported").
    blanks = f["hushallstyp"].astype(object).to_numpy().copy()
    blanks[50:53], blanks[53:56] = "", "  "
    f["hushallstyp"] = pd.array(blanks, dtype=f["hushallstyp"].dtype)
    write_dataset(frames, root / "data", REG)
    rep = write_missingness(REG.name, root / "data", root / "out")
    return rep, frames, root


def _row(by_year, variable, year):
    hit = by_year[(by_year["variable"] == variable) & (by_year["year"] == year)]
    assert len(hit) == 1
    return hit.iloc[0]


def test_item_and_structural_are_split_by_the_catalogue(report):
    rep, frames, _ = report
    by = rep.by_year
    f16 = frames[2016]
    children = int((~f16["roll"].isin(["1", "2"])).sum())
    fh = _row(by, "forsorjningshinder", 2016)
    assert (fh["structural"], fh["item"]) == (children, 10)  # applies_to: adults only
    assert _row(by, "kon", 2016)["item"] == 40
    assert _row(by, "kon", 2017)["item"] == 0
    # flykting ends in 2016: in 2017 every row is structurally missing (column absent)
    fl = _row(by, "flykting", 2017)
    assert fl["structural"] == fl["rows"] == len(frames[2017]) and fl["item"] == 0
    assert not fl["exists"]
    assert _row(by, "hushallstyp", 2016)["item"] == 6  # 3 empty + 3 blank strings
    assert bool(_row(by, "avslutsorsak", 2017)["nullable"]) is True
    assert (by["missing"] == by["structural"] + by["item"]).all()


def test_per_kommun_adds_up_to_the_year(report):
    rep, _, _ = report
    k = rep.by_kommun
    sums = k.groupby(["variable", "year"])[["rows", "structural", "item"]].sum()
    years = rep.by_year.set_index(["variable", "year"])[["rows", "structural", "item"]]
    pd.testing.assert_frame_equal(sums.sort_index(), years.sort_index(), check_dtype=False)
    assert k["kommun"].nunique() > 10


def test_patterns_of_variables_missing_together(report):
    rep, _, _ = report
    top = rep.patterns.iloc[0]
    assert top["pattern"] == "kon + fodelseland" and top["rows"] == 40
    assert (rep.patterns["pattern"] == "forsorjningshinder").any()


def test_outputs_and_self_contained_heatmap(report, run_cli, tmp_path):
    _, _, root = report
    out = root / "out"
    for name in (
        "missingness_by_year.csv",
        "missingness_by_kommun.parquet",
        "missingness_patterns.csv",
        "missingness.md",
        "missingness.html",
    ):
        assert (out / name).exists(), name
    html = (out / "missingness.html").read_text()
    assert len(html) > 1_000_000  # plotly.js inline
    assert not re.search(r"<script[^>]*\bsrc\s*=", html)  # nothing loaded from elsewhere
    markup = re.sub(r"(?s)<script[^>]*>.*?</script>", "", html)  # plotly.js's own strings
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", markup)
    assert "forsorjningshinder" in html
    result = run_cli(
        "quality",
        "missingness",
        "--register",
        REG.name,
        "--in",
        str(root / "data"),
        "--out",
        str(tmp_path / "m"),
    )
    assert result.exit_code == 0, result.output
    assert "item missing" in result.output


def test_avslutsorsak_outside_the_month_a_spell_ends_is_structural(tmp_path):
    from mikrodata.quality.missingness import compute_missingness
    from mikrodata.toolkit.synthetic import generate

    generate(tmp_path / "d", 1000, (2017, 2018), seed=2)
    data = tmp_path / "d" / "ekonomiskt_bistand"
    by = compute_missingness(REG.name, data).by_year
    for year in (2017, 2018):
        av = _row(by, "avslutsorsak", year)
        # Most rows are not a spell's last month: empty there by design, not item missing.
        assert av["missing"] > 0.5 * av["rows"], dict(av)
        assert av["item"] == 0, dict(av)
    # The same data with one avslutsorsak blanked in a month a spell ends: item missing.
    frame = pd.read_parquet(next(data.rglob("*2017*/*.parquet")))
    ended = frame.index[frame["avslutsorsak"].notna()][0]
    frame.loc[ended, "avslutsorsak"] = " "
    frame.to_parquet(next(data.rglob("*2017*/*.parquet")))
    by = compute_missingness(REG.name, data).by_year
    assert _row(by, "avslutsorsak", 2017)["item"] == 1
