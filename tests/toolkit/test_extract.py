"""Project extracts: built only through the gate, containing only what was approved,
pseudonymised, accounted for row by row, atomic, and tamper-evident."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mikrodata.access_requests import AuditLog, load_request, read_state, transition
from mikrodata.pseudonymisation import KeyStore, is_pseudonym, parse_identifiers, pseudonymise_table
from mikrodata.toolkit.errors import (
    AccessRefused,
    BadInputError,
    IntegrityError,
    KeyStoreError,
    MikrodataError,
)
from mikrodata.toolkit.extract import read_manifest, verify_extract
from mikrodata.toolkit.extract.build import build_lock_path
from mikrodata.toolkit.rejects import REJECT_FIELDS
from tests.access_requests.support import (
    FAULT_YEAR,
    PASSPHRASE,
    PI,
    RESEARCHER,
    STEWARD,
    approved_extract,
    make_delivery,
    make_keystore,
    move,
    new_approved_request,
    steward_build,
    steward_store,
    write_request,
)


@pytest.fixture(scope="module")
def delivery(tmp_path_factory):
    return make_delivery(tmp_path_factory.mktemp("registers"))


@pytest.fixture(scope="module")
def keystore(tmp_path_factory):
    return make_keystore(tmp_path_factory.mktemp("keys") / "keystore")


@pytest.fixture
def log(tmp_path):
    return AuditLog(tmp_path / "audit.jsonl")


@pytest.fixture
def steward(keystore):
    """The steward's key store, the one the builds use, trusted in this test."""
    return steward_store(keystore)


@pytest.fixture
def request_path(tmp_path, log, steward):
    return new_approved_request(tmp_path, log, store=steward)


def _build(request_path, delivery, keystore, tmp_path, log, **kwargs):
    # The delivery has deliberate identifier faults, to test the reject path (the
    # delivery checks are off: they would stop it first).
    return steward_build(
        request_path,
        delivery["root"],
        tmp_path / "extract",
        keystore,
        log,
        rejects=tmp_path / "rejects",
        **kwargs,
    )


@pytest.fixture
def built(request_path, delivery, keystore, tmp_path, log):
    return _build(request_path, delivery, keystore, tmp_path, log)


def _extract_names(register, names):
    """Approved variables as an extract names them (the catalogue's extract_name)."""
    from mikrodata.quality.catalogue import load

    reg = load(register)
    return tuple(reg.variable(n).extract_name if n in reg.names else n for n in names)


def _table(result, register="ekonomiskt_bistand"):
    return pq.read_table(result.out / register / "part-0.parquet")


def test_extract_contains_exactly_the_approved_columns_and_years(built, request_path):
    request = load_request(request_path)
    table = _table(built)
    names = request.columns("ekonomiskt_bistand")
    assert tuple(table.column_names) == _extract_names("ekonomiskt_bistand", names)
    years = set(table.column("statistikar").to_pylist())
    assert years == set(request.register("ekonomiskt_bistand").years)  # 2010, 2011, 2021 left out
    for not_approved in ("flykting", "kon", "andamal", "distrikt", "belopp_livsforing_ovrigt"):
        assert not_approved not in table.column_names
    assert set(built.manifest["registers"]) == {"ekonomiskt_bistand"}
    assert sorted(p.name for p in built.out.iterdir()) == [
        "approval.json",
        "ekonomiskt_bistand",
        "manifest.json",
        "manifest.sig",
    ]


