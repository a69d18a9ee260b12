"""The risk of a whole extract: every register's cross-section, the linked histories
(trajectory k, unicity), and which quasi-identifiers drive the risk, as counts.

``persons`` and ``records`` are over every register; ``k`` is the smallest class of any
register's cross-section; ``persons_below_k`` counts a person once if any of their
records, in any register, is in a class smaller than the threshold.

    >>> import duckdb, pandas as pd
    >>> from mikrodata.toolkit.risk.tables import risk_table
    >>> con = duckdb.connect()
    >>> rows = pd.DataFrame({"lopnr": ["a", "b", "c"], "ar": [2020] * 3,
    ...                      "kommun": ["0180", "0180", "1280"]})
    >>> a = assess(con, [risk_table(con, rows, "lss")], k=2)
    >>> a.k, a.persons_below_k, a.persons
    (1, 1, 3)
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import duckdb

from mikrodata.toolkit.progress import progress

from .longitudinal import Trajectory, Unicity, trajectory, unicity
from .measures import CrossSection, cross_section
from .tables import RiskTable

__all__ = [
    "DEFAULT_POINTS",
    "Assessment",
    "Driver",
    "assess",
    "count_persons",
    "cross_sections",
    "drivers",
]

DEFAULT_POINTS = (1, 2, 3, 4)


@dataclass(frozen=True)
class Driver:
    """Persons below k when only ``quasi_identifiers`` are known (counts, never rows)."""

    register: str
    quasi_identifiers: tuple[str, ...]
    persons_below_k: int
    classes_of_one: int


@dataclass(frozen=True)
class Assessment:
    """The measured risk of an extract (see the module docstring)."""

    threshold: int
    persons: int
    records: int
    k: int | None
    records_below_k: int
    persons_below_k: int
    registers: dict[str, CrossSection]
    trajectory: Trajectory
    unicity: dict[int, Unicity]
    drivers: tuple[Driver, ...] = ()
    special_uniques: dict[str, Any] | None = None
    notes: tuple[str, ...] = field(default=())

    def as_dict(self) -> dict[str, Any]:
        return {
            "threshold": self.threshold,
            "persons": self.persons,
            "records": self.records,
            "k": self.k,
            "records_below_k": self.records_below_k,
            "persons_below_k": self.persons_below_k,
            "share_of_records_below_k": _share(self.records_below_k, self.records),
            "share_of_persons_below_k": _share(self.persons_below_k, self.persons),
            "unicity": {str(p): u.share for p, u in self.unicity.items()},
            "unicity_detail": {str(p): u.as_dict() for p, u in self.unicity.items()},
            "trajectory": self.trajectory.as_dict(),
            "registers": {n: c.as_dict() for n, c in self.registers.items()},
            "drivers": [
                d.__dict__ | {"quasi_identifiers": list(d.quasi_identifiers)} for d in self.drivers
            ],
            "special_uniques": self.special_uniques,
            "notes": list(self.notes),
        }


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def count_persons(con: duckdb.DuckDBPyConnection, tables: Sequence[RiskTable]) -> int:
    """Distinct persons over every table."""
    parts = " UNION ".join(
        f"SELECT CAST({t.person_sql()} AS VARCHAR) AS p FROM {t.relation}" for t in tables
    )
    return con.execute(f"SELECT count(DISTINCT p) FROM ({parts})").fetchall()[0][0]


def cross_sections(
    con: duckdb.DuckDBPyConnection, tables: Sequence[RiskTable], k: int, *, l_diversity: bool
) -> tuple[dict[str, CrossSection], int]:
    """Each register's cross-section, and the persons below k in any of them."""
    con.execute("CREATE OR REPLACE TEMP TABLE _risk_below (_person VARCHAR)")
    sections = {
        t.register: cross_section(t, k, l_diversity=l_diversity, collect_below="_risk_below")
        for t in tables
    }
    below = con.execute("SELECT count(DISTINCT _person) FROM _risk_below").fetchall()[0][0]
    con.execute("DROP TABLE _risk_below")
    return sections, int(below)


def drivers(t: RiskTable, k: int, *, max_size: int = 2) -> list[Driver]:
    """Persons below k for every set of up to ``max_size`` quasi-identifiers, and for
    every set leaving one out: which variables make people rare, without any value."""
    qis = t.roles.quasi_identifiers
    subsets = {c for n in range(1, max_size + 1) for c in itertools.combinations(qis, n)}
    if len(qis) > 2:
        subsets |= set(itertools.combinations(qis, len(qis) - 1))
    out = []
    for subset in sorted(subsets, key=lambda s: (len(s), s)):
        sub = t.with_roles(quasi_identifiers=subset)
        cs = cross_section(sub, k, l_diversity=False)
        ones = cs.class_sizes.get("1", {}).get("classes", 0)
        out.append(Driver(t.register, subset, cs.persons_below_k, ones))
    return sorted(out, key=lambda d: (-d.persons_below_k, len(d.quasi_identifiers)))


def assess(
    con: duckdb.DuckDBPyConnection,
    tables: Sequence[RiskTable],
    k: int = 5,
    *,
    points: Sequence[int] = DEFAULT_POINTS,
    sample: int = 10_000,
    seed: int = 0,
    l_diversity: bool = True,
    with_drivers: bool = True,
) -> Assessment:
    """Measure every risk of ``tables`` at threshold ``k`` (progress on standard error)."""
    steps = 3 + (1 if with_drivers else 0)
    with progress("risk: measure", total=steps) as task:
        sections, below = cross_sections(con, tables, k, l_diversity=l_diversity)
        task.advance()
        traj = trajectory(con, tables, k)
        task.advance()
        uni = unicity(con, tables, points, sample=sample, seed=seed)
        task.advance()
        found: list[Driver] = []
        if with_drivers:
            for t in tables:
                found += drivers(t, k)
            found.sort(key=lambda d: (-d.persons_below_k, len(d.quasi_identifiers)))
            task.advance()
    ks = [c.k for c in sections.values() if c.k is not None]
    return Assessment(
        threshold=int(k),
        persons=count_persons(con, tables),
        records=sum(c.records for c in sections.values()),
        k=min(ks) if ks else None,
        records_below_k=sum(c.records_below_k for c in sections.values()),
        persons_below_k=below,
        registers=sections,
        trajectory=traj,
        unicity=uni,
        drivers=tuple(found),
    )
