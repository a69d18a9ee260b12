"""The extract manifest: the steward-to-researcher contract, typed, schema-checked and
signed.

``manifest.json`` sits at the top of the extract directory. It lists every other file
with its SHA-256, size and row count, and per register the columns (name, role, Arrow
type), years, sort order and the row counts of the build (rows read in the approved
years, outside the population, in, out, rejected: ``rows_in = rows_out +
rows_rejected``). It also records the catalogue version, the key id and version (never
the key), the approval hash of the request, the code version, and the audit log head at
build time. Its form is the versioned JSON Schema shipped beside this module
(``schemas/manifest-3.schema.json``; format 3 adds each register's copies in other
formats, ``exports``; a format-2 manifest still reads, against its own schema
``manifest-2.schema.json``), and every reader goes through :class:`Manifest`.

``manifest.sig`` holds the data steward's Ed25519 signature of the manifest's exact
bytes, so an extract whose data was changed and whose manifest was re-hashed no longer
verifies, on a machine that has nothing but the steward's public key. A dummy extract
(synthetic data, never releasable) is signed with a throw-away key whose public half is
in ``manifest.sig``: it verifies as what it is, a dummy, and nothing else.
"""

from __future__ import annotations

import base64
import json
from dataclasses import asdict, dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from mikrodata.access_requests import file_sha256
from mikrodata.pseudonymisation import PublicKey, SigningKey, TrustStore
from mikrodata.toolkit.atomic import write_bytes_atomic
from mikrodata.toolkit.errors import BadInputError, IntegrityError
from mikrodata.toolkit.jsonschemas import best_error

__all__ = [
    "MANIFEST_FORMAT",
    "MANIFEST_NAME",
    "MANIFEST_SCHEMA_PATH",
    "SIGNATURE_NAME",
    "ColumnEntry",
    "ExportEntry",
    "FileEntry",
    "Manifest",
    "RegisterEntry",
    "check_manifest_signature",
    "describe_file",
    "manifest_schema",
    "read_manifest",
    "write_manifest",
]

MANIFEST_NAME = "manifest.json"
SIGNATURE_NAME = "manifest.sig"
MANIFEST_FORMAT = "mikrodata-extract/3"
MANIFEST_SCHEMA_PATH = Path(__file__).parent / "schemas" / "manifest-3.schema.json"
# Every format this code reads, with its schema (the newest is what it writes).
_SCHEMAS = {
    "mikrodata-extract/2": Path(__file__).parent / "schemas" / "manifest-2.schema.json",
    MANIFEST_FORMAT: MANIFEST_SCHEMA_PATH,
}
_PURPOSE = "extract-manifest"
_HINT = "This is not a genuine mikrodata extract; ask the data steward for a new one"


@cache
def manifest_schema(form: str = MANIFEST_FORMAT) -> dict[str, Any]:
    """The JSON Schema of the manifest format ``form`` (shipped with the package)."""
    return json.loads(_SCHEMAS.get(form, MANIFEST_SCHEMA_PATH).read_text(encoding="utf-8"))


@dataclass(frozen=True)
class ColumnEntry:
    """One column of a register's extract file."""

    name: str
    role: str  # pseudonym | variable | derived
    type: str  # the catalogue type
    arrow_type: str
    domain: str | None = None  # a pseudonym's identifier domain
    source: str | None = None  # a pseudonym's catalogue variable (personnummer for lopnr)


@dataclass(frozen=True)
class ExportEntry:
    """A copy of a register's data in another format (``formats/<format>/...``)."""

    format: str  # stata | sas-xpt | spss | csv
    path: str
    rows: int
    labels: str | None = None  # the language of the labels (en | sv)
    value_labels: tuple[str, ...] | None = None  # columns with value labels
    strings_kept: tuple[str, ...] | None = None  # Stata: code columns kept as strings
    names: dict[str, str] | None = None  # SAS transport: extract name -> file name
    table: str | None = None  # SAS transport: the member name


@dataclass(frozen=True)
class RegisterEntry:
    """What the extract holds of one register, and the row counts of its build."""

    years: tuple[int, ...]
    columns: tuple[ColumnEntry, ...]
    sort_order: tuple[str, ...]
    year_column: str
    files: tuple[str, ...]
    rows_read: int
    rows_outside_population: int
    rows_in: int
    rows_out: int
    rows_rejected: int
    years_found: tuple[int, ...]
    exports: tuple[ExportEntry, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)


@dataclass(frozen=True)
class FileEntry:
    """One file of the extract (other than the manifest and its signature)."""

    path: str
    sha256: str
    bytes: int
    rows: int | None = None


