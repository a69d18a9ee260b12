"""`mikrodata quality signoff`: a steward of the project signs off a quality run as a
signed audit event bound to the run's summary and the delivery's checksum; researchers
and strangers are refused, and a run with a critical failure cannot be accepted."""

from __future__ import annotations

import json

import pytest

from mikrodata.access_requests import AuditLog
from mikrodata.quality.catalogue import load
from mikrodata.quality.run import run_quality
from mikrodata.quality.signoff import read_signoff, sign_off
from mikrodata.toolkit.errors import AccessRefused, QualityFailure
from mikrodata.toolkit.synthetic.clean import clean_year, write_dataset
from tests.access_requests.support import (
    PASSPHRASE,
    PI,
    STEWARD,
    new_approved_request,
    steward_store,
)

REG = load("ekonomiskt_bistand")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("signoff")
    clean = {2016: clean_year(REG, 2016, 20, seed=4)}
    write_dataset(clean, root / "clean", REG)
    faulty = {2016: clean_year(REG, 2016, 20, seed=4)}
    faulty[2016].loc[0, "hushallstyp"] = "99"  # a code in no year: critical
    write_dataset(faulty, root / "faulty", REG)
    run_quality(REG.name, root / "clean", root / "clean_run", data_docs=False)
    run_quality(
        REG.name,
        root / "faulty",
        root / "faulty_run",
        raise_on_failure=False,
        review_figures=False,
    )
    return root


@pytest.fixture
def request_path(tmp_path):
    return new_approved_request(tmp_path, AuditLog())


def _signoffs(log: AuditLog) -> list[dict]:
    return [e for e in log.events() if e["action"] == "quality_signoff"]


def test_a_steward_signs_off_a_clean_run(runs, request_path, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(runs / "clean_run", run)
    log = AuditLog()
    event = sign_off(
        run,
        request=request_path,
        verdict="accepted",
        comment="looked at everything",
        user=STEWARD,
        audit=log,
        signer=steward_store(),
    )
    assert "signature" in event and event["action"] == "quality_signoff"
    summary = json.loads((run / "summary.json").read_text())
    assert event["details"]["delivery_sha256"] == summary["delivery"]["sha256"]
    assert event["details"]["verdict"] == "accepted"
    log.verify()
    assert read_signoff(run, log)["user"] == STEWARD
    # A rewritten summary is no longer signed off.
    (run / "summary.json").write_text(json.dumps({**summary, "critical_failed": 0, "x": 1}))
    assert read_signoff(run, log) is None


@pytest.mark.parametrize("who", [PI, "stranger"])
def test_researchers_and_strangers_are_refused_and_the_refusal_logged(runs, request_path, who):
    log = AuditLog()
    opened = []
    with pytest.raises(AccessRefused):
        sign_off(
            runs / "clean_run",
            request=request_path,
            verdict="accepted",
            user=who,
            audit=log,
            signer=lambda: opened.append(1) or steward_store(),
        )
    assert opened == []  # never asked for the key store
    assert _signoffs(log) == []
    refused = [e for e in log.events() if e["action"] == "access_refused"]
    assert refused[-1]["details"]["action"] == "quality_signoff"


def test_a_run_with_a_critical_failure_can_only_be_rejected(runs, request_path, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(runs / "faulty_run", run)
    log = AuditLog()
    with pytest.raises(QualityFailure):
        sign_off(
            run,
            request=request_path,
            verdict="accepted",
            user=STEWARD,
            audit=log,
            signer=steward_store(),
        )
    assert _signoffs(log) == []
    sign_off(
        run,
        request=request_path,
        verdict="rejected",
        comment="hushallstyp 99",
        user=STEWARD,
        audit=log,
        signer=steward_store(),
    )
    assert [e["details"]["verdict"] for e in _signoffs(log)] == ["rejected"]
    page = (run / "review.html").read_text()
    assert "Signed off" in page and "rejected" in page and "hushallstyp 99" in page


def test_an_unsigned_signoff_is_refused(runs, request_path):
    with pytest.raises(AccessRefused):
        sign_off(
            runs / "clean_run",
            request=request_path,
            verdict="accepted",
            user=STEWARD,
            signer=None,
        )


def test_cli_signs_off_and_refuses_with_exit_codes(
    runs, request_path, run_cli, monkeypatch, tmp_path
):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(runs / "faulty_run", run)
    steward_store()  # the key store in this test's home
    monkeypatch.setenv("MIKRODATA_KEYSTORE_PASSPHRASE", PASSPHRASE)
    base = ["quality", "signoff", str(run), "--request", str(request_path)]
    refused = run_cli(*base, "--verdict", "accepted", "--user", STEWARD)
    assert refused.exit_code == QualityFailure.exit_code, refused.output
    assert "Traceback" not in refused.output
    by_pi = run_cli(*base, "--verdict", "rejected", "--user", PI)
    assert by_pi.exit_code == AccessRefused.exit_code, by_pi.output
    ok = run_cli(*base, "--verdict", "rejected", "--user", STEWARD, "--comment", "bad codes")
    assert ok.exit_code == 0, ok.output
    assert "signed" in ok.output
