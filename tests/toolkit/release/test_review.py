"""The steward's review: list, show, approve (two-person rule, re-check under the approved
rules, reviewers: 2), reject; the signed release folder and its audit events."""

from __future__ import annotations

import json

import pytest

from mikrodata import disclosure
from mikrodata.toolkit.errors import AccessRefused, DisclosureError
from mikrodata.toolkit.release import verify_release
from tests.access_requests.support import PI, RESEARCHER, STEWARD
from tests.toolkit.disclosure.support import microdata
from tests.toolkit.release.conftest import STEWARD2

# kommun x manad; 2584 in month 1 holds 3 persons: primary, with 3 secondary cells
COUNTS = {
    ("0114", "1"): 40,
    ("0114", "2"): 45,
    ("0180", "1"): 30,
    ("0180", "2"): 35,
    ("2584", "1"): 3,
    ("2584", "2"): 14,
}


def _request(world, name="by_kommun", counts=COUNTS, user=RESEARCHER, monkeypatch=None, **kw):
    if monkeypatch is not None:
        monkeypatch.setenv("MIKRODATA_USER", user)
    t = disclosure.crosstab(microdata(counts, ["kommun", "manad"]), "kommun", "manad", **kw)
    disclosure.request_release(t, name, "Persons by kommun and month", source=world.source)
    return t


def test_the_requester_can_never_approve_their_own_output(world, monkeypatch, run_cli):
    # a steward who is also asking for an output (declared here as the requester)
    monkeypatch.setenv("MIKRODATA_USER", STEWARD)
    t = disclosure.crosstab(microdata(COUNTS, ["kommun", "manad"]), "kommun", "manad")
    disclosure.request_release(t, "own", "Own table", source=world.source)
    with pytest.raises(AccessRefused, match="cannot review it"):
        world.approve(STEWARD)
    refused = [e for e in world.log.events() if e["action"] == "access_refused"]
    assert refused[-1]["details"]["output"] == "own"
    assert not world.releases.exists()
    # the command line: exit 13, like the gate's other refusals
    result = run_cli("release", "approve", "--project", str(world.request), "--user", STEWARD)
    assert result.exit_code == 13, result.output
    assert "two-person rule" in result.output
    # another steward may
    assert world.approve(STEWARD2)["state"] == "released"


def test_a_researcher_cannot_approve(world, monkeypatch):
    _request(world, monkeypatch=monkeypatch)
    with pytest.raises(AccessRefused, match="not a steward"):
        world.approve(PI)


def test_approve_writes_a_signed_release_and_audit_events(world, monkeypatch, run_cli):
    _request(world, monkeypatch=monkeypatch)
    result = run_cli("release", "list", "--project", str(world.request), "--json")
    assert result.exit_code == 0, result.output
    listed = json.loads(result.output)["outputs"]
    assert [(o["name"], o["state"], o["requested_by"]) for o in listed] == [
        ("by_kommun", "pending", RESEARCHER)
    ]
    shown = run_cli("release", "show", "--project", str(world.request), "by_kommun", "--json")
    assert json.loads(shown.output)["status"] == "pass"
    text = run_cli("release", "show", "--project", str(world.request), "by_kommun").output
    assert "by_kommun: Persons by kommun and month" in text
    assert "approvals: none (needs 1)" in text and "state: pending" in text
    monkeypatch.delenv("MIKRODATA_USER")
    out = run_cli(
        "release", "approve", "--project", str(world.request), "--user", STEWARD, "--json"
    )
    assert out.exit_code == 0, out.output
    doc = json.loads(out.output)
    assert doc["state"] == "released" and doc["release_id"] == "P2026-001-R001"
    folder = world.releases / "P2026-001" / "P2026-001-R001"
    assert sorted(p.name for p in folder.iterdir()) == [
        "by_kommun.csv",
        "release.json",
        "release.sig",
    ]
    checked = verify_release(folder)
    m = checked.manifest
    assert m["approved_by"] == [STEWARD] and m["requested_by"] == [RESEARCHER]
    assert m["project"] == "P2026-001" and m["profile"] == "acro"
    assert m["rules"]["min_count"] == 10
    assert m["source"][0]["manifest_sha256"] == world.source["manifest_sha256"]
    assert m["files"][0]["path"] == "by_kommun.csv"
    # the released CSV hides the small cell
    assert "3" not in (folder / "by_kommun.csv").read_text().split("2584")[1].split("\n")[0]
    actions = [e["action"] for e in world.log.events("P2026-001")]
    assert "release_requested" in actions and actions[-1] == "release_approved"
    approved = world.log.events("P2026-001")[-1]
    assert "signature" in approved
    assert approved["details"]["manifest_sha256"] == checked.manifest_sha256
    world.log.verify()  # the chain and its signed release event hold
    listed = json.loads(
        run_cli("release", "list", "--project", str(world.request), "--json").output
    )["outputs"]
    assert listed[0]["state"] == "released" and listed[0]["release_id"] == "P2026-001-R001"
    # approving again: nothing pending
    again = run_cli("release", "approve", "--project", str(world.request), "--user", STEWARD)
    assert again.exit_code == 11 and "nothing to review" in again.output


