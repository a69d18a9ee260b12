"""A reviewer's sign-off of a quality run, recorded as a signed audit event.

``mikrodata quality signoff OUT --request R --verdict accepted`` reads the run in
``OUT`` (``summary.json``), checks who signs, and appends a ``quality_signoff`` event to
the audit log, signed with the steward's key (it is in
:data:`access_requests.audit.SIGNED_ACTIONS`: an unsigned one is never trusted). The
event binds the verdict to the run's summary (its SHA-256) and to the delivery's
checksum, so a sign-off cannot be carried over to a changed delivery or a rewritten
summary.

Who may sign: a data steward of the request's project who is not one of its
researchers (the same people who record its decisions), with the key store. A refused
sign-off writes an ``access_refused`` event and nothing else.

A run with a critical failure cannot be accepted: only ``rejected`` can be recorded for
it. Warnings do not block; the reviewer's comment says why they were accepted.

The sign-off is also written beside the run (``signoff.json``) and shown in the
sign-off block of ``review.html``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mikrodata.access_requests import AuditLog, load_request
from mikrodata.pseudonymisation import KeyStore
from mikrodata.toolkit.atomic import write_text_atomic
from mikrodata.toolkit.errors import AccessRefused, BadInputError, IntegrityError, QualityFailure
from mikrodata.toolkit.identity import Identity, resolve_identity

__all__ = ["SIGNOFF_FILE", "VERDICTS", "read_signoff", "sign_off"]

VERDICTS = ("accepted", "rejected")
SIGNOFF_FILE = "signoff.json"


def _summary(run: Path) -> tuple[dict[str, Any], str]:
    path = run / "summary.json"
    if not path.is_file():
        raise BadInputError(
            f"{run} holds no quality run (no summary.json)",
            "Give the --out directory of `mikrodata quality run`",
        )
    raw = path.read_bytes()
    try:
        summary = json.loads(raw)
    except json.JSONDecodeError:
        raise BadInputError(f"{path} is not JSON", "Run `mikrodata quality run` again") from None
    return summary, hashlib.sha256(raw).hexdigest()


def sign_off(
    run: str | Path,
    *,
    request: str | Path,
    verdict: str,
    comment: str = "",
    user: str | Identity | None = None,
    audit: AuditLog | None = None,
    signer: KeyStore | Callable[[], KeyStore] | None = None,
) -> dict[str, Any]:
    """Record ``verdict`` on the quality run in ``run``; returns the audit event.

    ``signer``: the opened key store, or a function that opens it, called only once
    every other check has passed (a refused sign-off never asks for a passphrase).
    """
    run = Path(run)
    if verdict not in VERDICTS:
        raise BadInputError(f"unknown verdict {verdict!r}", f"Use one of: {', '.join(VERDICTS)}")
    summary, summary_sha = _summary(run)
    request_path = Path(request)
    if not request_path.is_file():
        raise BadInputError(f"access request {request_path} does not exist", "Check --request")
    req = load_request(request_path)
    identity = resolve_identity(user)
    audit = audit or AuditLog()
    stewards, researchers = list(req.data_stewards), list(req.researchers_and_pi)
    if identity.user not in stewards or identity.user in researchers:
        why = (
            f"{identity.user} is a researcher of project {req.project} and may not sign off "
            "its data"
            if identity.user in researchers
            else f"{identity.user} is not a data steward of project {req.project}"
        )
        audit.append(
            "access_refused",
            project=req.project,
            user=identity,
            details={"action": "quality_signoff", "run": str(run), "reason": why},
        )
        raise AccessRefused(why, f"Ask a data steward of the project: {', '.join(stewards)}")
    critical = int(summary.get("critical_failed", 0))
    if verdict == "accepted" and critical:
        raise QualityFailure(
            f"the run has {critical} critical failure(s) and cannot be accepted",
            "Fix the delivery and run `mikrodata quality run` again, or record --verdict rejected",
        )
    delivery = summary.get("delivery") or {}
    if not delivery.get("sha256"):
        raise IntegrityError(
            "the run's summary has no delivery checksum",
            "Run `mikrodata quality run` again with this version of mikrodata",
        )
    if callable(signer) and not isinstance(signer, KeyStore):
        signer = signer()
    if signer is None:
        raise AccessRefused(
            "a quality sign-off must be signed with the steward's key",
            "Run it with the key store (the command asks for its passphrase)",
        )
    details = {
        "register": summary.get("register"),
        "mode": summary.get("mode"),
        "years": summary.get("years"),
        "rows": summary.get("rows"),
        "catalogue_version": summary.get("catalogue_version"),
        "delivery_sha256": delivery["sha256"],
        "summary_sha256": summary_sha,
        "checked_by": summary.get("checked_by"),
        "checked_at": summary.get("checked_at"),
        "verdict": verdict,
        "comment": comment,
        "failed": {
            "critical": critical,
            "warning": int(summary.get("warning_failed", 0)),
            "info": int(summary.get("info_failed", 0)),
        },
        "request": request_path.name,
    }
    event = audit.append(
        "quality_signoff", project=req.project, user=identity, details=details, signer=signer
    )
    record = {
        "seq": event["seq"],
        "hash": event["hash"],
        "time": event["time"],
        "user": event["user"],
        "project": req.project,
        **details,
    }
    write_text_atomic(run / SIGNOFF_FILE, json.dumps(record, indent=2))
    from mikrodata.quality.review import write_signoff_block

    write_signoff_block(run, record)
    return event


def read_signoff(run: str | Path, audit: AuditLog | None = None) -> dict[str, Any] | None:
    """The sign-off of the run in ``run`` as the verified audit log records it (None
    when there is none, or when ``signoff.json`` names an event the log does not hold
    for this very summary)."""
    run = Path(run)
    path = run / SIGNOFF_FILE
    if not path.is_file():
        return None
    record = json.loads(path.read_text(encoding="utf-8"))
    _, summary_sha = _summary(run)
    audit = audit or AuditLog()
    audit.verify()
    for event in audit.events(record.get("project")):
        if (
            event.get("action") == "quality_signoff"
            and event.get("hash") == record.get("hash")
            and event["details"].get("summary_sha256") == summary_sha
            and "signature" in event
        ):
            return {**event["details"], "user": event["user"], "time": event["time"]}
    return None
