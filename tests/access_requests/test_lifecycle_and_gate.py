"""The life cycle (derived from the signed audit trail), who may make each move, and the
gate's refusals: every branch says why and what to do, and is audited."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from mikrodata.access_requests import (
    AuditLog,
    check_access,
    create_request,
    event_hash,
    file_sha256,
    read_state,
    transition,
)
from mikrodata.pseudonymisation import KeyStore
from mikrodata.toolkit import clock
from mikrodata.toolkit.errors import AccessRefused, BadInputError, IntegrityError

from .support import (
    PASSPHRASE,
    PI,
    RESEARCHER,
    STEWARD,
    approve,
    move,
    new_approved_request,
    steward_store,
    write_request,
)


@pytest.fixture
def log(tmp_path):
    return AuditLog(tmp_path / "audit.jsonl")


@pytest.fixture
def approved(tmp_path, log):
    return new_approved_request(tmp_path, log)


def _refusals(log):
    return [e for e in log.events() if e["action"] == "access_refused"]


def test_walk_is_recorded_in_the_signed_audit_log(tmp_path, log):
    path = tmp_path / "P2026-001.yaml"
    create_request(path, "P2026-001", user=PI, audit=log)
    assert read_state(path, log).state == "draft"
    approve(path, log)
    move(path, "extract_delivered", log)
    state = transition(
        path, "closed", user=STEWARD, audit=log, note="project finished", signer=steward_store()
    )
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
    assert [h["signed"] for h in state.history] == [False, False, True, True, True, True]
    assert [h["user"] for h in state.history] == [PI, PI, STEWARD, STEWARD, STEWARD, STEWARD]
    assert state.approval_hash == state.history[3]["sha256"]
    assert state.approval["approved_by"] == STEWARD
    assert state.approval["ethics_approved_by"] == STEWARD
    assert read_state(path, log) == state  # replayed from the log, nothing else
    assert not (tmp_path / "P2026-001.state.json").exists()  # no state file to edit
    report = log.verify()
    assert report.signed_events == 4 and report.checkpoint_seq == report.head_seq


# -- who may move a request ------------------------------------------------------------------


def test_a_researcher_cannot_approve_their_own_request(tmp_path, log):
    # The finding: a researcher approved both stages of their own request.
    path = tmp_path / "P2026-001.yaml"
    create_request(path, "P2026-001", user=PI, audit=log)
    write_request(path, data_stewards=[STEWARD, PI])  # the PI is also listed as a steward
    move(path, "submitted", log)
    before = len(log.events())
    for user in (PI, RESEARCHER):
        with pytest.raises(AccessRefused) as err:
            transition(path, "ethics_approved", user=user, audit=log, signer=steward_store())
        assert err.value.exit_code == 13
        assert "only a data steward of the project who is not one of its researchers" in str(
            err.value
        )
        assert STEWARD in err.value.hint
    assert read_state(path, log).state == "submitted"
    new = log.events()[before:]
    assert [e["action"] for e in new] == ["access_refused", "access_refused"]


def test_a_user_in_no_role_cannot_record_a_decision(approved, tmp_path, log):
    path = tmp_path / "P2.yaml"
    create_request(path, "P2", user=PI, audit=log)
    write_request(path, project="P2")
    move(path, "submitted", log)
    move(path, "ethics_approved", log)
    with pytest.raises(AccessRefused, match="mallory is not a data steward of project P2"):
        transition(
            path, "confidentiality_approved", user="mallory", audit=log, signer=steward_store()
        )
    assert read_state(path, log).state == "ethics_approved"


def test_only_researchers_submit_and_withdraw(tmp_path, log):
    path = tmp_path / "P2026-001.yaml"
    create_request(path, "P2026-001", user=PI, audit=log)
    with pytest.raises(AccessRefused, match="steward is not a researcher of project P2026-001"):
        transition(path, "submitted", user=STEWARD, audit=log)
    move(path, "submitted", log, user=RESEARCHER)
    with pytest.raises(AccessRefused, match="mallory is not a researcher"):
        transition(path, "withdrawn", user="mallory", audit=log)
    assert transition(path, "withdrawn", user=PI, audit=log).state == "withdrawn"


def test_a_steward_decision_without_the_key_store_is_refused(approved, log):
    with pytest.raises(AccessRefused, match="must be signed with the steward's key"):
        transition(approved, "closed", user=STEWARD, audit=log)
    assert read_state(approved, log).state == "confidentiality_approved"
    assert _refusals(log)[-1]["details"]["action"] == "request_closed"


def test_an_approval_past_its_end_date_cannot_be_recorded(tmp_path, log, monkeypatch):
    path = tmp_path / "P2026-001.yaml"
    create_request(path, "P2026-001", user=PI, audit=log)
    move(path, "submitted", log)
    monkeypatch.setattr(clock, "today", lambda: dt.date(2030, 1, 1))
    with pytest.raises(AccessRefused, match="end date 2029-12-31 has passed"):
        move(path, "ethics_approved", log)
    assert read_state(path, log).state == "submitted"


def test_illegal_transitions_are_refused_and_only_the_refusal_recorded(tmp_path, log):
    path = tmp_path / "P2026-001.yaml"
    create_request(path, "P2026-001", user=PI, audit=log)
    n = len(log.events())
    with pytest.raises(AccessRefused, match="cannot go from draft to confidentiality_approved"):
        move(path, "confidentiality_approved", log)
    with pytest.raises(BadInputError, match="unknown state"):
        transition(path, "approved", user=STEWARD, audit=log)
    assert [e["action"] for e in log.events()[n:]] == ["access_refused"]
    assert read_state(path, log).state == "draft"


def test_submitting_an_invalid_request_is_refused(tmp_path, log):
    path = tmp_path / "P2026-001.yaml"
    create_request(path, "P2026-001", user=PI, audit=log)
    path.write_text(path.read_text().replace("end_date: 2029-12-31", "end_date: soon"))
    with pytest.raises(AccessRefused, match="does not validate"):
        transition(path, "submitted", user=PI, audit=log)
    assert read_state(path, log).state == "draft"


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
    assert read_state(path, log).state == "ethics_approved"


def test_create_refuses_to_overwrite_or_to_reuse_a_project(tmp_path, log):
    path = tmp_path / "P.yaml"
    create_request(path, "P", user=PI, audit=log)
    with pytest.raises(BadInputError, match="already exists"):
        create_request(path, "P", user=PI, audit=log)
    with pytest.raises(BadInputError, match="already has a request"):
        create_request(tmp_path / "P-again.yaml", "P", user=PI, audit=log)
    with pytest.raises(BadInputError, match="not a valid project id"):
        create_request(tmp_path / "Q.yaml", "../Q", user=PI, audit=log)


# -- the gate acts on the signed trail only ----------------------------------------------------


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
    assert a.approval_hash == read_state(approved, log).approval_hash == file_sha256(approved)
    assert a.approval.document["approved_by"] == STEWARD
    check_access(approved, user=RESEARCHER, action="load_extract", audit=log)
    check_access(approved, user=PI, action="verify_extract", audit=log)


def _forge(log, event_fields):
    """Append an event to the log's file as an attacker would: correct seq, chain and
    hash, but made without the steward's key."""
    last = log.events()[-1]
    event = {
        "seq": last["seq"] + 1,
        "time": last["time"],
        "user": STEWARD,
        "identity": "os",
        "project": "P2026-001",
        "prev": last["hash"],
        **event_fields,
    }
    event["hash"] = event_hash(event)
    with open(log.path, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(event, sort_keys=True, separators=(",", ":")) + "\n")
    log.head_path.write_text(json.dumps({"seq": event["seq"], "hash": event["hash"]}))


