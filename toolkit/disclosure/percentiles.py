"""Minima, maxima and percentiles, released only where enough units lie beyond them.

A minimum is one unit's value; so is a maximum, and often a percentile. A value ``v`` may
be released when at least ``min_count`` distinct units have a value below it and at least
``min_count`` above it. One that breaks this is **widened** (moved inwards to the nearest
value of the data that keeps ``min_count`` units on each side, so a "minimum" becomes a
value at most ``min_count`` units lie under; the record says so) or, where no value
qualifies or the rules do not widen (``opensafely`` redacts minima and maxima),
**refused** (missing). A unit's values are all its rows (months, spells): it counts once
on a side if any of them lies there.

Example::

    t = disclosure.percentiles(frame, "belopp_forsorjningsstod", by="kon", rules="acro")
    t.published   # kon, statistic (min, p25, p50, p75, max), value, state
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from mikrodata.toolkit.disclosure.record import CheckRecord
from mikrodata.toolkit.disclosure.rules import Rules
from mikrodata.toolkit.disclosure.table import (
    CheckedTable,
    by_group,
    names_of,
    no_mitigation_error,
    population,
    resolve_rules,
)
from mikrodata.toolkit.errors import BadInputError

__all__ = ["percentiles"]


def _label(q: float) -> str:
    return "min" if q == 0 else "max" if q == 1 else f"p{100 * q:g}"


def percentiles(
    frame: pd.DataFrame,
    values: str,
    q: Sequence[float] = (0.0, 0.25, 0.5, 0.75, 1.0),
    *,
    by: str | Sequence[str] | None = None,
    unit: str | None = None,
    rules: Rules | str | None = None,
    mitigation: str | None = None,
    widen: bool | None = None,
) -> CheckedTable:
    """Checked quantiles ``q`` (0 is the minimum, 1 the maximum) of ``values``, overall
    and by ``by``. ``widen`` (default: unless the rules are ``opensafely``) moves a value
    inwards instead of refusing it."""
    rules = resolve_rules(rules, unit)
    mitigation = mitigation or rules.mitigation
    widen = rules.profile_name != "opensafely" if widen is None else widen
    groups = names_of(by) if by is not None else []
    for c in [values, rules.unit, *groups]:
        if c not in frame.columns:
            raise BadInputError(f"the table has no column {c!r}", "Name one of its columns")
    if not pd.api.types.is_numeric_dtype(frame[values]):
        raise BadInputError(f"column {values!r} is not numeric", "Give a numeric column")
    qs = [float(x) for x in q]
    if any(not 0 <= x <= 1 for x in qs):
        raise BadInputError("quantiles must lie between 0 and 1", "For example q=[0.5]")
    data = frame[[*groups, rules.unit, values]].dropna(subset=[values])
    record = CheckRecord(kind="percentiles", rules=rules.as_dict(), unit=rules.unit)
    rows: list[dict[str, Any]] = []
    for cell, part in by_group(data, groups):
        per_unit = part.groupby(rules.unit, observed=True)[values].agg(["min", "max"])
        lows = np.sort(per_unit["min"].to_numpy(dtype=float))
        highs = np.sort(per_unit["max"].to_numpy(dtype=float))
        candidates = np.unique(part[values].to_numpy(dtype=float))
        below = np.searchsorted(lows, candidates, side="left")
        above = len(highs) - np.searchsorted(highs, candidates, side="right")
        ok = (below >= rules.min_count) & (above >= rules.min_count)
        allowed = candidates[ok]
        exact = (
            np.quantile(part[values].to_numpy(dtype=float), qs) if len(part) else [np.nan] * len(qs)
        )
        for qq, v in zip(qs, exact, strict=True):
            stat = _label(qq)
            n_below = int(np.searchsorted(lows, v, side="left"))
            n_above = int(len(highs) - np.searchsorted(highs, v, side="right"))
            state, shown = "published", float(v)
            if n_below < rules.min_count or n_above < rules.min_count:
                where = {**cell, "statistic": stat}
                if mitigation == "none":
                    record.hit("units_beyond", where, "pending")
                    raise no_mitigation_error(record)
                if widen and allowed.size:
                    shown = float(np.clip(v, allowed[0], allowed[-1]))
                    state = "widened"
                    record.hit(
                        "units_beyond",
                        where,
                        "widened",
                        f"moved inwards so at least {rules.min_count} units lie on each side",
                    )
                else:
                    state, shown = "refused", np.nan
                    record.hit(
                        "units_beyond",
                        where,
                        "refused",
                        f"fewer than {rules.min_count} units on one side",
                    )
            rows.append({**cell, "statistic": stat, "value": shown, "state": state})
    cells = pd.DataFrame(rows, columns=[*groups, "statistic", "value", "state"])
    cells["value"] = cells["value"].astype("Float64")
    published = cells[[*groups, "statistic", "value"]].copy()
    record.properties |= {"values": values, "quantiles": qs, "by": groups}
    return CheckedTable(
        kind="percentiles",
        published=published,
        cells=cells,
        record=record,
        dims=[*groups, "statistic"],
        statistic="value",
        population=population(frame, rules.unit),
    )