def test_no_raw_personnummer_anywhere_in_the_extract(built, delivery):
    raw = delivery["raw_ids"]
    for path in built.out.rglob("*"):
        if not path.is_file():
            continue
        if path.suffix == ".parquet":
            table = pq.read_table(path)
            for name in table.column_names:
                col = table.column(name)
                if not pa.types.is_string(col.type):
                    continue
                values = set(col.drop_null().to_pylist())
                assert not values & raw, name
                parsed = parse_identifiers(pa.array(sorted(values), pa.string()))
                assert parsed["reason"].notna().all(), f"{name} holds valid personnummer"
        text = path.read_bytes()
        for value in list(raw)[:200]:
            assert value.encode() not in text
            assert value[2:].encode() not in text
    table = _table(built)
    # Named as the catalogue declares them (Variable.extract_name), not as delivered.
    assert "personnummer" not in table.column_names and "hushallsid" not in table.column_names
    for name in ("lopnr", "lopnr_hushall"):
        assert is_pseudonym(table.column(name).to_pylist()).all()


def test_rows_are_accounted_for_and_rejects_stay_outside(built, tmp_path, delivery):
    entry = built.manifest["registers"]["ekonomiskt_bistand"]
    assert entry["rows_in"] == entry["rows_out"] + entry["rows_rejected"]
    assert entry["rows_rejected"] == delivery["faulty_rows"]
    assert entry["rows_out"] == _table(built).num_rows
    table = pq.read_table(tmp_path / "rejects" / "ekonomiskt_bistand.parquet")
    # One reject record for both the extract and `mikrodata pseudonymise` (toolkit.rejects).
    assert table.column_names[: len(REJECT_FIELDS)] == list(REJECT_FIELDS)
    assert "value_personnummer" in table.column_names  # whole rows: the steward corrects them
    rejects = table.to_pylist()
    assert len(rejects) == 4
    assert sorted((r["source_row"], r["column"], r["reason"]) for r in rejects) == [
        (1, "personnummer", "check_digit"),
        (2, "personnummer", "missing"),
        (3, "personnummer", "characters"),
        (4, "hushallsid", "missing"),
    ]
    assert all(f"statistikar={FAULT_YEAR}" in r["source_file"] for r in rejects)
    assert not (built.out / "rejects").exists()
    # They hold raw identifiers: the steward's only.
    assert (tmp_path / "rejects").stat().st_mode & 0o777 == 0o700
    assert (tmp_path / "rejects" / "ekonomiskt_bistand.parquet").stat().st_mode & 0o777 == 0o600


def test_sorted_by_pseudonym_then_period(built):
    table = _table(built)
    keys = list(
        zip(
            table.column("lopnr").to_pylist(),
            table.column("statistikar").to_pylist(),
            table.column("manad").to_pylist(),
            strict=True,
        )
    )
    assert keys == sorted(keys)
    assert built.manifest["registers"]["ekonomiskt_bistand"]["sort_order"] == [
        "lopnr",
        "statistikar",
        "manad",
    ]


def test_derived_variables_match_the_identifier(built, delivery, keystore):
    key = KeyStore.open(keystore, PASSPHRASE).project_key("P2026-001")
    raw = sorted(v for v in delivery["raw_ids"] if parse_identifiers([v])["reason"].isna().all())
    mapped = pseudonymise_table(
        pa.table({"personnummer": raw, "raw": raw}), key, ["personnummer"], check_residual=False
    )
    by_pseudonym = dict(
        zip(
            mapped.table.column("personnummer").to_pylist(),
            mapped.table.column("raw").to_pylist(),
            strict=True,
        )
    )
    rows = _table(built).to_pylist()
    assert rows
    for row in rows[::37]:
        parsed = parse_identifiers([by_pseudonym[row["lopnr"]]]).iloc[0]
        born = parsed["birth_date"]
        assert row["birth_year"] == born.year
        assert row["sex"] == parsed["sex"]
        # age on the last day of the month the row covers
        import calendar
        import datetime as dt

        last = dt.date(
            row["statistikar"],
            row["manad"],
            calendar.monthrange(row["statistikar"], row["manad"])[1],
        )
        age = last.year - born.year - ((last.month, last.day) < (born.month, born.day))
        assert row["age"] == age


