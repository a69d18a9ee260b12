"""Risk of a person's whole history: k over the trajectory, and unicity.

A person's rows over time are one record for these measures, across every register of
the extract (a researcher can link them on ``lopnr``):

- a person's **point** is one row's period and quasi-identifiers: (register, year,
  month, the values of the quasi-identifiers); a register without months has yearly
  points;
- the **trajectory** is the person's sequence of yearly quasi-identifiers: for every
  register and year, the distinct combinations the person has that year.
  **Trajectory k** is the smallest number of persons sharing one whole trajectory;
- **unicity** at p (de Montjoye et al. 2013, *Unique in the Crowd*): draw a sample of
  persons, for each draw p of their distinct points at random, and count the persons
  whose points include all p; the person is *unique* when they are the only one. The
  share of unique persons among those with at least p points estimates unicity(p); the
  sample size and a 95% Wilson interval are reported. The p + 1 points drawn for a
  person include their p points (nested draws), so a person unique at p stays unique.

Everything is a DuckDB query on the person key and the quasi-identifiers; the draws are
hashes of (point, person, seed), so a run is reproducible.

    >>> import duckdb, pandas as pd
    >>> from mikrodata.toolkit.risk.tables import risk_table
    >>> con = duckdb.connect()
    >>> rows = pd.DataFrame({"lopnr": ["a", "a", "b", "b"], "ar": [2020, 2021, 2020, 2021],
    ...                      "kommun": ["0180", "0180", "0180", "1280"]})
    >>> t = risk_table(con, rows, "lss")
    >>> trajectory(con, [t], k=2).k
    1
    >>> unicity(con, [t], points=(1, 2))[2].share
    1.0
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import duckdb

from mikrodata.toolkit.extract.source import quote

from .measures import size_bucket
from .tables import RiskTable

__all__ = ["Trajectory", "Unicity", "coded_points", "trajectory", "unicity"]


@dataclass(frozen=True)
class Trajectory:
    """k over whole trajectories (persons sharing every yearly combination)."""

    threshold: int
    persons: int
    classes: int
    k: int | None
    persons_below_k: int
    class_sizes: dict[str, dict[str, int]]  # size band -> classes, persons

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Unicity:
    """The estimated share of persons made unique by ``points`` of their points."""

    points: int
    sample: int  # sampled persons with at least ``points`` points
    unique: int
    share: float | None
    low: float | None  # 95% Wilson interval
    high: float | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


_REGISTER_SHIFT = 1 << 40  # ids of different registers never meet


def _same(a: str, b: str, columns: Sequence[str]) -> str:
    return " AND ".join(f"{a}.{c} IS NOT DISTINCT FROM {b}.{c}" for c in columns)


def coded_points(con: duckdb.DuckDBPyConnection, tables: Sequence[RiskTable], name: str) -> None:
    """The table ``name``: every person's distinct points over ``tables``, coded:
    ``_person``, ``pid`` (one id per distinct point: register, year, month and
    quasi-identifiers), ``yid`` (one id per register, year and quasi-identifiers) and
    ``ph`` (a hash of the point's content, to order random draws reproducibly).

    The ids are the smallest row id among the point's rows (exact: equal points, NULLs
    included, get equal ids, and no hash can collide); ``ph`` only orders draws."""
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {name} (_person VARCHAR, pid BIGINT, yid BIGINT, ph UBIGINT)"
    )
    for i, t in enumerate(tables):
        r = t.roles
        year = f"CAST({quote(r.year)} AS BIGINT)" if r.year else "-1::BIGINT"
        month = f"CAST({quote(r.month)} AS BIGINT)" if r.month else "0::BIGINT"
        qis = [quote(c) for c in r.quasi_identifiers]
        cells = f"{name}_cells"
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {cells} AS SELECT DISTINCT "
            f"CAST({t.person_sql()} AS VARCHAR) AS _person, {year} AS _year, "
            f"{month} AS _month{''.join(', ' + q for q in qis)} FROM {t.relation}"
        )
        point, yearly = ["_year", "_month", *qis], ["_year", *qis]
        offset = i * _REGISTER_SHIFT
        # group, then join back NULL-safely: faster than a window partitioned the same way
        con.execute(
            f"INSERT INTO {name} SELECT c._person, {offset} + p.pid, {offset} + y.yid, p.ph "
            f"FROM {cells} c "
            f"JOIN (SELECT {', '.join(point)}, min(rowid) AS pid, hash({i}, {', '.join(point)}) "
            f"AS ph FROM {cells} GROUP BY ALL) p ON {_same('c', 'p', point)} "
            f"JOIN (SELECT {', '.join(yearly)}, min(rowid) AS yid FROM {cells} GROUP BY ALL) y "
            f"ON {_same('c', 'y', yearly)}"
        )
        con.execute(f"DROP TABLE {cells}")


def trajectory(
    con: duckdb.DuckDBPyConnection, tables: Sequence[RiskTable], k: int = 5
) -> Trajectory:
    """k over the persons' whole trajectories in ``tables`` (see the module docstring)."""
    coded_points(con, tables, "_risk_points")
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE _risk_traj AS
        WITH traj AS (SELECT _person, list(yid ORDER BY yid) AS _t
                      FROM (SELECT DISTINCT _person, yid FROM _risk_points) GROUP BY _person)
        SELECT count(*) OVER (PARTITION BY _t) AS _size FROM traj
        """
    )
    con.execute("DROP TABLE _risk_points")
    persons, smallest, below = con.execute(
        f"SELECT count(*), min(_size), count(*) FILTER (WHERE _size < {int(k)}) FROM _risk_traj"
    ).fetchall()[0]
    bands: dict[str, dict[str, int]] = {}
    classes = 0
    for size, n in con.execute(
        "SELECT _size, count(*) FROM _risk_traj GROUP BY _size ORDER BY _size"
    ).fetchall():
        band = bands.setdefault(size_bucket(size), {"classes": 0, "persons": 0})
        band["classes"] += n // size
        band["persons"] += n
        classes += n // size
    con.execute("DROP TABLE _risk_traj")
    return Trajectory(
        int(k),
        int(persons),
        classes,
        None if smallest is None else int(smallest),
        int(below),
        bands,
    )


def _wilson(unique: int, n: int) -> tuple[float | None, float | None]:
    if n == 0:
        return None, None
    z = 1.959963984540054
    p = unique / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    low = 0.0 if unique == 0 else max(0.0, centre - half)
    high = 1.0 if unique == n else min(1.0, centre + half)
    return low, high


def unicity(
    con: duckdb.DuckDBPyConnection,
    tables: Sequence[RiskTable],
    points: Sequence[int] = (1, 2, 3, 4),
    *,
    sample: int = 10_000,
    seed: int = 0,
) -> dict[int, Unicity]:
    """Unicity by number of points, estimated on ``sample`` persons (all if fewer)."""
    coded_points(con, tables, "_risk_trace")
    con.execute(  # how many persons have each point (the rarest is matched first)
        "CREATE OR REPLACE TEMP TABLE _risk_trace_f AS SELECT _person, pid, ph, "
        "count(*) OVER (PARTITION BY pid) AS f FROM _risk_trace"
    )
    con.execute("DROP TABLE _risk_trace")
    con.execute("ALTER TABLE _risk_trace_f RENAME TO _risk_trace")
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _risk_drawn AS
        WITH s AS (SELECT _person FROM (SELECT DISTINCT _person FROM _risk_trace)
                   ORDER BY hash(_person, {int(seed)}), _person LIMIT {int(sample)})
        SELECT t._person AS target, t.pid, t.f,
               row_number() OVER (PARTITION BY t._person
                                  ORDER BY hash(t.ph, t._person, {int(seed)}), t.pid) AS rnk,
               count(*) OVER (PARTITION BY t._person) AS npts
        FROM _risk_trace t SEMI JOIN s ON t._person = s._person
        """
    )
    out: dict[int, Unicity] = {}
    for p in points:
        p = int(p)
        n, unique = con.execute(
            f"""
            WITH chosen AS (
                SELECT target, pid, row_number() OVER (PARTITION BY target ORDER BY f, pid) AS fr
                FROM _risk_drawn WHERE rnk <= {p} AND npts >= {p}),
            pairs AS (  -- candidates: everyone sharing the target's rarest drawn point
                SELECT c.target, t._person AS cand FROM chosen c
                JOIN _risk_trace t ON t.pid = c.pid WHERE c.fr = 1),
            hits AS (
                SELECT pr.target, pr.cand, count(*) AS h FROM pairs pr
                JOIN chosen c ON c.target = pr.target
                JOIN _risk_trace t ON t._person = pr.cand AND t.pid = c.pid
                GROUP BY pr.target, pr.cand),
            matches AS (
                SELECT target, count(*) FILTER (WHERE h = {p}) AS m FROM hits GROUP BY target)
            SELECT count(*), count(*) FILTER (WHERE m = 1) FROM matches
            """
        ).fetchall()[0]
        low, high = _wilson(int(unique), int(n))
        out[p] = Unicity(p, int(n), int(unique), unique / n if n else None, low, high)
    for name in ("_risk_drawn", "_risk_trace"):
        con.execute(f"DROP TABLE {name}")
    return out
