"""Cross-column rules: what one variable says about others in the same row.

The catalogue holds each variable's codes and labels; it cannot say that
hushållstyp 3 (single man without children) implies one adult and no children. These
rules do, and nothing else: code lists and validity years still come from the
catalogue, and :func:`check_rule_codes` fails when a rule names a code the catalogue
does not know or the catalogue has a code no rule covers, so the two cannot drift.

A rule is a vectorised function of the frame's columns returning True where a row
agrees (rows with a missing value in any rule column count as agreeing: missingness
is judged by the not-null checks).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from mikrodata.toolkit.errors import CatalogueError

__all__ = ["HOUSEHOLD_COMPOSITION", "RULES", "Rule", "check_rule_codes"]

# hushallstyp code -> (adults, children): adults an exact count or None (any);
# children True (at least one), False (none) or None (any). Label meanings from the
# variable list (DOMAIN.md 1.2): 1 only children; 3/5 single without children; 4/6 single
# with children; 7/8 cohabiting couple without/with children; 9 unknown.
HOUSEHOLD_COMPOSITION: dict[str, tuple[int | None, bool | None]] = {
    "1": (0, True),
    "3": (1, False),
    "4": (1, True),
    "5": (1, False),
    "6": (1, True),
    "7": (2, False),
    "8": (2, True),
    "9": (None, None),
}


def _household_composition(frame: pd.DataFrame) -> pd.Series:
    # factorize once: comparing each row to each code would be 8 passes over strings
    codes, uniques = pd.factorize(frame["hushallstyp"], use_na_sentinel=True)
    adults = pd.to_numeric(frame["antal_vuxna"], errors="coerce").to_numpy(dtype=float)
    children = pd.to_numeric(frame["antal_barn"], errors="coerce").to_numpy(dtype=float)
    rule = [HOUSEHOLD_COMPOSITION.get(str(u), (None, None)) for u in uniques]
    want_adults = np.array([np.nan if a is None else a for a, _ in rule] + [np.nan])[codes]
    want_kids = np.array([{True: 1, False: 0, None: -1}[c] for _, c in rule] + [-1])[codes]
    ok = np.isnan(want_adults) | (adults == want_adults)
    ok &= (
        (want_kids == -1)
        | ((want_kids == 1) & (children > 0))
        | ((want_kids == 0) & (children == 0))
    )
    missing = (codes < 0) | np.isnan(adults) | np.isnan(children)
    return pd.Series(ok | missing, index=frame.index)


@dataclass(frozen=True)
class Rule:
    """A named cross-column rule over ``columns``; ``codes`` names the coded variable
    whose catalogue codes the rule must cover."""

    name: str
    description: str
    columns: tuple[str, ...]
    check: Callable[[pd.DataFrame], pd.Series]
    codes: tuple[str, dict[str, object]] | None = None


RULES: dict[str, Rule] = {
    "household_composition": Rule(
        name="household_composition",
        description="hushallstyp agrees with antal_vuxna and antal_barn",
        columns=("hushallstyp", "antal_vuxna", "antal_barn"),
        check=_household_composition,
        codes=("hushallstyp", HOUSEHOLD_COMPOSITION),  # type: ignore[arg-type]
    ),
}


def check_rule_codes(register, rule: Rule) -> None:
    """Raise :class:`CatalogueError` when ``rule`` and the catalogue disagree on codes."""
    if rule.codes is None:
        return
    variable, table = rule.codes
    var = register.variable(variable)
    known = {c.code for c in var.codes.codes} if var.codes is not None else set()
    if set(table) != known:
        raise CatalogueError(
            f"rule {rule.name!r} covers codes {sorted(table)} of {variable!r} but the "
            f"catalogue has {sorted(known)}",
            "Update quality/rules.py to the catalogue's code list",
        )
