"""A signed statement from the hub of who a single-user server belongs to.

The hub signs, at each spawn, ``{"user", "projects", "issued", "expires"}`` with its own
Ed25519 key, and passes the result to the researcher's server (and so to every kernel)
as ``MIKRODATA_HUB_IDENTITY``. Anyone can read it; nobody without the hub's private key
(which stays in the hub's state folder, readable only by the hub's account) can make one
for another user. Changing ``MIKRODATA_USER`` in a kernel is then detectable: the gate
compares it with the verified assertion and refuses a mismatch.

The public key belongs at a fixed path that the researcher's account cannot write (for
example ``/etc/mikrodata/hub_identity.pub``): the gate must take it from there, never
from an environment variable the researcher controls.

Example::

    key = ensure_hub_key(Path("/var/lib/jupyterhub/mikrodata"))
    token = sign_identity(key, "alice", ["P2026-001"])
    verify_identity(token, key.with_suffix(".pub"))["user"]   # 'alice'
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from mikrodata.toolkit.identity import verify_hub_assertion

__all__ = ["IDENTITY_ENV", "ensure_hub_key", "sign_identity", "verify_identity"]

IDENTITY_ENV = "MIKRODATA_HUB_IDENTITY"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def ensure_hub_key(state_dir: Path) -> Path:
    """The hub's private key file in ``state_dir`` (created, mode 0600, on first use),
    with its public key beside it (``.pub``)."""
    state_dir.mkdir(parents=True, exist_ok=True)
    path = state_dir / "hub_identity.key"
    if not path.exists():
        key = Ed25519PrivateKey.generate()
        raw = key.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(raw)
        public = key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        path.with_suffix(".pub").write_bytes(public)
    return path


def sign_identity(key_path: Path, user: str, projects: list[str], *, hours: float = 24 * 7) -> str:
    """A signed assertion that the server being spawned is ``user``'s, for ``projects``."""
    key = Ed25519PrivateKey.from_private_bytes(Path(key_path).read_bytes())
    now = dt.datetime.now(dt.UTC)
    claims = {
        "user": user,
        "projects": sorted(projects),
        "issued": now.isoformat(timespec="seconds"),
        "expires": (now + dt.timedelta(hours=hours)).isoformat(timespec="seconds"),
    }
    body = json.dumps(claims, sort_keys=True, separators=(",", ":")).encode()
    return f"{_b64(body)}.{_b64(key.sign(body))}"


def verify_identity(token: str, public_key_path: Path) -> dict[str, Any]:
    """The claims of a valid, unexpired assertion; ``AccessRefused`` otherwise (the check
    the gate makes, :func:`mikrodata.toolkit.identity.verify_hub_assertion`)."""
    return verify_hub_assertion(token, Path(public_key_path).read_bytes())
