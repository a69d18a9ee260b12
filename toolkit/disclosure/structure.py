"""A table's cells and the relations between them: what an attacker knows holds.

A table has dimensions (``kommun``, ``manad``, ...). Each dimension has its codes, and
may have a hierarchy: levels above the codes (``kommun`` within ``lan``, the county
being the first two digits of the 4-digit kommun code), and always a total. A cell is one
code (at any level) per dimension; a margin is a cell with a total or a group code.

Every cell that is not at the lowest level of a dimension is related to its children
along that dimension (the cells with the child codes in that place):

- **additive**, ``cell = sum(children)``, when the counts add up: each unit is in one
  child only (persons by kommun in a month, sums of amounts always);
- **overlapping**, ``max(children) <= cell <= sum(children)``, when they do not (a
  person counted in several months of a year is one person in the year's total).

These relations, true of the data whatever it is, are what the audit gives the attacker
(:mod:`mikrodata.toolkit.disclosure.audit`). Counts are **distinct units** (the pseudonym
column), never rows.

Example::

    grid = build_grid(frame, ["kommun", "manad"], unit="lopnr", hierarchy={"kommun": "lan"})
    grid.cells[["kommun", "manad", "units"]]
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from mikrodata.toolkit.errors import BadInputError

__all__ = ["LAN", "TOTAL", "Dimension", "Grid", "Relation", "build_grid", "county_of"]

TOTAL = "Total"
# The county (län) of a 4-digit kommun code is its first two digits.
LAN = "lan"


def county_of(code: str) -> str:
    """The county code of a kommun code: ``county_of("0180") == "01"``."""
    return str(code)[:2]


Level = Mapping[str, str] | Callable[[str], str] | str


@dataclass(frozen=True)
class Dimension:
    """One dimension: its codes (lowest level) and the groups above them. ``parents[c]``
    is the code one level above ``c`` (``TOTAL`` at the top); ``level[c]`` is 0 for the
    lowest codes and grows to the total."""

    name: str
    leaves: tuple[str, ...]
    groups: tuple[tuple[str, ...], ...]  # codes of each level above the leaves
    parents: dict[str, str]
    level: dict[str, int]

    @property
    def codes(self) -> tuple[str, ...]:
        """Every code in reading order: each group before its members, the total last."""
        children: dict[str, list[str]] = {}
        for child, parent in self.parents.items():
            children.setdefault(parent, []).append(child)
        order = {c: i for i, c in enumerate(self.leaves + sum(self.groups, ()))}
        out: list[str] = []

        def visit(code: str) -> None:
            for c in sorted(children.get(code, []), key=order.__getitem__):
                out.append(c)
                visit(c)

        visit(TOTAL)
        return tuple(out) + (TOTAL,)

    def children(self, code: str) -> list[str]:
        return [c for c, p in self.parents.items() if p == code]

    @property
    def top(self) -> int:
        return len(self.groups) + 1


@dataclass(frozen=True)
class Relation:
    """``parent`` is the sum of ``children`` (additive) or lies between their maximum and
    their sum (overlapping)."""

    parent: int
    children: np.ndarray
    additive: bool


@dataclass
class Grid:
    """All cells of a table (margins included) with their values and relations.

    ``cells`` has one column per dimension (the code), ``units`` (distinct units),
    ``value`` (the published statistic before protection: the count, or the sum),
    ``top1``.. (the largest contributions of single units, for magnitude tables) and
    ``negative`` (a unit contributes a negative amount)."""

    dims: list[Dimension]
    cells: pd.DataFrame
    relations: list[Relation]
    integer: bool
    index: dict[tuple[str, ...], int] = field(repr=False)
    source: Any = field(default=None, repr=False)

    @property
    def names(self) -> list[str]:
        return [d.name for d in self.dims]

    def key(self, i: int) -> dict[str, str]:
        row = self.cells.iloc[i]
        return {d: str(row[d]) for d in self.names}

    def is_margin(self) -> np.ndarray:
        lv = np.zeros(len(self.cells), dtype=bool)
        for d in self.dims:
            lv |= self.cells[d.name].map(d.level).to_numpy() > 0
        return lv


def _natural(values: Sequence[Any]) -> list[Any]:
    try:
        return sorted(values)
    except TypeError:
        return sorted(values, key=str)


def _dimension(name: str, leaves: list[str], spec: Any) -> Dimension:
    levels: list[Level] = []
    if spec is not None:
        levels = [spec] if isinstance(spec, str | Mapping) or callable(spec) else list(spec)
    parents: dict[str, str] = {}
    level = {c: 0 for c in leaves}
    groups: list[tuple[str, ...]] = []
    current = list(leaves)
    for n, lv in enumerate(levels, start=1):
        if lv == LAN:
            fn: Callable[[str], str] = county_of
        elif isinstance(lv, Mapping):
            missing = [c for c in current if c not in lv]
            if missing:
                raise BadInputError(
                    f"hierarchy of {name!r}: {len(missing)} codes have no group at level {n}",
                    "Give a group for every code",
                )
            fn = lambda c, m=lv: str(m[c])  # noqa: E731
        elif callable(lv):
            fn = lambda c, f=lv: str(f(c))  # noqa: E731
        else:
            raise BadInputError(
                f"hierarchy of {name!r}: level {n} is not a mapping, a function or 'lan'",
                "Give {code: group}, a function of the code, or 'lan'",
            )
        up = {c: fn(c) for c in current}
        new = list(dict.fromkeys(up.values()))
        clash = (set(new) & set(level)) | ({TOTAL} & set(new))
        if clash:
            raise BadInputError(
                f"hierarchy of {name!r}: group codes at level {n} repeat codes of a lower level",
                "Give groups codes of their own",
            )
        parents.update(up)
        for g in new:
            level[g] = n
        groups.append(tuple(_natural(new)))
        current = new
    for c in current:
        parents[c] = TOTAL
    level[TOTAL] = len(levels) + 1
    return Dimension(name, tuple(leaves), tuple(groups), parents, level)


def _check_columns(frame: pd.DataFrame, columns: Sequence[str]) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise BadInputError(
            f"the table has no column {missing[0]!r}",
            f"Use one of its columns: {', '.join(map(str, frame.columns[:20]))}",
        )
    for c in columns:
        n = int(frame[c].isna().sum())
        if n:
            raise BadInputError(
                f"column {c!r} has {n} missing values",
                "Drop those rows or give the missing values a code of their own first",
            )


def build_grid(
    frame: pd.DataFrame,
    dims: Sequence[str],
    *,
    unit: str = "lopnr",
    counts: str | None = None,
    values: str | None = None,
    hierarchy: Mapping[str, Any] | None = None,
    codes: Mapping[str, Sequence[Any]] | None = None,
    top_n: int = 2,
) -> Grid:
    """Count a table's cells, margins included.

    ``frame`` is microdata (one row per unit and whatever, with the ``unit`` column), or,
    with ``counts=``, an aggregate table: one row per lowest-level cell with its count of
    distinct units already computed in column ``counts`` (margins are then the sums of
    their cells). ``values`` names an amount to sum (a magnitude table; microdata only).
    ``codes`` gives a dimension's full code list, so codes without any unit appear as
    zero cells. ``hierarchy`` maps a dimension to its levels above the codes (``"lan"``,
    a ``{code: group}`` mapping or a function; a list for several levels).
    """
    dims = list(dims)
    if len(set(dims)) != len(dims) or not dims:
        raise BadInputError("give each dimension once", "For example index='kommun'")
    hierarchy = dict(hierarchy or {})
    unknown = set(hierarchy) - set(dims)
    if unknown:
        raise BadInputError(
            f"hierarchy names {sorted(unknown)[0]!r}, which is not a dimension",
            "Give hierarchies only for the table's dimensions",
        )
    aggregate = counts is not None
    needed = dims + ([counts] if aggregate else [unit]) + ([values] if values else [])
    _check_columns(frame, needed)
    if aggregate and values:
        raise BadInputError(
            "a magnitude table needs microdata (each unit's contribution)",
            "Pass the microdata, not an aggregate table",
        )
    if values and not pd.api.types.is_numeric_dtype(frame[values]):
        raise BadInputError(f"column {values!r} is not numeric", "Sum a numeric amount")

    dimensions: list[Dimension] = []
    leaf_cols: dict[str, np.ndarray] = {}
    for d in dims:
        observed = _natural(pd.unique(frame[d]).tolist())
        if codes and d in codes:
            universe = _natural(list(dict.fromkeys(codes[d])))
            extra = set(map(str, observed)) - set(map(str, universe))
            if extra:
                raise BadInputError(
                    f"column {d!r} has {len(extra)} codes outside the code list given",
                    "Give the full code list, or drop the rows with other codes",
                )
            observed = universe
        leaves = [str(c) for c in observed]
        dimensions.append(_dimension(d, leaves, hierarchy.get(d)))
        leaf_cols[d] = frame[d].astype(str).to_numpy(dtype=object)

    if aggregate:
        w = pd.to_numeric(frame[counts], errors="coerce")
        if w.isna().any() or (w < 0).any() or (w != np.floor(w)).any():
            raise BadInputError(
                f"column {counts!r} must hold counts (whole numbers, 0 or more)",
                "Give the number of distinct units in each cell",
            )
        weights = w.to_numpy(dtype=float)
        key_frame = pd.DataFrame(leaf_cols)
        if key_frame.duplicated().any():
            raise BadInputError(
                "the aggregate table has more than one row for a cell",
                f"Give one row per combination of {', '.join(dims)}",
            )
    units_col = None if aggregate else frame[unit].to_numpy()
    amounts = frame[values].to_numpy(dtype=float) if values else None

    parts = []
    for levels in itertools.product(*[range(d.top + 1) for d in dimensions]):
        cols = {}
        for d, lv in zip(dimensions, levels, strict=True):
            if lv == d.top:
                cols[d.name] = np.full(len(frame), TOTAL, dtype=object)
            else:
                cols[d.name] = _at_level(d, leaf_cols[d.name], lv)
        part = pd.DataFrame(cols)
        if aggregate:
            part["units"] = weights
            agg = part.groupby(dims, sort=False).agg(units=("units", "sum")).reset_index()
            agg["value"] = agg["units"]
        elif values is None:
            part["_u"] = units_col
            agg = part.groupby(dims, sort=False).agg(units=("_u", "nunique")).reset_index()
            agg["value"] = agg["units"]
        else:
            part["_u"] = units_col
            part["_v"] = amounts
            agg = _magnitude_cells(part, dims, top_n)
        parts.append(agg)
    counted = pd.concat(parts, ignore_index=True)

    # every combination of codes is a cell, counted or zero
    full = pd.DataFrame(
        list(itertools.product(*[d.codes for d in dimensions])), columns=dims, dtype=object
    )
    cells = full.merge(counted, on=dims, how="left")
    cells["units"] = cells["units"].fillna(0).astype("int64")
    cells["value"] = cells["value"].fillna(0.0).astype(float)
    for i in range(1, top_n + 1):
        col = f"top{i}"
        if col in cells:
            cells[col] = cells[col].fillna(0.0).astype(float)
        elif values is not None:
            cells[col] = 0.0
    cells["negative"] = cells.get("negative", pd.Series(False, index=cells.index))
    cells["negative"] = cells["negative"].fillna(False).astype(bool)
    index = {tuple(k): i for i, k in enumerate(cells[dims].itertuples(index=False, name=None))}
    relations = _relations(dimensions, cells, index, additive_always=values is not None)
    # where the data came from (an extract's frame carries it): the release needs it
    source = frame.attrs.get("mikrodata") if isinstance(frame.attrs, dict) else None
    return Grid(dimensions, cells, relations, integer=values is None, index=index, source=source)


def _at_level(d: Dimension, leaves: np.ndarray, level: int) -> np.ndarray:
    out = leaves
    for _ in range(level):
        uniq, inv = np.unique(out.astype(str), return_inverse=True)
        out = np.array([d.parents[u] for u in uniq], dtype=object)[inv]
    return out


def _magnitude_cells(part: pd.DataFrame, dims: list[str], top_n: int) -> pd.DataFrame:
    per_unit = part.groupby(dims + ["_u"], sort=False).agg(s=("_v", "sum")).reset_index()
    per_unit = per_unit.sort_values(dims + ["s"], ascending=[True] * len(dims) + [False])
    per_unit["rank"] = per_unit.groupby(dims, sort=False).cumcount()
    agg = (
        per_unit.groupby(dims, sort=False)
        .agg(
            units=("_u", "size"), value=("s", "sum"), negative=("s", lambda s: bool((s < 0).any()))
        )
        .reset_index()
    )
    for i in range(top_n):
        top = per_unit[per_unit["rank"] == i][dims + ["s"]].rename(columns={"s": f"top{i + 1}"})
        agg = agg.merge(top, on=dims, how="left")
    return agg


def _relations(
    dims: list[Dimension],
    cells: pd.DataFrame,
    index: dict[tuple[str, ...], int],
    *,
    additive_always: bool,
) -> list[Relation]:
    children_of = [{c: d.children(c) for c in d.codes if d.level[c] > 0} for d in dims]
    units = cells["units"].to_numpy()
    value = cells["value"].to_numpy()
    out: list[Relation] = []
    for key, i in index.items():
        for j, kids_map in enumerate(children_of):
            kids = kids_map.get(key[j])
            if not kids:
                continue
            idx = np.array([index[key[:j] + (k,) + key[j + 1 :]] for k in kids], dtype=np.int64)
            if additive_always:
                additive = True
            else:
                additive = bool(units[idx].sum() == units[i])
            if additive_always and not np.isclose(value[idx].sum(), value[i]):
                raise AssertionError("sums must add up")  # pragma: no cover
            out.append(Relation(i, idx, additive))
    return out
