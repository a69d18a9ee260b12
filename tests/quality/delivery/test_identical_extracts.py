"""The same synthetic delivery in every format gives the same extract: the same rows,
the same pseudonyms, the same checksums of the data, as the Parquet delivery.

SAS ``.sas7bdat`` files here are written by ReadStat (pyreadstat's writer), not by SAS:
files written by SAS itself are read in test_reader.py.
"""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mikrodata.access_requests import AuditLog
from tests.access_requests.support import (
    approved_extract,
    make_keystore,
)
from tests.quality.delivery.support import WRITERS, read_delivery_table

REGISTER = "ekonomiskt_bistand"
FORMATS = ["csv", "dta", "sas7bdat", "xpt", "sav", "fixed", "parquet"]  # parquet: one file


@pytest.fixture(scope="module")
def table(clean_synthetic):
    table = read_delivery_table(clean_synthetic / REGISTER)
    table = table.set_column(
        table.schema.get_field_index("statistikar"),
        "statistikar",
        table.column("statistikar").cast(pa.int64()),
    )
    # Swedish letters (Latin-1 in the text files) and öre in the amounts
    i = table.schema.get_field_index("distrikt")
    distrikt = table.column(i).to_pylist()
    distrikt[0] = "Östra Söder"
    table = table.set_column(i, "distrikt", pa.array(distrikt, pa.string()))
    i = table.schema.get_field_index("belopp_forsorjningsstod")
    amounts = table.column(i).to_pylist()
    amounts[0] = 1234.75
    return table.set_column(i, "belopp_forsorjningsstod", pa.array(amounts, pa.float64()))


@pytest.fixture(scope="module")
def keystore(tmp_path_factory):
    return make_keystore(tmp_path_factory.mktemp("keys") / "keystore")


def _build(tmp_path, registers, keystore, name, **kwargs):
    result = approved_extract(
        tmp_path / name,
        registers,
        keystore,
        log=AuditLog(tmp_path / f"audit-{name}.jsonl"),
        **kwargs,
    ).result
    data = result.out / REGISTER / "part-0.parquet"
    checksum = {f["path"]: f["sha256"] for f in result.manifest["files"]}[
        f"{REGISTER}/part-0.parquet"
    ]
    return result, pq.read_table(data), checksum


@pytest.fixture(scope="module")
def baseline(tmp_path_factory, table, keystore):
    tmp = tmp_path_factory.mktemp("parquet")
    (tmp / "registers" / REGISTER).mkdir(parents=True)
    pq.write_table(table, tmp / "registers" / REGISTER / "part-0.parquet")
    return _build(tmp, tmp / "registers", keystore, "parquet", delivery_checks=False)


@pytest.mark.parametrize("kind", FORMATS)
def test_every_format_gives_the_extract_of_the_parquet_delivery(
    tmp_path, table, keystore, baseline, kind
):
    registers = tmp_path / "registers"
    registers.mkdir()
    path = WRITERS[kind](table, registers, REGISTER)
    if kind == "csv":
        raw = path.read_bytes()
        assert "Östra Söder".encode("latin-1") in raw and b"1234,75;" in raw
    result, data, checksum = _build(tmp_path, registers, keystore, kind, delivery_checks=False)
    base_result, base_data, base_checksum = baseline
    assert data.num_rows == base_data.num_rows == table.num_rows
    assert data.equals(base_data)  # same rows, same order, same pseudonyms
    assert checksum == base_checksum
    entry = result.manifest["registers"][REGISTER]
    assert "delivery" not in base_result.manifest["registers"][REGISTER]
    if kind == "parquet":  # DIR/<register>.parquet: read as it is, not staged
        assert "delivery" not in entry
        return
    assert entry["delivery"] == {
        "format": kind,
        "rows_in": table.num_rows,
        "rows_unreadable": 0,
    }
    assert not any(
        table.column("personnummer").to_pylist()[0] in json.dumps(v) for v in entry.values()
    )


def test_unreadable_rows_of_a_text_delivery_are_rejected_and_counted(tmp_path, table, keystore):
    registers = tmp_path / "registers"
    registers.mkdir()
    path = WRITERS["csv"](table, registers, REGISTER)
    lines = path.read_bytes().split(b"\r\n")
    j = lines[0].split(b";").index(b"antal_vuxna")
    fields = lines[5].split(b";")
    fields[j] = b"x"
    lines[5] = b";".join(fields)
    path.write_bytes(b"\r\n".join(lines))
    result, data, _ = _build(tmp_path, registers, keystore, "bad", delivery_checks=False)
    entry = result.manifest["registers"][REGISTER]
    assert entry["delivery"]["rows_unreadable"] == 1
    assert entry["delivery"]["rows_in"] == table.num_rows == data.num_rows + 1
    rejected = pq.read_table(result.rejects / f"{REGISTER}.unreadable.parquet").to_pylist()
    assert [(r["source_file"], r["source_row"], r["column"], r["reason"]) for r in rejected] == [
        (f"{REGISTER}.csv", 5, "antal_vuxna", "type")
    ]


def test_a_parquet_delivery_with_a_text_file_beside_it_is_still_parquet(tmp_path):
    from mikrodata.quality.delivery.stage import delivery_path

    folder = tmp_path / REGISTER / "statistikar=2016"
    folder.mkdir(parents=True)
    pq.write_table(pa.table({"x": [1]}), folder / "part-0.parquet")
    (tmp_path / REGISTER / "README.txt").write_text("delivered 2026-11-30\n")
    assert delivery_path(tmp_path, REGISTER) == (tmp_path / REGISTER, "parquet")
    (folder / "part-0.parquet").unlink()
    (folder / "part-0.csv").write_text("x\n1\n")
    assert delivery_path(tmp_path, REGISTER) == (tmp_path / REGISTER, "other")
