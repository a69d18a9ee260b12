"""Pseudonyms: keyed hashes of identifiers, their form, and collision checks.

A pseudonym is the first 8 bytes of HMAC-SHA256(project key, domain tag + identifier),
written as 16 lower-case hex characters (``PSEUDONYM_PATTERN``). The identifier is the
normalised 12-character personnummer in the ``person`` domain, and the trimmed string in
any other domain (``household``, ``case``, ...); the domain is part of the HMAC message,
so a household pseudonym never equals a person's.

Why 64 bits as hex: an 8-byte value is as compact as an int64 to store (Parquet
dictionary-encodes the repeats) and fast to join, while a fixed-width hex string can
never be mistaken for a count, an amount or a personnummer, survives CSV and
spreadsheets, and can be checked with one regular expression in the expectation
suites. Collision arithmetic (birthday bound): for n distinct identifiers the chance
that any two share a pseudonym is about n^2 / 2^65. All of Sweden over a century,
including samordningsnummer, is at most about 3*10^7 identifiers: 9*10^14 / 3.7*10^19
= 2.4*10^-5, one project in about 40,000. Collisions are therefore checked, not assumed
away: every run keeps the distinct identifier -> pseudonym map and stops with an
IntegrityError if two identifiers share a pseudonym (the steward then rotates the
project key).

Only distinct identifiers are hashed: :class:`PseudonymCache` keeps the map in a hash
index (about 30-60 bytes per distinct identifier), so a register of 100 million rows
and a few million people hashes each person once, and a row of a person already seen
costs one hash look-up.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from mikrodata.toolkit.errors import BadInputError, IntegrityError

from .identifiers import (
    KINDS,
    REASONS,
    parse_identifiers_arrow,
    twelve_digit_reasons,
    twelve_digit_text,
)
from .keystore import KeyStore, ProjectKey

__all__ = [
    "MAX_ID_BYTES",
    "PERSON",
    "PSEUDONYM_BYTES",
    "PSEUDONYM_PATTERN",
    "REJECT_REASONS",
    "ColumnPseudonymiser",
    "PreparedColumn",
    "PseudonymCache",
    "check_domain",
    "find_pseudonym_collisions",
    "hex_pseudonyms",
    "is_pseudonym",
    "rekey_pairs",
    "rekey_table",
]

PSEUDONYM_BYTES = 8
PSEUDONYM_PATTERN = r"^[0-9a-f]{16}$"
PERSON = "person"
MAX_ID_BYTES = 64  # longer household/case ids are rejected ("length")
# Reasons a row is rejected: the parser's, plus interim numbers when not accepted.
REJECT_REASONS: tuple[str | None, ...] = (*REASONS, "interim")
_INTERIM_REASON = len(REASONS)
_MISSING, _LENGTH, _CHARACTERS = (REASONS.index(r) for r in ("missing", "length", "characters"))
_DOMAIN_RE = re.compile(r"[a-z][a-z0-9_]{0,31}")
_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


def check_domain(domain: str) -> str:
    """A domain name: lower-case ASCII letters, digits and '_'."""
    if not isinstance(domain, str) or not _DOMAIN_RE.fullmatch(domain):
        raise BadInputError(
            f"unknown identifier domain {domain!r}",
            "use person, household, case or another lower-case name",
        )
    return domain


def is_pseudonym(values: Any) -> pd.Series:
    """A boolean Series: which values have the form of a pseudonym (nulls are False)."""
    series = values if isinstance(values, pd.Series) else pd.Series(values)
    arr = pa.array(series.astype("string[pyarrow]"))
    matched = pc.fill_null(pc.match_substring_regex(arr, PSEUDONYM_PATTERN), False)
    return pd.Series(matched.to_numpy(zero_copy_only=False), index=series.index, dtype=bool)


def _pair_table() -> np.ndarray:
    # For every 16-bit value read little-endian from two characters (the first is the
    # low byte): their value 0-99 if both are ASCII digits, else 128.
    table = np.full(65536, 128, dtype=np.uint8)
    tens, ones = np.divmod(np.arange(100), 10)
    table[(48 + tens) | ((48 + ones) << 8)] = np.arange(100)
    return table


_PAIRS = _pair_table()


def _hex_table() -> np.ndarray:
    # Four hex characters for every 16-bit value: a pseudonym is four table look-ups.
    values = np.arange(65536, dtype=np.uint32)
    chars = np.stack([_HEX[(values >> s) & 15] for s in (12, 8, 4, 0)], axis=1)
    return chars.view(np.uint32).ravel()


_HEX4 = _hex_table()


def hex_pseudonyms(codes: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    """16-character hex strings for uint64 pseudonym codes (null where not ``valid``)."""
    codes = np.ascontiguousarray(codes, dtype=np.uint64)
    n = len(codes)
    quarters = codes.astype(">u8").view(">u2").reshape(n, 4)
    text = _HEX4[quarters].view(np.uint8).reshape(n, 16)
    if valid is None:
        valid = np.ones(n, dtype=bool)
    offsets = np.arange(0, (n + 1) * 16, 16, dtype=np.int64 if n * 16 >= 2**31 else np.int32)
    return pa.Array.from_buffers(
        pa.large_string() if n * 16 >= 2**31 else pa.string(),
        n,
        [
            pa.py_buffer(np.packbits(valid, bitorder="little")),
            pa.py_buffer(offsets),
            pa.py_buffer(text),
        ],
        null_count=int(n - np.count_nonzero(valid)),
    )


def _person_messages(keys: np.ndarray) -> np.ndarray:
    """The normalised 12-character identifiers for person keys (see ParsedIdentifiers),
    one per row of an (n, 12) uint8 array."""
    letters = keys // 10**12
    text = twelve_digit_text(keys % 10**12)
    has_letter = letters > 0
    text[has_letter, 8] = (64 + letters[has_letter]).astype(np.uint8)
    return text


class PseudonymCache:
    """The distinct identifier -> pseudonym map of one run, for one key and domain.

    Keys are int64 (persons: the normalised number) or bytes (other domains: the
    trimmed identifier). Known identifiers are found by hash look-ups over a whole
    array at once (rows in any order and repeated), so only identifiers not seen before
    are hashed. The keys live in pandas hash indexes; the codes are also kept in the
    order added, for the collision check. About 30-60 bytes per distinct identifier.
    """

    def __init__(self, key: ProjectKey, domain: str, nbytes: int | None = None) -> None:
        self.key = key
        self.domain = check_domain(domain)
        # Read at run time, so a test can shorten pseudonyms to provoke collisions.
        self.nbytes = nbytes or PSEUDONYM_BYTES
        # The codes in the order their keys were added: the first _count of a buffer
        # that doubles when full (a copy per batch would move the whole map each time).
        self._buffer = np.zeros(0, dtype=np.uint64)
        self._count = 0
        # The keys live in two pandas hash indexes, so adding a few
        # keys does not rebuild the big one: _index holds the first _indexed keys,
        # _recent those added since. _index is rebuilt over all keys once _recent holds
        # a quarter as many (amortised: each key is indexed a bounded number of times).
        self._index: pd.Index | None = None
        self._indexed = 0
        self._recent: pd.Index | None = None
        self.hashed = 0  # how many HMACs were computed

    @property
    def _codes(self) -> np.ndarray:
        return self._buffer[: self._count]

    def __len__(self) -> int:
        return self._count

    def __repr__(self) -> str:
        return f"PseudonymCache({self.key.key_id}, {self.domain}, distinct={len(self)})"

    def _hash(self, keys: np.ndarray) -> np.ndarray:
        if self.domain == PERSON:
            messages: np.ndarray | Iterable[bytes] = _person_messages(keys)
        else:
            messages = keys.tolist()  # bytes; trailing NULs cannot occur (rejected)
        digests = self.key.digests(self.domain, messages, self.nbytes)
        self.hashed += len(keys)
        raw = np.frombuffer(digests, dtype=np.uint8).reshape(len(keys), self.nbytes)
        if self.nbytes < 8:  # only tests shorten pseudonyms (to provoke collisions)
            raw = np.concatenate(
                [raw, np.zeros((len(keys), 8 - self.nbytes), dtype=np.uint8)], axis=1
            )
        return raw.copy().view(">u8").ravel().astype(np.uint64)

    def lookup(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(found mask, codes) for ``keys`` in any order, repeats allowed; codes are 0
        where not found. Nothing is hashed. Person keys that are negative (no valid
        identifier) are never found."""
        keys = _key_array(keys)
        pos = self._positions(keys)
        return pos >= 0, self._codes_at(pos)

    def _positions(self, keys: np.ndarray) -> np.ndarray:
        # Each key's position in the pandas indexes, or -1.
        if self._index is None or len(keys) == 0:
            return np.full(len(keys), -1, dtype=np.intp)
        pos = self._index.get_indexer(keys)
        if self._recent is not None:
            miss = np.flatnonzero(pos < 0)
            found = self._recent.get_indexer(keys[miss])
            pos[miss] = np.where(found >= 0, found + self._indexed, -1)
        return pos

    def _codes_at(self, positions: np.ndarray) -> np.ndarray:
        if len(self._codes) == 0:
            return np.zeros(len(positions), dtype=np.uint64)
        out = self._codes[positions]  # -1 picks the last code: zeroed below
        out[positions < 0] = 0
        return out

    def codes(self, keys: np.ndarray) -> np.ndarray:
        """uint64 pseudonym codes for distinct ``keys``; hashes the new ones and raises
        IntegrityError if two new ones share a pseudonym (collisions with earlier
        batches are caught by :meth:`check`)."""
        keys = _key_array(keys)
        if len(keys) == 0:
            return np.zeros(0, dtype=np.uint64)
        found, out = self.lookup(keys)
        new = ~found
        if new.any():
            out[new] = self.add_new(keys[new])
        return out

    def add_new(self, keys: np.ndarray) -> np.ndarray:
        """Hash distinct ``keys`` known not to be in the map yet (the caller has just
        looked them up), add them, and return their codes."""
        keys = _key_array(keys)
        codes = self._hash(keys)
        if _has_duplicates(codes):
            self._collision()
        self._add(keys, codes)
        return codes

    def _add(self, keys: np.ndarray, codes: np.ndarray) -> None:
        end = self._count + len(codes)
        if end > len(self._buffer):
            grown = np.zeros(max(end, 2 * len(self._buffer)), dtype=np.uint64)
            grown[: self._count] = self._codes
            self._buffer = grown
        self._buffer[self._count : end] = codes
        self._count = end
        if self._recent is not None:
            keys = np.concatenate([self._recent.to_numpy(), keys])
        if self._index is None or len(keys) > self._indexed // 4:
            if self._index is not None:
                keys = np.concatenate([self._index.to_numpy(), keys])
            self._index, self._indexed, self._recent = pd.Index(keys, copy=False), len(keys), None
        else:
            self._recent = pd.Index(keys, copy=False)

    def check(self) -> None:
        """Raise IntegrityError if two distinct identifiers share a pseudonym."""
        if _has_duplicates(self._codes):
            self._collision()

    def _collision(self) -> None:
        raise IntegrityError(
            f"pseudonym collision: two distinct {self.domain} identifiers got the same "
            f"pseudonym under key {self.key.key_id}; nothing was written",
            "rotate the project key (`mikrodata keys rotate`) and run again",
        )


