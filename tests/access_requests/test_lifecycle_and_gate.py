"""The life cycle (sidecar history + audit events) and the gate's refusals."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from mikrodata.access_requests import (
    AuditLog,
    check_access,
    create_request,
    read_state,
    state_path,
    transition,
)
from mikrodata.toolkit.errors import AccessRefused, BadInputError

from .support import PI, RESEARCHER, STEWARD, approve, new_approved_request, write_request


@pytest.fixture
def log(tmp_path):
    return AuditLog(tmp_path / "audit.jsonl")


@pytest.fixture
def approved(tmp_path, log):
    return new_approved_request(tmp_path, log)


def test_walk_records_history_in_sidecar_and_audit_log(tmp_path, log):
    path = tmp_path / "P2026-001.yaml"
    create_request(path, "P2026-001", user=PI, audit=log)
    assert read_state(path).state == "draft"
    approve(path, log)
    transition(path, "extract_delivered", user=STEWARD, audit=log)
    state = transition(path, "closed", user=STEWARD, audit=log, note="project finished")
    assert state.state == "closed"
    steps = [(h["from"], h["to"]) for h in state.history]
    assert steps == [
        (None, "draft"),
        ("draft", "submitted"),
        ("submitted", "ethics_approved"),
        ("ethics_approved", "confidentiality_approved"),
        ("confidentiality_approved", "extract_delivered"),
        ("extract_delivered", "closed"),
    ]
    assert state.history[-1]["note"] == "project finished"
    assert all(len(h["sha256"]) == 64 and h["user"] and h["time"] for h in state.history)
    assert state.approval_hash == state.history[3]["sha256"]
    events = log.events("P2026-001")
    assert [e["action"] for e in events] == ["request_created"] + ["request_transition"] * 5
    assert [e["details"]["to"] for e in events[1:]] == [h["to"] for h in state.history[1:]]
    log.verify()
    on_disk = json.loads(state_path(path).read_text())
    assert on_disk["state"] == "closed"


def test_illegal_transitions_are_refused_and_not_recorded(tmp_path, log):
    path = tmp_path / "P2026-001.yaml"
    create_request(path, "P2026-001", user=PI, audit=log)
    n = len(log.events())
    with pytest.raises(AccessRefused, match="cannot go from draft to confidentiality_approved"):
        transition(path, "confidentiality_approved", user=STEWARD, audit=log)
    with pytest.raises(BadInputError, match="unknown state"):
        transition(path, "approved", user=STEWARD, audit=log)
    assert len(log.events()) == n and read_state(path).state == "draft"


def test_submitting_an_invalid_request_is_refused(tmp_path, log):
    path = tmp_path / "P2026-001.yaml"
    create_request(path, "P2026-001", user=PI, audit=log)
    path.write_text(path.read_text().replace("end_date: 2029-12-31", "end_date: soon"))
    with pytest.raises(BadInputError, match="field end_date"):
        transition(path, "submitted", user=PI, audit=log)
    assert read_state(path).state == "draft"


def test_refused_confidentiality_decision_cannot_be_approved(tmp_path, log):
    path = tmp_path / "P2026-001.yaml"
    create_request(path, "P2026-001", user=PI, audit=log)
    review = {
        "register_holder": "Socialstyrelsen",
        "diary_number": "x",
        "decision_date": "2025-06-02",
        "decision": "refused",
    }
    write_request(path, confidentiality_review=review)
    with pytest.raises(AccessRefused, match="confidentiality review refused"):
        approve(path, log)
    assert read_state(path).state == "ethics_approved"


def test_create_refuses_to_overwrite(tmp_path, log):
    path = tmp_path / "P.yaml"
    create_request(path, "P", user=PI, audit=log)
    with pytest.raises(BadInputError, match="already exists"):
        create_request(path, "P", user=PI, audit=log)
    with pytest.raises(BadInputError, match="not a valid project id"):
        create_request(tmp_path / "Q.yaml", "../Q", user=PI, audit=log)


def test_gate_lets_the_approved_through(approved, log):
    a = check_access(
        approved,
        user=STEWARD,
        action="build_extract",
        registers=["ekonomiskt_bistand"],
        variables={"ekonomiskt_bistand": ["kommun", "personnummer", "age"]},
        years={"ekonomiskt_bistand": [2012, 2020]},
        audit=log,
    )
    assert a.project == "P2026-001" and a.user == STEWARD
    assert a.approval_hash == read_state(approved).approval_hash
    check_access(approved, user=RESEARCHER, action="load_extract", audit=log)
    check_access(approved, user=PI, action="verify_extract", audit=log)


def _refusals(log):
    return [e for e in log.events() if e["action"] == "access_refused"]


REFUSALS = [
    (
        "outside register",
        {"user": STEWARD, "action": "build_extract", "registers": ["lss"]},
        "register lss is not approved",
    ),
    (
        "outside variable",
        {
            "user": STEWARD,
            "action": "build_extract",
            "variables": {"ekonomiskt_bistand": ["flykting"]},
        },
        "variable flykting of ekonomiskt_bistand is not approved",
    ),
    (
        "outside year",
        {"user": STEWARD, "action": "build_extract", "years": {"ekonomiskt_bistand": [2011, 2012]}},
        "year 2011 of ekonomiskt_bistand is not approved",
    ),
    (
        "not in the project",
        {"user": "mallory", "action": "load_extract"},
        "user mallory is not a researcher of project P2026-001",
    ),
    (
        "researcher cannot build",
        {"user": RESEARCHER, "action": "build_extract"},
        "user bertil.berg is not a steward",
    ),
    (
        "expired by date",
        {"user": STEWARD, "action": "build_extract", "today": dt.date(2030, 1, 1)},
        "expired on 2029-12-31",
    ),
]


@pytest.mark.parametrize("name,kwargs,message", REFUSALS, ids=[r[0] for r in REFUSALS])
def test_gate_refusals_say_why_and_are_audited(approved, log, name, kwargs, message):
    with pytest.raises(AccessRefused) as err:
        check_access(approved, audit=log, **kwargs)
    assert message in str(err.value)
    assert err.value.hint  # says what to do
    refusals = _refusals(log)
    assert len(refusals) == 1 and message in refusals[0]["details"]["reason"]
    log.verify()


def test_gate_refuses_unapproved_states(tmp_path, log):
    path = tmp_path / "P2026-001.yaml"
    create_request(path, "P2026-001", user=PI, audit=log)
    approve(path, log, upto="ethics_approved")
    with pytest.raises(AccessRefused, match="not approved \\(state: ethics_approved\\)"):
        check_access(path, user=STEWARD, action="build_extract", audit=log)


@pytest.mark.parametrize("final", ["closed", "withdrawn", "expired"])
def test_gate_refuses_closed_withdrawn_expired(approved, log, final):
    transition(approved, final, user=STEWARD, audit=log)
    with pytest.raises(AccessRefused, match=f"project P2026-001 is {final}"):
        check_access(approved, user=RESEARCHER, action="load_extract", audit=log)


def test_gate_refuses_a_request_changed_after_approval(approved, log):
    approved.write_text(approved.read_text().replace("2012-2020", "2010-2020"))
    with pytest.raises(AccessRefused, match="changed after it was approved"):
        check_access(approved, user=STEWARD, action="build_extract", audit=log)


def test_gate_refuses_a_sidecar_edited_to_match_a_changed_request(approved, log):
    from mikrodata.access_requests import file_sha256

    approved.write_text(approved.read_text().replace("2012-2020", "2010-2020"))
    sidecar = state_path(approved)
    doc = json.loads(sidecar.read_text())
    doc["approval_hash"] = file_sha256(approved)
    sidecar.write_text(json.dumps(doc))
    with pytest.raises(AccessRefused, match="audit log has no approval with this request's hash"):
        check_access(approved, user=STEWARD, action="build_extract", audit=log)


def test_missing_request_file_is_bad_input(tmp_path, log):
    with pytest.raises(BadInputError, match="does not exist"):
        check_access(tmp_path / "none.yaml", user=STEWARD, action="build_extract", audit=log)
    with pytest.raises(BadInputError, match="does not exist"):
        transition(tmp_path / "none.yaml", "withdrawn", user=STEWARD, audit=log)
    assert log.events() == []


def test_unknown_action_is_a_programming_error(approved, log):
    with pytest.raises(ValueError, match="unknown action"):
        check_access(approved, user=STEWARD, action="download_everything", audit=log)
