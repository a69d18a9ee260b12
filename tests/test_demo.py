"""`make demo` runs the whole pipeline; this runs the same job small, end to end."""

from __future__ import annotations

import json

import pytest

from mikrodata.access_requests import AuditLog
from mikrodata.pseudonymisation import TrustStore


@pytest.mark.slow
def test_demo_runs_the_whole_pipeline(run_cli, tmp_path):
    out = tmp_path / "demo"
    result = run_cli("demo", "--out", str(out), "--persons", "5000")
    assert result.exit_code == 0, result.output
    for step in range(1, 9):
        assert f"{step}/8" in result.output
    assert "clean delivery: critical failures: 0" in result.output
    assert "extract: critical failures: 0" in result.output
    assert (out / "catalogue" / "index.html").exists()
    manifest = json.loads((out / "extracts" / "P2026-001" / "manifest.json").read_text())
    assert manifest["registers"]["ekonomiskt_bistand"]["rows_out"] > 0
    assert all(v.startswith("passed") for v in manifest["delivery_checks"].values())
    # the faulty delivery is caught, the state stayed inside the demo folder
    assert "faulty delivery: critical failures: 0" not in result.output
    trust = TrustStore.load(out / "state" / "trusted_keys")
    report = AuditLog(out / "state" / "audit.jsonl").verify(trust=trust)
    assert report.events >= 7 and report.signed_events >= 4
    assert not (tmp_path / ".mikrodata").exists()
    # the output went through the review and verifies offline
    release = out / "releases" / "P2026-001" / "P2026-001-R001"
    assert (release / "persons_by_household_type.csv").exists()
    from mikrodata.toolkit.release import verify_release

    assert verify_release(release, trust).manifest["approved_by"] == ["steward"]
