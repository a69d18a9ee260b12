"""The one exception root of mikrodata, and its user-facing branches.

Every error a user can act on is a subclass of :class:`MikrodataError`. The command
line prints such an error as one line, ``error: <what went wrong>. <what to do>``,
without a traceback, and exits with the class's fixed code. Anything else is a bug
and still shows its traceback.

The tree (exit codes in brackets)::

    MikrodataError [10]
    ├── BadInputError [11]         a file, column or value the user supplied is unusable
    │   └── CatalogueError [12]    a catalogue file breaks the schema, or names an unknown
    │                              register, variable or code
    ├── AccessRefused [13]         the access gate said no (approval, user, register, year)
    │   └── ExportRefused [18]     a notebook export outside the project's outputs folder
    ├── KeyStoreError [14]         key store missing, wrong passphrase, corrupted
    ├── QualityFailure [15]        a critical expectation failed
    ├── IntegrityError [16]        a checksum, manifest, hash chain or collision check failed
    └── DisclosureError [17]       an output breaks the project's disclosure rules

This module imports nothing of ours, so every layer may import it.
Messages must never contain a raw identifier or key material: callers pass counts,
names and positions, not values.
"""

from __future__ import annotations

__all__ = [
    "AccessRefused",
    "BadInputError",
    "CatalogueError",
    "DisclosureError",
    "ExportRefused",
    "IntegrityError",
    "KeyStoreError",
    "MikrodataError",
    "QualityFailure",
    "exit_code_for",
]


class MikrodataError(Exception):
    """Root of every error mikrodata raises on purpose.

    ``message`` says what went wrong; ``hint`` says what the user should do next.
    """

    exit_code = 10

    def __init__(self, message: str, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(message if hint is None else f"{message}. {hint}")

    def one_line(self) -> str:
        """The error as the command line prints it: one line, no traceback."""
        text = str(self).replace("\n", " ")
        return f"error: {text}"


class BadInputError(MikrodataError):
    """A file, column, argument or value supplied by the user cannot be used."""

    exit_code = 11


class CatalogueError(BadInputError):
    """A catalogue file is invalid, or a register, variable or code is not in it."""

    exit_code = 12


class AccessRefused(MikrodataError):
    """The access gate refused: approval missing or expired, or outside its scope."""

    exit_code = 13


class ExportRefused(AccessRefused):
    """A copy of extract data would be written outside the project's outputs folder (or
    inside the extract itself)."""

    exit_code = 18


class KeyStoreError(MikrodataError):
    """The key store cannot be opened or used (missing, wrong passphrase, corrupted)."""

    exit_code = 14


class QualityFailure(MikrodataError):
    """A critical quality expectation failed."""

    exit_code = 15


class IntegrityError(MikrodataError):
    """A checksum, manifest, audit hash chain or pseudonym-collision check failed."""

    exit_code = 16


class DisclosureError(MikrodataError):
    """An output would break the project's disclosure-control rules."""

    exit_code = 17


# Show the exception classes as mikrodata.<Name> in tracebacks and reprs (they are
# re-exported from the mikrodata façade), not by their internal module path.
for _cls in (
    MikrodataError,
    BadInputError,
    CatalogueError,
    AccessRefused,
    ExportRefused,
    KeyStoreError,
    QualityFailure,
    IntegrityError,
    DisclosureError,
):
    _cls.__module__ = "mikrodata"


def exit_code_for(exc: BaseException) -> int:
    """The command line's exit code for an exception (1 for anything unexpected)."""
    if isinstance(exc, MikrodataError):
        return exc.exit_code
    return 1
