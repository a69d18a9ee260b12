"""Differencing across releases: a new table must not, together with what the project
released before, give back a cell either table hides.

Two checks, for every pair of a new table and a table released before (or released in
the same approval), counting the same kind of unit:

- **populations** (:func:`mikrodata.toolkit.disclosure.check_differencing`): populations
  that differ by fewer than ``min_count`` units, or nested populations with a published
  cell that differs by that few, are refused;
- **joint audit**: two tables of the same population share cells (a cell of one with
  the dimensions the other lacks at ``Total`` is a cell of the other: ``kommun`` ×
  ``kon`` holds the table of ``kommun`` as its margin). Everything the earlier table
  publishes about such a cell is added to what the attacker knows of the new table (and
  the other way round), and the exact audit is run again: a hidden cell that can now be
  worked back too closely, which could not from either table alone, refuses the
  release. Populations count as the same when their hashed units are equal, or, for
  tables without them (aggregate tables), when every exactly published shared cell of
  the one equals the other's true value.

The trail of earlier releases is the steward's ``release-trail/<project>/<release>/``
folder: the snapshots (:mod:`mikrodata.toolkit.disclosure.snapshot`) of the tables each
signed release holds; the release's audit event carries their hashes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mikrodata.toolkit.disclosure.differencing import ReleasedTable, check_differencing
from mikrodata.toolkit.disclosure.record import CheckRecord
from mikrodata.toolkit.disclosure.rules import Rules
from mikrodata.toolkit.disclosure.snapshot import TableSnapshot
from mikrodata.toolkit.disclosure.structure import TOTAL
from mikrodata.toolkit.disclosure.table import CheckedTable
from mikrodata.toolkit.errors import IntegrityError

from .recheck import known_bounds, recheck_snapshot

__all__ = ["cross_release_problems", "earlier_snapshots", "joint_problems"]


def earlier_snapshots(
    trail: Path, project: str, events: list[dict[str, Any]]
) -> list[tuple[str, TableSnapshot]]:
    """``(release_id, snapshot)`` of every table the project released before, as its
    signed ``release_approved`` events (from the verified audit log) name them: a
    snapshot missing from the trail, or changed, is an :class:`IntegrityError`."""
    out = []
    for ev in events:
        d = ev.get("details") or {}
        if ev.get("action") != "release_approved" or not d.get("complete"):
            continue
        rid = str(d.get("release_id"))
        for name, digest in sorted((d.get("snapshots") or {}).items()):
            path = trail / project / rid / f"{name}.snapshot.json"
            if not path.is_file():
                raise IntegrityError(
                    f"the release trail lacks table {name!r} of {rid} ({path})",
                    "Restore the trail from its backup: differencing needs every release",
                )
            snap = TableSnapshot.load(path)
            if snap.digest() != digest:
                raise IntegrityError(
                    f"table {name!r} of {rid} in the release trail was changed after release",
                    "Restore the trail from its backup",
                )
            out.append((rid, snap))
    return out


def _exact(snap: TableSnapshot) -> np.ndarray:
    return snap.state == "published"


def _mapping(target: TableSnapshot, other: TableSnapshot) -> tuple[np.ndarray, np.ndarray]:
    """Pairs ``(i in target, j in other)`` of the same cell."""
    names = target.grid.names
    other_names = other.grid.names
    tj, oj = [], []
    keys = other.grid.cells[other_names].astype(str).to_numpy()
    for j, row in enumerate(keys):
        k = dict(zip(other_names, row, strict=True))
        if any(k[d] != TOTAL for d in other_names if d not in names):
            continue
        i = target.grid.index.get(tuple(k.get(d, TOTAL) for d in names))
        if i is not None:
            tj.append(i)
            oj.append(j)
    return np.asarray(tj, dtype=int), np.asarray(oj, dtype=int)


def _same_population(target: TableSnapshot, other: TableSnapshot, ti, oj) -> bool:
    if target.population is not None and other.population is not None:
        return bool(np.array_equal(target.population, other.population))
    exact = _exact(other)[oj]
    if not exact.any():
        return False
    true = target.grid.cells["value"].to_numpy(dtype=float)[ti]
    return bool(np.allclose(true[exact], other.shown[oj][exact]))


def joint_problems(
    target: TableSnapshot, other: TableSnapshot, rules: Rules, label: str, used_base: float
) -> list[str]:
    """Hidden cells of ``target`` that ``other``'s published cells help work back."""
    if target.unit != other.unit or target.magnitude != other.magnitude:
        return []
    ti, oj = _mapping(target, other)
    if not ti.size or not _same_population(target, other, ti, oj):
        return []
    n = len(target.grid.cells)
    lo, hi = np.zeros(n), np.full(n, np.inf)
    exact = _exact(other)[oj]
    rounded = other.state[oj] == "rounded"
    v = other.shown[oj]
    lo[ti[exact]] = v[exact]
    hi[ti[exact]] = v[exact]
    lo[ti[rounded]] = np.maximum(v[rounded] - used_base / 2, 0.0)
    hi[ti[rounded]] = v[rounded] + used_base / 2
    if not (exact | rounded).any():
        return []
    # nothing new to the attacker (the usual case: the other table publishes only what
    # this one does, or less): no audit needed
    floor = 1.0 if target.grid.integer and not rules.zeros_disclosive else 0.0
    own_lo, own_hi = known_bounds(target, used_base, floor)
    if not ((lo > own_lo + 1e-9) | (hi < own_hi - 1e-9)).any():
        return []
    try:
        combined, _ = recheck_snapshot(target, rules, used_base, extra=(lo, hi))
    except RuntimeError:  # inconsistent together: not the same units after all
        return []
    if not combined:
        return []
    alone, _ = recheck_snapshot(target, rules, used_base)
    return [f"combined with {label}, {p}" for p in combined if p not in alone]


