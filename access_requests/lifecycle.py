"""The life cycle of an access request, with its recorded history.

::

    draft -> submitted -> ethics_approved -> confidentiality_approved
          -> extract_delivered -> closed
    any open state -> withdrawn;  an approved state -> expired -> closed

The state lives in a sidecar file next to the request (``P.yaml`` -> ``P.state.json``),
written atomically under a file lock. Each transition appends to the sidecar's history
(who, when, from, to, the SHA-256 of the request file at that moment) and writes a
``request_transition`` event to the audit log. Entering ``confidentiality_approved``
records the request's hash as the *approval hash*: the gate refuses the request once
its file no longer has that hash.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from filelock import FileLock
from mikrodata.toolkit.atomic import write_text_atomic
from mikrodata.toolkit.errors import AccessRefused, BadInputError, IntegrityError
from mikrodata.toolkit.paths import current_user

from .audit import AuditLog
from .request import PROJECT_ID_PATTERN, file_sha256, load_request
from .template import request_template

__all__ = [
    "APPROVED_STATES",
    "STATES",
    "TERMINAL_STATES",
    "TRANSITIONS",
    "RequestState",
    "create_request",
    "read_state",
    "state_path",
    "transition",
]

STATES = (
    "draft",
    "submitted",
    "ethics_approved",
    "confidentiality_approved",
    "extract_delivered",
    "closed",
    "expired",
    "withdrawn",
)
APPROVED_STATES = ("confidentiality_approved", "extract_delivered")
TERMINAL_STATES = ("closed", "withdrawn")

# from -> the states it may move to
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "draft": ("submitted", "withdrawn"),
    "submitted": ("ethics_approved", "draft", "withdrawn"),
    "ethics_approved": ("confidentiality_approved", "withdrawn"),
    "confidentiality_approved": ("extract_delivered", "expired", "closed", "withdrawn"),
    "extract_delivered": ("closed", "expired"),
    "expired": ("closed",),
    "closed": (),
    "withdrawn": (),
}


@dataclass(frozen=True)
class RequestState:
    """Where a request is in its life cycle, and how it got there."""

    project: str | None
    state: str = "draft"
    approval_hash: str | None = None
    approved_at: str | None = None
    history: tuple[dict[str, Any], ...] = field(default=())

    def to_json(self) -> str:
        return (
            json.dumps(
                {
                    "project": self.project,
                    "state": self.state,
                    "approval_hash": self.approval_hash,
                    "approved_at": self.approved_at,
                    "history": list(self.history),
                },
                indent=2,
                ensure_ascii=False,
            )
            + "\n"
        )


def state_path(request_path: str | Path) -> Path:
    """The sidecar of a request: ``P.yaml`` -> ``P.state.json``."""
    p = Path(request_path)
    return p.with_name(p.stem + ".state.json")


def read_state(request_path: str | Path) -> RequestState:
    """The request's state; a request without a sidecar is a draft."""
    sidecar = state_path(request_path)
    if not sidecar.exists():
        return RequestState(project=None)
    try:
        doc = json.loads(sidecar.read_text(encoding="utf-8"))
        state = RequestState(
            project=doc["project"],
            state=doc["state"],
            approval_hash=doc.get("approval_hash"),
            approved_at=doc.get("approved_at"),
            history=tuple(doc.get("history", [])),
        )
    except (ValueError, KeyError, TypeError):
        raise IntegrityError(
            f"{sidecar.name}: the state file cannot be read",
            "Restore it from its backup; the audit log holds every transition",
        ) from None
    if state.state not in STATES:
        raise IntegrityError(f"{sidecar.name}: unknown state {state.state!r}", "Restore it")
    return state


