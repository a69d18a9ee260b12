"""Identifier checks and masking for the quality suites.

The suites judge personnummer with the project's parser,
:func:`pseudonymisation.parse_identifiers` (vectorised; kind ``invalid`` with a reason
``length``, ``characters``, ``date`` or ``check_digit``). Pseudonymised extracts are
checked against :data:`pseudonymisation.PSEUDONYM_PATTERN`.

Reviewers must never see a raw identifier, so every example of an identifier column
that leaves this package goes through :func:`mask_identifier`: the shape of the value
(``#`` for a digit, ``A`` for a letter, ``_`` for white space, separators kept) and no
digit of it. The shape is enough to tell a missing century, a separator variant or
stray white space apart.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from mikrodata.pseudonymisation import PSEUDONYM_PATTERN, parse_identifiers

__all__ = [
    "identifier_reasons",
    "mask_identifier",
    "pseudonym_pattern",
]

_DIGIT = re.compile(r"[0-9]")
_LETTER = re.compile(r"[^\W\d_]")
_SPACE = re.compile(r"\s")


def mask_identifier(value: Any) -> str | None:
    """The shape of an identifier value with every digit and letter hidden."""
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return None
    text = str(value)
    text = _DIGIT.sub("#", text)
    text = _LETTER.sub("A", text)
    return _SPACE.sub("_", text)


def identifier_reasons(values: pd.Series, reference_year: int | None = None) -> pd.Series:
    """Per value: ``""`` when the identifier is valid as given and already in the one
    normalised form, else a short reason.

    Reasons: the parser's ``length``, ``characters``, ``date``, ``check_digit`` for
    invalid values; ``not_normalised`` for a valid identifier written in another form
    (no century, a separator, white space). Missing values get ``""``: not-null is a
    check of its own. ``reference_year``: the year the data describe; the century of a
    number without one, and the latest valid birth date, are judged at its end.
    """
    reference = dt.date(reference_year, 12, 31) if reference_year is not None else None

    present = values.notna().to_numpy()
    reasons = np.full(len(values), "", dtype=object)
    if not present.any():
        return pd.Series(reasons, index=values.index, dtype=object)
    given = values[present].astype(str)
    parsed = parse_identifiers(given.reset_index(drop=True), reference_date=reference)
    kind = parsed["kind"].astype(str).to_numpy()
    reason = parsed["reason"].astype(object).fillna("invalid").to_numpy(dtype=object)
    # Compare as Arrow strings: an object-array comparison is a Python loop.
    normalised = pa.array(parsed["normalised"].astype(object).fillna(""), pa.string())
    same = pc.equal(normalised, pa.array(given.to_numpy(dtype=object), pa.string()))
    same = same.fill_null(False).to_numpy(zero_copy_only=False)
    out = np.where(kind == "invalid", reason, np.where(same, "", "not_normalised"))
    reasons[present] = out
    return pd.Series(reasons, index=values.index, dtype=object)


def pseudonym_pattern() -> str:
    """The regular expression every project pseudonym matches."""
    return PSEUDONYM_PATTERN
