"""Each figure is drawn from its aggregate table alone, and every table carries the
distinct units behind each plotted value."""

from __future__ import annotations

import re

import pandas as pd
import plotly.graph_objects as go
import pytest

from mikrodata.toolkit.analysis import (
    build_spells,
    duration_figure,
    duration_table,
    kommun_figure,
    kommun_table,
    official_counts,
    recipients_figure,
    recipients_table,
    sequence_figure,
    sequence_table,
    sequences,
    spell_durations,
    survival_figure,
    survival_table,
    write_html,
)

from .spec import table


@pytest.fixture(scope="module")
def monthly(registers):
    eb = registers["ekonomiskt_bistand"]
    return eb[eb["manad"].notna() & (eb["statistikar"] >= 2010)]


def test_recipients_and_kommun_tables(registers, monthly):
    counts = official_counts(registers["ekonomiskt_bistand"])
    t = recipients_table(counts)
    assert set(t["series"]) == {"households", "adults", "children"}
    assert (t["n_units"] == t["value"]).all()
    assert isinstance(recipients_figure(t), go.Figure)
    by = official_counts(monthly, by="kommun")
    k = kommun_table(by[by["statistikar"] == 2015])
    assert {"kommun", "share", "n_units", "n_units_numerator"} <= set(k.columns)
    assert (k["n_units"] >= k["n_units_numerator"]).all()
    assert isinstance(kommun_figure(k), go.Figure)


def test_duration_table_counts_spells_and_distinct_units():
    eb = table(
        """
        lopnr | months
        ------+-------------------------------------------
        a     | 2015-01, 2015-03, 2015-05..2015-07
        b     | 2015-01
        c     | 2015-01..2015-12
        """
    )
    s = build_spells(eb).spells
    t = duration_table(s, max_months=6)
    assert t.to_dict("list") == {
        "months": [1, 3, 6],
        "top_coded": [False, False, True],
        "n_spells": [3, 1, 1],
        "n_units": [2, 1, 1],
    }
    assert t.attrs["unit"] == "lopnr"
    fig = duration_figure(t)
    assert list(fig.data[0].y) == [3, 1, 1]


def test_survival_table_and_figure(monthly):
    s = build_spells(monthly).spells
    d = spell_durations(s)
    t = survival_table(d, every=6)
    est, risk = t[t["kind"] == "estimate"], t[t["kind"] == "at_risk"]
    assert len(est) and len(risk)
    assert (est["n_units"] <= est["n_at_risk"]).all() and (
        risk["n_units"] <= risk["n_at_risk"]
    ).all()
    assert risk["time"].tolist()[:3] == [0, 6, 12]
    assert risk["n_at_risk"].iloc[0] == len(d)
    fig = survival_figure(t)
    assert len(fig.data) == 2


def test_sequence_table_groups_identical_sequences(monthly):
    seq = sequences(monthly, window=("2015-01", "2015-12"))
    t = sequence_table(seq, top=5)
    assert t["sequence"].max() <= 5
    per = t.drop_duplicates("sequence")["n_units"]
    assert per.is_monotonic_decreasing and per.sum() <= len(seq)
    assert set(t["position"]) == {str(p) for p in pd.period_range("2015-01", "2015-12", freq="M")}
    assert isinstance(sequence_figure(t), go.Figure)


def test_figures_are_written_offline(tmp_path):
    t = recipients_table(
        pd.DataFrame({"statistikar": [2015], "households": [5], "adults": [6], "children": [2]})
    )
    path = write_html(recipients_figure(t), tmp_path / "recipients.html")
    html = path.read_text()
    # No script is loaded from anywhere: plotly.js is inline. (The library's text holds
    # a default map-data address, used only by geographic traces, which we never draw.)
    tags = re.findall(r"<script[^>]*>", html)
    assert tags and not [t for t in tags if "src=" in t]
    assert "plotly.js" in html or "Plotly" in html
    assert len(html) > 1_000_000  # plotly.js itself is embedded
