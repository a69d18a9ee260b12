"""The encrypted key store, and the project keys derived from its master secret.

One file holds the steward's 32-byte master secret and the list of projects with their
key versions, sealed with AES-256-GCM under a key derived from a passphrase with scrypt
(N=2^17, r=8, p=1: about 128 MiB and a fraction of a second, per OWASP). The file is
JSON::

    {"format": "mikrodata-keystore/1",
     "kdf": {"name": "scrypt", "n": 131072, "r": 8, "p": 1, "salt": "<base64>"},
     "cipher": "AES-256-GCM", "nonce": "<base64>",
     "check": "<base64>",            # HMAC of a constant under the passphrase key
     "ciphertext": "<base64>"}       # master secret and projects, sealed

Everything but the ciphertext is bound to it as associated data, so changing the KDF
parameters is detected like any other tampering. ``check`` tells a wrong passphrase
apart from a damaged file; it lets an attacker test a passphrase guess no faster than
the ciphertext itself would (each guess still costs one scrypt).

A project key is HKDF-SHA256(master secret, info = "mikrodata/project-key/v1/<project>/
<version>"): keys of different projects and versions are independent, and nothing about
one reveals another or the master secret. The file is written atomically with mode 0600
and refused when others can read it. Errors never carry key material, the passphrase or
the underlying exception (``from None``).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import json
import os
import re
import stat
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import filelock
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from mikrodata.toolkit.atomic import write_bytes_atomic
from mikrodata.toolkit.errors import BadInputError, KeyStoreError

from .signing import PublicKey, SigningKey

if TYPE_CHECKING:
    import numpy as np

__all__ = ["PASSPHRASE_ENV", "KeyStore", "ProjectKey"]

PASSPHRASE_ENV = "MIKRODATA_KEYSTORE_PASSPHRASE"
_FORMAT = "mikrodata-keystore/1"
_SCRYPT = {"n": 2**17, "r": 8, "p": 1}
_PROJECT_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_CHECK_MESSAGE = b"mikrodata key store passphrase check"
_AAD_FIELDS = ("format", "kdf", "cipher", "nonce", "check")


class ProjectKey:
    """The secret key of one project at one version. Opaque: it exposes its project,
    version and a public ``key_id`` (safe to record in manifests), never the key."""

    __slots__ = ("_secret", "key_id", "project", "version")

    def __init__(self, project: str, version: int, secret: bytes) -> None:
        if len(secret) != 32:
            raise KeyStoreError("a project key must be 32 bytes")
        self.project = project
        self.version = version
        self._secret = secret
        # A one-way fingerprint: identifies the key in manifests, cannot be turned
        # back into it.
        fingerprint = hmac.digest(secret, b"mikrodata/key-id/v1", "sha256")[:6].hex()
        self.key_id = f"{project}/v{version}/{fingerprint}"

    def digests(self, domain: str, messages: np.ndarray | Iterable[bytes], nbytes: int) -> bytes:
        """HMAC-SHA256 under this key of ``<domain tag> + message`` for each message,
        each cut to ``nbytes``, concatenated. The domain is part of the HMAC message, so
        one value hashed in two domains gives unrelated pseudonyms.

        ``messages``: a 2-D uint8 array (one fixed-width message per row, the fast
        form), or any iterable of bytes."""
        import numpy as np  # here: commands that only open the key store never load it

        tag = b"mikrodata/pseudonym/v1/" + domain.encode("ascii") + b"\x00"
        if not 1 <= nbytes <= 32:
            raise BadInputError(f"a pseudonym is 1 to 32 bytes, not {nbytes}")
        if isinstance(messages, np.ndarray):
            messages = np.ascontiguousarray(messages, dtype=np.uint8)
            if messages.ndim == 2 and messages.shape[1] and (messages[:, -1] != 0).all():
                # As fixed-width bytes, one list in one call (3x faster than a bytes
                # object per row); NumPy drops trailing NULs of such bytes, so only
                # when no message ends in one.
                messages = messages.view(f"S{messages.shape[1]}").ravel().tolist()
            else:
                messages = [row.tobytes() for row in messages]
        # HMAC (RFC 2104) with the key's inner and outer SHA-256 states, and the domain
        # tag, computed once: each message then costs two state copies and one short
        # update each, about twice as fast as hmac.digest per message. The tests check
        # both ways against hmac.digest.
        padded = self._secret.ljust(64, b"\x00")
        inner = hashlib.sha256(bytes(b ^ 0x36 for b in padded) + tag)
        outer = hashlib.sha256(bytes(b ^ 0x5C for b in padded))
        inner_copy, outer_copy = inner.copy, outer.copy
        out = []
        append = out.append
        for message in messages:
            h = inner_copy()
            h.update(message)
            o = outer_copy()
            o.update(h.digest())
            append(o.digest())  # whole: cutting each one here costs more than the cut below
        whole = np.frombuffer(b"".join(out), dtype=np.uint8).reshape(len(out), 32)
        return whole[:, :nbytes].tobytes()

    def __repr__(self) -> str:
        return f"ProjectKey({self.key_id})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ProjectKey) and hmac.compare_digest(self._secret, other._secret)

    def __hash__(self) -> int:
        return hash(self.key_id)

    def __reduce__(self) -> Any:
        # Pickling would write the key in clear (to a notebook checkpoint, a cache).
        raise TypeError("a ProjectKey cannot be pickled")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: Any) -> bytes:
    if not isinstance(text, str):
        raise ValueError("not base64 text")
    return base64.b64decode(text.encode("ascii"), validate=True)


def _aad(header: dict[str, Any]) -> bytes:
    return json.dumps({k: header[k] for k in _AAD_FIELDS}, sort_keys=True).encode()


# What a key store may ask of scrypt. Below: too cheap to slow a guesser (a file edited
# to weaken it); above: memory or time no steward's machine has (128 * r * n bytes).
_SCRYPT_BOUNDS = {"n": (2**14, 2**20), "r": (1, 32), "p": (1, 16)}
MIN_PASSPHRASE = 12  # characters, at `keys init`


def _check_kdf(path: Path, n: int, r: int, p: int) -> None:
    values = {"n": n, "r": r, "p": p}
    bad = [k for k, (lo, hi) in _SCRYPT_BOUNDS.items() if not lo <= values[k] <= hi]
    if bad or n & (n - 1) or 128 * r * n * p > 2**31:
        raise KeyStoreError(
            f"the key store {path} asks for key derivation parameters out of bounds "
            f"(scrypt n={n}, r={r}, p={p}); it was not opened",
            "restore the key store from your backup; mikrodata writes n=2^17, r=8, p=1",
        )


def _derive(passphrase: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(passphrase.encode("utf-8"))


def _passphrase(passphrase: str | None) -> str:
    if passphrase is None:
        passphrase = os.environ.get(PASSPHRASE_ENV)
        if passphrase is None:
            raise KeyStoreError(
                "no key store passphrase given",
                f"set {PASSPHRASE_ENV} or pass the passphrase",
            )
    if not passphrase:
        raise KeyStoreError("the key store passphrase is empty", "choose a long passphrase")
    return passphrase


def _check_project(project: str) -> str:
    if not isinstance(project, str) or not _PROJECT_RE.fullmatch(project):
        raise BadInputError(
            "a project id must be 1-64 letters, digits, '.', '_' or '-', starting with a "
            "letter or digit",
            "choose another project id",
        )
    return project


class KeyStore:
    """An opened key store. Create one with :meth:`create`, open it with :meth:`open`."""

    def __init__(self, path: Path, wrap_key: bytes, header: dict[str, Any], payload: dict) -> None:
        self.path = path
        self._wrap_key = wrap_key
        self._header = header
        self._master = _unb64(payload["master"])
        self._projects: dict[str, list[dict[str, Any]]] = payload["projects"]
        # The steward's Ed25519 signing key (a store made before signatures gets one
        # the first time it is saved), and the last signed audit checkpoint of each log
        # (log id -> seq and hash): a log rolled back behind it is refused.
        self._signing = _unb64(payload["signing_key"]) if "signing_key" in payload else None
        self._checkpoints: dict[str, dict[str, Any]] = dict(payload.get("checkpoints", {}))

    # ---- creating and opening -------------------------------------------------------

    @classmethod
    def create(cls, path: str | os.PathLike[str], passphrase: str | None = None) -> KeyStore:
        """Create a new key store with a fresh random master secret. Never overwrites."""
        path = Path(path)
        passphrase = _passphrase(passphrase)
        if len(passphrase) < MIN_PASSPHRASE:
            raise KeyStoreError(
                f"the passphrase has {len(passphrase)} characters; a key store needs at "
                f"least {MIN_PASSPHRASE}",
                "choose a longer passphrase (several words are easy to remember)",
            )
        with filelock.FileLock(str(path) + ".lock"):
            if path.exists():
                raise KeyStoreError(
                    f"a key store already exists at {path}",
                    "use it, or move it away first if you really mean to start over",
                )
            salt = os.urandom(16)
            wrap_key = _derive(passphrase, salt, **_SCRYPT)
            header = {
                "format": _FORMAT,
                "kdf": {"name": "scrypt", **_SCRYPT, "salt": _b64(salt)},
                "cipher": "AES-256-GCM",
                "nonce": "",
                "check": _b64(hmac.digest(wrap_key, _CHECK_MESSAGE, "sha256")),
            }
            payload = {
                "master": _b64(os.urandom(32)),
                "projects": {},
                "signing_key": _b64(os.urandom(32)),
            }
            store = cls(path, wrap_key, header, payload)
            store._save()
        return store

    @classmethod
    def open(cls, path: str | os.PathLike[str], passphrase: str | None = None) -> KeyStore:
        """Open a key store; ``passphrase`` None reads ``MIKRODATA_KEYSTORE_PASSPHRASE``."""
        path = Path(path)
        passphrase = _passphrase(passphrase)
        header, ciphertext = cls._read(path)
        kdf = header["kdf"]
        try:
            salt = _unb64(kdf["salt"])
            n, r, p = int(kdf["n"]), int(kdf["r"]), int(kdf["p"])
            _check_kdf(path, n, r, p)
            wrap_key = _derive(passphrase, salt, n, r, p)
            check = _unb64(header["check"])
        except (KeyError, TypeError, ValueError, binascii.Error, OverflowError, MemoryError):
            raise KeyStoreError(
                f"the key store {path} is corrupted (key derivation parameters)",
                "restore it from your backup",
            ) from None
        expected = hmac.digest(wrap_key, _CHECK_MESSAGE, "sha256")
        if not hmac.compare_digest(check, expected):
            raise KeyStoreError(
                f"wrong passphrase for the key store {path}",
                f"check {PASSPHRASE_ENV} or the passphrase you typed",
            )
        try:
            nonce = _unb64(header["nonce"])
            plain = AESGCM(wrap_key).decrypt(nonce, ciphertext, _aad(header))
            payload = json.loads(plain)
            if not isinstance(payload, dict) or not isinstance(payload.get("projects"), dict):
                raise ValueError("bad payload")
            store = cls(path, wrap_key, header, payload)
            if len(store._master) != 32:
                raise ValueError("bad master secret")
        except (InvalidTag, KeyError, TypeError, ValueError, binascii.Error):
            raise KeyStoreError(
                f"the key store {path} is corrupted or was changed (authentication failed)",
                "restore it from your backup",
            ) from None
        return store

    @staticmethod
    def _read(path: Path) -> tuple[dict[str, Any], bytes]:
        try:
            st = path.stat()
        except FileNotFoundError:
            raise KeyStoreError(
                f"no key store at {path}", "create one with `mikrodata keys init`"
            ) from None
        if stat.S_IMODE(st.st_mode) & 0o077:
            raise KeyStoreError(
                f"the key store {path} can be read by other users",
                f"run `chmod 600 {path}` and check who may have copied it",
            )
        try:
            header = json.loads(path.read_bytes())
            if not isinstance(header, dict) or header.get("format") != _FORMAT:
                raise ValueError("not a key store")
            ciphertext = _unb64(header.pop("ciphertext"))
            for field in _AAD_FIELDS:
                header[field]  # noqa: B018 - presence check
        except (OSError, ValueError, KeyError, TypeError, binascii.Error):
            raise KeyStoreError(
                f"the key store {path} is truncated or corrupted (unreadable)",
                "restore it from your backup",
            ) from None
        return header, ciphertext

    def _save(self) -> None:
        header = dict(self._header, nonce=_b64(os.urandom(12)))
        if self._signing is None:
            self._signing = os.urandom(32)
        payload = json.dumps(
            {
                "master": _b64(self._master),
                "projects": self._projects,
                "signing_key": _b64(self._signing),
                "checkpoints": self._checkpoints,
            }
        ).encode()
        ciphertext = AESGCM(self._wrap_key).encrypt(_unb64(header["nonce"]), payload, _aad(header))
        document = dict(header, ciphertext=_b64(ciphertext))
        write_bytes_atomic(self.path, json.dumps(document, indent=1).encode(), mode=0o600)
        self._header = header

    # ---- projects and keys ----------------------------------------------------------

    def projects(self) -> dict[str, list[dict[str, Any]]]:
        """Every project with its versions (number, created) - no key material."""
        return {p: [dict(v) for v in versions] for p, versions in sorted(self._projects.items())}

    def versions(self, project: str) -> list[int]:
        return [v["version"] for v in self._projects.get(project, [])]

    def _derive_project(self, project: str, version: int) -> ProjectKey:
        info = f"mikrodata/project-key/v1/{project}/{version}".encode()
        secret = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(
            self._master
        )
        return ProjectKey(project, version, secret)

    def project_key(self, project: str, version: int | None = None) -> ProjectKey:
        """The key of ``project`` at ``version`` (its latest version by default)."""
        _check_project(project)
        versions = self.versions(project)
        if not versions:
            raise KeyStoreError(
                f"project {project} has no key in the key store",
                f"create its first key with `mikrodata keys rotate --project {project}`",
            )
        if version is None:
            version = max(versions)
        if version not in versions:
            raise KeyStoreError(
                f"project {project} has no key version {version}",
                f"its versions are {', '.join(map(str, versions))}",
            )
        return self._derive_project(project, version)

    def rotate(self, project: str) -> int:
        """Start a new key version for ``project`` (version 1 for a new project); the
        version list is recorded in the store. Returns the new version number."""
        _check_project(project)
        with filelock.FileLock(str(self.path) + ".lock"):
            # Re-read under the lock so two stewards rotating at once lose nothing.
            fresh = KeyStore._reopen(self)
            versions = fresh._projects.setdefault(project, [])
            new = max((v["version"] for v in versions), default=0) + 1
            versions.append(
                {"version": new, "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}
            )
            fresh._save()
            self._projects, self._header = fresh._projects, fresh._header
        return new

    # ---- the signing key and audit checkpoints -----------------------------------------

    def signing_key(self) -> SigningKey:
        """The steward's signing key (created and saved on first use in a store made
        before signatures existed)."""
        if self._signing is None:
            with filelock.FileLock(str(self.path) + ".lock"):
                fresh = KeyStore._reopen(self)
                if fresh._signing is None:
                    fresh._save()
                self._signing, self._header = fresh._signing, fresh._header
        assert self._signing is not None
        return SigningKey(self._signing)

    def public_key(self) -> PublicKey:
        """The public half of :meth:`signing_key`: safe to give to anyone."""
        return self.signing_key().public

    def checkpoint(self, log_id: str) -> tuple[int, str] | None:
        """The last signed checkpoint recorded for the audit log ``log_id``."""
        entry = KeyStore._reopen(self)._checkpoints.get(log_id)
        return (int(entry["seq"]), str(entry["hash"])) if entry else None

    def record_checkpoint(self, log_id: str, seq: int, hash_: str) -> None:
        """Remember that audit log ``log_id`` reached event ``seq`` with hash ``hash_``
        (never moves backwards)."""
        with filelock.FileLock(str(self.path) + ".lock"):
            fresh = KeyStore._reopen(self)
            known = fresh._checkpoints.get(log_id)
            if known is None or int(known["seq"]) < seq:
                fresh._checkpoints[log_id] = {"seq": seq, "hash": hash_}
                fresh._save()
            self._checkpoints, self._header = fresh._checkpoints, fresh._header

    def ensure_project(self, project: str) -> ProjectKey:
        """The latest key of ``project``, creating version 1 if the project is new."""
        if not self.versions(project):
            self.rotate(project)
        return self.project_key(project)

    @staticmethod
    def _reopen(store: KeyStore) -> KeyStore:
        header, ciphertext = KeyStore._read(store.path)
        if header["kdf"] != store._header["kdf"]:
            raise KeyStoreError(
                f"the key store {store.path} was replaced while open", "open it again"
            )
        try:
            plain = AESGCM(store._wrap_key).decrypt(
                _unb64(header["nonce"]), ciphertext, _aad(header)
            )
        except (InvalidTag, ValueError, binascii.Error):
            raise KeyStoreError(
                f"the key store {store.path} is corrupted or was changed (authentication failed)",
                "restore it from your backup",
            ) from None
        return KeyStore(store.path, store._wrap_key, header, json.loads(plain))

    def __repr__(self) -> str:
        return f"KeyStore({str(self.path)!r}, projects={len(self._projects)})"

    def __reduce__(self) -> Any:
        raise TypeError("a KeyStore cannot be pickled")
