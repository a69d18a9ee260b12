"""Spec tests as small text tables, in the manner of ehrQL's: rows in, spells out.

A table is written with ``|`` between columns and a ``-+-`` line under the header::

    lopnr | lopnr_hushall | months
    ------+---------------+------------------------
    p1    | h1            | 2015-01..2015-03, 2015-05

An empty cell is null. In an input table, ``months`` expands to one row per month
(``statistikar``, ``manad``) of its comma-separated ranges. Cells are converted by
column name (:data:`TYPES`); anything else stays text.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

INT = {
    "statistikar",
    "manad",
    "bistandsmanader",
    "spell",
    "months",
    "paid_months",
    "months_to_reentry",
    "row",
    "rows",
    "ar",
}
FLOAT = {"amount", "belopp_forsorjningsstod", "belopp_livsforing_ovrigt"}
BOOL = {"left_censored", "right_censored", "reentered"}
DATE = {"fodelsedatum", "dodsdatum", "utvandringsdatum", "invandringsdatum"}
TYPES = {**{c: "int" for c in INT}, **{c: "float" for c in FLOAT}}


def _cell(name: str, text: str):
    if text == "":
        return None
    if name == "months" and "-" in text:  # an input table's month ranges
        return text
    if name in INT:
        return int(text)
    if name in FLOAT:
        return float(text)
    if name in BOOL:
        return {"T": True, "F": False}[text]
    if name in DATE:
        return dt.date.fromisoformat(text)
    return text


def _months(spec: str) -> list[tuple[int, int]]:
    out = []
    for part in spec.split(","):
        part = part.strip()
        lo, _, hi = part.partition("..")
        a, b = pd.Period(lo, "M"), pd.Period(hi or lo, "M")
        for k in range((b - a).n + 1):
            p = a + k
            out.append((p.year, p.month))
    return out


def table(text: str) -> pd.DataFrame:
    """Parse a text table (see the module docstring) into a DataFrame."""
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    header = [h.strip() for h in lines[0].split("|")]
    assert set(lines[1]) <= set("-+ "), "the second line must be the -+- separator"
    records = []
    for line in lines[2:]:
        cells = [c.strip() for c in line.split("|")]
        assert len(cells) == len(header), line
        row = {h: _cell(h, c) for h, c in zip(header, cells, strict=True)}
        if "months" in row and "statistikar" not in header and isinstance(row["months"], str):
            spec = row.pop("months")
            for year, month in _months(spec):
                records.append({**row, "statistikar": year, "manad": month})
        else:
            records.append(row)
    frame = pd.DataFrame.from_records(records)
    for name in frame.columns:
        if name in INT:
            frame[name] = frame[name].astype("Int64")
        if name in FLOAT:
            frame[name] = frame[name].astype("Float64")
    return frame


def comparable(frame: pd.DataFrame, columns: list[str]) -> list[tuple]:
    """Rows of ``columns`` as plain Python values (periods as text, NA as None)."""
    out = []
    for rec in frame[columns].itertuples(index=False):
        row = []
        for v in rec:
            if v is None or (not isinstance(v, str) and pd.isna(v)):
                row.append(None)
            elif isinstance(v, pd.Period):
                row.append(str(v))
            elif isinstance(v, (np.integer, int)) and not isinstance(v, bool):
                row.append(int(v))
            elif isinstance(v, (np.floating, float)):
                row.append(float(v))
            elif isinstance(v, (np.bool_, bool)):
                row.append(bool(v))
            else:
                row.append(str(v))
        out.append(tuple(row))
    return out
