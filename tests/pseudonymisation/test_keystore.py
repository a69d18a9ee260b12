"""The encrypted key store: creation, opening, errors that reveal nothing, project
keys, versions and rotation."""

from __future__ import annotations

import base64
import json
import os
import pickle
import stat
import traceback

import pytest

from mikrodata.pseudonymisation import PASSPHRASE_ENV, KeyStore, ProjectKey
from mikrodata.toolkit.errors import BadInputError, KeyStoreError


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def _secrets(store: KeyStore) -> list[bytes]:
    """Every key the store holds, in the forms a leak could take."""
    raw = [store._master] + [
        store.project_key(p, v)._secret for p in store.projects() for v in store.versions(p)
    ]
    out = []
    for k in raw:
        out += [k, k.hex().encode(), base64.b64encode(k)]
    return out


def _assert_clean(exc: BaseException, *secrets: str | bytes) -> None:
    """No secret in the message, and no chained exception a traceback would print."""
    assert exc.__cause__ is None
    assert exc.__context__ is None or exc.__suppress_context__
    text = "".join(traceback.format_exception(exc))
    for secret in secrets:
        secret_text = secret.decode("latin-1") if isinstance(secret, bytes) else secret
        assert secret_text not in text


def test_create_open_and_mode(tmp_path, passphrase):
    path = tmp_path / "ks"
    store = KeyStore.create(path, passphrase)
    assert _mode(path) == 0o600
    assert store.projects() == {}
    store.rotate("P1")
    assert _mode(path) == 0o600
    again = KeyStore.open(path, passphrase)
    assert again.versions("P1") == [1]
    assert again.project_key("P1").key_id == store.project_key("P1").key_id
    data = path.read_bytes()
    for secret in _secrets(again):
        assert secret not in data


def test_passphrase_from_the_environment(tmp_path, passphrase, monkeypatch):
    monkeypatch.setenv(PASSPHRASE_ENV, passphrase)
    KeyStore.create(tmp_path / "ks").rotate("P1")
    assert KeyStore.open(tmp_path / "ks").versions("P1") == [1]
    monkeypatch.delenv(PASSPHRASE_ENV)
    with pytest.raises(KeyStoreError, match="no key store passphrase"):
        KeyStore.open(tmp_path / "ks")


def test_never_overwrites(tmp_path, passphrase):
    KeyStore.create(tmp_path / "ks", passphrase)
    before = (tmp_path / "ks").read_bytes()
    with pytest.raises(KeyStoreError, match="already exists"):
        KeyStore.create(tmp_path / "ks", passphrase)
    assert (tmp_path / "ks").read_bytes() == before


def test_wrong_passphrase(keystore, passphrase):
    wrong = passphrase + "x"
    with pytest.raises(KeyStoreError, match="wrong passphrase") as info:
        KeyStore.open(keystore.path, wrong)
    _assert_clean(info.value, wrong, passphrase, *_secrets(keystore))
    assert info.value.exit_code == 14


def test_empty_passphrase_refused(tmp_path):
    with pytest.raises(KeyStoreError, match="empty"):
        KeyStore.create(tmp_path / "ks", "")


@pytest.mark.parametrize("cut", [0, 1, 40, -30, -1])
def test_truncated(keystore, passphrase, cut):
    data = keystore.path.read_bytes()
    keystore.path.write_bytes(data[:cut] if cut else b"")
    with pytest.raises(KeyStoreError, match="truncated or corrupted|corrupted") as info:
        KeyStore.open(keystore.path, passphrase)
    _assert_clean(info.value, passphrase, *_secrets(keystore))


