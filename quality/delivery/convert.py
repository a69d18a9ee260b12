"""Values to the catalogue's types, and which values could not be converted.

Every reader hands its columns over as it found them (text from delimited and
fixed-width files, Arrow types from Parquet, Python values from SAS, Stata and SPSS).
:func:`to_catalogue_type` converts one column to its catalogue type and returns, beside
the converted array, a mask of the values that are present but cannot be read as that
type: those rows are rejected by the caller, never coerced to null.

Text is converted strictly: an integer is an optional sign and digits, a decimal may
use a decimal comma when the delivery does, a date is ``YYYY-MM-DD`` or ``YYYYMMDD``.
Text is never stripped of leading zeros (kommun ``0114`` stays ``0114``); surrounding
blanks are removed (fixed-width fields are padded). An empty field is a missing value.
"""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["ARROW_TYPES", "to_catalogue_type", "to_text"]

# catalogue type -> Arrow type of the column as every command sees it
ARROW_TYPES: dict[str, pa.DataType] = {
    "string": pa.string(),
    "code": pa.string(),
    "integer": pa.int64(),
    "decimal": pa.float64(),
    "date": pa.date32(),
}

_INTEGER = r"^[+-]?[0-9]+$"
_DECIMAL = r"^[+-]?([0-9]+([.][0-9]*)?|[.][0-9]+)([eE][+-]?[0-9]+)?$"
_DATE_ISO = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
_DATE_COMPACT = r"^[0-9]{8}$"


def _format_number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def to_text(values: pa.Array) -> pa.Array:
    """Any column as text, nulls kept; empty text is null."""
    if pa.types.is_string(values.type) or pa.types.is_large_string(values.type):
        text = values.cast(pa.string())
    elif pa.types.is_dictionary(values.type):
        return to_text(values.cast(values.type.value_type))
    else:
        # Arrow writes integral doubles without ".0": a SAS numeric kommun 114.0 reads
        # as "114", never as a new code "114.0".
        text = pc.cast(values, pa.string())
    text = pc.utf8_trim_whitespace(text)
    return pc.if_else(pc.equal(text, ""), pa.scalar(None, pa.string()), text)


def _parse_text(text: pa.Array, kind: str, decimal_comma: bool) -> tuple[pa.Array, pa.Array]:
    present = pc.is_valid(text)
    if kind in ("string", "code"):
        return text, pa.repeat(False, len(text))
    if kind == "integer":
        ok = pc.match_substring_regex(text, _INTEGER)
        clean = pc.if_else(ok, text, pa.scalar(None, pa.string()))
        # digits only, so the cast fails only on overflow (more than 18 digits)
        long = pc.greater(pc.utf8_length(pc.utf8_ltrim(clean, "+-")), 18)
        ok = pc.and_kleene(ok, pc.invert(long))
        clean = pc.if_else(ok, clean, pa.scalar(None, pa.string()))
        values = pc.cast(clean, pa.int64())
    elif kind == "decimal":
        if decimal_comma:
            text = pc.replace_substring(text, ",", ".")
        ok = pc.match_substring_regex(text, _DECIMAL)
        values = pc.cast(pc.if_else(ok, text, pa.scalar(None, pa.string())), pa.float64())
    elif kind == "date":
        compact = pc.match_substring_regex(text, _DATE_COMPACT)
        iso = pc.if_else(
            compact,
            pc.binary_join_element_wise(
                pc.utf8_slice_codeunits(text, 0, 4),
                pc.utf8_slice_codeunits(text, 4, 6),
                pc.utf8_slice_codeunits(text, 6, 8),
                "-",
            ),
            text,
        )
        iso = pc.if_else(
            pc.match_substring_regex(iso, _DATE_ISO), iso, pa.scalar(None, pa.string())
        )
        stamps = pc.strptime(iso, "%Y-%m-%d", "s", error_is_null=True)
        # strptime rolls 2020-02-30 over to 2020-03-01: a date must read back as written
        same = pc.equal(pc.strftime(stamps, "%Y-%m-%d"), iso)
        values = pc.cast(pc.if_else(same, stamps, pa.scalar(None, stamps.type)), pa.date32())
    else:  # a catalogue type this module does not know is a bug, not input
        raise ValueError(f"unknown catalogue type {kind!r}")
    bad = pc.and_(present, pc.is_null(values))
    return values, pc.fill_null(bad, False)


def _from_numbers(values: pa.Array, kind: str) -> tuple[pa.Array, pa.Array]:
    """A numeric column (Parquet, SAS, Stata, SPSS) to an integer or decimal column."""
    if kind == "decimal":
        return pc.cast(values, pa.float64()), pa.repeat(False, len(values))
    if pa.types.is_integer(values.type):
        return pc.cast(values, pa.int64()), pa.repeat(False, len(values))
    # floating point (SAS, Stata and SPSS store integers as doubles): integral only
    floats = pc.cast(values, pa.float64())
    finite = pc.and_(pc.is_finite(floats), pc.less_equal(pc.abs(floats), 2.0**53))
    integral = pc.and_(finite, pc.equal(pc.floor(floats), floats))
    integral = pc.fill_null(integral, False)
    bad = pc.and_(pc.is_valid(floats), pc.invert(integral))
    kept = pc.if_else(integral, floats, pa.scalar(None, pa.float64()))
    return pc.cast(kept, pa.int64()), pc.fill_null(bad, False)


def to_catalogue_type(
    values: pa.Array, kind: str, *, decimal_comma: bool = False
) -> tuple[pa.Array, pa.Array]:
    """``values`` as the catalogue type ``kind``, and a boolean mask of values present
    but not readable as it (the caller rejects those rows)."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    target = ARROW_TYPES[kind]
    if kind in ("string", "code"):
        return to_text(values), pa.repeat(False, len(values))
    if values.type == target:
        return values, pa.repeat(False, len(values))
    if pa.types.is_null(values.type):
        return pa.nulls(len(values), target), pa.repeat(False, len(values))
    numeric = pa.types.is_integer(values.type) or pa.types.is_floating(values.type)
    if kind in ("integer", "decimal") and numeric:
        return _from_numbers(values, kind)
    if kind == "date" and (pa.types.is_timestamp(values.type) or pa.types.is_date(values.type)):
        return _dates(values)
    return _parse_text(to_text(values), kind, decimal_comma)


def _dates(values: pa.Array) -> tuple[pa.Array, pa.Array]:
    # A datetime with a time of day other than midnight is not a date: reject it.
    if pa.types.is_timestamp(values.type):
        days = pc.cast(values, pa.date32())
        back = pc.cast(pc.cast(days, pa.timestamp(values.type.unit)), values.type)
        bad = pc.fill_null(pc.not_equal(back, values), False)
        return pc.if_else(bad, pa.scalar(None, pa.date32()), days), bad
    return pc.cast(values, pa.date32()), pa.repeat(False, len(values))


def python_column(items: list) -> pa.Array:
    """A column of Python values from SAS, Stata or SPSS as an Arrow array (dates as
    dates, datetimes as timestamps, times and mixed values as text)."""
    try:
        return pa.array(items)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        pass
    text = []
    for v in items:
        if v is None:
            text.append(None)
        elif isinstance(v, float):
            text.append(_format_number(v))
        elif isinstance(v, dt.date | dt.time):
            text.append(v.isoformat())
        else:
            text.append(str(v))
    return pa.array(text, pa.string())
