"""Pseudonymising whole files, streamed in bounded memory.

Parquet is read row group by row group in batches; CSV (UTF-8, Latin-1 or CP1252,
detected or given; ``;``, ``,``, tab or ``|`` separated, detected from the header) is
read block by block with every column as text, so nothing is re-typed or lost. Each
batch goes through one :class:`~pseudonymisation.tables.Pseudonymiser`, which hashes
only identifiers it has not seen before. Memory is bounded by the batch size plus
30-60 bytes per distinct identifier, not by the number of rows. Pseudonym columns
are written to Parquet uncompressed (random hex hardly compresses; see `_writer`).

The output (Parquet or CSV, by its suffix; sorted by pseudonym) and the reject file
beside it (``<name>.rejected.<suffix>``, mode 0600) are written to temporary files and
swapped in together only after the whole run passed its checks: rows in = rows out + rows
rejected, the Parquet row counts, and no pseudonym collision. A failed run leaves the
previous output or none.
"""

from __future__ import annotations

import codecs
import csv
import dataclasses
import datetime as dt
import io
import os
import queue
import shutil
import tempfile
import threading
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.ipc  # noqa: F401 - pa.ipc
import pyarrow.parquet as pq

from mikrodata.toolkit.atomic import atomic_together
from mikrodata.toolkit.errors import BadInputError, IntegrityError
from mikrodata.toolkit.progress import progress

from .keystore import ProjectKey
from .pseudonyms import hex_pseudonyms
from .residual import residual_identifiers
from .tables import PreparedBatch, Pseudonymiser, ResolvedBatch, _refuse_residual

__all__ = [
    "ENCODINGS",
    "FileResult",
    "InputBatches",
    "detect_encoding",
    "input_columns",
    "open_input",
    "pseudonymise_file",
    "reject_path_for",
]

ENCODINGS = ("auto", "utf-8", "latin-1", "cp1252")
_PARQUET = (".parquet", ".pq")
_CSV = (".csv", ".txt", ".tsv")
_DELIMITERS = (";", ",", "\t", "|")


@dataclasses.dataclass(frozen=True)
class FileResult:
    """What a file run did: counts, where it wrote, and under which key."""

    rows_in: int
    rows_out: int
    rows_rejected: int
    out_path: Path
    reject_path: Path
    key_id: str
    distinct: dict[str, int]  # distinct identifiers per domain

    def summary(self) -> str:
        return f"rows in {self.rows_in} / out {self.rows_out} / rejected {self.rows_rejected}"


