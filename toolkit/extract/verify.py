"""``verify_extract``: check an extract directory offline, from the steward's public key.

The verdict depends on the extract and the trusted public keys only, never on a local
audit log (a first verification in a fresh home must not change the next one's):

- nothing in the extract is a symbolic link or a special file (a link could point at
  the raw registers);
- ``manifest.json`` has the manifest's schema and ``manifest.sig`` is a trusted data
  steward's signature of its exact bytes (a dummy extract: its own throw-away key, and it
  says it is a dummy);
- ``approval.json`` is the steward-signed approval the manifest names (its request hash),
  and every register, column and year in the data lies inside it (years read from the
  data, not from the manifest);
- every file the manifest lists is there with its SHA-256, size and row count, and no
  other file is; each register's Parquet file has exactly the manifest's columns and Arrow
  types; each copy in another format (``formats/``, ``--format``) is one of the listed
  files, so a changed byte in a ``.dta`` fails like one in the Parquet file.

With ``request=`` (on the steward's side) the gate must also let the user verify under
that request's current approval. Any mismatch raises
:class:`~mikrodata.toolkit.errors.IntegrityError` naming the file.
"""

from __future__ import annotations

import stat
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow.parquet as pq

from mikrodata.access_requests import (
    APPROVAL_NAME,
    AuditLog,
    SignedApproval,
    check_access,
    file_sha256,
)
from mikrodata.pseudonymisation import TrustStore
from mikrodata.toolkit.errors import IntegrityError
from mikrodata.toolkit.identity import Identity, resolve_identity

from .manifest import (
    MANIFEST_NAME,
    SIGNATURE_NAME,
    Manifest,
    check_manifest_signature,
    read_manifest,
)
from .source import quote

__all__ = ["VerifyResult", "verify_extract"]

_HINT = "Do not use this extract; ask the data steward to rebuild it"
_OWN_FILES = {MANIFEST_NAME, SIGNATURE_NAME}


@dataclass(frozen=True)
class VerifyResult:
    """What was checked."""

    directory: Path
    project: str
    files: int
    manifest_sha256: str
    dummy: bool
    signed_by: str  # the key id of the signature
    approval: SignedApproval | None  # None for a dummy extract
    approval_checked: bool  # the gate was asked too (request=)
    manifest: Manifest


def _check_tree(root: Path) -> None:
    """No symbolic link and nothing but directories and regular files inside ``root``."""
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        mode = path.lstat().st_mode
        if stat.S_ISLNK(mode):
            raise IntegrityError(f"{root.name}/{rel}: a symbolic link inside the extract", _HINT)
        if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
            raise IntegrityError(f"{root.name}/{rel}: not a regular file", _HINT)


def _check_files(root: Path, manifest: Manifest) -> None:
    listed = {f.path: f for f in manifest.files}
    on_disk = {
        p.relative_to(root).as_posix()
        for p in root.rglob("*")
        if p.is_file() and p.relative_to(root).as_posix() not in _OWN_FILES
    }
    for extra in sorted(on_disk - set(listed)):
        raise IntegrityError(f"{root.name}/{extra}: a file the manifest does not list", _HINT)
    for missing in sorted(set(listed) - on_disk):
        raise IntegrityError(f"{root.name}/{missing}: listed in the manifest but missing", _HINT)
    for rel, entry in sorted(listed.items()):
        path = root / rel
        if path.stat().st_size != entry.bytes or file_sha256(path) != entry.sha256:
            raise IntegrityError(
                f"{root.name}/{rel}: its content differs from the manifest (SHA-256)", _HINT
            )
        if entry.rows is not None and pq.ParquetFile(path).metadata.num_rows != entry.rows:
            raise IntegrityError(f"{root.name}/{rel}: row count differs from the manifest", _HINT)


def _check_exports(root: Path, manifest: Manifest) -> None:
    """Every copy in another format is a file the manifest lists (so its checksum was
    checked above), and every file under formats/ is a register's copy."""
    listed = {f.path for f in manifest.files}
    named = {e.path for entry in manifest.registers.values() for e in entry.exports}
    for rel in sorted(named - listed):
        raise IntegrityError(f"{root.name}/{rel}: an export the manifest does not list", _HINT)
    for rel in sorted(p for p in listed if p.startswith("formats/")):
        if rel not in named:
            raise IntegrityError(f"{root.name}/{rel}: not a register's export", _HINT)


