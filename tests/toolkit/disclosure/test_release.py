"""Figures that carry their check record, and the output request in ACRO's layout, opened
by the SACRO viewer's own loading code (in a separate environment: it pins Django 4.1)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
import pytest

from mikrodata import BadInputError, DisclosureError, disclosure
from tests.toolkit.disclosure.support import microdata

COUNTS = {
    ("0114", "1"): 40,
    ("0114", "2"): 45,
    ("0180", "1"): 30,
    ("0180", "2"): 35,
    ("2584", "1"): 3,
    ("2584", "2"): 14,
}


@pytest.fixture(autouse=True)
def one_extract_opened(monkeypatch):
    # These tables are of hand-made frames: the one extract "opened" is their source.
    source = {"project": "P2026-001", "dummy": False, "manifest_sha256": "0" * 64}
    monkeypatch.setattr("mikrodata.toolkit.sources._OPENED", [source])


@pytest.fixture
def table():
    return disclosure.crosstab(microdata(COUNTS, ["kommun", "manad"]), "kommun", "manad")


def test_a_figure_from_a_checked_table_is_checked_and_carries_no_hidden_value(table):
    fig = disclosure.figure(table)
    assert disclosure.is_checked(fig)
    meta = fig.layout.meta["mikrodata"]
    assert meta["check"]["status"] == "pass"
    assert meta["check"]["actions"] == {"suppressed": 1, "secondary": 3}
    assert "intervals" not in json.dumps(meta)  # no audit bound of a hidden cell
    plotted = [v for trace in fig.data for v in trace.y if v == v]
    assert 3 not in plotted
    # changed after the check: no longer checked
    fig.data[0].y = [1, 2, 3]
    assert not disclosure.is_checked(fig)


@pytest.mark.parametrize("by", [None, "group"])
def test_a_survival_curve_with_every_group_suppressed_draws_an_empty_checked_figure(by):
    # six spells in three groups of two, under a minimum of ten: nothing is published
    spells = pd.DataFrame(
        {
            "lopnr": [f"p{i}" for i in range(6)],
            "months": [1, 2, 3, 4, 5, 6],
            "ended": [True, True, False, True, True, True],
            "group": list("aabbcc"),
        }
    )
    table = disclosure.survival(spells, "months", "ended", by=by, unit="lopnr", rules="acro")
    assert table.published.empty
    fig = disclosure.figure(table)
    assert not fig.data and "every cell was suppressed" in fig.layout.annotations[0].text
    assert disclosure.is_checked(fig)


def test_attach_refuses_a_figure_that_plots_a_hidden_value(table):
    own = go.Figure(go.Bar(x=["0114", "2584"], y=[40, 3]))
    with pytest.raises(DisclosureError, match="does not publish"):
        disclosure.attach(own, table)
    ok = disclosure.attach(go.Figure(go.Bar(x=["1", "2"], y=[40, 45])), table)
    assert disclosure.is_checked(ok)


def test_release_refuses_unchecked_and_failed_outputs(table, tmp_path):
    raw = go.Figure(go.Bar(x=["a"], y=[3]))
    with pytest.raises(DisclosureError) as err:
        disclosure.request_release(raw, "raw", "A figure", folder=tmp_path)
    assert "not made from a checked table" in err.value.message
    assert "mikrodata.disclosure.figure(t)" in err.value.hint
    with pytest.raises(DisclosureError):
        disclosure.request_release(table.published, "df", "A frame", folder=tmp_path)
    first = disclosure.frequency(microdata(COUNTS, ["kommun", "manad"]), "kommun")
    frame = microdata(COUNTS, ["kommun", "manad"])
    failed = disclosure.frequency(
        frame[frame.kommun != "2584"], "manad", released=[disclosure.frequency(frame, "manad")]
    )
    assert failed.status == "fail"
    with pytest.raises(DisclosureError, match="failed its checks"):
        disclosure.request_release(failed, "diff", "Differs by one kommun", folder=tmp_path)
    assert first.status == "pass"


def test_review_needs_a_justification(tmp_path):
    frame = pd.DataFrame(
        {"x": ["a"] * 12, "lopnr": [f"{i:016x}" for i in range(12)], "belopp": [-5] + [10] * 11}
    )
    t = disclosure.magnitude(frame, "x", values="belopp")
    assert t.status == "review"
    with pytest.raises(BadInputError, match="justification"):
        disclosure.request_release(t, "sums", "Sums", folder=tmp_path)
    path = disclosure.request_release(
        t, "sums", "Sums", "One repayment; no unit dominates", folder=tmp_path
    )
    entry = json.loads(path.read_text())
    assert entry["justification"].startswith("One repayment")
    results = json.loads((tmp_path / "results.json").read_text())["results"]
    assert results["sums"]["status"] == "review"
    assert results["sums"]["exception"].startswith("One repayment")


def _request_two_outputs(table, folder):
    disclosure.request_release(table, "by_kommun", "Persons by kommun and month", folder=folder)
    disclosure.request_release(
        table.figure(title="Persons"),
        "by_kommun_fig",
        "The same as a figure",
        folder=folder,
        table=table,
    )


def test_the_request_folder_holds_outputs_records_checksums_and_acro_results(table, tmp_path):
    _request_two_outputs(table, tmp_path)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == [
        "by_kommun.csv",
        "by_kommun_fig.html",
        "by_kommun_fig.plotly.json",
        "checksums",
        "config.json",
        "records",
        "results.json",
    ]
    doc = json.loads((tmp_path / "results.json").read_text())
    assert doc["version"] == "0.4.0"
    res = doc["results"]["by_kommun"]
    assert res["status"] == "pass" and res["type"] == "table"
    (f,) = res["files"]
    assert f["name"] == "by_kommun.csv"
    # the 2584 row (position 2) is hidden: month 1 broke the threshold
    assert [2, 0] in f["sdc"]["cells"]["threshold"]
    assert f["sdc"]["summary"]["threshold"] == 1
    for out in ("by_kommun.csv", "by_kommun_fig.html", "by_kommun_fig.plotly.json"):
        digest = hashlib.sha256((tmp_path / out).read_bytes()).hexdigest()
        assert (tmp_path / "checksums" / f"{out}.txt").read_text() == digest
    entry = json.loads((tmp_path / "records" / "by_kommun.json").read_text())
    assert entry["record"]["audit"]["passed"]
    # the code that asked: this test's function
    assert "_request_two_outputs" in entry["code"]["source"]
    # the released table is kept for later differencing checks
    (later,) = disclosure.OutputRequest(tmp_path).released_tables()[:1]
    assert later.name == "by_kommun"
    # the figure's html works offline: plotly.js is inside, no CDN
    html = (tmp_path / "by_kommun_fig.html").read_text()
    assert '<script src="http' not in html and "plotly.js" in html.lower()
    csv = pd.read_csv(tmp_path / "by_kommun.csv", dtype={"kommun": str})
    assert csv.set_index("kommun").loc["2584", ["1", "2"]].isna().all()


@pytest.fixture(scope="session")
def sacro_python():
    """A virtual environment with the SACRO viewer (PyPI: sacroviewer) and its Django 4.1,
    kept in the temporary directory between runs (it takes minutes to install)."""
    venv = Path(tempfile.gettempdir()) / "mikrodata-test-sacroviewer-0.2.1"
    python = venv / "bin" / "python"
    ready = venv / ".ready"
    if ready.exists():
        return python
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    done = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "sacroviewer==0.2.1"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if done.returncode != 0:
        pytest.skip(f"the SACRO viewer could not be installed here: {done.stderr[-300:]}")
    ready.touch()
    return python


@pytest.mark.slow
def test_the_sacro_viewer_loads_the_request_with_its_own_code(table, tmp_path, sacro_python):
    _request_two_outputs(table, tmp_path)
    script = textwrap.dedent(
        """
        import json, sys
        from pathlib import Path
        import django
        django.setup()
        from sacro.models import find_acro_metadata, load_from_path
        path = find_acro_metadata(Path(sys.argv[1]))
        outputs = load_from_path(path)
        print(json.dumps({
            "path": path.name,
            "version": outputs.version,
            "outputs": {name: {"status": m["status"],
                               "files": [{"name": f["name"],
                                          "checksum_valid": f["checksum_valid"],
                                          "cells": sorted(f.get("cell_index", {}))}
                                         for f in m["files"]]}
                        for name, m in outputs.items()},
        }))
        """
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "sacro.settings", "SECRET_KEY": "test"}
    done = subprocess.run(
        [str(sacro_python), "-c", script, str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    got = json.loads(done.stdout.strip().splitlines()[-1])
    assert got["path"] == "results.json"
    table_out = got["outputs"]["by_kommun"]
    assert table_out["status"] == "pass"
    assert table_out["files"][0]["checksum_valid"] is True
    assert "2,0" in table_out["files"][0]["cells"]
    fig_files = got["outputs"]["by_kommun_fig"]["files"]
    assert all(f["checksum_valid"] for f in fig_files)
