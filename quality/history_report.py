"""Variable history: what the catalogue documents next to what the data show.

For every variable: the years it has values and, for coded variables, the first and
last year each code appears against the years the catalogue gives it; each year's
distribution of codes; and the breaks between adjacent years:

- ``variable_appears`` / ``variable_vanishes``: values start or stop;
- ``missingness_jump``: item-missing share moves by more than :data:`MISSING_JUMP`;
- ``code_new`` / ``code_vanished``: a code is used this year and not last year, or the
  other way round (by at least :data:`MIN_CODE_ROWS` rows and :data:`MIN_CODE_SHARE`);
- ``code_undocumented``: a code the catalogue does not list as valid that year;
- ``distribution_shift``: total variation distance between the code distributions of
  adjacent years above :data:`TV_THRESHOLD` plus a sampling allowance
  ``3 * sqrt(codes / rows)`` (which vanishes on a full register but keeps small samples
  from flagging noise).

A break is **documented** when ``reg.history()`` has an event for that variable (and
code, for code breaks) in that year: an introduction, a retirement, a code added or
retired, or a documented change such as the 2017 revision of försörjningshinder.
Otherwise it is flagged for review. A code outside the catalogue is never documented.

Written to ``OUT``: ``history_breaks.csv``, ``history_codes.csv``,
``history_distributions.csv``, ``history.md`` and ``history.html`` (plotly timeline,
plotly.js inline).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from mikrodata.quality.catalogue import ChangeEvent, Register, load
from mikrodata.quality.missingness import missingness_counts, summarise_by_year
from mikrodata.quality.source import Source, open_source
from mikrodata.toolkit.atomic import atomic_directory
from mikrodata.toolkit.progress import progress

# No "produced with plotly" link: the page must not point anywhere outside.
_PLOT_CONFIG = {"displaylogo": False}

__all__ = [
    "MIN_CODE_ROWS",
    "MIN_CODE_SHARE",
    "MISSING_JUMP",
    "TV_THRESHOLD",
    "HistoryReport",
    "compute_history",
    "write_history",
]

MISSING_JUMP = 0.10
# A code appearing or vanishing is a break only when it has at least this many rows and
# this share of the variable's rows in the year it is used: a handful of persons
# starting or stopping a rare code is noise, not a revision.
MIN_CODE_ROWS = 20
MIN_CODE_SHARE = 0.005
TV_THRESHOLD = 0.20
# Code tables of shared code lists (kommun: 290 codes) are checked for validity but not
# compared year to year code by code: municipal mergers are rare and small kommuns come
# and go from a year's recipients by chance.
_SHARED_LIST_BREAKS = ("code_undocumented",)

# break kind -> the catalogue event kinds that can explain it
_EXPLAINED_BY = {
    "variable_appears": ("variable_introduced", "documented"),
    "variable_vanishes": ("variable_retired", "documented"),
    "missingness_jump": ("variable_introduced", "variable_retired", "documented"),
    "code_new": ("code_added", "documented"),
    "code_vanished": ("code_retired", "documented"),
    "distribution_shift": ("code_added", "code_retired", "documented"),
}


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _distributions(reg: Register, src: Source) -> pd.DataFrame:
    """Counts of every (year, variable, code) for the coded variables present."""
    year_col = reg.period[0]
    parts = []
    coded = [v for v in reg.variables if v.codes is not None and v.name in src.columns]
    with progress(f"history {reg.name}", total=len(coded)) as task:
        for var in coded:
            frame = src.query(
                f"SELECT {_ident(year_col)} AS year, CAST({_ident(var.name)} AS VARCHAR) AS code, "
                f"count(*) AS n FROM {{data}} WHERE {_ident(var.name)} IS NOT NULL GROUP BY 1, 2"
            )
            frame["variable"] = var.name
            parts.append(frame)
            task.advance(1)
    if not parts:
        return pd.DataFrame(columns=["year", "variable", "code", "n", "share"])
    dist = pd.concat(parts, ignore_index=True)
    dist["year"] = dist["year"].astype("int64")
    dist["share"] = dist["n"] / dist.groupby(["variable", "year"])["n"].transform("sum")
    return dist[["year", "variable", "code", "n", "share"]].sort_values(
        ["variable", "year", "code"], ignore_index=True
    )


def _events(reg: Register) -> list[ChangeEvent]:
    return list(reg.history())


def _explained(events: list[ChangeEvent], kind: str, year: int, variable: str, code: str | None):
    """The description of the catalogue event that explains a break, or None.

    An event about the same code wins over one about the variable as a whole.
    """
    wanted = _EXPLAINED_BY.get(kind, ())
    candidates = [
        e for e in events if e.year == year and e.variable == variable and e.kind in wanted
    ]
    if code is not None:
        for e in candidates:
            if e.code == code:
                return e.description
    for e in candidates:
        if e.code is None or kind == "distribution_shift":
            return e.description
    return None


def _substantial(dist: pd.DataFrame, year: int, code: str) -> bool:
    hit = dist[(dist["year"] == year) & (dist["code"] == code)]
    return (
        bool(len(hit))
        and hit["n"].iloc[0] >= MIN_CODE_ROWS
        and (hit["share"].iloc[0] >= MIN_CODE_SHARE)
    )


def _code_table(reg: Register, dist: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for var in reg.variables:
        if var.codes is None or var.codes.ref is not None:
            continue
        seen = dist[dist["variable"] == var.name]
        observed = seen.groupby("code")["year"].agg(["min", "max"])
        documented = {c.code: c for c in var.codes.codes}
        for code in sorted(set(documented) | set(observed.index)):
            c = documented.get(code)
            first = max(c.first_year, var.first_year) if c else None
            last_doc = c.last_year if c else None
            if c is not None and var.last_year is not None:
                last_doc = var.last_year if last_doc is None else min(last_doc, var.last_year)
            obs_first = int(observed.loc[code, "min"]) if code in observed.index else None
            obs_last = int(observed.loc[code, "max"]) if code in observed.index else None
            if c is None:
                status = "undocumented"
            elif obs_first is None:
                status = "not observed"
            elif obs_first < first or (last_doc is not None and obs_last > last_doc):
                status = "outside documented years"
            else:
                status = "agrees"
            rows.append(
                {
                    "variable": var.name,
                    "code": code,
                    "label_en": c.label_en if c else None,
                    "documented_first": first,
                    "documented_last": last_doc,
                    "observed_first": obs_first,
                    "observed_last": obs_last,
                    "status": status,
                }
            )
    return pd.DataFrame(rows)


def _breaks(
    reg: Register, dist: pd.DataFrame, miss: pd.DataFrame, years: list[int]
) -> pd.DataFrame:
    events = _events(reg)
    out: list[dict] = []

    def add(kind: str, year: int, variable: str, detail: str, code: str | None = None, value=None):
        explanation = (
            None if kind == "code_undocumented" else _explained(events, kind, year, variable, code)
        )
        out.append(
            {
                "year": year,
                "variable": variable,
                "kind": kind,
                "code": code,
                "value": value,
                "detail": detail,
                "documented": explanation is not None,
                "explanation": explanation or "",
                "status": "documented" if explanation else "review",
            }
        )

    for var in reg.variables:
        m = miss[miss["variable"] == var.name].set_index("year")
        shared = var.codes is not None and var.codes.ref is not None
        d = dist[dist["variable"] == var.name]
        codes_by_year = {y: set(g["code"]) for y, g in d.groupby("year")}
        share_by_year = {y: g.set_index("code")["share"] for y, g in d.groupby("year")}
        counts_by_year = {y: int(g["n"].sum()) for y, g in d.groupby("year")}
        # Codes not valid in their year, per the catalogue.
        if var.codes is not None:
            for year, codes in codes_by_year.items():
                valid = {c.code for c in var.codes_in(int(year))}
                for code in sorted(codes - valid):
                    n = int(d[(d["year"] == year) & (d["code"] == code)]["n"].sum())
                    add(
                        "code_undocumented",
                        int(year),
                        var.name,
                        f"code {code} used in {n:,} rows; the catalogue has no such code in {year}",
                        code,
                        n,
                    )
        for prev, year in zip(years, years[1:], strict=False):
            if year != prev + 1 or prev not in m.index or year not in m.index:
                continue
            has_prev = m.loc[prev, "missing"] < m.loc[prev, "rows"]
            has_now = m.loc[year, "missing"] < m.loc[year, "rows"]
            # A variable that existed but had no row it applies to (e.g. distrikt with no
            # Stockholm household in a small sample) says nothing about appearing.
            applicable = [
                m.loc[y, "rows"] - m.loc[y, "structural"] > 0 or not m.loc[y, "exists"]
                for y in (prev, year)
            ]
            if not all(applicable):
                continue
            if has_now and not has_prev:
                add("variable_appears", year, var.name, f"values from {year}, none in {prev}")
            elif has_prev and not has_now:
                add("variable_vanishes", year, var.name, f"no values in {year}, some in {prev}")
            if has_prev and has_now:
                jump = m.loc[year, "share_item"] - m.loc[prev, "share_item"]
                if abs(jump) > MISSING_JUMP:
                    add(
                        "missingness_jump",
                        year,
                        var.name,
                        f"item missing {m.loc[prev, 'share_item']:.1%} -> "
                        f"{m.loc[year, 'share_item']:.1%}",
                        value=float(jump),
                    )
            if (
                var.codes is None
                or shared
                or prev not in codes_by_year
                or year not in codes_by_year
            ):
                continue
            before, now = codes_by_year[prev], codes_by_year[year]
            for code in sorted(now - before):
                if _substantial(d, year, code):
                    add("code_new", year, var.name, f"code {code} used from {year}", code)
            for code in sorted(before - now):
                if _substantial(d, prev, code):
                    add("code_vanished", year, var.name, f"code {code} last used in {prev}", code)
            p, q = share_by_year[prev], share_by_year[year]
            idx = p.index.union(q.index)
            tv = 0.5 * float(
                np.abs(p.reindex(idx, fill_value=0) - q.reindex(idx, fill_value=0)).sum()
            )
            n_min = min(counts_by_year[prev], counts_by_year[year])
            if tv > TV_THRESHOLD + 3 * np.sqrt(len(idx) / max(n_min, 1)):
                add(
                    "distribution_shift",
                    year,
                    var.name,
                    f"total variation distance {prev}->{year}: {tv:.2f}",
                    value=tv,
                )
    frame = pd.DataFrame(
        out,
        columns=[
            "year",
            "variable",
            "kind",
            "code",
            "value",
            "detail",
            "documented",
            "explanation",
            "status",
        ],
    )
    return frame.sort_values(
        ["year", "variable", "kind", "code"], ignore_index=True, na_position="first"
    )


def _timeline(reg: Register, breaks: pd.DataFrame, years: list[int]) -> go.Figure:
    fig = go.Figure()
    names = [v.name for v in reg.variables]
    last = max(years) if years else (reg.last_year or reg.first_year)
    for var in reg.variables:
        end = var.last_year if var.last_year is not None else last
        fig.add_trace(
            go.Scatter(
                x=[var.first_year, end],
                y=[var.name, var.name],
                mode="lines",
                line={"width": 8, "color": "lightsteelblue"},
                hovertemplate=f"{var.name}: documented {var.first_year}-{var.last_year or ''}"
                "<extra></extra>",
                showlegend=False,
            )
        )
    for status, color, symbol in (("documented", "seagreen", "circle"), ("review", "crimson", "x")):
        sub = breaks[breaks["status"] == status]
        fig.add_trace(
            go.Scatter(
                x=sub["year"],
                y=sub["variable"],
                mode="markers",
                marker={"color": color, "size": 11, "symbol": symbol},
                name=f"break: {status}",
                text=sub["kind"] + ": " + sub["detail"],
                hovertemplate="%{y} %{x}<br>%{text}<extra></extra>",
            )
        )
    doc = [e for e in reg.history() if e.kind == "documented"]
    for e in doc:
        fig.add_vline(x=e.year, line={"color": "gray", "dash": "dot", "width": 1})
    fig.update_yaxes(categoryorder="array", categoryarray=names[::-1])
    fig.update_layout(
        title=f"{reg.label_en} ({reg.name}): variable history, documented vs observed",
        xaxis_title="year",
        height=max(400, 26 * len(names) + 150),
    )
    return fig


@dataclass
class HistoryReport:
    breaks: pd.DataFrame
    codes: pd.DataFrame
    distributions: pd.DataFrame
    figure: go.Figure

    @property
    def flagged(self) -> pd.DataFrame:
        return self.breaks[self.breaks["status"] == "review"]


def compute_history(register: str, data: str | os.PathLike[str]) -> HistoryReport:
    """Compute the variable-history report of ``register`` from ``data``."""
    reg = load(register)
    src = open_source(data, register, reg.period[0])
    try:
        years = src.years()
        dist = _distributions(reg, src)
        miss = summarise_by_year(missingness_counts(reg, src, years))
    finally:
        src.close()
    breaks = _breaks(reg, dist, miss, years)
    return HistoryReport(breaks, _code_table(reg, dist), dist, _timeline(reg, breaks, years))


def _markdown(register: str, report: HistoryReport) -> str:
    b = report.breaks
    lines = [
        f"# Variable history: {register}",
        "",
        f"- breaks found: {len(b)}; documented by the catalogue: {int(b['documented'].sum())}; "
        f"flagged for review: {len(report.flagged)}",
        "- timeline: `history.html`; tables: `history_breaks.csv`, `history_codes.csv`, "
        "`history_distributions.csv`",
        "",
        "## Flagged for review",
        "",
    ]
    if report.flagged.empty:
        lines.append("None.")
    else:
        lines.append("| year | variable | kind | detail |")
        lines.append("|---|---|---|---|")
        for _, r in report.flagged.iterrows():
            lines.append(f"| {r['year']} | {r['variable']} | {r['kind']} | {r['detail']} |")
    lines += ["", "## Documented breaks", ""]
    doc = b[b["documented"]]
    if doc.empty:
        lines.append("None.")
    else:
        lines.append("| year | variable | kind | detail | catalogue |")
        lines.append("|---|---|---|---|---|")
        for _, r in doc.iterrows():
            lines.append(
                f"| {r['year']} | {r['variable']} | {r['kind']} | {r['detail']} "
                f"| {r['explanation']} |"
            )
    return "\n".join(lines) + "\n"


def write_history(
    register: str, data: str | os.PathLike[str], out: str | os.PathLike[str]
) -> HistoryReport:
    """Compute the report and write it to ``out`` (replaced whole)."""
    report = compute_history(register, data)
    with atomic_directory(Path(out)) as tmp:
        report.breaks.to_csv(tmp / "history_breaks.csv", index=False)
        report.codes.to_csv(tmp / "history_codes.csv", index=False)
        report.distributions.to_csv(tmp / "history_distributions.csv", index=False)
        (tmp / "history.md").write_text(_markdown(register, report), encoding="utf-8")
        report.figure.write_html(
            tmp / "history.html", include_plotlyjs=True, full_html=True, config=_PLOT_CONFIG
        )
    return report
