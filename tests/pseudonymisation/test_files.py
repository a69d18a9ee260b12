"""Whole files: Parquet and CSV in, streamed in batches, reject file beside the output,
counts checked, nothing written when a run fails."""

from __future__ import annotations

import os
import stat

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from mikrodata.pseudonymisation import detect_encoding, pseudonymise_file, pseudonymise_table
from mikrodata.toolkit.errors import BadInputError, IntegrityError
from mikrodata.toolkit.rejects import REASONS
from tests.pseudonymisation.synthetic import REFERENCE, synthetic_population

PEOPLE = synthetic_population(500, seed=11)


def _register(n: int = 3000, seed: int = 5) -> pa.Table:
    """A small register: people repeat, a few numbers are broken, households too."""
    import numpy as np

    rng = np.random.default_rng(seed)
    who = rng.integers(0, len(PEOPLE), n)
    pnr = [PEOPLE[i] if i % 50 else PEOPLE[i][:8] + "-" + PEOPLE[i][8:] for i in who]
    for i in range(0, n, 97):
        pnr[i] = pnr[i][:-1] + str((int(pnr[i][-1]) + 1) % 10)  # wrong check digit
    return pa.table(
        {
            "personnummer": pnr,
            "hushallsid": [f"H{i % 700}" if i % 211 else "" for i in range(n)],
            "kommun": [["0180", "1480", "2580"][i % 3] for i in range(n)],
            "belopp": rng.integers(0, 20000, n),
        }
    )


COLUMNS = {"personnummer": "person", "hushallsid": "household"}


def test_parquet_streamed_in_batches_equals_one_table(tmp_path, p1):
    table = _register()
    pq.write_table(table, tmp_path / "in.parquet", row_group_size=700)
    result = pseudonymise_file(
        tmp_path / "in.parquet",
        tmp_path / "out.parquet",
        p1,
        COLUMNS,
        reference_date=REFERENCE,
        batch_size=1000,
    )
    whole = pseudonymise_table(table, p1, COLUMNS, REFERENCE)
    out = pq.read_table(tmp_path / "out.parquet")
    rej = pq.read_table(result.reject_path)
    assert result.rows_in == 3000 == result.rows_out + result.rows_rejected
    assert (result.rows_out, result.rows_rejected) == (whole.rows_out, whole.rows_rejected)
    assert out.drop_columns([]).cast(whole.table.schema).equals(whole.table)
    # The same records as the in-memory run, but naming the file.
    assert rej.drop_columns(["source_file"]).equals(whole.rejected.drop_columns(["source_file"]))
    assert set(rej["source_file"].to_pylist()) == {"in.parquet"}
    assert result.reject_path == tmp_path / "out.rejected.parquet"
    assert stat.S_IMODE(os.stat(result.reject_path).st_mode) == 0o600
    assert out.schema.metadata[b"mikrodata.key_id"] == p1.key_id.encode()
    unique_out = len(set(out["personnummer"].to_pylist()))
    assert unique_out <= result.distinct["person"] <= len(PEOPLE)
    assert set(rej["reason"].to_pylist()) == {"check_digit", "missing"}
    rows = rej["source_row"].to_pylist()
    assert rows == sorted(rows) and min(rows) >= 1  # counted from 1, in input order
    # Pseudonym columns are stored uncompressed and without min/max statistics (random
    # hex prunes nothing); the other columns keep Snappy and statistics.
    meta = pq.read_metadata(tmp_path / "out.parquet")
    for i in range(meta.num_row_groups):
        for j in range(meta.num_columns):
            chunk = meta.row_group(i).column(j)
            pseudonym = chunk.path_in_schema in COLUMNS
            assert chunk.compression == ("UNCOMPRESSED" if pseudonym else "SNAPPY")
            assert chunk.is_stats_set != pseudonym


@pytest.mark.parametrize("encoding", ["utf-8", "cp1252", "latin-1"])
def test_csv_encodings(tmp_path, p1, encoding):
    lines = ["personnummer;namn_kommun;belopp"]
    lines += [f"{p[2:8]}-{p[8:]};Malmö Å{i};{i}" for i, p in enumerate(PEOPLE[:50])]
    lines += ["not-a-number;Öckerö;1"]
    (tmp_path / "in.csv").write_bytes(("\n".join(lines) + "\n").encode(encoding))
    expected = "utf-8" if encoding == "utf-8" else "cp1252"
    assert detect_encoding(tmp_path / "in.csv") == expected
    result = pseudonymise_file(
        tmp_path / "in.csv", tmp_path / "out.csv", p1, ["personnummer"], reference_date=REFERENCE
    )
    assert (result.rows_in, result.rows_out, result.rows_rejected) == (51, 50, 1)
    out = pacsv.read_csv(tmp_path / "out.csv")
    assert "Malmö Å0" in out["namn_kommun"].to_pylist()  # written as UTF-8, nothing lost
    rej = pacsv.read_csv(result.reject_path)
    assert rej.to_pylist() == [
        {
            "source_file": "in.csv",
            "source_row": 51,
            "column": "personnummer",
            "reason": "characters",
            "detail": REASONS["characters"],
            "value_namn_kommun": "Öckerö",
            "value_belopp": 1,
        }
    ]
    # CSV and Parquet of the same data give the same pseudonyms.
    same = pseudonymise_table(
        pa.table({"p": [f"{p[2:8]}-{p[8:]}" for p in PEOPLE[:50]]}), p1, ["p"], REFERENCE
    )
    assert out["personnummer"].to_pylist() == same.table["p"].to_pylist()


