"""plotly figures a researcher wants, each drawn only from an aggregate table.

Every figure has two functions: ``<name>_table(...)`` makes the aggregate table from the
analysis frames, and ``<name>_figure(table)`` draws the figure from that table alone.
So the disclosure checks (``mikrodata.toolkit.disclosure``) can check exactly what is
plotted: every table carries the distinct units (persons or households) behind every
plotted value, ``n_units``, and the table's ``attrs["unit"]`` names the unit.

The tables and their columns:

* :func:`recipients_table` (from :func:`~.measures.official_counts`): ``statistikar``,
  ``series`` (``households``, ``adults``, ``children``), ``value`` (the count plotted),
  ``n_units`` (= value: the distinct households or persons counted).
* :func:`duration_table` (from spells): ``months`` (spell length; the last bin holds
  every longer spell, ``top_coded``), ``n_spells``, ``n_units`` (distinct units with
  a spell of that length).
* :func:`survival_table` (from :func:`~.survival.spell_durations` or
  ``reentry_durations``): the Kaplan-Meier rows (``kind`` = ``estimate``: ``time``,
  ``survival``, ``ci_lower``, ``ci_upper``, ``n_at_risk``, ``n_events``,
  ``n_censored``, ``n_units`` = distinct units at risk, ``n_units_events``) and the
  numbers at risk under the plot (``kind`` = ``at_risk``: ``time``, ``n_at_risk``,
  ``n_units``), per ``group``.
* :func:`sequence_table` (from :func:`~.panels.sequences`): the most frequent distinct
  sequences, long: ``sequence`` (rank, 1 = most frequent), ``position`` (month),
  ``state``, ``n_units`` (persons with exactly that sequence). Individual sequences
  are never drawn: the index plot shows distinct sequences, each as tall as its count.
* :func:`kommun_table` (from ``official_counts(by="kommun")``): ``kommun``, ``adults``
  (``n_units``, the denominator), ``long_term_adults`` (``n_units_numerator``),
  ``share``.

Figures work offline: :func:`write_html` embeds plotly.js from the installed package
(never a CDN link), and nothing is fetched when a figure is shown.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from mikrodata.toolkit.atomic import write_text_atomic
from mikrodata.toolkit.errors import BadInputError

from .columns import HOUSEHOLD, PERSON, require
from .survival import kaplan_meier, numbers_at_risk

__all__ = [
    "duration_figure",
    "duration_table",
    "kommun_figure",
    "kommun_table",
    "recipients_figure",
    "recipients_table",
    "sequence_figure",
    "sequence_table",
    "survival_figure",
    "survival_table",
    "write_html",
]

STATE_COLOURS = {"-": "#e5e5e5", "A": "#1f77b4"}
PALETTE = ["#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf"]


def _unit_of(frame: pd.DataFrame) -> str:
    for c in (PERSON, HOUSEHOLD):
        if c in frame.columns:
            return c
    raise BadInputError("frame has no column 'lopnr' or 'lopnr_hushall'", "Pass spells()")


def _tag(table: pd.DataFrame, unit: str, figure: str) -> pd.DataFrame:
    table.attrs.update(unit=unit, figure=figure)
    return table


def recipients_table(counts: pd.DataFrame) -> pd.DataFrame:
    """Households, adults and children per year, from ``official_counts``."""
    require(counts.columns, ["statistikar", "households", "adults", "children"], "counts frame")
    rows = []
    for series, unit in (("households", "household"), ("adults", "person"), ("children", "person")):
        part = counts[["statistikar", series]].rename(columns={series: "value"})
        part.insert(1, "series", series)
        part["unit"] = unit
        rows.append(part)
    table = pd.concat(rows, ignore_index=True)
    table["value"] = table["value"].astype("int64")
    table["n_units"] = table["value"]
    return _tag(table, "household/person", "recipients")


def recipients_figure(table: pd.DataFrame) -> go.Figure:
    fig = go.Figure()
    for series, part in table.groupby("series", sort=False):
        fig.add_trace(
            go.Scatter(x=part["statistikar"], y=part["value"], mode="lines+markers", name=series)
        )
    fig.update_layout(
        title="Recipients of social assistance per year",
        xaxis_title="Year",
        yaxis_title="Households / persons",
    )
    return fig


def duration_table(spells: pd.DataFrame, max_months: int = 36) -> pd.DataFrame:
    """Spell lengths in months, the last bin ``max_months`` holding all longer ones."""
    unit = _unit_of(spells)
    require(spells.columns, ["months"], "spells frame")
    months = spells["months"].astype("int64").clip(upper=int(max_months))
    frame = pd.DataFrame({"months": months.to_numpy(), "unit": spells[unit].to_numpy()})
    g = frame.groupby("months")
    table = pd.DataFrame({"n_spells": g.size(), "n_units": g["unit"].nunique()}).reset_index()
    table["top_coded"] = table["months"] == int(max_months)
    return _tag(table[["months", "top_coded", "n_spells", "n_units"]], unit, "duration")


def duration_figure(table: pd.DataFrame) -> go.Figure:
    labels = [
        f"{m}+" if t else str(m) for m, t in zip(table["months"], table["top_coded"], strict=True)
    ]
    fig = go.Figure(go.Bar(x=labels, y=table["n_spells"]))
    fig.update_layout(
        title="Spell duration", xaxis_title="Months", yaxis_title="Spells", xaxis_type="category"
    )
    return fig


def survival_table(durations: pd.DataFrame, by: str | None = None, every: int = 6) -> pd.DataFrame:
    """Kaplan-Meier estimates and numbers at risk every ``every`` months, per group."""
    unit = _unit_of(durations)
    km = kaplan_meier(durations, by=by, unit=unit)
    km = km.rename(columns={"n_units_at_risk": "n_units"})
    km["kind"] = "estimate"
    top = float(durations["duration"].max()) if len(durations) else 0.0
    ticks = np.arange(0, top + every, every)
    risk = numbers_at_risk(durations, ticks, by=by)
    units = []
    for _, part in durations.groupby(by, sort=True) if by else [(None, durations)]:
        longest = np.sort(part.groupby(unit)["duration"].max().to_numpy())
        units.append(len(longest) - np.searchsorted(longest, ticks, side="left"))
    risk["n_units"] = np.concatenate(units).astype(np.int64) if units else []
    risk["kind"] = "at_risk"
    table = pd.concat([km, risk], ignore_index=True)
    if by:
        table = table.rename(columns={by: "group"})
    else:
        table["group"] = "all"
    cols = [
        "kind",
        "group",
        "time",
        "survival",
        "ci_lower",
        "ci_upper",
        "n_at_risk",
        "n_events",
        "n_censored",
        "n_units",
        "n_units_events",
    ]
    return _tag(table[[c for c in cols if c in table.columns]], unit, "survival")


def survival_figure(table: pd.DataFrame, title: str = "Time to exit") -> go.Figure:
    est = table[table["kind"] == "estimate"]
    risk = table[table["kind"] == "at_risk"]
    fig = go.Figure()
    groups = list(dict.fromkeys(table["group"]))
    for gi, group in enumerate(groups):
        part = est[est["group"] == group]
        x = np.r_[0.0, part["time"].to_numpy()]
        y = np.r_[1.0, part["survival"].to_numpy()]
        colour = PALETTE[gi % len(PALETTE)]
        fig.add_trace(
            go.Scatter(
                x=x, y=y, mode="lines", line_shape="hv", name=str(group), line={"color": colour}
            )
        )
        r = risk[risk["group"] == group]
        fig.add_trace(
            go.Scatter(
                x=r["time"],
                y=[-0.08 - 0.06 * gi] * len(r),
                mode="text",
                text=[str(int(n)) for n in r["n_at_risk"]],
                showlegend=False,
                textfont={"color": colour},
                hoverinfo="skip",
            )
        )
    fig.update_layout(
        title=f"{title} (numbers at risk below the axis)",
        xaxis_title="Months",
        yaxis={"title": "Share still in spell", "range": [-0.1 - 0.06 * len(groups), 1.02]},
    )
    return fig


def sequence_table(sequences: pd.DataFrame, top: int = 20) -> pd.DataFrame:
    """The ``top`` most frequent distinct sequences of :func:`~.panels.sequences`."""
    require(sequences.columns, [PERSON], "sequences frame")
    months = [c for c in sequences.columns if c != PERSON]
    key = sequences[months].astype("string").fillna("-").agg("|".join, axis=1)
    counts = key.value_counts()
    counts = counts.sort_index(kind="stable").sort_values(ascending=False, kind="stable")
    counts = counts.head(int(top))
    rows = []
    for rank, (seq, n) in enumerate(counts.items(), start=1):
        for pos, state in zip(months, seq.split("|"), strict=True):
            rows.append((rank, pos, state, int(n)))
    table = pd.DataFrame(rows, columns=["sequence", "position", "state", "n_units"])
    return _tag(table, PERSON, "sequence")


def sequence_figure(table: pd.DataFrame) -> go.Figure:
    sizes = table.drop_duplicates("sequence").set_index("sequence")["n_units"]
    base = sizes.cumsum() - sizes
    positions = list(dict.fromkeys(table["position"]))
    states = list(dict.fromkeys(table["state"]))
    # Each distinct sequence is a horizontal band as tall as its count; a month's bar
    # segment takes the colour of the sequence's state in that month.
    fig = go.Figure()
    for si, state in enumerate(states):
        part = table[table["state"] == state]
        colour = STATE_COLOURS.get(state, PALETTE[si % len(PALETTE)])
        fig.add_trace(
            go.Bar(
                x=part["position"],
                y=part["n_units"],
                base=base.loc[part["sequence"]].to_numpy(),
                name=state,
                marker={"color": colour, "line": {"width": 0}},
            )
        )
    fig.update_layout(
        title="Sequence index plot (distinct sequences, height = persons)",
        barmode="overlay",
        bargap=0,
        xaxis={"categoryorder": "array", "categoryarray": positions},
        yaxis_title="Persons (cumulated over sequences)",
    )
    return fig


def kommun_table(counts_by_kommun: pd.DataFrame) -> pd.DataFrame:
    """Long-term share of adult recipients per municipality."""
    require(counts_by_kommun.columns, ["kommun", "adults", "long_term_adults"], "counts frame")
    keys = ["statistikar", "kommun"] if "statistikar" in counts_by_kommun else ["kommun"]
    table = counts_by_kommun[keys + ["adults", "long_term_adults"]].copy()
    table["share"] = table["long_term_adults"] / table["adults"]
    table["n_units"] = table["adults"].astype("int64")
    table["n_units_numerator"] = table["long_term_adults"].astype("int64")
    return _tag(table.reset_index(drop=True), PERSON, "kommun")


def kommun_figure(table: pd.DataFrame) -> go.Figure:
    t = table.sort_values("share")
    fig = go.Figure(go.Bar(x=t["share"], y=t["kommun"].astype(str), orientation="h"))
    fig.update_layout(
        title="Long-term recipients, share of adult recipients, by municipality",
        xaxis={"title": "Share", "tickformat": ".0%"},
        yaxis={"title": "Kommun", "type": "category"},
        height=max(400, 14 * len(t)),
    )
    return fig


def write_html(fig: go.Figure, path: str | Path) -> Path:
    """Write a figure as one self-contained HTML file: plotly.js is embedded from the
    installed package, no CDN and no MathJax link (the file opens offline)."""
    path = Path(path)
    html = fig.to_html(include_plotlyjs=True, include_mathjax=False, full_html=True)
    write_text_atomic(path, html)
    return path
