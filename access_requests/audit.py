"""The audit log: append-only JSON lines, each event chained to the previous by hash.

Every event is one line of canonical JSON (sorted keys, no spaces)::

    {"action": ..., "details": {...}, "hash": H, "prev": H_prev, "project": ...,
     "seq": n, "time": ISO-8601 UTC, "user": ...}

``seq`` counts events from 1; ``prev`` is the ``hash`` of the event before (64 zeros
for the first); ``hash`` is the SHA-256 of the event's canonical JSON without ``hash``.
Details carry hashes, counts and names only, never row values or identifiers.

Writers hold a file lock (``<log>.lock``) from reading the last event to writing the new
one, so concurrent processes never fork the chain. A line is written with a single
``write`` call on a file opened for appending, so a killed writer leaves a whole line or
none.

Anchors. After each append the writer stores the new head (``seq`` and ``hash``) in
``<log>.head``, so cutting events off the end is detected (events after the anchor are
accepted: a writer killed between the two writes leaves the anchor one behind). A hash
chain alone can be rewritten whole by anyone who can write the files, so what a data
steward does is also signed:

- an event written with the key store open (``signer=``) carries an Ed25519
  ``signature`` of its body (everything but ``hash``), made with the steward's key;
  steward decisions (:func:`requires_signature`) are refused unless signed, so an
  approval appended through this API without the key is a forgery that ``verify`` finds;
- each signed append also writes a signed checkpoint, ``<log>.checkpoint`` (the log's id,
  ``seq`` and ``hash``), as transparency logs sign their head: a truncated, re-anchored
  or re-hashed log no longer contains the checkpointed event;
- the key store remembers the last checkpoint of each log (by the log's id, the hash of
  its first event), so a log rolled back to an older, consistently signed copy is
  refused wherever the key store is open (extract builds, approvals);
- where a key store exists, a missing or empty log is an error, not "0 events".

What remains possible without the key: cutting unsigned events (a researcher's
submission, a load) made after the last signed checkpoint. Extract manifests record the
head at build time too.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from mikrodata.pseudonymisation import KeyStore, TrustStore, canonical_json
from mikrodata.toolkit import clock
from mikrodata.toolkit.atomic import write_text_atomic
from mikrodata.toolkit.errors import IntegrityError, MikrodataError
from mikrodata.toolkit.identity import Identity, resolve_identity
from mikrodata.toolkit.paths import audit_log_path, keystore_path

from .states import STEWARD_STATES

__all__ = [
    "GENESIS",
    "SIGNED_ACTIONS",
    "AuditLog",
    "AuditReport",
    "canonical_json",
    "event_hash",
    "requires_signature",
]

GENESIS = "0" * 64
_LOCK_TIMEOUT_S = 60
_EVENT_PURPOSE = "audit-event"
_CHECKPOINT_PURPOSE = "audit-checkpoint"
_HINT = "The audit log was changed outside mikrodata; restore it from its backup"

# Actions only a holder of the key store can take: never trusted unsigned.
SIGNED_ACTIONS = frozenset(
    {
        "extract_built",
        "keystore_created",
        "key_rotated",
        "pseudonymised",
        "rekey_table_written",
        "quality_signoff",
        "release_approved",
        "release_rejected",
    }
)


def requires_signature(event: dict[str, Any]) -> bool:
    """Whether ``event`` is a steward decision, valid only with the steward's signature."""
    action = event.get("action")
    if action in SIGNED_ACTIONS:
        return True
    details = event.get("details") or {}
    return action == "request_transition" and details.get("to") in STEWARD_STATES


def _body(event: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in event.items() if k not in ("hash", "signature")}


