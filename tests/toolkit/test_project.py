"""The researcher's front door: ``mikrodata.open_extract`` verifies the extract offline,
passes the gate against its signed approval, records the load, and gives each register
as labelled pandas frames or DuckDB relations."""

from __future__ import annotations

import datetime as dt
import shutil

import pandas as pd
import pytest

import mikrodata
from mikrodata.access_requests import AuditLog
from mikrodata.toolkit import clock
from mikrodata.toolkit.errors import AccessRefused, IntegrityError
from mikrodata.toolkit.extract import build_dummy_extract
from tests.access_requests.support import (
    PI,
    RESEARCHER,
    STEWARD,
    approved_extract,
    make_delivery,
    make_keystore,
)


@pytest.fixture(scope="module")
def delivery(tmp_path_factory):
    return make_delivery(tmp_path_factory.mktemp("registers"), persons=80)


@pytest.fixture
def extract(tmp_path, delivery, monkeypatch):
    """A steward-built extract, copied to a researcher's fresh home that trusts only
    the steward's public key."""
    keystore = make_keystore(tmp_path / "steward" / "keystore")
    built = approved_extract(tmp_path / "steward", delivery["root"], keystore)
    (tmp_path / "steward.pub").write_text(built.store.public_key().to_text())
    home = tmp_path / "researcher"
    home.mkdir()
    monkeypatch.setenv("MIKRODATA_HOME", str(home))
    monkeypatch.setenv("MIKRODATA_TRUSTED_KEYS", str(tmp_path / "steward.pub"))
    shutil.copytree(built.out, home / "extract")
    return home / "extract"


def test_open_lists_registers_years_variables_and_records_the_load(extract):
    project = mikrodata.open_extract(extract, user=RESEARCHER)
    assert project.project == "P2026-001" and not project.dummy
    assert project.registers == ("ekonomiskt_bistand",)
    assert set(project.years("ekonomiskt_bistand")) <= set(range(2012, 2021))
    variables = project.variables("ekonomiskt_bistand")
    assert "kommun" in set(variables["name"])
    assert variables.set_index("name").loc["kommun", "label"] == "Municipality"
    assert "P2026-001" in repr(project) and "ekonomiskt_bistand" in repr(project)
    events = AuditLog().events()
    assert [e["action"] for e in events] == ["extract_loaded"]
    assert events[0]["user"] == RESEARCHER


def test_frames_are_arrow_backed_with_catalogue_labels(extract):
    project = mikrodata.open_extract(extract, user=PI)
    frame = project.frame("ekonomiskt_bistand")
    assert isinstance(frame.dtypes["statistikar"], pd.ArrowDtype)
    assert isinstance(frame["hushallstyp"].dtype, pd.CategoricalDtype)
    assert set(frame["hushallstyp"].dropna()) <= {
        c.label_en
        for c in mikrodata.quality.catalogue.load("ekonomiskt_bistand")
        .variable("hushallstyp")
        .codes.codes
    }
    swedish = project.frame("ekonomiskt_bistand", labels="sv", columns=["hushallstyp"])
    assert "Okänd" in list(swedish["hushallstyp"].cat.categories)
    codes = project.frame("ekonomiskt_bistand", labels=None, years=[2015])
    assert set(codes["statistikar"].unique()) <= {2015}
    assert len(codes) < len(frame)
    assert frame.attrs["mikrodata"]["dummy"] is False
    assert frame.attrs["mikrodata"]["project"] == "P2026-001"
    assert len(frame.attrs["mikrodata"]["manifest_sha256"]) == 64
    relation = project.relation("ekonomiskt_bistand")
    assert relation.count("*").fetchall()[0][0] == len(frame)


def test_only_the_projects_researchers_may_open_it(extract):
    for user in (STEWARD, "mallory"):
        with pytest.raises(AccessRefused, match=f"user {user} is not a researcher"):
            mikrodata.open_extract(extract, user=user)
    assert [e["action"] for e in AuditLog().events()] == ["access_refused"] * 2


def test_an_ended_approval_cannot_be_opened(extract, monkeypatch):
    monkeypatch.setattr(clock, "today", lambda: dt.date(2030, 1, 1))
    with pytest.raises(AccessRefused, match="expired on 2029-12-31"):
        mikrodata.open_extract(extract, user=RESEARCHER)


def test_a_tampered_extract_does_not_open(extract):
    (extract / "ekonomiskt_bistand" / "part-0.parquet").write_bytes(b"not parquet")
    with pytest.raises(IntegrityError, match="differs from the manifest"):
        mikrodata.open_extract(extract, user=RESEARCHER)


def test_unknown_register_or_column_says_what_there_is(extract):
    project = mikrodata.open_extract(extract, user=RESEARCHER)
    with pytest.raises(mikrodata.BadInputError, match="It holds: ekonomiskt_bistand"):
        project.frame("lss")
    with pytest.raises(mikrodata.BadInputError, match="no column 'flykting'"):
        project.frame("ekonomiskt_bistand", columns=["flykting"])


def test_a_dummy_opens_the_same_way_and_says_it_is_a_dummy(tmp_path):
    from tests.access_requests.support import write_request

    request = write_request(tmp_path / "P.yaml")
    build_dummy_extract(request, tmp_path / "dummy", persons=20, user=PI)
    project = mikrodata.open_extract(tmp_path / "dummy", user=PI)
    assert project.dummy and project.approval is None
    assert "dummy extract" in repr(project)
    frame = project.frame("ekonomiskt_bistand")
    assert len(frame) > 0 and frame.attrs["mikrodata"]["dummy"] is True


def test_an_opened_extract_is_noted_as_the_session_s_source_and_a_refused_one_is_not(
    extract, tmp_path, monkeypatch
):
    from mikrodata.toolkit import sources

    monkeypatch.setattr(sources, "_OPENED", [])
    with pytest.raises(AccessRefused):
        mikrodata.open_extract(extract, user=STEWARD)
    assert sources.opened_extracts() == []
    project = mikrodata.open_extract(extract, user=RESEARCHER)
    mikrodata.open_extract(extract, user=RESEARCHER)  # opened twice: noted once
    expected = {k: project.provenance()[k] for k in ("project", "dummy", "manifest_sha256")}
    assert sources.opened_extracts() == [expected]
