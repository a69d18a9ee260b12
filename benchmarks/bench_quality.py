"""Benchmark: the catalogue's expectation suites through Great Expectations against one
vectorised pandas pass computing the same checks, on the same Parquet data, in one run.

    .venv/bin/python benchmarks/bench_quality.py            # 10 million rows
    .venv/bin/python benchmarks/bench_quality.py --rows 1000000

Prints both timings, the ratio (goal: GX within 3x of the pandas floor) and whether
the unexpected counts of every check agree. Not a test: run it by hand, sparingly (two
cores are shared). The data is one year (default 2017) of a clean synthetic delivery
from the catalogue with a few faults injected so the unexpected-row paths run too.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mikrodata.quality.catalogue import load  # noqa: E402
from mikrodata.quality.expectations import matches_catalogue_type  # noqa: E402
from mikrodata.quality.identifiers import identifier_reasons  # noqa: E402
from mikrodata.quality.rules import RULES  # noqa: E402
from mikrodata.quality.run import run_quality  # noqa: E402
from mikrodata.quality.suites import (  # noqa: E402
    KOMMUN_MIN_ROWS,
    build_holes_suite,
    build_period_suite,
    build_suite,
    spell_end_variable,
    unchanged_household_variables,
)
from mikrodata.toolkit.synthetic.clean import clean_year, write_dataset  # noqa: E402

REGISTER = "ekonomiskt_bistand"


def _make(rows: int, year: int, root: Path) -> int:
    reg = load(REGISTER)
    frame = clean_year(reg, year, max(1, rows // 12), seed=11)
    rng = np.random.default_rng(5)
    bad = rng.choice(len(frame), size=max(10, len(frame) // 100_000), replace=False)
    amounts = frame["belopp_forsorjningsstod"].to_numpy().copy()
    amounts[bad[: len(bad) // 2]] = -1.0
    frame["belopp_forsorjningsstod"] = amounts
    pnr = frame["personnummer"].astype(object).to_numpy().copy()
    for i in bad[len(bad) // 2 :]:
        pnr[i] = pnr[i][:-1] + str((int(pnr[i][-1]) + 1) % 10)
    frame["personnummer"] = pd.array(pnr, dtype="str")
    write_dataset({year: frame}, root, reg)
    return len(frame)


def _baseline(data: Path, year: int) -> dict[tuple[str, str | None], int]:
    """One vectorised pandas pass: the same checks as the suites, unexpected counts."""
    reg = load(REGISTER)
    frame = pq.read_table(data).to_pandas()
    frame["statistikar"] = year
    counts: dict[tuple[str, str | None], int] = {}
    suite = build_suite(reg, year, list(frame.columns))
    for exp in suite.expectations:
        meta, kw = exp.meta, exp.configuration.kwargs
        col = kw.get("column")
        key = (meta["check"], meta["variable"])
        etype = exp.expectation_type
        if etype == "expect_column_to_exist":
            counts[key] = 0 if col in frame else 1
            continue
        if etype == "expect_compound_columns_to_be_unique":
            counts[key] = int(frame.duplicated(subset=kw["column_list"], keep=False).sum())
            continue
        if etype == "expect_rows_to_satisfy_rule":
            counts[key] = int((~RULES[kw["rule"]].check(frame[kw["column_list"]])).sum())
            continue
        s = frame[col]
        rows = np.ones(len(frame), dtype=bool)
        if meta.get("extra_columns"):
            cond_var, codes = reg.variable(col).applies_to
            applicable = frame[cond_var].isin(list(codes)).to_numpy()
            rows = applicable if meta["check"] == "not_null" else ~applicable
        present = s.notna().to_numpy()
        if etype == "expect_column_values_to_not_be_null":
            bad = rows & ~present
        elif etype == "expect_column_values_to_be_null":
            bad = rows & present
        elif etype == "expect_column_values_to_have_catalogue_type":
            # an aggregate check: no unexpected rows, pass or fail for the column
            matches_catalogue_type(s, kw["catalogue_type"])
            bad = np.zeros(1, dtype=bool)
        elif etype == "expect_column_values_to_be_in_set":
            bad = present & ~s.isin(list(kw["value_set"])).to_numpy()
        elif etype == "expect_column_values_to_be_between":
            v = s.to_numpy(dtype=float, na_value=np.nan)
            lo = -np.inf if kw.get("min_value") is None else kw["min_value"]
            hi = np.inf if kw.get("max_value") is None else kw["max_value"]
            bad = present & ((v < lo) | (v > hi))
        elif etype == "expect_column_values_to_match_regex":
            bad = present & ~s.astype(str).str.contains(kw["regex"]).to_numpy()
        elif etype == "expect_column_values_to_be_valid_identifiers":
            reasons = identifier_reasons(s, kw.get("reference_year")).to_numpy()
            ok = reasons == ""
            if not kw.get("normalised"):
                ok |= reasons == "not_normalised"
            bad = present & ~ok
        else:
            raise SystemExit(f"baseline has no rule for {etype}")
        counts[key] = int(bad.sum())
    period = build_period_suite(reg, year)
    if period is not None:
        months = frame.groupby("kommun")["manad"].nunique()
        want = period.expectations[0].configuration.kwargs["min_value"]
        counts[("months_complete", "manad")] = int((months != want).sum())
    holes = build_holes_suite(reg, year)
    if holes is not None:
        hm = frame[["hushallsid", "manad"]].drop_duplicates().sort_values(["hushallsid", "manad"])
        nxt = hm.groupby("hushallsid")["manad"].shift(-1)
        counts[("month_holes", "manad")] = int(((nxt - hm["manad"]) == 2).sum())
        if "avslutsorsak" in frame and spell_end_variable(reg, year):
            # The same classification as Source.month_holes: a hole after a month
            # without avslutsorsak, household variables the same either side.
            same = [c for c in unchanged_household_variables(reg, year) if c in frame]
            text = frame["avslutsorsak"].astype("string").str.strip()
            g = (
                frame.assign(_ended=text.notna() & (text != ""))
                .groupby(["hushallsid", "manad"], sort=True)
                .agg(ended=("_ended", "any"), **{c: (c, "first") for c in same})
                .reset_index()
            )
            nxt_m = g.groupby("hushallsid")["manad"].shift(-1)
            unchanged = np.ones(len(g), dtype=bool)
            for c in same:
                after = g.groupby("hushallsid")[c].shift(-1)
                unchanged &= (g[c].astype(object) == after.astype(object)).to_numpy()
            probable = ((nxt_m - g["manad"]) == 2).to_numpy() & ~g["ended"].to_numpy() & unchanged
            counts[("missing_month", "manad")] = int(probable.sum())
    if period is not None:
        km = frame.groupby(["kommun", "manad"]).size()
        st = km.groupby(level=0).agg(["min", "median", "sum"])
        drop = (
            (st["min"] < 0.5 * st["median"])
            & (st["min"] < st["median"] - 4 * np.sqrt(st["median"]))
            & (st["sum"] >= KOMMUN_MIN_ROWS)
        )
        counts[("kommun_month_drop", "kommun")] = int(drop.sum())
        counts[("kommun_present", "kommun")] = 0  # one year: no year before it
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--year", type=int, default=2017)
    parser.add_argument("--data-docs", action="store_true", help="Also build Data Docs.")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench_quality_"))
    try:
        t0 = time.perf_counter()
        n = _make(args.rows, args.year, work / "data")
        print(f"data: {n:,} rows, 1 year ({args.year}), made in {time.perf_counter() - t0:.1f} s")
        data_file = next((work / "data" / REGISTER).rglob("*.parquet"))

        t0 = time.perf_counter()
        base = _baseline(data_file, args.year)
        t_base = time.perf_counter() - t0
        print(f"pandas, one vectorised pass:  {t_base:7.1f} s  ({len(base)} checks)")

        t0 = time.perf_counter()
        report = run_quality(
            REGISTER,
            work / "data",
            work / "out",
            data_docs=args.data_docs,
            raise_on_failure=False,
        )
        t_gx = time.perf_counter() - t0
        batches = max(o.batches for o in report.outcomes)
        print(
            f"GX suites (quality run):      {t_gx:7.1f} s  ({len(report.outcomes)} expectations, "
            f"{batches} batch(es){', Data Docs' if args.data_docs else ''})"
        )
        print(f"ratio GX / pandas: {t_gx / t_base:.2f}x (goal <= 3x)")
        gx_counts = {(o.check, o.variable): o.unexpected_count for o in report.outcomes}
        differ = {k: (gx_counts.get(k), v) for k, v in base.items() if gx_counts.get(k) != v}
        print("unexpected counts agree" if not differ else f"counts DIFFER: {differ}")
        print(f"failed checks: {sorted({o.check for o in report.failures})}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
