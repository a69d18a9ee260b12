"""Formats out: ``extract build --format stata|sas-xpt|spss|csv`` adds, inside the signed
extract, a copy of each register in each format; ``Project.export`` writes one into the
project's outputs folder. Every copy is read back with pyreadstat or pandas and compared
with the extract's Parquet file; Stata and SPSS value labels are the catalogue's."""

from __future__ import annotations

import json
import math
import shutil

import pandas as pd
import pyarrow.parquet as pq
import pyreadstat
import pytest

import mikrodata
from mikrodata.access_requests import AuditLog
from mikrodata.pseudonymisation import TrustStore
from mikrodata.quality.catalogue import load
from mikrodata.toolkit.errors import BadInputError, ExportRefused, IntegrityError
from mikrodata.toolkit.extract import build_dummy_extract, verify_extract
from mikrodata.toolkit.extract.formats import parse_formats
from mikrodata.toolkit.extract.manifest import Manifest
from tests.access_requests.support import (
    RESEARCHER,
    approved_extract,
    make_delivery,
    make_keystore,
)

REGISTER = "ekonomiskt_bistand"
ALL = ["stata,sas-xpt", "spss", "csv"]  # a comma list and repeats, as the CLI takes them


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("formats")
    delivery = make_delivery(root / "registers", persons=60)
    keystore = make_keystore(root / "keys" / "keystore")
    made = approved_extract(
        root, delivery["root"], keystore, requests=root / "requests", formats=ALL
    )
    return {
        "result": made.result,
        "request": made.request,
        "raw_ids": delivery["raw_ids"],
        "registers": delivery["root"],
        "trust": TrustStore([made.store.public_key()]),
        "root": root,
    }


def _parquet(built) -> pd.DataFrame:
    return pq.read_table(built["result"].out / REGISTER / "part-0.parquet").to_pandas()


def _export(built, fmt):
    entry = built["result"].manifest["registers"][REGISTER]
    return next(e for e in entry["exports"] if e["format"] == fmt)


def _same(have, want, *, empty_is_missing=False) -> bool:
    """One column's values equal, position by position (a missing value as missing)."""

    def norm(v):
        if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA:
            return None
        if empty_is_missing and v == "":
            return None
        if isinstance(v, float) and v.is_integer():
            return int(v)
        return v

    return [norm(v) for v in have] == [norm(v) for v in want]


def test_the_copies_are_signed_in_a_format_3_manifest_and_verify(built):
    m = built["result"].manifest
    assert m["format"] == "mikrodata-extract/3"
    paths = {e["path"] for e in m["registers"][REGISTER]["exports"]}
    assert paths == {
        "formats/stata/ekonomiskt_bistand.dta",
        "formats/sas-xpt/ekonomiskt_bistand.xpt",
        "formats/spss/ekonomiskt_bistand.sav",
        "formats/csv/ekonomiskt_bistand.csv",
    }
    listed = {f["path"] for f in m["files"]}
    assert paths <= listed
    rows = m["registers"][REGISTER]["rows_out"]
    assert all(e["rows"] == rows for e in m["registers"][REGISTER]["exports"])
    verify_extract(built["result"].out, trust=built["trust"], record=False)


def test_stata_round_trip_keeps_rows_values_and_leading_zeros(built):
    want = _parquet(built)
    have, meta = pyreadstat.read_dta(built["result"].out / _export(built, "stata")["path"])
    assert list(have.columns) == list(want.columns)
    assert len(have) == len(want)
    labelled = set(_export(built, "stata")["value_labels"])
    for name in want.columns:
        if name in labelled:  # integer-coded: the code as a number
            codes = [None if math.isnan(v) else str(int(v)) for v in have[name]]
            assert _same(codes, want[name]), name
        else:
            assert _same(have[name], want[name], empty_is_missing=True), name
    # kommun keeps its leading zeros as a string column
    assert "kommun" in _export(built, "stata")["strings_kept"]
    assert meta.readstat_variable_types["kommun"] == "string"
    assert any(v.startswith("0") for v in want["kommun"])
    assert list(have["kommun"]) == list(want["kommun"])
    # integers are Stata integers, not doubles
    assert meta.readstat_variable_types["statistikar"] == "int32"


