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

Anchor: after each append the writer also stores the new head (``seq`` and ``hash``) in
``<log>.head``. :meth:`AuditLog.verify` checks the chain line by line and then the
anchor, so cutting events off the end of the log is detected too (events after the
anchor are accepted: a writer killed between the two writes leaves the anchor one
behind). Extract manifests also record the head at build time. A chain without a secret
can be rewritten whole by someone who can write both files; the anchors in delivered
manifests are what makes that visible.
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
from mikrodata.toolkit.atomic import write_text_atomic
from mikrodata.toolkit.errors import IntegrityError, MikrodataError
from mikrodata.toolkit.paths import audit_log_path, current_user

__all__ = ["GENESIS", "AuditLog", "AuditReport", "canonical_json", "event_hash"]

GENESIS = "0" * 64
_LOCK_TIMEOUT_S = 60


def canonical_json(obj: Any) -> str:
    """The one serialisation that is hashed: sorted keys, no whitespace, UTF-8."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


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


class AuditLog:
    """The hash-chained audit log at ``path`` (default ``toolkit.paths.audit_log_path()``)."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path) if path is not None else audit_log_path()
        self.head_path = self.path.with_name(self.path.name + ".head")
        self._lock = FileLock(str(self.path.with_name(self.path.name + ".lock")))

    def __repr__(self) -> str:
        return f"AuditLog({str(self.path)!r})"

    # -- writing ---------------------------------------------------------------------

    def append(
        self,
        action: str,
        *,
        project: str | None,
        user: str | None = None,
        details: dict[str, Any] | None = None,
        time: dt.datetime | None = None,
    ) -> dict[str, Any]:
        """Append one event and return it (with its ``seq`` and ``hash``)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with self._lock.acquire(timeout=_LOCK_TIMEOUT_S):
                last = self._last_event()
                when = time or dt.datetime.now(dt.UTC)
                event: dict[str, Any] = {
                    "seq": (last["seq"] + 1) if last else 1,
                    "time": when.astimezone(dt.UTC).isoformat(timespec="microseconds"),
                    "user": user or current_user(),
                    "project": project,
                    "action": action,
                    "details": details or {},
                    "prev": last["hash"] if last else GENESIS,
                }
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
                return event
        except Timeout:
            raise MikrodataError(
                f"the audit log {self.path} stayed locked for {_LOCK_TIMEOUT_S} s",
                "Another mikrodata process is writing it; retry, or remove a stale "
                f"{self._lock.lock_file} if no process is running",
            ) from None

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

    def verify(self) -> AuditReport:
        """Check every event and the anchor; :class:`IntegrityError` says which line.

        Finds an edited event (its hash no longer matches), a deleted, inserted or
        reordered event (``seq`` or ``prev`` out of step), a torn or foreign line, and
        events cut off the end (the anchor names an event the log no longer has).
        """
        name = self.path.name
        hint = "The audit log was changed outside mikrodata; restore it from its backup"
        prev, seq, number = GENESIS, 0, 0
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
            prev, seq = stored, ev_seq
            by_seq_hash[seq] = stored
        anchored = self._check_anchor(by_seq_hash, seq, hint)
        return AuditReport(events=number, head_seq=seq, head_hash=prev, anchored_seq=anchored)

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
