"""``mikrodata access`` and ``mikrodata audit``: roles enforced, identities that cannot
be typed in, one-line errors with their exit codes, JSON for scripts."""

from __future__ import annotations

import json

import pytest

from .support import PASSPHRASE, PI, RESEARCHER, STEWARD, write_request


@pytest.fixture
def env(tmp_path, run_cli):
    env = {
        "MIKRODATA_AUDIT_LOG": str(tmp_path / "audit.jsonl"),
        "MIKRODATA_KEYSTORE": str(tmp_path / "keystore"),
        "MIKRODATA_KEYSTORE_PASSPHRASE": PASSPHRASE,
    }
    # As a steward starts: the key store, its first audit event, its public key trusted.
    done = run_cli("keys", "init", env=_as(env, STEWARD))
    assert done.exit_code == 0, done.output
    return env


def _as(env, user):
    return {**env, "MIKRODATA_USER": user}


def _approved(tmp_path, run_cli, env, upto="confidentiality"):
    """P1 created and submitted by the PI, then approved by the steward up to ``upto``
    (``"submitted"``: not at all)."""
    request = str(tmp_path / "P1.yaml")
    assert run_cli("access", "new", "P1", "--dir", str(tmp_path), env=_as(env, PI)).exit_code == 0
    write_request(tmp_path / "P1.yaml", project="P1")
    assert run_cli("access", "submit", request, env=_as(env, PI)).exit_code == 0
    for stage in ("ethics", "confidentiality") if upto != "submitted" else ():
        done = run_cli("access", "approve", request, "--stage", stage, env=_as(env, STEWARD))
        assert done.exit_code == 0, done.output
        if stage == upto:
            break
    return request


def test_validate_reports_file_and_field_with_exit_code_11(tmp_path, run_cli, env):
    path = write_request(tmp_path / "P.yaml")
    path.write_text(path.read_text().replace("- kommun", "- flykting"))
    result = run_cli("access", "validate", str(path), env=env)
    assert result.exit_code == 11
    assert "P.yaml, field registers.ekonomiskt_bistand.variables[2]: variable 'flykting'" in (
        result.output
    )


def test_new_refuses_to_overwrite(tmp_path, run_cli, env):
    assert run_cli("access", "new", "P1", "--dir", str(tmp_path), env=env).exit_code == 0
    again = run_cli("access", "new", "P1", "--dir", str(tmp_path), env=env)
    assert again.exit_code == 11 and "already exists" in again.output


def test_a_researcher_approving_their_own_request_exits_13_and_says_who_may(tmp_path, run_cli, env):
    request = _approved(tmp_path, run_cli, env, upto="submitted")
    before = (tmp_path / "audit.jsonl").read_text().count("\n")
    for user in (PI, RESEARCHER, "mallory"):
        result = run_cli("access", "approve", request, "--stage", "ethics", env=_as(env, user))
        assert result.exit_code == 13, result.output
        assert "only a data steward of the project" in result.output
        assert f"Ask a data steward of the project: {STEWARD}" in result.output
    lines = (tmp_path / "audit.jsonl").read_text().splitlines()[before:]
    assert [json.loads(x)["action"] for x in lines] == ["access_refused"] * 3


def test_a_refused_move_does_not_ask_for_the_passphrase(tmp_path, run_cli, env):
    run_cli("access", "new", "P1", "--dir", str(tmp_path), env=_as(env, STEWARD))
    no_passphrase = {k: v for k, v in env.items() if k != "MIKRODATA_KEYSTORE_PASSPHRASE"}
    result = run_cli(
        "access",
        "approve",
        str(tmp_path / "P1.yaml"),
        "--stage",
        "confidentiality",
        env=_as(no_passphrase, STEWARD),
    )
    assert result.exit_code == 13
    assert "cannot go from draft to confidentiality_approved" in result.output


def test_a_declared_user_is_refused_outside_tests_and_the_demo(tmp_path, run_cli, env, monkeypatch):
    monkeypatch.delenv("MIKRODATA_DECLARED_IDENTITY")
    result = run_cli("access", "new", "P1", "--dir", str(tmp_path), "--user", STEWARD, env=env)
    assert result.exit_code == 13
    assert "a declared user" in result.output and "for tests and the demo only" in result.output
    assert not (tmp_path / "P1.yaml").exists()
    # Without a declared name it is the operating-system account, recorded as such.
    assert run_cli("access", "new", "P1", "--dir", str(tmp_path), env=env).exit_code == 0
    event = json.loads((tmp_path / "audit.jsonl").read_text().splitlines()[-1])
    assert event["identity"] == "os"