def test_stata_value_and_variable_labels_are_the_catalogues(built):
    reg = load(REGISTER)
    _, meta = pyreadstat.read_dta(
        built["result"].out / _export(built, "stata")["path"], metadataonly=True
    )
    labelled = _export(built, "stata")["value_labels"]
    assert {"roll", "hushallstyp", "forsorjningshinder"} <= set(labelled)
    for name in labelled:
        expected = {int(c.code): c.label_en for c in reg.variable(name).codes.codes}
        assert meta.variable_value_labels[name] == expected
    assert "kommun" not in meta.variable_value_labels  # Stata labels numbers only
    assert meta.column_names_to_labels["kommun"] == reg.variable("kommun").label_en
    assert meta.column_names_to_labels["lopnr"].startswith("Project pseudonym")


def test_swedish_labels_on_request(built, tmp_path):
    reg = load(REGISTER)
    project = mikrodata.open_extract(
        built["result"].out, user=RESEARCHER, trust=built["trust"], outputs=tmp_path
    )
    path = project.export(REGISTER, "eb_sv.dta", format="stata", labels="sv")
    _, meta = pyreadstat.read_dta(path, metadataonly=True)
    assert meta.column_names_to_labels["roll"] == reg.variable("roll").label_sv
    assert meta.variable_value_labels["roll"] == {
        int(c.code): c.label_sv for c in reg.variable("roll").codes.codes
    }


def test_sas_transport_maps_long_names_and_keeps_values(built):
    want = _parquet(built)
    entry = _export(built, "sas-xpt")
    have, meta = pyreadstat.read_xport(built["result"].out / entry["path"])
    names = entry["names"]
    assert names["belopp_forsorjningsstod"] == "belopp_f"
    assert all(len(n) <= 8 for n in have.columns)
    assert list(have.columns) == [names.get(n, n) for n in want.columns]
    assert len(have) == len(want)
    for name in want.columns:  # no value labels in the format: codes stay codes
        assert _same(have[names.get(name, name)], want[name], empty_is_missing=True), name
    assert list(have["kommun"]) == list(want["kommun"])


def test_spss_keeps_string_codes_with_the_catalogues_value_labels(built):
    reg = load(REGISTER)
    want = _parquet(built)
    have, meta = pyreadstat.read_sav(built["result"].out / _export(built, "spss")["path"])
    assert len(have) == len(want)
    for name in want.columns:
        assert _same(have[name], want[name], empty_is_missing=True), name
    assert (
        meta.variable_value_labels["kommun"]["0114"]
        == reg.variable("kommun").codes.get("0114").label_en
    )


def test_csv_is_plain_utf8_with_codes(built):
    want = _parquet(built)
    path = built["result"].out / _export(built, "csv")["path"]
    raw = path.read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf")
    header = raw.decode("utf-8").splitlines()[0]
    assert header.replace('"', "").split(",") == list(want.columns)
    strings = [c for c in want.columns if want[c].dtype != "int64" and want[c].dtype != float]
    have = pd.read_csv(path, dtype={c: str for c in strings}, keep_default_na=False)
    assert len(have) == len(want)
    for name in want.columns:
        assert _same(have[name], want[name], empty_is_missing=True), name
    assert list(have["kommun"]) == list(want["kommun"])


def test_no_raw_personnummer_in_any_copy(built):
    raw = {i for i in built["raw_ids"] if i and i.isdigit()}
    assert raw
    for path in (built["result"].out / "formats").rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            for pnr in raw:
                assert pnr.encode() not in data, path.name
                assert pnr[-10:].encode() not in data, path.name


def test_verify_catches_a_changed_byte_in_a_copy(built, tmp_path):
    copy = tmp_path / "extract"
    shutil.copytree(built["result"].out, copy)
    dta = copy / "formats" / "stata" / f"{REGISTER}.dta"
    data = bytearray(dta.read_bytes())
    data[len(data) // 2] ^= 0x01
    dta.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match=r"ekonomiskt_bistand\.dta.*differs"):
        verify_extract(copy, trust=built["trust"], record=False)
    dta.unlink()
    with pytest.raises(IntegrityError, match="listed in the manifest but missing"):
        verify_extract(copy, trust=built["trust"], record=False)


def test_unknown_format_is_one_line_listing_the_choices(built, run_cli):
    with pytest.raises(BadInputError) as caught:
        parse_formats(["stata,xlsx"])
    assert "xlsx" in str(caught.value)
    result = run_cli(
        "extract",
        "build",
        "--request",
        str(built["request"]),
        "--registers",
        str(built["registers"]),
        "--out",
        str(built["root"] / "never"),
        "--format",
        "stata,xlsx",
    )
    assert result.exit_code == 11
    lines = result.output.strip().splitlines()
    assert len(lines) == 1
    assert "xlsx" in lines[0]
    assert "parquet, stata, sas-xpt, spss, csv" in lines[0]
    assert not (built["root"] / "never").exists()


