"""Coarsening before delivery: the steps an approved request lists are applied by the
extract builder after pseudonymisation, recorded with the cells each changed in the
signed manifest and the audit log, and checked before anything is built."""

from __future__ import annotations

import json

import duckdb
import pyarrow.parquet as pq
import pytest

from mikrodata.access_requests import AuditLog, load_request
from mikrodata.toolkit.errors import BadInputError, IntegrityError
from mikrodata.toolkit.extract import build_dummy_extract, verify_extract
from tests.access_requests.support import (
    STEWARD,
    approved_extract,
    make_delivery,
    make_keystore,
    write_request,
)

BAND = {"step": "band", "column": "birth_year", "width": 5}
TOP = {"step": "top_code", "column": "belopp_forsorjningsstod", "at": 4000}
SUPPRESS = {
    "step": "suppress",
    "columns": ["kommun", "birth_year"],
    "min_k": 3,
    "quasi_identifiers": ["kommun", "birth_year"],
}


@pytest.fixture(scope="module")
def delivery(tmp_path_factory):
    return make_delivery(tmp_path_factory.mktemp("registers"), persons=150)


@pytest.fixture(scope="module")
def keystore(tmp_path_factory):
    return make_keystore(tmp_path_factory.mktemp("keys") / "keystore")


def _build(tmp_path, delivery, keystore, name, coarsening=None):
    """An approved request (with ``coarsening`` if given) built into tmp_path/name."""
    made = approved_extract(
        tmp_path,
        delivery["root"],
        keystore,
        requests=tmp_path / f"{name}-requests",
        out=tmp_path / name,
        rejects=tmp_path / f"{name}-rejects",
        log=AuditLog(tmp_path / f"{name}-audit.jsonl"),
        request={"coarsening": coarsening} if coarsening is not None else None,
    )
    return made.result, made.request, made.log


@pytest.fixture(scope="module")
def plain(tmp_path_factory, delivery, keystore):
    return _build(tmp_path_factory.mktemp("plain"), delivery, keystore, "extract")


def _person(result):
    """The extract's person pseudonym column (the first of the sort order)."""
    return result.manifest["registers"]["ekonomiskt_bistand"]["sort_order"][0]


def _rows(result):
    """A fresh connection with the register's rows as view ``t``."""
    con = duckdb.connect()
    path = result.out / "ekonomiskt_bistand" / "part-0.parquet"
    con.execute(f"CREATE VIEW t AS SELECT * FROM read_parquet('{path}')")
    return con


def test_band_and_top_code_are_applied_recorded_and_signed(tmp_path, delivery, keystore, plain):
    coarse, request, log = _build(tmp_path, delivery, keystore, "coarse", [BAND, TOP])
    before, after = _rows(plain[0]), _rows(coarse)
    key = f"{_person(coarse)}, statistikar, manad"
    want = before.execute(
        f"SELECT {key}, CAST(floor(birth_year / 5) * 5 AS BIGINT), "
        f"CASE WHEN belopp_forsorjningsstod > 4000 THEN 4000 "
        f"ELSE belopp_forsorjningsstod END FROM t ORDER BY {key}"
    ).fetchall()
    got = after.execute(
        f"SELECT {key}, birth_year, belopp_forsorjningsstod FROM t ORDER BY {key}"
    ).fetchall()
    assert got == want  # same people, same rows, the two columns coarsened by hand
    assert after.execute("SELECT count(*) FROM t WHERE birth_year % 5 <> 0").fetchone() == (0,)

    # The cells each step changed, counted by hand on the uncoarsened extract.
    banded = before.execute("SELECT count(*) FROM t WHERE birth_year % 5 <> 0").fetchone()[0]
    capped = before.execute("SELECT count(*) FROM t WHERE belopp_forsorjningsstod > 4000")
    entries = coarse.manifest["coarsening"]
    assert [(e["register"], e["step"], e["cells_changed"]) for e in entries] == [
        ("ekonomiskt_bistand", BAND, banded),
        ("ekonomiskt_bistand", TOP, capped.fetchone()[0]),
    ]
    assert banded > 0
    assert entries[0]["description"] == "birth_year in bands of 5"
    # Signed with the rest of the manifest, and in the audit trail.
    verify_extract(coarse.out, request=request, user=STEWARD, audit=log)
    built = [e for e in log.events() if e["action"] == "extract_built"][-1]
    assert built["details"]["coarsening"] == entries
    assert "coarsening" not in plain[0].manifest or not plain[0].manifest["coarsening"]


def test_an_edited_coarsening_record_fails_verification(tmp_path, delivery, keystore):
    coarse, request, log = _build(tmp_path, delivery, keystore, "coarse", [TOP])
    path = coarse.out / "manifest.json"
    doc = json.loads(path.read_text())
    doc["coarsening"] = []  # hide that the amounts were top-coded
    path.write_text(json.dumps(doc, indent=2))
    with pytest.raises(IntegrityError):
        verify_extract(coarse.out, request=request, user=STEWARD, audit=log)


def test_suppression_leaves_no_class_below_k(tmp_path, delivery, keystore, plain):
    coarse, _, _ = _build(tmp_path, delivery, keystore, "coarse", [SUPPRESS])
    after = _rows(coarse)
    classes = (
        f"SELECT min(n) FROM (SELECT count(DISTINCT {_person(coarse)}) AS n FROM t "
        "GROUP BY kommun, birth_year)"
    )
    smallest = after.execute(classes).fetchone()[0]
    assert smallest >= 3
    before = _rows(plain[0])
    small = before.execute(classes).fetchone()[0]
    assert small < 3  # the test would pass trivially on an extract already safe
    # Suppression only blanks values: every row is still there.
    rows = pq.ParquetFile(coarse.out / "ekonomiskt_bistand" / "part-0.parquet").metadata.num_rows
    assert rows == plain[0].manifest["registers"]["ekonomiskt_bistand"]["rows_out"]
    nulls = after.execute("SELECT count(*) FROM t WHERE kommun IS NULL").fetchone()[0]
    assert coarse.manifest["coarsening"][0]["cells_changed"] >= nulls > 0


@pytest.mark.parametrize(
    ("step", "message"),
    [
        ({"step": "band", "column": "no_such_column", "width": 5}, "no approved register"),
        ({"step": "blur", "column": "kommun"}, "unknown coarsening step"),
        ({"step": "band", "column": "birth_year"}, "missing field width"),
    ],
    ids=["column", "kind", "field"],
)
def test_a_bad_step_stops_the_build_before_anything_is_written(
    tmp_path, delivery, keystore, step, message
):
    with pytest.raises(BadInputError, match=message):
        _build(tmp_path, delivery, keystore, "coarse", [step])
    assert not (tmp_path / "coarse").exists()


def test_a_step_for_a_register_not_approved_is_refused_by_the_request(tmp_path):
    path = write_request(
        tmp_path / "r.yaml", coarsening=[{"step": "band", "column": "x", "register": "lss"}]
    )
    with pytest.raises(BadInputError, match="coarsening\\[0\\].register"):
        load_request(path)


def test_a_dummy_extract_is_coarsened_like_the_real_one(tmp_path):
    request = write_request(tmp_path / "r.yaml", coarsening=[BAND])
    result = build_dummy_extract(request, tmp_path / "dummy", persons=40, user=STEWARD)
    table = pq.read_table(result.out / "ekonomiskt_bistand" / "part-0.parquet")
    years = [y for y in table.column("birth_year").to_pylist() if y is not None]
    assert years and all(y % 5 == 0 for y in years)
    assert [e["step"] for e in result.manifest["coarsening"]] == [BAND]
