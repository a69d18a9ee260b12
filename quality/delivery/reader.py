"""One reader for every delivery format: :func:`open_delivery`.

A delivery is a file, or a directory of files of one format (hive-style folders such as
``statistikar=2015/`` add their value as a column). Its rows come out as Arrow record
batches whose columns have the catalogue's types (:mod:`quality.delivery.convert`);
columns the catalogue does not know come out as text (Parquet's keep their type). A
row with a value that cannot be read as its catalogue type, or a line that cannot be
split into fields, is a rejected row with its source file, row and reason
(:mod:`toolkit.rejects`), never coerced; ``rows_in == rows_out + rows_rejected`` is
checked when the last batch has been read.

Formats, by suffix: Parquet (``.parquet``, ``.pq``); delimited text (``.csv``, ``.tsv``,
``.txt``); fixed-width text (``.txt``, ``.dat`` with a layout: ``--layout`` or a
``<name>.layout.yaml`` beside the file); SAS (``.sas7bdat``, ``.xpt``), Stata (``.dta``),
SPSS (``.sav``). Memory is bounded by the batch size, whatever the file's size.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from mikrodata.quality.catalogue import load
from mikrodata.toolkit.errors import BadInputError, IntegrityError
from mikrodata.toolkit.rejects import REASONS, REJECT_SCHEMA

from .convert import ARROW_TYPES, to_catalogue_type, to_text
from .statfiles import read_statfile
from .text import Layout, RawBatch, load_layout, read_delimited, read_fixed_width

__all__ = [
    "FORMATS",
    "FILE_COLUMN",
    "ROW_COLUMN",
    "Delivery",
    "ReadOptions",
    "delivery_format",
    "open_delivery",
]

FILE_COLUMN = "_file"
ROW_COLUMN = "_row"

# suffix -> format
FORMATS = {
    ".parquet": "parquet",
    ".pq": "parquet",
    ".csv": "csv",
    ".tsv": "csv",
    ".txt": "csv",
    ".dat": "fixed",
    ".sas7bdat": "sas7bdat",
    ".xpt": "xpt",
    ".dta": "dta",
    ".sav": "sav",
}
LAYOUT_SUFFIX = ".layout.yaml"


@dataclass(frozen=True)
class ReadOptions:
    """How to read text deliveries; ``None``/``"auto"`` means detect."""

    encoding: str = "auto"
    delimiter: str | None = None
    decimal: str | None = None  # "," or "."; None: a comma is accepted unless it separates
    layout: str | os.PathLike[str] | None = None
    batch_rows: int = 250_000
    block_bytes: int = 8 << 20

    def __post_init__(self) -> None:
        if self.decimal not in (None, ",", "."):
            raise BadInputError(f"unknown decimal mark {self.decimal!r}", "use , or .")


def _layout_beside(path: Path) -> Path | None:
    beside = path.with_name(path.stem + LAYOUT_SUFFIX)
    return beside if beside.is_file() else None


def delivery_format(path: Path, options: ReadOptions | None = None) -> str:
    """The format of one delivered file, from its suffix (and a layout for fixed width)."""
    options = options or ReadOptions()
    kind = FORMATS.get(path.suffix.lower())
    if kind is None:
        raise BadInputError(
            f"cannot tell the format of {path.name} from its suffix",
            "use .parquet, .csv, .txt, .dat (with a layout), .sas7bdat, .xpt, .dta or .sav",
        )
    if kind in ("csv", "fixed") and (options.layout or _layout_beside(path)):
        return "fixed"
    if kind == "fixed":
        raise BadInputError(
            f"{path.name} is fixed-width text without a layout",
            f"give --layout or put {path.stem}{LAYOUT_SUFFIX} beside it",
        )
    return kind


def _files(path: Path, options: ReadOptions) -> tuple[list[Path], Path]:
    if path.is_file():
        return [path], path.parent
    if not path.is_dir():
        raise BadInputError(f"no such file or directory: {path}", "check the path of the delivery")
    files = sorted(
        p
        for p in path.rglob("*")
        if p.is_file()
        and not p.name.startswith(".")
        and p.suffix.lower() in FORMATS
        and not p.name.endswith(LAYOUT_SUFFIX)
    )
    if not files:
        raise BadInputError(
            f"no delivered files under {path}",
            "give a file or a directory of .parquet, .csv, .sas7bdat, .xpt, .dta or .sav files",
        )
    kinds = {delivery_format(f, options) for f in files}
    if len(kinds) > 1:
        raise BadInputError(
            f"{path} holds files of several formats ({', '.join(sorted(kinds))})",
            "deliver one format per directory",
        )
    return files, path


def _partition_values(file: Path, root: Path) -> dict[str, str]:
    """``statistikar=2015`` folders between ``root`` and ``file``."""
    values = {}
    for part in file.parent.relative_to(root).parts:
        name, sep, value = part.partition("=")
        if sep and name:
            values[name] = value
    return values


def _parquet(path: Path, batch_rows: int) -> tuple[list[str], int, Iterator[RawBatch]]:
    try:
        source = pq.ParquetFile(path, pre_buffer=False)
    except (pa.ArrowInvalid, OSError):
        raise BadInputError(
            f"{path.name} is not a readable Parquet file (damaged or truncated?)",
            "check the file, or deliver it again",
        ) from None
    names = list(source.schema_arrow.names)

    def batches() -> Iterator[RawBatch]:
        row = 0
        try:
            for batch in source.iter_batches(batch_size=batch_rows, use_threads=False):
                n = batch.num_rows
                numbers = np.arange(row + 1, row + n + 1, dtype=np.int64)
                yield RawBatch(
                    dict(zip(batch.schema.names, batch.columns, strict=True)), numbers, []
                )
                row += n
        except (pa.ArrowInvalid, OSError):
            raise BadInputError(
                f"{path.name} is not a readable Parquet file (damaged or truncated?)",
                "check the file, or deliver it again",
            ) from None

    return names, source.metadata.num_rows, batches()


def _same_type(values: pa.Array, field_: pa.Field, name: str) -> pa.Array:
    if values.type == field_.type:
        return values
    try:
        return values.cast(field_.type)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        raise BadInputError(
            f"column {field_.name} of {name} has another type than in the first file",
            "deliver every file of one register with the same column types",
        ) from None


@dataclass
class _Opened:
    file: Path
    names: list[str]  # delivered names, as the catalogue spells them where it knows them
    batches: Iterator[RawBatch]
    native: dict[str, pa.DataType]  # Parquet's own types (kept for unknown columns)
    decimal_comma: bool
    encoding: str | None = None
    delimiter: str | None = None


@dataclass
class Delivery:
    """An opened delivery: its files, format and schema; read it with :meth:`batches`.

    Rejected rows go to ``on_reject`` (a batch of :data:`toolkit.rejects.REJECT_SCHEMA`
    plus the row's values as text, ``value_<column>``), or are kept in ``rejected``."""

    path: Path
    register: str | None
    format: str
    files: list[Path]
    root: Path
    options: ReadOptions
    schema: pa.Schema = field(init=False)
    rows_in: int = 0
    rows_out: int = 0
    rows_rejected: int = 0
    rejected: list[pa.RecordBatch] = field(default_factory=list)
    on_reject: Callable[[pa.RecordBatch], None] | None = None
    details: dict[str, str] = field(default_factory=dict)  # detected encoding, separator

    def __post_init__(self) -> None:
        reg = load(self.register) if self.register else None
        self._types = {v.name: v.type for v in reg.variables} if reg else {}
        self._layout: Layout | None = None
        if self.format == "fixed":
            layout = self.options.layout or _layout_beside(self.files[0])
            self._layout = load_layout(layout)
        # Every file's header is read now, so a bad file fails before any row is used.
        self._opened = [self._open(f) for f in self.files]
        names: list[str] = []
        for opened in self._opened:
            names += [n for n in opened.names if n not in names]
        if self._types and not set(names) & set(self._types):
            raise BadInputError(
                f"{self.files[0].name} has no column named as a variable of {self.register}",
                "check that the file has a header line with the catalogue's variable names",
            )
        native: dict[str, pa.DataType] = {}
        for opened in self._opened:
            for n, t in opened.native.items():
                native.setdefault(n, t)
        self.schema = pa.schema(
            [
                pa.field(
                    n,
                    ARROW_TYPES[self._types[n]] if n in self._types else native.get(n, pa.string()),
                )
                for n in names
            ]
        )

    def _catalogue_name(self, name: str) -> str:
        # SAS transport and some exports upper-case names: match the catalogue's spelling.
        lower = name.lower()
        return lower if lower in self._types and name not in self._types else name

    def _open(self, file: Path) -> _Opened:
        o = self.options
        kind = delivery_format(file, o)
        decimal_comma = o.decimal == ","
        encoding = delimiter = None
        native: dict[str, pa.DataType] = {}
        if kind == "parquet":
            names, _, batches = _parquet(file, o.batch_rows)
            schema = pq.read_schema(file)
            native = {self._catalogue_name(f.name): f.type for f in schema}
        elif kind == "csv":
            names, encoding, delimiter, batches = read_delimited(
                file, encoding=o.encoding, delimiter=o.delimiter, block_bytes=o.block_bytes
            )
            decimal_comma = o.decimal == "," or (o.decimal is None and delimiter != ",")
        elif kind == "fixed":
            assert self._layout is not None
            names, encoding, batches = read_fixed_width(
                file, self._layout, encoding=o.encoding, block_bytes=o.block_bytes
            )
            comma = self._layout.decimal_comma
            decimal_comma = o.decimal == "," or (o.decimal is None and comma is not False)
        else:
            names, _, batches = read_statfile(
                file, kind, encoding=o.encoding, batch_rows=o.batch_rows
            )
        extra = _partition_values(file, self.root)
        mapped = [self._catalogue_name(n) for n in names]
        if len(set(mapped)) != len(mapped):
            raise BadInputError(f"{file.name} names a column twice", "fix the column names")
        mapped += [n for n in extra if n not in mapped]
        return _Opened(file, mapped, batches, native, decimal_comma, encoding, delimiter)

    def relative(self, file: Path) -> str:
        return file.relative_to(self.root).as_posix()

    def batches(self, *, positions: bool = False) -> Iterator[pa.RecordBatch]:
        """The delivery's usable rows in batches of :attr:`schema` (plus ``_file`` and
        ``_row``, the source file and its 1-based row, when ``positions``)."""
        for opened in self._opened:
            if opened.encoding:
                self.details.setdefault("encoding", opened.encoding)
            if opened.delimiter:
                self.details.setdefault("delimiter", opened.delimiter)
            extra = _partition_values(opened.file, self.root)
            name = self.relative(opened.file)
            for raw in opened.batches:
                batch = self._convert(raw, opened, extra, name, positions)
                if batch is not None:
                    yield batch
        if self.rows_in != self.rows_out + self.rows_rejected:
            raise IntegrityError(
                f"read {self.rows_in} rows but {self.rows_out} out and "
                f"{self.rows_rejected} rejected",
                "this is a bug; please report it",
            )

    def _reject(
        self, name: str, rows: np.ndarray, columns: list, reasons: list, values: dict
    ) -> None:
        data = {
            "source_file": pa.array([name] * len(rows), pa.string()),
            "source_row": pa.array(rows, pa.int64()),
            "column": pa.array(columns, pa.string()),
            "reason": pa.array(reasons, pa.string()),
            "detail": pa.array([REASONS[r] for r in reasons], pa.string()),
        }
        for col, arr in values.items():
            data[f"value_{col}"] = arr
        batch = pa.RecordBatch.from_pydict(data)
        assert batch.schema.names[:5] == REJECT_SCHEMA.names
        self.rows_rejected += len(rows)
        if self.on_reject is not None:
            self.on_reject(batch)
        else:
            self.rejected.append(batch)

    def _convert(
        self, raw: RawBatch, opened: _Opened, extra: dict[str, str], name: str, positions: bool
    ) -> pa.RecordBatch | None:
        n = len(raw.rows)
        self.rows_in += n + len(raw.broken)
        if raw.broken:
            rows = np.array([r for r, _ in raw.broken], dtype=np.int64)
            self._reject(name, rows, [None] * len(rows), [why for _, why in raw.broken], {})
        columns = {self._catalogue_name(k): v for k, v in raw.columns.items()}
        for key, value in extra.items():
            columns.setdefault(key, pa.array([value] * n, pa.string()))
        typed: dict[str, pa.Array] = {}
        first_bad: pa.Array | None = None  # the first column at fault, per row
        bad_any = np.zeros(n, dtype=bool)
        for field_ in self.schema:
            values = columns.get(field_.name)
            if values is None:
                typed[field_.name] = pa.nulls(n, field_.type)
                continue
            kind = self._types.get(field_.name)
            if kind is None:  # not in the catalogue: text, or Parquet's own values
                typed[field_.name] = (
                    _same_type(values, field_, name)
                    if field_.name in opened.native
                    else to_text(values)
                )
                continue
            converted, bad = to_catalogue_type(values, kind, decimal_comma=opened.decimal_comma)
            typed[field_.name] = converted
            bad_np = np.asarray(bad, dtype=bool)
            if bad_np.any():
                label = pa.array(np.where(bad_np & ~bad_any, field_.name, None), pa.string())
                first_bad = label if first_bad is None else pc.coalesce(first_bad, label)
                bad_any |= bad_np
        if bad_any.any():
            mask = pa.array(bad_any)
            values = {k: to_text(v).filter(mask) for k, v in columns.items()}
            self._reject(
                name,
                raw.rows[bad_any],
                first_bad.filter(mask).to_pylist(),
                ["type"] * int(bad_any.sum()),
                values,
            )
        keep = ~bad_any
        arrays = [typed[f.name] for f in self.schema]
        fields = list(self.schema)
        if positions:
            arrays += [pa.array([name] * n, pa.string()), pa.array(raw.rows, pa.int64())]
            fields += [pa.field(FILE_COLUMN, pa.string()), pa.field(ROW_COLUMN, pa.int64())]
        batch = pa.RecordBatch.from_arrays(arrays, schema=pa.schema(fields))
        if not keep.all():
            batch = batch.filter(pa.array(keep))
        self.rows_out += batch.num_rows
        return batch

    def reject_table(self) -> pa.Table:
        """Every rejected row kept so far (when no ``on_reject`` was given)."""
        if not self.rejected:
            return REJECT_SCHEMA.empty_table()
        return pa.concat_tables(
            [pa.Table.from_batches([b]) for b in self.rejected], promote_options="default"
        )


def open_delivery(
    path: str | os.PathLike[str],
    register: str | None = None,
    options: ReadOptions | None = None,
    *,
    on_reject: Callable[[pa.RecordBatch], None] | None = None,
) -> Delivery:
    """Open the delivery at ``path`` (a file or a directory of one format). With a
    ``register``, columns get the catalogue's types; columns it does not know (every
    column, without a register) are text, or keep their type in Parquet."""
    options = options or ReadOptions()
    path = Path(path)
    files, root = _files(path, options)
    kind = delivery_format(files[0], options)
    return Delivery(path, register, kind, files, root, options, on_reject=on_reject)
