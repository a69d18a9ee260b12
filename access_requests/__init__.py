"""Access requests: approval records and their life cycle, the access gate, and the
hash-chained audit log.

::

    from mikrodata.access_requests import load_request, transition, check_access, AuditLog
    req = load_request("P2026-001.yaml")           # schema + catalogue checks
    transition("P2026-001.yaml", "submitted")      # life cycle, recorded and audited
    approval = check_access("P2026-001.yaml", action="build_extract")
    AuditLog().verify()
"""

from .audit import GENESIS, AuditLog, AuditReport, canonical_json, event_hash
from .gate import ACTIONS, Approval, check_access
from .lifecycle import (
    APPROVED_STATES,
    STATES,
    TERMINAL_STATES,
    TRANSITIONS,
    RequestState,
    create_request,
    read_state,
    state_path,
    transition,
)
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
)
from .template import request_template

__all__ = [
    "ACTIONS",
    "APPROVED_STATES",
    "DERIVED_VARIABLES",
    "GENESIS",
    "POPULATION_REGISTER",
    "POPULATION_TYPES",
    "REQUEST_SCHEMA",
    "STATES",
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
    "canonical_json",
    "check_access",
    "create_request",
    "event_hash",
    "file_sha256",
    "load_request",
    "read_state",
    "request_template",
    "state_path",
    "transition",
]
