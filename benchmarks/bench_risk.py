"""Benchmark: re-identification risk measures, against pycanon on a sample it can handle.

Not a test. Makes a synthetic extract of about ``--persons`` people and ten times as many
person-months (ekonomiskt_bistand's shape: lopnr, statistikar, manad, kommun drawn by
the catalogue's population shares, birth_year, sex, hushallstyp, antal_barn, and two
sensitive variables), then times, each in its own subprocess so its peak memory
(ru_maxrss) is its own:

(a) mikrodata on every person-month: k (cross-section per year, classes counted in
    persons), l-diversity (distinct and entropy) of both sensitive variables, and k over
    the whole trajectory (per-person k);
(b) pycanon 1.0.1 (the oracle) on ``--sample`` persons, one row each (their first
    month of the last year): k-anonymity, l-diversity, entropy l-diversity, and
    per-person k as pycanon's k over one column holding each person's trajectory;
(c) mikrodata on the same sample, to check the answers are the same.

Prints time per million rows for (a) and (b), their ratio (goal: mikrodata at least 20x
faster per row), whether (b) and (c) agree, and each stage's peak memory.

Run: ``.venv/bin/python benchmarks/bench_risk.py [--persons 1000000] [--sample 20000]``.
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

QIS = ["kommun", "birth_year", "sex", "hushallstyp", "antal_barn"]
SENSITIVE = ["forsorjningshinder", "belopp_band"]

MAKE = r"""
import sys, duckdb
from mikrodata.quality.catalogue import load
out, persons = sys.argv[1], int(sys.argv[2])
codes = load("ekonomiskt_bistand").variable("kommun").codes.codes
con = duckdb.connect()
con.execute("SET preserve_insertion_order = false")
con.execute("CREATE TABLE k AS SELECT * FROM (VALUES " + ", ".join(
    f"('{c.code}', {float(c.extra['befolkningsandel'])})" for c in codes) + ") t(code, share)")
con.execute("CREATE TABLE kc AS SELECT code, sum(share) OVER (ORDER BY code) AS upto FROM k")
con.execute(f'''
CREATE TABLE p AS SELECT i,
  printf('%016x', hash(i, 'lopnr')) AS lopnr,
  1940 + (hash(i, 'b') % 66)::INT AS birth_year,
  CASE WHEN hash(i, 's') % 2 = 0 THEN '1' ELSE '2' END AS sex,
  (hash(i, 'k') % 1000000) / 1000000.0 AS u,
  ['1','3','4','5','6','7','8'][1 + (hash(i, 'h') % 7)::INT] AS hushallstyp,
  (hash(i, 'c') % 4)::INT AS antal_barn,
  1 + (hash(i, 'n') % 19)::INT AS months,
  (hash(i, 'y') % 5)::INT AS first
FROM range({persons}) r(i)''')
con.execute('''CREATE TABLE pk AS SELECT p.*,
  (SELECT min(code) FROM kc WHERE kc.upto >= p.u) AS kommun FROM p''')
con.execute(f'''
COPY (SELECT lopnr, 2015 + ((first * 12 + m) // 12) % 5 AS statistikar,
        1 + (first * 12 + m) % 12 AS manad,
        kommun, birth_year, sex, hushallstyp, antal_barn,
        ['1','2','3','4','5','6'][1 + (hash(i, m, 'f') % 6)::INT] AS forsorjningshinder,
        ((hash(i, m, 'a') % 20) * 1000)::BIGINT AS belopp_band
      FROM pk, range(months) r(m) ORDER BY lopnr, statistikar, manad)
TO '{out}' (FORMAT parquet)''')
print(con.execute(f"SELECT count(*), count(DISTINCT lopnr) FROM '{out}'").fetchone())
"""

STAGE = r"""
import json, resource, sys, time
import duckdb, pandas as pd
stage, data, sample_n = sys.argv[1], sys.argv[2], int(sys.argv[3])
QIS = __QIS__
SENS = __SENS__
con = duckdb.connect()