def test_manifest_records_what_the_issue_asks(built, request_path, keystore, log):
    m = read_manifest(built.out)
    key = KeyStore.open(keystore, PASSPHRASE).project_key("P2026-001")
    assert m.key == {"key_id": key.key_id, "version": key.version}
    assert m.approval_hash == read_state(request_path, log).approval_hash
    assert m.catalogue_version.startswith("sha256:")
    assert m.code_version and not m.dummy
    assert m.delivery_checks["ekonomiskt_bistand"] == "skipped by the caller"
    files = {f.path: f for f in m.files}
    assert set(files) == {"approval.json", "ekonomiskt_bistand/part-0.parquet"}
    assert len(files["ekonomiskt_bistand/part-0.parquet"].sha256) == 64
    text = (built.out / "manifest.json").read_text()
    assert PASSPHRASE not in text
    built_events = [e for e in log.events() if e["action"] == "extract_built"]
    assert built_events[-1]["details"]["manifest_sha256"] == built.manifest_sha256
    assert "signature" in built_events[-1]
    state = read_state(request_path, log)
    assert state.state == "extract_delivered" and state.history[-1]["signed"]
    assert log.contains(m.audit_head["seq"], m.audit_head["hash"])
    log.verify()


def test_verify_passes_and_is_audited(built, request_path, log, steward):
    result = verify_extract(built.out, request=request_path, user=PI, audit=log)
    assert result.approval_checked and not result.dummy
    assert result.signed_by == steward.public_key().key_id
    assert result.approval.request.project == "P2026-001"
    assert log.events()[-1]["action"] == "extract_verified"


def _tamper_file(out):
    path = out / "ekonomiskt_bistand" / "part-0.parquet"
    table = pq.read_table(path)
    table = table.slice(1)
    pq.write_table(table, path)


def _tamper_manifest_consistently(out):
    # Edit the data AND update the manifest to match: only the signature shows it.
    _tamper_file(out)
    m = json.loads((out / "manifest.json").read_text())
    from mikrodata.access_requests import file_sha256

    path = out / "ekonomiskt_bistand" / "part-0.parquet"
    entry = next(f for f in m["files"] if f["path"] == "ekonomiskt_bistand/part-0.parquet")
    entry.update(sha256=file_sha256(path), bytes=path.stat().st_size, rows=entry["rows"] - 1)
    (out / "manifest.json").write_text(json.dumps(m, indent=2, sort_keys=True) + "\n")


def _link_to_the_registers(out):
    # A symlink inside the extract could reach the raw registers.
    (out / "ekonomiskt_bistand" / "raw").symlink_to(out.parent)


def _add_file(out):
    (out / "notes.csv").write_text("a,b\n")


def _remove_file(out):
    (out / "ekonomiskt_bistand" / "part-0.parquet").unlink()


@pytest.mark.parametrize(
    "tamper,message",
    [
        (_tamper_file, "part-0.parquet: its content differs from the manifest"),
        (_tamper_manifest_consistently, "manifest.json: the signature does not match"),
        (_link_to_the_registers, "a symbolic link inside the extract"),
        (_add_file, "notes.csv: a file the manifest does not list"),
        (_remove_file, "listed in the manifest but missing"),
    ],
    ids=["file", "file and manifest", "symlink", "added", "removed"],
)
def test_tampering_with_the_extract_is_detected(built, log, tamper, message):
    tamper(built.out)
    with pytest.raises(IntegrityError, match=message):
        verify_extract(built.out, user=PI, audit=log)
    assert log.events()[-1]["action"] == "extract_verification_failed"
    log.verify()


def test_changed_approval_is_detected_by_verify(built, request_path, log):
    request_path.write_text(
        request_path.read_text().replace("min_cell_count: 10", "min_cell_count: 3")
    )
    with pytest.raises(AccessRefused, match="changed after it was approved"):
        verify_extract(built.out, request=request_path, user=PI, audit=log)


