"""`make demo` runs the whole path; this runs the same job small, end to end: synthetic
registers to a disclosure-checked figure in the output request, and the index page."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from mikrodata.access_requests import AuditLog
from mikrodata.pseudonymisation import TrustStore
from mikrodata.toolkit.demo import STEPS


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.hrefs += [v for k, v in attrs if tag == "a" and k == "href" and v]


def _raw_identifiers(root: Path) -> set[str]:
    raw: set[str] = set()
    for path in (root / "befolkning").rglob("*.parquet"):
        raw.update(pq.read_table(path, columns=["personnummer"])[0].to_pylist())
    return {r for r in raw if r}


@pytest.mark.slow
def test_demo_runs_the_whole_path_to_a_checked_figure(run_cli, tmp_path):
    out = tmp_path / "demo"
    result = run_cli("demo", "--out", str(out), "--persons", "3000")
    assert result.exit_code == 0, result.output
    for step in range(1, STEPS + 1):
        assert f"{step}/{STEPS} " in result.output
    assert "clean delivery: critical failures: 0" in result.output
    assert "extract: critical failures: 0" in result.output
    assert "disclosure check of the table: pass" in result.output
    assert "figure checked: True" in result.output
    assert "LSS linkage table (checked): pass" in result.output
    # the faulty delivery is caught
    assert "faulty delivery: critical failures: 0" not in result.output
    assert (out / "catalogue" / "index.html").exists()
    manifest = json.loads((out / "extracts" / "P2026-001" / "manifest.json").read_text())
    assert set(manifest["registers"]) == {"ekonomiskt_bistand", "lss"}
    assert manifest["registers"]["ekonomiskt_bistand"]["rows_out"] > 0
    assert all(v.startswith("passed") for v in manifest["delivery_checks"].values())

    # the figure and its table are in the output request, checked, with their records
    request = out / "output-request"
    record = json.loads((request / "records" / "long_term_by_year.json").read_text())
    assert record["checked"] and record["record"]["status"] == "pass"
    assert record["requested_by"] == "anna.andersson"
    assert (request / "long_term_by_year.html").exists()
    assert (request / "long_term_by_year_table.csv").exists()
    assert set(json.loads((request / "results.json").read_text())["results"]) == {
        "long_term_by_year",
        "long_term_by_year_table",
    }
    # released by the steward, with a signed manifest that verifies
    released = sorted(p for p in (out / "releases" / "P2026-001").iterdir() if p.is_dir())
    assert len(released) == 1 and (released[0] / "release.sig").exists()
    # verified offline with the steward's public key the demo trusted
    trusted = {"MIKRODATA_TRUSTED_KEYS": str(out / "state" / "trusted_keys")}
    verified = run_cli("release", "verify", str(released[0]), env=trusted)
    assert verified.exit_code == 0, verified.output

    # the lab project the README opens: the extract and the researcher notebook
    assert (out / "lab" / "extract" / "manifest.json").exists()
    assert (out / "lab" / "notebooks" / "researcher_spells.ipynb").exists()

    # one index links everything, and every link resolves
    index = out / "index.html"
    assert str(index) in result.output
    parser = _Links()
    parser.feed(index.read_text("utf-8"))
    assert len(parser.hrefs) >= 12
    for href in parser.hrefs:
        assert (out / href).exists(), href
    for needed in ("data_docs", "missingness.html", "history.html", "long_term_by_year.html"):
        assert any(needed in h for h in parser.hrefs), needed

    # the state stayed inside the demo folder; the trail verifies with the public key
    trust = TrustStore.load(out / "state" / "trusted_keys")
    report = AuditLog(out / "state" / "audit.jsonl").verify(trust=trust)
    assert report.events >= 10 and report.signed_events >= 5
    assert not (tmp_path / ".mikrodata").exists()

    # nothing the researcher side wrote holds a raw personnummer
    raw = _raw_identifiers(out / "registers")
    digits = re.compile(r"\d{10,12}")
    for folder in (request, out / "analysis", out / "lab" / "extract"):
        for path in folder.rglob("*"):
            if path.is_file() and path.suffix in (".html", ".json", ".csv"):
                found = set(digits.findall(path.read_text("utf-8", errors="replace")))
                assert not found & (raw | {r[2:] for r in raw}), path