def test_reject_is_signed_and_final(world, monkeypatch, run_cli):
    _request(world, monkeypatch=monkeypatch)
    monkeypatch.delenv("MIKRODATA_USER")
    out = run_cli(
        "release",
        "reject",
        "--project",
        str(world.request),
        "--user",
        STEWARD,
        "--reason",
        "Too detailed",
        "--json",
    )
    assert out.exit_code == 0, out.output
    event = world.log.events("P2026-001")[-1]
    assert event["action"] == "release_rejected" and "signature" in event
    assert event["details"]["reason"] == "Too detailed"
    listed = json.loads(
        run_cli("release", "list", "--project", str(world.request), "--json").output
    )["outputs"]
    assert listed[0]["state"] == "rejected"
    again = run_cli("release", "approve", "--project", str(world.request), "--user", STEWARD)
    assert again.exit_code == 11 and "nothing to review" in again.output


def test_two_reviewers_two_different_stewards(world2, monkeypatch):
    world = world2
    _request(world, monkeypatch=monkeypatch)
    first = world.approve(STEWARD)
    assert first["state"] == "approved" and first["approved_by"] == [STEWARD]
    assert not world.releases.exists()
    with pytest.raises(AccessRefused, match="already approved"):
        world.approve(STEWARD)
    second = world.approve(STEWARD2)
    assert second["state"] == "released"
    m = verify_release(second["directory"]).manifest
    assert m["approved_by"] == [STEWARD, STEWARD2] and m["reviewers"] == 2


def test_approval_rechecks_under_the_approved_rules(world, monkeypatch):
    # checked by the researcher with a threshold of 3: the 3-person cell is published
    _request(
        world, monkeypatch=monkeypatch, rules=disclosure.Rules.profile("acro").replace(min_count=3)
    )
    with pytest.raises(DisclosureError, match="breaks min_count but is published"):
        world.approve(STEWARD)
    assert world.log.events("P2026-001")[-1]["action"] == "release_refused"
    assert not world.releases.exists()


def test_an_output_changed_after_its_check_is_refused(world, monkeypatch):
    _request(world, monkeypatch=monkeypatch)
    csv = world.requests / "by_kommun.csv"
    text = csv.read_text()
    assert "\n2584,," in text  # the hidden cell of 3 persons
    csv.write_text(text.replace("\n2584,,", "\n2584,3,"))
    with pytest.raises(DisclosureError, match="changed after its check"):
        world.approve(STEWARD)


def test_editing_who_asked_does_not_get_round_the_two_person_rule(world, monkeypatch):
    monkeypatch.setenv("MIKRODATA_USER", STEWARD)
    t = disclosure.crosstab(microdata(COUNTS, ["kommun", "manad"]), "kommun", "manad")
    path = disclosure.request_release(t, "own", "Own table", source=world.source)
    entry = json.loads(path.read_text())
    entry["requested_by"] = RESEARCHER  # the entry file can be edited; the log cannot
    path.write_text(json.dumps(entry, indent=2))
    with pytest.raises(AccessRefused, match="steward asked for output 'own'"):
        world.approve(STEWARD)


def test_project_by_its_id_in_the_working_directory(world, monkeypatch, run_cli):
    _request(world, monkeypatch=monkeypatch)
    monkeypatch.delenv("MIKRODATA_USER")
    monkeypatch.chdir(world.base)
    out = run_cli("release", "list", "--project", "P2026-001")
    assert out.exit_code == 0, out.output
    assert "by_kommun\ttable\tpass\tpending\trequested by bertil.berg" in out.output
    missing = run_cli("release", "list", "--project", "P2099-999")
    assert missing.exit_code == 11 and "no access request for project" in missing.output