def test_a_format_2_manifest_still_reads(built):
    doc = json.loads((built["result"].out / "manifest.json").read_text())
    doc["format"] = "mikrodata-extract/2"
    with pytest.raises(IntegrityError, match="breaks the manifest schema"):
        Manifest.from_dict(doc)  # format 2 has no exports
    for entry in doc["registers"].values():
        entry.pop("exports")
    assert Manifest.from_dict(doc).format == "mikrodata-extract/2"


def test_a_dummy_extract_gets_the_same_copies(built, tmp_path):
    result = build_dummy_extract(
        built["request"], tmp_path / "dummy", persons=80, formats=["stata", "csv"]
    )
    entry = result.manifest["registers"][REGISTER]
    assert [e["format"] for e in entry["exports"]] == ["stata", "csv"]
    verify_extract(result.out, record=False)
    have, meta = pyreadstat.read_dta(result.out / entry["exports"][0]["path"])
    assert len(have) == entry["rows_out"]
    assert "roll" in meta.variable_value_labels


def test_export_writes_only_inside_the_outputs_folder(built, tmp_path):
    outputs = tmp_path / "outputs"
    outputs.mkdir()
    project = mikrodata.open_extract(
        built["result"].out, user=RESEARCHER, trust=built["trust"], outputs=outputs
    )
    path = project.export(REGISTER, "eb.dta", format="stata")
    assert path == (outputs / "eb.dta").resolve()
    same, _ = pyreadstat.read_dta(built["result"].out / _export(built, "stata")["path"])
    mine, _ = pyreadstat.read_dta(path)
    pd.testing.assert_frame_equal(mine, same)
    for fmt, name in (("sas-xpt", "eb.xpt"), ("spss", "eb.sav"), ("csv", "eb.csv")):
        assert project.export(REGISTER, name, format=fmt).is_file()
    parquet = project.export(REGISTER, "sub/eb.parquet", format="parquet")
    assert pq.read_table(parquet).equals(
        pq.read_table(built["result"].out / REGISTER / "part-0.parquet")
    )
    with pytest.raises(ExportRefused, match="outside the project's outputs folder"):
        project.export(REGISTER, tmp_path / "elsewhere.dta")
    with pytest.raises(ExportRefused, match="outside"):
        project.export(REGISTER, "../escape.dta")
    with pytest.raises(ExportRefused, match="inside the extract"):
        project.export(REGISTER, built["result"].out / "x.dta")
    with pytest.raises(BadInputError, match="Choose from: parquet, stata"):
        project.export(REGISTER, "eb.xlsx", format="xlsx")
    assert not (tmp_path / "elsewhere.dta").exists()
    events = [e for e in AuditLog().events() if e["action"] == "extract_exported"]
    assert [e["details"]["format"] for e in events] == [
        "stata",
        "sas-xpt",
        "spss",
        "csv",
        "parquet",
    ]


def test_the_workspace_outputs_folder_is_found(built, tmp_path):
    folder = tmp_path / "P2026-001"
    shutil.copytree(built["result"].out, folder / "extract")
    (folder / "outputs").mkdir()
    project = mikrodata.open_extract(folder / "extract", user=RESEARCHER, trust=built["trust"])
    assert project.outputs == (folder / "outputs").resolve()
    with pytest.raises(ExportRefused):
        project.export(REGISTER, folder / "notebooks" / "eb.dta")
    assert project.export(REGISTER, "eb.csv", format="csv").parent == project.outputs


def test_the_command_line_writes_and_reports_the_copies(built, tmp_path, run_cli):
    out = tmp_path / "dummy"
    result = run_cli(
        "extract",
        "dummy",
        "--request",
        str(built["request"]),
        "--out",
        str(out),
        "--persons",
        "60",
        "--format",
        "stata",
        "--format",
        "sas-xpt,csv",
        "--labels",
        "sv",
    )
    assert result.exit_code == 0, result.output
    assert "stata copy formats/stata/ekonomiskt_bistand.dta" in result.output
    assert "kept as strings (codes with leading zeros; no value labels): kommun" in result.output
    assert "belopp_forsorjningsstod->belopp_f" in result.output
    _, meta = pyreadstat.read_dta(out / "formats/stata/ekonomiskt_bistand.dta", metadataonly=True)
    assert meta.column_names_to_labels["roll"] == load(REGISTER).variable("roll").label_sv
    assert run_cli("extract", "verify", str(out)).exit_code == 0


