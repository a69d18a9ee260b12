"""A delivery in any format as Parquet, for the commands that query it with DuckDB.

``quality run|missingness|history`` and ``extract build`` run SQL over a register's
files. A delivery that is not Parquet is read once by :func:`~quality.delivery.open_delivery`
(catalogue types, rejects) and written, batch by batch, to one Parquet file that keeps
each row's source file and row (``_file``, ``_row`` from 1), so reports and reject
files still name the delivered file, not the staged one. Memory stays bounded by the
batch size; the staged copy costs disk (about the size of the delivery as Parquet).

Within a :func:`staging` context (one build), each delivery is staged once and shared by
every step; its rejected rows are kept beside it for the caller to account for.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from .reader import FORMATS, LAYOUT_SUFFIX, Delivery, ReadOptions, open_delivery

__all__ = [
    "Staged",
    "active",
    "delivery_path",
    "stage_delivery",
    "staged",
    "staged_deliveries",
    "staging",
]


@dataclass(frozen=True)
class Staged:
    """A staged delivery: the Parquet file, its rejected rows, the counts."""

    source: Path
    register: str
    format: str
    file: Path
    rejects: Path | None
    rows_in: int
    rows_out: int
    rows_rejected: int
    details: dict[str, str]


@dataclass
class _Context:
    parent: Path | None  # where the staging folder goes (None: the system's temp folder)
    options: ReadOptions
    staged: dict[tuple[str, str], Staged]
    scratch: Path | None = None  # made on the first delivery staged

    def folder(self) -> Path:
        if self.scratch is None:
            self.scratch = Path(tempfile.mkdtemp(prefix=".mikrodata-stage-", dir=self.parent))
        return self.scratch


_CURRENT: contextvars.ContextVar[_Context | None] = contextvars.ContextVar(
    "mikrodata_staging", default=None
)


@contextlib.contextmanager
def staging(parent: Path | None = None, options: ReadOptions | None = None) -> Iterator[_Context]:
    """Stage deliveries in a temporary folder inside ``parent`` (the system's temporary
    folder when None), made only when a delivery needs staging and removed on exit."""
    context = _Context(Path(parent) if parent is not None else None, options or ReadOptions(), {})
    token = _CURRENT.set(context)
    try:
        yield context
    finally:
        _CURRENT.reset(token)
        if context.scratch is not None:
            shutil.rmtree(context.scratch, ignore_errors=True)


def active() -> bool:
    """Whether a :func:`staging` context is open."""
    return _CURRENT.get() is not None


def staged_deliveries() -> list[Staged]:
    """The deliveries staged so far in the current :func:`staging` context."""
    context = _CURRENT.get()
    return list(context.staged.values()) if context else []


def _is_delivery_file(p: Path) -> bool:
    return (
        p.is_file()
        and not p.name.startswith(".")
        and p.suffix.lower() in FORMATS
        and not p.name.endswith(LAYOUT_SUFFIX)
    )


def delivery_path(registers_dir: Path, register: str) -> tuple[Path, str] | None:
    """Where ``register`` lies under ``registers_dir`` and its format: the folder
    ``DIR/<register>/`` or a file ``DIR/<register>.<suffix>``; None if neither."""
    folder = Path(registers_dir) / register
    if folder.is_dir():
        files = [p for p in folder.rglob("*") if _is_delivery_file(p)]
        if files:
            # Any Parquet file makes it a Parquet delivery, read as before (other files
            # beside it, a README.txt, are not rows).
            parquet = any(FORMATS[p.suffix.lower()] == "parquet" for p in files)
            return folder, "parquet" if parquet else "other"
        return None
    for p in sorted(Path(registers_dir).glob(f"{register}.*")):
        if _is_delivery_file(p):
            return p, "parquet" if FORMATS[p.suffix.lower()] == "parquet" else "other"
    return None


def stage_delivery(
    path: Path, register: str, out_dir: Path, options: ReadOptions | None = None
) -> Staged:
    """Read the delivery at ``path`` and write it to ``out_dir/<register>/part-0.parquet``
    (rejected rows to ``out_dir/<register>.rejected.parquet``, mode 0600)."""
    out = out_dir / register / "part-0.parquet"
    out.parent.mkdir(parents=True, exist_ok=True)
    rejects = out_dir / f"{register}.rejected.parquet"
    reject_writer: pq.ParquetWriter | None = None
    reject_schema: pa.Schema | None = None

    def keep(batch: pa.RecordBatch) -> None:
        nonlocal reject_writer, reject_schema
        if reject_writer is None:
            # every value column as text, for every delivered column
            names = [f"value_{n}" for n in delivery.schema.names]
            reject_schema = pa.schema(
                list(batch.schema)[:5] + [pa.field(n, pa.string()) for n in names]
            )
            fd = os.open(rejects, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.close(fd)
            reject_writer = pq.ParquetWriter(rejects, reject_schema)
        table = pa.Table.from_batches([batch])
        for name in reject_schema.names[5:]:
            if name not in table.column_names:
                table = table.append_column(name, pa.nulls(table.num_rows, pa.string()))
        reject_writer.write_table(table.select(reject_schema.names))

    delivery: Delivery = open_delivery(path, register, options, on_reject=keep)
    writer: pq.ParquetWriter | None = None
    try:
        for batch in delivery.batches(positions=True):
            if writer is None:
                writer = pq.ParquetWriter(out, batch.schema, compression="zstd")
            writer.write_batch(batch)
        if writer is None:  # no usable rows: an empty file with the schema
            writer = pq.ParquetWriter(
                out,
                delivery.schema.append(pa.field("_file", pa.string())).append(
                    pa.field("_row", pa.int64())
                ),
            )
    finally:
        if writer is not None:
            writer.close()
        if reject_writer is not None:
            reject_writer.close()
    return Staged(
        source=path,
        register=register,
        format=delivery.format,
        file=out,
        rejects=rejects if reject_writer is not None else None,
        rows_in=delivery.rows_in,
        rows_out=delivery.rows_out,
        rows_rejected=delivery.rows_rejected,
        details=dict(delivery.details),
    )


def staged(path: Path, register: str) -> Staged:
    """The delivery at ``path`` staged in the current :func:`staging` context (once)."""
    context = _CURRENT.get()
    if context is None:
        # a bug in the caller, not the user's mistake: a traceback is right
        raise RuntimeError("staged() called outside a staging() context")
    key = (str(Path(path).resolve()), register)
    if key not in context.staged:
        out_dir = Path(tempfile.mkdtemp(prefix=f"{register}-", dir=context.folder()))
        context.staged[key] = stage_delivery(Path(path), register, out_dir, context.options)
    return context.staged[key]