def test_rebuild_replaces_the_extract_whole(built, request_path, delivery, keystore, tmp_path, log):
    (built.out / "stale.txt").write_text("from before")
    again = _build(request_path, delivery, keystore, tmp_path, log)
    assert not (again.out / "stale.txt").exists()
    assert again.manifest["registers"] == built.manifest["registers"]
    verify_extract(again.out, request=request_path, user=STEWARD, audit=log)
    assert not list(tmp_path.glob(".extract.*.tmp"))
    # The build's own lock lives under $MIKRODATA_HOME/locks: beside the extract only the
    # audit log's locks may remain.
    locks = {p.name for p in [*tmp_path.glob("*.lock"), *tmp_path.glob(".*.lock")]}
    assert locks <= {f"{log.path.name}.lock", f".{log.path.name}.requests.lock"}


def _events(log):
    return [e["action"] for e in log.events()]


def _close(request_path, log, monkeypatch):
    move(request_path, "closed", log, store=steward_store())


def _change(request_path, log, monkeypatch):
    request_path.write_text(request_path.read_text().replace("2012-2020", "2012-2021"))


def _expire_by_date(request_path, log, monkeypatch):
    import datetime as dt

    from mikrodata.toolkit import clock

    monkeypatch.setattr(clock, "today", lambda: dt.date(2030, 1, 1))


@pytest.mark.parametrize(
    "setup,kwargs,error,message",
    [
        (_close, {}, AccessRefused, "project P2026-001 is closed"),
        (_change, {}, AccessRefused, "changed after it was approved"),
        (None, {"user": RESEARCHER}, AccessRefused, "not a steward of project P2026-001"),
        (None, {"user": "mallory"}, AccessRefused, "not a steward"),
        (_expire_by_date, {}, AccessRefused, "expired on 2029-12-31"),
    ],
    ids=["closed", "changed", "researcher", "outsider", "expired"],
)
def test_gate_refusals_write_nothing_but_a_refusal_event(
    request_path, delivery, keystore, tmp_path, log, monkeypatch, setup, kwargs, error, message
):
    if setup is not None:
        setup(request_path, log, monkeypatch)
    before = _events(log)
    with pytest.raises(error, match=message):
        _build(request_path, delivery, keystore, tmp_path, log, **kwargs)
    assert not (tmp_path / "extract").exists() and not (tmp_path / "rejects").exists()
    assert _events(log) == before + ["access_refused"]
    log.verify()


def test_unapproved_request_is_refused(tmp_path, log, delivery, keystore):
    from mikrodata.access_requests import create_request

    path = tmp_path / "P2026-001.yaml"
    create_request(path, "P2026-001", user=PI, audit=log)
    write_request(path)
    transition(path, "submitted", user=PI, audit=log)
    with pytest.raises(AccessRefused, match="not approved \\(state: submitted\\)"):
        _build(path, delivery, keystore, tmp_path, log)
    assert not (tmp_path / "extract").exists()


@pytest.mark.parametrize(
    "case,error,message",
    [
        ("no data", BadInputError, "no delivered files for register ekonomiskt_bistand"),
        ("wrong passphrase", KeyStoreError, "wrong passphrase"),
        ("rejects inside", BadInputError, "overlap"),
    ],
)
def test_other_errors_write_nothing(
    request_path, delivery, keystore, tmp_path, log, case, error, message
):
    registers, passphrase, rejects = delivery["root"], PASSPHRASE, tmp_path / "rejects"
    if case == "no data":
        registers = tmp_path / "empty"
        registers.mkdir()
    if case == "wrong passphrase":
        passphrase = "wrong"
    if case == "rejects inside":
        rejects = tmp_path / "extract" / "rejects"
    before = _events(log)
    with pytest.raises(error, match=message):
        steward_build(
            request_path,
            registers,
            tmp_path / "extract",
            keystore,
            log,
            rejects=rejects,
            passphrase=passphrase,
        )
    assert not (tmp_path / "extract").exists()
    assert _events(log) == before


