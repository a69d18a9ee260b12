"""``mikrodata access`` and ``mikrodata audit``: one-line errors with their exit codes."""

from __future__ import annotations

import json

from .support import PI, STEWARD, write_request


def _env(tmp_path, user=PI):
    return {"MIKRODATA_AUDIT_LOG": str(tmp_path / "audit.jsonl"), "MIKRODATA_USER": user}


def test_validate_reports_file_and_field_with_exit_code_11(tmp_path, run_cli):
    path = write_request(tmp_path / "P.yaml")
    path.write_text(path.read_text().replace("- kommun", "- flykting"))
    result = run_cli("access", "validate", str(path), env=_env(tmp_path))
    assert result.exit_code == 11
    assert "P.yaml, field registers.ekonomiskt_bistand.variables[2]: variable 'flykting'" in (
        result.output
    )


def test_new_refuses_to_overwrite(tmp_path, run_cli):
    env = _env(tmp_path)
    assert run_cli("access", "new", "P1", "--dir", str(tmp_path), env=env).exit_code == 0
    again = run_cli("access", "new", "P1", "--dir", str(tmp_path), env=env)
    assert again.exit_code == 11 and "already exists" in again.output


def test_wrong_transition_exits_13(tmp_path, run_cli):
    env = _env(tmp_path, STEWARD)
    run_cli("access", "new", "P1", "--dir", str(tmp_path), env=env)
    result = run_cli(
        "access", "approve", str(tmp_path / "P1.yaml"), "--stage", "confidentiality", env=env
    )
    assert result.exit_code == 13
    assert "cannot go from draft to confidentiality_approved" in result.output


def test_withdraw_is_final(tmp_path, run_cli):
    env = _env(tmp_path)
    run_cli("access", "new", "P1", "--dir", str(tmp_path), env=env)
    assert run_cli("access", "withdraw", str(tmp_path / "P1.yaml"), env=env).exit_code == 0
    status = run_cli("access", "status", str(tmp_path / "P1.yaml"), env=env)
    assert "state: withdrawn" in status.output and "next: none (final)" in status.output
    assert run_cli("access", "submit", str(tmp_path / "P1.yaml"), env=env).exit_code == 13


def test_expire_is_refused_for_a_draft_and_recorded_after_approval(tmp_path, run_cli):
    env = _env(tmp_path, STEWARD)
    request = str(tmp_path / "P1.yaml")
    run_cli("access", "new", "P1", "--dir", str(tmp_path), env=env)
    draft = run_cli("access", "expire", request, env=env)
    assert draft.exit_code == 13 and "cannot go from draft to expired" in draft.output
    run_cli("access", "submit", request, env=env)
    run_cli("access", "approve", request, "--stage", "ethics", env=env)
    run_cli("access", "approve", request, "--stage", "confidentiality", env=env)
    expired = run_cli("access", "expire", request, "--note", "end date passed", env=env)
    assert expired.exit_code == 0, expired.output
    assert "state: expired" in run_cli("access", "status", request, env=env).output


def test_audit_verify_names_the_broken_line_with_exit_code_16(tmp_path, run_cli):
    env = _env(tmp_path)
    run_cli("access", "new", "P1", "--dir", str(tmp_path), env=env)
    run_cli("access", "submit", str(tmp_path / "P1.yaml"), env=env)
    run_cli("access", "withdraw", str(tmp_path / "P1.yaml"), env=env)
    assert run_cli("audit", "verify", env=env).exit_code == 0
    log = tmp_path / "audit.jsonl"
    lines = log.read_text().splitlines(keepends=True)
    event = json.loads(lines[1])
    event["user"] = "someone-else"
    lines[1] = json.dumps(event) + "\n"
    log.write_text("".join(lines))
    result = run_cli("audit", "verify", "--log", str(log), env=env)
    assert result.exit_code == 16
    assert "audit.jsonl line 2: event 2 was edited" in result.output
    shown = run_cli("audit", "show", "--project", "P1", env=env)
    assert shown.exit_code == 0 and "request_transition" in shown.output
