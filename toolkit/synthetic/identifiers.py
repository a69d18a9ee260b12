"""Synthetic personnummer and samordningsnummer, unique across a whole run.

A personnummer is YYMMDD + a three-digit birth number + a Luhn check digit; the last
digit of the birth number is odd for men and even for women (Skatteverket). A
samordningsnummer is built the same way with 60 added to the day. The 12-digit form
YYYYMMDDNNNC is what the registers store.

Uniqueness without a global list: :class:`BirthNumberAllocator` hands out birth numbers
per (date, sex, kind) from a fixed pseudo-random order of the 499/500 possible numbers,
keeping one counter per slot across chunks. When a date runs out of numbers the person
gets a nearby date, as Skatteverket does for crowded dates (prop. 2008/09:111).

Other written forms (no century, separators, '+' for people aged 100 or more, stray
whitespace, a wrong check digit) appear only as faults (``faults.py``).
"""

from __future__ import annotations

import numpy as np

from mikrodata.pseudonymisation.luhn import luhn_check_digits

__all__ = [
    "BirthNumberAllocator",
    "identifier_strings",
    "random_personnummer",
    "SEX_MALE",
    "SEX_FEMALE",
]

SEX_MALE = 1
SEX_FEMALE = 2

_EPOCH = np.datetime64("1850-01-01", "D")
_DAYS = 366 * 200  # dates 1850-2049


def _slot_table() -> np.ndarray:
    """For each sex, the birth numbers 001-999 with the right parity, in a fixed shuffled
    order (so consecutive people born the same day do not get 001, 003, 005...)."""
    rng = np.random.default_rng(19470101)  # fixed: the order is part of the format, not the seed
    numbers = np.arange(1, 1000)
    male = numbers[numbers % 2 == 1]
    female = numbers[numbers % 2 == 0]
    table = np.zeros((3, 500), dtype=np.int64) - 1
    table[SEX_MALE, : male.size] = rng.permutation(male)
    table[SEX_FEMALE, : female.size] = rng.permutation(female)
    return table


_SLOTS = _slot_table()
_CAPACITY = {SEX_MALE: 500, SEX_FEMALE: 499}


class BirthNumberAllocator:
    """Hands out unique birth numbers per (date, sex, kind) for one run, chunk by chunk.

    The state is a counter per day, sex and kind (personnummer or samordningsnummer);
    calls must come in the same order for the same result, which the generator ensures.
    """

    def __init__(self) -> None:
        self._used = np.zeros((2, 3, _DAYS), dtype=np.int32)

    def allocate(
        self, dates: np.ndarray, sex: np.ndarray, coordination: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Birth numbers for people born on ``dates`` (datetime64[D]); returns
        ``(dates, numbers)`` where a date may have moved to a nearby day when full."""
        dates = np.asarray(dates, dtype="datetime64[D]").copy()
        sex = np.asarray(sex, dtype=np.int64)
        kind = np.asarray(coordination, dtype=np.int64)
        numbers = np.zeros(dates.size, dtype=np.int64)
        todo = np.arange(dates.size)
        for _ in range(400):
            if todo.size == 0:
                break
            day = (dates[todo] - _EPOCH).astype(np.int64)
            s, k = sex[todo], kind[todo]
            key = (k * 3 + s) * _DAYS + day
            order = np.argsort(key, kind="stable")
            sorted_key = key[order]
            first = np.r_[True, sorted_key[1:] != sorted_key[:-1]]
            group_start = np.maximum.accumulate(np.where(first, np.arange(key.size), 0))
            rank = np.empty(key.size, dtype=np.int64)
            rank[order] = np.arange(key.size) - group_start
            slot = self._used[k, s, day] + rank
            cap = np.where(s == SEX_MALE, _CAPACITY[SEX_MALE], _CAPACITY[SEX_FEMALE])
            ok = slot < cap
            numbers[todo[ok]] = _SLOTS[s[ok], slot[ok]]
            # Advance the counters by the number placed on each (kind, sex, day).
            np.add.at(self._used, (k[ok], s[ok], day[ok]), 1)
            todo = todo[~ok]
            dates[todo] = dates[todo] + np.timedelta64(1, "D")
        if todo.size:  # pragma: no cover - needs ~200 days in a row to be full
            raise RuntimeError("ran out of birth numbers")
        return dates, numbers


def _digits(values: np.ndarray, width: int) -> np.ndarray:
    """The decimal digits of non-negative integers, as an (n, width) array."""
    powers = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    return (values[:, None] // powers) % 10


def identifier_strings(
    dates: np.ndarray, numbers: np.ndarray, coordination: np.ndarray
) -> np.ndarray:
    """12-digit identifiers YYYYMMDDNNNC (day + 60 for a samordningsnummer)."""
    dates = np.asarray(dates, dtype="datetime64[D]")
    y = dates.astype("datetime64[Y]").astype(np.int64) + 1970
    m = dates.astype("datetime64[M]").astype(np.int64) % 12 + 1
    d = (dates - dates.astype("datetime64[M]")).astype(np.int64) + 1
    d = d + np.where(np.asarray(coordination, dtype=bool), 60, 0)
    ten = (y % 100) * 10_000_000 + m * 100_000 + d * 1000 + np.asarray(numbers, dtype=np.int64)
    check = luhn_check_digits(_digits(ten, 9))
    full = (y * 10_000 + m * 100 + d) * 10_000 + np.asarray(numbers, dtype=np.int64) * 10 + check
    return full.astype("U12")


def random_personnummer(
    n: int, rng: np.random.Generator, born: tuple[int, int] = (1940, 2010)
) -> np.ndarray:
    """``n`` distinct valid 12-digit personnummer of people born in the years ``born``
    (both included), each sex at random: for fixtures, dummy extracts and test data, so
    that every synthetic identifier in mikrodata comes from this module."""
    start = np.datetime64(f"{born[0]}-01-01", "D")
    span = (np.datetime64(f"{born[1] + 1}-01-01", "D") - start).astype(np.int64)
    dates = start + rng.integers(0, span, size=n).astype("timedelta64[D]")
    sex = rng.integers(SEX_MALE, SEX_FEMALE + 1, size=n)
    personnummer = np.zeros(n, dtype=bool)
    dates, numbers = BirthNumberAllocator().allocate(dates, sex, personnummer)
    return identifier_strings(dates, numbers, personnummer).astype(object)