def _flip(document: dict, field: str, sub: str | None = None) -> dict:
    target = document[field] if sub is None else document[field][sub]
    if isinstance(target, int):
        value = target ^ 1
    else:
        raw = bytearray(base64.b64decode(target))
        raw[len(raw) // 2] ^= 0x04
        value = base64.b64encode(bytes(raw)).decode()
    if sub is None:
        document[field] = value
    else:
        document[field][sub] = value
    return document


@pytest.mark.parametrize(
    "field,sub",
    [("ciphertext", None), ("nonce", None), ("check", None), ("kdf", "salt"), ("kdf", "r")],
)
def test_bit_flips_are_detected(keystore, passphrase, field, sub):
    document = json.loads(keystore.path.read_bytes())
    keystore.path.write_text(json.dumps(_flip(document, field, sub)))
    with pytest.raises(KeyStoreError) as info:
        KeyStore.open(keystore.path, passphrase)
    # A flipped salt or check reads as a wrong passphrase; either way nothing opens.
    assert "corrupted" in str(info.value) or "wrong passphrase" in str(info.value)
    _assert_clean(info.value, passphrase, *_secrets(keystore))


def test_readable_by_others_is_refused(keystore, passphrase):
    os.chmod(keystore.path, 0o644)
    with pytest.raises(KeyStoreError, match="other users"):
        KeyStore.open(keystore.path, passphrase)


def test_missing_file(tmp_path, passphrase):
    with pytest.raises(KeyStoreError, match="keys init"):
        KeyStore.open(tmp_path / "nope", passphrase)


def test_versions_and_rotation(keystore, passphrase):
    assert keystore.versions("P1") == [1]
    assert keystore.rotate("P1") == 2
    reopened = KeyStore.open(keystore.path, passphrase)
    assert reopened.versions("P1") == [1, 2]
    assert reopened.project_key("P1").version == 2  # latest by default
    v1, v2 = reopened.project_key("P1", 1), reopened.project_key("P1", 2)
    assert v1.key_id.startswith("P1/v1/") and v2.key_id.startswith("P1/v2/")
    assert v1 != v2 and v1._secret != v2._secret
    assert reopened.project_key("P1", 1) == keystore.project_key("P1", 1)
    with pytest.raises(KeyStoreError, match="no key version 7"):
        reopened.project_key("P1", 7)
    with pytest.raises(KeyStoreError, match="keys rotate --project P9"):
        reopened.project_key("P9")
    with pytest.raises(BadInputError):
        reopened.rotate("bad/id")


def test_two_handles_rotating_lose_nothing(keystore, passphrase):
    other = KeyStore.open(keystore.path, passphrase)
    keystore.rotate("P1")
    other.rotate("P2")
    final = KeyStore.open(keystore.path, passphrase)
    assert final.versions("P1") == [1, 2] and final.versions("P2") == [1, 2]


def test_project_keys_are_independent_and_opaque(keystore):
    p1, p2 = keystore.project_key("P1"), keystore.project_key("P2")
    assert p1._secret != p2._secret
    for k in (p1, p2):
        assert isinstance(k, ProjectKey)
        for text in (repr(k), str(k), k.key_id):
            assert k._secret.hex() not in text
            assert base64.b64encode(k._secret).decode() not in text
        assert repr(k) == f"ProjectKey({k.key_id})"
        with pytest.raises(TypeError):
            pickle.dumps(k)
    with pytest.raises(TypeError):
        pickle.dumps(keystore)
    assert "keystore" in repr(keystore) and keystore._master.hex() not in repr(keystore)


def test_a_different_store_gives_different_keys(tmp_path, passphrase):
    a = KeyStore.create(tmp_path / "a", passphrase)
    b = KeyStore.create(tmp_path / "b", passphrase)
    a.rotate("P1")
    b.rotate("P1")
    assert a.project_key("P1") != b.project_key("P1")
    assert a.project_key("P1").key_id != b.project_key("P1").key_id


def test_the_signing_key_lives_in_the_store_and_survives_reopening(keystore, passphrase):
    import pickle

    from mikrodata.pseudonymisation import PublicKey

    key = keystore.signing_key()
    again = KeyStore.open(keystore.path, passphrase).signing_key()
    assert key.key_id == again.key_id
    signature = key.sign("test", b"data")
    assert again.public.verifies("test", b"data", signature["value"])
    assert not key.public.verifies("other-purpose", b"data", signature["value"])
    assert not key.public.verifies("test", b"datA", signature["value"])
    # The public key travels as one line of text; the private one never leaves.
    text = keystore.public_key().to_text()
    assert PublicKey.from_text(text).key_id == key.key_id
    raw_private = keystore._signing
    assert raw_private.hex() not in keystore.path.read_text()
    assert repr(key) == f"SigningKey({key.key_id})"
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(key)


def test_a_store_from_before_signatures_gets_a_signing_key(keystore, passphrase):
    import json as _json

    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    from mikrodata.pseudonymisation import keystore as ks

    # Re-seal the payload without a signing key, as an older mikrodata wrote it.
    header = _json.loads(keystore.path.read_text())
    payload = {"master": ks._b64(keystore._master), "projects": keystore.projects()}
    header["nonce"] = ks._b64(b"\x01" * 12)
    ciphertext = AESGCM(keystore._wrap_key).encrypt(
        b"\x01" * 12, _json.dumps(payload).encode(), ks._aad(header)
    )
    header["ciphertext"] = ks._b64(ciphertext)
    keystore.path.write_text(_json.dumps(header))
    old = KeyStore.open(keystore.path, passphrase)
    assert old._signing is None
    first = old.signing_key().key_id
    assert KeyStore.open(keystore.path, passphrase).signing_key().key_id == first
    assert old.projects() == keystore.projects()  # nothing else changed