def _check_schemas(root: Path, manifest: Manifest) -> None:
    for register, entry in manifest.registers.items():
        want = [(c.name, c.arrow_type) for c in entry.columns]
        for rel in entry.files:
            schema = pq.read_schema(root / rel)
            have = [(f.name, str(f.type)) for f in schema]
            if have != want:
                raise IntegrityError(
                    f"{root.name}/{rel}: columns differ from the manifest of {register}", _HINT
                )


def _check_scope(root: Path, manifest: Manifest, approval: SignedApproval) -> None:
    """Every register, column and year of the data inside the signed approval."""
    req = approval.request
    if manifest.approval_hash != approval.request_sha256 or manifest.project != req.project:
        raise IntegrityError(
            f"{root.name}: its approval.json is not the approval its manifest names", _HINT
        )
    con = duckdb.connect()
    try:
        for register, entry in manifest.registers.items():
            if register not in req.register_names:
                raise IntegrityError(f"{root.name}: register {register} is not approved", _HINT)
            allowed = set(req.columns(register)) | _pseudonym_names(register)
            for rel in entry.files:
                names = pq.read_schema(root / rel).names
                outside = [n for n in names if n not in allowed]
                if outside:
                    raise IntegrityError(
                        f"{root.name}/{rel}: column {outside[0]} is not approved", _HINT
                    )
                year = entry.year_column
                if year not in names:
                    continue
                path = "'" + str(root / rel).replace("'", "''") + "'"
                found = (
                    con.execute(
                        f"SELECT list(DISTINCT {quote(year)}) FROM read_parquet({path})"
                    ).fetchall()[0][0]
                    or []
                )
                outside_years = sorted(set(found) - set(req.register(register).years))
                if outside_years:
                    raise IntegrityError(
                        f"{root.name}/{rel}: year {outside_years[0]} is not approved", _HINT
                    )
    finally:
        con.close()


def _pseudonym_names(register: str) -> set[str]:
    """The extract names of the register's direct identifiers (lopnr for personnummer)."""
    from mikrodata.quality.catalogue import load

    return {v.extract_name for v in load(register).direct_identifiers()}


def verify_extract(
    directory: str | Path,
    *,
    request: str | Path | None = None,
    user: str | Identity | None = None,
    audit: AuditLog | None = None,
    trust: TrustStore | None = None,
    record: bool | None = None,
) -> VerifyResult:
    """Verify the extract in ``directory``; :class:`IntegrityError` says what is wrong.

    ``trust``: the steward keys to accept (default: the trust store). ``record``: write an
    ``extract_verified`` (or ``extract_verification_failed``) event to the audit log;
    by default only where a log already exists or ``request`` is given (the steward's
    side), and never in a way that changes a later verdict."""
    root = Path(directory)
    trust = trust if trust is not None else TrustStore.load()
    identity = resolve_identity(user)
    audit = audit or AuditLog()
    if record is None:
        record = request is not None or audit.path.exists()
    manifest_sha = ""
    project = None
    try:
        if not root.is_dir():
            raise IntegrityError(f"{root}: not an extract directory", _HINT)
        _check_tree(root)
        manifest = read_manifest(root)
        project = manifest.project
        manifest_sha = file_sha256(root / MANIFEST_NAME)
        signer = check_manifest_signature(root, trust, dummy=manifest.dummy)
        _check_files(root, manifest)
        _check_exports(root, manifest)
        _check_schemas(root, manifest)
        approval = None
        if not manifest.dummy:
            approval = SignedApproval.read(root / APPROVAL_NAME, trust)
            _check_scope(root, manifest, approval)
        if request is not None:
            gate = check_access(
                request, user=identity, action="verify_extract", audit=audit, trust=trust
            )
            if manifest.approval_hash != gate.approval_hash:
                raise IntegrityError(
                    f"{root.name}: built under another version of the approval "
                    f"({str(manifest.approval_hash)[:12]}..., now {gate.approval_hash[:12]}...)",
                    _HINT,
                )
    except IntegrityError as exc:
        if record:
            audit.append(
                "extract_verification_failed",
                project=project,
                user=identity,
                details={
                    "directory": str(root.resolve()),
                    "manifest_sha256": manifest_sha,
                    "reason": exc.message,
                },
            )
        raise
    if record:
        audit.append(
            "extract_verified",
            project=manifest.project,
            user=identity,
            details={
                "directory": str(root.resolve()),
                "manifest_sha256": manifest_sha,
                "signed_by": signer,
                "approval_checked": request is not None,
            },
        )
    return VerifyResult(
        directory=root,
        project=manifest.project,
        files=len(manifest.files),
        manifest_sha256=manifest_sha,
        dummy=manifest.dummy,
        signed_by=signer,
        approval=approval,
        approval_checked=request is not None,
        manifest=manifest,
    )
