"""The access gate: the one check every extract build, extract load and output release
passes.

:func:`check_access` returns an :class:`Approval` or raises
:class:`~mikrodata.toolkit.errors.AccessRefused` saying why and what to do. The state it
acts on is derived from the audit trail, never from a file anyone can edit: the log is
verified (hash chain, signatures of every steward decision, signed checkpoint, and with
the key store open, the key store's own checkpoint), the request's state is replayed
from it, and the approval is the steward-signed approval document. It refuses:

- a request that is not approved (draft, submitted, ethics approved only), withdrawn,
  closed, expired, or past its end date (by :func:`mikrodata.toolkit.clock.today`: no
  caller can pass another date);
- a request file changed after approval (its SHA-256 differs from the signed one);
- a user who is not in the project, or not in the role the action needs (stewards build
  extracts and release outputs; the principal investigator and researchers load
  extracts and ask for outputs; any member may verify);
- a register, variable or year outside the approval.

Every refusal is written to the audit log as an ``access_refused`` event (who, what,
why), and nothing else is written: refusals are part of the trail a reviewer reads.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from mikrodata.pseudonymisation import KeyStore, TrustStore
from mikrodata.toolkit import clock
from mikrodata.toolkit.errors import AccessRefused, BadInputError
from mikrodata.toolkit.identity import Identity, resolve_identity

from .approval import SignedApproval
from .audit import AuditLog
from .lifecycle import APPROVED_STATES, RequestState, state_from_events
from .request import AccessRequest, file_sha256, request_project

__all__ = ["ACTIONS", "Approval", "check_access", "check_signed_approval"]

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
    identity: Identity
    action: str
    approval: SignedApproval

    @property
    def user(self) -> str:
        return self.identity.user

    @property
    def project(self) -> str:
        return self.request.project

    @property
    def approval_hash(self) -> str:
        return self.approval.request_sha256


def check_access(
    request_path: str | Path,
    *,
    user: str | Identity | None = None,
    action: str,
    registers: Iterable[str] | None = None,
    variables: dict[str, Iterable[str]] | None = None,
    years: dict[str, Iterable[int]] | None = None,
    audit: AuditLog | None = None,
    keystore: KeyStore | None = None,
    trust: TrustStore | None = None,
) -> Approval:
    """Check that ``user`` may do ``action`` under the request at ``request_path``.

    ``registers`` names the registers asked for; ``variables`` and ``years`` map a
    register to the variables (catalogue or derived names) and years asked for. Omitted
    scope is not checked. ``keystore``: the opened key store, where the caller has it
    (a build): the log must then also reach the key store's last checkpoint. Returns
    the :class:`Approval`; raises ``AccessRefused``."""
    if action not in ACTIONS:
        raise BadInputError(f"unknown action {action!r}", f"Use one of: {', '.join(ACTIONS)}")
    request_path = Path(request_path)
    if not request_path.is_file():
        raise BadInputError(f"access request {request_path} does not exist", "Check the path")
    identity = resolve_identity(user)
    audit = audit or AuditLog()
    trust = trust if trust is not None else TrustStore.load()
    audit.verify(trust=trust, keystore=keystore)
    project = request_project(request_path)
    state = state_from_events(project, audit.events(project))
    stewards = ", ".join((state.members or {}).get("stewards", [])) or "the data steward"

    def refuse(why: str, hint: str) -> AccessRefused:
        audit.append(
            "access_refused",
            project=project,
            user=identity,
            details={"action": action, "request": request_path.name, "reason": why},
        )
        return AccessRefused(f"{request_path.name}: {why}", hint)

    if state.state not in APPROVED_STATES:
        if state.state in ("closed", "withdrawn", "expired"):
            raise refuse(
                f"project {project} is {state.state}",
                "No further extracts, loads or releases; a new project needs a new request",
            )
        raise refuse(
            f"project {project} is not approved (state: {state.state})",
            f"It needs ethics and confidentiality approval by {stewards} "
            "(`mikrodata access approve`)",
        )
    current_hash = file_sha256(request_path)
    if current_hash != state.approval_hash:
        raise refuse(
            "the request file was changed after it was approved "
            f"(approved sha256 {str(state.approval_hash)[:12]}..., now {current_hash[:12]}...)",
            "Restore the approved version of the file; a change needs a new approval",
        )
    approval = SignedApproval.check(
        state.approval, trust, f"the approval of project {project}", path=request_path
    )
    if approval.request_sha256 != current_hash:
        raise refuse(
            "the signed approval is for another version of the request file",
            f"Ask {stewards} to check `mikrodata audit show --project {project}`",
        )
    _check_approved(approval, identity, action, registers, variables, years, refuse)
    return Approval(
        request=approval.request, state=state, identity=identity, action=action, approval=approval
    )


def check_signed_approval(
    approval: SignedApproval,
    *,
    user: str | Identity | None = None,
    action: str,
    audit: AuditLog | None = None,
    registers: Iterable[str] | None = None,
    variables: dict[str, Iterable[str]] | None = None,
    years: dict[str, Iterable[int]] | None = None,
) -> Approval:
    """The gate where there is no steward log, only a signed approval (a researcher's
    environment loading an extract): the end date, the user's role and the scope are
    checked as :func:`check_access` checks them; a refusal is written to ``audit`` (the
    local log). ``approval`` must come from :meth:`SignedApproval.check`."""
    if action not in ACTIONS:
        raise BadInputError(f"unknown action {action!r}", f"Use one of: {', '.join(ACTIONS)}")
    identity = resolve_identity(user)
    audit = audit or AuditLog()
    project = approval.project

    def refuse(why: str, hint: str) -> AccessRefused:
        audit.append(
            "access_refused",
            project=project,
            user=identity,
            details={"action": action, "request": approval.request.path.name, "reason": why},
        )
        return AccessRefused(f"project {project}: {why}", hint)

    _check_approved(approval, identity, action, registers, variables, years, refuse)
    state = RequestState(
        project=project,
        state="confidentiality_approved",
        approval_hash=approval.request_sha256,
        approved_at=str(approval.document.get("approved_at")),
        approval=approval.document,
    )
    return Approval(
        request=approval.request, state=state, identity=identity, action=action, approval=approval
    )


def _check_approved(
    approval: SignedApproval,
    identity: Identity,
    action: str,
    registers: Iterable[str] | None,
    variables: dict[str, Iterable[str]] | None,
    years: dict[str, Iterable[int]] | None,
    refuse: Callable[[str, str], AccessRefused],
) -> None:
    """The checks every gate makes of an approved request: its end date, the user's role
    for ``action``, and the registers, variables and years asked for."""
    request = approval.request
    project = request.project
    if request.end_date < clock.today():
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
    if identity.user not in allowed:
        raise refuse(
            f"user {identity.user} is not a {role} of project "
            f"{project} (needed to {action.replace('_', ' ')})",
            f"The project's {role}s are {', '.join(allowed)}; ask the principal investigator "
            "to add you to the request (that needs a new approval)",
        )
    approved = ", ".join(request.register_names)
    for register in registers or ():
        if register not in request.register_names:
            raise refuse(
                f"register {register} is not approved for project {project}",
                f"Approved registers: {approved}",
            )
    for register, names in (variables or {}).items():
        if register not in request.register_names:
            raise refuse(
                f"register {register} is not approved for project {project}",
                f"Approved registers: {approved}",
            )
        allowed_cols = set(request.columns(register))
        for name in names:
            if name not in allowed_cols:
                raise refuse(
                    f"variable {name} of {register} is not approved for project {project}",
                    f"Approved: {', '.join(request.columns(register))}",
                )
    for register, asked in (years or {}).items():
        if register not in request.register_names:
            raise refuse(
                f"register {register} is not approved for project {project}",
                f"Approved registers: {approved}",
            )
        approved_years = set(request.register(register).years)
        outside = sorted(set(asked) - approved_years)
        if outside:
            raise refuse(
                f"year {outside[0]} of {register} is not approved for project {project}",
                f"Approved years: {_spans(sorted(approved_years))}",
            )


def _spans(years: list[int]) -> str:
    """2012, 2013, 2014, 2016 -> '2012-2014, 2016'."""
    spans: list[list[int]] = []
    for y in years:
        if spans and y == spans[-1][1] + 1:
            spans[-1][1] = y
        else:
            spans.append([y, y])
    return ", ".join(f"{a}-{b}" if a != b else str(a) for a, b in spans)