def _kind(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in _PARQUET:
        return "parquet"
    if suffix in _CSV:
        return "csv"
    raise BadInputError(
        f"cannot tell the format of {path.name} from its suffix",
        "use .parquet or .csv",
    )


def reject_path_for(out_path: str | os.PathLike[str]) -> Path:
    """The reject file next to an output: ``extract.parquet`` -> ``extract.rejected.parquet``."""
    out = Path(out_path)
    return out.with_name(f"{out.stem}.rejected{out.suffix}")


def detect_encoding(path: str | os.PathLike[str], chunk: int = 1 << 22) -> str:
    """``utf-8`` if the whole file decodes as UTF-8, else ``cp1252`` (Swedish Windows
    exports), or ``latin-1`` if it has bytes CP1252 leaves undefined."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    seen_undefined = False
    utf8 = True
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            seen_undefined |= any(b in block for b in (b"\x81", b"\x8d", b"\x8f", b"\x90", b"\x9d"))
            if utf8:
                try:
                    decoder.decode(block)
                except UnicodeDecodeError:
                    utf8 = False
    if utf8:
        try:
            decoder.decode(b"", final=True)
            return "utf-8"
        except UnicodeDecodeError:
            pass
    return "latin-1" if seen_undefined else "cp1252"


def _header(path: Path, encoding: str, delimiter: str | None) -> tuple[list[str], str]:
    with open(path, "rb") as handle:
        first = handle.readline(1 << 20)
    text = first.decode(encoding, errors="replace").lstrip("\ufeff").rstrip("\r\n")
    if not text:
        raise BadInputError(f"{path.name} is empty", "deliver a CSV file with a header line")
    if delimiter is None:
        delimiter = max(_DELIMITERS, key=text.count)
    names = next(csv.reader(io.StringIO(text), delimiter=delimiter))
    if residual_identifiers(pa.table({n: pa.nulls(0) for n in dict.fromkeys(names)})):
        # A file without its header line: the "names" are a row of data. Say so without
        # repeating them (they hold identifiers).
        raise BadInputError(
            f"the first line of {path.name} holds personnummer, not column names",
            "deliver the file with a header line naming its columns",
        )
    if len(set(names)) != len(names) or any(not n for n in names):
        raise BadInputError(
            f"the header of {path.name} has empty or repeated column names",
            "fix the header line",
        )
    return names, delimiter


@dataclasses.dataclass(frozen=True)
class InputBatches:
    """An opened input: its name (for reject records), schema, record batches (read as
    they are iterated) and row count when the format records it."""

    name: str
    schema: pa.Schema
    batches: Iterator[pa.RecordBatch]
    rows: int | None


def open_input(
    path: str | os.PathLike[str],
    *,
    encoding: str = "auto",
    delimiter: str | None = None,
    batch_size: int = 1_000_000,
) -> InputBatches:
    """Open an input file as a stream of Arrow record batches: the one place the
    pseudonymiser, ``keys rekey`` and the column listing open a file. Parquet is read
    row group by row group; CSV block by block with every column as text.

    (Readers of further delivery formats plug in here: anything that yields record
    batches feeds the same stream.)"""
    path = Path(path)
    if encoding not in ENCODINGS:
        raise BadInputError(f"unknown encoding {encoding!r}", f"use one of {', '.join(ENCODINGS)}")
    if not path.is_file():
        raise BadInputError(f"no input file {path}", "check the path")
    if _kind(path) == "parquet":
        try:
            # pre_buffer=False: the pre-buffering reader keeps every row group it has read
            # (memory grows with the file); without it memory stays flat.
            source = pq.ParquetFile(path, pre_buffer=False)
        except (pa.ArrowInvalid, OSError):
            raise BadInputError(f"{path.name} is not a readable Parquet file", "check it") from None
        # use_threads=False: the batches are read in a thread of their own already;
        # Arrow's pool would put two more threads on cores that have work enough.
        batches = source.iter_batches(batch_size=batch_size, use_threads=False)
        return InputBatches(
            path.name, source.schema_arrow.remove_metadata(), batches, source.metadata.num_rows
        )
    schema, batches, _ = _csv_batches(path, encoding, delimiter, block_size=1 << 24)
    return InputBatches(path.name, schema.remove_metadata(), batches, None)


def input_columns(
    path: str | os.PathLike[str], encoding: str = "auto", delimiter: str | None = None
) -> list[str]:
    """The column names of a Parquet or CSV input file."""
    return list(open_input(path, encoding=encoding, delimiter=delimiter).schema.names)


def _csv_batches(
    path: Path, encoding: str, delimiter: str | None, block_size: int
) -> tuple[pa.Schema, Iterator[pa.RecordBatch], list[int]]:
    if encoding == "auto":
        encoding = detect_encoding(path)
    names, delimiter = _header(path, encoding, delimiter)
    malformed: list[int] = []

    def on_invalid(row: pacsv.InvalidRow) -> str:
        malformed.append(row.actual_columns)  # never the row's text
        return "skip"

    unreadable = BadInputError(
        f"{path.name} could not be read as {encoding} CSV",
        "check the encoding (--encoding, or leave it to auto) and the separator",
    )
    try:  # Arrow reads the first block here already
        reader = pacsv.open_csv(
            path,
            read_options=pacsv.ReadOptions(
                encoding="utf8" if encoding == "utf-8" else encoding, block_size=block_size
            ),
            parse_options=pacsv.ParseOptions(delimiter=delimiter, invalid_row_handler=on_invalid),
            convert_options=pacsv.ConvertOptions(
                column_types={n: pa.string() for n in names},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except (pa.ArrowInvalid, UnicodeDecodeError):
        # Arrow's message quotes the offending row: never pass it on.
        raise unreadable from None

    def batches() -> Iterator[pa.RecordBatch]:
        rows = 0
        try:
            for batch in reader:
                if malformed:
                    break
                _refuse_merged_lines(path, batch, rows)
                rows += batch.num_rows
                yield batch
        except (pa.ArrowInvalid, UnicodeDecodeError):
            raise unreadable from None
        if malformed:
            raise BadInputError(
                f"{path.name} has rows with the wrong number of fields "
                f"(expected {len(names)}, found {malformed[0]}); nothing was written",
                "fix the file (quoting, separators) and run again",
            )

    return reader.schema, batches(), malformed


def _refuse_merged_lines(path: Path, batch: pa.RecordBatch, rows_before: int) -> None:
    """An unterminated quote makes Arrow read the following lines into one field; a
    line break inside a value is how that shows. Refused, never passed on merged."""
    for column in batch.columns:
        broken = pc.match_substring_regex(column, r"[\r\n]")
        if pc.any(broken).as_py():
            row = rows_before + int(pc.index(broken, True).as_py()) + 1
            raise BadInputError(
                f"{path.name} row {row}: a quoted value runs over a line break (an "
                "unterminated quote?); nothing was written",
                "fix the quoting in the file and run again",
            )


def pseudonymise_file(
    in_path: str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    key: ProjectKey,
    columns: Mapping[str, str] | Iterable[str] | str,
    *,
    reference_date: dt.date | None = None,
    encoding: str = "auto",
    delimiter: str | None = None,
    batch_size: int = 1_000_000,
    allow_interim: bool = False,
    allow_null: Iterable[str] = (),
    reject_path: str | os.PathLike[str] | None = None,
    rejects_with_identifiers: bool = False,
    check_residual: bool = True,
    source: tuple[pa.Schema, Iterable[pa.RecordBatch]] | None = None,
) -> FileResult:
    """Stream ``in_path`` (Parquet or CSV) to ``out_path`` with identifier columns
    replaced by pseudonyms under ``key``; rejected rows go to the reject file.

    ``columns`` maps column -> domain as in :func:`pseudonymise_table`.
    ``rejects_with_identifiers`` adds the raw identifiers of rejected rows to the
    reject file, for the steward to correct them (it stays steward-side, mode 0600).
    ``source`` is the input already opened (a schema and its batches; the command line
    opens every delivery format with ``quality.delivery.open_delivery``); ``in_path`` then
    only names it. Returns a :class:`FileResult`; raises BadInputError for unusable input and
    IntegrityError when a check fails, in both cases writing nothing.
    """
    in_path, out_path = Path(in_path), Path(out_path)
    rej_path = Path(reject_path) if reject_path is not None else reject_path_for(out_path)
    if not in_path.is_file():
        raise BadInputError(f"no input file {in_path}", "check the path")
    resolved = {p.resolve() for p in (out_path, rej_path)}
    if in_path.resolve() in resolved or len(resolved) < 2:
        raise BadInputError("the output would overwrite the input", "choose another --out")
    out_kind = _kind(out_path)
    _kind(rej_path)
    if source is None:
        opened = open_input(in_path, encoding=encoding, delimiter=delimiter, batch_size=batch_size)
    else:  # opened by the delivery reader: in_path only names it
        opened = InputBatches(in_path.name, source[0].remove_metadata(), iter(source[1]), None)

    engine = Pseudonymiser(
        key,
        columns,
        reference_date=reference_date,
        allow_interim=allow_interim,
        allow_null=allow_null,
        source=opened.name,
    )
    schema, batches, expected_rows = opened.schema, opened.batches, opened.rows
    engine.check_schema(schema)
    out_schema = engine.output_schema(schema)
    rej_schema = engine.rejected_schema(schema, rejects_with_identifiers)

    with (
        # The output and its reject file replace the old pair as one step.
        atomic_together([out_path, rej_path], modes=[None, 0o600]) as (tmp_out, tmp_rej),
        # The rows in input order first (a register sorted by personnummer would leak
        # birth order), then sorted by pseudonym into tmp_out.
        _Buckets(
            out_path,
            out_schema,
            engine.output_schema(schema, codes=True),
            engine.sort_keys(schema),
            _bucket_count(in_path, expected_rows),
        ) as out_writer,
        _writer(out_kind, tmp_rej, rej_schema) as rej_writer,
        progress(f"pseudonymising {in_path.name}", total=expected_rows) as task,
    ):
        # Four threads share the work (Arrow, NumPy, pandas and hashlib release the
        # GIL in theirs): a reader reads each batch and its identifiers (prepare), this
        # thread looks up and hashes them in order (resolve), an assembler builds the
        # output and reject rows (assemble), and a writer writes them. The reader keeps
        # at most two batches ready, the assembler and the writer one each waiting, so
        # memory stays bounded (deeper queues were no faster, and held more).

        def write(out: pa.RecordBatch, rej: pa.RecordBatch) -> None:
            out_writer.write_batch(out)
            if rej.num_rows:
                rej_writer.write_batch(rej)

        def read() -> Iterator[PreparedBatch]:
            for i, raw in enumerate(batches):
                batch = pa.RecordBatch.from_arrays(raw.columns, schema=schema)
                # The first batches go in parts (most of their people are new), so the
                # writer starts after a quarter of the new people are hashed rather than
                # after all of them.
                parts = (4, 2)[i] if i < 2 else 1
                size = -(-batch.num_rows // parts)
                if check_residual:  # every value of every batch, in the reader thread
                    _refuse_residual(engine, batch)
                for start in range(0, max(batch.num_rows, 1), size or 1):
                    yield engine.prepare(batch.slice(start, size))

        with _Background("mikrodata-writer", depth=1) as writes:

            def assemble(resolved: ResolvedBatch) -> None:
                writes.submit(
                    write, *engine.assemble(resolved, rejects_with_identifiers, as_codes=True)
                )

            with _Background("mikrodata-assembler", depth=1) as assembles:
                for prepared in _prefetch(read()):
                    assembles.submit(assemble, engine.resolve(prepared))
                    task.advance(prepared.batch.num_rows)
        engine.finish()
        out_writer.close()
        rej_writer.close()
        if expected_rows is not None and engine.rows_in != expected_rows:
            raise IntegrityError(
                f"read {engine.rows_in} rows of {in_path.name}, its footer says {expected_rows}",
                "the file may be damaged; nothing was written",
            )
        if out_writer.rows != engine.rows_out or (
            out_kind == "parquet" and pq.read_metadata(tmp_rej).num_rows != engine.rows_rejected
        ):
            raise IntegrityError("written row counts differ from the run's", "report this bug")
        if engine.rows_in != engine.rows_out + engine.rows_rejected:
            raise IntegrityError("rows in differ from rows out + rejected", "report this bug")
        sorted_rows = out_writer.write_sorted(tmp_out, out_kind, batch_size)
        if sorted_rows != engine.rows_out:
            raise IntegrityError("the sorted output lost rows", "report this bug")

    return FileResult(
        rows_in=engine.rows_in,
        rows_out=engine.rows_out,
        rows_rejected=engine.rows_rejected,
        out_path=out_path,
        reject_path=rej_path,
        key_id=key.key_id,
        distinct=engine.distinct(),
    )


def _bucket_count(path: Path, rows: int | None) -> int:
    """Buckets of about a million rows each (a CSV's rows guessed at 40 bytes each)."""
    estimate = rows if rows is not None else path.stat().st_size // 40
    return max(1, min(_PREFIXES, -(-estimate // 1_000_000)))


def _pseudonym_order(table: pa.Table, by: list[str]) -> np.ndarray:
    """The stable order of ``table`` by its pseudonym code columns ``by`` (uint64,
    nulls last): the order of the pseudonyms' hex text, as a NumPy sort of numbers."""
    keys: list[np.ndarray] = []
    for name in reversed(by):  # np.lexsort: the last key is the primary one
        codes, null = _code_values(table.column(name))
        keys += [codes] + ([null] if null.any() else [])
    if len(keys) == 1:  # the common case: one pseudonym column, no nulls
        order = _order_of_codes(keys[0])
        return order if order is not None else np.argsort(keys[0], kind="stable")
    return np.lexsort(keys) if keys else np.arange(table.num_rows)


def _order_of_codes(codes: np.ndarray) -> np.ndarray | None:
    """The stable order of uint64 ``codes`` by one sort of numbers, not an argsort
    (3-4x faster): each code with its low bits replaced by the row's number sorts by
    the code's high bits, then by row. That is the codes' stable order unless two
    different codes share the high bits (for a million rows, 44 bits: rare), which the
    check finds; then None (the caller sorts the slow way)."""
    n = len(codes)
    mask = np.uint64((1 << max(1, (n - 1).bit_length())) - 1)
    key = codes & ~mask
    key |= np.arange(n, dtype=np.uint64)
    key.sort()
    order = (key & mask).astype(np.int64)
    ordered = codes[order]
    return None if (ordered[1:] < ordered[:-1]).any() else order


def _code_values(column: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """A pseudonym code column as uint64 values (0 where null) and its null mask."""
    null = column.is_null().to_numpy(zero_copy_only=False)
    return pc.fill_null(column, 0).to_numpy(), null


def _with_text_pseudonyms(
    batch: pa.RecordBatch, schema: pa.Schema, by: list[str]
) -> pa.RecordBatch:
    """A sorted batch with its pseudonym code columns ``by`` written as hex text."""
    arrays = []
    for name in schema.names:
        column = batch.column(name)
        if name in by:
            codes, null = _code_values(column)
            column = hex_pseudonyms(codes, ~null)
        arrays.append(column)
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


_PREFIXES = 4096  # the three leading hex digits of a pseudonym: its code's top 12 bits


class _Buckets:
    """The sort by pseudonym, out of core in one extra pass over uncompressed Arrow IPC:
    rows go to the bucket of their first sort key's leading hex digits (pseudonyms are
    uniform, so buckets come out even; nulls in the last), each bucket is then sorted in
    memory (stably: one person's rows keep their input order) and written in turn.
    The pseudonyms travel as their uint64 codes (``codes_schema``), 8 bytes a row that
    sort as numbers, and become text only as the sorted rows are written (``schema``).
    Memory: one bucket, about a million rows; disk: the output once more, briefly."""

    def __init__(
        self, beside: Path, schema: pa.Schema, codes_schema: pa.Schema, by: list[str], count: int
    ) -> None:
        self._schema, self._codes_schema = schema, codes_schema
        self._by, self._count = by, count
        self._dir = Path(
            tempfile.mkdtemp(prefix=f".{beside.name}.", suffix=".sort", dir=beside.parent)
        )
        self._writers: dict[int, pa.ipc.RecordBatchStreamWriter] = {}
        self._buckets: list[int] = []
        self.rows = 0

    def __enter__(self) -> _Buckets:
        return self

    def _path(self, bucket: int) -> Path:
        return self._dir / f"{bucket:05d}.arrow"

    def write_batch(self, batch: pa.RecordBatch) -> None:
        if not batch.num_rows:
            return
        self.rows += batch.num_rows
        codes, null = _code_values(batch.column(self._by[0]))
        bucket = (codes >> np.uint64(52)).astype(np.int64) * self._count // _PREFIXES
        bucket[null] = self._count
        # As 16-bit numbers (at most 4,097 buckets): NumPy's stable sort of those is a
        # radix sort, several times faster than of 64-bit ones.
        order = np.argsort(bucket.astype(np.uint16), kind="stable")
        ordered = bucket[order]
        starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
        ends = np.r_[starts[1:], len(ordered)]
        taken = batch.take(pa.array(order))
        for start, end in zip(starts.tolist(), ends.tolist(), strict=True):
            b = int(ordered[start])
            writer = self._writers.get(b)
            if writer is None:
                writer = pa.ipc.new_stream(str(self._path(b)), self._codes_schema)
                self._writers[b] = writer
            writer.write_batch(taken.slice(start, end - start))

    def close(self) -> None:
        for writer in self._writers.values():
            writer.close()
        self._buckets = sorted({*self._buckets, *self._writers})
        self._writers = {}

    def write_sorted(self, target: Path, kind: str, batch_size: int) -> int:
        """Write the buckets in order, each sorted, to ``target``; returns the rows.
        A writer thread writes one bucket while the next is read and sorted."""
        rows = 0
        with (
            _writer(kind, target, self._schema, uncompressed=self._by) as writer,
            _Background("mikrodata-writer", depth=1) as writes,
        ):
            for b in self._buckets:
                with pa.memory_map(str(self._path(b))) as source:
                    table = pa.ipc.open_stream(source).read_all()
                table = table.take(pa.array(_pseudonym_order(table, self._by)))
                for batch in table.to_batches(max_chunksize=batch_size):
                    writes.submit(
                        writer.write_batch, _with_text_pseudonyms(batch, self._schema, self._by)
                    )
                rows += table.num_rows
                self._path(b).unlink()
        return rows

    def __exit__(self, *exc: object) -> None:
        self.close()
        shutil.rmtree(self._dir, ignore_errors=True)


_DONE = object()


def _prefetch(batches: Iterator[pa.RecordBatch], depth: int = 2) -> Iterator[pa.RecordBatch]:
    """Iterate ``batches`` in a background thread, ``depth`` batches ahead; an error
    in the reader is raised here."""
    q: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: Any) -> bool:
        # Never block for good: once the consumer has stopped (an error, or the end),
        # nobody empties a full queue, and a blocking put would hang its join.
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def run() -> None:
        try:
            for batch in batches:
                if not put(batch):
                    return
            put(_DONE)
        except BaseException as exc:  # handed to the consuming thread
            put(exc)

    thread = threading.Thread(target=run, name="mikrodata-reader", daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join()


class _Background:
    """Runs submitted calls one at a time, in order, in one background thread; the
    first error is raised on the next submit or on exit."""

    def __init__(self, name: str, depth: int = 2) -> None:
        self._q: queue.Queue[Any] = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def _run(self) -> None:
        while (item := self._q.get()) is not _DONE:
            if self._error is None:
                try:
                    item[0](*item[1:])
                except BaseException as exc:
                    self._error = exc

    def submit(self, fn: Any, *args: Any) -> None:
        if self._error is not None:
            raise self._error
        self._q.put((fn, *args))

    def __enter__(self) -> _Background:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._q.put(_DONE)
        self._thread.join()
        if self._error is not None and exc[0] is None:
            raise self._error


class _writer:
    """A Parquet or CSV batch writer as a context manager (closed at most once)."""

    def __init__(
        self, kind: str, path: Path, schema: pa.Schema, uncompressed: Iterable[str] = ()
    ) -> None:
        self._kind, self._path, self._schema = kind, path, schema
        self._uncompressed = set(uncompressed)
        self._w: pq.ParquetWriter | pacsv.CSVWriter | None = None

    def __enter__(self) -> _writer:
        if self._kind == "parquet":
            # Pseudonym columns are stored without compression: random hex shrinks by
            # only about 15% under Snappy, and compressing it took about a third of the
            # writing time. (Parquet still dictionary-encodes them while that pays.)
            compression = {
                name: "none" if name in self._uncompressed else "snappy"
                for name in self._schema.names
            }
            # Nor do they get min/max statistics: over random hex they prune nothing.
            statistics = [n for n in self._schema.names if n not in self._uncompressed]
            self._w = pq.ParquetWriter(
                self._path, self._schema, compression=compression, write_statistics=statistics
            )
        else:
            self._w = pacsv.CSVWriter(
                self._path,
                self._schema.remove_metadata(),
                write_options=pacsv.WriteOptions(quoting_style="needed"),
            )
        return self

    def write_batch(self, batch: pa.RecordBatch) -> None:
        assert self._w is not None
        self._w.write_batch(batch)

    def close(self) -> None:
        if self._w is not None:
            self._w.close()
            self._w = None

    def __exit__(self, *exc: object) -> None:
        self.close()