def test_cohort_population_and_a_second_register(tmp_path, log, keystore):
    from mikrodata.toolkit.extract import synthetic_register

    regs = tmp_path / "regs"
    synthetic_register("ekonomiskt_bistand", (2015, 2016), 60, regs, seed=3)
    synthetic_register("befolkning", (2015, 2016), 60, regs, seed=3)  # same people
    everyone = sorted(set(pq.read_table(regs / "befolkning").column("personnummer").to_pylist()))
    cohort = everyone[:20] + ["12345"]  # one unusable line
    (tmp_path / "cohort.csv").write_text("personnummer\n" + "\n".join(cohort) + "\n")
    made = approved_extract(
        tmp_path,
        regs,
        keystore,
        log=log,
        request={
            "registers": {
                "ekonomiskt_bistand": {"years": "2015-2016", "variables": ["kommun"]},
                "befolkning": {"years": [2016], "variables": ["kon"]},
            },
            "population": {"type": "cohort_file", "file": "cohort.csv"},
            "derived_variables": ["birth_year"],
        },
        delivery_checks=True,  # a clean delivery: the checks run, as by default
    )
    path, result = made.request, made.result
    m = result.manifest
    assert all(v.startswith("passed") for v in m["delivery_checks"].values())
    assert m["population"] == {"type": "cohort_file", "persons": 20, "cohort_rows_rejected": 1}
    bef = pq.read_table(result.out / "befolkning" / "part-0.parquet")
    assert bef.column_names == ["lopnr", "ar", "kon", "birth_year"]
    assert set(bef.column("ar").to_pylist()) == {2016}
    assert len(bef.column("lopnr").unique()) <= 20
    eb = m["registers"]["ekonomiskt_bistand"]
    assert eb["rows_outside_population"] > 0
    assert eb["rows_read"] == eb["rows_outside_population"] + eb["rows_in"]
    assert pq.read_table(tmp_path / "rejects" / "cohort.parquet").num_rows == 1
    # the same person has the same pseudonym in both registers
    eb_ids = set(pq.read_table(result.out / "ekonomiskt_bistand").column("lopnr").to_pylist())
    assert eb_ids & set(bef.column("lopnr").to_pylist())
    verify_extract(result.out, request=path, user=RESEARCHER, audit=log)


def test_a_second_build_of_the_same_extract_waits_its_turn(
    request_path, delivery, keystore, tmp_path, log
):
    import subprocess
    import sys

    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from filelock import FileLock; "
            "l = FileLock(sys.argv[1]); l.acquire(); print('held', flush=True); time.sleep(30)",
            str(build_lock_path(tmp_path / "extract")),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(MikrodataError, match="another build is writing"):
            _build(request_path, delivery, keystore, tmp_path, log)
    finally:
        holder.kill()
        holder.wait()
    assert not (tmp_path / "extract").exists()


def test_a_raw_number_in_free_text_in_a_later_year_stops_the_build(
    request_path, delivery, keystore, tmp_path, log
):
    # A copy of the delivery with one personnummer written into a code column of the
    # last approved year: not in the first batch, and one value among thousands.
    import shutil

    root = tmp_path / "registers"
    shutil.copytree(delivery["root"], root)
    path = root / "ekonomiskt_bistand" / "statistikar=2020" / "part-0.parquet"
    table = pq.read_table(path)
    raw = table.column("personnummer")[5].as_py()
    kommun = table.column("kommun").to_pylist()
    kommun[-1] = f"ring {raw[2:8]}-{raw[8:]}"
    table = table.set_column(table.schema.get_field_index("kommun"), "kommun", pa.array(kommun))
    pq.write_table(table, path)
    with pytest.raises(IntegrityError, match="kommun") as info:
        _build(request_path, {"root": root}, keystore, tmp_path, log)
    assert raw[2:8] not in str(info.value) + str(info.value.hint)
    assert not (tmp_path / "extract").exists()
