"""The residual guard: raw personnummer left in columns that are not pseudonymised.

A column the caller did not name as an identifier still reaches the output as it is, so
every value of it is looked at, in every batch and in any type: text (also inside free
text, ``"kontakt 640823-3234"``, ``"SE6408233234"``, a number glued to a date), bytes,
dictionary values, the strings inside lists, structs and maps, and whole numbers (a
10-digit ``YYMMDDNNNC`` loses its leading zero as an integer, a 12-digit one does not).

A candidate is any run of ten or twelve digits (single spaces, ``-`` or ``+`` allowed
between them) that is a real date with a correct check digit; every such window of a
longer run of digits counts, so numbers written together with other digits are found
too. Long account or order numbers can therefore be flagged by chance: the guard errs on
the side of refusing, and the caller names such a column as an identifier or drops it.

The work is per distinct value (Arrow's hash), a regular expression run by Arrow picks
the few values with ten digits in a row, and only those are looked at in Python. What it
returns is column names and counts, never a value.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .identifiers import twelve_digit_reasons

__all__ = ["RESIDUAL_HIGH", "RESIDUAL_LOW", "RESIDUAL_RUN", "residual_identifiers"]

# Ten digits in a row, with at most one space, '-' or '+' between two of them.
RESIDUAL_RUN = _RUN = r"[0-9](?:[ +\-]?[0-9]){9,}"
# Whole numbers looked at: 9 digits (a 200x birth as an integer) .. 12.
RESIDUAL_LOW, RESIDUAL_HIGH = _INT_LOW, _INT_HIGH = 10**8, 10**12
# (A caller may pre-filter with these three, as the extract build does in DuckDB: the
# guard applies them itself first, so what it finds is the same.)


def residual_identifiers(
    batch: pa.RecordBatch | pa.Table,
    skip: set[str] | frozenset[str] = frozenset(),
    reference_date: dt.date | None = None,
) -> dict[str, int]:
    """Per column not in ``skip``: how many distinct values hold a valid personnummer or
    samordningsnummer (columns with none are left out). Column names are checked too."""
    ref = reference_date or dt.date.today()
    found: dict[str, int] = {}
    for name, column in zip(batch.schema.names, batch.columns, strict=True):
        if name in skip:
            continue
        if isinstance(column, pa.ChunkedArray):
            column = column.combine_chunks()
        hits = _count(column, ref) + _count_texts([name], ref)
        if hits:
            found[name] = hits
    return found


def _count(values: pa.Array, ref: dt.date) -> int:
    """Distinct values of ``values`` (any type, nested included) that hold an identifier."""
    t = values.type
    if pa.types.is_dictionary(t):
        return _count(values.dictionary, ref)
    if isinstance(t, pa.ExtensionType):
        return _count(values.storage, ref)
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        return _count(values.flatten(), ref)
    if pa.types.is_map(t):
        return _count(values.keys, ref) + _count(values.items, ref)
    if pa.types.is_struct(t):
        return sum(_count(child, ref) for child in values.flatten())
    if pa.types.is_union(t):
        return sum(_count(values.field(i), ref) for i in range(t.num_fields))
    if pa.types.is_integer(t):
        return _count_integers(values, ref)
    if pa.types.is_floating(t) or pa.types.is_decimal(t):
        return _count_numbers(values, ref)
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return _count_strings(values, ref)
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t):
        return _count_strings(values.cast(pa.large_binary()), ref)
    return 0  # booleans, dates, times, nulls: no room for an identifier


def _count_strings(values: pa.Array, ref: dt.date) -> int:
    # Cheap filters first (most values are short codes or amounts), distinct values last.
    long_enough = pc.greater_equal(pc.binary_length(values), 10)
    if not pc.any(long_enough).as_py():
        return 0
    values = values.filter(long_enough)
    candidates = values.filter(pc.match_substring_regex(values, _RUN))
    if not len(candidates):
        return 0
    candidates = pc.unique(candidates)
    if not pa.types.is_string(candidates.type) and not pa.types.is_large_string(candidates.type):
        candidates = candidates.cast(pa.large_binary())
    # Digit runs without their single separators ("640823-3234" -> one run): twice, since
    # a replacement cannot overlap the one before it.
    for _ in range(2):
        candidates = pc.replace_substring_regex(candidates, r"([0-9])[ +\-]([0-9])", r"\1\2")
    runs = pc.split_pattern_regex(candidates, r"[^0-9]+")
    owners = pc.list_parent_indices(runs).to_numpy(zero_copy_only=False)
    tokens = pc.list_flatten(runs)
    lengths = pc.binary_length(tokens).to_numpy(zero_copy_only=False)
    keep = lengths >= 10
    return _count_digit_runs(tokens.filter(pa.array(keep)), owners[keep], lengths[keep], ref)


def _count_digit_runs(
    tokens: pa.Array, owners: np.ndarray, lengths: np.ndarray, ref: dt.date
) -> int:
    """How many distinct owners have a token (a run of digits) with an identifier in one
    of its 10- and 12-digit windows; runs of one length at a time, as a digit matrix."""
    hit_owners: list[np.ndarray] = []
    for length in np.unique(lengths).tolist():
        rows = lengths == length
        sub = tokens.filter(pa.array(rows)).cast(pa.large_binary())
        data = np.frombuffer(sub.buffers()[2], dtype=np.uint8)
        offsets = np.frombuffer(sub.buffers()[1], dtype=np.int64)[
            sub.offset : sub.offset + len(sub) + 1
        ]
        digits = (data[offsets[0] : offsets[-1]] - ord("0")).astype(np.int64).reshape(-1, length)
        hit = np.zeros(len(digits), dtype=bool)
        for width in (10, 12):
            powers = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
            for start in range(length - width + 1):
                hit |= _valid(digits[:, start : start + width] @ powers, width, ref)
        hit_owners.append(owners[rows][hit])
    return len(np.unique(np.concatenate(hit_owners))) if hit_owners else 0


def _valid(keys: np.ndarray, width: int, ref: dt.date) -> np.ndarray:
    """Whether each 10- or 12-digit window is a valid number; a ten-digit one is tried
    in each century it could be written for."""
    tries = [keys] if width == 12 else [keys + c * 10**10 for c in (18, 19, 20)]
    hit = np.zeros(len(keys), dtype=bool)
    for attempt in tries:
        usable = attempt >= 10**11
        reason, _ = twelve_digit_reasons(np.where(usable, attempt, 10**11), ref)
        hit |= usable & (reason == 0)
    return hit


def _count_integers(values: pa.Array, ref: dt.date) -> int:
    if values.type.bit_width <= 16:  # at most 65,535: no room for an identifier
        return 0
    low, high = pc.min_max(values).values()  # one pass; most columns end here
    if low.as_py() is None or (-_INT_LOW < low.as_py() and high.as_py() < _INT_LOW):
        return 0
    ints = values.drop_null().to_numpy(zero_copy_only=False)
    if ints.dtype.kind == "u":  # uint64 above 2^63 is far above any identifier
        ints = ints[ints < _INT_HIGH]
    ints = np.abs(ints.astype(np.int64))
    ints = ints[(ints >= _INT_LOW) & (ints < _INT_HIGH)]
    if not len(ints):
        return 0
    distinct = np.unique(ints)
    # As text, zero-padded to ten digits like the parser does: the text rules then apply.
    return _count_strings(pc.utf8_lpad(pa.array(distinct).cast(pa.string()), 10, "0"), ref)


def _count_numbers(values: pa.Array, ref: dt.date) -> int:
    floats = values.drop_null().cast(pa.float64())
    array = np.abs(floats.to_numpy(zero_copy_only=False))
    whole = array[np.isfinite(array) & (array == np.floor(array)) & (array < _INT_HIGH)]
    return _count_integers(pa.array(whole.astype(np.int64)), ref)


def _count_texts(texts: list[str], ref: dt.date) -> int:
    """How many of ``texts`` hold a valid identifier somewhere."""
    return _count_strings(pa.array(texts, pa.string()), ref)
