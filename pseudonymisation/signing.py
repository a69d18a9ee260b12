"""Signatures: what a data steward produces is signed, and checked offline.

The steward's signing key is an Ed25519 key kept in the encrypted key store
(:meth:`~mikrodata.pseudonymisation.keystore.KeyStore.signing_key`). It signs approvals
and other steward decisions in the audit log, the log's checkpoints, extract manifests
and release manifests. Anyone holding only the public key can check them: a
researcher's environment has the steward's public key and nothing else.

What is signed is always ``PREFIX + purpose + NUL + data``: a signature made for one
purpose ("manifest", "audit-event", ...) can never be passed off as another's. Data
that is a JSON object is signed in its one canonical serialisation
(:func:`canonical_json`: sorted keys, no whitespace, UTF-8).

A public key is written as one line of text, ``mikrodata-ed25519 <base64> <label>``;
its ``key_id`` is the first 16 hex digits of the SHA-256 of the raw key. A
:class:`TrustStore` holds the keys whose signatures are accepted, read from a file of
such lines or a folder of ``*.pub`` files (``$MIKRODATA_TRUSTED_KEYS``, default
``$MIKRODATA_HOME/trusted_keys``). Whoever can write the trust store can vouch for
anything, so it must be writable only by the steward or the administrator.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from mikrodata.toolkit.errors import BadInputError, IntegrityError
from mikrodata.toolkit.paths import trusted_keys_path

__all__ = [
    "PUBLIC_KEY_TAG",
    "SIGNATURE_FORMAT",
    "PublicKey",
    "SigningKey",
    "TrustStore",
    "canonical_json",
]

SIGNATURE_FORMAT = "mikrodata-signature/1"
PUBLIC_KEY_TAG = "mikrodata-ed25519"
_PREFIX = b"mikrodata-signature/v1\x00"


def canonical_json(obj: Any) -> str:
    """The one serialisation that is hashed and signed: sorted keys, no whitespace."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _message(purpose: str, data: bytes) -> bytes:
    return _PREFIX + purpose.encode("ascii") + b"\x00" + data


def _data(payload: bytes | dict[str, Any]) -> bytes:
    return payload if isinstance(payload, bytes) else canonical_json(payload).encode("utf-8")


@dataclass(frozen=True)
class PublicKey:
    """An Ed25519 public key (32 bytes) with a label saying whose it is."""

    raw: bytes
    label: str = "steward"

    def __post_init__(self) -> None:
        if len(self.raw) != 32:
            raise BadInputError("an Ed25519 public key is 32 bytes", "Export it again")

    @property
    def key_id(self) -> str:
        return hashlib.sha256(self.raw).hexdigest()[:16]

    def to_text(self) -> str:
        label = "".join(c if c.isalnum() or c in "._@-" else "_" for c in self.label) or "key"
        return f"{PUBLIC_KEY_TAG} {base64.b64encode(self.raw).decode('ascii')} {label}\n"

    @classmethod
    def from_text(cls, text: str, where: str = "a public key") -> PublicKey:
        parts = text.strip().split()
        try:
            if len(parts) < 2 or parts[0] != PUBLIC_KEY_TAG:
                raise ValueError
            raw = base64.b64decode(parts[1], validate=True)
            return cls(raw, parts[2] if len(parts) > 2 else "steward")
        except (ValueError, binascii.Error, BadInputError):
            raise BadInputError(
                f"{where} is not a mikrodata public key",
                "Export it with `mikrodata keys export-public`",
            ) from None

    def verifies(self, purpose: str, payload: bytes | dict[str, Any], signature: str) -> bool:
        """Whether ``signature`` (base64) is this key's signature of ``payload``."""
        try:
            Ed25519PublicKey.from_public_bytes(self.raw).verify(
                base64.b64decode(signature, validate=True), _message(purpose, _data(payload))
            )
        except (InvalidSignature, ValueError, binascii.Error, TypeError):
            return False
        return True

    def __repr__(self) -> str:
        return f"PublicKey({self.key_id}, {self.label!r})"


class SigningKey:
    """The steward's private signing key. Opaque: it signs, and shows its public key."""

    __slots__ = ("_key", "public")

    def __init__(self, raw: bytes, label: str = "steward") -> None:
        if len(raw) != 32:
            raise BadInputError("an Ed25519 private key is 32 bytes")
        self._key = Ed25519PrivateKey.from_private_bytes(raw)
        public = self._key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        self.public = PublicKey(public, label)

    @property
    def key_id(self) -> str:
        return self.public.key_id

    def sign(self, purpose: str, payload: bytes | dict[str, Any]) -> dict[str, str]:
        """A signature record ``{"format", "purpose", "key_id", "value"}`` of ``payload``."""
        value = self._key.sign(_message(purpose, _data(payload)))
        return {
            "format": SIGNATURE_FORMAT,
            "purpose": purpose,
            "key_id": self.key_id,
            "value": base64.b64encode(value).decode("ascii"),
        }

    def __repr__(self) -> str:
        return f"SigningKey({self.key_id})"

    def __reduce__(self) -> Any:
        raise TypeError("a SigningKey cannot be pickled")  # it would be written in clear


class TrustStore:
    """The public keys whose signatures are accepted."""

    def __init__(
        self, keys: list[PublicKey] | tuple[PublicKey, ...] = (), source: str = ""
    ) -> None:
        self.keys = {k.key_id: k for k in keys}
        self.source = source

    @classmethod
    def load(cls, path: str | Path | None = None) -> TrustStore:
        """The keys in ``path`` (a file of key lines, or a folder of ``*.pub`` files);
        default ``$MIKRODATA_TRUSTED_KEYS`` or ``$MIKRODATA_HOME/trusted_keys``. A missing
        path is an empty trust store."""
        path = Path(path) if path is not None else trusted_keys_path()
        files = sorted(path.glob("*.pub")) if path.is_dir() else [path] if path.is_file() else []
        keys = []
        for f in files:
            for number, line in enumerate(f.read_text(encoding="utf-8").splitlines(), 1):
                if line.strip() and not line.lstrip().startswith("#"):
                    keys.append(PublicKey.from_text(line, f"{f.name} line {number}"))
        return cls(keys, str(path))

    def __bool__(self) -> bool:
        return bool(self.keys)

    def __repr__(self) -> str:
        return f"TrustStore({sorted(self.keys)})"

    def check(
        self, purpose: str, payload: bytes | dict[str, Any], signature: Any, what: str
    ) -> str:
        """Raise :class:`IntegrityError` unless ``signature`` is a valid signature for
        ``purpose`` by a trusted key; returns the signer's key id."""
        hint = "Do not use it: ask the data steward for a genuine copy"
        if not isinstance(signature, dict) or signature.get("format") != SIGNATURE_FORMAT:
            raise IntegrityError(f"{what} is not signed", hint)
        if signature.get("purpose") != purpose:
            raise IntegrityError(f"{what} carries a signature made for something else", hint)
        if not self.keys:
            raise IntegrityError(
                f"{what} is signed, but no steward public key is trusted here",
                "Install the steward's public key (`mikrodata keys export-public`) in "
                f"{self.source or trusted_keys_path()}",
            )
        key = self.keys.get(str(signature.get("key_id")))
        if key is None:
            raise IntegrityError(f"{what} is signed by a key that is not trusted here", hint)
        if not key.verifies(purpose, payload, str(signature.get("value"))):
            raise IntegrityError(
                f"{what}: the signature does not match (changed after signing)", hint
            )
        return key.key_id