def _stand_in(snap: TableSnapshot, rules: Rules) -> tuple[CheckedTable, ReleasedTable]:
    cells = snap.grid.cells[snap.grid.names].copy()
    cells[snap.statistic] = np.where(_exact(snap), snap.shown, np.nan)
    table = CheckedTable(
        kind=snap.kind,
        published=pd.DataFrame(),
        cells=cells,
        record=CheckRecord(kind=snap.kind, rules=rules.as_dict(), unit=snap.unit),
        dims=list(snap.grid.names),
        statistic=snap.statistic,
        population=snap.population,
    )
    released = ReleasedTable(
        snap.name, snap.unit, tuple(snap.grid.names), snap.statistic, cells, snap.population
    )
    return table, released


def cross_release_problems(
    new: list[TableSnapshot],
    earlier: list[tuple[str, TableSnapshot]],
    rules: Rules,
    used_base: float = 5.0,
) -> list[str]:
    """The differencing problems of the tables ``new`` against ``earlier`` releases and
    each other (empty: none)."""
    rules = rules.replace(mitigation="suppress")  # report, never raise
    problems: list[str] = []
    others = [(f"{rid}'s {s.name!r}", s) for rid, s in earlier]
    for k, snap in enumerate(new):
        peers = others + [(f"{p.name!r} of this release", p) for p in new[:k]]
        for label, other in peers:
            table, _ = _stand_in(snap, rules)
            _, released = _stand_in(other, rules)
            released = ReleasedTable(
                label,
                released.unit,
                released.dims,
                released.statistic,
                released.cells,
                released.population,
            )
            problems += [f"{snap.name}: {r}" for r in check_differencing(table, [released], rules)]
            problems += joint_problems(snap, other, rules, label, used_base)
            problems += joint_problems(other, snap, rules, f"new {snap.name!r}", used_base)
    return list(dict.fromkeys(problems))
