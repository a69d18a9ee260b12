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

__all__ = ["PACKED_WIDTH", "chunk_runs", "packed_keys", "packed_runs", "unpacked"]

PACKED_WIDTH = 16  # characters of a pseudonym: 16 hex digits, 64 bits
_BLOCK = 1 << 16  # strings per block: the temporaries stay in the cache
_RUN_SLICE = 1 << 20  # strings per piece of chunk_runs

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


def _halves(words: np.ndarray, a: np.ndarray, b: np.ndarray, c: np.ndarray) -> bool:
    """Eight hex characters per little-endian word -> their 32-bit value (first
    character the most significant nibble), left in ``a``; True when every byte was a
    lower-case hex digit. ``a``, ``b``, ``c`` are scratch arrays of the words' length,
    and all the work is done in them: no block allocates memory, which on a virtual
    machine (where fresh memory is expensive) was most of the cost."""
    np.add(words, _GE_0, out=a)
    np.add(words, _GT_9, out=b)
    np.bitwise_not(b, out=b)
    np.bitwise_and(a, b, out=a)  # a digit: the byte's high bit
    np.add(words, _GE_A, out=b)
    np.add(words, _GT_F, out=c)
    np.bitwise_not(c, out=c)
    np.bitwise_and(b, c, out=b)  # a letter a-f
    np.bitwise_or(a, b, out=a)
    np.bitwise_and(a, _HIGH, out=a)
    np.bitwise_xor(a, _HIGH, out=a)  # zero where every byte was one or the other
    np.bitwise_and(words, _HIGH, out=b)  # and no byte was beyond ASCII
    if a.any() or b.any():
        return False
    # '0'-'9' -> 0-9 (low nibble); 'a'-'f' (bit 6 set, low nibble 1-6) -> 10-15.
    np.right_shift(words, _U(6), out=a)
    np.bitwise_and(a, _ONE, out=a)
    np.multiply(a, _U(9), out=a)
    np.bitwise_and(words, _LOW, out=b)
    np.add(a, b, out=a)
    a.byteswap(inplace=True)  # the first character in the most significant byte
    for shift, mask, (src, dst) in ((4, _M16, (a, b)), (8, _M32, (b, c)), (16, _M64, (c, a))):
        np.right_shift(src, _U(shift), out=dst)  # pairs of nibbles -> bytes -> ...
        np.bitwise_or(dst, src, out=dst)
        np.bitwise_and(dst, mask, out=dst)
    return True


def _packed_chunk(chunk: pa.Array) -> np.ndarray | None:
    if not len(chunk) and _is_text(chunk):
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
    valid as their run's first is. Chunk by chunk; a run may go on across chunks."""
    if not len(column):
        return (np.zeros(0, bool), np.zeros(0, _U)) if _is_text(column) else None
    return _joined(chunk_runs(column))


def chunk_runs(column: pa.Array | pa.ChunkedArray):
    """:func:`packed_runs` a piece at a time (a generator of a chunk's or a slice's run
    starts and runs' first values, a run going on from the piece before not counted
    again), so that a caller can stop early; None in place of a piece not of the
    kind."""
    chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
    # Long chunks in slices (no copy), so that a caller stops early on any input.
    pieces = (c.slice(lo, _RUN_SLICE) for c in chunks for lo in range(0, len(c), _RUN_SLICE))
    last = None  # the previous piece's last value (packed)
    for chunk in pieces:
        words = _words(chunk)
        first = None
        if words is not None:
            start = np.ones(len(words), bool)
            np.not_equal(words[1:, 0], words[:-1, 0], out=start[1:])
            start[1:] |= words[1:, 1] != words[:-1, 1]
            # (np.take by position: several times faster than a 2-D boolean mask)
            first = _packed_words(np.take(words, np.flatnonzero(start), axis=0).ravel())
        if first is None:
            yield None
            return
        if last is not None and first[0] == last:  # the run goes on
            start[0], first = False, first[1:]
        last = first[-1] if len(first) else last
        yield start, first


def _joined(runs) -> tuple[np.ndarray, np.ndarray] | None:
    starts, firsts = [], []
    for part in runs:
        if part is None:
            return None
        starts.append(part[0])
        firsts.append(part[1])
    return np.concatenate(starts), np.concatenate(firsts)


def _is_text(column: pa.Array | pa.ChunkedArray) -> bool:
    return pa.types.is_string(column.type) or pa.types.is_large_string(column.type)


def _packed_words(words: np.ndarray) -> np.ndarray | None:
    """Two little-endian words per pseudonym -> its number, or None unless every byte
    is a lower-case hex digit."""
    n = len(words) // 2
    out = np.empty(n, _U)
    scratch = np.empty((3, 2 * min(n, _BLOCK)), _U)
    for lo in range(0, n, _BLOCK):
        hi = min(n, lo + _BLOCK)
        a, b, c = scratch[:, : 2 * (hi - lo)]
        if not _halves(words[2 * lo : 2 * hi], a, b, c):
            return None
        np.left_shift(a[0::2], _U(32), out=out[lo:hi])
        np.bitwise_or(out[lo:hi], a[1::2], out=out[lo:hi])
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
    scratch = np.empty((min(n, _BLOCK), PACKED_WIDTH), _U)  # reused: see _halves
    for lo in range(0, n, _BLOCK):
        hi = min(n, lo + _BLOCK)
        nibbles = scratch[: hi - lo]
        np.right_shift(values[lo:hi, None], _SHIFTS, out=nibbles)
        np.bitwise_and(nibbles, _U(15), out=nibbles)
        np.take(_DIGITS, nibbles, out=data[lo:hi])
    offsets = np.arange(0, PACKED_WIDTH * (n + 1), PACKED_WIDTH, dtype=np.int32)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(data))
