"""Who is running mikrodata: the identity the access gate and the audit log see.

The identity is the authenticated one, never a name the user types:

- ``os``: the operating-system account of the process (``pwd``, not ``$USER``, which
  anyone can set);
- ``jupyterhub``: inside a single-user server spawned by JupyterHub, the hub user that
  the hub itself confirms for the server's API token (``JUPYTERHUB_API_URL`` +
  ``JUPYTERHUB_API_TOKEN``; the token is the server's secret, so a researcher cannot
  claim another hub user's name by editing ``JUPYTERHUB_USER``);
- ``declared``: a name given with ``--user`` or ``MIKRODATA_USER``, for tests and the
  demo only. It is accepted only where ``MIKRODATA_DECLARED_IDENTITY=1`` says so, and
  every audit event then records that the identity was declared. Without that setting
  a declared name other than the real one is refused.

A name is never the whole authority: what a data steward decides is signed with the
steward's key from the key store, which a declared name cannot supply.

This module imports nothing of ours but the errors, so every layer may import it.
"""

from __future__ import annotations

import functools
import json
import os
import pwd
import re
import urllib.error
import urllib.request
from dataclasses import dataclass

from mikrodata.toolkit.errors import AccessRefused, BadInputError

__all__ = [
    "DECLARED_ENV",
    "SOURCES",
    "USER_ENV",
    "USER_PATTERN",
    "Identity",
    "current_identity",
    "os_user",
    "resolve_identity",
    "validate_user_id",
]

USER_ENV = "MIKRODATA_USER"
DECLARED_ENV = "MIKRODATA_DECLARED_IDENTITY"  # "1": tests and the demo may declare users
USER_PATTERN = r"^[A-Za-z0-9_.@-]{1,64}$"
SOURCES = ("os", "jupyterhub", "declared")
_USER_RE = re.compile(USER_PATTERN)
_HUB_TIMEOUT_S = 5


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


def _authenticated() -> Identity:
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
