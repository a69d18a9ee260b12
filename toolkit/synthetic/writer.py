"""Deterministic Parquet output: one hive-partitioned dataset per register.

Same seed, same bytes: the writer options are fixed, files carry no timestamps and no
pandas metadata, and chunks are appended as row groups in chunk order. Every partition
of a run is opened up front (in sorted order), so a year with no rows still has a file
with the register's schema.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

__all__ = ["DatasetWriter", "PARQUET_OPTIONS", "partition_path", "write_table"]

PARQUET_OPTIONS = dict(
    compression="zstd",
    compression_level=3,
    use_dictionary=True,
    write_statistics=True,
    version="2.6",
    data_page_version="1.0",
)


def partition_path(register: str, year_column: str, year: int) -> str:
    """The file of one register and year, relative to the output directory."""
    return f"{register}/{year_column}={year}/part-0.parquet"


def write_table(path: Path, table: pa.Table) -> None:
    """Write one whole table with the fixed options."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path, **PARQUET_OPTIONS)


class DatasetWriter:
    """Appends row groups to many Parquet files and counts their rows."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._writers: dict[str, pq.ParquetWriter] = {}
        self.rows: dict[str, int] = {}

    def open(self, rel: str, schema: pa.Schema) -> None:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        self._writers[rel] = pq.ParquetWriter(path, schema, **PARQUET_OPTIONS)
        self.rows[rel] = 0

    def write(self, rel: str, table: pa.Table) -> None:
        if table.num_rows == 0:
            return
        writer = self._writers[rel]
        writer.write_table(table.cast(writer.schema), row_group_size=1 << 20)
        self.rows[rel] += table.num_rows

    def close(self) -> None:
        for rel in sorted(self._writers):
            self._writers[rel].close()
        self._writers.clear()

    def checksums(self) -> dict[str, str]:
        """SHA-256 of every file, read in blocks so memory stays flat."""
        out = {}
        for rel in sorted(self.rows):
            digest = hashlib.sha256()
            with open(self.root / rel, "rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
            out[rel] = digest.hexdigest()
        return out