def test_a_declared_user_is_recorded_as_declared(tmp_path, run_cli, env):
    run_cli("access", "new", "P1", "--dir", str(tmp_path), env=_as(env, PI))
    event = json.loads((tmp_path / "audit.jsonl").read_text().splitlines()[-1])
    assert (event["user"], event["identity"]) == (PI, "declared")
    status = run_cli("access", "status", str(tmp_path / "P1.yaml"), env=env)
    assert f"{PI} (declared): (new) -> draft" in status.output


@pytest.mark.parametrize("user", ["steward\n  2026-01-01  steward: x -> closed", "a b", ""])
def test_user_ids_with_control_characters_are_refused(tmp_path, run_cli, env, user):
    result = run_cli("access", "new", "P1", "--dir", str(tmp_path), "--user", user, env=env)
    assert result.exit_code == 11 and "a user id must be" in result.output
    assert "\n  2026" not in result.output.strip()


def test_withdraw_is_final(tmp_path, run_cli, env):
    request = str(tmp_path / "P1.yaml")
    run_cli("access", "new", "P1", "--dir", str(tmp_path), env=_as(env, PI))
    write_request(tmp_path / "P1.yaml", project="P1")
    assert run_cli("access", "withdraw", request, env=_as(env, PI)).exit_code == 0
    status = run_cli("access", "status", request, env=env)
    assert "state: withdrawn" in status.output and "next: none (final)" in status.output
    assert run_cli("access", "submit", request, env=_as(env, PI)).exit_code == 13


def test_expire_is_refused_for_a_draft_and_recorded_after_approval(tmp_path, run_cli, env):
    request = str(tmp_path / "P1.yaml")
    run_cli("access", "new", "P1", "--dir", str(tmp_path), env=_as(env, PI))
    draft = run_cli("access", "expire", request, env=_as(env, STEWARD))
    assert draft.exit_code == 13 and "cannot go from draft to expired" in draft.output
    _approved_rest(tmp_path, run_cli, env, request)
    expired = run_cli(
        "access", "expire", request, "--note", "end date passed", env=_as(env, STEWARD)
    )
    assert expired.exit_code == 0, expired.output
    assert "-> expired (signed)" in expired.output
    assert "state: expired" in run_cli("access", "status", request, env=env).output


def _approved_rest(tmp_path, run_cli, env, request):
    write_request(tmp_path / "P1.yaml", project="P1")
    run_cli("access", "submit", request, env=_as(env, PI))
    run_cli("access", "approve", request, "--stage", "ethics", env=_as(env, STEWARD))
    run_cli("access", "approve", request, "--stage", "confidentiality", env=_as(env, STEWARD))


def test_status_and_list_speak_json(tmp_path, run_cli, env):
    request = _approved(tmp_path, run_cli, env)
    doc = json.loads(run_cli("access", "status", request, "--json", env=env).output)
    assert doc["project"] == "P1" and doc["state"] == "confidentiality_approved"
    assert [h["to"] for h in doc["history"]][-1] == "confidentiality_approved"
    assert doc["history"][-1]["signed"] is True
    rows = json.loads(run_cli("access", "list", "--dir", str(tmp_path), "--json", env=env).output)
    assert rows == [{"request": "P1.yaml", "project": "P1", "state": "confidentiality_approved"}]


def test_audit_verify_names_the_broken_line_with_exit_code_16(tmp_path, run_cli, env):
    request = str(tmp_path / "P1.yaml")
    run_cli("access", "new", "P1", "--dir", str(tmp_path), env=_as(env, PI))
    write_request(tmp_path / "P1.yaml", project="P1")
    run_cli("access", "submit", request, env=_as(env, PI))
    run_cli("access", "withdraw", request, env=_as(env, PI))
    ok = run_cli("audit", "verify", env=env)
    assert ok.exit_code == 0 and "audit log ok: 4 events (1 signed)" in ok.output
    log = tmp_path / "audit.jsonl"
    lines = log.read_text().splitlines(keepends=True)
    event = json.loads(lines[2])
    event["user"] = "someone-else"
    lines[2] = json.dumps(event) + "\n"
    log.write_text("".join(lines))
    result = run_cli("audit", "verify", "--log", str(log), env=env)
    assert result.exit_code == 16
    assert "audit.jsonl line 3: event 3 was edited" in result.output
    shown = run_cli("audit", "show", "--project", "P1", env=env)
    assert shown.exit_code == 0 and "request_transition" in shown.output


def test_audit_verify_of_a_deleted_log_where_a_key_store_exists_fails(tmp_path, run_cli, env):
    # The finding: deleting the log and its anchor gave "ok, 0 events".
    _approved(tmp_path, run_cli, env)
    for suffix in ("", ".head", ".checkpoint"):
        (tmp_path / f"audit.jsonl{suffix}").unlink()
    result = run_cli("audit", "verify", env=env)
    assert result.exit_code == 16, result.output
    assert "missing or empty, but a key store exists" in result.output
