"""Delimited and fixed-width text, read in blocks of whole lines.

A block of lines (a few MB, cut at a line end) is parsed by Arrow with every column as
text, so nothing is re-typed or loses its leading zeros before the catalogue types it.
Each line is one row: a value with a line break inside quotes is not supported (the
line count names rows exactly, as the reject files need). A line with the wrong number
of fields is a rejected row (reason ``fields``); only a block that holds such lines is
looked at line by line, to find them.

Encoding: given, or detected (UTF-8 with or without BOM, else Windows-1252, else
Latin-1, see :func:`pseudonymisation.files.detect_encoding`). Separator: given, or the
most frequent of ``;``, ``,``, tab and ``|`` in the header line. Decimal comma: given,
or accepted whenever the separator is not a comma.
"""

from __future__ import annotations

import codecs
import csv
import io
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import yaml

from mikrodata.pseudonymisation.files import detect_encoding
from mikrodata.toolkit.errors import BadInputError

__all__ = [
    "DELIMITERS",
    "FixedField",
    "Layout",
    "RawBatch",
    "load_layout",
    "read_delimited",
    "read_fixed_width",
]

DELIMITERS = (";", ",", "\t", "|")
_ENCODINGS = {"auto", "utf-8", "utf-8-sig", "latin-1", "cp1252"}


@dataclass
class RawBatch:
    """Columns as a reader found them, the 1-based source row of each, and the rows
    that could not be split into fields (row number, reason)."""

    columns: dict[str, pa.Array]
    rows: np.ndarray
    broken: list[tuple[int, str]]


def _encoding(path: Path, encoding: str) -> str:
    if encoding not in _ENCODINGS:
        raise BadInputError(
            f"unknown encoding {encoding!r}", f"use one of {', '.join(sorted(_ENCODINGS))}"
        )
    if encoding == "auto":
        encoding = detect_encoding(path)
    if encoding == "utf-8":
        with open(path, "rb") as handle:
            if handle.read(3) == codecs.BOM_UTF8:
                return "utf-8-sig"
    return encoding


def _blocks(path: Path, block_bytes: int) -> Iterator[bytes]:
    """The file in blocks of whole lines (the last may lack its line end)."""
    rest = b""
    with open(path, "rb") as handle:
        while chunk := handle.read(block_bytes):
            chunk = rest + chunk
            cut = chunk.rfind(b"\n")
            if cut < 0:
                rest = chunk
                continue
            rest = chunk[cut + 1 :]
            yield chunk[: cut + 1]
    if rest:
        yield rest


def _lines(block: bytes) -> list[bytes]:
    lines = block.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    return [line.rstrip(b"\r") for line in lines]


def _header(path: Path, first: bytes, encoding: str, delimiter: str | None):
    line = first.split(b"\n", 1)[0].rstrip(b"\r")
    try:
        text = line.decode(encoding)
    except UnicodeDecodeError:
        raise BadInputError(
            f"the header of {path.name} cannot be decoded as {encoding}",
            "give the file's encoding with --encoding",
        ) from None
    text = text.lstrip("\ufeff")
    if not text.strip():
        raise BadInputError(
            f"{path.name} has no header line", "deliver a header line naming the columns"
        )
    if delimiter is None:
        delimiter = max(DELIMITERS, key=text.count)
    elif delimiter not in DELIMITERS:
        raise BadInputError(f"unsupported separator {delimiter!r}", "use one of ; , tab |")
    names = [n.strip() for n in next(csv.reader(io.StringIO(text), delimiter=delimiter))]
    if len(set(names)) != len(names) or any(not n for n in names):
        raise BadInputError(
            f"the header of {path.name} has empty or repeated column names", "fix the header line"
        )
    return names, delimiter