def test_a_magnitude_table_is_rechecked_for_dominance_under_the_approved_rules(world, monkeypatch):
    import pandas as pd

    # x = a: 12 persons; the two largest amounts 50 and 42 of a sum of 100 (ten more of
    # 0.8 each): the top 2 hold 92 %. p-ratio (100 - 50 - 42) / 50 = 16 % passes.
    # x = b: 12 persons of 10 each. The project's rules (acro): dominance (2, 90 %), so a
    # breaks it; the researcher checked with (2, 95 %), under which it does not.
    amounts = [50.0, 42.0] + [0.8] * 10 + [10.0] * 12
    frame = pd.DataFrame(
        {
            "x": ["a"] * 12 + ["b"] * 12,
            "lopnr": [f"{i:016x}" for i in range(24)],
            "belopp": amounts,
        }
    )
    loose = disclosure.Rules.profile("acro").replace(dominance_k=0.95)
    t = disclosure.magnitude(frame, "x", values="belopp", rules=loose)
    assert t.status == "pass" and t.published["sum"].notna().all()
    assert disclosure.magnitude(frame, "x", values="belopp").published["sum"].isna().sum() == 2
    monkeypatch.setenv("MIKRODATA_USER", RESEARCHER)
    disclosure.request_release(t, "sums", "Amounts by x", source=world.source)
    with pytest.raises(DisclosureError, match=r"cell \{'x': 'a'\} breaks dominance"):
        world.approve(STEWARD)


def test_a_snapshot_round_trips_and_an_edited_one_is_refused(world, monkeypatch):
    from mikrodata.toolkit.disclosure.snapshot import TableSnapshot

    t = _request(world, monkeypatch=monkeypatch)
    path = world.requests / "records" / "by_kommun.snapshot.json"
    snap = TableSnapshot.load(path)
    again = TableSnapshot.from_table("by_kommun", t)
    assert snap.digest() == again.digest()
    assert list(snap.state) == list(t.cells["state"])
    doc = json.loads(path.read_text())
    doc["cells"][0][2] = 1  # someone lowers a true count
    path.write_text(json.dumps(doc))
    with pytest.raises(DisclosureError, match="snapshot was changed after its check"):
        world.approve(STEWARD)


def test_rounded_tables_and_percentiles_are_released_without_a_false_refusal(world, monkeypatch):
    import pandas as pd

    monkeypatch.setenv("MIKRODATA_USER", RESEARCHER)
    rounded = disclosure.crosstab(
        microdata(COUNTS, ["kommun", "manad"]), "kommun", "manad", mitigation="round"
    )
    assert set(rounded.cells["state"]) >= {"rounded", "redacted"}
    disclosure.request_release(rounded, "rounded", "Rounded to 5", source=world.source)
    frame = pd.DataFrame(
        {"lopnr": [f"{i:016x}" for i in range(60)], "belopp": [float(i) for i in range(60)]}
    )
    q = disclosure.percentiles(frame, "belopp", q=(0.5,))
    assert q.status == "pass"
    disclosure.request_release(q, "median", "Median amount", source=world.source)
    monkeypatch.delenv("MIKRODATA_USER")
    result = world.approve(STEWARD)
    assert result["state"] == "released" and result["outputs"] == ["median", "rounded"]
    # a percentile checked with a lower threshold than the approval's is refused
    monkeypatch.setenv("MIKRODATA_USER", RESEARCHER)
    weak = disclosure.percentiles(
        frame, "belopp", q=(0.5,), rules=disclosure.Rules.profile("acro").replace(min_count=5)
    )
    disclosure.request_release(weak, "median_weak", "Median", source=world.source)
    monkeypatch.delenv("MIKRODATA_USER")
    with pytest.raises(DisclosureError, match="checked with weaker rules: min_count 5 < 10"):
        world.approve(STEWARD)


def test_a_table_of_means_is_rechecked_on_its_sums(world, monkeypatch):
    import pandas as pd

    # x = a: 12 persons of 10 (mean 10); x = b: 3 persons of 20 (too few: hidden, and a
    # with it, since the total's mean and count would give b back)
    frame = pd.DataFrame(
        {
            "x": ["a"] * 12 + ["b"] * 3 + ["c"] * 15,
            "lopnr": [f"{i:016x}" for i in range(30)],
            "belopp": [10.0] * 12 + [20.0] * 3 + [5.0] * 15,
        }
    )
    t = disclosure.magnitude(frame, "x", values="belopp", aggfunc="mean")
    assert t.status == "pass" and t.published["mean"].isna().sum() == 2
    monkeypatch.setenv("MIKRODATA_USER", RESEARCHER)
    disclosure.request_release(t, "means", "Mean amounts", source=world.source)
    monkeypatch.delenv("MIKRODATA_USER")
    assert world.approve(STEWARD)["state"] == "released"
