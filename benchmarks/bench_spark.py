"""Benchmark: the Spark engine in local mode against the one-machine engine, for
pseudonymising a delivery and for spells, in one run on this machine.

    .venv/bin/python benchmarks/bench_spark.py                 # 10 million rows
    .venv/bin/python benchmarks/bench_spark.py --rows 1000000

Pseudonymising (one person column, about 1 in 200 identifiers invalid), Parquet file in
to Parquet out with the reject records:
  (a) one machine: ``pseudonymise_file`` (streaming Arrow batches)
  (b) Spark local[2]: ``spark.read.parquet`` -> ``pseudonymise_spark`` -> Parquet folders
Spells (gap = 1 month) of person-months, from Parquet to the spells as a pandas frame:
  (c) one machine: ``build_spells`` (DuckDB)
  (d) Spark local[2]: ``build_spells(engine="spark")`` on ``spark.read.parquet``

Extract build (``--extract``, the synthetic social-assistance delivery of the extract
tests with ``--rows / 60`` persons: about a third of ``--rows`` rows in the approved
years, 73,780 at ``--rows 200000``) from the delivered Parquet folders to the signed
extract:
  (e) one machine: ``build_extract``
  (f) Spark local[2]: ``build_extract(engine="spark")``
(the delivery checks are off in both: the delivery has deliberate identifier faults).

Each variant runs in its own process on the same files; Spark's start-up (the JVM, the
session) is timed apart and not in (b) or (d). Peak memory: the process's RSS and, for
Spark, the JVM's (the child's ru_maxrss). The results are checked identical (same
pseudonyms and rejects, same spells). The ratios are Spark's time over one machine's.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

HERE = Path(__file__).resolve()
_HOME: dict[str, str] = {}  # the extract build's state (key store trust, audit) per run
sys.path.insert(0, str(HERE.parent))
sys.path.append(str(HERE.parents[1]))  # the extract tests' fixtures of a real request


def _delivery(rows: int, seed: int = 3) -> pa.Table:
    """Person rows with synthetic personnummer (about 4 rows per person), 0.5% broken."""
    from mikrodata.toolkit.synthetic import identifier_strings

    rng = np.random.default_rng(seed)
    persons = max(1, rows // 4)
    dates = np.datetime64("1940-01-01") + rng.integers(0, 60 * 365, persons)
    numbers = rng.integers(0, 999, persons)
    ids = identifier_strings(dates, numbers, np.zeros(persons, dtype=bool)).astype(object)
    pick = rng.integers(0, persons, rows)
    column = ids[pick]
    broken = rng.random(rows) < 0.005
    column[broken] = [s[:-1] + str((int(s[-1]) + 1) % 10) for s in column[broken]]
    return pa.table(
        {
            "personnummer": pa.array(column, pa.string()),
            "statistikar": pa.array(rng.integers(2002, 2024, rows)),
            "belopp": pa.array(rng.integers(0, 20000, rows).astype(np.float64)),
        }
    )


def _spark():
    from pyspark.sql import SparkSession

    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ["PYSPARK_PYTHON"] = sys.executable
    return (
        SparkSession.builder.master("local[2]")
        .appName("mikrodata bench")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.driver.memory", "6g")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "8")
        .getOrCreate()
    )


def _child(variant: str, work: Path) -> dict:
    from mikrodata.pseudonymisation import KeyStore

    key = KeyStore.open(work / "keystore", (work / "pass").read_text()).project_key("B1")
    out: dict = {"variant": variant}
    spark = None
    if variant.endswith("spark"):
        t = time.perf_counter()
        spark = _spark()
        spark.sparkContext.setLogLevel("ERROR")
        spark.range(1).collect()
        out["startup_s"] = time.perf_counter() - t
    t = time.perf_counter()
    if variant == "pseudonymise_duckdb":
        from mikrodata.pseudonymisation import pseudonymise_file

        r = pseudonymise_file(
            work / "delivery.parquet", work / "out_local.parquet", key, ["personnummer"]
        )
        out["rows"] = [r.rows_in, r.rows_out, r.rows_rejected]
    elif variant == "pseudonymise_spark":
        from mikrodata.pseudonymisation import pseudonymise_spark

        frame = spark.read.parquet(str(work / "delivery.parquet"))
        # Reject records name the delivered file, as pseudonymise_file's do.
        r = pseudonymise_spark(frame, key, ["personnummer"], source="delivery.parquet")
        r.table.write.mode("overwrite").parquet(str(work / "out_spark"))
        r.rejected.write.mode("overwrite").parquet(str(work / "rej_spark"))
        out["rows"] = [r.rows_in, r.rows_out, r.rows_rejected]
    elif variant == "spells_duckdb":
        from mikrodata.toolkit.analysis import build_spells

        frame = pq.read_table(work / "months.parquet")
        s = build_spells(frame, gap=1).spells
        s.to_parquet(work / "spells_local.parquet")
        out["rows"] = [len(s)]
    elif variant.startswith("extract_"):
        out["rows"] = _extract(work, spark)
    elif variant == "spells_spark":
        from mikrodata.toolkit.analysis import build_spells

        frame = spark.read.parquet(str(work / "months.parquet"))
        s = build_spells(frame, gap=1, engine="spark", spark=spark).spells
        s.to_parquet(work / "spells_spark.parquet")
        out["rows"] = [len(s)]
    out["seconds"] = time.perf_counter() - t
    out["peak_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if spark is not None:
        # The JVM counts in RUSAGE_CHILDREN only once it has exited and been waited for:
        # it exits when the gateway closes its standard input.
        gateway = spark.sparkContext._gateway
        proc = getattr(gateway, "proc", None)
        spark.stop()
        gateway.shutdown()
        if proc is not None:
            proc.stdin.close()
            proc.wait(timeout=120)
        out["jvm_peak_mib"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return out


def _extract_setup(work: Path, rows: int) -> None:
    """A delivery, the steward's key store and an approved request under ``work``."""
    from mikrodata.access_requests import AuditLog
    from tests.access_requests.support import (
        make_delivery,
        make_keystore,
        new_approved_request,
        steward_store,
    )

    make_delivery(work / "registers", persons=max(100, rows // 60))
    keystore = make_keystore(work / "steward" / "keystore")
    new_approved_request(work, AuditLog(work / "audit.jsonl"), store=steward_store(keystore))


def _extract(work: Path, spark) -> list[int]:
    from mikrodata.access_requests import AuditLog
    from mikrodata.toolkit.extract import build_extract
    from tests.access_requests.support import PASSPHRASE, STEWARD

    name = "extract_spark" if spark is not None else "extract_duckdb"
    engine = {"engine": "spark", "spark": spark} if spark is not None else {}
    r = build_extract(
        work / "P2026-001.yaml",
        work / "registers",
        work / name,
        keystore=work / "steward" / "keystore",
        passphrase=PASSPHRASE,
        rejects=work / f"{name}.rejects",
        user=STEWARD,
        audit=AuditLog(work / "audit.jsonl"),
        delivery_checks=False,
        **engine,
    )
    m = r.manifest["registers"]["ekonomiskt_bistand"]
    return [m["rows_in"], m["rows_out"], m["rows_rejected"]]


def _same_extract(work: Path) -> None:
    from mikrodata.toolkit.extract import read_manifest

    tables = []
    for name in ("extract_duckdb", "extract_spark"):
        entry = read_manifest(work / name).registers["ekonomiskt_bistand"]
        tables.append(pa.concat_tables([pq.read_table(work / name / f) for f in entry.files]))
    local, spark = tables
    assert spark.cast(local.schema).equals(local), "extracts differ"


def _run(variant: str, work: Path) -> dict:
    proc = subprocess.run(
        [sys.executable, str(HERE), "--child", variant, "--work", str(work)],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **_HOME},
    )
    if proc.returncode != 0:
        raise SystemExit(f"{variant} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _check(work: Path) -> None:
    """Same pseudonyms and rejects, same spells, on both engines."""
    import pandas as pd

    local = pq.read_table(work / "out_local.parquet").replace_schema_metadata(None)
    spark = pq.read_table(work / "out_spark").select(local.column_names).cast(local.schema)
    assert local.equals(spark), "pseudonyms differ"
    rej_l = pq.read_table(work / "out_local.rejected.parquet")
    rej_s = pq.read_table(work / "rej_spark").select(rej_l.column_names).cast(rej_l.schema)
    assert rej_l.equals(rej_s), "reject records differ"
    a = pd.read_parquet(work / "spells_local.parquet")
    b = pd.read_parquet(work / "spells_spark.parquet")
    pd.testing.assert_frame_equal(a, b)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--child", default=None)
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument(
        "--extract", action="store_true", help="also time the extract build on both engines"
    )
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_child(args.child, args.work)))
        return
    from bench_spells import generate

    from mikrodata.pseudonymisation import KeyStore

    with tempfile.TemporaryDirectory(prefix="bench_spark_") as tmp:
        work = Path(tmp)
        passphrase = "bench " + secrets.token_hex(8)
        (work / "pass").write_text(passphrase)
        KeyStore.create(work / "keystore", passphrase).rotate("B1")
        pq.write_table(_delivery(args.rows), work / "delivery.parquet")
        pq.write_table(generate(args.rows), work / "months.parquet")
        jobs = ["pseudonymise", "spells"]
        if args.extract:
            _HOME.update(MIKRODATA_HOME=str(work / "home"), MIKRODATA_DECLARED_IDENTITY="1")
            os.environ.update(_HOME)
            _extract_setup(work, args.rows)
            jobs.append("extract")
        print(f"{args.rows:,} rows; {os.cpu_count()} cores (shared machine); Spark local[2]")
        results = {
            f"{job}_{engine}": _run(f"{job}_{engine}", work)
            for job in jobs
            for engine in ("duckdb", "spark")
        }
        _check(work)
        if args.extract:
            _same_extract(work)
        for name, r in results.items():
            jvm = f", JVM peak {r['jvm_peak_mib']:6.0f} MiB" if "jvm_peak_mib" in r else ""
            start = f" (+ {r['startup_s']:.1f} s Spark start-up)" if "startup_s" in r else ""
            print(
                f"{name:22s} {r['seconds']:8.1f} s{start}  peak {r['peak_mib']:6.0f} MiB{jvm}"
                f"  rows {r['rows']}"
            )
        for job in jobs:
            ratio = results[f"{job}_spark"]["seconds"] / results[f"{job}_duckdb"]["seconds"]
            print(f"{job}: Spark local / one machine = {ratio:.1f}x")
        print("outputs identical: pseudonyms, rejects, spells" + (", extract data" * args.extract))


if __name__ == "__main__":
    main()