def read_delimited(
    path: Path,
    *,
    encoding: str = "auto",
    delimiter: str | None = None,
    block_bytes: int = 8 << 20,
) -> tuple[list[str], str, str, Iterator[RawBatch]]:
    """The column names, encoding and separator of a delimited file, and its rows in
    batches (all columns text)."""
    encoding = _encoding(path, encoding)
    blocks = _blocks(path, block_bytes)
    first = next(blocks, b"")
    if not first:
        raise BadInputError(f"{path.name} is empty", "deliver a file with a header line")
    names, delimiter = _header(path, first, encoding, delimiter)
    first = first.split(b"\n", 1)[1] if b"\n" in first else b""

    def parse(block: bytes) -> tuple[pa.Table, int]:
        invalid = 0

        def on_invalid(row: pacsv.InvalidRow) -> str:
            nonlocal invalid
            invalid += 1
            return "skip"

        table = pacsv.read_csv(
            io.BytesIO(block),
            read_options=pacsv.ReadOptions(
                column_names=names,
                encoding="utf8" if encoding == "utf-8" else encoding,
                use_threads=False,
            ),
            parse_options=pacsv.ParseOptions(
                delimiter=delimiter,
                newlines_in_values=False,
                ignore_empty_lines=False,
                invalid_row_handler=on_invalid,
            ),
            convert_options=pacsv.ConvertOptions(
                column_types={n: pa.string() for n in names},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
        return table, invalid

    def batches() -> Iterator[RawBatch]:
        row = 0  # rows before this block (the header is not a row)
        # chain, never (first, *blocks): that would read the whole file into memory
        for block in itertools.chain([first] if first else [], blocks):
            n = block.count(b"\n") + (0 if block.endswith(b"\n") else 1)
            try:
                table, invalid = parse(block)
            except (pa.ArrowInvalid, UnicodeDecodeError):
                # Arrow's message quotes the offending text: never pass it on.
                raise BadInputError(
                    f"{path.name} cannot be read as {encoding} text",
                    "give the file's encoding with --encoding (latin-1, cp1252, utf-8)",
                ) from None
            numbers = np.arange(row + 1, row + n + 1, dtype=np.int64)
            broken: list[tuple[int, str]] = []
            if invalid:
                # Rare: find the lines with the wrong number of fields, one by one.
                text = block.decode(encoding, errors="replace")
                counts = [
                    len(fields) for fields in csv.reader(io.StringIO(text), delimiter=delimiter)
                ]
                bad = np.array([c != len(names) for c in counts[:n]], dtype=bool)
                broken = [(int(r), "fields") for r in numbers[bad]]
                numbers = numbers[~bad]
            if len(numbers) != table.num_rows:  # quoting the csv module reads otherwise
                raise BadInputError(
                    f"{path.name}: rows near row {row + 1} could not be told apart",
                    "check the quoting; a value may not hold a line break",
                )
            yield RawBatch({c: table.column(c).combine_chunks() for c in names}, numbers, broken)
            row += n

    return names, encoding, delimiter, batches()


@dataclass(frozen=True)
class FixedField:
    name: str
    start: int  # 1-based first character
    length: int


@dataclass(frozen=True)
class Layout:
    """A fixed-width layout: each field's name (a catalogue variable), start and length."""

    fields: tuple[FixedField, ...]
    encoding: str = "auto"
    decimal_comma: bool | None = None

    @property
    def width(self) -> int:
        return max(f.start + f.length - 1 for f in self.fields)


def load_layout(path: str | Path) -> Layout:
    """Read a layout file::

    encoding: latin-1        # optional (auto)
    decimal_comma: true      # optional
    fields:
      - {name: personnummer, start: 1, length: 12}
      - {name: kommun, start: 13, length: 4}
    """
    path = Path(path)
    hint = "a layout is YAML with fields: [{name, start, length}, ...] (see docs/deliveries.md)"
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        raise BadInputError(f"cannot read the layout {path.name}", hint) from None
    if not isinstance(doc, dict) or not isinstance(doc.get("fields"), list) or not doc["fields"]:
        raise BadInputError(f"the layout {path.name} has no list of fields", hint)
    fields = []
    for i, f in enumerate(doc["fields"], 1):
        ok = (
            isinstance(f, dict)
            and isinstance(f.get("name"), str)
            and isinstance(f.get("start"), int)
            and isinstance(f.get("length"), int)
            and f["start"] >= 1
            and f["length"] >= 1
        )
        if not ok:
            raise BadInputError(f"field {i} of the layout {path.name} is not valid", hint)
        fields.append(FixedField(f["name"], f["start"], f["length"]))
    names = [f.name for f in fields]
    if len(set(names)) != len(names):
        raise BadInputError(f"the layout {path.name} names a field twice", hint)
    spans = sorted((f.start, f.start + f.length) for f in fields)
    if any(a[1] > b[0] for a, b in zip(spans, spans[1:], strict=False)):
        raise BadInputError(f"fields of the layout {path.name} overlap", hint)
    return Layout(tuple(fields), str(doc.get("encoding", "auto")), doc.get("decimal_comma"))


def read_fixed_width(
    path: Path, layout: Layout, *, encoding: str = "auto", block_bytes: int = 8 << 20
) -> tuple[list[str], str, Iterator[RawBatch]]:
    """The field names and encoding of a fixed-width file, and its rows in batches
    (fields as text). Positions count characters; a line shorter than the layout is a
    rejected row (reason ``fields``)."""
    if encoding == "auto":
        encoding = layout.encoding
    encoding = _encoding(path, encoding)
    names = [f.name for f in layout.fields]
    width = layout.width

    def batches() -> Iterator[RawBatch]:
        row = 0
        for block in _blocks(path, block_bytes):
            try:
                text = block.decode(encoding)
            except UnicodeDecodeError:
                raise BadInputError(
                    f"{path.name} cannot be read as {encoding} text",
                    "give the file's encoding in the layout or with --encoding",
                ) from None
            if row == 0:
                text = text.lstrip("\ufeff")
            lines = text.split("\n")
            if lines and lines[-1] == "":
                lines.pop()
            column = pa.array([line.rstrip("\r") for line in lines], pa.string())
            numbers = np.arange(row + 1, row + len(lines) + 1, dtype=np.int64)

            short = np.asarray(pc.less(pc.utf8_length(column), width))
            broken = [(int(r), "fields") for r in numbers[short]]
            if short.any():
                column = column.filter(pa.array(~short))
                numbers = numbers[~short]
            columns = {
                f.name: pc.utf8_slice_codeunits(column, f.start - 1, f.start - 1 + f.length)
                for f in layout.fields
            }
            yield RawBatch(columns, numbers, broken)
            row += len(lines)

    return names, encoding, batches()
