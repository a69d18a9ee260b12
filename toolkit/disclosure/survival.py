"""Survival curves (Kaplan-Meier), with the risk sets and steps the rules allow.

A Kaplan-Meier curve shows, at every step, how many units left (``d``) out of how many
were at risk (``n``): a step of one is one person. The two profiles differ:

- ``acro`` (``survival_rounding="base"``): the estimate comes from statsmodels'
  ``SurvfuncRight``; event times are **coarsened** into steps of at least ``min_count``
  events each (the curve is shown at the end of each step, so no step reveals fewer),
  the curve **stops** before the first step whose risk set has fewer than ``min_count``
  units, and the numbers at risk are **rounded** to the rounding base.
- ``opensafely`` (``survival_rounding="midpoint6"``): at each time, the cumulative
  numbers of events and of censorings are rounded with midpoint-6, the numbers at risk
  and the estimate are computed again from the rounded counts (columns ``*_midpoint6``
  and ``*_midpoint6_derived``), and times where the rounded risk set is below
  ``min_count`` are cut.

Example::

    t = disclosure.survival(spells, "months", "ended", by="kon", rules="acro")
    t.published   # kon, time, n_at_risk, events, survival
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from mikrodata.toolkit.disclosure.record import CheckRecord
from mikrodata.toolkit.disclosure.rounding import midpoint6, round_to_base
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

__all__ = ["survival"]


def _km_base(
    time: np.ndarray,
    event: np.ndarray,
    rules: Rules,
    cell: dict,
    record: CheckRecord,
    mitigation: str,
) -> list[dict[str, Any]]:
    from statsmodels.duration.survfunc import SurvfuncRight

    sf = SurvfuncRight(time, event)
    t = np.asarray(sf.surv_times, dtype=float)
    s = np.asarray(sf.surv_prob, dtype=float)
    n = np.asarray(sf.n_risk, dtype=float)
    d = np.asarray(sf.n_events, dtype=float)
    small = (d > 0) & (d < rules.min_count) | (n < rules.min_count)
    if small.any() and mitigation == "none":
        record.hit("min_count", cell, "pending")
        raise no_mitigation_error(record)
    rows = []
    acc = 0.0
    start_n = None
    for ti, si, ni, di in zip(t, s, n, d, strict=True):
        if start_n is None:
            start_n = ni
        if start_n < rules.min_count:
            record.hit(
                "min_count",
                {**cell, "time": f"{ti:g}"},
                "suppressed",
                f"risk set below {rules.min_count}: the curve stops",
            )
            break
        acc += di
        if acc >= rules.min_count:
            rows.append(
                {
                    **cell,
                    "time": float(ti),
                    "n_at_risk": float(start_n),
                    "events": acc,
                    "survival": float(si),
                }
            )
            acc, start_n = 0.0, None
    coarsened = int((d > 0).sum()) - len(rows)
    if coarsened > 0:
        record.hit(
            "min_count",
            cell,
            "widened",
            f"event times coarsened into steps of at least {rules.min_count} events",
        )
    for r in rows:
        r["n_at_risk"] = float(round_to_base(np.array([r["n_at_risk"]]), rules.rounding_base)[0])
        r["events"] = float(round_to_base(np.array([r["events"]]), rules.rounding_base)[0])
    if rows:
        record.hit("rounding", cell, "rounded", f"numbers at risk rounded to {rules.rounding_base}")
    return rows


def _km_midpoint6(
    time: np.ndarray,
    event: np.ndarray,
    rules: Rules,
    cell: dict,
    record: CheckRecord,
    times: np.ndarray | None,
) -> list[dict[str, Any]]:
    grid = np.unique(time) if times is None else np.asarray(times, dtype=float)
    order = np.argsort(time)
    t_sorted, e_sorted = time[order], event[order]
    cum_events = np.array([((t_sorted <= g) & e_sorted).sum() for g in grid], dtype=float)
    cum_cens = np.array([((t_sorted <= g) & ~e_sorted).sum() for g in grid], dtype=float)
    total = midpoint6(np.array([len(time)]))[0]
    ev_r, ce_r = midpoint6(cum_events), midpoint6(cum_cens)
    prev_ev = np.concatenate([[0.0], ev_r[:-1]])
    prev_ce = np.concatenate([[0.0], ce_r[:-1]])
    at_risk = np.maximum(total - prev_ev - prev_ce, 0.0)
    d = np.maximum(ev_r - prev_ev, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        surv = np.cumprod(np.where(at_risk > 0, 1 - d / at_risk, 1.0))
    rows = []
    for g, n, e, c, s in zip(grid, at_risk, ev_r, ce_r, surv, strict=True):
        if n < rules.min_count:
            record.hit(
                "min_count",
                {**cell, "time": f"{g:g}"},
                "suppressed",
                f"rounded risk set below {rules.min_count}: the curve stops",
            )
            break
        rows.append(
            {
                **cell,
                "time": float(g),
                "n_at_risk_midpoint6_derived": float(n),
                "events_midpoint6": float(e),
                "censored_midpoint6": float(c),
                "survival_midpoint6_derived": float(s),
            }
        )
    if rows:
        record.hit("rounding", cell, "rounded", "midpoint-6 rounding of cumulative counts")
    return rows


def survival(
    frame: pd.DataFrame,
    duration: str,
    event: str,
    *,
    by: str | Sequence[str] | None = None,
    unit: str | None = None,
    rules: Rules | str | None = None,
    mitigation: str | None = None,
    times: Sequence[float] | None = None,
) -> CheckedTable:
    """A checked Kaplan-Meier curve of ``duration`` with ``event`` (true where the spell
    ended, false where censored), overall and by ``by``. One row per spell; risk sets
    count distinct units. ``times`` (``opensafely``): the times to report."""
    rules = resolve_rules(rules, unit)
    mitigation = mitigation or rules.mitigation
    groups = names_of(by) if by is not None else []
    for c in [duration, event, rules.unit, *groups]:
        if c not in frame.columns:
            raise BadInputError(f"the table has no column {c!r}", "Name one of its columns")
    data = frame[[*groups, rules.unit, duration, event]].dropna()
    if (data[duration] < 0).any():
        raise BadInputError(f"column {duration!r} has negative durations", "Durations are >= 0")
    if data.duplicated(subset=[rules.unit, *groups]).any():
        raise BadInputError(
            f"a unit has more than one row: risk sets would count rows, not {rules.unit}",
            "Give one row per unit (for example each person's first spell)",
        )
    record = CheckRecord(kind="survival", rules=rules.as_dict(), unit=rules.unit)
    rows: list[dict[str, Any]] = []
    for cell, part in by_group(data, groups):
        t = part[duration].to_numpy(dtype=float)
        e = part[event].astype(bool).to_numpy()
        if len(t) < rules.min_count:
            if mitigation == "none":
                record.hit("min_count", cell, "pending")
                raise no_mitigation_error(record)
            record.hit("min_count", cell, "suppressed", f"fewer than {rules.min_count} units")
            continue
        if rules.survival_rounding == "midpoint6":
            rows += _km_midpoint6(
                t, e, rules, cell, record, None if times is None else np.asarray(times)
            )
        else:
            rows += _km_base(t, e, rules, cell, record, mitigation)
    published = pd.DataFrame(rows)
    if published.empty:
        published = pd.DataFrame(columns=[*groups, "time"])
    record.properties |= {"duration": duration, "event": event, "by": groups}
    cells = published.copy()
    cells["state"] = "published"
    return CheckedTable(
        kind="survival",
        published=published,
        cells=cells,
        record=record,
        dims=[*groups, "time"],
        statistic="survival_midpoint6_derived"
        if rules.survival_rounding == "midpoint6"
        else "survival",
        population=population(frame, rules.unit),
    )
