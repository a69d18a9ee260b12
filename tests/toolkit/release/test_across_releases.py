"""Across releases: differencing against the project's earlier releases, and outputs whose
data is a dummy extract, another project's, or unknown. Worked examples by hand."""

from __future__ import annotations

import json

import pytest

import mikrodata
from mikrodata import disclosure
from mikrodata.toolkit.errors import BadInputError, DisclosureError
from mikrodata.toolkit.extract import build_dummy_extract
from tests.access_requests.support import PI, RESEARCHER, STEWARD
from tests.toolkit.disclosure.support import microdata

# Persons by r and kon (one population for both releases):
#
#            kon 1   kon 2   Total
#    a           1       2       3
#    b          12      12      24
#    c           2      23      25
#    Total      15      37      52
COUNTS = {
    ("a", "1"): 1,
    ("a", "2"): 2,
    ("b", "1"): 12,
    ("b", "2"): 12,
    ("c", "1"): 2,
    ("c", "2"): 23,
}


def _ask(world, monkeypatch, table, name):
    monkeypatch.setenv("MIKRODATA_USER", RESEARCHER)
    disclosure.request_release(table, name, f"Table {name}", source=world.source)
    monkeypatch.delenv("MIKRODATA_USER")


def test_a_table_that_gives_back_a_cell_hidden_by_an_earlier_release_is_refused(world, monkeypatch):
    frame = microdata(COUNTS, ["r", "kon"])
    # Release 1, persons by r: a = 3 is below 10; the cheapest other row, b = 24, is
    # hidden with it. Published: c = 25, Total = 52 (a + b = 27: a lies in 0..27).
    by_r = disclosure.frequency(frame, "r")
    assert by_r.published["count"].tolist()[2:] == [25, 52]
    assert by_r.published["count"].isna().tolist() == [True, True, False, False]
    _ask(world, monkeypatch, by_r, "by_r")
    assert world.approve(STEWARD)["release_id"] == "P2026-001-R001"
    # Release 2, persons by r and kon: a's cells and (c, 1) = 2 break the rule; row c
    # then costs less to hide than row b, so c is hidden and b's total published:
    # (b, Total) = 24. Alone that is safe (a + c = 52 - 24 = 28).
    by_r_kon = disclosure.crosstab(frame, "r", "kon")
    assert by_r_kon.status == "pass"
    totals = by_r_kon.published["Total"]
    assert totals.isna().tolist() == [True, False, True, False]
    assert totals["b"] == 24
    _ask(world, monkeypatch, by_r_kon, "by_r_kon")
    # Together: a = 52 - 24 (release 2) - 25 (release 1) = 3, exactly.
    with pytest.raises(DisclosureError) as caught:
        world.approve(STEWARD)
    message = caught.value.message
    assert "combined with P2026-001-R001's 'by_r'" in message
    assert "{'r': 'a', 'kon': 'Total'} can be worked back (recoverable" in message
    assert "by_r: {'r': 'a'} can be worked back" in message  # and release 1's own a
    assert world.log.events("P2026-001")[-1]["action"] == "release_refused"
    assert not (world.releases / "P2026-001" / "P2026-001-R002").exists()


def test_the_same_two_tables_in_one_release_are_refused_too(world, monkeypatch):
    frame = microdata(COUNTS, ["r", "kon"])
    _ask(world, monkeypatch, disclosure.frequency(frame, "r"), "by_r")
    _ask(world, monkeypatch, disclosure.crosstab(frame, "r", "kon"), "by_r_kon")
    with pytest.raises(DisclosureError, match="'by_r' of this release"):
        world.approve(STEWARD)


def test_a_population_a_few_units_smaller_than_a_release_is_refused(world, monkeypatch):
    # persons by kon, everyone: 15 + 37 = 52; then everyone but r = a (3 persons):
    # 14 + 35 = 49. Each alone passes; the difference is a's table (1 and 2 persons).
    frame = microdata(COUNTS, ["r", "kon"])
    everyone = disclosure.frequency(frame, "kon")
    assert everyone.published["count"].tolist() == [15, 37, 52]
    _ask(world, monkeypatch, everyone, "by_kon")
    world.approve(STEWARD)
    without_a = disclosure.frequency(frame[frame.r != "a"], "kon")
    assert without_a.published["count"].tolist() == [14, 35, 49]
    _ask(world, monkeypatch, without_a, "by_kon_without_a")
    with pytest.raises(DisclosureError, match="population differs from released"):
        world.approve(STEWARD)


def test_an_unrelated_second_release_is_not_refused(world, monkeypatch):
    frame = microdata(COUNTS, ["r", "kon"])
    _ask(world, monkeypatch, disclosure.frequency(frame, "r"), "by_r")
    world.approve(STEWARD)
    other = microdata({("x",): 40, ("y",): 50}, ["s"])
    _ask(world, monkeypatch, disclosure.frequency(other, "s"), "by_s")
    assert world.approve(STEWARD)["release_id"] == "P2026-001-R002"


