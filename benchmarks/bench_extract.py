"""Benchmark: building a project extract, against its I/O floor.

Not a test. Generates synthetic registers with ``mikrodata synth`` (``--persons``,
years 2012-2020) unless ``--registers DIR`` points at existing ones, writes and approves
the example request, creates a key store, then times, each in its own subprocess so its
peak memory (ru_maxrss) is its own:

(a) I/O floor: DuckDB reads the approved years and columns of ekonomiskt_bistand,
    sorts them by (personnummer, statistikar, manad) and writes one Parquet file - the
    same reading, sorting and writing the build does, without population, derived
    variables, pseudonyms, rejects or manifest;
(b) mikrodata: ``build_extract`` without the delivery checks (gate, population, derived
    variables, pseudonymisation, collision check, sort, manifest, audit event): the goal
    is within 2x of (a);
(c) the same with the delivery checks (the quality suites on the approved years), for
    what a first build costs.

(a) and (b) run ``--repeat`` times (default 3), interleaved; the median run is reported
(peak memory: the largest). The benchmark plays the steward and the principal
investigator, so it declares their names (``MIKRODATA_DECLARED_IDENTITY=1``, as the tests
and the demo do).

Run: ``.venv/bin/python benchmarks/bench_extract.py [--persons 1000000]``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

STAGE = r"""
import json, resource, sys, time
from pathlib import Path
sys.path.insert(0, sys.argv[1])
stage, work, regs = sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4])
from mikrodata.access_requests import AuditLog, load_request
from mikrodata.toolkit.extract import build_extract, register_spec
from mikrodata.toolkit.extract.source import connect, quote, source_relation
from tests.access_requests.support import PASSPHRASE
import mikrodata.quality.suites  # imported by the delivery-check hook; keep it out of the timing
request = work / "P2026-001.yaml"
start = time.perf_counter()
if stage == "floor":
    spec = register_spec(load_request(request), "ekonomiskt_bistand")
    con = connect(work)
    # the delivered columns (personnummer, not its pseudonym lopnr), sorted as the build
    # sorts, by the person and the period
    cols = ", ".join(quote(c.source or c.name) for c in spec.columns if c.role != "derived")
    order = ", ".join(quote(spec.person if c == spec.person_column else c) for c in spec.sort_order)
    years = ", ".join(map(str, spec.years))
    src = source_relation(regs, "ekonomiskt_bistand")
    con.execute(
        f"COPY (SELECT {cols} FROM {src} WHERE statistikar IN ({years}) ORDER BY {order}) "
        f"TO '{work}/floor.parquet' (FORMAT parquet, COMPRESSION zstd)"
    )
    con.close()
    rows = None
else:
    import shutil
    shutil.rmtree(work / "extract", ignore_errors=True)
    result = build_extract(request, regs, work / "extract", keystore=work / "keystore",
                           passphrase=PASSPHRASE,
                           rejects=work / "rejects", user="steward",
                           audit=AuditLog(work / "audit.jsonl"),
                           delivery_checks=stage == "checked")
    rows = result.manifest["registers"]["ekonomiskt_bistand"]["rows_out"]
print(json.dumps({"seconds": time.perf_counter() - start, "rows": rows,
                  "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def _prepare(work: Path) -> None:
    from mikrodata.access_requests import AuditLog
    from tests.access_requests.support import make_keystore, new_approved_request, steward_store

    # The steward's key store signs the approval and is trusted in the benchmark's home.
    os.environ["MIKRODATA_HOME"] = str(work / "home")
    store = steward_store(make_keystore(work / "keystore"))
    new_approved_request(work, AuditLog(work / "audit.jsonl"), store=store)


def _stage(name: str, work: Path, regs: Path) -> dict:
    # A script file, not ``python -c``: pyspark (imported by Great Expectations when it is
    # installed) exits a process whose main module has no file, taking it for a doctest.
    script = work / "stage.py"
    script.write_text(STAGE, encoding="utf-8")
    out = subprocess.run(
        [sys.executable, str(script), str(ROOT), name, str(work), str(regs)],
        capture_output=True,
        text=True,
    )
    if out.returncode != 0:
        raise SystemExit(f"stage {name} failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=1_000_000)
    parser.add_argument("--registers", type=Path, help="Existing synthetic registers.")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-checked", action="store_true", help="Skip (c).")
    args = parser.parse_args()
    os.environ["MIKRODATA_DECLARED_IDENTITY"] = "1"  # the steward and the PI are declared
    os.environ["MIKRODATA_PROGRESS"] = "0"
    with tempfile.TemporaryDirectory(prefix="bench-extract-") as tmp:
        work = Path(tmp)
        regs = args.registers
        if regs is None:
            regs = work / "synth"
            start = time.perf_counter()
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "mikrodata.toolkit.cli",
                    "synth",
                    "--persons",
                    str(args.persons),
                    "--years",
                    "2012-2020",
                    "--seed",
                    "3",
                    "--out",
                    str(regs),
                ],
                check=True,
                capture_output=True,
            )
            print(f"synthetic registers: {time.perf_counter() - start:.1f} s")
        _prepare(work)
        floors, builds = [], []
        for _ in range(args.repeat):
            floors.append(_stage("floor", work, regs))
            builds.append(_stage("build", work, regs))
        checked = None if args.no_checked else _stage("checked", work, regs)
    floor, build = _median(floors), _median(builds)
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")
    print(f"rows in the extract: {build['rows']:,}")
    print(f"(a) I/O floor: {_runs(floors)}, peak {floor['peak_mib']:.0f} MiB")
    print(
        f"(b) build_extract, no delivery checks: {_runs(builds)}, "
        f"peak {build['peak_mib']:.0f} MiB, {build['rows'] / build['seconds']:,.0f} rows/s"
    )
    if checked is not None:
        print(
            f"(c) build_extract with delivery checks: {checked['seconds']:.1f} s, "
            f"peak {checked['peak_mib']:.0f} MiB"
        )
    print(f"ratio (b)/(a): {build['seconds'] / floor['seconds']:.2f} (goal <= 2)")


def _median(runs: list[dict]) -> dict:
    median = dict(sorted(runs, key=lambda r: r["seconds"])[len(runs) // 2])
    median["peak_mib"] = max(r["peak_mib"] for r in runs)
    return median


def _runs(runs: list[dict]) -> str:
    seconds = [r["seconds"] for r in runs]
    every = ", ".join(f"{s:.2f}" for s in seconds)
    return f"{statistics.median(seconds):.2f} s (median of {every})"


if __name__ == "__main__":
    main()