def test_an_approval_appended_through_the_public_api_without_the_key_is_refused(approved, log):
    # The finding: AuditLog.append of an approval event plus an edited state let an
    # unapproved variable into an extract.
    approved.write_text(approved.read_text().replace("- roll\n", "- roll\n      - flykting\n"))
    details = {
        "from": "ethics_approved",
        "to": "confidentiality_approved",
        "request": approved.name,
        "request_sha256": file_sha256(approved),
    }
    with pytest.raises(IntegrityError, match="must be signed"):
        log.append("request_transition", project="P2026-001", user=STEWARD, details=details)
    _forge(log, {"action": "request_transition", "details": details})
    with pytest.raises(IntegrityError, match="not signed \\(forged\\)"):
        check_access(approved, user=STEWARD, action="build_extract", audit=log)


def test_reopening_a_closed_project_by_rewriting_the_trail_is_refused(approved, log, tmp_path):
    # The finding: after `access close`, editing the state back let a build succeed. The
    # state now comes from the log; cutting the close event out and re-hashing the chain
    # breaks the signed checkpoint, and a rolled-back copy of log and anchors is caught
    # by the key store.
    copies = {p: p.read_bytes() for p in (log.path, log.head_path, log.checkpoint_path)}
    move(approved, "closed", log)
    lines = log.path.read_text().splitlines(keepends=True)
    log.path.write_text("".join(lines[:-1]))
    log.head_path.write_bytes(copies[log.head_path])
    with pytest.raises(IntegrityError, match="signed checkpoint"):
        check_access(approved, user=STEWARD, action="build_extract", audit=log)
    for path, data in copies.items():  # a consistent, signed, older copy
        path.write_bytes(data)
    assert check_access(approved, user=STEWARD, action="build_extract", audit=log)
    store = KeyStore.open(steward_store().path, PASSPHRASE)
    with pytest.raises(IntegrityError, match="key store saw this log reach event"):
        check_access(approved, user=STEWARD, action="build_extract", audit=log, keystore=store)


def test_the_clock_not_a_parameter_decides_expiry(approved, log, monkeypatch):
    import inspect

    from mikrodata.toolkit.extract import build_extract

    for fn in (check_access, build_extract):
        assert "today" not in inspect.signature(fn).parameters
    monkeypatch.setattr(clock, "today", lambda: dt.date(2030, 1, 1))
    with pytest.raises(AccessRefused, match="expired on 2029-12-31"):
        check_access(approved, user=STEWARD, action="build_extract", audit=log)


