"""Which check catches each kind of fault the synthetic generator injects, and what no
check can catch, with the reason.

Keyed by the generator's fault kinds (``toolkit.synthetic.faults.FAULT_KINDS``; a test
holds the two together, so a new kind of fault needs an entry here). The reviewer's
documentation (docs/quality.md) prints this table.
"""

from __future__ import annotations

__all__ = ["DETECTED_BY", "UNDETECTABLE"]

# fault kind -> (the checks that flag the faulty row, their severity)
DETECTED_BY: dict[str, tuple[tuple[str, ...], str]] = {
    "check_digit": (("identifier_valid",), "critical"),
    "no_century": (("identifier_form",), "warning"),
    "separator_variant": (("identifier_form",), "warning"),
    "whitespace": (("identifier_form",), "warning"),
    # null: not_null; an empty string: not a valid identifier
    "missing_identifier": (("not_null", "identifier_valid"), "critical"),
    "duplicate_row": (("unique_key",), "critical"),
    "negative_amount": (("range",), "critical"),
    "absurd_amount": (("range",), "critical"),
    "code_outside_years": (("value_set",), "critical"),
    "undocumented_code": (("value_set",), "critical"),
    "missing_month": (("missing_month",), "warning"),
}

# fault kind -> the cases no check can flag, and why
UNDETECTABLE: dict[str, str] = {
    "missing_month": (
        "A month left out at the start or the end of a spell leaves no hole: the data "
        "look like a spell one month shorter; holes are looked for within a year, so a "
        "January or December left out leaves none either. Before 2017 (no avslutsorsak) "
        "a one-month hole cannot be told from a real gap between two spells: such holes are listed "
        "(month_holes, info), not flagged. A kommun's whole month missing is flagged by "
        "months_complete and kommun_month_drop."
    ),
}