def _key_array(keys: np.ndarray) -> np.ndarray:
    # Fixed-width bytes (S<w>) become bytes objects, so keys of any width compare
    # and hash alike in the index (trailing NULs cannot occur: they are rejected).
    keys = np.asarray(keys)
    return keys.astype(object) if keys.dtype.kind == "S" else keys


def _has_duplicates(codes: np.ndarray) -> bool:
    ordered = np.sort(codes)  # NumPy's SIMD sort: much faster than np.unique here
    return bool((ordered[1:] == ordered[:-1]).any())


def _fixed_bytes(strings: pa.Array) -> np.ndarray:
    """A 1-D NumPy ``S<w>`` array of the UTF-8 bytes of non-null ``strings``, without a
    Python loop: the bytes are scattered into an (n, w) matrix by their offsets."""
    strings = strings.cast(pa.string())
    n = len(strings)
    if n == 0:
        return np.zeros(0, dtype="S1")
    offsets = np.frombuffer(strings.buffers()[1], dtype=np.int32)[
        strings.offset : strings.offset + n + 1
    ].astype(np.int64)
    data = np.frombuffer(strings.buffers()[2], dtype=np.uint8)
    lengths = np.diff(offsets)
    width = max(int(lengths.max()), 1)
    out = np.zeros((n, width), dtype=np.uint8)
    total = int(lengths.sum())
    starts = np.repeat(offsets[:-1] - offsets[0], lengths)
    rows = np.repeat(np.arange(n, dtype=np.int32), lengths)
    cols = np.arange(total, dtype=np.int64) - starts
    out[rows, cols] = data[offsets[0] : offsets[-1]]
    return out.view(f"S{width}").ravel()


