"""Benchmark: the delivery reader on a large Latin-1 semicolon CSV, in bounded memory.

Not a test. Writes ``--rows`` rows (default 20 million) of the synthetic social-assistance
register as a Swedish export writes them (Latin-1, ``;``, decimal commas, CRLF): a block
drawn from the synthetic population model, repeated to the size asked for. Then, each in
its own subprocess so its peak memory (ru_maxrss) is its own:

(a) floor: the child process with pyarrow, pandas and the reader imported, reading nothing;
(b) reader: ``open_delivery(...).batches()`` over the whole file, typed by the catalogue
    (every batch converted, every row counted), at ``--rows`` and at a tenth of it;
(c) naive: ``pandas.read_csv`` of the whole file at a tenth of ``--rows`` (the way one reads
    a delivery into memory; its memory grows with the file, so it is not run at full size).

Prints peak memory and rows per second; the ratios are against (a) and (c) of the same
run. Run: ``.venv/bin/python benchmarks/bench_reader.py [--rows 20000000]``; files go to a
temporary directory (``--workdir``) and are removed afterwards.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
REGISTER = "ekonomiskt_bistand"


def make_csv(path: Path, rows: int) -> int:
    """A Latin-1 semicolon CSV of at least ``rows`` rows; returns the row count."""
    import pyarrow.compute as pc
    import pyarrow.dataset as ds

    from mikrodata.toolkit.synthetic.generate import generate

    synth = path.parent / "synthetic"
    generate(synth, persons=20_000, years=(2016, 2016), seed=5)
    table = ds.dataset(synth / REGISTER, format="parquet", partitioning="hive").to_table()
    names = table.column_names
    cols = []
    for name in names:
        col = table.column(name)
        text = pc.cast(col if not hasattr(col.type, "value_type") else col.cast("string"), "string")
        values = ["" if v is None else v for v in text.to_pylist()]
        if name.startswith("belopp"):
            values = [v.replace(".", ",") for v in values]
        cols.append(values)
    body = ("\r\n".join(";".join(r) for r in zip(*cols, strict=True)) + "\r\n").encode("latin-1")
    block_rows = table.num_rows
    written = 0
    with open(path, "wb") as out:
        out.write((";".join(names) + "\r\n").encode("latin-1"))
        while written < rows:
            out.write(body)
            written += block_rows
    shutil.rmtree(synth)
    return written


CHILD = r"""
import json, resource, sys, time
sys.path.insert(0, {root!r})
import pandas as pd, pyarrow as pa
from mikrodata.quality.delivery import open_delivery
mode, path = {mode!r}, {path!r}
t = time.perf_counter()
rows = 0
if mode == "reader":
    d = open_delivery(path, "ekonomiskt_bistand")
    for b in d.batches():
        rows += b.num_rows
    assert d.rows_in == d.rows_out + d.rows_rejected
elif mode == "naive":
    frame = pd.read_csv(path, sep=";", decimal=",", encoding="latin-1",
                        dtype={{"kommun": str, "personnummer": str}})
    rows = len(frame)
seconds = time.perf_counter() - t
print(json.dumps({{"rows": rows, "seconds": seconds,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""


def child(mode: str, path: Path) -> dict:
    code = CHILD.format(root=str(ROOT), mode=mode, path=str(path))
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000_000)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-reader-", dir=args.workdir))
    try:
        small_rows = max(args.rows // 10, 1)
        big, small = work / "big.csv", work / "small.csv"
        n_big = make_csv(big, args.rows)
        n_small = make_csv(small, small_rows)
        print(
            f"files: {n_big:,} rows, {big.stat().st_size / 1e9:.2f} GB; "
            f"{n_small:,} rows, {small.stat().st_size / 1e9:.2f} GB"
        )
        floor = child("floor", small)
        results = {
            "floor": floor,
            "reader_small": child("reader", small),
            "naive_small": child("naive", small),
            "reader_big": child("reader", big),
        }
        for name, r in results.items():
            rate = r["rows"] / r["seconds"] if r["rows"] else 0
            print(
                f"{name:13s} rows {r['rows']:>12,}  {r['seconds']:8.1f} s  "
                f"{rate:>12,.0f} rows/s  peak {r['peak_mb']:8.0f} MB"
            )
        f = floor["peak_mb"]
        rs, rb, ns = (results[k]["peak_mb"] for k in ("reader_small", "reader_big", "naive_small"))
        print(
            f"reader memory above the floor: {rs - f:.0f} MB at {n_small:,} rows, "
            f"{rb - f:.0f} MB at {n_big:,} rows (ratio {((rb - f) / max(rs - f, 1)):.2f} "
            f"for {n_big / n_small:.0f}x the rows)"
        )
        print(
            f"naive pandas.read_csv at {n_small:,} rows: {ns - f:.0f} MB above the floor "
            f"({(ns - f) / max(rs - f, 1):.1f}x the reader's)"
        )
        print(json.dumps({"rows": n_big, "results": results, "time": time.time()}))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
