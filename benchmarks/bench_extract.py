"""Benchmark: building a project extract, against its I/O floor.

Not a test. Generates synthetic registers with ``mikrodata synth`` (``--persons``,
years 2012-2020) unless ``--registers DIR`` points at existing ones, writes and approves
the example request, creates a key store, then times, each in its own subprocess so its
peak memory (ru_maxrss) is its own:

(a) I/O floor: DuckDB reads the approved years and columns of ekonomiskt_bistand,
    sorts them by (personnummer, statistikar, manad) and writes one Parquet file - the
    same reading, sorting and writing the build does, without population, derived
    variables, pseudonyms, rejects or manifest;
(b) mikrodata: ``build_extract`` end to end (gate, delivery-check hook, population,
    derived variables, pseudonymisation, collision check, sort, manifest, audit event).

Run: ``.venv/bin/python benchmarks/bench_extract.py [--persons 1000000]``.
"""

from __future__ import annotations

import argparse
import json
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
import mikrodata.quality.suites  # imported by the delivery-check hook; keep it out of the timing
request = work / "P2026-001.yaml"
start = time.perf_counter()
if stage == "floor":
    spec = register_spec(load_request(request), "ekonomiskt_bistand")
    con = connect(work)
    cols = ", ".join(quote(c.name) for c in spec.columns if c.role != "derived")
    order = ", ".join(quote(c) for c in spec.sort_order)
    years = ", ".join(map(str, spec.years))
    src = source_relation(regs, "ekonomiskt_bistand")
    con.execute(
        f"COPY (SELECT {cols} FROM {src} WHERE statistikar IN ({years}) ORDER BY {order}) "
        f"TO '{work}/floor.parquet' (FORMAT parquet, COMPRESSION zstd)"
    )
    con.close()
    rows = None
else:
    result = build_extract(request, regs, work / "extract", keystore=work / "keystore",
                           passphrase="benchmark passphrase, not a secret",
                           rejects=work / "rejects", user="steward",
                           audit=AuditLog(work / "audit.jsonl"))
    rows = result.manifest["registers"]["ekonomiskt_bistand"]["rows_out"]
print(json.dumps({"seconds": time.perf_counter() - start, "rows": rows,
                  "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def _prepare(work: Path) -> None:
    from mikrodata.access_requests import AuditLog
    from mikrodata.pseudonymisation import KeyStore
    from tests.access_requests.support import new_approved_request

    new_approved_request(work, AuditLog(work / "audit.jsonl"))
    KeyStore.create(work / "keystore", "benchmark passphrase, not a secret").ensure_project(
        "P2026-001"
    )


def _stage(name: str, work: Path, regs: Path) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", STAGE, str(ROOT), name, str(work), str(regs)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=1_000_000)
    parser.add_argument("--registers", type=Path, help="Existing synthetic registers.")
    args = parser.parse_args()
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
        floor = _stage("floor", work, regs)
        build = _stage("build", work, regs)
    print(f"rows in the extract: {build['rows']:,}")
    print(f"(a) I/O floor: {floor['seconds']:.1f} s, peak {floor['peak_mib']:.0f} MiB")
    print(
        f"(b) build_extract: {build['seconds']:.1f} s, peak {build['peak_mib']:.0f} MiB, "
        f"{build['rows'] / build['seconds']:,.0f} rows/s"
    )
    print(f"ratio (b)/(a): {build['seconds'] / floor['seconds']:.2f}")


if __name__ == "__main__":
    main()
