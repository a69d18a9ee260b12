"""Differencing: a new table must not differ from an already released one by a few units.

If one table counts everyone and a second everyone but one kommun (or one month, one age),
subtracting them gives that kommun's table, however safe each table is alone. A new table
is refused (status ``fail``, with the reason) when, against any earlier release of the
same kind of unit:

- **population**: the units in one table and not the other number more than none but
  fewer than ``min_count``; or
- **cells**: the tables have the same dimensions, one population contains the other, and
  some cell published in both differs by more than none but fewer than ``min_count``
  units (the difference is then a small cell of the units that differ).

The earlier releases come in as :class:`ReleasedTable` (a released table's published
cells and its population as hashed units); the project's release trail keeps them
(:meth:`ReleasedTable.save`/:meth:`ReleasedTable.load`), and a :class:`CheckedTable`
can stand in for one (tables requested together are checked against each other).

Example::

    first = disclosure.frequency(df, "kon")
    second = disclosure.frequency(df[df.kommun != "0180"], "kon", released=[first])
    second.status   # "fail" when kommun 0180 has fewer than min_count persons
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mikrodata.toolkit.atomic import atomic_file, write_bytes_atomic
from mikrodata.toolkit.disclosure.rules import Rules
from mikrodata.toolkit.disclosure.table import CheckedTable
from mikrodata.toolkit.errors import BadInputError, DisclosureError

__all__ = ["ReleasedTable", "check_differencing"]


@dataclass(frozen=True)
class ReleasedTable:
    """An earlier released table as the differencing check needs it: its published cells
    (``dims`` + ``statistic``) and its population (sorted 64-bit hashes of its distinct
    units, ``None`` when it was made from an aggregate table)."""

    name: str
    unit: str
    dims: tuple[str, ...]
    statistic: str
    cells: pd.DataFrame
    population: np.ndarray | None

    @classmethod
    def from_table(cls, name: str, table: CheckedTable) -> ReleasedTable:
        return cls(
            name=name,
            unit=table.record.unit,
            dims=tuple(table.dims),
            statistic=table.statistic,
            cells=table.cells[[*table.dims, table.statistic]].copy(),
            population=table.population,
        )

    def save(self, folder: str | Path) -> Path:
        """Write to ``folder/<name>.released.json`` (and ``.population.npy``)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        doc = {
            "name": self.name,
            "unit": self.unit,
            "dims": list(self.dims),
            "statistic": self.statistic,
            "cells": json.loads(self.cells.astype(object).to_json(orient="records")),
        }
        path = folder / f"{self.name}.released.json"
        write_bytes_atomic(path, json.dumps(doc, indent=1).encode())
        if self.population is not None:
            with atomic_file(folder / f"{self.name}.population.npy") as tmp:
                with open(tmp, "wb") as handle:
                    np.save(handle, self.population)
        return path

    @classmethod
    def load(cls, path: str | Path) -> ReleasedTable:
        path = Path(path)
        try:
            doc = json.loads(path.read_text())
        except (OSError, ValueError):
            raise BadInputError(
                f"{path} is not a released table", "Give a .released.json file of the trail"
            ) from None
        pop_path = path.with_name(f"{doc['name']}.population.npy")
        population = np.load(pop_path) if pop_path.exists() else None
        cells = pd.DataFrame(doc["cells"], columns=[*doc["dims"], doc["statistic"]])
        for d in doc["dims"]:
            cells[d] = cells[d].astype(str)
        return cls(
            doc["name"], doc["unit"], tuple(doc["dims"]), doc["statistic"], cells, population
        )


def _as_released(item: Any, i: int) -> ReleasedTable:
    if isinstance(item, ReleasedTable):
        return item
    if isinstance(item, CheckedTable):
        return ReleasedTable.from_table(f"table {i + 1}", item)
    raise BadInputError(
        "released= takes checked tables or ReleasedTable records",
        "Pass the tables released before (ReleasedTable.load reads them from the trail)",
    )


def _overlap(a: np.ndarray, b: np.ndarray) -> int:
    return int(np.intersect1d(a, b, assume_unique=True).size)


def check_differencing(
    table: CheckedTable, released: Iterable[Any] | CheckedTable, rules: Rules
) -> list[str]:
    """Check ``table`` against earlier releases; a risk makes its status ``fail`` (or
    raises :class:`DisclosureError` when ``rules.mitigation`` is ``"none"``). Returns
    the reasons found."""
    if isinstance(released, CheckedTable | ReleasedTable):
        released = [released]
    reasons: list[str] = []
    mine = table.population
    for i, item in enumerate(released):
        other = _as_released(item, i)
        if other.unit != table.record.unit:
            continue
        nested = None
        if mine is not None and other.population is not None:
            common = _overlap(mine, other.population)
            only_new, only_old = mine.size - common, other.population.size - common
            for n, side in (
                (only_new, "only in the new table"),
                (only_old, f"only in {other.name}"),
            ):
                if 0 < n < rules.min_count:
                    reasons.append(
                        f"its population differs from released {other.name!r} by fewer than "
                        f"{rules.min_count} units ({side})"
                    )
            nested = only_new == 0 or only_old == 0
        if tuple(table.dims) == other.dims and table.statistic == other.statistic:
            reasons += _cell_differences(table, other, rules, nested)
    for reason in dict.fromkeys(reasons):
        table.record.hit("differencing", {}, "refused", reason)
        if rules.mitigation == "none":
            raise DisclosureError(f"the table is refused: {reason}", "Release one table, not both")
        table.record.escalate("fail", f"differencing: {reason}")
    return reasons


def _cell_differences(
    table: CheckedTable, other: ReleasedTable, rules: Rules, nested: bool | None
) -> list[str]:
    dims = list(table.dims)
    a = table.cells[[*dims, table.statistic]].copy()
    b = other.cells.copy()
    for d in dims:
        a[d] = a[d].astype(str)
        b[d] = b[d].astype(str)
    both = a.merge(b, on=dims, suffixes=("_new", "_old"))
    new = pd.to_numeric(both[f"{table.statistic}_new"], errors="coerce").to_numpy(dtype=float)
    old = pd.to_numeric(both[f"{table.statistic}_old"], errors="coerce").to_numpy(dtype=float)
    shown = ~(np.isnan(new) | np.isnan(old))
    diff = new[shown] - old[shown]
    if not diff.size or not (diff != 0).any():
        return []
    if nested is None:  # populations unknown: judge nesting from the cells
        nested = bool((diff >= 0).all() or (diff <= 0).all())
    if not nested:
        return []
    small = (np.abs(diff) > 0) & (np.abs(diff) < rules.min_count)
    if small.any():
        return [
            f"{int(small.sum())} of its cells differ from released {other.name!r} by fewer "
            f"than {rules.min_count} units"
        ]
    return []
