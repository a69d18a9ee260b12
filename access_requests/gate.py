"""The access gate: the one check every extract build, extract load and output release
passes.

:func:`check_access` returns an :class:`Approval` or raises
:class:`~toolkit.errors.AccessRefused` saying why and what to do. It refuses:

- a request that is not approved (draft, submitted, ethics approved only), withdrawn,
  closed, expired, or past its end date;
- a request file changed after approval (its SHA-256 differs from the one recorded at
  approval), or an approval that the audit log does not confirm (a sidecar edited by
  hand);
- a user who is not in the project, or not in the role the action needs (stewards build
  extracts and release outputs; the principal investigator and researchers load
  extracts and ask for outputs; any member may verify);
- a register, variable or year outside the approval.

Every refusal is written to the audit log as an ``access_refused`` event (who, what,
why), and nothing else is written: refusals are part of the trail a reviewer reads.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from mikrodata.toolkit.errors import AccessRefused, BadInputError
from mikrodata.toolkit.paths import current_user

from .audit import AuditLog
from .lifecycle import APPROVED_STATES, RequestState, read_state
from .request import AccessRequest, file_sha256, load_request

__all__ = ["ACTIONS", "Approval", "check_access"]

# action -> who may do it
ACTIONS: dict[str, str] = {
    "build_extract": "steward",
    "verify_extract": "member",
    "load_extract": "researcher",
    "request_output": "researcher",
    "release_output": "steward",
}


@dataclass(frozen=True)
class Approval:
    """What the gate let through: the approved request, for one user and action."""

    request: AccessRequest
    state: RequestState
    user: str
    action: str

    @property
    def project(self) -> str:
        return self.request.project

    @property
    def approval_hash(self) -> str:
        return self.request.sha256


def _refuse(
    audit: AuditLog,
    request_path: Path,
    project: str | None,
    user: str,
    action: str,
    why: str,
    hint: str,
) -> AccessRefused:
    audit.append(
        "access_refused",
        project=project,
        user=user,
        details={"action": action, "request": request_path.name, "reason": why},
    )
    return AccessRefused(f"{request_path.name}: {why}", hint)


def _approval_in_log(audit: AuditLog, project: str, approval_hash: str) -> bool:
    """Whether the last approval of ``project`` in the audit log has this hash."""
    last = None
    for event in audit.events(project):
        details = event.get("details", {})
        if event.get("action") == "request_transition" and details.get("to") == (
            "confidentiality_approved"
        ):
            last = details.get("request_sha256")
    return last == approval_hash


def check_access(
    request_path: str | Path,
    *,
    user: str | None = None,
    action: str,
    registers: Iterable[str] | None = None,
    variables: dict[str, Iterable[str]] | None = None,
    years: dict[str, Iterable[int]] | None = None,
    today: dt.date | None = None,
    audit: AuditLog | None = None,
) -> Approval:
    """Check that ``user`` may do ``action`` under the request at ``request_path``.

    ``registers`` names the registers asked for; ``variables`` and ``years`` map a
    register to the variables (catalogue or derived names) and years asked for. Omitted
    scope is not checked. Returns the :class:`Approval`; raises ``AccessRefused``.
    """
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}; one of {sorted(ACTIONS)}")
    request_path = Path(request_path)
    if not request_path.is_file():
        raise BadInputError(f"access request {request_path} does not exist", "Check the path")
    user = user or current_user()
    audit = audit or AuditLog()
    today = today or dt.date.today()
    state = read_state(request_path)
    project = state.project or request_path.stem

    def refuse(why: str, hint: str) -> AccessRefused:
        return _refuse(audit, request_path, project, user, action, why, hint)

    if state.state not in APPROVED_STATES:
        if state.state in ("closed", "withdrawn", "expired"):
            raise refuse(
                f"project {project} is {state.state}",
                "No further extracts, loads or releases; a new project needs a new request",
            )
        raise refuse(
            f"project {project} is not approved (state: {state.state})",
            "It needs ethics and confidentiality approval: `mikrodata access approve`",
        )
    current_hash = file_sha256(request_path)
    if current_hash != state.approval_hash:
        raise refuse(
            "the request file was changed after it was approved "
            f"(approved sha256 {str(state.approval_hash)[:12]}..., now {current_hash[:12]}...)",
            "Restore the approved version of the file; a change needs a new approval",
        )
    if not _approval_in_log(audit, project, current_hash):
        raise refuse(
            "the audit log has no approval with this request's hash",
            "The state file does not match the audit trail; ask the data steward to check "
            "`mikrodata audit show --project " + project + "`",
        )
    request = load_request(request_path)
    if request.end_date < today:
        raise refuse(
            f"the approval of project {project} expired on {request.end_date.isoformat()}",
            "Ask the register holder for an extension; it needs a new approval",
        )
    role = ACTIONS[action]
    allowed = {
        "steward": request.data_stewards,
        "researcher": request.researchers_and_pi,
        "member": request.members,
    }[role]
    if user not in allowed:
        raise refuse(
            f"user {user} is not a {role} of project "
            f"{project} (needed to {action.replace('_', ' ')})",
            "Ask the principal investigator to add you to the request; that needs a new approval",
        )
    for register in registers or ():
        if register not in request.register_names:
            raise refuse(
                f"register {register} is not approved for project {project}",
                f"Approved registers: {', '.join(request.register_names)}",
            )
    for register, names in (variables or {}).items():
        if register not in request.register_names:
            raise refuse(f"register {register} is not approved for project {project}", "")
        allowed_cols = set(request.columns(register))
        for name in names:
            if name not in allowed_cols:
                raise refuse(
                    f"variable {name} of {register} is not approved for project {project}",
                    f"Approved: {', '.join(request.columns(register))}",
                )
    for register, asked in (years or {}).items():
        if register not in request.register_names:
            raise refuse(f"register {register} is not approved for project {project}", "")
        approved = set(request.register(register).years)
        outside = sorted(set(asked) - approved)
        if outside:
            raise refuse(
                f"year {outside[0]} of {register} is not approved for project {project}",
                f"Approved years: {min(approved)}-{max(approved)}",
            )
    return Approval(request=request, state=state, user=user, action=action)
