"""Small clean deliveries built from the catalogue, for tests and benchmarks.

Not a realistic synthetic register (that is :func:`generate`): just rows that
satisfy every suite for the year, from the catalogue alone, fast enough for ten
million rows. Identifiers are synthetic personnummer with a correct check digit.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from mikrodata.quality.catalogue import Register
from mikrodata.quality.rules import HOUSEHOLD_COMPOSITION

from .identifiers import random_personnummer

__all__ = ["clean_year", "write_dataset"]


def clean_year(reg: Register, year: int, persons: int, seed: int = 0) -> pd.DataFrame:
    """A clean delivery of ``reg`` for ``year``: ``persons`` people, one row per month
    when the register has months that year, with every variable of the year."""
    rng = np.random.default_rng(seed + year)
    month_var = reg.period[1] if len(reg.period) > 1 else None
    months = (
        np.arange(int(reg.variable(month_var).min), int(reg.variable(month_var).max) + 1)
        if month_var and reg.variable(month_var).exists_in(year)
        else None
    )
    reps = len(months) if months is not None else 1
    n = persons * reps
    person = np.repeat(np.arange(persons), reps)
    cols: dict[str, object] = {}
    for var in reg.variables_in(year):
        name = var.name
        if name == reg.period[0]:
            cols[name] = np.full(n, year, dtype=np.int64)
        elif name == month_var:
            cols[name] = np.tile(months, persons).astype(np.int64)
        elif var.is_direct_identifier and var.identifier_domain == "person":
            cols[name] = random_personnummer(persons, rng, born=(1940, 1999))[person]
        elif var.is_direct_identifier:
            cols[name] = ("H" + pd.Series(person).astype(str).str.zfill(9)).to_numpy(dtype=object)
        elif var.codes is not None:
            codes = np.array([c.code for c in var.codes_in(year)], dtype=object)
            cols[name] = codes[rng.integers(0, len(codes), size=persons)][person]
        elif var.type in ("integer", "decimal"):
            lo = var.min if var.min is not None else 0
            hi = var.max if var.max is not None else lo + 1000
            if var.type == "integer":
                cols[name] = rng.integers(int(lo), int(min(hi, lo + 3)) + 1, size=n)
            else:
                cols[name] = np.round(rng.uniform(lo, min(hi, lo + 20_000), size=n), 0)
        else:
            cols[name] = np.array([f"S{i % 7}" for i in range(7)], dtype=object)[
                rng.integers(0, 7, size=n)
            ]
    frame = pd.DataFrame(cols)
    if {"hushallstyp", "antal_vuxna", "antal_barn"} <= set(frame.columns):
        typ = frame["hushallstyp"].to_numpy(dtype=object)
        adults = frame["antal_vuxna"].to_numpy().copy()
        children = frame["antal_barn"].to_numpy().copy()
        for code, (want_adults, want_children) in HOUSEHOLD_COMPOSITION.items():
            rows = typ == code
            if want_adults is not None:
                adults[rows] = want_adults
            if want_children is True:
                children[rows] = np.maximum(children[rows], 1)
            elif want_children is False:
                children[rows] = 0
        frame["antal_vuxna"] = adults
        frame["antal_barn"] = children
    for var in reg.variables_in(year):
        if var.applies_to is not None and var.name in frame and var.applies_to[0] in frame:
            cond_var, cond_codes = var.applies_to
            off = ~frame[cond_var].isin(list(cond_codes)).to_numpy()
            values = frame[var.name].astype(object).to_numpy().copy()
            values[off] = None
            frame[var.name] = values
    for var in reg.variables_in(year):
        if var.type in ("string", "code") and var.name in frame:
            frame[var.name] = frame[var.name].astype("str")
    return frame


def write_dataset(frames: dict[int, pd.DataFrame], root: Path, reg: Register) -> Path:
    """Write one frame per year as ``root/<register>/<year column>=YYYY/part-0.parquet``
    (the year column lives in the directory name, as ``mikrodata synth`` writes it)."""
    year_col = reg.period[0]
    for year, frame in frames.items():
        folder = Path(root) / reg.name / f"{year_col}={year}"
        folder.mkdir(parents=True, exist_ok=True)
        table = pa.Table.from_pandas(
            frame.drop(columns=[year_col], errors="ignore"), preserve_index=False
        )
        pq.write_table(table, folder / "part-0.parquet")
    return Path(root) / reg.name