class PreparedColumn(NamedTuple):
    """A column read for pseudonymising (:meth:`ColumnPseudonymiser.prepare`):
    ``raw`` holds each row's 12-digit value (-1 for other forms), or None when the
    column's type or domain has no fast path."""

    column: pa.Array
    raw: np.ndarray | None


class ColumnPseudonymiser:
    """Pseudonymises columns of one domain, keeping one :class:`PseudonymCache` across
    every batch and column it sees (so one person in two columns, or two batches, is
    hashed once and gets one pseudonym)."""

    def __init__(
        self,
        key: ProjectKey,
        domain: str,
        *,
        reference_date: dt.date | None = None,
        allow_interim: bool = False,
        nbytes: int | None = None,
    ) -> None:
        self.domain = check_domain(domain)
        self.reference_date = reference_date or dt.date.today()
        self.allow_interim = allow_interim
        self.cache = PseudonymCache(key, domain, nbytes)

    def _reasons(self, reason: np.ndarray, kind: np.ndarray) -> np.ndarray:
        reason = reason.astype(np.int8)
        if not self.allow_interim:
            reason[kind == KINDS.index("interim")] = _INTERIM_REASON
        return reason

    def _entries(self, values: pa.Array) -> tuple[np.ndarray, np.ndarray]:
        """Distinct values -> (reason codes, keys of the valid ones in order)."""
        if self.domain == PERSON:
            parsed = parse_identifiers_arrow(values, self.reference_date)
            reason = self._reasons(parsed.reason, parsed.kind)
            return reason, parsed.key[reason == 0]
        if (
            pa.types.is_integer(values.type)
            or pa.types.is_string(values.type)
            or (pa.types.is_large_string(values.type))
        ):
            strings = pc.cast(values, pa.string())
        else:
            raise BadInputError(
                f"a {self.domain} identifier column has type {values.type}",
                "deliver identifiers as text or integers",
            )
        trimmed = pc.utf8_trim_whitespace(pc.fill_null(strings, ""))
        nbytes = pc.binary_length(trimmed).to_numpy(zero_copy_only=False)
        control = pc.match_substring_regex(trimmed, r"[\x00-\x1f\x7f]").to_numpy(
            zero_copy_only=False
        )
        reason = np.zeros(len(values), dtype=np.int8)
        reason[control] = _CHARACTERS
        reason[nbytes > MAX_ID_BYTES] = _LENGTH
        reason[nbytes == 0] = _MISSING
        return reason, _fixed_bytes(trimmed.filter(pa.array(reason == 0)))

    def apply(
        self, column: pa.Array | pa.ChunkedArray, allow_null: bool = False
    ) -> tuple[pa.Array, np.ndarray]:
        """Pseudonyms for one column (null where rejected) and per-row reason codes
        (indices into REJECT_REASONS, 0 = accepted). Nulls are rejected as missing
        unless ``allow_null``, when they stay null."""
        codes, reason, valid = self.resolve(self.prepare(column), allow_null)
        return hex_pseudonyms(codes, valid), reason

    def prepare(self, column: pa.Array | pa.ChunkedArray) -> PreparedColumn:
        """The first, stateless step of :meth:`apply`: reads the column's 12-digit
        values. Touches no shared state, so a reader thread can run it ahead."""
        if isinstance(column, pa.ChunkedArray):
            column = column.combine_chunks()
        column = identifier_column(column, self.domain)
        raw = _twelve_digit_keys(column) if self.domain == PERSON else None
        return PreparedColumn(column, raw)

    def resolve(
        self, prepared: PreparedColumn, allow_null: bool = False
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The stateful step of :meth:`apply`: (uint64 codes, reason codes, valid mask)
        per row, hashing identifiers not seen before. Batches must be resolved one at
        a time, in order; :func:`hex_pseudonyms` turns the codes into pseudonyms."""
        column, raw = prepared.column, prepared.raw
        n = len(column)
        if raw is not None:
            # Rows of any other form (raw -1) come back unknown from the fast path,
            # which leaves them to the generic one below: no masked copies of the whole
            # column.
            reason, codes, rest = self._apply_fast(raw)
        else:
            reason = np.zeros(n, dtype=np.int8)
            codes = np.zeros(n, dtype=np.uint64)
            rest = np.ones(n, dtype=bool)
        if rest.all():
            self._apply_generic(column, reason, codes, allow_null)
        elif rest.any():
            sub_reason = np.zeros(int(rest.sum()), dtype=np.int8)
            sub_codes = np.zeros(len(sub_reason), dtype=np.uint64)
            self._apply_generic(column.filter(pa.array(rest)), sub_reason, sub_codes, allow_null)
            reason[rest], codes[rest] = sub_reason, sub_codes
        valid = reason == 0
        if allow_null:
            valid &= ~column.is_null().to_numpy(zero_copy_only=False)
        return codes, reason, valid

    def _apply_fast(self, raw: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(reason codes, pseudonym codes, rows left) for a column whose rows written
        as exactly 12 digits have their int64 value in ``raw`` (others -1). A valid value
        is already the normalised key, so known people are found by one hash look-up
        per row, without parsing or deduplicating the batch; only values not seen
        before are deduplicated, checked (and hashed if valid). The rows of other forms
        are left (True in the third array) for the generic path."""
        found, row_codes = self.cache.lookup(raw)
        row_reason = np.zeros(len(raw), dtype=np.int8)
        left = np.zeros(len(raw), dtype=bool)
        unknown = np.flatnonzero(~found)
        if len(unknown):
            other_form = raw[unknown] < 0
            left[unknown[other_form]] = True
            unknown = unknown[~other_form]
        if len(unknown):
            inverse, distinct = pd.factorize(raw[unknown])  # hash-based, no sort
            entry_reason = self._reasons(*twelve_digit_reasons(distinct, self.reference_date))
            ok = entry_reason == 0
            entry_codes = np.zeros(len(distinct), dtype=np.uint64)
            # A valid value is its key, and these were all just looked up and missed.
            entry_codes[ok] = self.cache.add_new(distinct[ok])
            row_reason[unknown] = entry_reason[inverse]
            row_codes[unknown] = entry_codes[inverse]
        return row_reason, row_codes, left

    def _apply_generic(
        self, column: pa.Array, reason: np.ndarray, codes: np.ndarray, allow_null: bool
    ) -> None:
        """Any form: deduplicate the raw values, parse the distinct ones, map back."""
        encoded = column if pa.types.is_dictionary(column.type) else pc.dictionary_encode(column)
        dictionary = encoded.dictionary
        if pa.types.is_dictionary(column.type) and column.type.value_type != dictionary.type:
            dictionary = dictionary.cast(column.type.value_type)
        entry_reason, keys = self._entries(dictionary)
        entry_codes = np.zeros(len(dictionary), dtype=np.uint64)
        if len(keys):
            distinct, inverse = np.unique(keys, return_inverse=True)
            entry_codes[entry_reason == 0] = self.cache.codes(distinct)[inverse.ravel()]
        indices = encoded.indices
        null_rows = indices.is_null().to_numpy(zero_copy_only=False)
        if len(dictionary):
            idx = pc.fill_null(indices, 0).to_numpy(zero_copy_only=False)
            reason[:] = entry_reason[idx]
            codes[:] = entry_codes[idx]
        reason[null_rows] = 0 if allow_null else _MISSING


def check_identifier_type(t: pa.DataType, domain: str, name: str = "an identifier column") -> None:
    """Refuse a column type that holds no single identifier per row (lists, structs,
    dates...) before anything is read: a typed error rather than Arrow's own."""
    if pa.types.is_dictionary(t):
        t = t.value_type
    ok = (
        pa.types.is_string(t)
        or pa.types.is_large_string(t)
        or pa.types.is_integer(t)
        or pa.types.is_binary(t)
        or pa.types.is_large_binary(t)
        or pa.types.is_null(t)
        or (domain == PERSON and pa.types.is_floating(t))
    )
    if not ok:
        raise BadInputError(
            f"{name} has type {t}, which holds no identifier of its own per row",
            "deliver identifiers as text or whole numbers, one per row",
        )


def identifier_column(column: pa.Array, domain: str) -> pa.Array:
    """An identifier column in a type the parsers read: bytes as UTF-8 text (an error if
    they are not), uint64 beyond int64 as text (too long for an identifier anyway)."""
    t = column.type
    check_identifier_type(t, domain)
    if pa.types.is_dictionary(t) and not (
        pa.types.is_string(t.value_type) or pa.types.is_large_string(t.value_type)
    ):
        return identifier_column(column.dictionary_decode(), domain)
    if pa.types.is_binary(t) or pa.types.is_large_binary(t):
        try:
            return column.cast(pa.large_string() if pa.types.is_large_binary(t) else pa.string())
        except pa.ArrowInvalid:
            raise BadInputError(
                "an identifier column holds bytes that are not UTF-8 text",
                "deliver identifiers as text (UTF-8) or whole numbers",
            ) from None
    if pa.types.is_uint64(t):
        top = pc.max(column).as_py()
        return column.cast(pa.string() if top is not None and top >= 2**63 else pa.int64())
    return column


def _twelve_digit_keys(column: pa.Array) -> np.ndarray | None:
    """Per row: the value of a string of exactly 12 ASCII digits (or an integer of 12
    digits), else -1. None when the column type has no fast path."""
    t = column.type
    if pa.types.is_integer(t):
        values = pc.fill_null(column.cast(pa.int64()), -1).to_numpy(zero_copy_only=False)
        return np.where((values >= 10**11) & (values < 10**12), values, -1)
    if not (pa.types.is_string(t) or pa.types.is_large_string(t)):
        return None
    n = len(column)
    off_type = np.int64 if pa.types.is_large_string(t) else np.int32
    lengths = pc.fill_null(pc.binary_length(column), 0).to_numpy(zero_copy_only=False)
    twelve = lengths == 12
    out = np.full(n, -1, dtype=np.int64)
    if not twelve.any():
        return out
    subset = column if twelve.all() else column.filter(pa.array(twelve))
    m = len(subset)
    offsets = np.frombuffer(subset.buffers()[1], dtype=off_type)[
        subset.offset : subset.offset + m + 1
    ]
    data = np.frombuffer(subset.buffers()[2], dtype=np.uint8)[offsets[0] : offsets[-1]]
    # Each row is six 2-character pairs; one look-up per pair gives its value 0-99 (or
    # 128 for a non-digit), so checking and converting take a few vector operations.
    pairs = _PAIRS[data.view("<u2").reshape(m, 6).T]  # (6, m): one row per pair
    values = pairs[0].astype(np.int64)
    flags = pairs[0].copy()
    for i in range(1, 6):
        values *= 100
        values += pairs[i]
        flags |= pairs[i]
    values[flags >= 128] = -1
    if m == n:
        return values
    out[twelve] = values
    return out


def find_pseudonym_collisions(identifiers: Any, pseudonyms: Any) -> pa.Table:
    """Pseudonyms that more than one distinct identifier maps to, with how many.

    ``identifiers`` and ``pseudonyms`` are parallel columns (any form pyarrow accepts;
    identifiers as normalised values). Returns a pyarrow Table ``pseudonym``,
    ``identifiers`` (a count): empty when the map is one-to-one. The identifiers
    themselves are never returned.
    """
    table = pa.table({"i": pa.array(identifiers), "p": pa.array(pseudonyms)})
    table = table.filter(pc.and_(pc.is_valid(table["i"]), pc.is_valid(table["p"])))
    pairs = table.group_by(["p", "i"]).aggregate([])
    counts = pairs.group_by("p").aggregate([("i", "count")])
    counts = counts.rename_columns(["pseudonym", "identifiers"]).select(
        ["pseudonym", "identifiers"]
    )
    return counts.filter(pc.greater(counts["identifiers"], 1)).sort_by("pseudonym")


def rekey_pairs(
    old: ProjectKey,
    new: ProjectKey,
    identifiers: Any,
    *,
    domain: str = PERSON,
    reference_date: dt.date | None = None,
) -> pa.Table:
    """old pseudonym -> new pseudonym for the distinct valid ``identifiers``."""
    if old.project != new.project:
        raise BadInputError("re-keying works within one project", "give two versions of it")
    if isinstance(identifiers, (pa.Array, pa.ChunkedArray)):
        arr = identifiers
    else:
        arr = pa.array(identifiers)
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    distinct = pc.unique(arr)
    out = []
    for key in (old, new):
        pseudonymiser = ColumnPseudonymiser(key, domain, reference_date=reference_date)
        pseudonyms, reason = pseudonymiser.apply(distinct)
        pseudonymiser.cache.check()
        out.append(pseudonyms)
    keep = pa.array(reason == 0)
    table = pa.table({"old_pseudonym": out[0].filter(keep), "new_pseudonym": out[1].filter(keep)})
    table = table.group_by(["old_pseudonym", "new_pseudonym"]).aggregate([])
    table = table.sort_by("old_pseudonym")
    return table.replace_schema_metadata(
        {
            "mikrodata.old_key_id": old.key_id,
            "mikrodata.new_key_id": new.key_id,
            "mikrodata.rejected_distinct": str(int((reason != 0).sum())),
        }
    )


def rekey_table(
    store: KeyStore,
    project: str,
    identifiers: Any,
    old_version: int,
    new_version: int,
    *,
    domain: str = PERSON,
    reference_date: dt.date | None = None,
) -> pa.Table:
    """The re-keying table old pseudonym -> new pseudonym of ``project`` for the distinct
    valid ``identifiers`` (a column of raw identifiers: steward only, since it needs the
    opened key ``store``). Returns a pyarrow Table ``old_pseudonym``, ``new_pseudonym``;
    its schema metadata records both key ids and how many inputs were invalid."""
    old = store.project_key(project, old_version)
    new = store.project_key(project, new_version)
    return rekey_pairs(old, new, identifiers, domain=domain, reference_date=reference_date)
