"""``mikrodata release verify``: a release folder checked offline with nothing but the
steward's public key; each kind of tampering refused with its own message."""

from __future__ import annotations

import json
import shutil

import pytest

from mikrodata import disclosure
from mikrodata.pseudonymisation import SigningKey, TrustStore
from mikrodata.toolkit.release.manifest import PURPOSE
from tests.access_requests.support import RESEARCHER, STEWARD
from tests.toolkit.disclosure.support import microdata
from tests.toolkit.release.test_review import COUNTS

_CACHE: dict[str, object] = {}


@pytest.fixture
def released(world, monkeypatch, tmp_path_factory):
    """A copy of one signed release, and a trust store of only the steward's public key
    (made once; each test gets its own copy)."""
    if "folder" not in _CACHE:
        monkeypatch.setenv("MIKRODATA_USER", RESEARCHER)
        t = disclosure.crosstab(microdata(COUNTS, ["kommun", "manad"]), "kommun", "manad")
        disclosure.request_release(t, "by_kommun", "Persons", source=world.source)
        fig = t.figure()
        disclosure.request_release(fig, "by_kommun_fig", "Figure", table=t, source=world.source)
        monkeypatch.delenv("MIKRODATA_USER")
        result = world.approve(STEWARD)
        keep = tmp_path_factory.mktemp("released")
        shutil.copytree(result["directory"], keep / "R")
        (keep / "steward.pub").write_text(world.store.public_key().to_text())
        _CACHE["folder"], _CACHE["pub"] = keep / "R", keep / "steward.pub"
    folder = world.base / "copy" / "P2026-001-R001"
    shutil.copytree(_CACHE["folder"], folder)
    pub = world.base / "steward.pub"
    shutil.copyfile(_CACHE["pub"], pub)
    return folder, pub


def _verify(run_cli, folder, pub):
    return run_cli("release", "verify", str(folder), "--trusted-keys", str(pub), "--json")


def test_an_untouched_release_verifies_offline(released, run_cli, world):
    folder, pub = released
    out = _verify(run_cli, folder, pub)
    assert out.exit_code == 0, out.output
    doc = json.loads(out.output)
    assert doc["ok"] and doc["files"] == 3 and doc["approved_by"] == [STEWARD]
    assert doc["outputs"] == ["by_kommun", "by_kommun_fig"]
    assert world.log.events()[-1]["action"] == "release_verified"


def _flip_byte(folder):
    path = folder / "by_kommun.csv"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def _add_file(folder):
    (folder / "notes.txt").write_text("3 persons in 2584\n")


def _add_folder(folder):
    (folder / "more").mkdir()
    (folder / "more" / "cells.csv").write_text("2584,1,3\n")


def _remove_file(folder):
    (folder / "by_kommun_fig.html").unlink()


def _edit_manifest(folder):
    doc = json.loads((folder / "release.json").read_text())
    doc["approved_by"] = ["someone.else"]
    (folder / "release.json").write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")


def _resign_with_another_key(folder):
    key = SigningKey(b"\x07" * 32, "intruder")
    sig = key.sign(PURPOSE, (folder / "release.json").read_bytes())
    (folder / "release.sig").write_text(json.dumps(sig))


def _unsign(folder):
    (folder / "release.sig").unlink()


@pytest.mark.parametrize(
    ("tamper", "message"),
    [
        (_flip_byte, "by_kommun.csv differs from the signed manifest"),
        (_add_file, "notes.txt is not in the signed manifest (a file was added)"),
        (_add_folder, "more is not in the signed manifest (a file was added)"),
        (_remove_file, "by_kommun_fig.html is missing (a released file was removed)"),
        (_edit_manifest, "the signature does not match (changed after signing)"),
        (_resign_with_another_key, "signed by a key that is not trusted here"),
        (_unsign, "is not signed (no release.sig)"),
    ],
)
def test_a_tampered_release_is_refused(released, run_cli, world, tamper, message):
    folder, pub = released
    tamper(folder)
    out = _verify(run_cli, folder, pub)
    assert out.exit_code == 16, out.output
    assert message in out.output
    assert "Traceback" not in out.output
    last = world.log.events()[-1]
    assert last["action"] == "release_verify_failed" and message in last["details"]["reason"]


def test_a_release_checked_against_the_wrong_key_is_refused(released):
    from mikrodata.toolkit.errors import IntegrityError
    from mikrodata.toolkit.release import verify_release

    folder, _ = released
    other = TrustStore([SigningKey(b"\x09" * 32, "other").public])
    with pytest.raises(IntegrityError, match="not trusted here"):
        verify_release(folder, other)
    with pytest.raises(IntegrityError, match="no steward public key is trusted"):
        verify_release(folder, TrustStore())
