"""Identifiers and keys: personnummer parsing, the encrypted key store, project keys
and keyed pseudonyms for whole columns and files.

Public API::

    from mikrodata.pseudonymisation import (
        parse_identifiers, Identifier,            # personnummer / samordningsnummer
        KeyStore, ProjectKey,                     # the key store and project keys
        pseudonymise_table, pseudonymise_file,    # tables and files
        PSEUDONYM_PATTERN, is_pseudonym, find_pseudonym_collisions,
    )
"""

from .files import (
    ENCODINGS,
    FileResult,
    detect_encoding,
    input_columns,
    pseudonymise_file,
    reject_path_for,
)
from .identifiers import KINDS, REASONS, Identifier, parse_identifiers, parse_identifiers_arrow
from .keystore import PASSPHRASE_ENV, KeyStore, ProjectKey
from .luhn import luhn_check_digit, luhn_check_digits
from .pseudonyms import (
    PERSON,
    PSEUDONYM_BYTES,
    PSEUDONYM_PATTERN,
    REJECT_REASONS,
    find_pseudonym_collisions,
    is_pseudonym,
    rekey_table,
)
from .tables import Pseudonymiser, PseudonymResult, pseudonymise_table

__all__ = [
    "ENCODINGS",
    "KINDS",
    "PASSPHRASE_ENV",
    "PERSON",
    "PSEUDONYM_BYTES",
    "PSEUDONYM_PATTERN",
    "REASONS",
    "REJECT_REASONS",
    "FileResult",
    "Identifier",
    "KeyStore",
    "ProjectKey",
    "PseudonymResult",
    "Pseudonymiser",
    "detect_encoding",
    "find_pseudonym_collisions",
    "input_columns",
    "is_pseudonym",
    "luhn_check_digit",
    "luhn_check_digits",
    "parse_identifiers",
    "parse_identifiers_arrow",
    "pseudonymise_file",
    "pseudonymise_table",
    "reject_path_for",
    "rekey_table",
]
