"""The one delivery reader: every format, typed by the catalogue, every row accounted
for, and a clear one-line error for a file that cannot be read at all."""

from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from mikrodata.quality.delivery import ReadOptions, open_delivery
from mikrodata.toolkit.errors import BadInputError
from tests.quality.delivery.support import WRITERS, read_delivery_table, write_csv

REAL = Path("/work/shared/testdata/formats")
REAL_FILES = sorted(p.name for p in REAL.glob("*") if p.suffix != ".md" and "LICENSE" not in p.name)
SAMPLES = [
    "sample.dta",
    "sample.sas7bdat",
    "sample_bincompressed.sas7bdat",
    "sample.xpt",
    "sample.sav",
]
REGISTER = "ekonomiskt_bistand"


def _read(path, register=None, **options):
    delivery = open_delivery(path, register, ReadOptions(**options))
    batches = list(delivery.batches(positions=True))
    table = pa.Table.from_batches(batches, schema=batches[0].schema) if batches else None
    return delivery, table


@pytest.mark.parametrize("name", REAL_FILES)
def test_every_real_file_written_by_sas_stata_or_spss_reads(name):
    delivery, table = _read(REAL / name)
    assert delivery.rows_in == delivery.rows_out == table.num_rows > 0
    assert delivery.rows_rejected == 0
    assert table.column("_row").to_pylist() == list(range(1, table.num_rows + 1))


def test_the_same_sample_from_sas_stata_and_spss_reads_the_same():
    seen = {}
    for name in SAMPLES:
        _, table = _read(REAL / name)
        table = table.rename_columns([c.lower() for c in table.column_names])
        seen[name] = table.select(["mychar", "mynum", "mydate"]).to_pylist()
    first = seen[SAMPLES[0]]
    assert first[0] == {"mychar": "a", "mynum": "1.1", "mydate": "2018-05-06"}
    for name in SAMPLES[1:]:
        assert seen[name] == first, name


def test_special_missing_values_of_sas_and_stata_are_missing():
    for name in ("missing_test.sas7bdat", "missing_test.dta"):
        _, table = _read(REAL / name)
        assert table.column("var1").null_count == table.num_rows, name


