"""The audit log: chained events, concurrent writers, and tampering found with its line."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mikrodata.access_requests import GENESIS, AuditLog, event_hash
from mikrodata.toolkit.errors import IntegrityError


@pytest.fixture
def log(tmp_path):
    log = AuditLog(tmp_path / "audit.jsonl")
    for i in range(5):
        log.append("test_event", project=f"P{i % 2}", user="u", details={"i": i, "sha256": "ab"})
    return log


def _lines(log):
    return log.path.read_text(encoding="utf-8").splitlines(keepends=True)


def _write(log, lines):
    log.path.write_text("".join(lines), encoding="utf-8")


def test_events_chain_and_verify(log):
    events = log.events()
    assert [e["seq"] for e in events] == [1, 2, 3, 4, 5]
    assert events[0]["prev"] == GENESIS
    for before, after in zip(events, events[1:], strict=False):
        assert after["prev"] == before["hash"]
    assert all(event_hash(e) == e["hash"] for e in events)
    report = log.verify()
    assert (report.events, report.head_seq, report.anchored_seq) == (5, 5, 5)
    assert log.head() == (5, events[-1]["hash"])
    assert [e["details"]["i"] for e in log.events("P1")] == [1, 3]
    assert log.contains(3, events[2]["hash"]) and not log.contains(3, events[1]["hash"])


def test_empty_log_verifies(tmp_path):
    report = AuditLog(tmp_path / "none.jsonl").verify()
    assert report.events == 0 and report.head_hash == GENESIS


def _edit(lines):
    event = json.loads(lines[2])
    event["user"] = "mallory"
    lines[2] = json.dumps(event) + "\n"


def _edit_and_rehash(lines):
    event = json.loads(lines[2])
    event["details"]["i"] = 99
    event["hash"] = event_hash(event)
    lines[2] = json.dumps(event) + "\n"


def _delete(lines):
    del lines[1]


def _insert(lines):
    lines.insert(2, lines[1])


def _swap(lines):
    lines[1], lines[2] = lines[2], lines[1]


def _garbage(lines):
    lines[3] = "not json\n"


def _truncate(lines):
    del lines[-2:]


def _torn(lines):
    lines[-1] = lines[-1][:20]


@pytest.mark.parametrize(
    "tamper,message",
    [
        (_edit, "audit.jsonl line 3: event 3 was edited"),
        (_edit_and_rehash, "audit.jsonl line 4: does not chain to line 3"),
        (_delete, "audit.jsonl line 2: event number 3 where 2 was expected (1 event(s) deleted"),
        (_insert, "audit.jsonl line 3: event number 2 where 3 was expected (an event inserted"),
        (_swap, "audit.jsonl line 2: event number 3 where 2 was expected"),
        (_garbage, "audit.jsonl line 4: not an audit event"),
        (_truncate, "the log ends at event 3 but its anchor records event 5"),
        (_torn, "audit.jsonl line 5: partial last line"),
    ],
)
def test_tampering_is_found_with_its_line(log, tamper, message):
    lines = _lines(log)
    tamper(lines)
    _write(log, lines)
    with pytest.raises(IntegrityError) as err:
        log.verify()
    assert message in str(err.value)


def test_rewritten_log_does_not_match_its_anchor(log):
    # Rebuild the whole chain from event 3 on with different content: every line is
    # consistent, only the anchor shows it.
    events = log.events()
    for e in events[2:]:
        e["details"]["i"] = -1
    prev = events[1]["hash"]
    for e in events[2:]:
        e["prev"] = prev
        e["hash"] = event_hash(e)
        prev = e["hash"]
    _write(log, [json.dumps(e) + "\n" for e in events])
    with pytest.raises(IntegrityError, match="line 5: does not match the anchored hash"):
        log.verify()


def test_missing_anchor_is_found(log):
    log.head_path.unlink()
    with pytest.raises(IntegrityError, match="anchor audit.jsonl.head of a non-empty"):
        log.verify()


def test_anchor_one_behind_after_a_crash_is_accepted(log):
    # A writer killed between the log line and the anchor leaves the anchor one behind.
    anchor = log.head_path.read_text()
    log.append("late", project=None, user="u")
    log.head_path.write_text(anchor)
    report = log.verify()
    assert report.head_seq == 6 and report.anchored_seq == 5


def test_append_refuses_a_torn_last_line(log):
    lines = _lines(log)
    _torn(lines)
    _write(log, lines)
    with pytest.raises(IntegrityError, match="partial line"):
        log.append("x", project=None)


WRITER = textwrap.dedent(
    """
    import sys
    from mikrodata.access_requests import AuditLog
    log = AuditLog(sys.argv[1])
    for i in range(int(sys.argv[3])):
        log.append("concurrent", project=sys.argv[2], user="w", details={"i": i})
    """
)


def test_concurrent_writers_in_several_processes_keep_one_chain(tmp_path):
    path = tmp_path / "audit.jsonl"
    procs = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(path), f"W{n}", "25"]) for n in range(4)
    ]
    assert all(p.wait(timeout=120) == 0 for p in procs)
    log = AuditLog(path)
    report = log.verify()
    assert report.events == 100 and report.anchored_seq == 100
    for n in range(4):
        assert [e["details"]["i"] for e in log.events(f"W{n}")] == list(range(25))


@settings(max_examples=40, deadline=None, derandomize=True)
@given(n=st.integers(2, 10), data=st.data())
def test_any_deletion_insertion_swap_or_edit_is_found(tmp_path_factory, n, data):
    log = AuditLog(tmp_path_factory.mktemp("audit") / "audit.jsonl")
    for i in range(n):
        log.append("e", project="P", user="u", details={"i": i})
    lines = _lines(log)
    kind = data.draw(st.sampled_from(["delete", "insert", "swap", "edit"]))
    i = data.draw(st.integers(0, n - 1))
    if kind == "delete":
        del lines[i]
    elif kind == "insert":
        lines.insert(data.draw(st.integers(0, n)), lines[i])
    elif kind == "swap":
        j = data.draw(st.integers(0, n - 1).filter(lambda j: j != i))
        lines[i], lines[j] = lines[j], lines[i]
    else:
        event = json.loads(lines[i])
        event["details"]["i"] = -1
        lines[i] = json.dumps(event) + "\n"
    _write(log, lines)
    with pytest.raises(IntegrityError):
        log.verify()


# -- signatures and checkpoints: a trail nobody without the key can rewrite --------------------


@pytest.fixture
def signed_log(tmp_path):
    from .support import steward_store

    store = steward_store(tmp_path / "keystore")
    log = AuditLog(tmp_path / "signed.jsonl")
    log.append("keystore_created", project=None, user="steward", signer=store)
    log.append("note", project="P1", user="anna", details={"i": 1})
    for i in range(3):
        log.append("extract_built", project="P1", user="steward", details={"i": i}, signer=store)
    return log, store


def test_signed_events_and_checkpoint_verify(signed_log):
    log, _ = signed_log
    report = log.verify()
    assert (report.events, report.signed_events, report.checkpoint_seq) == (5, 4, 5)
    assert report.log_id == log.events()[0]["hash"] == log.log_id()


def test_a_steward_decision_cannot_be_appended_unsigned(signed_log):
    log, _ = signed_log
    with pytest.raises(IntegrityError, match="must be signed"):
        log.append("extract_built", project="P1", user="steward")


def _rehash_from(lines, start):
    """Re-chain and re-hash every event from line ``start`` on, as an attacker would."""
    prev = json.loads(lines[start - 1])["hash"] if start else GENESIS
    for i in range(start, len(lines)):
        event = json.loads(lines[i])
        event["seq"], event["prev"] = i + 1, prev
        event["hash"] = event_hash(event)
        prev = event["hash"]
        lines[i] = json.dumps(event) + "\n"
    return lines


def test_truncating_and_re_anchoring_is_found(signed_log):
    log, _ = signed_log
    lines = _lines(log)[:3]
    _write(log, lines)
    last = json.loads(lines[-1])
    log.head_path.write_text(json.dumps({"seq": last["seq"], "hash": last["hash"]}))
    with pytest.raises(IntegrityError, match="signed checkpoint vouches for"):
        log.verify()


def test_dropping_events_and_re_hashing_the_chain_is_found(signed_log):
    log, _ = signed_log
    lines = _lines(log)
    del lines[1]  # the researcher's note, before the last signed checkpoint
    lines = _rehash_from(lines, 1)
    _write(log, lines)
    last = json.loads(lines[-1])
    log.head_path.write_text(json.dumps({"seq": last["seq"], "hash": last["hash"]}))
    with pytest.raises(IntegrityError, match="signature does not match|checkpoint"):
        log.verify()


def test_deleting_the_signed_checkpoint_is_found(signed_log):
    log, _ = signed_log
    log.checkpoint_path.unlink()
    with pytest.raises(IntegrityError, match="signed checkpoint .* is missing"):
        log.verify()


def test_a_signature_by_an_untrusted_key_is_refused(signed_log, tmp_path):
    from mikrodata.pseudonymisation import KeyStore, TrustStore

    log, _ = signed_log
    other = KeyStore.create(tmp_path / "other", "another-test-passphrase")
    with pytest.raises(IntegrityError, match="not trusted here"):
        log.verify(trust=TrustStore([other.public_key()]))
    with pytest.raises(IntegrityError, match="no steward public key is trusted"):
        log.verify(trust=TrustStore([]))


def test_an_edited_signed_event_rehashed_is_found_by_its_signature(signed_log):
    log, _ = signed_log
    lines = _lines(log)
    event = json.loads(lines[4])
    event["details"]["i"] = 99
    event["hash"] = event_hash(event)
    lines[4] = json.dumps(event) + "\n"
    _write(log, lines)
    log.head_path.write_text(json.dumps({"seq": 5, "hash": event["hash"]}))
    with pytest.raises(IntegrityError, match="line 5: the signature does not match"):
        log.verify()


def test_the_key_store_finds_a_log_rolled_back_to_an_older_signed_copy(signed_log):
    log, store = signed_log
    saved = {p: p.read_bytes() for p in (log.path, log.head_path, log.checkpoint_path)}
    log.append("extract_built", project="P1", user="steward", details={"i": 9}, signer=store)
    for path, data in saved.items():
        path.write_bytes(data)
    assert log.verify().events == 5  # consistent and signed on its own
    with pytest.raises(IntegrityError, match="key store saw this log reach event 6"):
        log.verify(keystore=store)
