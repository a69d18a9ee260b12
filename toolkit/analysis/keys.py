"""Person pseudonyms as unsigned 64-bit integers, when they are the extract's kind.

The extract's ``lopnr`` is always 16 lower-case hex characters
(``pseudonymisation.pseudonyms.PSEUDONYM_PATTERN``). Such a string is the big-endian
hex spelling of one ``uint64``, and for strings of one length the order of those
numbers is the strings' (byte) order: ``'0'``-``'9'`` come before ``'a'``-``'f'`` as
their nibbles 0-9 come before 10-15. Sorting, grouping and joining on the numbers is
then exact and needs no hash table. :func:`packed_keys` gives them, read straight from
the Arrow buffers with NumPy, or None for any column that is not exactly of that kind
(a null, another length, an upper-case or non-hex character, a dictionary-encoded or
non-string column): the callers then take their general road.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

__all__ = ["PACKED_WIDTH", "packed_keys", "packed_runs", "unpacked"]

PACKED_WIDTH = 16  # characters of a pseudonym: 16 hex digits, 64 bits
_BLOCK = 1 << 16  # strings per block: the temporaries stay in the cache

_U = np.uint64


def _every_byte(value: int) -> np.uint64:
    return _U(int.from_bytes(bytes([value]) * 8, "little"))


# Per byte x < 0x80, x + (0x80 - k) has its high bit set exactly when x >= k, and no
# carry leaves the byte; so four additions classify the eight bytes of a word at once.
_HIGH = _every_byte(0x80)
_GE_0 = _every_byte(0x80 - 0x30)  # x >= '0'
_GT_9 = _every_byte(0x80 - 0x3A)  # x > '9'
_GE_A = _every_byte(0x80 - 0x61)  # x >= 'a'
_GT_F = _every_byte(0x80 - 0x67)  # x > 'f'
_LOW = _every_byte(0x0F)
_ONE = _every_byte(0x01)
_M16 = _U(0x00FF00FF00FF00FF)
_M32 = _U(0x0000FFFF0000FFFF)
_M64 = _U(0x00000000FFFFFFFF)


def _halves(words: np.ndarray) -> tuple[np.ndarray, bool]:
    """Eight hex characters per little-endian word -> their 32-bit value (first
    character the most significant nibble), and whether every byte was a lower-case
    hex digit."""
    digit = (words + _GE_0) & ~(words + _GT_9)
    letter = (words + _GE_A) & ~(words + _GT_F)
    ok = bool((((digit | letter) & _HIGH) == _HIGH).all()) and not (words & _HIGH).any()
    # '0'-'9' -> 0-9 (low nibble); 'a'-'f' (bit 6 set, low nibble 1-6) -> 10-15.
    nib = (words & _LOW) + _U(9) * ((words >> _U(6)) & _ONE)
    nib = nib.byteswap()  # the first character in the most significant byte
    nib = ((nib >> _U(4)) | nib) & _M16  # pairs of nibbles -> bytes
    nib = ((nib >> _U(8)) | nib) & _M32
    nib = ((nib >> _U(16)) | nib) & _M64
    return nib, ok


def _packed_chunk(chunk: pa.Array) -> np.ndarray | None:
    if not len(chunk) and (pa.types.is_string(chunk.type) or pa.types.is_large_string(chunk.type)):
        return np.zeros(0, _U)
    words = _words(chunk)
    return None if words is None else _packed_words(words.ravel())


def _words(chunk: pa.Array) -> np.ndarray | None:
    """A string chunk of 16-byte values without nulls as an (n, 2) array of
    little-endian words (no copy), or None."""
    n = len(chunk)
    if chunk.null_count or not n:
        return None
    if pa.types.is_string(chunk.type):
        offset_type = np.int32
    elif pa.types.is_large_string(chunk.type):
        offset_type = np.int64
    else:
        return None
    buffers = chunk.buffers()
    size = np.dtype(offset_type).itemsize
    offsets = np.frombuffer(buffers[1], offset_type, count=n + 1, offset=chunk.offset * size)
    if not (offsets[1:] - offsets[:-1] == PACKED_WIDTH).all():
        return None
    words = np.frombuffer(buffers[2], "<u8", count=2 * n, offset=int(offsets[0]))
    return words.reshape(n, 2)


def packed_runs(column: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray] | None:
    """Where a run of equal neighbouring values starts (a bool per row) and each run's
    value packed (:func:`packed_keys`), or None unless every value is a pseudonym of
    the extract's kind. Neighbours are compared as raw bytes and only the runs' first
    values are packed: cheaper than packing every row when the values come in runs
    (spells by person). Equal bytes are equal pseudonyms, so the values not packed are
    valid as their run's first is."""
    if isinstance(column, pa.ChunkedArray):
        if column.num_chunks != 1:
            packed = packed_keys(column)
            if packed is None:
                return None
            starts = np.ones(len(packed), bool)
            np.not_equal(packed[1:], packed[:-1], out=starts[1:])
            return starts, packed[starts]
        column = column.chunk(0)
    words = _words(column)
    if words is None:
        return None
    starts = np.ones(len(words), bool)
    np.not_equal(words[1:, 0], words[:-1, 0], out=starts[1:])
    starts[1:] |= words[1:, 1] != words[:-1, 1]
    firsts = _packed_words(words[starts].ravel())
    return None if firsts is None else (starts, firsts)


def _packed_words(words: np.ndarray) -> np.ndarray | None:
    """Two little-endian words per pseudonym -> its number, or None unless every byte
    is a lower-case hex digit."""
    n = len(words) // 2
    out = np.empty(n, _U)
    for lo in range(0, n, _BLOCK):
        hi = min(n, lo + _BLOCK)
        value, ok = _halves(words[2 * lo : 2 * hi])
        if not ok:
            return None
        out[lo:hi] = (value[0::2] << _U(32)) | value[1::2]
    return out


def packed_keys(column: pa.Array | pa.ChunkedArray) -> np.ndarray | None:
    """Each value of a string column of pseudonyms as a ``uint64`` (its 16 hex digits),
    or None unless every value is exactly 16 lower-case hex characters (no nulls). The
    numbers sort as the strings do, so equal and ordered numbers are equal and ordered
    pseudonyms."""
    chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
    parts = []
    for chunk in chunks:
        part = _packed_chunk(chunk)
        if part is None:
            return None
        parts.append(part)
    if not parts:
        return np.zeros(0, _U)
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


_DIGITS = np.frombuffer(b"0123456789abcdef", np.uint8)
_SHIFTS = np.arange(60, -1, -4, dtype=np.uint64)  # the first character: the top nibble


def unpacked(values: np.ndarray) -> pa.Array:
    """Packed pseudonyms back as the strings they were packed from (an Arrow string
    array): each number's 16 hex digits, lower-case; the inverse of
    :func:`packed_keys`."""
    values = np.asarray(values, _U)
    n = len(values)
    data = np.empty((n, PACKED_WIDTH), np.uint8)
    for lo in range(0, n, _BLOCK):
        hi = min(n, lo + _BLOCK)
        nibbles = (values[lo:hi, None] >> _SHIFTS) & _U(15)
        data[lo:hi] = _DIGITS[nibbles]
    offsets = np.arange(0, PACKED_WIDTH * (n + 1), PACKED_WIDTH, dtype=np.int32)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(data))
