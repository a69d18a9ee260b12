"""Identifiers and keys: personnummer parsing, the encrypted key store, project keys
and keyed pseudonyms for whole columns and files.

Public API::

    from mikrodata.pseudonymisation import (
        parse_identifiers, Identifier,            # personnummer / samordningsnummer
        KeyStore, ProjectKey,                     # the key store and project keys
        pseudonymise_table, pseudonymise_file,    # tables and files
        PSEUDONYM_PATTERN, is_pseudonym, find_pseudonym_collisions,
    )

Names are imported on first use: the key store and signatures (what the access gate and
the audit log need) load without pandas or the file readers, so commands that touch no
data start fast.
"""

import importlib as _importlib

# name -> the module that defines it
_WHERE = {
    "ENCODINGS": "files",
    "FileResult": "files",
    "Identifier": "identifiers",
    "KINDS": "identifiers",
    "KeyStore": "keystore",
    "PASSPHRASE_ENV": "keystore",
    "PERSON": "pseudonyms",
    "PSEUDONYM_BYTES": "pseudonyms",
    "PSEUDONYM_PATTERN": "pseudonyms",
    "ProjectKey": "keystore",
    "PseudonymResult": "tables",
    "Pseudonymiser": "tables",
    "PublicKey": "signing",
    "REASONS": "identifiers",
    "REJECT_REASONS": "pseudonyms",
    "SigningKey": "signing",
    "SparkPseudonymResult": "spark",
    "TrustStore": "signing",
    "canonical_json": "signing",
    "detect_encoding": "files",
    "find_pseudonym_collisions": "pseudonyms",
    "input_columns": "files",
    "open_input": "files",
    "InputBatches": "files",
    "is_pseudonym": "pseudonyms",
    "luhn_check_digit": "luhn",
    "luhn_check_digits": "luhn",
    "parse_identifiers": "identifiers",
    "parse_identifiers_arrow": "identifiers",
    "pseudonymise_file": "files",
    "pseudonymise_spark": "spark",
    "pseudonymise_table": "tables",
    "reject_path_for": "files",
    "rekey_table": "pseudonyms",
}

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
    "InputBatches",
    "KeyStore",
    "ProjectKey",
    "PseudonymResult",
    "PublicKey",
    "Pseudonymiser",
    "SigningKey",
    "SparkPseudonymResult",
    "TrustStore",
    "canonical_json",
    "detect_encoding",
    "find_pseudonym_collisions",
    "input_columns",
    "is_pseudonym",
    "luhn_check_digit",
    "luhn_check_digits",
    "parse_identifiers",
    "open_input",
    "parse_identifiers_arrow",
    "pseudonymise_file",
    "pseudonymise_spark",
    "pseudonymise_table",
    "reject_path_for",
    "rekey_table",
]


def __getattr__(name: str) -> object:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(_importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
