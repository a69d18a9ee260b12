"""Access requests: approval records and their life cycle, the access gate, and the
hash-chained, signed audit log.

::

    from mikrodata.access_requests import load_request, transition, check_access, AuditLog
    req = load_request("P2026-001.yaml")            # schema + catalogue checks
    transition("P2026-001.yaml", "submitted")       # a researcher; recorded in the log
    transition("P2026-001.yaml", "ethics_approved", signer=keystore)   # a steward, signed
    approval = check_access("P2026-001.yaml", action="build_extract")
    AuditLog().verify()
"""

from .approval import APPROVAL_FORMAT, APPROVAL_NAME, SignedApproval, sign_approval
from .audit import (
    GENESIS,
    SIGNED_ACTIONS,
    AuditLog,
    AuditReport,
    canonical_json,
    event_hash,
    requires_signature,
)
from .gate import ACTIONS, Approval, check_access, check_signed_approval
from .lifecycle import RequestState, create_request, read_state, state_from_events, transition
from .request import (
    DERIVED_VARIABLES,
    POPULATION_REGISTER,
    POPULATION_TYPES,
    REQUEST_SCHEMA,
    AccessRequest,
    DerivedVariable,
    OutputRules,
    Population,
    RegisterApproval,
    file_sha256,
    load_request,
    parse_request,
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
    "ACTIONS",
    "APPROVAL_FORMAT",
    "APPROVAL_NAME",
    "APPROVED_STATES",
    "DERIVED_VARIABLES",
    "GENESIS",
    "POPULATION_REGISTER",
    "POPULATION_TYPES",
    "REQUEST_SCHEMA",
    "RESEARCHER_STATES",
    "SIGNED_ACTIONS",
    "STATES",
    "STEWARD_STATES",
    "TERMINAL_STATES",
    "TRANSITIONS",
    "AccessRequest",
    "Approval",
    "AuditLog",
    "AuditReport",
    "DerivedVariable",
    "OutputRules",
    "Population",
    "RegisterApproval",
    "RequestState",
    "SignedApproval",
    "canonical_json",
    "check_access",
    "check_signed_approval",
    "create_request",
    "event_hash",
    "file_sha256",
    "load_request",
    "parse_request",
    "read_state",
    "request_project",
    "request_template",
    "requires_signature",
    "sign_approval",
    "state_from_events",
    "transition",
]
