"""Regression results: released only with enough residual degrees of freedom.

A model fitted to few observations (or with as many parameters as observations) can
give back individual values. The rule: the residual degrees of freedom (observations
minus estimated parameters, statsmodels' ``df_resid``) are at least ``min_dof`` (10 for
``acro``). Where the rules set no such limit (``opensafely``), the result is for review,
with its degrees of freedom and number of observations stated, as OpenSAFELY's output
checkers ask.

Example::

    import statsmodels.formula.api as smf
    fit = smf.ols("belopp ~ alder", data=frame).fit()
    t = disclosure.regression(fit, rules="acro")
    t.published    # coefficient, std_error, t/z, p_value, ci_lower, ci_upper
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from mikrodata.toolkit.disclosure.record import CheckRecord
from mikrodata.toolkit.disclosure.rules import Rules
from mikrodata.toolkit.disclosure.table import CheckedTable, resolve_rules
from mikrodata.toolkit.errors import BadInputError, DisclosureError

__all__ = ["regression"]


def regression(results: Any, *, rules: Rules | str | None = None) -> CheckedTable:
    """Check a fitted statsmodels model (its results object)."""
    rules = resolve_rules(rules)
    for attr in ("params", "df_resid", "nobs"):
        if not hasattr(results, attr):
            raise BadInputError(
                "regression() takes a fitted statsmodels result", "Pass model.fit()'s result"
            )
    dof = float(results.df_resid)
    record = CheckRecord(kind="regression", rules=rules.as_dict(), unit=rules.unit)
    record.properties |= {
        "df_resid": dof,
        "nobs": float(results.nobs),
        "model": type(getattr(results, "model", results)).__name__,
    }
    if rules.min_dof is None:
        record.escalate(
            "review",
            f"residual degrees of freedom {dof:g} and {float(results.nobs):g} observations: "
            "the output checker judges them (the rules set no minimum)",
        )
    elif dof < rules.min_dof:
        reason = f"residual degrees of freedom {dof:g} are fewer than {rules.min_dof}"
        record.hit("min_dof", {}, "refused", reason)
        if rules.mitigation == "none":
            raise DisclosureError(
                f"the model cannot be released: {reason}",
                "Fit it to more observations or with fewer parameters",
            )
        record.escalate("fail", reason)
    params = pd.Series(np.asarray(results.params), index=_names(results))
    ci = np.asarray(results.conf_int())
    published = pd.DataFrame(
        {
            "coefficient": params.to_numpy(),
            "std_error": np.asarray(results.bse),
            "statistic": np.asarray(results.tvalues),
            "p_value": np.asarray(results.pvalues),
            "ci_lower": ci[:, 0],
            "ci_upper": ci[:, 1],
        },
        index=pd.Index(params.index, name="term"),
    )
    if record.status == "fail":
        published.loc[:, :] = np.nan
    cells = published.reset_index()
    cells["state"] = "refused" if record.status == "fail" else "published"
    return CheckedTable(
        kind="regression",
        published=published,
        cells=cells,
        record=record,
        dims=["term"],
        statistic="coefficient",
    )


def _names(results: Any) -> list[str]:
    names = getattr(getattr(results, "model", None), "exog_names", None)
    if names is None or len(names) != len(np.asarray(results.params)):
        names = [f"x{i}" for i in range(len(np.asarray(results.params)))]
    return [str(n) for n in names]
