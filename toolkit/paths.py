"""Where mikrodata keeps its state.

One place for every default location, each overridable by an environment variable
(and by a command-line option where a command takes one):

==========================  ===============================  ============================
what                        environment variable             default
==========================  ===============================  ============================
state directory             ``MIKRODATA_HOME``               ``./.mikrodata``
key store                   ``MIKRODATA_KEYSTORE``           ``$MIKRODATA_HOME/keystore``
audit log                   ``MIKRODATA_AUDIT_LOG``          ``$MIKRODATA_HOME/audit.jsonl``
trusted public keys         ``MIKRODATA_TRUSTED_KEYS``       ``$MIKRODATA_HOME/trusted_keys``
==========================  ===============================  ============================

The trusted public keys are the steward keys whose signatures mikrodata accepts (a file
of keys, or a folder of ``*.pub`` files). Whoever can write there can vouch for anything:
on a researcher's machine it is provisioned read-only by the administrator. Who is
running mikrodata is not a path: see ``mikrodata.toolkit.identity``.

This module imports nothing of ours, so every layer may import it.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["audit_log_path", "home", "keystore_path", "trusted_keys_path"]


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


def trusted_keys_path() -> Path:
    """The trusted public keys of data stewards (a file, or a folder of ``*.pub``)."""
    env = os.environ.get("MIKRODATA_TRUSTED_KEYS")
    return Path(env) if env else home() / "trusted_keys"