def sample_frames():
    rows = con.execute(f'''SELECT * FROM (SELECT *, row_number() OVER (PARTITION BY lopnr
        ORDER BY manad) AS rn FROM '{data}'
        WHERE statistikar = (SELECT max(statistikar) FROM '{data}'))
        WHERE rn = 1 ORDER BY hash(lopnr) LIMIT {sample_n}''').df().drop(columns="rn")
    traj = con.execute(f'''SELECT lopnr, string_agg(DISTINCT statistikar || ':' || kommun || ':' ||
        birth_year || ':' || sex || ':' || hushallstyp || ':' || antal_barn, '|'
        ORDER BY statistikar || ':' || kommun || ':' || birth_year || ':' || sex || ':' ||
        hushallstyp || ':' || antal_barn) AS trajectory
        FROM '{data}' WHERE lopnr IN (SELECT lopnr FROM rows) GROUP BY lopnr''').df()
    return rows, traj

start = time.perf_counter()
if stage == "mikrodata":
    from mikrodata.toolkit.risk import cross_section, risk_table, trajectory
    t = risk_table(con, f"read_parquet('{data}')", "ekonomiskt_bistand",
                   quasi_identifiers=QIS, sensitive=SENS)
    cs = cross_section(t, 5)
    tr = trajectory(con, [t], 5)
    rows = cs.records
    result = {"k": cs.k, "persons_below_k": cs.persons_below_k,
              "l": {x.variable: [x.distinct, x.entropy] for x in cs.l_diversity},
              "trajectory_k": tr.k, "trajectory_below_k": tr.persons_below_k}
    elapsed = time.perf_counter() - start
else:
    rows_df, traj = sample_frames()
    start = time.perf_counter()
    if stage == "oracle":
        from pycanon import anonymity
        import warnings
        warnings.simplefilter("ignore")
        result = {"k": int(anonymity.k_anonymity(rows_df, QIS)),
                  "l": {s: [int(anonymity.l_diversity(rows_df, QIS, [s])),
                            int(anonymity.entropy_l_diversity(rows_df, QIS, [s]))] for s in SENS},
                  "trajectory_k": int(anonymity.k_anonymity(traj, ["trajectory"]))}
    else:
        from mikrodata.toolkit.risk import k_anonymity, l_diversity
        ld = l_diversity(rows_df, QIS, SENS)
        result = {"k": k_anonymity(rows_df, QIS),
                  "l": {s: [ld[s].distinct, int(ld[s].entropy + 1e-9)] for s in SENS},
                  "trajectory_k": k_anonymity(traj, ["trajectory"])}
    rows = len(rows_df)
    elapsed = time.perf_counter() - start
print(json.dumps({"seconds": elapsed, "rows": rows, "result": result,
                  "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
""".replace("__QIS__", repr(QIS)).replace("__SENS__", repr(SENSITIVE))


def _run(code: str, *args: str) -> str:
    python = str(ROOT / ".venv" / "bin" / "python")
    done = subprocess.run([python, "-c", code, *args], capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        sys.exit(done.stderr)
    return done.stdout.strip().splitlines()[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--persons", type=int, default=1_000_000)
    parser.add_argument("--sample", type=int, default=20_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-risk-") as tmp:
        data = str(Path(tmp) / "person_months.parquet")
        t0 = time.perf_counter()
        made = _run(MAKE, data, str(args.persons))
        print(f"synthetic extract (rows, persons): {made} in {time.perf_counter() - t0:.0f} s")
        ours = json.loads(_run(STAGE, "mikrodata", data, str(args.sample)))
        oracle = json.loads(_run(STAGE, "oracle", data, str(args.sample)))
        check = json.loads(_run(STAGE, "check", data, str(args.sample)))
    per_m = lambda r: r["seconds"] / r["rows"] * 1e6  # noqa: E731 - seconds per million rows
    print(
        f"(a) mikrodata, k + l + per-person k on {ours['rows']:,} person-months: "
        f"{ours['seconds']:.1f} s ({per_m(ours):.2f} s per million rows), "
        f"peak {ours['peak_mib']:.0f} MiB; {ours['result']}"
    )
    print(
        f"(b) pycanon on a sample of {oracle['rows']:,} persons: {oracle['seconds']:.1f} s "
        f"({per_m(oracle):.1f} s per million rows), peak {oracle['peak_mib']:.0f} MiB"
    )
    print(f"(c) mikrodata on the same sample: {check['seconds']:.2f} s")
    same = oracle["result"] == check["result"]
    print(f"same answers on the sample (k, l, entropy-l, per-person k): {same}")
    if not same:
        print(f"  pycanon {oracle['result']}\n  mikrodata {check['result']}")
    print(f"per row, mikrodata (a) is {per_m(oracle) / per_m(ours):.0f}x faster than pycanon (b)")


if __name__ == "__main__":
    main()
