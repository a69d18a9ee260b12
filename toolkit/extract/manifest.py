"""The extract manifest: what an extract holds and how to check it.

``manifest.json`` sits at the top of the extract directory and lists every other file
with its SHA-256, size and row count, and per register the columns (name, role, Arrow
type), years, sort order and the row counts of the build (rows read in the approved
years, outside the population, in, out, rejected: ``rows_in = rows_out +
rows_rejected``). It also records the catalogue version, the key id and version (never
the key), the approval hash of the request, the code version, and the audit log head
at build time (an anchor: the log must still contain that event).

The manifest's own SHA-256 goes into the ``extract_built`` audit event, so an edited
manifest no longer matches the audit trail.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from mikrodata.access_requests import file_sha256
from mikrodata.toolkit.atomic import write_text_atomic
from mikrodata.toolkit.errors import IntegrityError

__all__ = ["MANIFEST_FORMAT", "MANIFEST_NAME", "describe_file", "read_manifest", "write_manifest"]

MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = "mikrodata-extract/1"


def describe_file(root: Path, path: Path) -> dict[str, Any]:
    """A file's manifest entry: relative path, SHA-256, bytes, and rows for Parquet."""
    entry: dict[str, Any] = {
        "path": path.relative_to(root).as_posix(),
        "sha256": file_sha256(path),
        "bytes": path.stat().st_size,
    }
    if path.suffix == ".parquet":
        entry["rows"] = pq.ParquetFile(path).metadata.num_rows
    return entry


def write_manifest(directory: Path, manifest: dict[str, Any]) -> str:
    """Write ``manifest.json`` atomically; returns its SHA-256."""
    path = directory / MANIFEST_NAME
    write_text_atomic(path, json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return file_sha256(path)


def read_manifest(directory: str | Path) -> dict[str, Any]:
    """Read an extract's manifest; an :class:`IntegrityError` if it is missing or broken."""
    path = Path(directory) / MANIFEST_NAME
    hint = "This is not a complete mikrodata extract; ask the data steward for a new one"
    if not path.exists():
        raise IntegrityError(f"{directory}: no {MANIFEST_NAME}", hint)
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise IntegrityError(f"{path}: not valid JSON", hint) from None
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        raise IntegrityError(f"{path}: not a {MANIFEST_FORMAT} manifest", hint)
    return manifest