def transition(
    request_path: str | Path,
    to: str,
    *,
    user: str | None = None,
    note: str | None = None,
    audit: AuditLog | None = None,
    now: dt.datetime | None = None,
) -> RequestState:
    """Move the request to state ``to``; record it in the sidecar and the audit log.

    Leaving ``draft`` needs a valid request; entering ``confidentiality_approved`` needs
    a positive confidentiality decision and records the approval hash.
    """
    if to not in STATES:
        raise BadInputError(f"unknown state {to!r}", f"Use one of: {', '.join(STATES)}")
    request_path = Path(request_path)
    if not request_path.is_file():
        raise BadInputError(f"access request {request_path} does not exist", "Check the path")
    user = user or current_user()
    audit = audit or AuditLog()
    sidecar = state_path(request_path)
    with FileLock(str(sidecar.with_name(sidecar.name + ".lock"))):
        current = read_state(request_path)
        if to not in TRANSITIONS[current.state]:
            allowed = ", ".join(TRANSITIONS[current.state]) or "none (final state)"
            raise AccessRefused(
                f"{request_path.name}: cannot go from {current.state} to {to}",
                f"From {current.state} the request may go to: {allowed}",
            )
        # Withdrawing or closing must work even for a request that no longer validates.
        if to in ("withdrawn", "closed", "expired", "draft"):
            sha = file_sha256(request_path)
            project = current.project or request_path.stem
        else:
            request = load_request(request_path)
            sha, project = request.sha256, request.project
            if current.project is not None and current.project != project:
                raise BadInputError(
                    f"{request_path.name}: project id changed from {current.project} to {project}",
                    "A project keeps its id; write a new request for a new project",
                )
            if to == "confidentiality_approved":
                decision = request.confidentiality_review["decision"]
                if decision == "refused":
                    raise AccessRefused(
                        f"{request_path.name}: the confidentiality review refused the request",
                        "It cannot be approved; withdraw it",
                    )
            if to in ("extract_delivered",) and current.approval_hash != sha:
                raise AccessRefused(
                    f"{request_path.name}: changed after it was approved",
                    "Restore the approved version",
                )
        when = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
        stamp = when.isoformat(timespec="seconds")
        entry = {"time": stamp, "user": user, "from": current.state, "to": to, "sha256": sha}
        if note:
            entry["note"] = note
        approval_hash, approved_at = current.approval_hash, current.approved_at
        if to == "confidentiality_approved":
            approval_hash, approved_at = sha, stamp
        new = RequestState(
            project=project,
            state=to,
            approval_hash=approval_hash,
            approved_at=approved_at,
            history=(*current.history, entry),
        )
        # Audit first: a transition that is not in the log did not happen (the gate checks
        # the approval against the log), so a crash in between is refused, not trusted.
        audit.append(
            "request_transition",
            project=project,
            user=user,
            details={
                "from": current.state,
                "to": to,
                "request": request_path.name,
                "request_sha256": sha,
                **({"note": note} if note else {}),
            },
            time=when,
        )
        write_text_atomic(sidecar, new.to_json())
        return new


def create_request(
    request_path: str | Path,
    project: str,
    *,
    user: str | None = None,
    audit: AuditLog | None = None,
) -> RequestState:
    """Write a new draft request for ``project`` (from the example) and its sidecar."""
    request_path = Path(request_path)
    if request_path.exists() or state_path(request_path).exists():
        raise BadInputError(
            f"{request_path} already exists", "Choose another file name; nothing was overwritten"
        )
    if not re.match(PROJECT_ID_PATTERN, project):
        raise BadInputError(
            f"{project!r} is not a valid project id",
            "Use letters, digits, '.', '_' and '-' (up to 64), starting with a letter or digit",
        )
    user = user or current_user()
    audit = audit or AuditLog()
    write_text_atomic(request_path, request_template(project))
    sha = file_sha256(request_path)
    when = dt.datetime.now(dt.UTC)
    entry = {
        "time": when.isoformat(timespec="seconds"),
        "user": user,
        "from": None,
        "to": "draft",
        "sha256": sha,
    }
    audit.append(
        "request_created",
        project=project,
        user=user,
        details={"request": request_path.name, "request_sha256": sha},
        time=when,
    )
    state = RequestState(project=project, state="draft", history=(entry,))
    write_text_atomic(state_path(request_path), state.to_json())
    return state