@dataclass(frozen=True)
class Manifest:
    """A checked manifest. Build one with :meth:`from_dict` (which checks the schema)."""

    format: str
    dummy: bool
    project: str
    request: str
    approval_hash: str | None
    built_at: str
    built_by: str
    code_version: str
    catalogue_version: str
    key: dict[str, Any]
    population: dict[str, Any]
    delivery_checks: dict[str, str]
    audit_head: dict[str, Any]
    registers: dict[str, RegisterEntry]
    files: tuple[FileEntry, ...]
    coarsening: tuple[dict[str, Any], ...] = field(default=())

    @classmethod
    def from_dict(cls, doc: Any, where: str = MANIFEST_NAME) -> Manifest:
        """A :class:`Manifest` from its JSON form; :class:`IntegrityError` names the
        first field that breaks the schema."""
        form = doc.get("format") if isinstance(doc, dict) else None
        error = best_error(manifest_schema(form if form in _SCHEMAS else MANIFEST_FORMAT), doc)
        if error is not None:
            location = ".".join(str(p) for p in error.absolute_path) or "(top level)"
            raise IntegrityError(f"{where}: field {location} breaks the manifest schema", _HINT)
        registers = {
            name: RegisterEntry(
                years=tuple(r["years"]),
                columns=tuple(ColumnEntry(**c) for c in r["columns"]),
                sort_order=tuple(r["sort_order"]),
                year_column=r["year_column"],
                files=tuple(r["files"]),
                rows_read=r["rows_read"],
                rows_outside_population=r["rows_outside_population"],
                rows_in=r["rows_in"],
                rows_out=r["rows_out"],
                rows_rejected=r["rows_rejected"],
                years_found=tuple(r["years_found"]),
                exports=tuple(_export(e) for e in r.get("exports", ())),
            )
            for name, r in doc["registers"].items()
        }
        return cls(
            format=doc["format"],
            dummy=doc["dummy"],
            project=doc["project"],
            request=doc["request"],
            approval_hash=doc["approval_hash"],
            built_at=doc["built_at"],
            built_by=doc["built_by"],
            code_version=doc["code_version"],
            catalogue_version=doc["catalogue_version"],
            key=dict(doc["key"]),
            population=dict(doc["population"]),
            delivery_checks=dict(doc["delivery_checks"]),
            audit_head=dict(doc["audit_head"]),
            registers=registers,
            files=tuple(FileEntry(**f) for f in doc["files"]),
            coarsening=tuple(doc.get("coarsening", ())),
        )

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (what :meth:`from_dict` reads back)."""

        def clean(obj: Any) -> Any:
            if isinstance(obj, dict):
                return {k: clean(v) for k, v in obj.items() if v is not None or k in _NULLABLE}
            if isinstance(obj, (list, tuple)):
                return [clean(v) for v in obj]
            return obj

        doc = clean(asdict(self))
        if not self.coarsening:
            doc.pop("coarsening", None)
        for register in doc["registers"].values():
            if not register.get("exports"):
                register.pop("exports", None)
        return doc


def _export(e: dict[str, Any]) -> ExportEntry:
    return ExportEntry(
        **{
            **e,
            **{k: tuple(e[k]) for k in ("value_labels", "strings_kept") if k in e},
        }
    )


# Fields whose null is meaningful (a dummy has no key id; a dummy has no approval).
_NULLABLE = {"approval_hash", "key_id", "version"}


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


def write_manifest(directory: Path, manifest: dict[str, Any] | Manifest, key: SigningKey) -> str:
    """Check ``manifest`` against the schema, write ``manifest.json`` and its signature
    ``manifest.sig`` (by ``key``) atomically; returns the manifest's SHA-256."""
    model = manifest if isinstance(manifest, Manifest) else Manifest.from_dict(manifest)
    data = (json.dumps(model.to_dict(), indent=2, sort_keys=True) + "\n").encode("utf-8")
    signature = key.sign(_PURPOSE, data)
    if model.dummy:  # a throw-away key: its public half travels with it
        signature["public_key"] = base64.b64encode(key.public.raw).decode("ascii")
    write_bytes_atomic(directory / MANIFEST_NAME, data)
    write_bytes_atomic(
        directory / SIGNATURE_NAME, (json.dumps(signature, indent=2) + "\n").encode("utf-8")
    )
    return file_sha256(directory / MANIFEST_NAME)


def read_manifest(directory: str | Path) -> Manifest:
    """Read an extract's manifest (not its signature: see
    :func:`check_manifest_signature`); :class:`IntegrityError` if missing or broken."""
    path = Path(directory) / MANIFEST_NAME
    if not path.is_file() or path.is_symlink():
        raise IntegrityError(f"{directory}: no {MANIFEST_NAME}", _HINT)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise IntegrityError(f"{path}: not valid JSON", _HINT) from None
    if isinstance(doc, dict) and doc.get("format") == "mikrodata-extract/1":
        raise IntegrityError(
            f"{path}: an unsigned extract of an earlier mikrodata",
            "Ask the data steward to rebuild it; extracts are signed now",
        )
    return Manifest.from_dict(doc, str(path.name))


def check_manifest_signature(directory: str | Path, trust: TrustStore, *, dummy: bool) -> str:
    """Check ``manifest.sig`` against the manifest's bytes: by a trusted steward key, or
    for a ``dummy`` extract by the throw-away key it carries. Returns the key id."""
    root = Path(directory)
    sig_path = root / SIGNATURE_NAME
    what = f"{root.name}/{MANIFEST_NAME}"
    if not sig_path.is_file() or sig_path.is_symlink():
        raise IntegrityError(f"{what} is not signed (no {SIGNATURE_NAME})", _HINT)
    try:
        signature = json.loads(sig_path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise IntegrityError(f"{root.name}/{SIGNATURE_NAME} cannot be read", _HINT) from None
    data = (root / MANIFEST_NAME).read_bytes()
    if dummy:
        if not isinstance(signature, dict) or "public_key" not in signature:
            raise IntegrityError(f"{what}: a dummy extract without its throw-away key", _HINT)
        try:
            own = PublicKey(base64.b64decode(str(signature["public_key"]), validate=True), "dummy")
        except (ValueError, BadInputError):
            raise IntegrityError(f"{what}: its throw-away key cannot be read", _HINT) from None
        return TrustStore([own]).check(_PURPOSE, data, signature, what)
    if isinstance(signature, dict) and "public_key" in signature:
        raise IntegrityError(
            f"{what} is signed by the key it carries itself, which proves nothing", _HINT
        )
    return trust.check(_PURPOSE, data, signature, what)
