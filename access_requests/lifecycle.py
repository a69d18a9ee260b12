"""The life cycle of an access request, derived from the audit trail.

The state of a request is not kept in a file anyone could edit: it is replayed from the
project's ``request_created`` and ``request_transition`` events in the verified audit
log (:func:`read_state`). Every move (:func:`transition`) checks who makes it
(:mod:`.states`): researchers of the request submit and withdraw; a data steward of
the project, who is not also one of its researchers, records the ethics and
confidentiality decisions, a delivery, expiry, closing and a return to draft, and signs
each with the steward's key (the opened key store, ``signer=``), so a steward decision
cannot be appended without the key. A refused move writes nothing but an
``access_refused`` event and raises :class:`~mikrodata.toolkit.errors.AccessRefused`
(exit 13) saying who may make it.

Entering ``confidentiality_approved`` signs the approval document
(:mod:`.approval`): the request's bytes as approved, who approved it and when. The gate
refuses the request once its file no longer has that hash.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from filelock import FileLock

from mikrodata.pseudonymisation import KeyStore
from mikrodata.toolkit import clock
from mikrodata.toolkit.atomic import write_text_atomic
from mikrodata.toolkit.errors import AccessRefused, BadInputError
from mikrodata.toolkit.identity import Identity, resolve_identity

from .approval import sign_approval
from .audit import AuditLog
from .request import (
    PROJECT_ID_PATTERN,
    AccessRequest,
    file_sha256,
    load_request,
    request_project,
)
from .states import (
    APPROVED_STATES,
    RESEARCHER_STATES,
    STATES,
    STEWARD_STATES,
    TERMINAL_STATES,
    TRANSITIONS,
)
from .template import request_template

__all__ = [
    "APPROVED_STATES",
    "STATES",
    "TERMINAL_STATES",
    "TRANSITIONS",
    "RequestState",
    "create_request",
    "read_state",
    "state_from_events",
    "transition",
]


@dataclass(frozen=True)
class RequestState:
    """Where a request is in its life cycle, and how it got there (from the audit log).

    ``approval`` is the signed approval document (None until approved); ``history``
    holds one entry per move: time, user, identity, from, to, the request's SHA-256,
    the note, and whether the move was signed."""

    project: str
    state: str = "draft"
    approval_hash: str | None = None
    approved_at: str | None = None
    approval: dict[str, Any] | None = None
    history: tuple[dict[str, Any], ...] = field(default=())
    members: dict[str, list[str]] | None = None  # as last recorded in the trail

    @property
    def known(self) -> bool:
        """Whether the audit log has any event of this request."""
        return bool(self.history)

    def as_dict(self) -> dict[str, Any]:
        return {
            "project": self.project,
            "state": self.state,
            "approval_hash": self.approval_hash,
            "approved_at": self.approved_at,
            "next": list(TRANSITIONS[self.state]),
            "history": list(self.history),
        }


def state_from_events(project: str, events: list[dict[str, Any]]) -> RequestState:
    """The state of ``project``'s request replayed from its (verified) audit events."""
    state, approval_hash, approved_at, approval = "draft", None, None, None
    members: dict[str, list[str]] | None = None
    history: list[dict[str, Any]] = []
    for event in events:
        action, details = event.get("action"), event.get("details") or {}
        if action not in ("request_created", "request_transition"):
            continue
        to = "draft" if action == "request_created" else details.get("to")
        if to not in STATES:
            continue
        entry = {
            "time": str(event.get("time", ""))[:19],
            "user": event.get("user"),
            "identity": event.get("identity", "os"),
            "from": None if action == "request_created" else details.get("from"),
            "to": to,
            "sha256": details.get("request_sha256"),
            "signed": "signature" in event,
        }
        if details.get("note"):
            entry["note"] = details["note"]
        history.append(entry)
        state = to
        members = details.get("members") or members
        if to == "confidentiality_approved":
            approval = details.get("approval")
            approval_hash, approved_at = details.get("request_sha256"), entry["time"]
    return RequestState(
        project=project,
        state=state,
        approval_hash=approval_hash,
        approved_at=approved_at,
        approval=approval,
        history=tuple(history),
        members=members,
    )


def read_state(request_path: str | Path, audit: AuditLog | None = None) -> RequestState:
    """The state of the request at ``request_path``, replayed from the verified audit
    log (:class:`~mikrodata.toolkit.errors.IntegrityError` when the log does not
    verify). A request the log does not know is a draft."""
    audit = audit or AuditLog()
    audit.verify()
    project = request_project(request_path)
    return state_from_events(project, audit.events(project))


def _members_of(request: AccessRequest) -> dict[str, list[str]]:
    return {
        "researchers": list(request.researchers_and_pi),
        "stewards": list(request.data_stewards),
    }


def _members(request_path: Path, current: RequestState) -> dict[str, list[str]] | None:
    """Who the request's researchers and stewards are: from the file when it validates,
    else as last recorded in the trail (so a broken request can still be withdrawn)."""
    try:
        return _members_of(load_request(request_path))
    except BadInputError:
        return current.members


def _who_may(to: str) -> str:
    if to in RESEARCHER_STATES:
        return "a researcher of the request (the principal investigator or a researcher)"
    return "a data steward of the project who is not one of its researchers, with the key store"


