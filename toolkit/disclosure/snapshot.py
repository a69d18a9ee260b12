"""A checked table kept for its review: its cells, relations, what it publishes and why.

The steward re-checks every table before it is released, and checks it against what the
project released before (:mod:`mikrodata.toolkit.release`). Both need more than the
published CSV: the table's cells with their true values and relations (the
:class:`~.structure.Grid`), each cell's published value and state, and the table's
population (hashed units). :meth:`TableSnapshot.save` writes them to one JSON file
(``records/<name>.snapshot.json`` of the output request, and the release trail) and the
population beside it (``.population.npy``).

The snapshot holds true values of hidden cells, as the full check record's audit does:
it stays in the steward's secure environment and never goes into a release folder.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mikrodata.toolkit.atomic import atomic_file, write_bytes_atomic
from mikrodata.toolkit.disclosure.structure import Dimension, Grid, Relation
from mikrodata.toolkit.disclosure.table import CheckedTable
from mikrodata.toolkit.errors import IntegrityError

__all__ = ["SNAPSHOT_FORMAT", "TableSnapshot"]

SNAPSHOT_FORMAT = "mikrodata-table-snapshot/1"
_GRID_COLUMNS = ("units", "value", "negative")


@dataclass
class TableSnapshot:
    """A checked table's grid, its published value and state per cell, and its units.

    ``shown``: per grid cell the published value (NaN where hidden; for a table of means,
    the sum it publishes with its count of units); ``state``: per cell
    ``published``, ``suppressed``, ``secondary``, ``redacted``, ``rounded``,
    ``recomputed`` or ``hidden``; ``population``: sorted hashes of its distinct units
    (None for an aggregate table)."""

    name: str
    kind: str
    unit: str
    statistic: str
    dims: list[str]
    grid: Grid
    shown: np.ndarray
    state: np.ndarray
    population: np.ndarray | None

    @property
    def magnitude(self) -> bool:
        return not self.grid.integer

    @classmethod
    def from_table(cls, name: str, table: CheckedTable) -> TableSnapshot | None:
        """The snapshot of ``table`` (None when it has no grid: survival curves,
        percentiles, regression results)."""
        grid = table.grid
        if grid is None or list(table.dims) != grid.names:
            return None
        cells = table.cells
        if len(cells) != len(grid.cells):  # a slice of a joint grid (linked tables)
            return None
        shown = pd.to_numeric(cells[table.statistic], errors="coerce").to_numpy(dtype=float)
        if table.statistic == "mean":  # the audit works on sums, as the check's did
            shown = shown * grid.cells["units"].to_numpy(dtype=float)
        state = cells["state"].astype(str).to_numpy(dtype=object)
        return cls(
            name=name,
            kind=table.kind,
            unit=table.record.unit,
            statistic=table.statistic,
            dims=list(table.dims),
            grid=grid,
            shown=shown,
            state=state,
            population=table.population,
        )

    # -- files -----------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        g = self.grid
        columns = [*g.names, *_GRID_COLUMNS, *[c for c in g.cells if c.startswith("top")]]
        cells = g.cells[columns].astype(object).where(g.cells[columns].notna(), None)
        return {
            "format": SNAPSHOT_FORMAT,
            "name": self.name,
            "kind": self.kind,
            "unit": self.unit,
            "statistic": self.statistic,
            "integer": g.integer,
            "dims": [
                {
                    "name": d.name,
                    "leaves": list(d.leaves),
                    "groups": [list(x) for x in d.groups],
                    "parents": d.parents,
                    "level": d.level,
                }
                for d in g.dims
            ],
            "relations": [
                [int(r.parent), [int(c) for c in r.children], bool(r.additive)] for r in g.relations
            ],
            "columns": columns,
            "cells": cells.to_numpy().tolist(),
            "shown": [None if v != v else float(v) for v in self.shown],
            "state": [str(s) for s in self.state],
            "has_population": self.population is not None,
        }

    def save(self, folder: str | Path) -> Path:
        """Write ``folder/<name>.snapshot.json`` (and ``<name>.population.npy``)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{self.name}.snapshot.json"
        text = json.dumps(self.to_dict(), separators=(",", ":"), default=_plain)
        write_bytes_atomic(path, text.encode("utf-8"))
        if self.population is not None:
            with atomic_file(folder / f"{self.name}.population.npy") as tmp:
                with open(tmp, "wb") as handle:
                    np.save(handle, self.population)
        return path

    @classmethod
    def load(cls, path: str | Path) -> TableSnapshot:
        path = Path(path)
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
            if doc.get("format") != SNAPSHOT_FORMAT:
                raise ValueError
            dims = [
                Dimension(
                    name=d["name"],
                    leaves=tuple(d["leaves"]),
                    groups=tuple(tuple(x) for x in d["groups"]),
                    parents=dict(d["parents"]),
                    level={k: int(v) for k, v in d["level"].items()},
                )
                for d in doc["dims"]
            ]
            cells = pd.DataFrame(doc["cells"], columns=doc["columns"])
            names = [d.name for d in dims]
            for n in names:
                cells[n] = cells[n].astype(str).astype(object)
            cells["units"] = cells["units"].astype("int64")
            cells["value"] = cells["value"].astype(float)
            cells["negative"] = cells["negative"].astype(bool)
            for c in cells.columns:
                if c.startswith("top"):
                    cells[c] = cells[c].astype(float)
            relations = [
                Relation(int(p), np.asarray(ch, dtype=np.int64), bool(a))
                for p, ch, a in doc["relations"]
            ]
            index = {tuple(k): i for i, k in enumerate(cells[names].itertuples(False, None))}
            grid = Grid(dims, cells, relations, integer=bool(doc["integer"]), index=index)
            shown = np.array([np.nan if v is None else v for v in doc["shown"]], dtype=float)
            state = np.array(doc["state"], dtype=object)
            pop_path = path.with_name(f"{doc['name']}.population.npy")
            population = np.load(pop_path) if doc["has_population"] else None
        except (OSError, ValueError, KeyError, TypeError):
            raise IntegrityError(
                f"{path.name}: not a table snapshot that can be read",
                "Ask the researcher to request the output again",
            ) from None
        return cls(
            name=doc["name"],
            kind=doc["kind"],
            unit=doc["unit"],
            statistic=doc["statistic"],
            dims=names,
            grid=grid,
            shown=shown,
            state=state,
            population=population,
        )

    def digest(self) -> str:
        """SHA-256 of the snapshot's canonical JSON (population included)."""
        text = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"), default=_plain)
        h = hashlib.sha256(text.encode("utf-8"))
        if self.population is not None:
            h.update(np.ascontiguousarray(self.population).tobytes())
        return h.hexdigest()


def _plain(obj: Any) -> Any:
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")