@pytest.mark.parametrize("name", ["sample.sas7bdat", "sample.dta", "sample.sav", "sample.xpt"])
def test_a_truncated_file_is_a_clear_error(tmp_path, name):
    data = (REAL / name).read_bytes()
    cut = tmp_path / name
    cut.write_bytes(data[: len(data) // 3])
    with pytest.raises(BadInputError) as err:
        _read(cut)
    assert name in str(err.value)
    assert "\n" not in str(err.value)


@pytest.fixture(scope="module")
def delivery(clean_synthetic):
    """The synthetic social-assistance rows with a kommun with a leading zero, a
    district with Swedish letters and amounts in kronor and öre."""
    table = read_delivery_table(clean_synthetic / REGISTER)
    i = table.schema.get_field_index("belopp_forsorjningsstod")
    amounts = table.column(i).to_pylist()
    amounts[0], amounts[1] = 1234.5, 0.25
    table = table.set_column(i, "belopp_forsorjningsstod", pa.array(amounts, pa.float64()))
    kommun = table.column("kommun").to_pylist()
    kommun[0] = "0114"
    distrikt = table.column("distrikt").to_pylist()
    distrikt[0] = "Södermalm-Å"
    table = table.set_column(table.schema.get_field_index("kommun"), "kommun", pa.array(kommun))
    i = table.schema.get_field_index("distrikt")
    return table.set_column(i, "distrikt", pa.array(distrikt, pa.string()))


def _typed(table: pa.Table) -> pa.Table:
    """The delivery as the catalogue types it (the year column is an integer)."""
    i = table.schema.get_field_index("statistikar")
    return table.set_column(i, "statistikar", pc.cast(table.column("statistikar"), pa.int64()))


@pytest.mark.parametrize("kind", ["csv", "fixed", "dta", "sas7bdat", "xpt", "sav", "parquet"])
def test_every_format_of_one_delivery_reads_to_the_same_typed_rows(tmp_path, delivery, kind):
    path = WRITERS[kind](delivery, tmp_path, REGISTER)
    reader, table = _read(path, REGISTER, batch_rows=100, block_bytes=4096)
    want = _typed(delivery)
    got = table.drop_columns(["_file", "_row"]).select(want.column_names)
    assert got.schema == want.schema
    assert got.to_pylist() == want.to_pylist()
    assert reader.rows_rejected == 0
    assert got.column("kommun")[0].as_py() == "0114"  # leading zero kept
    if kind in ("csv", "fixed"):
        assert reader.details["encoding"] in ("latin-1", "cp1252")


def test_a_latin1_semicolon_csv_with_decimal_commas_is_detected(tmp_path, delivery):
    path = write_csv(delivery, tmp_path / "eb.csv")
    assert b"1234,5;" in path.read_bytes()
    reader, table = _read(path, REGISTER)
    assert reader.details["delimiter"] == ";"
    assert table.column("belopp_forsorjningsstod")[:2].to_pylist() == [1234.5, 0.25]
    assert table.column("distrikt")[0].as_py() == "Södermalm-Å"


def test_options_override_detection(tmp_path, delivery):
    path = write_csv(delivery, tmp_path / "eb.csv", encoding="utf-8", sep="\t", decimal_comma=False)
    _, table = _read(path, REGISTER, encoding="utf-8", delimiter="\t", decimal=".")
    assert table.column("distrikt")[0].as_py() == "Södermalm-Å"
    # the same file as Latin-1 reads (every byte is a Latin-1 letter), but not as it is
    _, wrong = _read(path, REGISTER, encoding="latin-1", delimiter="\t", decimal=".")
    assert wrong.column("distrikt")[0].as_py() != "Södermalm-Å"


def test_unreadable_values_and_broken_lines_are_rejected_rows_with_reasons(tmp_path, delivery):
    path = write_csv(delivery.slice(0, 6), tmp_path / "eb.csv")
    lines = path.read_bytes().split(b"\r\n")
    header = lines[0].split(b";")
    j = header.index(b"antal_barn")
    row2 = lines[2].split(b";")
    row2[j] = b"tv\xe5"  # "två" (Latin-1): not an integer
    lines[2] = b";".join(row2)
    lines[4] = b";".join(lines[4].split(b";")[:3])  # a line cut short
    path.write_bytes(b"\r\n".join(lines))
    reader, table = _read(path, REGISTER)
    assert reader.rows_in == 6 == reader.rows_out + reader.rows_rejected
    assert table.column("_row").to_pylist() == [1, 3, 5, 6]
    rejects = reader.reject_table().sort_by("source_row").to_pylist()
    assert [(r["source_row"], r["column"], r["reason"]) for r in rejects] == [
        (2, "antal_barn", "type"),
        (4, None, "fields"),
    ]
    assert rejects[0]["value_antal_barn"] == "två"  # kept, steward side, for correction
    assert "två" not in rejects[0]["detail"]


def test_a_number_where_the_catalogue_has_an_integer_must_be_whole(tmp_path, delivery):
    table = delivery.slice(0, 3)
    frame_path = WRITERS["dta"](table, tmp_path, REGISTER)
    import pyreadstat

    frame, _ = pyreadstat.read_dta(str(frame_path))
    frame.loc[1, "antal_barn"] = 1.5
    pyreadstat.write_dta(frame, str(frame_path))
    reader, got = _read(frame_path, REGISTER)
    assert got.num_rows == 2 and reader.rows_rejected == 1
    assert reader.reject_table().column("column").to_pylist() == ["antal_barn"]


def test_fixed_width_line_shorter_than_its_layout_is_rejected(tmp_path, delivery):
    path = WRITERS["fixed"](delivery.slice(0, 3), tmp_path, REGISTER)
    lines = path.read_bytes().split(b"\n")
    lines[1] = lines[1][:20]
    path.write_bytes(b"\n".join(lines))
    reader, table = _read(path, REGISTER)
    assert table.num_rows == 2
    assert reader.reject_table().select(["source_row", "reason"]).to_pylist() == [
        {"source_row": 2, "reason": "fields"}
    ]


def test_a_partitioned_text_delivery_takes_its_year_from_the_folder(tmp_path, delivery):
    for year in (2015, 2016):
        part = delivery.filter(pc.equal(delivery.column("statistikar"), year))
        folder = tmp_path / REGISTER / f"statistikar={year}"
        folder.mkdir(parents=True)
        write_csv(part.drop_columns(["statistikar"]), folder / "part-0.csv")
    reader, table = _read(tmp_path / REGISTER, REGISTER)
    assert sorted(set(table.column("statistikar").to_pylist())) == [2015, 2016]
    assert table.num_rows == delivery.num_rows
    assert set(table.column("_file").to_pylist()) == {
        "statistikar=2015/part-0.csv",
        "statistikar=2016/part-0.csv",
    }


def _error(path, register=REGISTER, **options) -> str:
    with pytest.raises(BadInputError) as err:
        _read(path, register, **options)
    text = err.value.one_line()
    assert "\n" not in text
    return text


def test_files_that_cannot_be_read_are_one_line_errors_naming_the_file(tmp_path, delivery):
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    assert "empty.csv" in _error(empty)
    headless = write_csv(delivery.slice(0, 3), tmp_path / "headless.csv")
    headless.write_bytes(b"\r\n".join(headless.read_bytes().split(b"\r\n")[1:]))
    message = _error(headless)
    assert "headless.csv" in message and "header" in message
    for value in delivery.slice(0, 3).column("personnummer").to_pylist():
        assert value not in message  # a data value never reaches a message
    latin = write_csv(delivery, tmp_path / "latin.csv")
    assert "--encoding" in _error(latin, encoding="utf-8")
    nothing = tmp_path / "nothing"
    nothing.mkdir()
    assert "no delivered files" in _error(nothing)
    fixed = WRITERS["fixed"](delivery.slice(0, 3), tmp_path, "fw")
    fixed.with_name("fw.layout.yaml").unlink()
    assert "layout" in _error(fixed)
    assert "no such file" in _error(tmp_path / "missing.csv")
    odd = tmp_path / "x.xlsx"
    odd.write_bytes(b"PK")
    assert "suffix" in _error(odd)
    garbage = tmp_path / "garbage.dta"
    shutil.copy(REAL / "sample.sav", garbage)
    assert "garbage.dta" in _error(garbage)


def test_text_is_read_a_block_at_a_time_not_whole(tmp_path, delivery, monkeypatch):
    from mikrodata.quality.delivery import text

    path = write_csv(delivery, tmp_path / "eb.csv")
    taken = []
    blocks = text._blocks

    def counting(*args, **kwargs):
        for block in blocks(*args, **kwargs):
            taken.append(len(block))
            yield block

    monkeypatch.setattr(text, "_blocks", counting)
    reader = open_delivery(path, REGISTER, ReadOptions(block_bytes=1024))
    batches = reader.batches()
    next(batches)
    total = path.stat().st_size // 1024
    assert total > 5 and len(taken) <= 2  # the first batch needs the first block(s) only
    rest = sum(b.num_rows for b in batches)
    assert rest + len(taken) > 0 and reader.rows_out == delivery.num_rows


def test_parquet_columns_the_catalogue_does_not_know_pass_unchanged(tmp_path):
    import pyarrow.parquet as pq

    path = tmp_path / "other.parquet"
    table = pa.table({"note": [" padded ", "", None], "count": pa.array([1, None, 3], pa.int32())})
    pq.write_table(table, path)
    reader, got = _read(path)
    assert got.drop_columns(["_file", "_row"]).equals(table)
    assert reader.rows_out == 3
