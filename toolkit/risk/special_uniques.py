"""Optional SUDA scores (Special Uniques Detection Algorithm), from the ``suda`` package.

Install it with ``pip install mikrodata[suda]`` (``suda`` 0.2.2 works beside pandas 3).
Scores are computed on one cross-section: one row per person (the person's last row in
the latest year of the register), the quasi-identifiers only. What ``suda`` 0.2.2
computes, read from its source: for every set of up to ``max_msu`` quasi-identifiers
whose combination is unique to a record, the record scores ``(ATT - size)!`` (ATT the
number of quasi-identifiers), summed. It does not check that a unique set is *minimal*
(so a record unique on one variable also scores for every pair containing it), and its
DIS-SUDA column is always 0 in that release, so it is not reported here.

Only summaries leave this module: how many persons have a score above 0, and the
distribution of scores as counts; never a row. ``mikrodata extract risk --suda`` adds
them to the report.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from mikrodata.toolkit.errors import BadInputError
from mikrodata.toolkit.extract.source import quote

from .tables import RiskTable

__all__ = ["suda_scores", "suda_summary"]


def _suda():
    try:
        import suda
    except ImportError:
        raise BadInputError(
            "SUDA scores need the optional package suda", "pip install 'mikrodata[suda]'"
        ) from None
    return suda


def suda_scores(frame: pd.DataFrame, columns: list[str], max_msu: int = 2) -> pd.Series:
    """The ``suda`` package's score for every row of ``frame`` over ``columns``."""
    suda = _suda()
    data = frame[columns].astype("string").fillna("<NA>").astype(object).copy()
    result = suda.suda(data, max_msu=max_msu, columns=columns)
    return result["suda"].reindex(range(len(frame)), fill_value=0).astype(float)


def suda_summary(t: RiskTable, max_msu: int = 2) -> dict[str, Any]:
    """SUDA on ``t``'s latest cross-section: counts only."""
    qis = list(t.roles.quasi_identifiers)
    if not qis:
        return {"persons": 0, "persons_with_score": 0, "scores": {}}
    year = quote(t.roles.year) if t.roles.year else "1"
    cols = ", ".join(quote(c) for c in qis)
    frame = t.con.execute(
        f"SELECT {cols} FROM (SELECT *, row_number() OVER (PARTITION BY {t.person_sql()} "
        f"ORDER BY _row_id DESC) AS _last FROM {t.relation} "
        f"WHERE {year} = (SELECT max({year}) FROM {t.relation})) WHERE _last = 1"
    ).df()
    scores = suda_scores(frame.reset_index(drop=True), qis, max_msu)
    counts = scores[scores > 0].value_counts().sort_index()
    return {
        "persons": int(len(scores)),
        "persons_with_score": int((scores > 0).sum()),
        "max_msu": max_msu,
        "scores": {f"{s:g}": int(n) for s, n in counts.items()},
    }
