"""Benchmark: what the steward's approval costs against the researcher's check of the same
table: the re-check under the approved rules (primary rules and the exact audit again,
from the table's snapshot) and the differencing against an earlier release of the same
population (persons by kommun: the margin of the new kommun x month table).

    .venv/bin/python benchmarks/bench_release.py --kommuner 40    # small, to develop
    .venv/bin/python benchmarks/bench_release.py                  # 290 x 12

The table is bench_disclosure.py's (persons per kommun and month in a small group, with
län between kommun and the country). Printed: cells, the times of the researcher's check
(grid, suppression and audit), of the re-check and of the differencing check, their
ratios to the check, and peak memory (tracemalloc). Not a test: run it by hand,
sparingly (two cores are shared).
"""

from __future__ import annotations

import argparse
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_disclosure import _microdata  # noqa: E402

from mikrodata.toolkit.disclosure import LAN, Rules, crosstab, frequency  # noqa: E402
from mikrodata.toolkit.disclosure.snapshot import TableSnapshot  # noqa: E402
from mikrodata.toolkit.release.differencing import cross_release_problems  # noqa: E402
from mikrodata.toolkit.release.recheck import recheck_snapshot  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kommuner", type=int, default=290)
    ap.add_argument("--per-month", type=int, default=6000)
    ap.add_argument("--year", type=int, default=2020)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    frame = _microdata(args.kommuner, args.per_month, args.year, args.seed)
    rules = Rules.profile("acro")
    tracemalloc.start()

    t0 = time.perf_counter()
    table = crosstab(frame, "kommun", "manad", rules=rules, hierarchy={"kommun": LAN})
    t_check = time.perf_counter() - t0
    snap = TableSnapshot.from_table("by_kommun_month", table)
    assert snap is not None

    t0 = time.perf_counter()
    problems, result = recheck_snapshot(snap, rules, float(rules.rounding_base))
    t_recheck = time.perf_counter() - t0

    earlier = frequency(frame, "kommun", rules=rules, hierarchy={"kommun": LAN})
    old = TableSnapshot.from_table("by_kommun", earlier)
    assert old is not None
    t0 = time.perf_counter()
    found = cross_release_problems([snap], [("R001", old)], rules)
    t_diff = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    hidden = int(table.cells["state"].isin(["suppressed", "secondary"]).sum())
    print(
        f"table: {args.kommuner} kommuner x 12 months with län and margins, "
        f"{len(table.cells)} cells, {len(frame)} persons, "
        f"{hidden} hidden; status {table.status}"
    )
    print(f"researcher's check (grid, suppression, audit): {t_check:.2f} s")
    print(
        f"re-check under the approved rules: {t_recheck:.2f} s ({result.lp_solves} LPs, "
        f"{len(problems)} problems); ratio to the check {t_recheck / t_check:.2f}x"
    )
    print(
        f"differencing against persons by kommun of the same population: {t_diff:.2f} s "
        f"({len(found)} problems); ratio to the check {t_diff / t_check:.2f}x"
    )
    print(f"peak memory (Python allocations): {peak / 2**20:.0f} MiB")


if __name__ == "__main__":
    main()
