"""A user's mistake gets one typed line with a hint, never a traceback: identifier
columns of unusable types, a wrong encoding, a key store asking for absurd key
derivation, no passphrase and no terminal, a short passphrase at ``keys init``. And the
output is sorted by pseudonym, not in the input's (birth) order."""

from __future__ import annotations

import json
import time

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mikrodata.pseudonymisation import KeyStore, pseudonymise_file, pseudonymise_table
from mikrodata.toolkit.errors import BadInputError, KeyStoreError
from tests.pseudonymisation.synthetic import REFERENCE, synthetic_population

PEOPLE = synthetic_population(30, seed=11)


@pytest.fixture
def env(workdir, passphrase):
    return {
        "MIKRODATA_HOME": str(workdir / ".mikrodata"),
        "MIKRODATA_KEYSTORE": "",
        "MIKRODATA_KEYSTORE_PASSPHRASE": passphrase,
    }


@pytest.mark.parametrize(
    ("column", "domain", "message"),
    [
        (pa.array([[p] for p in PEOPLE]), "person", "type list"),
        (pa.array([{"a": p} for p in PEOPLE]), "household", "type struct"),
        (pa.array([b"\xff" + p.encode() for p in PEOPLE]), "person", "not UTF-8"),
        (pa.array([True] * len(PEOPLE)), "person", "type bool"),
    ],
)
def test_unusable_identifier_columns_are_typed_errors(p1, column, domain, message):
    with pytest.raises(BadInputError, match=message):
        pseudonymise_table(pa.table({"id": column}), p1, {"id": domain}, REFERENCE)


def test_binary_and_uint64_identifiers_are_read(p1):
    text = pseudonymise_table(pa.table({"id": PEOPLE}), p1, ["id"], REFERENCE).table
    as_bytes = pa.table({"id": pa.array([p.encode() for p in PEOPLE], pa.binary())})
    assert pseudonymise_table(as_bytes, p1, ["id"], REFERENCE).table.equals(text)
    big = pa.array([int(p) for p in PEOPLE] + [2**64 - 1], pa.uint64())
    result = pseudonymise_table(pa.table({"id": big}), p1, ["id"], REFERENCE)
    assert (result.rows_out, result.rejected["reason"].to_pylist()) == (30, ["length"])


def test_a_wrong_encoding_is_a_typed_error(tmp_path, p1, run_cli, workdir, env):
    path = workdir / "in.csv"
    rows = "".join(f"{p};Malmö {i}\n" for i, p in enumerate(PEOPLE))
    path.write_bytes(("pnr;namn\n" + rows).encode("cp1252"))
    with pytest.raises(BadInputError, match="could not be read as utf-8"):
        pseudonymise_file(path, tmp_path / "o.parquet", p1, ["pnr"], encoding="utf-8")
    with pytest.raises(BadInputError, match="unknown encoding"):
        pseudonymise_file(path, tmp_path / "o.parquet", p1, ["pnr"], encoding="utf-16")
    assert run_cli("keys", "init", "--project", "P1", env=env).exit_code == 0
    args = ["pseudonymise", "--project", "P1", "--in", "in.csv", "--out", "o.csv"]
    result = run_cli(*args, "--column", "pnr", "--encoding", "utf-8", env=env)
    # The command opens the file with the delivery reader, which words it its own way.
    assert result.exit_code != 0 and "cannot be read as utf-8" in result.output
    assert "Traceback" not in result.output and not isinstance(result.exception, UnicodeError)
    bad = run_cli(*args, "--column", "pnr", "--encoding", "ebcdic", env=env)
    assert bad.exit_code == 2 and "ebcdic" in bad.output


@pytest.mark.parametrize(("field", "value"), [("n", 2**40), ("n", 2), ("r", 10**6), ("n", 3)])
def test_absurd_key_derivation_parameters_are_refused_at_once(tmp_path, passphrase, field, value):
    path = tmp_path / "ks"
    KeyStore.create(path, passphrase)
    doc = json.loads(path.read_text())
    doc["kdf"][field] = value
    path.write_text(json.dumps(doc))
    path.chmod(0o600)
    started = time.monotonic()
    with pytest.raises(KeyStoreError, match="out of bounds"):
        KeyStore.open(path, passphrase)
    assert time.monotonic() - started < 5  # refused before scrypt runs


def test_no_passphrase_and_no_terminal(run_cli, workdir):
    env = {"MIKRODATA_KEYSTORE_PASSPHRASE": None}
    result = run_cli("keys", "init", "--keystore", str(workdir / "ks"), env=env, input="")
    assert result.exit_code == 14, result.output
    assert "MIKRODATA_KEYSTORE_PASSPHRASE" in result.output and "Aborted" not in result.output


def test_passphrase_policy_at_init(run_cli, workdir, tmp_path):
    with pytest.raises(KeyStoreError, match="at least 12"):
        KeyStore.create(tmp_path / "ks", "short pass")
    env = {"MIKRODATA_KEYSTORE_PASSPHRASE": "too short"}
    result = run_cli("keys", "init", "--keystore", str(workdir / "ks"), env=env)
    assert result.exit_code == 14 and "at least 12" in result.output
    assert not (workdir / "ks").exists()


