"""Benchmark: spells and the overlap join, mikrodata against what a researcher would
write by hand, on synthetic person-months generated here.

    .venv/bin/python benchmarks/bench_spells.py              # 10 million person-months
    .venv/bin/python benchmarks/bench_spells.py --rows 500000

Spells (gap = 1 month):
  (a)  mikrodata.spells on the frame sorted by (lopnr, period), as extracts are written
  (a') mikrodata.spells on the same rows in random order
  (b)  hand-written DuckDB SQL: gaps and islands with LAG and a running SUM (what an
       experienced user writes), on the sorted rows; (b') on the random-order rows
  (c)  pandas: sort, diff, cumsum, groupby
  (d)  a per-person Python loop, on a sample of persons (time scaled to all rows)
Overlap join of the spells with another register's intervals (one interval per 10
spells, same persons):
  (e)  mikrodata.overlaps   (f) hand-written DuckDB SQL   (g) pandas merge and filter
  (h)  a per-person Python loop on a sample

Each variant runs in its own process on the same Parquet input; the time is the work
from the pandas frame in memory to the result as a pandas frame, and the peak memory
(RSS) is the process's. Results are checked identical (same spells, same pairs).
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

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

GAP = 1
HERE = Path(__file__).resolve()


def generate(rows: int, seed: int = 1) -> pa.Table:
    """Person-months with realistic spell lengths (median 2-3 months, a long tail),
    gaps between spells, and the register's columns; sorted by (lopnr, period)."""
    rng = np.random.default_rng(seed)
    n_runs = int(rows / 4.5) + 10  # mean run length about 4.9 months; cut to `rows` below
    length = np.where(
        rng.random(n_runs) < 0.15, rng.geometric(0.05, n_runs), rng.geometric(0.45, n_runs)
    )
    persons = max(1, n_runs // 3)
    person = np.sort(rng.integers(0, persons, n_runs))
    gap = rng.geometric(0.25, n_runs)  # empty months before each run (1 = next month)
    first = np.r_[True, person[1:] != person[:-1]]
    step = length + gap
    offset = np.cumsum(step) - step
    head = np.maximum.accumulate(np.where(first, np.arange(n_runs), 0))
    start = rng.integers(2002 * 12, 2012 * 12, n_runs)[head] + offset - offset[head]
    run = np.repeat(np.arange(n_runs), length)
    k = np.arange(run.size) - np.repeat(np.cumsum(length) - length, length)
    m = start[run] + k
    keep = m < 2025 * 12
    run, m = run[keep], m[keep]
    pid = person[run]
    lopnr = np.char.mod(
        "%016x", (pid.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(1)
    )
    order = np.lexsort((m, lopnr))[:rows]  # exactly `rows` person-months, still sorted
    lopnr, m, run = lopnr[order], m[order], run[order]
    hh = np.char.add("h", np.char.mod("%09d", run // 2))
    return pa.table(
        {
            "lopnr": pa.array(lopnr.astype(object), pa.string()),
            "lopnr_hushall": pa.array(hh.astype(object), pa.string()),
            "statistikar": pa.array(m // 12, pa.int64()),
            "manad": pa.array(m % 12 + 1, pa.int64()),
            "roll": pa.array(np.full(m.size, "1", dtype=object), pa.string()),
            "belopp_forsorjningsstod": pa.array(
                rng.integers(500, 12000, m.size).astype(np.float64)
            ),
        }
    )


HAND_SQL = f"""
WITH pm AS (SELECT lopnr, statistikar * 12 + manad - 1 AS m, belopp_forsorjningsstod AS a FROM eb),
marked AS (
  SELECT *, CASE WHEN m - lag(m) OVER (PARTITION BY lopnr ORDER BY m) - 1 <= {GAP}
                 THEN 0 ELSE 1 END AS new_spell
  FROM pm),
numbered AS (
  SELECT *, sum(new_spell) OVER (PARTITION BY lopnr ORDER BY m ROWS UNBOUNDED PRECEDING) AS spell
  FROM marked)
SELECT lopnr, spell, min(m) AS start_m, max(m) AS end_m, count(*) AS paid_months, sum(a) AS amount
FROM numbered GROUP BY lopnr, spell
"""

OVERLAP_SQL = """
SELECT s.lopnr, s.spell, i.kind, greatest(s.start_m, i.i0) AS o0, least(s.end_m, i.i1) AS o1
FROM s JOIN i ON i.lopnr = s.lopnr AND i.i0 <= s.end_m AND i.i1 >= s.start_m
"""


def _spell_key(lopnr, start, end, paid):
    import pandas as pd

    frame = pd.DataFrame(
        {
            "l": np.asarray(lopnr).astype(str),
            "s": np.asarray(start, dtype=np.int64),
            "e": np.asarray(end, dtype=np.int64),
            "p": np.asarray(paid, dtype=np.int64),
        }
    ).sort_values(["l", "s"], ignore_index=True)
    return frame


def _months(periods) -> np.ndarray:
    import pandas as pd

    return pd.PeriodIndex(periods).asi8 + 1970 * 12


class PeakMemory:
    """Samples this process's resident memory every 5 ms while the work runs: the peak
    above the memory held before the work started (the input frame)."""

    def __init__(self) -> None:
        import threading

        self.page = os.sysconf("SC_PAGE_SIZE")
        self.base = self.peak = self._rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _rss(self) -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * self.page

    def _run(self) -> None:
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, self._rss())

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._rss())


def variant(name: str, path: str, out: str, sample: int) -> dict:
    """Run one variant in this process: returns its timing and result digest."""
    import duckdb
    import pandas as pd

    import mikrodata
    import mikrodata.toolkit.analysis  # noqa: F401  (imported once per session, not timed)

    table = pq.read_table(path)
    if name.endswith("_shuffled"):
        perm = np.random.default_rng(5).permutation(table.num_rows)
        table = table.take(pa.array(perm))
    frame = table.to_pandas(types_mapper=pd.ArrowDtype)
    del table
    result: dict = {"rows": len(frame)}
    memory = PeakMemory().__enter__()
    t0 = time.perf_counter()
    if name.startswith("mikrodata"):
        s = mikrodata.spells(frame, gap=GAP)
        t1 = time.perf_counter()
        key = _spell_key(s["lopnr"], _months(s["start"]), _months(s["end"]), s["paid_months"])
    elif name.startswith("duckdb"):
        con = duckdb.connect()
        con.register("eb", frame)
        s = con.sql(HAND_SQL).to_arrow_table().to_pandas(types_mapper=pd.ArrowDtype)
        t1 = time.perf_counter()
        key = _spell_key(s["lopnr"], s["start_m"], s["end_m"], s["paid_months"])
    elif name == "pandas":
        m = (frame["statistikar"] * 12 + frame["manad"] - 1).astype("int64")
        d = pd.DataFrame({"lopnr": frame["lopnr"], "m": m, "a": frame["belopp_forsorjningsstod"]})
        d = d.sort_values(["lopnr", "m"], ignore_index=True)
        step = d.groupby("lopnr", sort=False)["m"].diff()
        d["spell"] = (step.isna() | (step - 1 > GAP)).astype("int64").cumsum()
        g = d.groupby("spell", sort=False)
        s = g.agg(
            lopnr=("lopnr", "first"),
            start_m=("m", "min"),
            end_m=("m", "max"),
            paid_months=("m", "size"),
            amount=("a", "sum"),
        )
        t1 = time.perf_counter()
        key = _spell_key(s["lopnr"], s["start_m"], s["end_m"], s["paid_months"])
    elif name == "loop":
        persons = frame["lopnr"].drop_duplicates().iloc[:sample]
        part = frame[frame["lopnr"].isin(set(persons))]
        result["rows_sample"] = len(part)
        t0 = time.perf_counter()
        months: dict[str, list[int]] = {}
        for lop, y, mo in zip(part["lopnr"], part["statistikar"], part["manad"], strict=True):
            months.setdefault(lop, []).append(int(y) * 12 + int(mo) - 1)
        rows = []
        for lop, ms in months.items():
            ms.sort()
            s0 = prev = ms[0]
            n = 1
            for mm in ms[1:]:
                if mm - prev - 1 <= GAP:
                    n += 1
                else:
                    rows.append((lop, s0, prev, n))
                    s0, n = mm, 1
                prev = mm
            rows.append((lop, s0, prev, n))
        t1 = time.perf_counter()
        key = _spell_key(*zip(*rows, strict=True))
    elif name.startswith("overlap"):
        s = mikrodata.spells(frame, gap=GAP)
        rng = np.random.default_rng(9)
        pick = rng.choice(len(s), size=max(1, len(s) // 10), replace=False)
        base = s.iloc[np.sort(pick)]
        i0 = _months(base["start"]) + rng.integers(-6, 6, len(base))
        iv = pd.DataFrame(
            {
                "lopnr": base["lopnr"].to_numpy(),
                "kind": pd.array(rng.choice(["1", "2", "3"], len(base)), dtype="string[pyarrow]"),
                "start": pd.PeriodIndex.from_ordinals(i0 - 1970 * 12, freq="M"),
                "end": pd.PeriodIndex.from_ordinals(
                    i0 + rng.integers(0, 24, len(base)) - 1970 * 12, freq="M"
                ),
            }
        )
        if name == "overlap_loop":
            persons = set(s["lopnr"].drop_duplicates().iloc[:sample])
            s = s[s["lopnr"].isin(persons)]
            iv = iv[iv["lopnr"].isin(persons)]
            result["rows_sample"] = len(s)
        del frame
        # The inputs as a researcher has them: spells and intervals with month periods;
        # the hand-written variants get month numbers, their SQL's own columns, for free.
        sm = pd.DataFrame(
            {
                "lopnr": s["lopnr"],
                "spell": s["spell"],
                "start_m": _months(s["start"]),
                "end_m": _months(s["end"]),
            }
        )
        im = pd.DataFrame(
            {
                "lopnr": iv["lopnr"],
                "kind": iv["kind"],
                "i0": _months(iv["start"]),
                "i1": _months(iv["end"]),
            }
        )
        result["spells"], result["intervals"] = len(s), len(iv)
        t0 = time.perf_counter()
        if name == "overlap_mikrodata":
            o = mikrodata.toolkit.analysis.overlaps(s, iv)
            t1 = time.perf_counter()
            pairs = pd.DataFrame(
                {
                    "l": o["lopnr"],
                    "sp": o["spell"],
                    "k": o["kind"],
                    "o0": _months(o["overlap_start"]),
                    "o1": _months(o["overlap_end"]),
                }
            )
        elif name == "overlap_duckdb":
            con = duckdb.connect()
            con.register("s", sm)
            con.register("i", im)
            o = con.sql(OVERLAP_SQL).to_arrow_table().to_pandas(types_mapper=pd.ArrowDtype)
            t1 = time.perf_counter()
            pairs = o.rename(columns={"lopnr": "l", "spell": "sp", "kind": "k"})
        elif name == "overlap_pandas":
            j = sm.merge(im, on="lopnr")
            j = j[(j["i0"] <= j["end_m"]) & (j["i1"] >= j["start_m"])]
            t1 = time.perf_counter()
            pairs = pd.DataFrame(
                {
                    "l": j["lopnr"],
                    "sp": j["spell"],
                    "k": j["kind"],
                    "o0": np.maximum(j["start_m"], j["i0"]),
                    "o1": np.minimum(j["end_m"], j["i1"]),
                }
            )
        else:  # overlap_loop
            by: dict[str, list] = {}
            for lop, k, a, b in zip(im["lopnr"], im["kind"], im["i0"], im["i1"], strict=True):
                by.setdefault(lop, []).append((k, a, b))
            rows = []
            for lop, sp, a, b in zip(
                sm["lopnr"], sm["spell"], sm["start_m"], sm["end_m"], strict=True
            ):
                for k, c, d in by.get(lop, ()):
                    if c <= b and d >= a:
                        rows.append((lop, sp, k, max(a, c), min(b, d)))
            pairs = pd.DataFrame(rows, columns=["l", "sp", "k", "o0", "o1"])
        t1 = time.perf_counter()
        key = pairs.astype({"l": str, "sp": "int64", "k": str, "o0": "int64", "o1": "int64"})
        key = key.sort_values(["l", "sp", "k", "o0", "o1"], ignore_index=True)
    else:
        raise SystemExit(f"unknown variant {name}")
    result["seconds"] = t1 - t0
    memory.__exit__()
    result["work_mib"] = (memory.peak - memory.base) / 2**20
    result["input_mib"] = memory.base / 2**20
    result["result_rows"] = len(key)
    key.to_parquet(out)
    return result


def run(name: str, path: str, workdir: str, sample: int) -> dict:
    out = os.path.join(workdir, f"{name}.parquet")
    proc = subprocess.Popen(
        [
            sys.executable,
            str(HERE),
            "--variant",
            name,
            "--input",
            path,
            "--out",
            out,
            "--sample",
            str(sample),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    stdout, _ = proc.communicate()
    if proc.returncode != 0:
        raise SystemExit(f"variant {name} failed")
    result = json.loads(stdout.strip().splitlines()[-1])
    result["peak_mib"] = result.pop("peak_kib") / 1024
    result["out"] = out
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--sample", type=int, default=20_000, help="persons in the loop runs")
    parser.add_argument("--repeat", type=int, default=1, help="runs per variant (median)")
    parser.add_argument("--variant")
    parser.add_argument("--input")
    parser.add_argument("--out")
    args = parser.parse_args()
    if args.variant:  # a child process: run one variant, print JSON
        import resource

        res = variant(args.variant, args.input, args.out, args.sample)
        res["peak_kib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # whole process
        print(json.dumps(res))
        return

    import pandas as pd

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        table = generate(args.rows)
        path = os.path.join(tmp, "eb.parquet")
        pq.write_table(table, path)
        print(f"{table.num_rows:,} person-months generated in {time.perf_counter() - t0:.1f} s")
        del table
        names = [
            "mikrodata",
            "mikrodata_shuffled",
            "duckdb",
            "duckdb_shuffled",
            "pandas",
            "loop",
            "overlap_mikrodata",
            "overlap_duckdb",
            "overlap_pandas",
            "overlap_loop",
        ]
        results: dict[str, dict] = {}
        for _ in range(args.repeat):
            for name in names:
                r = run(name, path, tmp, args.sample)
                prev = results.setdefault(name, {**r, "all": []})
                prev["all"].append(r["seconds"])
        for r in results.values():
            r["seconds"] = float(np.median(r["all"]))
            if "rows_sample" in r:  # scale the loop's time to all rows
                base = r["rows"] if "spells" not in r else results["overlap_mikrodata"]["spells"]
                r["scaled"] = r["seconds"] * base / max(1, r["rows_sample"])

        def same(a: str, b: str) -> bool:
            x, y = pd.read_parquet(results[a]["out"]), pd.read_parquet(results[b]["out"])
            if "rows_sample" in results[b]:
                x = x[x[x.columns[0]].isin(set(y[y.columns[0]]))].reset_index(drop=True)
            return x.reset_index(drop=True).equals(y.reset_index(drop=True))

        print(
            f"\nspells, gap={GAP}, {results['mikrodata']['rows']:,} person-months "
            f"-> {results['mikrodata']['result_rows']:,} spells"
        )
        print(f"{'variant':34} {'seconds':>9} {'work MiB':>9}  identical")
        label = {
            "mikrodata": "(a)  mikrodata, sorted input",
            "mikrodata_shuffled": "(a') mikrodata, random order",
            "duckdb": "(b)  hand-written DuckDB, sorted",
            "duckdb_shuffled": "(b') hand-written DuckDB, random",
            "pandas": "(c)  pandas groupby",
            "loop": "(d)  Python loop (scaled)",
            "overlap_mikrodata": "(e)  mikrodata.overlaps",
            "overlap_duckdb": "(f)  hand-written DuckDB join",
            "overlap_pandas": "(g)  pandas merge + filter",
            "overlap_loop": "(h)  Python loop (scaled)",
        }
        for name in names:
            r = results[name]
            if name == "overlap_mikrodata":
                print(
                    f"\noverlap join: {r['spells']:,} spells x {r['intervals']:,} intervals "
                    f"-> {r['result_rows']:,} pairs"
                )
            ref = "mikrodata" if not name.startswith("overlap") else "overlap_mikrodata"
            secs = r.get("scaled", r["seconds"])
            ok = "yes" if name == ref else ("yes" if same(ref, name) else "NO")
            print(f"{label[name]:34} {secs:9.2f} {r['work_mib']:9.0f}  {ok}")
        a, a2 = results["mikrodata"]["seconds"], results["mikrodata_shuffled"]["seconds"]
        b, b2 = results["duckdb"]["seconds"], results["duckdb_shuffled"]["seconds"]
        print("\nratios (higher is better for mikrodata):")
        e = results["overlap_mikrodata"]["seconds"]
        ratios = [
            ("hand-written DuckDB / mikrodata, sorted input", b / a, "(goal >= 2)"),
            ("hand-written DuckDB / mikrodata, random order", b2 / a2, "(goal >= 1)"),
            ("pandas / mikrodata", results["pandas"]["seconds"] / a, ""),
            ("Python loop (scaled) / mikrodata", results["loop"]["scaled"] / a, "(goal >= 20)"),
            (
                "overlap: hand-written DuckDB / mikrodata",
                results["overlap_duckdb"]["seconds"] / e,
                "(goal >= 1)",
            ),
            ("overlap: pandas / mikrodata", results["overlap_pandas"]["seconds"] / e, ""),
            (
                "overlap: Python loop (scaled) / mikrodata",
                results["overlap_loop"]["scaled"] / e,
                "(goal >= 20)",
            ),
        ]
        for text_, value, goal in ratios:
            print(f"  {text_ + ':':50} {value:6.2f}  {goal}")
        print(
            f"\nmachine: {os.cpu_count()} cores; each variant in its own process, "
            f"median of {args.repeat} run(s); work MiB = peak resident memory during the "
            f"work, above the input frame already in memory "
            f"({results['mikrodata']['input_mib']:.0f} MiB for the spells input)"
        )


if __name__ == "__main__":
    main()
