"""A steward's world for release tests: an approved project with one real extract built
(once per session), copied fresh into each test with its key store and audit log."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from mikrodata.access_requests import AuditLog
from tests.access_requests.support import (
    PASSPHRASE,
    STEWARD,
    approved_extract,
    make_delivery,
    make_keystore,
    steward_store,
)

STEWARD2 = "steward2"


def _build(root: Path, stewards: list[str], rules: dict) -> dict:
    delivery = make_delivery(root / "registers", persons=60)
    keystore = make_keystore(root / "steward" / "keystore")
    built = approved_extract(
        root / "steward",
        delivery["root"],
        keystore,
        request={"data_stewards": stewards, "output_rules": rules},
    )
    return {"root": root / "steward", "manifest_sha256": built.result.manifest_sha256}


@pytest.fixture(scope="session")
def _built(tmp_path_factory):
    return {
        1: _build(tmp_path_factory.mktemp("one"), [STEWARD, STEWARD2], {"min_cell_count": 10}),
        2: _build(
            tmp_path_factory.mktemp("two"),
            [STEWARD, STEWARD2],
            {"min_cell_count": 10, "reviewers": 2},
        ),
    }


class World:
    def __init__(self, base: Path, manifest_sha256: str) -> None:
        self.base = base
        self.request = base / "P2026-001.yaml"
        self.log = AuditLog(base / "audit.jsonl")
        self.keystore = base / "keystore"
        self.store = steward_store(self.keystore)
        self.requests = base / "output-requests"
        self.releases = base / "releases"
        self.trail = base / "trail"
        self.extract = base / "extract"
        self.source = {
            "project": "P2026-001",
            "dummy": False,
            "manifest_sha256": manifest_sha256,
            "register": "ekonomiskt_bistand",
        }

    def approve(self, user: str, **kw):
        from mikrodata.toolkit.release import approve_release

        return approve_release(
            self.request,
            folder=self.requests,
            user=user,
            audit=self.log,
            signer=self.store,
            releases=self.releases,
            trail=self.trail,
            **kw,
        )


def _world(tmp_path, monkeypatch, built) -> World:
    base = tmp_path / "steward"
    shutil.copytree(built["root"], base)
    monkeypatch.setenv("MIKRODATA_AUDIT_LOG", str(base / "audit.jsonl"))
    monkeypatch.setenv("MIKRODATA_OUTPUT_REQUESTS", str(base / "output-requests"))
    monkeypatch.setenv("MIKRODATA_KEYSTORE", str(base / "keystore"))
    monkeypatch.setenv("MIKRODATA_KEYSTORE_PASSPHRASE", PASSPHRASE)
    monkeypatch.setenv("MIKRODATA_RELEASES", str(base / "releases"))
    monkeypatch.setenv("MIKRODATA_RELEASE_TRAIL", str(base / "trail"))
    return World(base, built["manifest_sha256"])


@pytest.fixture
def world(tmp_path, monkeypatch, _built) -> World:
    """One reviewer (the project's rules: acro, at least 10 units)."""
    return _world(tmp_path, monkeypatch, _built[1])


@pytest.fixture
def world2(tmp_path, monkeypatch, _built) -> World:
    """Two reviewers (``reviewers: 2``)."""
    return _world(tmp_path, monkeypatch, _built[2])
