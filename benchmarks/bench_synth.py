"""Benchmark of the synthetic-register generator: rows per second and peak memory.

Each size runs in a fresh Python process (so peak memory is that run's alone, read from
``getrusage`` of the child) and writes to a temporary directory. The result is printed
as a table and, with ``--json``, written to a file. Sizes are people; years default to
1998-2024. The ratio of the two rows/s figures shows whether throughput holds as N grows
(streaming in chunks should keep it roughly flat and memory roughly constant).

    .venv/bin/python benchmarks/bench_synth.py                 # 20,000 and 200,000 people
    .venv/bin/python benchmarks/bench_synth.py --sizes 20000 1000000 10500000
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = """
import json, sys, time
from mikrodata.toolkit.synthetic import generate
out = sys.argv[1]
persons, first, last, seed = (int(x) for x in sys.argv[2:6])
start = time.perf_counter()
result = generate(out, persons, (first, last), seed)
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "registers": result.manifest["registers"]}))
"""


def run(persons: int, years: tuple[int, int], seed: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench_synth_") as tmp:
        out = Path(tmp) / "out"
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        wall = time.perf_counter()
        proc = subprocess.run(
            [
                sys.executable,
                "-c",
                CHILD,
                str(out),
                str(persons),
                str(years[0]),
                str(years[1]),
                str(seed),
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        wall = time.perf_counter() - wall
        peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    info = json.loads(proc.stdout.strip().splitlines()[-1])
    rows = sum(info["registers"].values())
    return {
        "persons": persons,
        "years": list(years),
        "seconds": round(info["seconds"], 2),
        "wall_seconds_incl_start": round(wall, 2),
        "rows": rows,
        "rows_ekonomiskt_bistand": info["registers"]["ekonomiskt_bistand"],
        "rows_per_second": round(rows / info["seconds"]),
        # ru_maxrss of children is the largest child so far; sizes run in increasing order
        "peak_rss_mib": round(max(peak_kib, before) / 1024, 1),
        "output_mib": round(size / 2**20, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[20_000, 200_000])
    parser.add_argument("--years", default="1998-2024")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    first, last = (int(x) for x in args.years.split("-"))
    results = []
    for n in sorted(args.sizes):
        r = run(n, (first, last), args.seed)
        results.append(r)
        print(
            f"{r['persons']:>11,} persons  {r['rows']:>13,} rows  {r['seconds']:>8.1f} s  "
            f"{r['rows_per_second']:>11,} rows/s  peak {r['peak_rss_mib']:>8.1f} MiB  "
            f"output {r['output_mib']:>8.1f} MiB",
            flush=True,
        )
    if len(results) >= 2:
        ratio = results[-1]["rows_per_second"] / results[0]["rows_per_second"]
        print(f"throughput ratio largest/smallest: {ratio:.2f}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
