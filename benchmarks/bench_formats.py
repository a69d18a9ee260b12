"""Benchmark: the formats out (``extract build --format``), time and peak memory.

Not a test. Draws a dummy extract of the example request (synthetic data only), repeats
its ``ekonomiskt_bistand`` Parquet file to ``--rows`` rows (default 1 million), then, each
in its own subprocess so its peak memory (ru_maxrss) is its own:

(a) floor: the child with pyarrow, pandas and pyreadstat imported, writing nothing;
(b) each format: :func:`~mikrodata.toolkit.extract.formats.write_format` of the file.

Stata, SAS transport and SPSS are written by pyreadstat from a whole DataFrame (their
memory grows with the register); CSV is written a batch at a time. Run:
``.venv/bin/python benchmarks/bench_formats.py [--rows 1000000] [--formats stata,csv]``;
files go to a temporary directory and are removed afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REGISTER = "ekonomiskt_bistand"

CHILD = r"""
import json, resource, sys, time
import pandas, pyarrow, pyreadstat  # the floor: what every writer imports
from mikrodata.toolkit.extract.formats import write_format
fmt, parquet, target, columns = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
start = time.perf_counter()
rows = 0
if fmt != "floor":
    rows = write_format(parquet, "ekonomiskt_bistand", fmt, target, columns=columns).rows
print(json.dumps({"format": fmt, "rows": rows, "seconds": time.perf_counter() - start,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--formats", default="csv,stata,sas-xpt,spss")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-formats-") as work:
        work = Path(work)
        os.environ["MIKRODATA_HOME"] = str(work / "home")
        os.environ["MIKRODATA_DECLARED_IDENTITY"] = "1"
        import pyarrow as pa
        import pyarrow.parquet as pq

        from mikrodata.toolkit.extract import build_dummy_extract

        request = ROOT / "access_requests" / "examples" / "example_project.yaml"
        dummy = build_dummy_extract(request, work / "dummy", persons=5000, user="bench")
        entry = dummy.manifest["registers"][REGISTER]
        block = pq.read_table(dummy.out / entry["files"][0])
        parts = [block] * max(1, -(-args.rows // block.num_rows))
        table = pa.concat_tables(parts).slice(0, args.rows)
        parquet = work / "register.parquet"
        pq.write_table(table, parquet)
        columns = json.dumps(entry["columns"])
        print(f"{table.num_rows:,} rows, {parquet.stat().st_size / 1e6:.0f} MB of Parquet")
        print("| format | rows | seconds | peak memory | file |")
        print("|---|---|---|---|---|")
        for fmt in ("floor", *args.formats.split(",")):
            target = work / f"out.{fmt}"
            done = subprocess.run(
                [sys.executable, "-c", CHILD, fmt, str(parquet), str(target), columns],
                check=True,
                capture_output=True,
                text=True,
            )
            r = json.loads(done.stdout.strip().splitlines()[-1])
            size = f"{target.stat().st_size / 1e6:.0f} MB" if target.exists() else "—"
            print(
                f"| {fmt} | {r['rows']:,} | {r['seconds']:.1f} | {r['peak_mb']:.0f} MB | {size} |"
            )
            if target.exists():
                target.unlink()


if __name__ == "__main__":
    started = time.perf_counter()
    main()
    print(f"total {time.perf_counter() - started:.0f} s")
