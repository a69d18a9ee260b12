"""Benchmark: secondary suppression plus the exact audit of a kommun x month table of one
year (290 kommuner within 21 län x 12 months, with margins), against τ-ARGUS (the
pytauargus engine, HiGHS) on the same table in the same run.

    .venv/bin/python benchmarks/bench_disclosure.py                 # 290 x 12
    .venv/bin/python benchmarks/bench_disclosure.py --kommuner 60   # smaller, to develop

The table: persons per kommun and month in a small group (``--per-month`` persons in the
country each month, spread by each kommun's population share from the catalogue's
kommun code list), so small kommuner have small cells. Each person is in one kommun and
one month (one row of microdata per person), so every margin adds up.

Printed: the cells, primary cells, cells hidden and the value hidden by each method; the
times of this package's suppression and of its audit, and of τ-ARGUS's modular (MOD)
suppression and its audit, with the ratio; whether each pattern passes the other's
audit; peak memory (tracemalloc, Python allocations). Not a test: run it by hand,
sparingly (two cores are shared).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mikrodata.quality.catalogue import load  # noqa: E402
from mikrodata.toolkit.disclosure import LAN, Rules  # noqa: E402
from mikrodata.toolkit.disclosure.audit import audit  # noqa: E402
from mikrodata.toolkit.disclosure.primary import primary  # noqa: E402
from mikrodata.toolkit.disclosure.structure import build_grid  # noqa: E402
from mikrodata.toolkit.disclosure.suppression import secondary  # noqa: E402


def _microdata(kommuner: int, per_month: int, year: int, seed: int) -> pd.DataFrame:
    codes = load("ekonomiskt_bistand").variable("kommun").codes_in(year)
    codes = codes[:: max(1, len(codes) // kommuner)][:kommuner]
    share = np.array([float(c.extra["befolkningsandel"]) for c in codes])
    share /= share.sum()
    rng = np.random.default_rng(seed)
    counts = rng.poisson(np.outer(share, np.full(12, per_month)))
    kom = np.repeat([c.code for c in codes], 12)
    month = np.tile([f"{m:02d}" for m in range(1, 13)], len(codes))
    n = counts.ravel()
    return pd.DataFrame(
        {
            "lopnr": [f"{i:016x}" for i in range(int(n.sum()))],
            "kommun": np.repeat(kom, n),
            "manad": np.repeat(month, n),
            "one": 1.0,
        }
    )


def ours(frame: pd.DataFrame, rules: Rules):
    grid = build_grid(frame, ["kommun", "manad"], unit="lopnr", hierarchy={"kommun": LAN})
    prim = primary(grid, rules, magnitude=False)
    t0 = time.perf_counter()
    sup = secondary(grid, prim, min_count=rules.min_count, zeros_disclosive=rules.zeros_disclosive)
    t1 = time.perf_counter()
    x = grid.cells["value"].to_numpy(float)
    floor = 0.0 if rules.zeros_disclosive else 1.0
    result = audit(
        grid,
        np.where(sup.suppressed, floor, x),
        np.where(sup.suppressed, np.inf, x),
        sup.suppressed,
        prim,
        min_count=rules.min_count,
        zeros_disclosive=rules.zeros_disclosive,
    )
    t2 = time.perf_counter()
    return grid, prim, sup, result, t1 - t0, t2 - t1


def tau(frame: pd.DataFrame, rules: Rules, method: str, workdir: str):
    import os

    import pytauargus

    os.chdir(workdir)  # the τ-ARGUS engine writes its logs in the working directory
    t0 = time.perf_counter()
    res = pytauargus.protect(
        frame[["kommun", "manad", "one"]],
        ["kommun", "manad"],
        response="one",
        safety_rules=f"FREQ({rules.min_count},{round(100 * rules.upper_protection)})",
        suppress=method,
        hrc={"kommun": "2 2"},
        workdir=workdir,
    )
    t1 = time.perf_counter()
    rows = res.engine.audit(0)
    t2 = time.perf_counter()
    return res.tables[0].dataframe(), rows, t1 - t0, t2 - t1


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kommuner", type=int, default=290)
    ap.add_argument("--per-month", type=int, default=6000)
    ap.add_argument("--year", type=int, default=2020)
    ap.add_argument("--method", default="MOD(1)", help="τ-ARGUS method (MOD(1) or OPT(1))")
    args = ap.parse_args()
    # zeros are published (τ-ARGUS leaves empty cells unprotected): the same rule for both
    rules = Rules.profile("acro").replace(zeros_disclosive=False)
    frame = _microdata(args.kommuner, args.per_month, args.year, seed=7)

    tracemalloc.start()
    grid, prim, sup, result, t_sup, t_audit = ours(frame, rules)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    x = grid.cells["value"].to_numpy(float)
    n_kom = len(grid.dims[0].leaves)
    print(
        f"table: {n_kom} kommuner in {len(grid.dims[0].groups[0])} län x 12 months, "
        f"{len(grid.cells)} cells with margins, {len(frame)} persons, "
        f"{int(prim.mask.sum())} primary cells"
    )
    print(
        f"mikrodata: {int(sup.suppressed.sum())} cells hidden (value {x[sup.suppressed].sum():g}); "
        f"suppression {t_sup:.2f} s ({sup.protection_lps} protection LPs, {sup.check_lps} "
        f"check LPs), audit {t_audit:.2f} s ({result.lp_solves} LPs), audit "
        f"{'passed' if result.passed else 'FAILED'}; peak memory {peak / 2**20:.0f} MiB"
    )
    try:
        import pytauargus  # noqa: F401
    except ImportError:
        print("τ-ARGUS: pytauargus is not installed (pip install pytauargus): no comparison")
        return
    with tempfile.TemporaryDirectory() as tmp:
        table, rows, t_tau, t_tau_audit = tau(frame, rules, args.method, tmp)
    status = table.set_index(["kommun", "manad"])["status"]
    keys = [tuple(k) for k in grid.cells[["kommun", "manad"]].itertuples(index=False, name=None)]
    hidden = np.isin(np.array([status.get(k, "S") for k in keys]), ["U", "M"])
    same_primary = bool(
        (np.array([status.get(k, "S") for k in keys]) == "U").sum() == prim.mask.sum()
    )
    theirs = audit(
        grid,
        np.where(hidden, 0.0, x),  # τ-ARGUS's attacker: hidden cells may be 0
        np.where(hidden, np.inf, x),
        hidden,
        prim,
        min_count=rules.min_count,
        zeros_disclosive=rules.zeros_disclosive,
    )
    cell_ok = not [f for f in theirs.failures if "cell" in f]
    print(
        f"τ-ARGUS {args.method}: {int(hidden.sum())} cells hidden (value {x[hidden].sum():g}); "
        f"suppression {t_tau:.2f} s (includes writing its input files), audit "
        f"{t_tau_audit:.2f} s; its own audit: "
        f"{'safe' if not any(r['unsafe'] for r in rows) else 'UNSAFE cells'}; same primary "
        f"cells: {same_primary}; its pattern under our audit: cells "
        f"{'protected' if cell_ok else 'NOT protected'}, {len(theirs.failures)} failures in all"
    )
    print(
        f"ratio mikrodata / τ-ARGUS: suppression {t_sup / t_tau:.2f}x, audit "
        f"{t_audit / max(t_tau_audit, 1e-9):.2f}x, cells hidden "
        f"{sup.suppressed.sum() / max(hidden.sum(), 1):.2f}x"
    )


if __name__ == "__main__":
    main()
