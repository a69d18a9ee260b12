"""``verify_extract``: check an extract directory against its manifest, the audit log and
(optionally) the approval.

- every file the manifest lists is there with its SHA-256, size and row count, and no
  other file is (an added file could carry anything);
- each register's Parquet file has exactly the manifest's columns and Arrow types;
- the manifest itself is the one recorded in the audit log when the extract was built,
  and the log still holds the head it recorded (when the log is present);
- with a request: the gate lets the user verify, the extract was built under the
  request's current approval hash, and its registers, columns and years lie inside the
  approval (years read from the data, not from the manifest).

Any mismatch raises :class:`~toolkit.errors.IntegrityError` naming the file; a verified
extract is recorded as an ``extract_verified`` audit event.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
from mikrodata.access_requests import AuditLog, check_access, file_sha256
from mikrodata.toolkit.errors import IntegrityError
from mikrodata.toolkit.paths import current_user

from .manifest import MANIFEST_NAME, read_manifest
from .source import quote

__all__ = ["VerifyResult", "verify_extract"]

_HINT = "Do not use this extract; ask the data steward to rebuild it"


@dataclass(frozen=True)
class VerifyResult:
    """What was checked."""

    directory: Path
    project: str
    files: int
    manifest_sha256: str
    audit_checked: bool
    approval_checked: bool


def _check_files(root: Path, manifest: dict) -> None:
    listed = {f["path"]: f for f in manifest.get("files", [])}
    on_disk = {
        p.relative_to(root).as_posix()
        for p in root.rglob("*")
        if p.is_file() and p.relative_to(root).as_posix() != MANIFEST_NAME
    }
    for extra in sorted(on_disk - set(listed)):
        raise IntegrityError(f"{root.name}/{extra}: a file the manifest does not list", _HINT)
    for missing in sorted(set(listed) - on_disk):
        raise IntegrityError(f"{root.name}/{missing}: listed in the manifest but missing", _HINT)
    for rel, entry in sorted(listed.items()):
        path = root / rel
        if path.stat().st_size != entry.get("bytes") or file_sha256(path) != entry.get("sha256"):
            raise IntegrityError(
                f"{root.name}/{rel}: its content differs from the manifest (SHA-256)", _HINT
            )
        if "rows" in entry and pq.ParquetFile(path).metadata.num_rows != entry["rows"]:
            raise IntegrityError(f"{root.name}/{rel}: row count differs from the manifest", _HINT)


def _check_schemas(root: Path, manifest: dict) -> None:
    for register, entry in manifest.get("registers", {}).items():
        want = [(c["name"], c["arrow_type"]) for c in entry["columns"]]
        for rel in entry["files"]:
            schema = pq.read_schema(root / rel)
            have = [(f.name, str(f.type)) for f in schema]
            if have != want:
                raise IntegrityError(
                    f"{root.name}/{rel}: columns differ from the manifest of {register}", _HINT
                )


def _check_audit(root: Path, manifest: dict, sha: str, audit: AuditLog) -> bool:
    if not audit.path.exists():
        return False
    action = "dummy_extract_built" if manifest.get("dummy") else "extract_built"
    recorded = any(
        e.get("action") == action and e.get("details", {}).get("manifest_sha256") == sha
        for e in audit.events(manifest.get("project"))
    )
    if not recorded:
        raise IntegrityError(
            f"{root.name}/{MANIFEST_NAME}: not the manifest the audit log recorded for this "
            "extract (edited, or built elsewhere)",
            _HINT,
        )
    head = manifest.get("audit_head") or {}
    if not audit.contains(int(head.get("seq", -1)), str(head.get("hash"))):
        raise IntegrityError(
            f"the audit log no longer holds event {head.get('seq')} that {root.name} was "
            "built after (the log was cut or rewritten)",
            "Run `mikrodata audit verify`",
        )
    return True


def _check_approval(root: Path, manifest: dict, request: Path, user: str, audit: AuditLog):
    approval = check_access(request, user=user, action="verify_extract", audit=audit)
    req = approval.request
    if manifest.get("approval_hash") != req.sha256:
        raise IntegrityError(
            f"{root.name}: built under another version of the approval "
            f"({str(manifest.get('approval_hash'))[:12]}..., now {req.sha256[:12]}...)",
            _HINT,
        )
    con = duckdb.connect()
    try:
        for register, entry in manifest.get("registers", {}).items():
            if register not in req.register_names:
                raise IntegrityError(f"{root.name}: register {register} is not approved", _HINT)
            allowed = set(req.columns(register))
            for rel in entry["files"]:
                names = pq.read_schema(root / rel).names
                outside = [n for n in names if n not in allowed]
                if outside:
                    raise IntegrityError(
                        f"{root.name}/{rel}: column {outside[0]} is not approved", _HINT
                    )
                year = entry.get("year_column")
                if year is None or year not in names:
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


def verify_extract(
    directory: str | Path,
    *,
    request: str | Path | None = None,
    user: str | None = None,
    audit: AuditLog | None = None,
    record: bool = True,
) -> VerifyResult:
    """Verify the extract in ``directory``; :class:`IntegrityError` says what is wrong."""
    root = Path(directory)
    audit = audit or AuditLog()
    user = user or current_user()
    manifest = read_manifest(root)
    sha = file_sha256(root / MANIFEST_NAME)
    try:
        _check_files(root, manifest)
        _check_schemas(root, manifest)
        audit_checked = _check_audit(root, manifest, sha, audit)
        if request is not None:
            _check_approval(root, manifest, Path(request), user, audit)
    except IntegrityError as exc:
        # A failed verification is part of the trail too (gate refusals log themselves).
        if record:
            audit.append(
                "extract_verification_failed",
                project=manifest.get("project"),
                user=user,
                details={
                    "directory": str(root.resolve()),
                    "manifest_sha256": sha,
                    "reason": exc.message,
                },
            )
        raise
    if record:
        audit.append(
            "extract_verified",
            project=manifest.get("project"),
            user=user,
            details={
                "directory": str(root.resolve()),
                "manifest_sha256": sha,
                "approval_checked": request is not None,
            },
        )
    return VerifyResult(
        directory=root,
        project=str(manifest.get("project")),
        files=len(manifest.get("files", [])),
        manifest_sha256=sha,
        audit_checked=audit_checked,
        approval_checked=request is not None,
    )
