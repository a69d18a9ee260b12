"""The signed release manifest, and the offline check of a release folder.

A release folder holds the released files, ``release.json`` (the manifest) and
``release.sig`` (the data steward's Ed25519 signature of the manifest's exact bytes,
purpose ``release-manifest``; see :mod:`mikrodata.pseudonymisation.signing`)::

    {"format": "mikrodata-release/1", "release_id": ..., "project": ...,
     "files": [{"path", "sha256", "bytes"}], "outputs": [{name, output, description,
     status, justification, requested_by, requested_at, record_sha256, files}],
     "rules": {...}, "profile": ..., "requested_by": [...], "approved_by": [...],
     "reviewers": n, "approved_at": ..., "source": {...}, "audit_head": {seq, hash},
     "differencing": {...}}

:func:`verify_release` needs nothing but the trusted public keys: it refuses a changed
byte, an added, removed or renamed file, a changed manifest, a missing or bad
signature and a signature by a key that is not trusted, each with its own message.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mikrodata.pseudonymisation import SigningKey, TrustStore
from mikrodata.toolkit.atomic import write_bytes_atomic
from mikrodata.toolkit.errors import IntegrityError

__all__ = [
    "MANIFEST_NAME",
    "RELEASE_FORMAT",
    "SIGNATURE_NAME",
    "ReleaseCheck",
    "verify_release",
    "write_manifest",
]

RELEASE_FORMAT = "mikrodata-release/1"
MANIFEST_NAME = "release.json"
SIGNATURE_NAME = "release.sig"
PURPOSE = "release-manifest"
_HINT = "Do not pass the release on: ask the data steward for the released copy"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_manifest(directory: Path, manifest: dict[str, Any], key: SigningKey) -> str:
    """Write ``release.json`` and ``release.sig`` (each atomically) into ``directory``;
    returns the manifest's SHA-256."""
    data = (json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()
    signature = key.sign(PURPOSE, data)
    write_bytes_atomic(directory / MANIFEST_NAME, data)
    write_bytes_atomic(
        directory / SIGNATURE_NAME, (json.dumps(signature, indent=2) + "\n").encode("utf-8")
    )
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class ReleaseCheck:
    """A release folder that verified: its manifest, its hash and who signed it."""

    directory: Path
    manifest: dict[str, Any]
    manifest_sha256: str
    signed_by: str

    def as_dict(self) -> dict[str, Any]:
        m = self.manifest
        return {
            "directory": str(self.directory),
            "release_id": m["release_id"],
            "project": m["project"],
            "files": len(m["files"]),
            "outputs": [o["name"] for o in m["outputs"]],
            "approved_by": m["approved_by"],
            "requested_by": m["requested_by"],
            "approved_at": m["approved_at"],
            "manifest_sha256": self.manifest_sha256,
            "signed_by": self.signed_by,
            "ok": True,
        }


def verify_release(directory: str | Path, trust: TrustStore | None = None) -> ReleaseCheck:
    """Check a release folder offline; :class:`IntegrityError` says what is wrong."""
    root = Path(directory)
    trust = trust if trust is not None else TrustStore.load()
    what = f"release {root.name}"
    if not root.is_dir():
        raise IntegrityError(f"{root} is not a release folder", "Give the release's folder")
    manifest_path, sig_path = root / MANIFEST_NAME, root / SIGNATURE_NAME
    if not manifest_path.is_file() or manifest_path.is_symlink():
        raise IntegrityError(
            f"{what}: no {MANIFEST_NAME} (not a release, or it was removed)", _HINT
        )
    if not sig_path.is_file() or sig_path.is_symlink():
        raise IntegrityError(f"{what} is not signed (no {SIGNATURE_NAME})", _HINT)
    data = manifest_path.read_bytes()
    try:
        signature = json.loads(sig_path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise IntegrityError(f"{what}: {SIGNATURE_NAME} cannot be read", _HINT) from None
    # the signature first: nothing of an unsigned manifest is believed
    signer = trust.check(PURPOSE, data, signature, f"{what}'s manifest")
    try:
        manifest = json.loads(data)
        if manifest.get("format") != RELEASE_FORMAT:
            raise ValueError
        listed = {f["path"]: f for f in manifest["files"]}
    except (ValueError, KeyError, TypeError, AttributeError):
        raise IntegrityError(
            f"{what}: its manifest is not a {RELEASE_FORMAT} manifest", _HINT
        ) from None
    # every entry but the manifest and its signature must be a listed file: a folder or
    # a link added beside the files is as foreign as an added file
    present = {p.name: p for p in root.iterdir() if p.name not in (MANIFEST_NAME, SIGNATURE_NAME)}
    extra = sorted(set(present) - set(listed))
    if extra:
        raise IntegrityError(
            f"{what}: {extra[0]} is not in the signed manifest (a file was added)", _HINT
        )
    for path, entry in sorted(listed.items()):
        file = present.get(path)
        if file is None:
            raise IntegrityError(f"{what}: {path} is missing (a released file was removed)", _HINT)
        if file.is_symlink() or not file.is_file():
            raise IntegrityError(f"{what}: {path} is a symbolic link, not a released file", _HINT)
        if file.stat().st_size != entry["bytes"] or sha256_file(file) != entry["sha256"]:
            raise IntegrityError(
                f"{what}: {path} differs from the signed manifest (its SHA-256 does not "
                "match: changed after release)",
                _HINT,
            )
    return ReleaseCheck(root, manifest, hashlib.sha256(data).hexdigest(), signer)