def event_hash(event: dict[str, Any]) -> str:
    """SHA-256 (hex) of an event's canonical JSON without its own ``hash``."""
    body = {k: v for k, v in event.items() if k != "hash"}
    return hashlib.sha256(canonical_json(body).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class AuditReport:
    """The result of a successful :meth:`AuditLog.verify`."""

    events: int
    head_seq: int
    head_hash: str
    anchored_seq: int  # the seq the anchor file vouches for (0 when the log is empty)
    signed_events: int = 0
    checkpoint_seq: int = 0  # the seq the signed checkpoint vouches for (0: none)
    log_id: str | None = None


class AuditLog:
    """The hash-chained audit log at ``path`` (default ``toolkit.paths.audit_log_path()``)."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path) if path is not None else audit_log_path()
        self.head_path = self.path.with_name(self.path.name + ".head")
        self.checkpoint_path = self.path.with_name(self.path.name + ".checkpoint")
        self._lock = FileLock(str(self.path.with_name(self.path.name + ".lock")))

    def __repr__(self) -> str:
        return f"AuditLog({str(self.path)!r})"

    # -- writing ---------------------------------------------------------------------

    def append(
        self,
        action: str,
        *,
        project: str | None,
        user: str | Identity | None = None,
        details: dict[str, Any] | None = None,
        time: dt.datetime | None = None,
        signer: KeyStore | None = None,
    ) -> dict[str, Any]:
        """Append one event and return it (with its ``seq`` and ``hash``).

        ``user``: an :class:`~mikrodata.toolkit.identity.Identity`, or a name (resolved
        by :func:`~mikrodata.toolkit.identity.resolve_identity`: a name other than the
        real one is a declared identity). ``signer``: the opened key store; the event is
        then signed with the steward's key and a signed checkpoint written. A steward
        decision (:func:`requires_signature`) without a signer is refused."""
        identity = resolve_identity(user)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        key = signer.signing_key() if signer is not None else None
        try:
            with self._lock.acquire(timeout=_LOCK_TIMEOUT_S):
                last = self._last_event()
                when = time or clock.now()
                event: dict[str, Any] = {
                    "seq": (last["seq"] + 1) if last else 1,
                    "time": when.astimezone(dt.UTC).isoformat(timespec="microseconds"),
                    "user": identity.user,
                    "identity": identity.source,
                    "project": project,
                    "action": action,
                    "details": details or {},
                    "prev": last["hash"] if last else GENESIS,
                }
                if requires_signature(event) and key is None:
                    raise IntegrityError(
                        f"{action} is a data steward's decision and must be signed",
                        "Do it with the key store open (the command asks for its passphrase)",
                    )
                if key is not None:
                    event["signature"] = key.sign(_EVENT_PURPOSE, _body(event))
                event["hash"] = event_hash(event)
                line = (canonical_json(event) + "\n").encode("utf-8")
                fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
                try:
                    os.write(fd, line)  # one write: a whole line or none
                    os.fsync(fd)
                finally:
                    os.close(fd)
                write_text_atomic(
                    self.head_path,
                    canonical_json({"seq": event["seq"], "hash": event["hash"]}) + "\n",
                )
                if key is not None and signer is not None:
                    log_id = event["hash"] if event["seq"] == 1 else self.log_id()
                    assert log_id is not None
                    checkpoint = {
                        "log_id": log_id,
                        "seq": event["seq"],
                        "hash": event["hash"],
                        "time": event["time"],
                    }
                    doc = {**checkpoint, "signature": key.sign(_CHECKPOINT_PURPOSE, checkpoint)}
                    write_text_atomic(self.checkpoint_path, canonical_json(doc) + "\n")
                    signer.record_checkpoint(log_id, event["seq"], event["hash"])
                return event
        except Timeout:
            raise MikrodataError(
                f"the audit log {self.path} stayed locked for {_LOCK_TIMEOUT_S} s",
                "Another mikrodata process is writing it; retry, or remove a stale "
                f"{self._lock.lock_file} if no process is running",
            ) from None

    def log_id(self) -> str | None:
        """The log's identity: the hash of its first event (None for an empty log)."""
        if not self.path.exists():
            return None
        with open(self.path, "rb") as handle:
            first = handle.readline()
        if not first:
            return None
        try:
            return str(json.loads(first)["hash"])
        except (ValueError, KeyError, TypeError):
            raise IntegrityError(f"{self.path.name} line 1: not an audit event", _HINT) from None

    def _last_event(self) -> dict[str, Any] | None:
        """The last event, read from the end of the file (the log may be large)."""
        if not self.path.exists():
            return None
        size = self.path.stat().st_size
        if size == 0:
            return None
        block = 4096
        with open(self.path, "rb") as handle:
            while True:
                start = max(0, size - block)
                handle.seek(start)
                tail = handle.read(size - start)
                lines = tail.rstrip(b"\n").split(b"\n")
                if len(lines) > 1 or start == 0:
                    break
                block *= 4
        if not tail.endswith(b"\n"):
            raise IntegrityError(
                f"the audit log {self.path} ends in a partial line",
                "Run `mikrodata audit verify` and restore the log from its backup",
            )
        try:
            event = json.loads(lines[-1])
            event["seq"], event["hash"]  # noqa: B018 - must be present
        except (ValueError, KeyError, TypeError):
            raise IntegrityError(
                f"the last event of the audit log {self.path} cannot be read",
                "Run `mikrodata audit verify` and restore the log from its backup",
            ) from None
        return event

    # -- reading ---------------------------------------------------------------------

    def _lines(self) -> Iterator[tuple[int, bytes]]:
        if not self.path.exists():
            return
        with open(self.path, "rb") as handle:
            yield from enumerate(handle, start=1)

    def events(self, project: str | None = None) -> list[dict[str, Any]]:
        """Every event (of ``project`` when given), oldest first; not verified."""
        found = []
        for number, line in self._lines():
            try:
                event = json.loads(line)
            except ValueError:
                raise IntegrityError(
                    f"{self.path.name} line {number}: not a JSON event",
                    "Run `mikrodata audit verify`",
                ) from None
            if project is None or event.get("project") == project:
                found.append(event)
        return found

    def head(self) -> tuple[int, str]:
        """``(seq, hash)`` of the last event; ``(0, GENESIS)`` for an empty log."""
        last = self._last_event()
        return (last["seq"], last["hash"]) if last else (0, GENESIS)

    def verify(
        self, *, trust: TrustStore | None = None, keystore: KeyStore | None = None
    ) -> AuditReport:
        """Check every event, every signature and both anchors; :class:`IntegrityError`
        says which line.

        Finds an edited event (its hash no longer matches), a deleted, inserted or
        reordered event (``seq`` or ``prev`` out of step), a torn or foreign line, events
        cut off the end (the anchor names an event the log no longer has), an unsigned or
        wrongly signed steward decision, a log rewritten behind its signed checkpoint, and
        (with the opened ``keystore``) a log rolled back behind the last checkpoint the key
        store saw. ``trust``: the steward keys to accept (default: the trust store)."""
        name = self.path.name
        hint = _HINT
        trust = trust if trust is not None else TrustStore.load()
        prev, seq, number, signed = GENESIS, 0, 0, 0
        log_id: str | None = None
        by_seq_hash: dict[int, str] = {}
        for number, line in self._lines():
            where = f"{name} line {number}"
            if not line.endswith(b"\n"):
                raise IntegrityError(f"{where}: partial last line", hint)
            try:
                event = json.loads(line)
                if not isinstance(event, dict):
                    raise ValueError
                stored, ev_seq, ev_prev = event["hash"], event["seq"], event["prev"]
            except (ValueError, KeyError):
                raise IntegrityError(f"{where}: not an audit event", hint) from None
            if event_hash(event) != stored:
                raise IntegrityError(f"{where}: event {ev_seq} was edited (hash mismatch)", hint)
            if ev_seq != seq + 1:
                what = (
                    f"{ev_seq - seq - 1} event(s) deleted before it"
                    if isinstance(ev_seq, int) and ev_seq > seq + 1
                    else "an event inserted or moved here"
                )
                raise IntegrityError(
                    f"{where}: event number {ev_seq} where {seq + 1} was expected ({what})", hint
                )
            if ev_prev != prev:
                raise IntegrityError(
                    f"{where}: does not chain to line {number - 1} "
                    "(an event inserted, deleted or reordered here)",
                    hint,
                )
            if "signature" in event:
                trust.check(_EVENT_PURPOSE, _body(event), event["signature"], where)
                signed += 1
            elif requires_signature(event):
                raise IntegrityError(
                    f"{where}: event {ev_seq} ({event.get('action')}) is a data steward's "
                    "decision but is not signed (forged)",
                    hint,
                )
            prev, seq = stored, ev_seq
            log_id = log_id or stored
            by_seq_hash[seq] = stored
        if seq == 0 and self._keystore_exists(keystore):
            raise IntegrityError(
                f"the audit log {self.path} is missing or empty, but a key store exists",
                "Every key store writes to its audit log from its creation on; restore the "
                "log from its backup",
            )
        anchored = self._check_anchor(by_seq_hash, seq, hint)
        checkpoint = self._check_checkpoint(by_seq_hash, log_id, signed, trust)
        if keystore is not None and log_id is not None:
            known = keystore.checkpoint(log_id)
            if known is not None and by_seq_hash.get(known[0]) != known[1]:
                raise IntegrityError(
                    f"{name}: the key store saw this log reach event {known[0]}, which it no "
                    "longer holds (rolled back or rewritten)",
                    hint,
                )
        return AuditReport(
            events=number,
            head_seq=seq,
            head_hash=prev,
            anchored_seq=anchored,
            signed_events=signed,
            checkpoint_seq=checkpoint,
            log_id=log_id,
        )

    def _keystore_exists(self, keystore: KeyStore | None) -> bool:
        if keystore is not None:
            return True
        # The default key store belongs with the default log of the same home.
        return self.path == audit_log_path() and keystore_path().exists()

    def _check_checkpoint(
        self, by_seq_hash: dict[int, str], log_id: str | None, signed: int, trust: TrustStore
    ) -> int:
        name = self.checkpoint_path.name
        if not self.checkpoint_path.exists():
            if signed:
                raise IntegrityError(
                    f"the signed checkpoint {name} of a log with signed events is missing", _HINT
                )
            return 0
        try:
            doc = json.loads(self.checkpoint_path.read_text(encoding="utf-8"))
            body = {k: doc[k] for k in ("log_id", "seq", "hash", "time")}
            signature = doc["signature"]
        except (ValueError, KeyError, TypeError):
            raise IntegrityError(f"the signed checkpoint {name} cannot be read", _HINT) from None
        trust.check(_CHECKPOINT_PURPOSE, body, signature, f"the checkpoint {name}")
        if body["log_id"] != log_id or by_seq_hash.get(int(body["seq"])) != body["hash"]:
            raise IntegrityError(
                f"{self.path.name}: does not hold the event its signed checkpoint vouches for "
                f"(event {body['seq']}: the log was truncated or rewritten)",
                _HINT,
            )
        return int(body["seq"])

    def _check_anchor(self, by_seq_hash: dict[int, str], last_seq: int, hint: str) -> int:
        if not self.head_path.exists():
            if last_seq:
                raise IntegrityError(
                    f"the anchor {self.head_path.name} of a non-empty audit log is missing", hint
                )
            return 0
        try:
            anchor = json.loads(self.head_path.read_text(encoding="utf-8"))
            a_seq, a_hash = int(anchor["seq"]), str(anchor["hash"])
        except (ValueError, KeyError, TypeError):
            raise IntegrityError(f"the anchor {self.head_path.name} cannot be read", hint) from None
        if a_seq > last_seq:
            raise IntegrityError(
                f"{self.path.name}: the log ends at event {last_seq} but its anchor records "
                f"event {a_seq} (events cut off the end)",
                hint,
            )
        if by_seq_hash.get(a_seq) != a_hash:
            raise IntegrityError(
                f"{self.path.name} line {a_seq}: does not match the anchored hash "
                "(the log was rewritten)",
                hint,
            )
        return a_seq

    def contains(self, seq: int, hash_: str) -> bool:
        """Whether event ``seq`` has hash ``hash_`` (for anchors kept in manifests)."""
        if seq == 0:
            return hash_ == GENESIS
        for _, line in self._lines():
            try:
                event = json.loads(line)
            except ValueError:
                return False
            if event.get("seq") == seq:
                return event.get("hash") == hash_
        return False
