"""The Luhn (modulus 10) check digit of Swedish personnummer and samordningsnummer.

Weights 2,1,2,1,... over the nine digits YYMMDDNNN; the digits of each product are
added; the check digit is (10 - sum mod 10) mod 10 (Skatteverket; e.g. 640823-323 -> 4).
Both a scalar and a vectorised (NumPy) form, so that generators and parsers share one
rule.
"""

from __future__ import annotations

import numpy as np

from mikrodata.toolkit.errors import BadInputError

__all__ = ["luhn_check_digit", "luhn_check_digits"]

# digit-sum of 2*d for d = 0..9
_DOUBLED = np.array([0, 2, 4, 6, 8, 1, 3, 5, 7, 9], dtype=np.int64)


def luhn_check_digit(nine_digits: str) -> int:
    """The check digit for a 9-digit string YYMMDDNNN."""
    if len(nine_digits) != 9 or not (nine_digits.isascii() and nine_digits.isdigit()):
        raise BadInputError(
            "a Luhn check digit needs exactly nine ASCII digits", "Give YYMMDDNNN as text"
        )
    total = 0
    for i, ch in enumerate(nine_digits):
        d = ord(ch) - 48
        total += int(_DOUBLED[d]) if i % 2 == 0 else d
    return (10 - total % 10) % 10


def luhn_check_digits(digits: np.ndarray) -> np.ndarray:
    """Vectorised check digits for an (n, 9) integer array of digits 0-9."""
    digits = np.asarray(digits, dtype=np.int64)
    if digits.ndim != 2 or digits.shape[1] != 9:
        raise BadInputError("check digits need an array of shape (n, 9)", "Reshape the digits")
    doubled = _DOUBLED[digits[:, 0::2]].sum(axis=1)
    plain = digits[:, 1::2].sum(axis=1)
    return (10 - (doubled + plain) % 10) % 10
