"""Synthetic identifiers for tests and benchmarks: made with luhn.py, never real."""

from __future__ import annotations

import datetime as dt

import numpy as np

from mikrodata.pseudonymisation.luhn import luhn_check_digit

__all__ = ["REFERENCE", "forms", "make_number", "synthetic_population"]


def make_number(date: dt.date, birth: int, samordning: bool = False) -> str:
    """A valid 12-digit number for ``date`` and birth number ``birth`` (1-999)."""
    day = date.day + (60 if samordning else 0)
    nine = f"{date:%y%m}{day:02d}{birth:03d}"
    return f"{date:%Y%m}{day:02d}{birth:03d}{luhn_check_digit(nine)}"


def synthetic_population(
    n: int, seed: int = 0, first: str = "1930-01-01", last: str = "2008-12-31"
) -> list[str]:
    """n distinct valid 12-digit numbers (about 3% samordningsnummer)."""
    rng = np.random.default_rng(seed)
    lo, hi = (np.datetime64(first).astype(int), np.datetime64(last).astype(int))
    seen: set[str] = set()
    out: list[str] = []
    while len(out) < n:
        date = (np.datetime64(int(rng.integers(lo, hi)), "D")).item()
        number = make_number(date, int(rng.integers(1, 1000)), bool(rng.random() < 0.03))
        if number not in seen:
            seen.add(number)
            out.append(number)
    return out


def forms(number: str) -> list[object]:
    """Every delivered form of one 12-digit number (as of a reference date in 2026)."""
    short = number[2:]
    born = int(number[:4])
    sep = "+" if 2026 - born >= 100 else "-"
    return [
        number,
        f"{number[:8]}-{number[8:]}",
        short[:6] + sep + short[6:],
        f"  {number[:8]} {number[8:]}\u00a0",
        int(number),
    ] + ([short, int(short)] if sep == "-" else [])


REFERENCE = dt.date(2026, 6, 30)