def test_a_release_from_a_dummy_extract_is_refused(world, monkeypatch, tmp_path):
    dummy = build_dummy_extract(world.request, tmp_path / "dummy", persons=40, user=PI)
    project = mikrodata.open_extract(dummy.out, user=RESEARCHER)
    frame = project.frame("ekonomiskt_bistand")
    assert frame.attrs["mikrodata"]["dummy"] is True
    table = disclosure.frequency(frame, "sex", unit="lopnr")  # carries its source
    monkeypatch.setenv("MIKRODATA_USER", RESEARCHER)
    disclosure.request_release(table, "dummy_by_kon", "Persons by sex")
    monkeypatch.delenv("MIKRODATA_USER")
    with pytest.raises(DisclosureError, match="made from a dummy extract"):
        world.approve(STEWARD)
    assert not world.releases.exists()


def test_a_release_from_the_real_extract_carries_its_source(world, monkeypatch):
    project = mikrodata.open_extract(world.extract, user=RESEARCHER)
    frame = project.frame("ekonomiskt_bistand")
    table = disclosure.frequency(frame, "sex", unit="lopnr")
    assert table.status == "pass"
    monkeypatch.setenv("MIKRODATA_USER", RESEARCHER)
    disclosure.request_release(table, "by_kon", "Persons by sex")
    monkeypatch.delenv("MIKRODATA_USER")
    result = world.approve(STEWARD)
    manifest = mikrodata.toolkit.release.verify_release(result["directory"]).manifest
    assert manifest["source"][0]["manifest_sha256"] == world.source["manifest_sha256"]
    assert manifest["source"][0]["dummy"] is False


def test_outputs_of_unknown_or_foreign_data_are_refused(world, monkeypatch):
    monkeypatch.setenv("MIKRODATA_USER", RESEARCHER)
    t = disclosure.frequency(microdata({("x",): 40, ("y",): 50}, ["s"]), "s")
    # A request from before the source was asked for at request time: none recorded.
    monkeypatch.setattr(mikrodata.toolkit.sources, "_OPENED", [dict(world.source)])
    path = disclosure.request_release(t, "unknown", "No source")
    entry = json.loads(path.read_text())
    path.write_text(json.dumps(dict(entry, source=None, source_inferred=False)))
    foreign = dict(world.source, manifest_sha256="0" * 64)
    disclosure.request_release(t, "foreign", "Not this trail's extract", source=foreign)
    monkeypatch.delenv("MIKRODATA_USER")
    with pytest.raises(DisclosureError, match="unknown") as caught:
        world.approve(STEWARD, names=["unknown"])
    assert "pass source=project" in caught.value.message
    with pytest.raises(DisclosureError, match="trail does not hold"):
        world.approve(STEWARD, names=["foreign"])


def test_a_trail_table_missing_or_changed_is_an_integrity_error(world, monkeypatch):
    from mikrodata.toolkit.errors import IntegrityError

    frame = microdata(COUNTS, ["r", "kon"])
    _ask(world, monkeypatch, disclosure.frequency(frame, "r"), "by_r")
    world.approve(STEWARD)
    kept = world.trail / "P2026-001" / "P2026-001-R001" / "by_r.snapshot.json"
    assert kept.is_file()
    other = microdata({("x",): 40, ("y",): 50}, ["s"])
    _ask(world, monkeypatch, disclosure.frequency(other, "s"), "by_s")
    text = kept.read_text()
    kept.write_text(text.replace('"a"', '"A"', 1))
    with pytest.raises(IntegrityError, match="was changed after release"):
        world.approve(STEWARD)
    kept.unlink()
    with pytest.raises(IntegrityError, match="the release trail lacks table 'by_r'"):
        world.approve(STEWARD)


@pytest.mark.parametrize("opened", [0, 2])
def test_an_output_of_unknown_data_is_refused_when_it_is_asked_for(world, monkeypatch, opened):
    monkeypatch.setenv("MIKRODATA_USER", RESEARCHER)
    other = dict(world.source, manifest_sha256="1" * 64)
    monkeypatch.setattr(mikrodata.toolkit.sources, "_OPENED", [dict(world.source), other][:opened])
    t = disclosure.frequency(microdata({("x",): 40, ("y",): 50}, ["s"]), "s")
    with pytest.raises(BadInputError, match="the data it was made from is unknown") as caught:
        disclosure.request_release(t, "unknown", "No source")
    assert "source=project" in caught.value.hint
    if opened:
        assert "2 extracts are open in this session" in caught.value.message
    # Saying which extract is enough.
    disclosure.request_release(t, "known", "With its source", source=world.source)


def test_with_one_extract_opened_an_output_of_lost_source_is_of_that_extract(world, monkeypatch):
    # Why a table can lose its source: pandas drops attrs in groupby(...).agg.
    frame = microdata({("x",): 40, ("y",): 50}, ["s"])
    frame.attrs["mikrodata"] = dict(world.source)
    assert frame.groupby("s", observed=True).agg(n=("s", "size")).attrs == {}
    monkeypatch.setattr(mikrodata.toolkit.sources, "_OPENED", [])
    mikrodata.toolkit.sources.record_opened(world.source)
    mikrodata.toolkit.sources.record_opened(world.source)  # opened twice: one extract
    monkeypatch.setenv("MIKRODATA_USER", RESEARCHER)
    t = disclosure.frequency(microdata({("x",): 40, ("y",): 50}, ["s"]), "s")
    entry = json.loads(disclosure.request_release(t, "inferred", "Persons by s").read_text())
    assert entry["source_inferred"] is True
    assert entry["source"]["manifest_sha256"] == world.source["manifest_sha256"]
    monkeypatch.delenv("MIKRODATA_USER")
    assert world.approve(STEWARD, names=["inferred"])["release_id"]
