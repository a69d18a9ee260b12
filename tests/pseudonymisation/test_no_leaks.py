"""A whole steward run through the command line, then a scan of everything it left
behind - output and reject files (raw bytes and decoded values), command output, error
messages and reprs - for the raw numbers in any form, the passphrase and the key bytes."""

from __future__ import annotations

import base64
import datetime as dt
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from mikrodata.pseudonymisation import (
    Identifier,
    KeyStore,
    parse_identifiers,
    pseudonymise_file,
    pseudonymise_table,
)
from mikrodata.toolkit.errors import MikrodataError
from tests.pseudonymisation.synthetic import synthetic_population

PEOPLE = synthetic_population(60, seed=99)


def _raw_forms(number: str) -> list[str]:
    short = number[2:]
    return [
        number,
        short,
        f"{short[:6]}-{short[6:]}",
        f"{short[:6]}+{short[6:]}",
        f"{number[:8]}-{number[8:]}",
    ]


def _decoded(path: Path) -> str:
    """A file's values as text (Parquet is compressed, so bytes alone prove little)."""
    if path.suffix == ".parquet":
        table = pq.read_table(path)
        meta = str(pq.read_metadata(path).to_dict()) + str(table.schema.metadata)
        return str(table.to_pylist()) + meta
    if path.suffix == ".csv":
        return path.read_text("utf-8")
    return ""


def test_a_run_leaves_no_raw_identifier_passphrase_or_key(run_cli, workdir, passphrase):
    env = {
        "MIKRODATA_HOME": str(workdir / ".mikrodata"),
        "MIKRODATA_KEYSTORE": "",
        "MIKRODATA_KEYSTORE_PASSPHRASE": passphrase,
    }
    broken = [p[:-1] + str((int(p[-1]) + 3) % 10) for p in PEOPLE[:5]]  # typos: still secret
    forms = [_raw_forms(p)[i % 3 + 2] if i % 2 else p for i, p in enumerate(PEOPLE)]
    source = pa.table(
        {
            "personnummer": forms + broken,
            "medsokande": list(reversed(forms)) + [PEOPLE[0]] * 5,
            "hushallsid": [f"HH-{i:04d}" for i in range(len(forms) + 5)],
            "belopp": list(range(len(forms) + 5)),
        }
    )
    (workdir / "in").mkdir()
    pq.write_table(source, workdir / "in" / "register.parquet")
    pacsv.write_csv(source, workdir / "in" / "register.csv")
    texts: list[str] = []
    for args in (
        ["keys", "init", "--project", "P1"],
        ["keys", "rotate", "--project", "P1"],
        ["keys", "status"],
        [
            "pseudonymise",
            "--project",
            "P1",
            "--in",
            "in/register.parquet",
            "--out",
            "out/extract.parquet",
            "--column",
            "personnummer",
            "--column",
            "medsokande",
            "--domain",
            "hushallsid=household",
        ],
        [
            "pseudonymise",
            "--project",
            "P1",
            "--in",
            "in/register.csv",
            "--out",
            "out/extract.csv",
            "--column",
            "personnummer",
            "--column",
            "medsokande",
            "--domain",
            "hushallsid=household",
        ],
        # failing runs: a forgotten identifier column, a wrong passphrase
        [
            "pseudonymise",
            "--project",
            "P1",
            "--in",
            "in/register.csv",
            "--out",
            "out/x.csv",
            "--column",
            "personnummer",
        ],
    ):
        result = run_cli(*args, env=env)
        texts.append(result.output)
        if result.exception and not isinstance(result.exception, SystemExit):
            raise result.exception
    wrong = run_cli("keys", "status", env=dict(env, MIKRODATA_KEYSTORE_PASSPHRASE="wrong one"))
    assert wrong.exit_code == 14
    texts.append(wrong.output)
    assert "rows in 65 / out 60 / rejected 5" in texts[3] and texts[5].startswith("error:")

    store = KeyStore.open(workdir / ".mikrodata" / "keystore", passphrase)
    keys = [store._master] + [store.project_key("P1", v)._secret for v in (1, 2)]

    # API-level messages and reprs.
    for bad in broken:
        try:
            Identifier.parse(bad)
        except MikrodataError as exc:
            texts.append(str(exc))
    texts += [repr(store), repr(store.project_key("P1")), repr(Identifier.parse(PEOPLE[0]))]
    result = pseudonymise_table(
        source,
        store.project_key("P1"),
        {"personnummer": "person", "medsokande": "person", "hushallsid": "household"},
    )
    texts += [repr(result), str(result.rejected.to_pylist()), str(result.table.to_pylist())]
    file_result = pseudonymise_file(
        workdir / "in" / "register.parquet",
        workdir / "out" / "again.parquet",
        store.project_key("P1"),
        {"personnummer": "person", "medsokande": "person", "hushallsid": "household"},
        reference_date=dt.date(2026, 6, 30),
    )
    texts.append(repr(file_result))

    outputs = sorted((workdir / "out").iterdir())
    assert {p.name for p in outputs} >= {
        "extract.parquet",
        "extract.rejected.parquet",
        "extract.csv",
        "extract.rejected.csv",
    }
    haystacks = [t.encode() for t in texts]
    for path in outputs:
        haystacks += [path.read_bytes(), _decoded(path).encode()]
    keystore_bytes = (workdir / ".mikrodata" / "keystore").read_bytes()
    secrets = [passphrase.encode()] + [
        form for k in keys for form in (k, k.hex().encode(), base64.b64encode(k))
    ]
    raw = [f.encode() for p in PEOPLE + broken for f in _raw_forms(p)]
    raw += [f.encode() for f in ("HH-0001", "HH-0042")]
    for hay in haystacks:
        for needle in raw + secrets:
            assert needle not in hay
    for needle in secrets + raw:
        assert needle not in keystore_bytes
    # The scan has teeth: the input files do contain the numbers.
    assert PEOPLE[0].encode() in (workdir / "in" / "register.csv").read_bytes()
    assert parse_identifiers(forms)["reason"].isna().all()
