"""``mikrodata keys`` and ``mikrodata pseudonymise``: outputs and exit codes."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mikrodata.pseudonymisation import KeyStore
from tests.pseudonymisation.synthetic import synthetic_population

PEOPLE = synthetic_population(40, seed=21)


@pytest.fixture
def env(workdir, passphrase):
    return {
        "MIKRODATA_HOME": str(workdir / ".mikrodata"),
        "MIKRODATA_KEYSTORE": "",
        "MIKRODATA_KEYSTORE_PASSPHRASE": passphrase,
    }


def test_keys_init_rotate_status(run_cli, env, workdir, passphrase):
    result = run_cli("keys", "init", env=env)
    assert result.exit_code == 0, result.output
    assert "created key store" in result.output
    again = run_cli("keys", "init", env=env)
    assert again.exit_code == 14 and "already exists" in again.output
    assert run_cli("keys", "rotate", "--project", "P1", env=env).exit_code == 0
    rotated = run_cli("keys", "rotate", "--project", "P1", env=env)
    assert "key version 2 is now current" in rotated.output
    status = run_cli("keys", "status", env=env)
    assert status.exit_code == 0
    store = KeyStore.open(workdir / ".mikrodata" / "keystore", passphrase)
    for v in (1, 2):
        assert store.project_key("P1", v).key_id in status.output
    assert store._master.hex() not in status.output
    as_json = run_cli("keys", "status", "--json", env=env)
    assert as_json.exit_code == 0, as_json.output
    doc = json.loads(as_json.output)
    assert [v["version"] for v in doc["projects"]["P1"]] == [1, 2]
    assert doc["projects"]["P1"][1]["key_id"] == store.project_key("P1", 2).key_id
    assert store._master.hex() not in as_json.output


def test_passphrase_prompt_and_explicit_keystore(run_cli, workdir):
    path = workdir / "elsewhere" / "ks"
    env = {"MIKRODATA_KEYSTORE_PASSPHRASE": None}
    result = run_cli(
        "keys",
        "init",
        "--keystore",
        str(path),
        "--project",
        "X1",
        env=env,
        input="a long passphrase\na long passphrase\n",
    )
    assert result.exit_code == 0, result.output
    assert "a long passphrase" not in result.output  # hidden prompt
    assert KeyStore.open(path, "a long passphrase").versions("X1") == [1]
    wrong = run_cli("keys", "status", "--keystore", str(path), env=env, input="nope\n")
    assert wrong.exit_code == 14 and "wrong passphrase" in wrong.output
    assert "nope" not in wrong.output.replace("Key store passphrase: \n", "")


def test_pseudonymise_end_to_end(run_cli, env, workdir):
    assert run_cli("keys", "init", "--project", "P1", env=env).exit_code == 0
    rows = [f"{p};H{i % 7};{i}" for i, p in enumerate(PEOPLE)] + ["640823-3235;H1;99"]
    (workdir / "in.csv").write_text("personnummer;hushallsid;belopp\n" + "\n".join(rows) + "\n")
    result = run_cli(
        "pseudonymise",
        "--project",
        "P1",
        "--in",
        "in.csv",
        "--out",
        "out.parquet",
        "--register",
        "ekonomiskt_bistand",
        env=env,
    )
    assert result.exit_code == 0, result.output
    assert result.output.strip().splitlines()[-1] == "rows in 41 / out 40 / rejected 1"
    out = pq.read_table(workdir / "out.parquet")
    assert out.schema.metadata[b"mikrodata.pseudonymised"] == (
        b"hushallsid=household,personnummer=person"
    )
    assert pq.read_table(workdir / "out.rejected.parquet")["reason"].to_pylist() == ["check_digit"]
    explicit = run_cli(
        "pseudonymise",
        "--project",
        "P1",
        "--in",
        "in.csv",
        "--out",
        "o2.parquet",
        "--column",
        "personnummer",
        "--domain",
        "hushallsid=household",
        env=env,
    )
    assert explicit.exit_code == 0
    assert pq.read_table(workdir / "o2.parquet").equals(out)


@pytest.mark.parametrize(
    "args,code,text",
    [
        (["--in", "missing.csv", "--out", "o.csv", "--column", "p"], 11, "no input file"),
        (["--in", "in.parquet", "--out", "o.csv", "--column", "nope"], 11, "not in the input"),
        (["--in", "in.parquet", "--out", "o.csv"], 11, "no identifier column"),
        (
            ["--in", "in.parquet", "--out", "o.csv", "--column", "p", "--domain", "x"],
            11,
            "COLUMN=DOMAIN",
        ),
        (
            ["--in", "in.parquet", "--out", "o.csv", "--column", "p", "--key-version", "9"],
            14,
            "no key version 9",
        ),
        (
            ["--in", "in.parquet", "--out", "o.csv", "--column", "p", "--reference-date", "x"],
            11,
            "not a date",
        ),
        (["--in", "in.parquet", "--out", "o.csv", "--column", "p", "--register", "nosuch"], 12, ""),
        (["--in", "in.parquet", "--out", "o.csv", "--column", "p", "--encoding", "ebcdic"], 2, ""),
        (["--out", "o.csv", "--column", "p"], 2, "--in"),
    ],
)
def test_pseudonymise_exit_codes(run_cli, env, workdir, args, code, text):
    assert run_cli("keys", "init", "--project", "P1", env=env).exit_code == 0
    pq.write_table(pa.table({"p": PEOPLE[:3]}), workdir / "in.parquet")
    result = run_cli("pseudonymise", "--project", "P1", *args, env=env)
    assert result.exit_code == code, result.output
    assert text in result.output
    assert not (workdir / "o.csv").exists()


def test_no_key_store_and_unknown_project(run_cli, env, workdir):
    pq.write_table(pa.table({"p": PEOPLE[:3]}), workdir / "in.parquet")
    args = [
        "pseudonymise",
        "--project",
        "P1",
        "--in",
        "in.parquet",
        "--out",
        "o.parquet",
        "--column",
        "p",
    ]
    missing = run_cli(*args, env=env)
    assert missing.exit_code == 14 and "keys init" in missing.output
    assert run_cli("keys", "init", env=env).exit_code == 0
    unknown = run_cli(*args, env=env)
    assert unknown.exit_code == 14 and "keys rotate --project P1" in unknown.output


def test_keys_rekey(run_cli, env, workdir, passphrase):
    assert run_cli("keys", "init", "--project", "P1", env=env).exit_code == 0
    rows = "".join(f"{p};{i}\n" for i, p in enumerate(PEOPLE))
    (workdir / "ids.csv").write_text("pnr;x\n" + rows + "bad;-1\n")
    assert (
        run_cli(
            "pseudonymise",
            "--project",
            "P1",
            "--in",
            "ids.csv",
            "--out",
            "v1.parquet",
            "--column",
            "pnr",
            env=env,
        ).exit_code
        == 0
    )
    assert run_cli("keys", "rotate", "--project", "P1", env=env).exit_code == 0
    assert (
        run_cli(
            "pseudonymise",
            "--project",
            "P1",
            "--in",
            "ids.csv",
            "--out",
            "v2.parquet",
            "--column",
            "pnr",
            env=env,
        ).exit_code
        == 0
    )
    result = run_cli(
        "keys",
        "rekey",
        "--project",
        "P1",
        "--in",
        "ids.csv",
        "--column",
        "pnr",
        "--from",
        "1",
        "--to",
        "2",
        "--out",
        "rekey.parquet",
        env=env,
    )
    assert result.exit_code == 0, result.output
    assert "40 pairs" in result.output and "1 distinct invalid" in result.output
    table = pq.read_table(workdir / "rekey.parquet")
    mapping = dict(
        zip(table["old_pseudonym"].to_pylist(), table["new_pseudonym"].to_pylist(), strict=True)
    )
    # Each output is sorted by its own pseudonyms: x (the input row) lines them up.
    v1 = pq.read_table(workdir / "v1.parquet").sort_by("x")["pnr"].to_pylist()
    v2 = pq.read_table(workdir / "v2.parquet").sort_by("x")["pnr"].to_pylist()
    assert [mapping[p] for p in v1] == v2