def transition(
    request_path: str | Path,
    to: str,
    *,
    user: str | Identity | None = None,
    note: str | None = None,
    audit: AuditLog | None = None,
    signer: KeyStore | Callable[[], KeyStore] | None = None,
) -> RequestState:
    """Move the request to state ``to``, recorded in the audit log (signed by ``signer``,
    the opened key store, for a steward's move; or a function that opens it, called only
    once every other check has passed, so a refused move never asks for a passphrase).

    Leaving ``draft`` needs a valid request; entering ``confidentiality_approved`` needs
    a positive confidentiality decision and an end date not yet passed, and signs the
    approval."""
    if to not in STATES:
        raise BadInputError(f"unknown state {to!r}", f"Use one of: {', '.join(STATES)}")
    request_path = Path(request_path)
    if not request_path.is_file():
        raise BadInputError(f"access request {request_path} does not exist", "Check the path")
    identity = resolve_identity(user)
    audit = audit or AuditLog()
    project = request_project(request_path)
    lock = FileLock(str(audit.path.with_name(f".{audit.path.name}.requests.lock")))
    with lock:
        current = read_state(request_path, audit)

        def refuse(why: str, hint: str) -> AccessRefused:
            audit.append(
                "access_refused",
                project=project,
                user=identity,
                details={
                    "action": f"request_{to}",
                    "request": request_path.name,
                    "reason": why,
                },
            )
            return AccessRefused(f"{request_path.name}: {why}", hint)

        if to not in TRANSITIONS[current.state]:
            allowed = ", ".join(TRANSITIONS[current.state]) or "none (final state)"
            raise refuse(
                f"cannot go from {current.state} to {to}",
                f"From {current.state} the request may go to: {allowed}",
            )
        members = _members(request_path, current)
        if members is None:
            raise refuse(
                "the request does not validate, so who may move it is unknown",
                "Fix the request file (`mikrodata access validate`)",
            )
        researchers, stewards = members["researchers"], members["stewards"]
        if to in RESEARCHER_STATES and identity.user not in researchers:
            raise refuse(
                f"{identity.user} is not a researcher of project {project}; only "
                f"{_who_may(to)} may move it to {to}",
                f"Ask {', '.join(researchers)}",
            )
        if to in STEWARD_STATES:
            if identity.user not in stewards or identity.user in researchers:
                why = (
                    f"{identity.user} is a researcher of project {project} and may not "
                    f"record its {to.replace('_', ' ')}"
                    if identity.user in researchers
                    else f"{identity.user} is not a data steward of project {project}"
                )
                raise refuse(
                    f"{why}; only {_who_may(to)} may",
                    f"Ask a data steward of the project: {', '.join(stewards)}",
                )
            if signer is None:
                raise refuse(
                    f"moving project {project} to {to} is a steward's decision and must be "
                    "signed with the steward's key",
                    "Run it with the key store (the command asks for its passphrase)",
                )

        sha = file_sha256(request_path)
        details: dict[str, Any] = {
            "from": current.state,
            "to": to,
            "request": request_path.name,
            "request_sha256": sha,
            "members": members,
        }
        # Withdrawing, closing or returning must work for a request that no longer
        # validates; every other move needs a valid one.
        if to not in ("withdrawn", "closed", "expired", "draft"):
            request = load_request(request_path)
            if current.known and request.project != project:  # pragma: no cover - same read
                raise BadInputError("the project id changed", "Write a new request")
            if to in ("ethics_approved", "confidentiality_approved"):
                if request.end_date < clock.today():
                    raise refuse(
                        f"the end date {request.end_date.isoformat()} has passed: an "
                        "approval that has already expired cannot be recorded",
                        "Ask the researchers for a request with a new end date",
                    )
            if to == "confidentiality_approved":
                if request.confidentiality_review["decision"] == "refused":
                    raise refuse(
                        "the confidentiality review refused the request",
                        "It cannot be approved; the researchers may withdraw it",
                    )
                signer = _opened(signer)
                ethics_by = next(
                    (h["user"] for h in reversed(current.history) if h["to"] == "ethics_approved"),
                    None,
                )
                details["approval"] = sign_approval(
                    request,
                    request_path.read_bytes(),
                    approved_by=identity.user,
                    approved_at=clock.now().isoformat(timespec="seconds"),
                    ethics_approved_by=ethics_by,
                    key=signer.signing_key(),
                )
            if to == "extract_delivered" and current.approval_hash != sha:
                raise refuse(
                    "the request file was changed after it was approved",
                    "Restore the approved version of the file",
                )
        if note:
            details["note"] = note
        audit.append(
            "request_transition",
            project=project,
            user=identity,
            details=details,
            signer=_opened(signer) if to in STEWARD_STATES else None,
        )
        return state_from_events(project, audit.events(project))


def _opened(signer: KeyStore | Callable[[], KeyStore] | None) -> KeyStore | None:
    return signer() if callable(signer) and not isinstance(signer, KeyStore) else signer


def create_request(
    request_path: str | Path,
    project: str,
    *,
    user: str | Identity | None = None,
    audit: AuditLog | None = None,
) -> RequestState:
    """Write a new draft request for ``project`` (from the example) and record it."""
    request_path = Path(request_path)
    if request_path.exists():
        raise BadInputError(
            f"{request_path} already exists", "Choose another file name; nothing was overwritten"
        )
    if not re.match(PROJECT_ID_PATTERN, project):
        raise BadInputError(
            f"{project!r} is not a valid project id",
            "Use letters, digits, '.', '_' and '-' (up to 64), starting with a letter or digit",
        )
    identity = resolve_identity(user)
    audit = audit or AuditLog()
    audit.verify()
    if any(e.get("action") == "request_created" for e in audit.events(project)):
        raise BadInputError(
            f"project {project} already has a request in the audit log",
            "A project keeps one request; choose a new project id",
        )
    write_text_atomic(request_path, request_template(project))
    audit.append(
        "request_created",
        project=project,
        user=identity,
        details={"request": request_path.name, "request_sha256": file_sha256(request_path)},
        time=clock.now(),
    )
    return state_from_events(project, audit.events(project))