def test_output_is_sorted_by_pseudonym_not_birth_order(tmp_path, p1):
    ordered = sorted(PEOPLE)  # a register sorted by personnummer: birth order
    table = pa.table({"pnr": ordered, "row": list(range(len(ordered)))})
    out = pseudonymise_table(table, p1, ["pnr"], REFERENCE).table
    assert out["pnr"].to_pylist() == sorted(out["pnr"].to_pylist())
    pq.write_table(table, tmp_path / "in.parquet")
    pseudonymise_file(tmp_path / "in.parquet", tmp_path / "out.parquet", p1, ["pnr"])
    assert pq.read_table(tmp_path / "out.parquet").equals(out)


def test_sorted_by_every_pseudonym_column_with_nulls_last(tmp_path, p1):
    # Several rows per person, a nullable household column: the file's bucket sort and
    # the table's sort agree (person, then household, nulls last, ties in input order).
    people = PEOPLE[:5] * 6
    households = [None if i % 4 == 0 else f"H{i % 3}" for i in range(len(people))]
    table = pa.table({"pnr": people, "hh": households, "row": list(range(len(people)))})
    columns = {"pnr": "person", "hh": "household"}
    out = pseudonymise_table(table, p1, columns, REFERENCE, allow_null=["hh"]).table
    pq.write_table(table, tmp_path / "in.parquet")
    pseudonymise_file(
        tmp_path / "in.parquet",
        tmp_path / "out.parquet",
        p1,
        columns,
        reference_date=REFERENCE,
        allow_null=["hh"],
    )
    assert pq.read_table(tmp_path / "out.parquet").equals(out)
    keys = list(zip(out["pnr"].to_pylist(), out["hh"].to_pylist(), strict=True))
    assert keys == sorted(keys, key=lambda k: (k[0], k[1] is None, k[1] or ""))


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_sorted_across_many_buckets_with_null_first_keys(tmp_path, p1, monkeypatch, suffix):
    # A large file's sort goes through buckets by the pseudonyms' leading hex digits
    # (their codes' top bits), nulls in a bucket of their own; small files have one. With
    # seven buckets and small batches, the file still comes out in the table's order.
    import mikrodata.pseudonymisation.files as files

    monkeypatch.setattr(files, "_bucket_count", lambda path, rows: 7)
    people = [None if i % 9 == 0 else PEOPLE[i % len(PEOPLE)] for i in range(len(PEOPLE) * 3)]
    households = [None if i % 4 == 0 else f"H{i % 5}" for i in range(len(people))]
    table = pa.table({"pnr": people, "hh": households, "row": list(range(len(people)))})
    columns = {"pnr": "person", "hh": "household"}
    out = pseudonymise_table(table, p1, columns, REFERENCE, allow_null=["pnr", "hh"]).table
    buckets = {int(p[:3], 16) * 7 // 4096 for p in out["pnr"].drop_null().to_pylist()}
    assert len(buckets) >= 5  # the rows really go through several buckets
    pq.write_table(table, tmp_path / "in.parquet")
    pseudonymise_file(
        tmp_path / "in.parquet",
        tmp_path / f"out{suffix}",
        p1,
        columns,
        reference_date=REFERENCE,
        allow_null=["pnr", "hh"],
        batch_size=7,
    )
    if suffix == ".parquet":
        got = pq.read_table(tmp_path / "out.parquet")
    else:
        import pyarrow.csv as pacsv

        got = pacsv.read_csv(
            tmp_path / "out.csv",
            convert_options=pacsv.ConvertOptions(column_types=out.schema, strings_can_be_null=True),
        )
        out = out.replace_schema_metadata(None)
    assert got.equals(out)


def test_sorted_by_one_pseudonym_column_keeps_each_persons_rows_in_input_order(
    tmp_path, p1, monkeypatch
):
    # One pseudonym column without nulls (the common case) is sorted by one sort of
    # numbers, codes and row numbers together: the file equals the table's stable sort.
    import mikrodata.pseudonymisation.files as files

    monkeypatch.setattr(files, "_bucket_count", lambda path, rows: 5)
    people = [PEOPLE[(i * 7) % len(PEOPLE)] for i in range(len(PEOPLE) * 4)]
    table = pa.table({"pnr": people, "row": list(range(len(people)))})
    out = pseudonymise_table(table, p1, {"pnr": "person"}, REFERENCE).table
    pq.write_table(table, tmp_path / "in.parquet")
    pseudonymise_file(
        tmp_path / "in.parquet",
        tmp_path / "out.parquet",
        p1,
        {"pnr": "person"},
        reference_date=REFERENCE,
        batch_size=7,
    )
    got = pq.read_table(tmp_path / "out.parquet")
    assert got.equals(out)
    rows = got["row"].to_pylist()
    for person in set(people):  # each person's rows in their input order
        mine = [r for r, p in zip(rows, got["pnr"].to_pylist(), strict=True) if p == person]
        assert mine == sorted(mine)


def test_the_fast_order_of_codes_falls_back_when_codes_share_their_high_bits():
    # The fast sort orders by the codes' high bits, then by row: codes that differ only
    # in the low bits (here 8 and 9, with two bits of row number) must still come in
    # the codes' order, by the check and the stable sort behind it.
    import numpy as np

    from mikrodata.pseudonymisation.files import _pseudonym_order

    table = pa.table({"p": pa.array([9, 8, 9, 8], pa.uint64())})
    assert _pseudonym_order(table, ["p"]).tolist() == [1, 3, 0, 2]
    rng = np.random.default_rng(3)
    codes = rng.integers(0, 2**63, 50, dtype=np.int64).astype(np.uint64)[rng.integers(0, 50, 5000)]
    order = _pseudonym_order(pa.table({"p": pa.array(codes)}), ["p"])
    assert order.tolist() == np.argsort(codes, kind="stable").tolist()
