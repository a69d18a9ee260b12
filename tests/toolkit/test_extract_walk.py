"""A project's whole life on the command line: draft -> submitted -> approved ->
extract delivered and verified -> closed, then refused; the audit trail holds it all."""

from __future__ import annotations

import json

from mikrodata.access_requests import AuditLog
from mikrodata.pseudonymisation import TrustStore
from mikrodata.toolkit.extract import synthetic_register
from tests.access_requests.support import PASSPHRASE, PI, STEWARD, write_request


def test_walk_from_draft_to_delivered_to_closed(tmp_path, run_cli):
    log = tmp_path / "audit.jsonl"
    keystore = tmp_path / "keystore"
    regs = tmp_path / "registers"
    synthetic_register("ekonomiskt_bistand", tuple(range(2011, 2022)), 60, regs, seed=7)
    base = {
        "MIKRODATA_AUDIT_LOG": str(log),
        "MIKRODATA_KEYSTORE": str(keystore),
        "MIKRODATA_KEYSTORE_PASSPHRASE": PASSPHRASE,
        "MIKRODATA_HOME": str(tmp_path / "home"),
    }
    pi = dict(base, MIKRODATA_USER=PI)
    steward = dict(base, MIKRODATA_USER=STEWARD)
    request = tmp_path / "P2026-001.yaml"

    def ok(*args, env):
        result = run_cli(*args, env=env)
        assert result.exit_code == 0, (args, result.output)
        return result.output

    ok("keys", "init", "--project", "P2026-001", env=steward)
    ok("access", "new", "P2026-001", "--dir", str(tmp_path), env=pi)
    write_request(request)  # the PI fills it in
    assert "valid request for project P2026-001" in ok("access", "validate", str(request), env=pi)
    ok("access", "submit", str(request), env=pi)
    refused = run_cli(
        "extract",
        "build",
        "--request",
        str(request),
        "--registers",
        str(regs),
        "--out",
        str(tmp_path / "extract"),
        env=steward,
    )
    assert refused.exit_code == 13 and "not approved (state: submitted)" in refused.output
    ok("access", "approve", str(request), "--stage", "ethics", env=steward)
    ok(
        "access",
        "approve",
        str(request),
        "--stage",
        "confidentiality",
        "--note",
        "SoS 2025/5678",
        env=steward,
    )
    status = ok("access", "status", str(request), env=pi)
    assert "state: confidentiality_approved" in status and "SoS 2025/5678" in status
    assert "P2026-001\tconfidentiality_approved" in ok(
        "access", "list", "--dir", str(tmp_path), env=pi
    )

    built = ok(
        "extract",
        "build",
        "--request",
        str(request),
        "--registers",
        str(regs),
        "--out",
        str(tmp_path / "extract"),
        env=steward,
    )
    assert "ekonomiskt_bistand:" in built and "0 rejected" in built
    assert (tmp_path / "home" / "rejects" / "P2026-001").is_dir()  # steward side, outside
    assert "state: extract_delivered" in ok("access", "status", str(request), env=pi)
    verified = ok("extract", "verify", str(tmp_path / "extract"), "--request", str(request), env=pi)
    assert "signed by steward key" in verified and "gate ok" in verified

    ok("access", "close", str(request), "--note", "finished", env=steward)
    before = (tmp_path / "extract" / "manifest.json").read_bytes()
    again = run_cli(
        "extract",
        "build",
        "--request",
        str(request),
        "--registers",
        str(regs),
        "--out",
        str(tmp_path / "extract"),
        env=steward,
    )
    assert again.exit_code == 13 and "project P2026-001 is closed" in again.output
    assert (tmp_path / "extract" / "manifest.json").read_bytes() == before

    assert "audit log ok" in ok("audit", "verify", env=base)
    trail = ok("audit", "show", "--project", "P2026-001", "--json", env=base)
    actions = [json.loads(line)["action"] for line in trail.splitlines()]
    assert actions == [
        "key_rotated",  # keys init --project (keystore_created belongs to no project)
        "request_created",
        "request_transition",  # submitted
        "access_refused",  # build before approval
        "request_transition",  # ethics
        "request_transition",  # confidentiality
        "extract_built",
        "request_transition",  # extract_delivered
        "extract_verified",
        "request_transition",  # closed
        "access_refused",  # build after closing
    ]
    trust = TrustStore.load(tmp_path / "home" / "trusted_keys")  # where keys init put it
    assert AuditLog(log).verify(trust=trust).events == len(actions) + 1
