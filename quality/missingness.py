"""Missingness: per variable, year and kommun, structural versus item missing.

A value is missing when it is null, or for text an empty or blank string. It is
**structurally** missing when the catalogue says it cannot be there: the variable does
not exist that year (column absent or empty), its ``applies_to`` says the row is not one
the variable is reported for (e.g. försörjningshinder for a child), or its
``applies_in: spell_end`` says it is reported only in the month a spell ends
(avslutsorsak). Every other missing value is **item** missing: the variable existed and was not
reported. Variables the catalogue marks ``nullable`` may be empty by design; their item
missing is reported and flagged ``nullable`` so a reader does not take it for
non-response.

DuckDB computes the counts over the whole dataset (no rows in memory). Written to
``OUT``: ``missingness_by_year.csv``, ``missingness_by_kommun.parquet``,
``missingness_patterns.csv`` (which variables are item-missing together),
``missingness.md`` and ``missingness.html`` (plotly heatmaps variable x year,
plotly.js inline: the file is self-contained and loads nothing from the network).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from mikrodata.quality.catalogue import Register, Variable, load
from mikrodata.quality.source import Source, open_source
from mikrodata.toolkit.atomic import atomic_directory
from mikrodata.toolkit.progress import progress

# No "produced with plotly" link: the page must not point anywhere outside.
_PLOT_CONFIG = {"displaylogo": False}

__all__ = [
    "MissingnessReport",
    "compute_missingness",
    "missingness_counts",
    "summarise_by_year",
    "write_missingness",
]

TOP_PATTERNS = 30


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _missing_sql(var: Variable) -> str:
    """SQL true where the variable's value is missing: null, and for text an empty or
    blank string (a delivery writes both for "not reported")."""
    col = _ident(var.name)
    if var.type in ("string", "code"):
        return f"({col} IS NULL OR trim(CAST({col} AS VARCHAR)) = '')"
    return f"({col} IS NULL)"


def _spell_columns(reg: Register, columns: set[str]) -> tuple[str, str, str] | None:
    """(household, year, month) columns that tell where a spell ends, if present."""
    household = next(
        (v.name for v in reg.direct_identifiers() if v.identifier_domain == "household"), None
    )
    if household is None:
        household = next((v.name for v in reg.direct_identifiers()), None)
    if len(reg.period) < 2 or household is None:
        return None
    year, month = reg.period[0], reg.period[1]
    if not {household, year, month} <= columns:
        return None
    return household, year, month


def _applicable_sql(var: Variable, columns: set[str], spell_end: bool = False) -> str | None:
    """SQL that is true on rows the variable applies to (None: all rows).

    ``applies_to`` limits the rows by another variable's codes; ``applies_in:
    spell_end`` to the month a spell ends (the ``_spell_end`` column of
    :func:`_frame`, present when ``spell_end``)."""
    conditions = []
    if var.applies_to is not None and var.applies_to[0] in columns:
        cond_var, codes = var.applies_to
        listed = ", ".join("'" + c.replace("'", "''") + "'" for c in codes)
        conditions.append(f"coalesce(CAST({_ident(cond_var)} AS VARCHAR) IN ({listed}), false)")
    if var.applies_in == "spell_end" and spell_end:
        conditions.append("_spell_end")
    return " AND ".join(conditions) if conditions else None


def _frame(reg: Register, columns: set[str], year: int, last: int) -> tuple[str, bool]:
    """The FROM clause of one year's rows, with ``_spell_end`` (true in a household's
    last month of a spell) when a variable needs it; and whether it has that column.

    A spell ends in month m when the household has no row in month m + 1; December
    looks into the next year's rows. In the last year of the data (``last``) a
    household's final month cannot be told from a spell that goes on: it counts as not
    an end, so an absent value there is never charged as item missing."""
    year_col = _ident(reg.period[0])
    spell = _spell_columns(reg, columns)
    if spell is None or not any(v.applies_in == "spell_end" for v in reg.variables):
        return f"(SELECT * FROM {{data}} WHERE {year_col} = {int(year)})", False
    h, y, m = (_ident(c) for c in spell)
    return (
        f"""(
        WITH d AS (SELECT *, {y} * 12 + {m} AS _p FROM {{data}}
                   WHERE {y} IN ({int(year)}, {int(year) + 1})),
        hm AS (SELECT DISTINCT {h} AS _h, _p FROM d WHERE {h} IS NOT NULL),
        nx AS (SELECT _h, _p, lead(_p) OVER (PARTITION BY _h ORDER BY _p) AS _next FROM hm)
        SELECT d.*, CASE WHEN nx._next IS NULL THEN {str(year < last).upper()}
                         ELSE nx._next <> d._p + 1 END AS _spell_end
        FROM d LEFT JOIN nx ON d.{h} = nx._h AND d._p = nx._p
        WHERE d.{y} = {int(year)}
        )""",
        True,
    )


def missingness_counts(reg: Register, src: Source, years: list[int]) -> pd.DataFrame:
    """One row per year, kommun and catalogue variable: rows, missing, structural, item."""
    columns = set(src.columns)
    by_kommun = "kommun" in columns
    parts = []
    with progress(f"missingness {reg.name}", total=len(years)) as task:
        for year in years:
            frame_sql, spell_end = _frame(reg, columns, year, max(years))
            select = ["count(*) AS n_rows"]
            present = [v for v in reg.variables if v.name in columns]
            for k, var in enumerate(present):
                missing = _missing_sql(var)
                select.append(f"sum(CASE WHEN {missing} THEN 1 ELSE 0 END) AS m{k}")
                applicable = _applicable_sql(var, columns, spell_end)
                if applicable is not None:
                    select.append(
                        f"sum(CASE WHEN {missing} AND NOT ({applicable}) THEN 1 ELSE 0 END) AS s{k}"
                    )
            group = "CAST(kommun AS VARCHAR)" if by_kommun else "'all'"
            frame = src.query(
                f"SELECT {group} AS kommun, {', '.join(select)} FROM {frame_sql} GROUP BY 1"
            )
            for var in reg.variables:
                rows = frame["n_rows"].to_numpy()
                if var.name in columns:
                    k = present.index(var)
                    missing = frame[f"m{k}"].fillna(0).to_numpy()
                    if not var.exists_in(year):
                        structural = missing
                    elif f"s{k}" in frame:
                        structural = frame[f"s{k}"].fillna(0).to_numpy()
                    else:
                        structural = 0 * missing
                else:
                    # An absent column is missing on every row.
                    missing = rows
                    structural = rows if not var.exists_in(year) else 0 * rows
                parts.append(
                    pd.DataFrame(
                        {
                            "year": year,
                            "kommun": frame["kommun"].astype(str).to_numpy(),
                            "variable": var.name,
                            "exists": var.exists_in(year),
                            "nullable": var.nullable,
                            "rows": rows.astype("int64"),
                            "missing": missing.astype("int64"),
                            "structural": structural.astype("int64"),
                        }
                    )
                )
            task.advance(1)
    if not parts:
        return pd.DataFrame(
            columns=[
                "year",
                "kommun",
                "variable",
                "exists",
                "nullable",
                "rows",
                "missing",
                "structural",
                "item",
            ]
        )
    out = pd.concat(parts, ignore_index=True)
    out["item"] = out["missing"] - out["structural"]
    return out


def summarise_by_year(counts: pd.DataFrame) -> pd.DataFrame:
    grouped = (
        counts.groupby(["variable", "year"], sort=False)
        .agg(
            exists=("exists", "first"),
            nullable=("nullable", "first"),
            rows=("rows", "sum"),
            missing=("missing", "sum"),
            structural=("structural", "sum"),
            item=("item", "sum"),
        )
        .reset_index()
    )
    for part in ("missing", "structural", "item"):
        grouped[f"share_{part}"] = (
            grouped[part] / grouped["rows"].where(grouped["rows"] > 0)
        ).fillna(0.0)
    return grouped


def _patterns(reg: Register, src: Source, years: list[int]) -> pd.DataFrame:
    """Rows by the set of variables item-missing together (per year, then overall)."""
    columns = set(src.columns)
    parts = []
    for year in years:
        frame_sql, spell_end = _frame(reg, columns, year, max(years))
        flags = []
        for var in reg.variables_in(year):
            if var.name not in columns:
                continue
            applicable = _applicable_sql(var, columns, spell_end)
            cond = _missing_sql(var) + (f" AND ({applicable})" if applicable else "")
            flags.append(f"CASE WHEN {cond} THEN '{var.name} ' ELSE '' END")
        if not flags:
            continue
        frame = src.query(
            f"SELECT trim({' || '.join(flags)}) AS pattern, count(*) AS rows FROM {frame_sql} "
            "GROUP BY 1"
        )
        frame["year"] = year
        parts.append(frame)
    if not parts:
        return pd.DataFrame(columns=["pattern", "variables", "rows", "share", "years"])
    allp = pd.concat(parts, ignore_index=True)
    total = allp["rows"].sum()
    allp = allp[allp["pattern"] != ""]
    out = (
        allp.groupby("pattern")
        .agg(rows=("rows", "sum"), years=("year", lambda y: f"{min(y)}-{max(y)}"))
        .reset_index()
        .sort_values("rows", ascending=False)
        .head(TOP_PATTERNS)
    )
    out["variables"] = out["pattern"].str.count(" ") + 1
    out["share"] = out["rows"] / total if total else 0.0
    out["pattern"] = out["pattern"].str.replace(" ", " + ")
    return out[["pattern", "variables", "rows", "share", "years"]].reset_index(drop=True)


def _heatmap(reg: Register, by_year: pd.DataFrame) -> go.Figure:
    order = [v.name for v in reg.variables]
    fig = make_subplots(
        rows=1,
        cols=2,
        shared_yaxes=True,
        subplot_titles=("Item missing (share of rows)", "Structural missing (share of rows)"),
        horizontal_spacing=0.04,
    )
    for col, part in ((1, "share_item"), (2, "share_structural")):
        pivot = by_year.pivot(index="variable", columns="year", values=part).reindex(order)
        fig.add_trace(
            go.Heatmap(
                z=pivot.to_numpy(),
                x=[str(c) for c in pivot.columns],
                y=list(pivot.index),
                zmin=0,
                zmax=1,
                colorscale="Viridis",
                showscale=col == 2,
                hovertemplate="%{y} %{x}: %{z:.1%}<extra></extra>",
            ),
            row=1,
            col=col,
        )
    fig.update_yaxes(autorange="reversed")
    fig.update_layout(
        title=f"{reg.label_en} ({reg.name}): missingness by variable and year",
        height=max(400, 24 * len(order) + 150),
    )
    return fig


@dataclass
class MissingnessReport:
    by_year: pd.DataFrame
    by_kommun: pd.DataFrame
    patterns: pd.DataFrame
    figure: go.Figure


def compute_missingness(register: str, data: str | os.PathLike[str]) -> MissingnessReport:
    """Compute the missingness report of ``register`` from ``data``."""
    reg = load(register)
    src = open_source(data, register, reg.period[0])
    try:
        years = src.years()
        counts = missingness_counts(reg, src, years)
        patterns = _patterns(reg, src, years)
    finally:
        src.close()
    by_year = summarise_by_year(counts)
    return MissingnessReport(by_year, counts, patterns, _heatmap(reg, by_year))


def _markdown(register: str, report: MissingnessReport) -> str:
    by = report.by_year
    lines = [
        f"# Missingness: {register}",
        "",
        "Structural: the variable did not exist that year, or applies_to says the row is not "
        "one it is reported for. Item: it existed and was not reported. "
        "Heatmaps: `missingness.html`.",
        "",
        "## Item missing by variable (share of rows, over all years)",
        "",
        "| variable | nullable | rows where it exists | item missing | share |",
        "|---|---|---|---|---|",
    ]
    live = by[by["exists"]]
    agg = live.groupby("variable", sort=False).agg(
        nullable=("nullable", "first"), rows=("rows", "sum"), item=("item", "sum")
    )
    for name, row in agg.iterrows():
        share = row["item"] / row["rows"] if row["rows"] else 0.0
        lines.append(
            f"| {name} | {'yes' if row['nullable'] else 'no'} | {int(row['rows']):,} "
            f"| {int(row['item']):,} | {share:.2%} |"
        )
    lines += ["", "## Variables item-missing together (top patterns)", ""]
    if report.patterns.empty:
        lines.append("None.")
    else:
        lines.append("| variables missing together | rows | share | years |")
        lines.append("|---|---|---|---|")
        for _, p in report.patterns.iterrows():
            lines.append(
                f"| {p['pattern']} | {int(p['rows']):,} | {p['share']:.2%} | {p['years']} |"
            )
    return "\n".join(lines) + "\n"


def write_missingness(
    register: str, data: str | os.PathLike[str], out: str | os.PathLike[str]
) -> MissingnessReport:
    """Compute the report and write it to ``out`` (replaced whole)."""
    report = compute_missingness(register, data)
    with atomic_directory(Path(out)) as tmp:
        report.by_year.to_csv(tmp / "missingness_by_year.csv", index=False)
        report.by_kommun.to_parquet(tmp / "missingness_by_kommun.parquet", index=False)
        report.patterns.to_csv(tmp / "missingness_patterns.csv", index=False)
        (tmp / "missingness.md").write_text(_markdown(register, report), encoding="utf-8")
        report.figure.write_html(
            tmp / "missingness.html", include_plotlyjs=True, full_html=True, config=_PLOT_CONFIG
        )
    return report
