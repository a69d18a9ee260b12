"""Survival of spells: time to exit and time to re-entry, Kaplan-Meier and log-rank
through statsmodels (``SurvfuncRight``, ``survdiff``), censoring respected.

::

    d = spell_durations(spells)                    # one row per spell: duration, event
    km = kaplan_meier(d, by="kon")                 # the curve with numbers at risk
    log_rank(d, group="kon")                       # statistic, df, p_value

* **Time to exit** (:func:`spell_durations`): ``duration`` = the spell's ``months``;
  ``event`` = the spell ended inside the window (not ``right_censored``). Spells
  already running when the window opened (``left_censored``) are left out by default:
  their true start is unknown.
* **Time to re-entry** (:func:`reentry_durations`): for every spell whose end was
  observed and was not a death or an emigration, ``duration`` = ``months_to_reentry``
  (empty months until the next spell, or until the end of follow-up) and ``event`` =
  ``reentered``.
* **Kaplan-Meier table** (:func:`kaplan_meier`): one row per group and event time with
  ``n_at_risk``, ``n_events``, ``n_censored`` (censored after this time and before the
  next one), ``survival``, its standard error (Greenwood, statsmodels) and a pointwise
  95% interval on the log(-log) scale, plus the distinct units (persons or households)
  behind the risk set and the events (``n_units_at_risk``, ``n_units_events``) for the
  disclosure checks.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from statsmodels.duration.survfunc import SurvfuncRight, survdiff

from mikrodata.toolkit.errors import BadInputError

from .columns import HOUSEHOLD, PERSON, require

__all__ = [
    "kaplan_meier",
    "log_rank",
    "numbers_at_risk",
    "reentry_durations",
    "spell_durations",
]

Z95 = 1.959963984540054


def _unit_column(frame: pd.DataFrame) -> str | None:
    return next((c for c in (PERSON, HOUSEHOLD) if c in frame.columns), None)


def spell_durations(
    spells: pd.DataFrame, by=None, exclude_left_censored: bool = True
) -> pd.DataFrame:
    """Time to exit of each spell: the unit, ``duration`` (months), ``event`` and the
    ``by`` columns of ``spells``."""
    require(spells.columns, ["months", "right_censored", "left_censored"], "spells frame")
    keep = spells
    if exclude_left_censored:
        keep = spells[~spells["left_censored"].astype(bool)]
    return _durations(keep, keep["months"], ~keep["right_censored"].astype(bool), by)


def reentry_durations(spells: pd.DataFrame, by=None) -> pd.DataFrame:
    """Time to re-entry after each observed exit (not death or emigration)."""
    require(spells.columns, ["months_to_reentry", "reentered"], "spells frame")
    keep = spells[spells["months_to_reentry"].notna()]
    return _durations(keep, keep["months_to_reentry"], keep["reentered"].astype(bool), by)


def _durations(frame, duration, event, by) -> pd.DataFrame:
    unit = _unit_column(frame)
    cols = [unit] if unit else []
    cols += [c for c in _by(by) if c not in cols]
    require(frame.columns, cols, "spells frame")
    out = frame[cols].reset_index(drop=True)
    out["duration"] = np.asarray(duration, dtype=np.float64)
    out["event"] = np.asarray(event, dtype=bool)
    return out


def _by(by) -> list[str]:
    if by is None:
        return []
    return [by] if isinstance(by, str) else list(by)


def _groups(data: pd.DataFrame, by):
    keys = _by(by)
    if not keys:
        yield {}, data
        return
    for values, part in data.groupby(keys, sort=True, observed=True, dropna=False):
        values = values if isinstance(values, tuple) else (values,)
        yield dict(zip(keys, values, strict=True)), part


def _arrays(part: pd.DataFrame, duration: str, event: str):
    t = np.asarray(part[duration], dtype=np.float64)
    e = np.asarray(part[event], dtype=bool)
    if np.isnan(t).any() or (t < 0).any():
        raise BadInputError(
            f"column {duration!r} has missing or negative durations",
            "Drop those rows or use spell_durations()/reentry_durations()",
        )
    return t, e


def kaplan_meier(
    data: pd.DataFrame,
    duration: str = "duration",
    event: str = "event",
    by=None,
    unit: str | None = None,
) -> pd.DataFrame:
    """The Kaplan-Meier estimate per group (statsmodels ``SurvfuncRight``) as a table,
    one row per group and event time (see the module docstring for the columns).

    >>> d = pd.DataFrame({"duration": [1, 2, 2, 3], "event": [True, True, False, True]})
    >>> kaplan_meier(d)["survival"].round(3).tolist()
    [0.75, 0.5, 0.0]
    """
    require(data.columns, [duration, event, *_by(by)], "durations frame")
    unit = unit or _unit_column(data)
    rows = []
    for labels, part in _groups(data, by):
        t, e = _arrays(part, duration, event)
        if not e.any():
            continue
        sf = SurvfuncRight(t, e.astype(np.float64))
        times = np.asarray(sf.surv_times, dtype=np.float64)
        s = np.asarray(sf.surv_prob)
        se = np.asarray(sf.surv_prob_se)
        # Pointwise 95% interval on the log(-log) scale (stays inside 0..1).
        with np.errstate(divide="ignore", invalid="ignore"):
            theta = np.log(-np.log(s))
            width = Z95 * se / np.abs(s * np.log(s))
            lower = np.exp(-np.exp(theta + width))
            upper = np.exp(-np.exp(theta - width))
        nxt = np.r_[times[1:], np.inf]
        order = np.sort(t[~e])
        censored = np.searchsorted(order, nxt, side="left") - np.searchsorted(
            order, times, side="left"
        )
        table = pd.DataFrame(
            {
                **{k: [v] * len(times) for k, v in labels.items()},
                "time": times,
                "n_at_risk": np.asarray(sf.n_risk, dtype=np.int64),
                "n_events": np.asarray(sf.n_events, dtype=np.int64),
                "n_censored": censored.astype(np.int64),
                "survival": s,
                "std_error": se,
                "ci_lower": lower,
                "ci_upper": upper,
            }
        )
        if unit is not None and unit in part.columns:
            table["n_units_at_risk"], table["n_units_events"] = _distinct_units(
                part[unit].to_numpy(), t, e, times
            )
        rows.append(table)
    if not rows:
        return pd.DataFrame(columns=[*_by(by), "time", "n_at_risk", "n_events", "survival"])
    return pd.concat(rows, ignore_index=True)


def _distinct_units(units, t, e, times):
    """Distinct units with a spell at risk at each time, and with an event at it."""
    codes, _ = pd.factorize(units)
    longest = np.full(codes.max() + 1, -np.inf)
    np.maximum.at(longest, codes, t)
    longest.sort()
    at_risk = len(longest) - np.searchsorted(longest, times, side="left")
    ev = pd.DataFrame({"u": codes[e], "t": t[e]}).drop_duplicates()
    per_time = ev.groupby("t")["u"].size()
    events = per_time.reindex(times, fill_value=0).to_numpy()
    return at_risk.astype(np.int64), events.astype(np.int64)


def numbers_at_risk(data: pd.DataFrame, times, duration: str = "duration", by=None) -> pd.DataFrame:
    """Spells still at risk (duration >= t) at each of ``times``, per group: the table
    printed under a survival plot."""
    require(data.columns, [duration, *_by(by)], "durations frame")
    times = np.asarray(list(times), dtype=np.float64)
    out = []
    for labels, part in _groups(data, by):
        t = np.sort(np.asarray(part[duration], dtype=np.float64))
        n = len(t) - np.searchsorted(t, times, side="left")
        out.append(
            pd.DataFrame(
                {
                    **{k: [v] * len(times) for k, v in labels.items()},
                    "time": times,
                    "n_at_risk": n.astype(np.int64),
                }
            )
        )
    return pd.concat(out, ignore_index=True)


def log_rank(
    data: pd.DataFrame, group: str, duration: str = "duration", event: str = "event"
) -> pd.DataFrame:
    """The log-rank test of equal survival across ``group`` (statsmodels ``survdiff``):
    one row with ``statistic``, ``df``, ``p_value`` and the group and event counts."""
    require(data.columns, [duration, event, group], "durations frame")
    t, e = _arrays(data, duration, event)
    g = data[group].astype(str).to_numpy()
    n_groups = len(set(g))
    if n_groups < 2:
        raise BadInputError(f"column {group!r} has one group only", "Compare two or more groups")
    chisq, p = survdiff(t, e.astype(np.float64), g)
    return pd.DataFrame(
        {
            "statistic": [float(chisq)],
            "df": [n_groups - 1],
            "p_value": [float(p)],
            "n": [len(t)],
            "n_events": [int(e.sum())],
            "groups": [n_groups],
        }
    )
