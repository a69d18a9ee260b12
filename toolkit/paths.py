"""Where mikrodata keeps its state, and who is running it.

One place for every default location, each overridable by an environment variable
(and by a command-line option where a command takes one):

==========================  ===============================  ============================
what                        environment variable             default
==========================  ===============================  ============================
state directory             ``MIKRODATA_HOME``               ``./.mikrodata``
key store                   ``MIKRODATA_KEYSTORE``           ``$MIKRODATA_HOME/keystore``
audit log                   ``MIKRODATA_AUDIT_LOG``          ``$MIKRODATA_HOME/audit.jsonl``
the user's id               ``MIKRODATA_USER``               the login name
==========================  ===============================  ============================

This module imports nothing of ours, so every layer may import it.
"""

from __future__ import annotations

import getpass
import os
from pathlib import Path

__all__ = ["audit_log_path", "current_user", "home", "keystore_path"]


def home() -> Path:
    """The state directory (not created here)."""
    return Path(os.environ.get("MIKRODATA_HOME", Path.cwd() / ".mikrodata"))


def keystore_path() -> Path:
    """The encrypted key store file."""
    env = os.environ.get("MIKRODATA_KEYSTORE")
    return Path(env) if env else home() / "keystore"


def audit_log_path() -> Path:
    """The hash-chained audit log (JSON lines)."""
    env = os.environ.get("MIKRODATA_AUDIT_LOG")
    return Path(env) if env else home() / "audit.jsonl"


def current_user() -> str:
    """The id of the user running mikrodata, as recorded in the audit log."""
    return os.environ.get("MIKRODATA_USER") or getpass.getuser()