def test_latin1_only_bytes_fall_back_to_latin1(tmp_path):
    (tmp_path / "x.csv").write_bytes("a\n\x81b\n".encode("latin-1"))
    assert detect_encoding(tmp_path / "x.csv") == "latin-1"


def test_comma_csv_with_quotes_and_integers(tmp_path, p1):
    text = 'id,"note, with comma"\n' + "".join(f'{p},"x, {i}"\n' for i, p in enumerate(PEOPLE[:5]))
    (tmp_path / "in.csv").write_text(text)
    result = pseudonymise_file(tmp_path / "in.csv", tmp_path / "o.parquet", p1, {"id": "person"})
    assert result.rows_out == 5
    assert "x, 4" in pq.read_table(tmp_path / "o.parquet")["note, with comma"].to_pylist()


def test_rejects_with_identifiers_is_steward_only_opt_in(tmp_path, p1):
    pq.write_table(pa.table({"pnr": ["640823-3235", PEOPLE[0]]}), tmp_path / "in.parquet")
    plain = pseudonymise_file(tmp_path / "in.parquet", tmp_path / "a.parquet", p1, ["pnr"])
    assert "value_pnr" not in pq.read_table(plain.reject_path).column_names
    raw = pseudonymise_file(
        tmp_path / "in.parquet", tmp_path / "b.parquet", p1, ["pnr"], rejects_with_identifiers=True
    )
    assert pq.read_table(raw.reject_path)["value_pnr"].to_pylist() == ["640823-3235"]


def test_failed_run_writes_nothing_and_keeps_the_old_output(tmp_path, p1, monkeypatch):
    pq.write_table(pa.table({"pnr": PEOPLE}), tmp_path / "in.parquet")
    first = pseudonymise_file(tmp_path / "in.parquet", tmp_path / "out.parquet", p1, ["pnr"])
    before = (tmp_path / "out.parquet").read_bytes()
    before_rej = first.reject_path.read_bytes()
    # One-byte pseudonyms: 500 people must collide, and the run must stop.
    monkeypatch.setattr("mikrodata.pseudonymisation.pseudonyms.PSEUDONYM_BYTES", 1)
    with pytest.raises(IntegrityError, match="collision"):
        pseudonymise_file(
            tmp_path / "in.parquet", tmp_path / "out.parquet", p1, ["pnr"], batch_size=1000
        )
    assert (tmp_path / "out.parquet").read_bytes() == before
    assert first.reject_path.read_bytes() == before_rej
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_bad_inputs(tmp_path, p1):
    pq.write_table(pa.table({"pnr": PEOPLE[:3], "copy": PEOPLE[:3]}), tmp_path / "in.parquet")
    with pytest.raises(BadInputError, match="copy"):
        pseudonymise_file(tmp_path / "in.parquet", tmp_path / "o.parquet", p1, ["pnr"])
    with pytest.raises(BadInputError, match="not in the input"):
        pseudonymise_file(tmp_path / "in.parquet", tmp_path / "o.parquet", p1, ["x"])
    with pytest.raises(BadInputError, match="overwrite"):
        pseudonymise_file(tmp_path / "in.parquet", tmp_path / "in.parquet", p1, ["pnr"])
    with pytest.raises(BadInputError, match="suffix"):
        pseudonymise_file(tmp_path / "in.parquet", tmp_path / "o.xlsx", p1, ["pnr"])
    with pytest.raises(BadInputError, match="no input file"):
        pseudonymise_file(tmp_path / "nope.csv", tmp_path / "o.csv", p1, ["pnr"])
    (tmp_path / "broken.parquet").write_bytes(b"PAR1 not really")
    with pytest.raises(BadInputError, match="not a readable Parquet"):
        pseudonymise_file(tmp_path / "broken.parquet", tmp_path / "o.parquet", p1, ["pnr"])
    (tmp_path / "ragged.csv").write_text(f"pnr;x\n{PEOPLE[0]};1\n{PEOPLE[1]};2;3\n")
    with pytest.raises(BadInputError, match="wrong number of fields") as info:
        pseudonymise_file(tmp_path / "ragged.csv", tmp_path / "o.csv", p1, ["pnr"])
    assert PEOPLE[1] not in str(info.value)
    assert not (tmp_path / "o.csv").exists() and not (tmp_path / "o.parquet").exists()
