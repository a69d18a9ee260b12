"""A delivery a reviewer has signed off is not checked again by every extract build: the
build finds the signed sign-off of this very delivery (its checksum) in the verified
audit log and says so in the manifest; a changed delivery is checked again."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mikrodata.access_requests import AuditLog
from mikrodata.quality.run import run_quality
from mikrodata.quality.signoff import sign_off
from mikrodata.toolkit.extract import synthetic_register
from tests.access_requests.support import (
    STEWARD,
    make_keystore,
    new_approved_request,
    steward_build,
    steward_store,
)

YEARS = (2019, 2020)
REGISTERS = {
    "ekonomiskt_bistand": {
        "years": "2019-2020",
        "variables": ["hushallsid", "roll", "kommun", "belopp_forsorjningsstod"],
    }
}


@pytest.fixture
def setup(tmp_path):
    keystore = make_keystore(tmp_path / "keystore")
    store = steward_store(keystore)
    log = AuditLog(tmp_path / "audit.jsonl")
    (tmp_path / "requests").mkdir()
    request = new_approved_request(tmp_path / "requests", log, store=store, registers=REGISTERS)
    root = tmp_path / "registers"
    synthetic_register("ekonomiskt_bistand", YEARS, 60, root, seed=3)
    return {"keystore": keystore, "store": store, "log": log, "request": request, "root": root}


def _build(setup, tmp_path, name):
    return steward_build(
        setup["request"],
        setup["root"],
        tmp_path / name,
        setup["keystore"],
        setup["log"],
        rejects=tmp_path / f"{name}-rejects",
        delivery_checks=True,  # what these tests are about
    )


def test_a_signed_off_delivery_is_not_checked_again_until_it_changes(setup, tmp_path):
    run = tmp_path / "review"
    report = run_quality("ekonomiskt_bistand", setup["root"], run, data_docs=False)
    assert not report.critical_failures
    event = sign_off(
        run,
        request=setup["request"],
        verdict="accepted",
        user=STEWARD,
        audit=setup["log"],
        signer=setup["store"],
    )
    built = _build(setup, tmp_path, "extract")
    note = built.manifest["delivery_checks"]["ekonomiskt_bistand"]
    assert note.startswith("passed (0 year(s) checked)")
    assert "2 year(s) signed off already" in note and str(event["seq"]) in note

    # One changed value is another delivery: its years are checked again.
    path = next((setup["root"] / "ekonomiskt_bistand").rglob("*.parquet"))
    table = pq.read_table(path)
    amounts = table.column("belopp_forsorjningsstod").to_pylist()
    amounts[0] = (amounts[0] or 0) + 1
    i = table.schema.get_field_index("belopp_forsorjningsstod")
    table = table.set_column(i, "belopp_forsorjningsstod", pa.array(amounts, table.schema[i].type))
    pq.write_table(table, path)
    again = _build(setup, tmp_path, "extract")
    note = again.manifest["delivery_checks"]["ekonomiskt_bistand"]
    assert note == "passed (2 year(s) checked)"


def test_a_rejected_run_is_no_reason_to_skip_the_checks(setup, tmp_path):
    run = tmp_path / "review"
    run_quality("ekonomiskt_bistand", setup["root"], run, data_docs=False)
    sign_off(
        run,
        request=setup["request"],
        verdict="rejected",
        comment="kommun looks wrong",
        user=STEWARD,
        audit=setup["log"],
        signer=setup["store"],
    )
    built = _build(setup, tmp_path, "extract")
    assert built.manifest["delivery_checks"]["ekonomiskt_bistand"] == ("passed (2 year(s) checked)")
