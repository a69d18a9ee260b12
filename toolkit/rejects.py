"""Rejected rows: one record everywhere a row cannot be used.

Every step that refuses a row (reading a delivery, parsing an identifier, selecting an
extract) records it the same way, so the quality summary, the reject files and the
messages all name a row alike::

    source_file   the delivered file, relative to the delivery's root
    source_row    the row's number in that file, counted from 1 (the header of a text
                  file is not a row)
    column        the column at fault (None when the whole row is unusable)
    reason        a code from REASONS (stable: scripts and reports rely on it)
    detail        the reason in words, never a value from the row

Reject files hold the rejected rows' other values too (steward side only, mode 0600):
see :func:`reject_schema`. Rows in = rows out + rows rejected at every step.

This module imports nothing of ours, so every layer may import it.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

__all__ = ["REASONS", "REJECT_FIELDS", "REJECT_SCHEMA", "Reject", "reject_schema"]

# code -> what it means. Identifier reasons first (the parser's), then reading and typing.
REASONS: dict[str, str] = {
    "missing": "the identifier is missing",
    "length": "the identifier has the wrong number of characters",
    "characters": "the identifier has characters that do not belong in one",
    "date": "the identifier's date part is not a real date",
    "check_digit": "the identifier's check digit is wrong",
    "interim": "an interim number, not a personnummer or samordningsnummer",
    "type": "the value cannot be read as the catalogue's type for the column",
    "fields": "the line has the wrong number of fields",
    "encoding": "the line cannot be decoded in the file's encoding",
    "outside_population": "the person is not in the approved population",
}

REJECT_FIELDS = ("source_file", "source_row", "column", "reason", "detail")
REJECT_SCHEMA = pa.schema(
    [
        pa.field("source_file", pa.string()),
        pa.field("source_row", pa.int64()),
        pa.field("column", pa.string()),
        pa.field("reason", pa.string()),
        pa.field("detail", pa.string()),
    ]
)


@dataclass(frozen=True)
class Reject:
    """One rejected row. ``str()`` of it is safe to print: it holds no row value."""

    source_file: str
    source_row: int
    column: str | None
    reason: str

    def __post_init__(self) -> None:
        if self.reason not in REASONS:
            raise ValueError(f"unknown reject reason {self.reason!r}")  # a bug, not input
        if self.source_row < 1:
            raise ValueError("source rows are counted from 1")

    @property
    def detail(self) -> str:
        return REASONS[self.reason]

    def __str__(self) -> str:
        where = f"{self.source_file} row {self.source_row}"
        column = f", column {self.column}" if self.column else ""
        return f"{where}{column}: {self.detail}"


def reject_schema(values: pa.Schema | None = None) -> pa.Schema:
    """The schema of a reject file: :data:`REJECT_SCHEMA`, then the rejected rows' own
    columns as text, each prefixed ``value_`` (steward side only)."""
    fields = list(REJECT_SCHEMA)
    for field in values or ():
        fields.append(pa.field(f"value_{field.name}", pa.string()))
    return pa.schema(fields)
