"""Dummy extracts have exactly the approved shape of the real one, and nothing real."""

from __future__ import annotations

import pyarrow.parquet as pq

from mikrodata.access_requests import AuditLog, load_request
from mikrodata.pseudonymisation import is_pseudonym
from mikrodata.quality.catalogue import load
from mikrodata.toolkit.extract import (
    build_dummy_extract,
    synthetic_register,
    verify_extract,
)
from tests.access_requests.support import (
    PI,
    approved_extract,
    make_keystore,
    write_request,
)


def _extract_names(register, names):
    """Approved variables as an extract names them (the catalogue's extract_name)."""
    from mikrodata.quality.catalogue import load

    reg = load(register)
    return tuple(reg.variable(n).extract_name if n in reg.names else n for n in names)


def _shape(manifest):
    return {
        name: ([(c["name"], c["role"], c["arrow_type"]) for c in r["columns"]], r["sort_order"])
        for name, r in manifest["registers"].items()
    }


def test_dummy_has_the_shape_of_the_real_extract(tmp_path):
    regs = tmp_path / "regs"
    synthetic_register("ekonomiskt_bistand", tuple(range(2014, 2020)), 80, regs, seed=5)
    synthetic_register("lss", (2016, 2017), 80, regs, seed=5)
    built = approved_extract(
        tmp_path,
        regs,
        make_keystore(tmp_path / "ks"),
        out=tmp_path / "real",
        request={
            "registers": {
                "ekonomiskt_bistand": {
                    "years": "2015-2018",
                    "variables": [
                        "hushallsid",
                        "kommun",
                        "forsorjningshinder",
                        "belopp_forsorjningsstod",
                    ],
                },
                "lss": {"years": [2016, 2017], "variables": ["insats"]},
            }
        },
        delivery_checks=True,  # clean synthetic registers: the checks run, as by default
    )
    real, request, log = built.result, built.request, built.log
    dummy = build_dummy_extract(request, tmp_path / "dummy", persons=30, user=PI, audit=log)
    assert _shape(dummy.manifest) == _shape(real.manifest)
    assert dummy.manifest["dummy"] is True and real.manifest["dummy"] is False
    assert dummy.manifest["key"]["key_id"] is None  # the throw-away key is not recorded
    req = load_request(request)
    eb = pq.read_table(tmp_path / "dummy" / "ekonomiskt_bistand")
    names = req.columns("ekonomiskt_bistand")
    assert tuple(eb.column_names) == _extract_names("ekonomiskt_bistand", names)
    assert set(eb.column("statistikar").to_pylist()) <= set(range(2015, 2019))
    assert is_pseudonym(eb.column("lopnr").to_pylist()).all()
    assert is_pseudonym(eb.column("lopnr_hushall").to_pylist()).all()
    # values come from the catalogue: codes valid in the row's year (revised in 2017)
    catalogue = load("ekonomiskt_bistand")
    for row in eb.to_pylist():
        if row["forsorjningshinder"] is not None:
            valid = {c.code for c in catalogue.codes_in("forsorjningshinder", row["statistikar"])}
            assert row["forsorjningshinder"] in valid
    # pseudonyms of the dummy never match the real ones (a throw-away key)
    real_ids = set(pq.read_table(tmp_path / "real" / "ekonomiskt_bistand")["lopnr"].to_pylist())
    assert not real_ids & set(eb.column("lopnr").to_pylist())
    checked = verify_extract(tmp_path / "dummy", user=PI, audit=log)
    assert checked.dummy and checked.approval is None
    assert log.events()[-2]["action"] == "dummy_extract_built"


def test_dummy_needs_only_a_valid_request(tmp_path, run_cli):
    path = write_request(tmp_path / "P.yaml")
    env = {"MIKRODATA_AUDIT_LOG": str(tmp_path / "audit.jsonl"), "MIKRODATA_USER": PI}
    result = run_cli(
        "extract",
        "dummy",
        "--request",
        str(path),
        "--out",
        str(tmp_path / "d"),
        "--persons",
        "10",
        env=env,
    )
    assert result.exit_code == 0, result.output
    assert "dummy extract of project P2026-001 written" in result.output
    assert "holds no register data" in result.output and "{" not in result.output
    ok = run_cli("extract", "verify", str(tmp_path / "d"), env=env)
    assert ok.exit_code == 0, ok.output
    assert "dummy extract ok" in ok.output and "no release can come from it" in ok.output


def test_dummy_is_drawn_from_the_population_model_and_passes_the_quality_suites(tmp_path):
    """People keep their birth year, sex and household from month to month, and the
    extract suites find nothing: no failure, no warning."""
    import duckdb

    from mikrodata.quality.run import run_quality

    log = AuditLog(tmp_path / "audit.jsonl")
    request = write_request(
        tmp_path / "P.yaml",
        registers={
            "ekonomiskt_bistand": {
                "years": "2015-2017",
                "variables": ["hushallsid", "roll", "kommun", "belopp_forsorjningsstod"],
            }
        },
    )
    dummy = build_dummy_extract(
        request, tmp_path / "dummy", persons=1500, seed=4, user=PI, audit=log
    )
    data = tmp_path / "dummy" / "ekonomiskt_bistand" / "part-0.parquet"
    rows = pq.read_metadata(data).num_rows
    assert rows > 500 and dummy.manifest["population"]["type"] == "dummy"
    con = duckdb.connect()
    per_person = con.sql(
        f"SELECT lopnr, count(DISTINCT birth_year) AS b, count(DISTINCT sex) AS s, "
        f"count(DISTINCT manad) AS months FROM read_parquet('{data}') GROUP BY 1"
    ).fetchall()
    assert max(r[1] for r in per_person) == 1 and max(r[2] for r in per_person) == 1
    assert max(r[3] for r in per_person) > 1  # people are there in more than one month
    households = con.sql(
        f"SELECT max(n) FROM (SELECT lopnr, statistikar, count(DISTINCT lopnr_hushall) n "
        f"FROM read_parquet('{data}') GROUP BY 1, 2)"
    ).fetchall()[0][0]
    assert households == 1
    report = run_quality(
        "ekonomiskt_bistand", tmp_path / "dummy", tmp_path / "q", extract=True, data_docs=False
    )
    assert report.rows == rows
    assert report.failures == [], [o.as_dict() for o in report.failures]
