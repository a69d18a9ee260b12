"""Who is running mikrodata: the identity the access gate and the audit log see.

The identity is the authenticated one, never a name the user types:

- ``os``: the operating-system account of the process (``pwd``, not ``$USER``, which
  anyone can set);
- ``jupyterhub``: inside a single-user server spawned by JupyterHub, the hub user named
  in the identity assertion the hub signed at spawn (``MIKRODATA_HUB_IDENTITY``, checked
  with the hub's public key at :data:`HUB_KEY_PATH`, a path the researcher cannot write;
  it works in a kernel with no network), or else the hub user the hub's API confirms for
  the server's token (``JUPYTERHUB_API_URL`` + ``JUPYTERHUB_API_TOKEN``). Either way a
  researcher cannot claim another name by editing ``JUPYTERHUB_USER`` or
  ``MIKRODATA_USER``;
- ``declared``: a name given with ``--user`` or ``MIKRODATA_USER``, for tests and the
  demo only. It is accepted only where ``MIKRODATA_DECLARED_IDENTITY=1`` says so, and
  every audit event then records that the identity was declared. Without that setting
  a declared name other than the real one is refused.

A name is never the whole authority: what a data steward decides is signed with the
steward's key from the key store, which a declared name cannot supply.

This module imports nothing of ours but the errors, so every layer may import it.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import functools
import json
import os
import pwd
import re
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from mikrodata.toolkit import clock
from mikrodata.toolkit.errors import AccessRefused, BadInputError

__all__ = [
    "DECLARED_ENV",
    "HUB_IDENTITY_ENV",
    "HUB_KEY_PATH",
    "SOURCES",
    "USER_ENV",
    "USER_PATTERN",
    "Identity",
    "current_identity",
    "os_user",
    "resolve_identity",
    "validate_user_id",
    "verify_hub_assertion",
]

USER_ENV = "MIKRODATA_USER"
DECLARED_ENV = "MIKRODATA_DECLARED_IDENTITY"  # "1": tests and the demo may declare users
USER_PATTERN = r"^[A-Za-z0-9_.@-]{1,64}$"
SOURCES = ("os", "jupyterhub", "declared")
_USER_RE = re.compile(USER_PATTERN)
_HUB_TIMEOUT_S = 5
HUB_IDENTITY_ENV = "MIKRODATA_HUB_IDENTITY"
# The hub's public key (raw 32 bytes), installed by the administrator where researchers
# cannot write. A constant, never read from the environment a researcher controls.
HUB_KEY_PATH = Path("/etc/mikrodata/hub_identity.pub")


@dataclass(frozen=True)
class Identity:
    """A user id and how it was established (one of :data:`SOURCES`)."""

    user: str
    source: str

    def __post_init__(self) -> None:
        validate_user_id(self.user)
        if self.source not in SOURCES:
            raise ValueError(f"unknown identity source {self.source!r}")  # a bug

    @property
    def declared(self) -> bool:
        return self.source == "declared"

    def __str__(self) -> str:
        return self.user if not self.declared else f"{self.user} (declared)"


def validate_user_id(user: object) -> str:
    """``user`` if it is a valid user id: 1-64 letters, digits, '.', '_', '@' or '-' (no
    spaces or control characters, which could forge lines in a listing)."""
    if not isinstance(user, str) or not _USER_RE.fullmatch(user):
        raise BadInputError(
            "a user id must be 1-64 letters, digits, '.', '_', '@' or '-'",
            "Use the account name; no spaces, newlines or other control characters",
        )
    return user


def os_user() -> str:
    """The operating-system account of this process (its effective uid)."""
    return pwd.getpwuid(os.geteuid()).pw_name


@functools.cache
def _hub_user(api_url: str, token: str) -> str:
    """The hub user the JupyterHub API confirms for ``token`` (loopback only)."""
    request = urllib.request.Request(
        api_url.rstrip("/") + "/user", headers={"Authorization": f"token {token}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=_HUB_TIMEOUT_S) as response:  # noqa: S310
            name = json.loads(response.read().decode("utf-8"))["name"]
    except (OSError, urllib.error.URLError, ValueError, KeyError, TypeError):
        raise AccessRefused(
            "the JupyterHub API did not confirm who is logged in",
            "Restart your server from the hub; ask the administrator if it persists",
        ) from None
    return validate_user_id(name)


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def verify_hub_assertion(token: str, public_key: bytes) -> dict[str, Any]:
    """The claims (``user``, ``projects``, ``issued``, ``expires``) of an identity
    assertion the hub signed with the key whose public half is ``public_key``;
    :class:`AccessRefused` when it is forged, damaged or expired."""
    refused = AccessRefused(
        "the hub identity assertion is not valid (not signed by this hub's key)",
        "Log in through JupyterHub again; the server must be started by the hub",
    )
    try:
        body_text, sig_text = token.split(".")
        body = _unb64(body_text)
        Ed25519PublicKey.from_public_bytes(public_key).verify(_unb64(sig_text), body)
        claims = json.loads(body)
        expires = dt.datetime.fromisoformat(claims["expires"])
        validate_user_id(claims["user"])
    except (ValueError, binascii.Error, InvalidSignature, KeyError, TypeError, BadInputError):
        raise refused from None
    if expires < clock.now():
        raise AccessRefused(
            f"the hub identity assertion expired at {claims['expires']}",
            "Restart your server from the hub's control panel",
        )
    return claims


def _authenticated() -> Identity:
    assertion = os.environ.get(HUB_IDENTITY_ENV)
    if assertion:
        try:
            key = HUB_KEY_PATH.read_bytes()
        except OSError:
            raise AccessRefused(
                f"this server carries a hub identity but {HUB_KEY_PATH} cannot be read",
                "Ask the administrator to install the hub's public key there",
            ) from None
        return Identity(verify_hub_assertion(assertion, key)["user"], "jupyterhub")
    api, token = os.environ.get("JUPYTERHUB_API_URL"), os.environ.get("JUPYTERHUB_API_TOKEN")
    if api and token:
        return Identity(_hub_user(api, token), "jupyterhub")
    return Identity(os_user(), "os")


def resolve_identity(user: str | Identity | None = None) -> Identity:
    """The identity of this process; ``user`` (or ``$MIKRODATA_USER``) is a declared one.

    A declared name equal to the authenticated one is simply the authenticated identity.
    Any other declared name needs ``MIKRODATA_DECLARED_IDENTITY=1`` (tests, the demo);
    without it the call is refused (:class:`AccessRefused`)."""
    if isinstance(user, Identity):
        return user
    wanted = user if user is not None else os.environ.get(USER_ENV) or None
    real = _authenticated()
    if wanted is None or wanted == real.user:
        return real
    validate_user_id(wanted)
    if os.environ.get(DECLARED_ENV) != "1":
        raise AccessRefused(
            f"you are {real.user}; a declared user ({USER_ENV} or --user) is for tests "
            "and the demo only",
            f"Unset {USER_ENV} and drop --user: mikrodata records who you really are",
        )
    return Identity(wanted, "declared")


def current_identity() -> Identity:
    """The identity of this process (``$MIKRODATA_USER`` counts as declared)."""
    return resolve_identity(None)
