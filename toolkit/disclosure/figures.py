"""Figures that carry their table's check record, and a test for them.

A figure may only be released when it was drawn from a checked table. :func:`figure`
draws one (plotly, offline) from a :class:`~.table.CheckedTable`; :func:`attach` marks a
figure drawn by other code (the researcher's spell, survival and kommun figures) from a
checked table, after making sure it plots nothing the table does not publish. Either
way the figure's ``layout.meta["mikrodata"]`` holds the record's summary (no value of a
suppressed cell), the digest of the published table and a digest of the plotted
numbers; :func:`is_checked` recomputes that digest, so a figure whose data changed after
the check is no longer checked. :func:`require_checked` is what the release calls.

Example::

    t = disclosure.crosstab(frame, "kommun", "manad")
    fig = disclosure.figure(t)            # or t.figure()
    disclosure.is_checked(fig)            # True
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import numpy as np
import pandas as pd

from mikrodata.toolkit.disclosure.structure import TOTAL
from mikrodata.toolkit.errors import BadInputError, DisclosureError

__all__ = ["HOW_TO", "attach", "figure", "is_checked", "require_checked"]

_META = "mikrodata"
HOW_TO = (
    "Check its table first (for example t = mikrodata.disclosure.crosstab(frame, index, "
    "columns) or frequency(aggregate, by, counts='persons')), then draw it with "
    "mikrodata.disclosure.figure(t), or mark your own figure of it with "
    "mikrodata.disclosure.attach(fig, t)"
)


def _numbers(fig: Any) -> list[float]:
    """Every number a figure plots (x, y, z, values, text numbers), in order."""
    out: list[float] = []
    for trace in fig.data:
        for attr in ("x", "y", "z", "values"):
            vals = getattr(trace, attr, None)
            if vals is None:
                continue
            arr = np.asarray(vals, dtype=object).ravel()
            for v in arr:
                try:
                    f = float(v)
                except (TypeError, ValueError):
                    continue
                if not np.isnan(f):
                    out.append(round(f, 9))
    return out


def _digest(numbers: list[float]) -> str:
    return hashlib.sha256(json.dumps(numbers).encode()).hexdigest()


def _table_digest(table: Any) -> str:
    return hashlib.sha256(table.published.to_csv().encode()).hexdigest()


def _published_numbers(table: Any) -> set[float]:
    values = pd.to_numeric(
        pd.Series(np.asarray(table.published, dtype=object).ravel()), errors="coerce"
    )
    out = {round(float(v), 9) for v in values.dropna()}
    for d in getattr(table, "dims", []):  # codes and times may be plotted too
        if d in table.cells.columns:
            out |= {
                round(float(v), 9) for v in pd.to_numeric(table.cells[d], errors="coerce").dropna()
            }
    for c in table.cells.columns:
        if c not in ("state",):
            vals = pd.to_numeric(table.cells[c], errors="coerce")
            shown = table.cells["state"].isin(["published", "rounded", "recomputed", "widened"])
            out |= {round(float(v), 9) for v in vals[shown].dropna()}
    return out


def attach(fig: Any, table: Any) -> Any:
    """Mark ``fig`` as drawn from the checked ``table``: refused when the figure plots a
    number the table does not publish (a suppressed cell, a raw count)."""
    if not hasattr(table, "record") or not hasattr(table, "published"):
        raise BadInputError("attach() takes a checked table", HOW_TO)
    allowed = _published_numbers(table)
    extra = [v for v in _numbers(fig) if v not in allowed]
    if extra:
        raise DisclosureError(
            f"the figure plots {len(extra)} numbers its checked table does not publish",
            "Draw it from table.published only",
        )
    fig.update_layout(
        meta={
            _META: {
                "check": table.record.summary(),
                "table_sha256": _table_digest(table),
                "numbers_sha256": _digest(_numbers(fig)),
            }
        }
    )
    return fig


def figure(table: Any, *, title: str | None = None, margins: bool = False) -> Any:
    """A plotly figure of a checked table's published values (bars for frequency and
    cross tables, lines for survival curves, points for percentiles). Totals are left
    out unless ``margins``."""
    import plotly.graph_objects as go

    if not hasattr(table, "record") or not hasattr(table, "published"):
        raise BadInputError("figure() takes a checked table", HOW_TO)
    fig = go.Figure()
    pub = table.published
    kind = table.kind
    if pub.empty or (kind == "survival" and table.statistic not in pub.columns):
        # every cell suppressed: an empty figure that says so (still checked, and it
        # still plots exactly what was published: nothing)
        fig.add_annotation(
            text="nothing to show: every cell was suppressed by the disclosure rules",
            showarrow=False,
            xref="paper",
            yref="paper",
            x=0.5,
            y=0.5,
        )
    elif kind in ("crosstab", "magnitude") and pub.ndim == 2 and len(table.dims) == 2:
        rows = [r for r in pub.index if margins or r != TOTAL]
        for col in pub.columns:
            if col == TOTAL and not margins:
                continue
            y = pub.loc[rows, col].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
            fig.add_bar(name=str(col), x=[str(r) for r in rows], y=y)
        fig.update_layout(barmode="group", xaxis_title=table.dims[0])
    elif kind == "survival":
        stat = table.statistic
        groups = [d for d in table.dims if d != "time"]
        keyed = pub.groupby(groups, sort=False) if groups else [((TOTAL,), pub)]
        for key, part in keyed:
            name = " ".join(map(str, key if isinstance(key, tuple) else (key,)))
            fig.add_scatter(name=name, x=part["time"], y=part[stat], mode="lines", line_shape="hv")
        fig.update_layout(xaxis_title="time", yaxis_title="survival")
    else:
        stat = table.statistic
        if stat not in pub.columns:
            pub = pub.reset_index()
        label_cols = [c for c in pub.columns if c != stat]
        if not margins and label_cols:
            keep = ~(pub[label_cols].astype(str) == TOTAL).any(axis=1)
            pub = pub[keep]
        x = pub[label_cols].astype(str).agg(" ".join, axis=1) if label_cols else pub.index
        y = pd.to_numeric(pub[stat], errors="coerce").to_numpy(dtype=float)
        fig.add_bar(x=list(x), y=y, name=stat)
    if title:
        fig.update_layout(title=title)
    return attach(fig, table)


def is_checked(fig: Any) -> bool:
    """Whether ``fig`` carries a check record, not failed, and still plots exactly the
    numbers it was checked with."""
    meta = getattr(getattr(fig, "layout", None), "meta", None)
    if not isinstance(meta, dict) or _META not in meta:
        return False
    info = meta[_META]
    try:
        status = info["check"]["status"]
        digest = info["numbers_sha256"]
    except (KeyError, TypeError):
        return False
    return status != "fail" and digest == _digest(_numbers(fig))


def require_checked(obj: Any) -> None:
    """Refuse (``DisclosureError``) a figure that was not made from a checked table."""
    if is_checked(obj):
        return
    raise DisclosureError(
        "this figure was not made from a checked table (or was changed since)", HOW_TO
    )