def test_dates_are_dates_in_every_format(tmp_path):
    import datetime as dt

    import pyarrow as pa

    from mikrodata.toolkit.extract.formats import write_format

    born = [dt.date(1950, 1, 31), dt.date(2001, 12, 1), None]
    table = pa.table(
        {
            "lopnr": pa.array(["a1b2c3d4e5f6a7b8"] * 3),
            "ar": pa.array([2020, 2020, 2021], pa.int64()),
            "fodelsedatum": pa.array(born, pa.date32()),
            "kon": pa.array(["1", "2", None]),
            "kommun": pa.array(["0114", "2580", "0180"]),
        }
    )
    pq.write_table(table, tmp_path / "befolkning.parquet")
    columns = [
        {"name": "lopnr", "role": "pseudonym", "type": "string", "source": "personnummer"},
        {"name": "ar", "role": "variable", "type": "integer"},
        {"name": "fodelsedatum", "role": "variable", "type": "date"},
        {"name": "kon", "role": "variable", "type": "code"},
        {"name": "kommun", "role": "variable", "type": "code"},
    ]
    readers = {
        "stata": pyreadstat.read_dta,
        "sas-xpt": pyreadstat.read_xport,
        "spss": pyreadstat.read_sav,
    }
    for fmt, read in readers.items():
        target = tmp_path / f"b.{fmt}"
        write_format(tmp_path / "befolkning.parquet", "befolkning", fmt, target, columns=columns)
        frame, meta = read(target)
        name = "fodelsed" if fmt == "sas-xpt" else "fodelsedatum"
        assert list(frame[name][:2]) == born[:2], fmt
        assert pd.isna(frame[name][2]), fmt
        assert list(frame["kommun"]) == ["0114", "2580", "0180"], fmt
    _, meta = pyreadstat.read_dta(tmp_path / "b.stata", metadataonly=True)
    assert meta.original_variable_types["fodelsedatum"] == "%td"
    kon = load("befolkning").variable("kon").codes.codes
    assert meta.variable_value_labels["kon"] == {int(c.code): c.label_en for c in kon}
    write_format(tmp_path / "befolkning.parquet", "befolkning", "csv", tmp_path / "b.csv")
    lines = (tmp_path / "b.csv").read_text(encoding="utf-8").splitlines()
    assert lines[1] == '"a1b2c3d4e5f6a7b8",2020,1950-01-31,"1","0114"'
    assert lines[3] == '"a1b2c3d4e5f6a7b8",2021,,,"0180"'


def test_a_copy_that_would_not_fit_in_memory_is_refused_and_nothing_is_written(
    built, tmp_path, run_cli, monkeypatch
):
    from mikrodata.toolkit.extract import formats

    # The estimate is the memory the copy takes while it is written: at least the
    # uncompressed table, and 8 bytes a value for the frame.
    parquet = next(built["result"].out.rglob("ekonomiskt_bistand/*.parquet"))
    meta = pq.ParquetFile(parquet).metadata
    assert formats.frame_bytes(parquet) >= 8 * meta.num_rows * meta.num_columns
    monkeypatch.setattr(formats, "available_memory", lambda: 1024)  # 1 KiB free
    with pytest.raises(BadInputError, match="needs about .* GiB of memory") as caught:
        formats.write_format(parquet, REGISTER, "stata", tmp_path / "eb.dta")
    assert "csv or parquet instead" in caught.value.hint
    assert not list(tmp_path.iterdir())
    # A researcher's export goes through the same check.
    outputs = tmp_path / "outputs"
    project = mikrodata.open_extract(
        built["result"].out, user=RESEARCHER, trust=built["trust"], outputs=outputs
    )
    with pytest.raises(BadInputError, match="the stata copy of ekonomiskt_bistand needs"):
        project.export(REGISTER, "eb.dta")
    assert not outputs.exists() or not list(outputs.iterdir())
    out = tmp_path / "dummy"
    result = run_cli(
        "extract", "dummy", "--request", str(built["request"]), "--out", str(out),
        "--persons", "60", "--format", "spss",
    )  # fmt: skip
    assert result.exit_code != 0
    assert "the spss copy of" in result.output and "Traceback" not in result.output
    assert not out.exists()
    # CSV copies stream: no memory check.
    monkeypatch.setattr(formats, "frame_bytes", lambda _: pytest.fail("checked a CSV copy"))
    formats.write_format(parquet, REGISTER, "csv", tmp_path / "eb.csv")
