"""Fixtures for the pseudonymisation tests: throw-away key stores with random
passphrases (identifiers come from synthetic.py)."""

from __future__ import annotations

import secrets

import pytest

from mikrodata.pseudonymisation import KeyStore


@pytest.fixture
def passphrase() -> str:
    return "test " + secrets.token_urlsafe(12)


@pytest.fixture
def keystore(tmp_path, passphrase) -> KeyStore:
    store = KeyStore.create(tmp_path / "keystore", passphrase)
    store.rotate("P1")
    store.rotate("P2")
    return store


@pytest.fixture
def key(keystore):
    return keystore.project_key("P1")


@pytest.fixture(scope="session")
def shared_store(tmp_path_factory) -> KeyStore:
    """One key store for the tests that only need project keys (scrypt is slow on
    purpose, so it is opened once)."""
    store = KeyStore.create(
        tmp_path_factory.mktemp("keys") / "keystore", "shared " + secrets.token_hex(8)
    )
    for project in ("P1", "P2"):
        store.rotate(project)
    return store


@pytest.fixture(scope="session")
def p1(shared_store):
    return shared_store.project_key("P1")


@pytest.fixture(scope="session")
def p2(shared_store):
    return shared_store.project_key("P2")
