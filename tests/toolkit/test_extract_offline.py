"""A researcher's machine has the steward's public key and nothing else: no key store,
no steward log. There a genuine extract verifies, and a consistently forged extract or a
consistently rewritten audit log does not; verifying never changes a later verdict."""

from __future__ import annotations

import hashlib
import json
import shutil

import pyarrow.parquet as pq
import pytest

from mikrodata.access_requests import AuditLog, event_hash, file_sha256
from mikrodata.pseudonymisation import SigningKey, TrustStore
from mikrodata.toolkit.errors import IntegrityError
from mikrodata.toolkit.extract import verify_extract
from tests.access_requests.support import (
    approved_extract,
    make_delivery,
    make_keystore,
)


@pytest.fixture(scope="module")
def delivery(tmp_path_factory):
    return make_delivery(tmp_path_factory.mktemp("registers"), persons=80)


@pytest.fixture
def steward_side(tmp_path, delivery):
    """An extract built on the steward's side, and the steward's public key file."""
    keystore = make_keystore(tmp_path / "steward" / "keystore")
    built = approved_extract(tmp_path / "steward", delivery["root"], keystore)
    public = tmp_path / "steward.pub"
    public.write_text(built.store.public_key().to_text())
    return {"extract": built.out, "public": public, "log": built.log, "request": built.request}


@pytest.fixture
def researcher(tmp_path, monkeypatch, steward_side):
    """A fresh home that trusts the steward's public key and holds nothing else."""
    home = tmp_path / "researcher"
    home.mkdir()
    monkeypatch.setenv("MIKRODATA_HOME", str(home))
    monkeypatch.setenv("MIKRODATA_TRUSTED_KEYS", str(steward_side["public"]))
    copy = home / "extract"
    shutil.copytree(steward_side["extract"], copy)
    return {"home": home, "extract": copy}


def test_a_genuine_extract_verifies_offline_and_leaves_no_state(researcher):
    result = verify_extract(researcher["extract"])
    assert not result.dummy and result.approval is not None
    assert sorted(p.name for p in researcher["home"].iterdir()) == ["extract"]


def test_verifying_never_changes_a_later_verdict(researcher, steward_side, tmp_path):
    # The finding: a first verify in a fresh home created a log that made the next
    # genuine extract fail. Record both verifications, in either order.
    second = researcher["home"] / "extract-2"
    shutil.copytree(steward_side["extract"], second)
    log = AuditLog(researcher["home"] / "audit.jsonl")
    for directory in (researcher["extract"], second, researcher["extract"]):
        verify_extract(directory, audit=log, record=True)
    assert [e["action"] for e in log.events()] == ["extract_verified"] * 3


def _rewrite_data(extract):
    """Drop a row of the data and re-hash the manifest to match (the forger's job)."""
    path = extract / "ekonomiskt_bistand" / "part-0.parquet"
    pq.write_table(pq.read_table(path).slice(1), path)
    manifest = json.loads((extract / "manifest.json").read_text())
    entry = next(f for f in manifest["files"] if f["path"].endswith("part-0.parquet"))
    entry.update(sha256=file_sha256(path), bytes=path.stat().st_size, rows=entry["rows"] - 1)
    (extract / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return manifest


def test_a_consistently_forged_extract_is_refused(researcher):
    _rewrite_data(researcher["extract"])
    with pytest.raises(IntegrityError, match="manifest.json: the signature does not match"):
        verify_extract(researcher["extract"])


def test_a_forged_extract_re_signed_with_another_key_is_refused(researcher):
    extract = researcher["extract"]
    _rewrite_data(extract)
    mallory = SigningKey(hashlib.sha256(b"mallory").digest())
    signature = mallory.sign("extract-manifest", (extract / "manifest.json").read_bytes())
    (extract / "manifest.sig").write_text(json.dumps(signature))
    with pytest.raises(IntegrityError, match="signed by a key that is not trusted here"):
        verify_extract(extract)
    # Nor does carrying its own public key help, unless it owns up to being a dummy.
    signature["public_key"] = __import__("base64").b64encode(mallory.public.raw).decode()
    (extract / "manifest.sig").write_text(json.dumps(signature))
    with pytest.raises(IntegrityError, match="signed by the key it carries itself"):
        verify_extract(extract)


def test_a_widened_approval_is_refused(researcher):
    extract = researcher["extract"]
    approval = json.loads((extract / "approval.json").read_text())
    approval["request_text"] = approval["request_text"].replace("2012-2020", "1990-2024")
    approval["request_sha256"] = hashlib.sha256(approval["request_text"].encode()).hexdigest()
    (extract / "approval.json").write_text(json.dumps(approval))
    # The manifest names approval.json's hash too: re-hash it, as a forger would.
    manifest = json.loads((extract / "manifest.json").read_text())
    entry = next(f for f in manifest["files"] if f["path"] == "approval.json")
    entry.update(
        sha256=file_sha256(extract / "approval.json"),
        bytes=(extract / "approval.json").stat().st_size,
    )
    (extract / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    with pytest.raises(IntegrityError, match="signature does not match"):
        verify_extract(extract)


def test_without_the_steward_key_nothing_verifies(researcher, monkeypatch, tmp_path):
    monkeypatch.setenv("MIKRODATA_TRUSTED_KEYS", str(tmp_path / "nothing-here"))
    with pytest.raises(IntegrityError, match="no steward public key is trusted here"):
        verify_extract(researcher["extract"])


def test_a_consistently_rewritten_audit_log_is_refused_with_the_public_key_alone(
    researcher, steward_side
):
    home = researcher["home"]
    for suffix in ("", ".head", ".checkpoint"):
        shutil.copy(
            steward_side["log"].path.with_name(f"audit.jsonl{suffix}"), home / f"a.jsonl{suffix}"
        )
    log = AuditLog(home / "a.jsonl")
    assert log.verify().signed_events > 0
    # Rewrite the approval of the request to cover more years, re-hash the chain and
    # the anchor: every line is consistent, but the steward's signature no longer is.
    lines = log.path.read_text().splitlines(keepends=True)
    prev = None
    for i, line in enumerate(lines):
        event = json.loads(line)
        if prev is not None:
            event["prev"] = prev
        if event["details"].get("to") == "confidentiality_approved":
            event["details"]["request_sha256"] = "0" * 64
        event["hash"] = event_hash(event)
        prev = event["hash"]
        lines[i] = json.dumps(event, sort_keys=True, separators=(",", ":")) + "\n"
    log.path.write_text("".join(lines))
    log.head_path.write_text(json.dumps({"seq": len(lines), "hash": prev}))
    with pytest.raises(IntegrityError, match="the signature does not match"):
        log.verify(trust=TrustStore.load())
