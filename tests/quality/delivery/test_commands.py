"""Format x command: every command that takes a delivery reads every format through
the one reader, or stops with a one-line error (docs/deliveries.md holds the table)."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from tests.access_requests.support import PASSPHRASE, STEWARD
from tests.quality.delivery.support import WRITERS, read_delivery_table

REGISTER = "ekonomiskt_bistand"
FORMATS = ["parquet", "csv", "fixed", "dta", "sas7bdat", "xpt", "sav"]
REAL = Path("/work/shared/testdata/formats")


@pytest.fixture(scope="module")
def table(clean_synthetic):
    table = read_delivery_table(clean_synthetic / REGISTER)
    table = table.filter(pc.equal(table.column("statistikar"), 2016))
    return table.set_column(
        table.schema.get_field_index("statistikar"),
        "statistikar",
        table.column("statistikar").cast("int64"),
    )


@pytest.fixture(scope="module")
def deliveries(tmp_path_factory, table):
    """One folder per format, each holding the register as one file."""
    root = tmp_path_factory.mktemp("deliveries")
    paths = {}
    for kind in FORMATS:
        (root / kind).mkdir()
        paths[kind] = WRITERS[kind](table, root / kind, REGISTER)
    return paths


def _ok(run_cli, *args, env=None):
    result = run_cli(*args, env=env)
    assert result.exit_code == 0, (args, result.output)
    return result.output


def _outcomes(summary: dict) -> list:
    return sorted(
        (o["year"], o["check"], o["variable"] or "", o["success"], o["unexpected_count"])
        for o in summary["outcomes"]
        if o["check"] != "readable"
    )


@pytest.mark.parametrize("kind", FORMATS)
def test_quality_commands_read_every_format(run_cli, tmp_path, deliveries, table, kind):
    data = str(deliveries[kind].parent)  # the folder, as a steward gives it
    out = tmp_path / "run"
    said = _ok(run_cli, "quality", "run", "-r", REGISTER, "--in", data, "--out", str(out))
    assert f"{table.num_rows:,} rows" in said and "0 critical" in said
    summary = json.loads((out / "summary.json").read_text())
    assert summary["rows"] == table.num_rows and summary["critical_failed"] == 0
    # the same findings, expectation by expectation, as on the Parquet delivery
    base = tmp_path / "base"
    _ok(
        run_cli,
        "quality",
        "run",
        "-r",
        REGISTER,
        "--in",
        str(deliveries["parquet"].parent),
        "--out",
        str(base),
    )
    assert _outcomes(summary) == _outcomes(json.loads((base / "summary.json").read_text()))
    if kind != "parquet":
        assert summary["delivery"]["format"] == kind
        assert summary["delivery"]["rows_rejected"] == 0
    said = _ok(
        run_cli,
        "quality",
        "missingness",
        "-r",
        REGISTER,
        "--in",
        data,
        "--out",
        str(tmp_path / "m"),
    )
    assert "1 years" in said
    said = _ok(
        run_cli, "quality", "history", "-r", REGISTER, "--in", data, "--out", str(tmp_path / "h")
    )
    assert "breaks" in said


def test_pseudonymise_reads_every_format_to_the_same_pseudonyms(run_cli, tmp_path, deliveries):
    env = {
        "MIKRODATA_HOME": str(tmp_path / "home"),
        "MIKRODATA_KEYSTORE": str(tmp_path / "keystore"),
        "MIKRODATA_KEYSTORE_PASSPHRASE": PASSPHRASE,
    }
    _ok(run_cli, "keys", "init", "--project", "P1", env=env)
    outputs = {}
    for kind in FORMATS:
        out = tmp_path / f"{kind}.parquet"
        said = _ok(
            run_cli,
            "pseudonymise",
            "--project",
            "P1",
            "--in",
            str(deliveries[kind]),
            "--out",
            str(out),
            "--register",
            REGISTER,
            "--log",
            str(tmp_path / "audit.jsonl"),
            env=env,
        )
        assert "rejected 0" in said, kind
        outputs[kind] = pq.read_table(out)
    base = outputs["parquet"]
    for kind, got in outputs.items():
        assert got.select(base.column_names).equals(base), kind


def test_extract_build_on_the_command_line_reads_a_latin1_csv(run_cli, tmp_path, deliveries, table):
    from mikrodata.access_requests import AuditLog
    from tests.access_requests.support import new_approved_request, steward_store

    env = {
        "MIKRODATA_AUDIT_LOG": str(tmp_path / "audit.jsonl"),
        "MIKRODATA_KEYSTORE": str(tmp_path / "keystore"),
        "MIKRODATA_KEYSTORE_PASSPHRASE": PASSPHRASE,
        "MIKRODATA_USER": STEWARD,
    }
    _ok(run_cli, "keys", "init", "--project", "P2026-001", env=env)
    store = steward_store(tmp_path / "keystore")
    request = new_approved_request(tmp_path, AuditLog(tmp_path / "audit.jsonl"), store=store)
    registers = deliveries["csv"].parent
    said = _ok(
        run_cli,
        "extract",
        "build",
        "--request",
        str(request),
        "--registers",
        str(registers),
        "--out",
        str(tmp_path / "extract"),
        "--encoding",
        "latin-1",
        "--delimiter",
        ";",
        env=env,
    )
    assert f"read from csv, 0 of {table.num_rows} rows unreadable" in said
    manifest = json.loads((tmp_path / "extract" / "manifest.json").read_text())
    assert manifest["delivery_checks"][REGISTER].startswith("passed")


def test_a_file_that_cannot_be_read_is_a_one_line_error_in_every_command(run_cli, tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    data = (REAL / "sample.sas7bdat").read_bytes()
    (broken / f"{REGISTER}.sas7bdat").write_bytes(data[: len(data) // 3])
    for command in ("run", "missingness", "history"):
        result = run_cli(
            "quality", command, "-r", REGISTER, "--in", str(broken), "--out", str(tmp_path / "o")
        )
        assert result.exit_code == 11, result.output
        assert f"{REGISTER}.sas7bdat" in result.output
        assert result.output.count("\n") == 1 and "Traceback" not in result.output
    env = {
        "MIKRODATA_HOME": str(tmp_path / "home"),
        "MIKRODATA_KEYSTORE": str(tmp_path / "keystore"),
        "MIKRODATA_KEYSTORE_PASSPHRASE": PASSPHRASE,
    }
    _ok(run_cli, "keys", "init", "--project", "P1", env=env)
    result = run_cli(
        "pseudonymise",
        "--project",
        "P1",
        "--in",
        str(broken / f"{REGISTER}.sas7bdat"),
        "--out",
        str(tmp_path / "o.parquet"),
        "--column",
        "personnummer",
        env=env,
    )
    assert result.exit_code == 11 and "cannot be read as a SAS file" in result.output
    result = run_cli(
        "pseudonymise",
        "--project",
        "P1",
        "--in",
        str(broken),
        "--out",
        str(tmp_path / "o.parquet"),
        "--column",
        "personnummer",
        env=env,
    )
    assert result.exit_code == 11 and "no input file" in result.output


def _keys(run_cli, tmp_path, project="P1"):
    env = {
        "MIKRODATA_HOME": str(tmp_path / "home"),
        "MIKRODATA_KEYSTORE": str(tmp_path / "keystore"),
        "MIKRODATA_KEYSTORE_PASSPHRASE": PASSPHRASE,
    }
    if not (tmp_path / "keystore").exists():
        _ok(run_cli, "keys", "init", "--project", project, env=env)
    return env


def test_cohort_files_and_rekey_read_every_format(run_cli, tmp_path, deliveries, table):
    from mikrodata.toolkit.extract.population import _read_cohort

    want = table.column("personnummer").to_pylist()
    env = _keys(run_cli, tmp_path)
    _ok(run_cli, "keys", "rotate", "--project", "P1", env=env)
    pairs = {}
    for kind in FORMATS:
        assert _read_cohort(deliveries[kind], "personnummer").to_pylist() == want, kind
        out = tmp_path / f"rekey-{kind}.parquet"
        said = _ok(
            run_cli,
            "keys",
            "rekey",
            "--project",
            "P1",
            "--in",
            str(deliveries[kind]),
            "--column",
            "personnummer",
            "--from",
            "1",
            "--to",
            "2",
            "--out",
            str(out),
            env=env,
        )
        assert "pairs" in said
        pairs[kind] = pq.read_table(out).sort_by("old_pseudonym")
    assert pairs["parquet"].num_rows == len(set(want))
    for kind, got in pairs.items():
        assert got.equals(pairs["parquet"]), kind


def test_unreadable_cohort_files_and_rekey_inputs_are_one_line_errors(run_cli, tmp_path):
    from mikrodata.toolkit.errors import BadInputError
    from mikrodata.toolkit.extract.population import _read_cohort

    data = (REAL / "sample.dta").read_bytes()
    cut = tmp_path / "cohort.dta"
    cut.write_bytes(data[: len(data) // 3])
    with pytest.raises(BadInputError, match="cohort.dta"):
        _read_cohort(cut, "personnummer")
    with pytest.raises(BadInputError, match="is a directory"):
        _read_cohort(tmp_path, "personnummer")
    env = _keys(run_cli, tmp_path)
    for path, message in ((cut, "cannot be read as a Stata file"), (tmp_path, "no input file")):
        result = run_cli(
            "keys",
            "rekey",
            "--project",
            "P1",
            "--in",
            str(path),
            "--column",
            "personnummer",
            "--from",
            "1",
            "--to",
            "2",
            "--out",
            str(tmp_path / "r.parquet"),
            env=env,
        )
        assert result.exit_code == 11 and message in result.output, result.output
        assert result.output.count("\n") == 1


def test_extract_build_stops_on_a_truncated_sas_delivery(run_cli, tmp_path):
    from mikrodata.access_requests import AuditLog
    from tests.access_requests.support import new_approved_request, steward_store

    env = {
        "MIKRODATA_AUDIT_LOG": str(tmp_path / "audit.jsonl"),
        "MIKRODATA_KEYSTORE": str(tmp_path / "keystore"),
        "MIKRODATA_KEYSTORE_PASSPHRASE": PASSPHRASE,
        "MIKRODATA_USER": STEWARD,
    }
    _ok(run_cli, "keys", "init", "--project", "P2026-001", env=env)
    store = steward_store(tmp_path / "keystore")
    request = new_approved_request(tmp_path, AuditLog(tmp_path / "audit.jsonl"), store=store)
    registers = tmp_path / "registers"
    registers.mkdir()
    data = (REAL / "sample.sas7bdat").read_bytes()
    (registers / f"{REGISTER}.sas7bdat").write_bytes(data[: len(data) // 3])
    result = run_cli(
        "extract",
        "build",
        "--request",
        str(request),
        "--registers",
        str(registers),
        "--out",
        str(tmp_path / "extract"),
        env=env,
    )
    assert result.exit_code == 11, result.output
    assert f"{REGISTER}.sas7bdat cannot be read as a SAS file" in result.output
    assert not (tmp_path / "extract").exists()


def test_unreadable_rows_stop_extract_build_in_its_delivery_checks(run_cli, tmp_path, table):
    from mikrodata.access_requests import AuditLog
    from tests.access_requests.support import new_approved_request, steward_store

    env = {
        "MIKRODATA_AUDIT_LOG": str(tmp_path / "audit.jsonl"),
        "MIKRODATA_KEYSTORE": str(tmp_path / "keystore"),
        "MIKRODATA_KEYSTORE_PASSPHRASE": PASSPHRASE,
        "MIKRODATA_USER": STEWARD,
        "MIKRODATA_HOME": str(tmp_path / "home"),
    }
    _ok(run_cli, "keys", "init", "--project", "P2026-001", env=env)
    store = steward_store(tmp_path / "keystore")
    request = new_approved_request(tmp_path, AuditLog(tmp_path / "audit.jsonl"), store=store)
    registers = tmp_path / "registers"
    registers.mkdir()
    path = WRITERS["csv"](table, registers, REGISTER)
    lines = path.read_bytes().split(b"\r\n")
    j = lines[0].split(b";").index(b"manad")
    fields = lines[3].split(b";")
    fields[j] = b"mars"
    lines[3] = b";".join(fields)
    path.write_bytes(b"\r\n".join(lines))
    result = run_cli(
        "extract",
        "build",
        "--request",
        str(request),
        "--registers",
        str(registers),
        "--out",
        str(tmp_path / "extract"),
        env=env,
    )
    assert result.exit_code == 15, result.output
    assert "readable" in result.output and "mars" not in result.output
    assert not (tmp_path / "extract").exists()
