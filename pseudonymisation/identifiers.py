"""Swedish personnummer and samordningsnummer: a vectorised parser and a value type.

Registers deliver one number in many forms: ``YYMMDD-NNNC``, ``YYMMDD+NNNC``,
``YYMMDDNNNC``, ``YYYYMMDDNNNC``, ``YYYYMMDD-NNNC``, integers (which lose their leading
zeros) and stray whitespace anywhere. :func:`parse_identifiers` turns a whole column
into one normalised 12-character form ``YYYYMMDDNNNC``, a kind, a reason when invalid,
the birth date and the sex, using Arrow compute and NumPy on the whole column (distinct
values only), never a Python loop over rows: it runs on 100 million rows.

Rules (Skatteverket, see DOMAIN.md section 3):

* century: from the 12-digit form; otherwise from the separator and a reference date
  (the delivery date; today by default): ``-`` or none means under 100 years old in the
  reference year, ``+`` means 100 or older (the separator changes in the calendar year
  the person turns 100);
* date: a real calendar date (leap years included), between 1800 and the reference
  date; a samordningsnummer adds 60 to the day (61-91);
* birth number ``000`` does not exist;
* check digit: Luhn over the nine digits YYMMDDNNN (:mod:`pseudonymisation.luhn`);
* sex: the ninth digit (the last of the birth number), odd = male;
* interim numbers: a letter A-Z replaces the first digit of the birth number (e.g.
  ``000101-P220``); the letter counts as 1 in the Luhn sum. They are local, temporary
  numbers: parsed and labelled ``interim``, and left to the caller to accept or not.

Reasons when invalid, the first that applies: ``missing`` (null, empty or only
whitespace), ``length`` (not 10-13 characters after whitespace is removed),
``characters`` (anything but digits in the right places, one ``-``/``+`` separator, or
an interim letter; also birth number 000), ``date`` (no such date, century before 1800,
or after the reference date), ``check_digit``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from mikrodata.toolkit.errors import BadInputError

from .luhn import luhn_check_digits

__all__ = [
    "KINDS",
    "REASONS",
    "Identifier",
    "ParsedIdentifiers",
    "parse_identifiers",
    "parse_identifiers_arrow",
    "parse_twelve_digits",
    "twelve_digit_reasons",
    "twelve_digit_text",
]

# Codes used internally; index 0 of REASONS means "valid" (<NA> in the frame).
KINDS: tuple[str, ...] = ("invalid", "personnummer", "samordningsnummer", "interim")
REASONS: tuple[str | None, ...] = (None, "missing", "length", "characters", "date", "check_digit")
_MISSING, _LENGTH, _CHARACTERS, _DATE, _CHECK = 1, 2, 3, 4, 5
_INVALID, _PNR, _SAM, _INTERIM = 0, 1, 2, 3

# Any Unicode space or separator, ASCII whitespace and the BOM: spreadsheets export
# non-breaking spaces, and some systems print the number in groups.
_WHITESPACE = r"[\pZ\s\x{FEFF}]"
_WIDTH = 13  # the longest accepted form, YYYYMMDD-NNNC
_MIN_YEAR = 1800  # Skatteverket stores centuries 18, 19 and 20

# Where the ten "short" characters YYMMDDNNNC sit in each accepted length (10..13),
# where the separator sits (or -1), and whether the century is written.
_SHORT_COLS = {
    10: list(range(10)),
    11: list(range(6)) + list(range(7, 11)),
    12: list(range(2, 12)),
    13: list(range(2, 8)) + list(range(9, 13)),
}
_SEP_COL = {10: -1, 11: 6, 12: -1, 13: 8}
_DAYS_IN_MONTH = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int64)
_INTERIM_POS = 6  # in YYMMDDNNNC: the first digit of the birth number
# Luhn: a digit's contribution when doubled, and a 2-digit part's (first doubled).
_LUHN_DOUBLED = np.array([0, 2, 4, 6, 8, 1, 3, 5, 7, 9], dtype=np.int64)
_LUHN_PAIR = np.array([_LUHN_DOUBLED[i // 10] + i % 10 for i in range(100)], dtype=np.int64)
# The two ASCII characters of 00..99, each as one little-endian 16-bit value.
_PAIR_TEXT = np.frombuffer("".join(f"{i:02d}" for i in range(100)).encode(), dtype="<u2")


@dataclasses.dataclass(frozen=True, repr=False)
class ParsedIdentifiers:
    """The parser's result as arrays (one element per input value).

    ``key`` is the normalised number as an int64 (interim letters folded in above
    10^12), a compact exact stand-in for the normalised string used to deduplicate.
    """

    normalised: pa.Array  # string, null where invalid
    kind: np.ndarray  # int8 index into KINDS
    reason: np.ndarray  # int8 index into REASONS (0 = valid)
    birth_days: np.ndarray  # int32 days since 1970-01-01 (0 where invalid)
    male: np.ndarray  # bool
    key: np.ndarray  # int64 (0 where invalid)

    @property
    def valid(self) -> np.ndarray:
        return self.reason == 0

    def __len__(self) -> int:
        return len(self.kind)

    def __repr__(self) -> str:  # never the numbers themselves
        return f"ParsedIdentifiers(n={len(self)}, valid={int(self.valid.sum())})"

    def take(self, indices: np.ndarray) -> ParsedIdentifiers:
        return ParsedIdentifiers(
            normalised=self.normalised.take(pa.array(indices)),
            kind=self.kind[indices],
            reason=self.reason[indices],
            birth_days=self.birth_days[indices],
            male=self.male[indices],
            key=self.key[indices],
        )


def _reference(reference_date: dt.date | None) -> dt.date:
    if reference_date is None:
        return dt.date.today()
    if isinstance(reference_date, dt.datetime):
        return reference_date.date()
    if isinstance(reference_date, str):
        try:
            return dt.date.fromisoformat(reference_date)
        except ValueError:
            raise BadInputError(
                "reference date is not an ISO date", "give it as YYYY-MM-DD"
            ) from None
    return reference_date


def _as_arrow(values: Any) -> pa.Array | pa.ChunkedArray:
    """Any supported column as an Arrow array, without a Python loop where avoidable."""
    if isinstance(values, (pa.Array, pa.ChunkedArray)):
        return values
    if isinstance(values, (pd.Series, pd.Index)):
        try:
            return pa.array(values)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            # An object column mixing ints and strings: rare, so a per-value str() is
            # acceptable here.
            return pa.array(
                [None if v is None or v is pd.NA else str(v) for v in values], pa.string()
            )
    if isinstance(values, np.ndarray):
        return pa.array(values)
    if isinstance(values, Sequence) and not isinstance(values, (str, bytes)):
        try:
            return pa.array(list(values))
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            return pa.array([None if v is None else str(v) for v in values], pa.string())
    raise BadInputError(
        f"cannot parse identifiers from a {type(values).__name__}",
        "pass a pandas Series, a pyarrow Array or a list of strings or integers",
    )


def _to_strings(arr: pa.Array) -> tuple[pa.Array, np.ndarray | None]:
    """The array as Arrow strings; integers are zero-padded to 10 digits (an integer
    column has lost the leading zeros of years 2000-2009). Returns the strings and a
    mask of negative integers (invalid characters)."""
    t = arr.type
    if pa.types.is_floating(t):
        try:
            arr = pc.cast(arr, pa.int64())
        except pa.ArrowInvalid:
            raise BadInputError(
                "an identifier column holds non-integer numbers",
                "deliver identifiers as text or as whole numbers",
            ) from None
        t = arr.type
    if pa.types.is_integer(t):
        negative = pc.fill_null(pc.less(arr, 0), False).to_numpy(zero_copy_only=False)
        strings = pc.utf8_lpad(pc.cast(arr, pa.string()), 10, "0")
        return strings, negative
    if pa.types.is_large_string(t) or pa.types.is_string(t):
        return arr, None
    if pa.types.is_binary(t) or pa.types.is_large_binary(t):
        try:
            return pc.cast(arr, pa.string()), None
        except pa.ArrowInvalid:
            raise BadInputError(
                "an identifier column holds bytes that are not UTF-8 text",
                "deliver identifiers as text (UTF-8) or whole numbers",
            ) from None
    if pa.types.is_uint64(t):
        return _to_strings(pc.cast(arr, pa.string()))
    if pa.types.is_null(t):
        return pa.nulls(len(arr), pa.string()), None
    raise BadInputError(
        f"an identifier column has type {t}", "deliver identifiers as text or integers"
    )


def _fixed_width(strings: pa.Array, ok: np.ndarray) -> np.ndarray:
    """An (n, 13) uint8 matrix of the ASCII values where ``ok``, spaces elsewhere."""
    n = len(strings)
    kept = pc.if_else(pa.array(ok), strings, pa.scalar("", strings.type))
    padded = pc.utf8_rpad(kept, _WIDTH, " ")
    if isinstance(padded, pa.ChunkedArray):
        padded = padded.combine_chunks()
    if n == 0:
        return np.zeros((0, _WIDTH), dtype=np.uint8)
    off_type = np.int64 if pa.types.is_large_string(padded.type) else np.int32
    offsets = np.frombuffer(padded.buffers()[1], dtype=off_type)[
        padded.offset : padded.offset + n + 1
    ]
    data = np.frombuffer(padded.buffers()[2], dtype=np.uint8)
    mat = data[offsets[0] : offsets[-1]]
    if mat.size != n * _WIDTH:  # cannot happen for ASCII input; guard the reshape
        raise AssertionError("fixed-width identifier buffer has an unexpected size")
    return mat.reshape(n, _WIDTH)


def _string_array(mat: np.ndarray, valid: np.ndarray) -> pa.Array:
    """Arrow strings from an (n, w) uint8 matrix; null where not ``valid``."""
    n, w = mat.shape
    offsets = np.arange(0, (n + 1) * w, w, dtype=np.int64 if n * w >= 2**31 else np.int32)
    typ = pa.large_string() if n * w >= 2**31 else pa.string()
    validity = pa.py_buffer(np.packbits(valid, bitorder="little"))
    return pa.Array.from_buffers(
        typ,
        n,
        [validity, pa.py_buffer(offsets), pa.py_buffer(np.ascontiguousarray(mat))],
        null_count=int(n - valid.sum()),
    )


def _parse_strings(
    strings: pa.Array, negative: np.ndarray | None, ref: dt.date
) -> ParsedIdentifiers:
    n = len(strings)
    missing = strings.is_null().to_numpy(zero_copy_only=False)
    cleaned = pc.replace_substring_regex(pc.fill_null(strings, ""), _WHITESPACE, "")
    nchar = pc.utf8_length(cleaned).to_numpy(zero_copy_only=False).astype(np.int64)
    nbytes = pc.binary_length(cleaned).to_numpy(zero_copy_only=False).astype(np.int64)
    missing |= nchar == 0
    length_ok = ~missing & (nchar >= 10) & (nchar <= 13)
    ascii_ok = nbytes == nchar
    ok = length_ok & ascii_ok
    mat = _fixed_width(cleaned, ok)

    short = np.full((n, 10), ord("0"), dtype=np.uint8)
    cent = np.zeros((n, 2), dtype=np.uint8)
    sep = np.full(n, ord("-"), dtype=np.uint8)
    has_century = np.zeros(n, dtype=bool)
    for length, cols in _SHORT_COLS.items():
        rows = ok & (nchar == length)
        if not rows.any():
            continue
        sub = mat[rows]
        short[rows] = sub[:, cols]
        if _SEP_COL[length] >= 0:
            sep[rows] = sub[:, _SEP_COL[length]]
        if length >= 12:
            cent[rows] = sub[:, 0:2]
            has_century[rows] = True

    # 11 or 13 digits with no separator: one digit too many, not a bad separator.
    length_ok &= ~(((nchar == 11) | (nchar == 13)) & (sep >= 48) & (sep <= 57))
    if negative is not None:  # a minus sign is a wrong character, whatever the length
        length_ok |= negative
    return _parse_matrix(short, cent, sep, has_century, missing, length_ok, ascii_ok, negative, ref)


def twelve_digit_text(values: np.ndarray) -> np.ndarray:
    """The 12 ASCII digits of int64 ``values`` in 0..10^12-1 as an (n, 12) uint8 array:
    six divisions by 100 and a look-up per pair, far cheaper than dividing every digit."""
    rest = np.array(values, dtype=np.int64)  # a copy: divided in place below
    pairs = np.empty((6, len(rest)), dtype="<u2")
    for i in range(5, -1, -1):
        pairs[i] = _PAIR_TEXT[rest % 100]
        rest //= 100
    return np.ascontiguousarray(pairs.T).view(np.uint8)


def parse_twelve_digits(
    keys: np.ndarray, reference_date: dt.date | None = None
) -> ParsedIdentifiers:
    """Parse int64 values of 12-digit forms (``YYYYMMDDNNNC`` as a number) directly,
    without building strings: the fast path for the common delivery form."""
    ref = _reference(reference_date)
    keys = np.asarray(keys, dtype=np.int64)
    n = len(keys)
    digits = twelve_digit_text(keys)
    ones = np.ones(n, dtype=bool)
    return _parse_matrix(
        np.ascontiguousarray(digits[:, 2:]),
        np.ascontiguousarray(digits[:, :2]),
        np.full(n, ord("-"), dtype=np.uint8),
        ones,
        np.zeros(n, dtype=bool),
        ones,
        ones,
        None,
        ref,
    )


def twelve_digit_reasons(
    keys: np.ndarray, reference_date: dt.date | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(reason, kind) exactly as :func:`parse_twelve_digits` gives them, for int64
    values of 12-digit forms, by integer arithmetic on the parts only (no digit matrix,
    no normalised strings): the pseudonymiser's check of numbers it has not seen
    before. A valid value is its own key. The tests check it against the full parser.
    """
    ref = _reference(reference_date)
    keys = np.asarray(keys, dtype=np.int64)
    year = keys // 10**8
    month = keys // 10**6 % 100
    dd = keys // 10**4 % 100  # as written: day + 60 for a samordningsnummer
    birth_number = keys // 10 % 1000
    samordning = dd > 60
    day = np.where(samordning, dd - 60, dd)
    month_ok = (month >= 1) & (month <= 12)
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    dim = _DAYS_IN_MONTH[np.where(month_ok, month, 0)] + ((month == 2) & leap)
    date_ok = month_ok & (day >= 1) & (day <= dim) & (year >= _MIN_YEAR)
    # For real dates, YYYYMMDD order is date order: not born after the reference date.
    date_ok &= year * 10000 + month * 100 + day <= ref.year * 10000 + ref.month * 100 + ref.day
    # Luhn over YYMMDDNNN: each 2-digit part is one look-up (first digit doubled).
    check = (
        _LUHN_PAIR[year % 100]
        + _LUHN_PAIR[month]
        + _LUHN_PAIR[dd]
        + _LUHN_PAIR[birth_number // 10]
        + _LUHN_DOUBLED[birth_number % 10]
    )
    check_ok = (10 - check % 10) % 10 == keys % 10
    reason = np.zeros(len(keys), dtype=np.int8)
    reason[~check_ok] = _CHECK
    reason[~date_ok] = _DATE
    reason[birth_number == 0] = _CHARACTERS
    kind = np.where(samordning, _SAM, _PNR).astype(np.int8)
    kind[reason != 0] = _INVALID
    return reason, kind


def _parse_matrix(
    short: np.ndarray,
    cent: np.ndarray,
    sep: np.ndarray,
    has_century: np.ndarray,
    missing: np.ndarray,
    length_ok: np.ndarray,
    ascii_ok: np.ndarray,
    negative: np.ndarray | None,
    ref: dt.date,
) -> ParsedIdentifiers:
    """The rules, on (n, 10) characters YYMMDDNNNC, (n, 2) century characters, the
    separator and the masks from the string checks."""
    n = len(short)
    is_digit = (short >= 48) & (short <= 57)
    upper = short[:, _INTERIM_POS] & 0xDF  # ASCII upper-case
    letter = (upper >= ord("A")) & (upper <= ord("Z"))
    cent_digit = (cent >= 48) & (cent <= 57)
    chars_ok = (
        is_digit[:, :_INTERIM_POS].all(axis=1)
        & is_digit[:, _INTERIM_POS + 1 :].all(axis=1)
        & (is_digit[:, _INTERIM_POS] | letter)
        & ((sep == ord("-")) | (sep == ord("+")))
        & (~has_century | cent_digit.all(axis=1))
    )
    interim = letter & ~is_digit[:, _INTERIM_POS]
    digits = np.where(is_digit, short.astype(np.int64) - 48, 0)
    digits[interim, _INTERIM_POS] = 1  # the letter counts as 1 in the Luhn sum
    birth_number = digits[:, 6] * 100 + digits[:, 7] * 10 + digits[:, 8]
    chars_ok &= interim | (birth_number != 0)
    if negative is not None:
        chars_ok &= ~negative

    yy = digits[:, 0] * 10 + digits[:, 1]
    month = digits[:, 2] * 10 + digits[:, 3]
    dd = digits[:, 4] * 10 + digits[:, 5]
    century_written = np.where(cent_digit.all(axis=1), (cent.astype(np.int64) - 48) @ [10, 1], 0)
    base = ref.year - np.where(sep == ord("+"), 100, 0)
    year = np.where(has_century, century_written * 100 + yy, base - (base - yy) % 100)
    samordning = dd > 60
    day = np.where(samordning, dd - 60, dd)
    month_ok = (month >= 1) & (month <= 12)
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    dim = _DAYS_IN_MONTH[np.where(month_ok, month, 0)] + ((month == 2) & leap)
    date_ok = month_ok & (day >= 1) & (day <= dim) & (year >= _MIN_YEAR)
    safe_year = np.where(date_ok, year, 1970)
    months = (safe_year - 1970) * 12 + np.where(date_ok, month, 1) - 1
    birth = months.astype("datetime64[M]").astype("datetime64[D]") + np.where(date_ok, day, 1) - 1
    birth_days = birth.astype(np.int64)
    ref_days = (np.datetime64(ref.isoformat(), "D") - np.datetime64("1970-01-01", "D")).astype(
        np.int64
    )
    date_ok &= birth_days <= ref_days

    check_ok = luhn_check_digits(digits[:, :9]) == digits[:, 9]

    reason = np.zeros(n, dtype=np.int8)
    reason[~check_ok] = _CHECK
    reason[~date_ok] = _DATE
    reason[~chars_ok] = _CHARACTERS
    reason[~ascii_ok & length_ok] = _CHARACTERS
    reason[~length_ok] = _LENGTH
    reason[missing] = _MISSING
    valid = reason == 0

    kind = np.where(interim, _INTERIM, np.where(samordning, _SAM, _PNR)).astype(np.int8)
    kind[~valid] = _INVALID

    # The normalised form: century digits, then YYMMDDNNNC with an upper-case letter.
    norm = np.empty((n, 12), dtype=np.uint8)
    norm[:, 0] = 48 + (year // 1000) % 10
    norm[:, 1] = 48 + (year // 100) % 10
    norm[:, 2:] = short
    norm[interim, 2 + _INTERIM_POS] = upper[interim]
    # Invalid rows keep no trace of their input in the buffer, not even under a null.
    norm[~valid] = ord("0")

    # The number YYYYMMDDNNNC as an int64 (an interim letter counts 0 in its digit and
    # is added above 10^12), computed from the parts rather than the 12 characters.
    letter_digit = np.where(interim, 0, digits[:, 6])
    key = ((year * 100 + month) * 100 + dd) * 10 + letter_digit
    key = ((key * 10 + digits[:, 7]) * 10 + digits[:, 8]) * 10 + digits[:, 9]
    key += np.where(interim, (upper.astype(np.int64) - ord("A") + 1) * 10**12, 0)
    key[~valid] = 0

    return ParsedIdentifiers(
        normalised=_string_array(norm, valid),
        kind=kind,
        reason=reason,
        birth_days=np.where(valid, birth_days, 0).astype(np.int32),
        male=valid & (digits[:, 8] % 2 == 1),
        key=key,
    )


def _parse_array(arr: pa.Array, ref: dt.date) -> ParsedIdentifiers:
    """Parse one Arrow array, deduplicating first: a register repeats each person many
    times, so only the distinct values are parsed and the result is mapped back."""
    if pa.types.is_dictionary(arr.type):
        encoded = arr
    else:
        encoded = pc.dictionary_encode(arr)
    strings, negative = _to_strings(encoded.dictionary)
    parsed = _parse_strings(strings, negative, ref)
    indices = encoded.indices
    if indices.null_count:
        # Null rows: point them at an extra "missing" entry.
        missing_entry = _parse_strings(pa.nulls(1, pa.string()), None, ref)
        parsed = _concat([parsed, missing_entry])
        indices = pc.fill_null(indices, len(parsed) - 1)
    return parsed.take(indices.to_numpy(zero_copy_only=False))


def _concat(parts: list[ParsedIdentifiers]) -> ParsedIdentifiers:
    if len(parts) == 1:
        return parts[0]
    norm = pa.concat_arrays([p.normalised.cast(pa.large_string()) for p in parts])
    if len(norm) * 12 < 2**31:
        norm = norm.cast(pa.string())
    return ParsedIdentifiers(
        normalised=norm,
        kind=np.concatenate([p.kind for p in parts]),
        reason=np.concatenate([p.reason for p in parts]),
        birth_days=np.concatenate([p.birth_days for p in parts]),
        male=np.concatenate([p.male for p in parts]),
        key=np.concatenate([p.key for p in parts]),
    )


def parse_identifiers_arrow(
    values: Any, reference_date: dt.date | None = None
) -> ParsedIdentifiers:
    """Parse a column into arrays (see :class:`ParsedIdentifiers`); the Arrow-level
    form of :func:`parse_identifiers` for code that stays in Arrow."""
    ref = _reference(reference_date)
    arr = _as_arrow(values)
    if isinstance(arr, pa.ChunkedArray):
        chunks = arr.chunks or [pa.array([], arr.type)]
        return _concat([_parse_array(c, ref) for c in chunks])
    return _parse_array(arr, ref)


_KIND_ARRAY = pa.array(KINDS, pa.string())
_REASON_ARRAY = pa.array(REASONS, pa.string())


def parse_identifiers(values: Any, reference_date: dt.date | None = None) -> pd.DataFrame:
    """Parse a column of personnummer/samordningsnummer in any delivered form.

    ``values``: a pandas Series, a pyarrow Array or ChunkedArray, or a list, of strings
    or integers. ``reference_date`` resolves the century of 10-digit forms (use the
    delivery date); today when None.

    Returns a DataFrame with the input's index and the columns ``normalised`` (12
    characters ``YYYYMMDDNNNC`` or <NA>), ``kind`` (personnummer, samordningsnummer,
    interim, invalid), ``reason`` (<NA>, missing, length, characters, date,
    check_digit), ``birth_date`` (date) and ``sex`` (male/female).
    """
    parsed = parse_identifiers_arrow(values, reference_date)
    index = values.index if isinstance(values, pd.Series) else None
    valid = parsed.valid
    sex = pc.if_else(
        pa.array(valid),
        pc.if_else(pa.array(parsed.male), "male", "female"),
        pa.scalar(None, pa.string()),
    )
    birth = pa.Array.from_buffers(
        pa.date32(),
        len(parsed),
        [
            pa.py_buffer(np.packbits(valid, bitorder="little")),
            pa.py_buffer(np.ascontiguousarray(parsed.birth_days)),
        ],
        null_count=int(len(parsed) - valid.sum()),
    )

    def strings(arr: pa.Array) -> pd.Series:
        return pd.Series(pd.arrays.ArrowStringArray(arr.cast(pa.large_string())), index=index)

    return pd.DataFrame(
        {
            "normalised": strings(parsed.normalised),
            "kind": strings(_KIND_ARRAY.take(pa.array(parsed.kind))),
            "reason": strings(_REASON_ARRAY.take(pa.array(parsed.reason))),
            "birth_date": pd.Series(pd.arrays.ArrowExtensionArray(birth), index=index),
            "sex": strings(sex),
        },
        index=index,
    )


@dataclasses.dataclass(frozen=True, repr=False)
class Identifier:
    """One valid personnummer, samordningsnummer or interim number.

    Build it with :meth:`parse`; constructing it directly validates the normalised
    form too. Its repr and str show the birth date only, never the birth number and
    check digit, so an identifier printed by mistake does not identify anyone::

        >>> Identifier.parse("640823-3234", reference_date=dt.date(2020, 1, 1))
        Identifier(19640823-****, personnummer)
    """

    normalised: str
    kind: str = dataclasses.field(compare=False)
    birth_date: dt.date = dataclasses.field(compare=False)
    sex: str = dataclasses.field(compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.normalised, str) or len(self.normalised) != 12:
            raise BadInputError("not a normalised 12-character identifier", "use Identifier.parse")
        # The 12-character form carries its century, so any reference date at or
        # after the birth date gives the same verdict.
        parsed = parse_identifiers_arrow(pa.array([self.normalised]), dt.date.max)
        if not parsed.valid[0]:
            raise BadInputError(
                f"invalid identifier ({REASONS[int(parsed.reason[0])]})",
                "use Identifier.parse",
            )
        expected = (
            KINDS[int(parsed.kind[0])],
            (np.datetime64("1970-01-01") + int(parsed.birth_days[0])).item(),
            "male" if parsed.male[0] else "female",
        )
        if (self.kind, self.birth_date, self.sex) != expected:
            raise BadInputError(
                "identifier fields disagree with its number", "use Identifier.parse"
            )

    @classmethod
    def parse(cls, text: str | int, reference_date: dt.date | None = None) -> Identifier:
        """Parse one number in any delivered form; raise BadInputError with the reason
        (never the number) when it is invalid."""
        parsed = parse_identifiers_arrow(pa.array([text]), reference_date)
        if not parsed.valid[0]:
            raise BadInputError(
                f"invalid personnummer or samordningsnummer ({REASONS[int(parsed.reason[0])]})",
                "check the number against its source",
            )
        return cls(
            normalised=parsed.normalised[0].as_py(),
            kind=KINDS[int(parsed.kind[0])],
            birth_date=(np.datetime64("1970-01-01") + int(parsed.birth_days[0])).item(),
            sex="male" if parsed.male[0] else "female",
        )

    def format(self, long: bool = True) -> str:
        """The number in full (steward side only): ``YYYYMMDDNNNC`` or, with
        ``long=False``, ``YYMMDD-NNNC`` / ``YYMMDD+NNNC`` as of today."""
        if long:
            return self.normalised
        sep = "+" if dt.date.today().year - self.birth_date.year >= 100 else "-"
        return f"{self.normalised[2:8]}{sep}{self.normalised[8:]}"

    def __repr__(self) -> str:
        return f"Identifier({self.normalised[:8]}-****, {self.kind})"

    __str__ = __repr__