# Every branch of the gate: (name, set-up, call kwargs, message, words of the hint).
REFUSALS = [
    (
        "outside register",
        None,
        {"user": STEWARD, "action": "build_extract", "registers": ["lss"]},
        "register lss is not approved",
        "Approved registers: ekonomiskt_bistand",
    ),
    (
        "variable of an unapproved register",
        None,
        {"user": STEWARD, "action": "build_extract", "variables": {"lss": ["insats"]}},
        "register lss is not approved",
        "Approved registers",
    ),
    (
        "years of an unapproved register",
        None,
        {"user": STEWARD, "action": "build_extract", "years": {"lss": [2012]}},
        "register lss is not approved",
        "Approved registers",
    ),
    (
        "outside variable",
        None,
        {
            "user": STEWARD,
            "action": "build_extract",
            "variables": {"ekonomiskt_bistand": ["flykting"]},
        },
        "variable flykting of ekonomiskt_bistand is not approved",
        "Approved: ",
    ),
    (
        "outside year",
        None,
        {"user": STEWARD, "action": "build_extract", "years": {"ekonomiskt_bistand": [2011, 2012]}},
        "year 2011 of ekonomiskt_bistand is not approved",
        "Approved years: 2012-2020",
    ),
    (
        "not in the project",
        None,
        {"user": "mallory", "action": "load_extract"},
        "user mallory is not a researcher of project P2026-001",
        "ask the principal investigator",
    ),
    (
        "researcher cannot build",
        None,
        {"user": RESEARCHER, "action": "build_extract"},
        "user bertil.berg is not a steward",
        "steward",
    ),
    (
        "expired by date",
        "expire by date",
        {"user": STEWARD, "action": "build_extract"},
        "expired on 2029-12-31",
        "extension",
    ),
    (
        "changed after approval",
        "edit the request",
        {"user": STEWARD, "action": "build_extract"},
        "changed after it was approved",
        "Restore the approved version",
    ),
    (
        "closed",
        "close",
        {"user": RESEARCHER, "action": "load_extract"},
        "project P2026-001 is closed",
        "new request",
    ),
    (
        "only ethics approved",
        "ethics only",
        {"user": STEWARD, "action": "build_extract"},
        "not approved (state: ethics_approved)",
        "`mikrodata access approve`",
    ),
]


@pytest.mark.parametrize("name,setup,kwargs,message,hint", REFUSALS, ids=[r[0] for r in REFUSALS])
def test_gate_refusals_say_why_and_what_to_do_and_are_audited(
    tmp_path, log, monkeypatch, name, setup, kwargs, message, hint
):
    path = tmp_path / "P2026-001.yaml"
    create_request(path, "P2026-001", user=PI, audit=log)
    write_request(path)
    approve(path, log, upto="ethics_approved" if setup == "ethics only" else "x")
    if setup == "expire by date":
        monkeypatch.setattr(clock, "today", lambda: dt.date(2030, 1, 1))
    elif setup == "edit the request":
        path.write_text(path.read_text().replace("2012-2020", "2010-2020"))
    elif setup == "close":
        move(path, "closed", log)
    before = len(_refusals(log))
    with pytest.raises(AccessRefused) as err:
        check_access(path, audit=log, **kwargs)
    assert message in str(err.value)
    assert err.value.hint and hint in err.value.hint, err.value.hint
    refusals = _refusals(log)[before:]
    assert len(refusals) == 1 and message in refusals[0]["details"]["reason"]
    log.verify()


def test_every_gate_branch_has_a_row_in_the_refusal_table():
    import inspect

    from mikrodata.access_requests import gate

    source = inspect.getsource(gate.check_access) + inspect.getsource(gate._check_approved)
    # each branch once in the table (the signed-approval mismatch is held by the test of
    # a rewritten trail, a forged approval fails its signature first)
    assert source.count("raise refuse(") <= len(REFUSALS) + 1


@pytest.mark.parametrize("final", ["closed", "withdrawn", "expired"])
def test_gate_refuses_closed_withdrawn_expired(approved, log, final):
    move(approved, final, log)
    with pytest.raises(AccessRefused, match=f"project P2026-001 is {final}"):
        check_access(approved, user=RESEARCHER, action="load_extract", audit=log)


def test_missing_request_file_and_unknown_action_are_bad_input(tmp_path, approved, log):
    n = len(log.events())
    with pytest.raises(BadInputError, match="does not exist"):
        check_access(tmp_path / "none.yaml", user=STEWARD, action="build_extract", audit=log)
    with pytest.raises(BadInputError, match="does not exist"):
        transition(tmp_path / "none.yaml", "withdrawn", user=STEWARD, audit=log)
    with pytest.raises(BadInputError, match="unknown action"):
        check_access(approved, user=STEWARD, action="download_everything", audit=log)
    assert len(log.events()) == n
