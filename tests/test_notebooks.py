"""The role notebooks: committed without outputs, and each one runs top to bottom in a
real kernel (nbclient) on a small synthetic setup, showing no raw personnummer in any
output."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import nbformat
import numpy as np
import pyarrow.parquet as pq
import pytest
from nbclient import NotebookClient

from mikrodata.access_requests import AuditLog
from mikrodata.pseudonymisation import TrustStore, parse_identifiers
from mikrodata.toolkit.extract import build_dummy_extract
from mikrodata.toolkit.synthetic.identifiers import random_personnummer

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
ROLES = (
    "steward_extract",
    "quality_review",
    "researcher_spells",
    "researcher_linkage",
    "release_review",
)
# Kept small: the tests run on two shared cores.
PERSONS = "150"
# A population (most never receive assistance) large enough for LSS links and a survival
# curve whose risk sets pass the checks.
LINKED_PERSONS = 6000
SECOND_STEWARD = "steward2"  # the release notebook's second reviewer

# A personnummer or samordningsnummer in any written form: 10 or 12 digits, with or
# without a separator, not part of a longer run of digits or letters (a pseudonym).
CANDIDATE = re.compile(r"(?<![0-9A-Za-z])(?:\d{6}|\d{8})[-+]?\d{4}(?![0-9A-Za-z])")


def _texts(nb: nbformat.NotebookNode) -> list[str]:
    """Everything a reader of the executed notebook sees in its outputs."""
    texts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            texts.append(str(out.get("text", "")))
            texts.extend(
                str(v) for k, v in out.get("data", {}).items() if not k.startswith("image/")
            )
            texts.append(str(out.get("evalue", "")) + " ".join(out.get("traceback", [])))
    return texts


def _raw_identifiers(root: Path) -> set[str]:
    """Every personnummer column value of the synthetic registers under ``root``."""
    raw: set[str] = set()
    for path in root.rglob("*.parquet"):
        schema = pq.read_schema(path)
        if "personnummer" in schema.names:
            raw.update(v for v in pq.read_table(path, columns=["personnummer"])[0].to_pylist() if v)
    return raw


def assert_no_raw_identifier(nb: nbformat.NotebookNode, raw: set[str]) -> None:
    text = "\n".join(_texts(nb))
    candidates = sorted(set(CANDIDATE.findall(text)))
    valid = []
    if candidates:
        parsed = parse_identifiers(candidates)
        valid = [c for c, ok in zip(candidates, parsed["normalised"].notna(), strict=True) if ok]
    assert valid == [], f"{len(valid)} identifier-like values in the outputs"
    digits = {re.sub(r"\D", "", r) for r in raw}
    forms = digits | {d[2:] for d in digits if len(d) == 12}
    assert not any(f in text for f in forms if len(f) >= 10)


def execute(name: str, cwd: Path) -> nbformat.NotebookNode:
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    cwd.mkdir(parents=True, exist_ok=True)
    client = NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(cwd)}}
    )
    client.execute()
    return nb


def output_problems(nb: nbformat.NotebookNode) -> list[str]:
    """What makes a notebook unfit to commit: outputs or execution counts."""
    problems = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            if cell.outputs:
                problems.append(f"cell {i} has outputs")
            if cell.execution_count is not None:
                problems.append(f"cell {i} has an execution count")
    return problems


def test_every_notebook_is_committed_without_outputs():
    found = {p.stem for p in NOTEBOOKS.glob("*.ipynb")}
    assert set(ROLES) <= found
    for path in sorted(NOTEBOOKS.glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
        assert output_problems(nb) == [], path.name


def test_the_checks_catch_outputs_and_a_raw_number():
    nb = nbformat.read(NOTEBOOKS / "researcher_spells.ipynb", as_version=4)
    number = str(random_personnummer(1, np.random.default_rng(16))[0])
    code = next(c for c in nb.cells if c.cell_type == "code")
    code.outputs = [nbformat.v4.new_output("stream", text=f"x {number[2:8]}-{number[8:]} y")]
    code.execution_count = 1
    assert output_problems(nb) == ["cell 1 has outputs", "cell 1 has an execution count"]
    with pytest.raises(AssertionError, match="identifier-like"):
        assert_no_raw_identifier(nb, set())
    code.outputs = [nbformat.v4.new_output("stream", text=f"x{number}")]  # no boundary
    with pytest.raises(AssertionError):
        assert_no_raw_identifier(nb, {number})


@pytest.fixture
def work(tmp_path, monkeypatch):
    monkeypatch.setenv("MIKRODATA_NOTEBOOK_WORK", str(tmp_path / "work"))
    monkeypatch.setenv("MIKRODATA_NOTEBOOK_PERSONS", PERSONS)
    return tmp_path / "work"


@pytest.mark.slow
def test_the_steward_notebook_builds_signs_and_verifies_an_extract(work, tmp_path):
    nb = execute("steward_extract", tmp_path / "cwd")
    text = "\n".join(_texts(nb))
    assert "confidentiality_approved" in text and "extract verified" in text
    run = work / "steward"
    manifest = json.loads((run / "extracts" / "P2026-001" / "manifest.json").read_text())
    assert all(v.startswith("passed") for v in manifest["delivery_checks"].values())
    trust = TrustStore.load(run / "state" / "trusted_keys")
    assert AuditLog(run / "state" / "audit.jsonl").verify(trust=trust).signed_events >= 4
    assert_no_raw_identifier(nb, _raw_identifiers(run / "registers"))


@pytest.mark.slow
def test_the_review_notebook_finds_the_faults_and_signs_off_the_clean_delivery(work, tmp_path):
    nb = execute("quality_review", tmp_path / "cwd")
    text = "\n".join(_texts(nb))
    assert "clean: " in text and ", 0 critical failures" in text and "signed off" in text
    run = work / "review"
    events = AuditLog(run / "state" / "audit.jsonl").events()
    # The researcher's attempt is refused (and logged); the reviewer's sign-off is signed.
    assert [e["action"] for e in events] == ["access_refused", "quality_signoff"]
    assert "refused: anna.andersson is a researcher" in text and "signature" in events[1]
    assert events[1]["details"]["verdict"] == "accepted"
    assert (run / "quality" / "missingness" / "missingness.html").exists()
    assert_no_raw_identifier(
        nb, _raw_identifiers(run / "registers") | _raw_identifiers(run / "registers-with-faults")
    )


@pytest.mark.slow
def test_the_researcher_notebook_on_a_built_extract_requests_a_checked_release(
    tmp_path, monkeypatch
):
    from tests.access_requests.support import (
        RESEARCHER,
        approved_extract,
        make_delivery,
        make_keystore,
    )

    delivery = make_delivery(tmp_path / "registers", persons=120)
    keystore = make_keystore(tmp_path / "steward" / "keystore")
    made = approved_extract(tmp_path / "steward", delivery["root"], keystore)
    built, store = made.result, made.store
    (tmp_path / "steward.pub").write_text(store.public_key().to_text())
    project = tmp_path / "project"
    shutil.copytree(built.out, project / "extract")
    monkeypatch.setenv("MIKRODATA_TRUSTED_KEYS", str(tmp_path / "steward.pub"))
    monkeypatch.setenv("MIKRODATA_USER", RESEARCHER)
    monkeypatch.setenv("MIKRODATA_OUTPUT_REQUESTS", str(tmp_path / "output-request"))
    nb = execute("researcher_spells", project / "notebooks")
    text = "\n".join(_texts(nb))
    assert "disclosure check: pass" in text and "figure checked: True" in text
    assert any(
        "application/vnd.plotly.v1+json" in o.get("data", {})
        for c in nb.cells
        for o in c.get("outputs", [])
    )
    record = json.loads(
        (tmp_path / "output-request" / "records" / "long_term_by_year.json").read_text()
    )
    assert record["checked"] and record["requested_by"] == RESEARCHER
    assert record["record"]["status"] == "pass"
    assert (project / "outputs" / "long_term_by_year.html").exists()
    # the Stata copy carries the catalogue's code list of roll as value labels
    import pyreadstat

    dta, meta = pyreadstat.read_dta(str(project / "outputs" / "ekonomiskt_bistand.dta"))
    assert "written for Stata: ekonomiskt_bistand.dta" in text
    assert len(dta) == len(pq.read_table(project / "extract" / "ekonomiskt_bistand"))
    roll = meta.variable_value_labels["roll"]
    assert roll and all(isinstance(code, (int, float)) for code in roll)
    assert_no_raw_identifier(nb, delivery["raw_ids"])


@pytest.mark.slow
def test_the_researcher_notebook_on_a_dummy_extract_requests_nothing(tmp_path, monkeypatch):
    from tests.access_requests.support import PI, write_request

    request = write_request(tmp_path / "P.yaml")
    build_dummy_extract(request, tmp_path / "project" / "extract", persons=120, user=PI)
    monkeypatch.setenv("MIKRODATA_USER", PI)
    monkeypatch.setenv("MIKRODATA_OUTPUT_REQUESTS", str(tmp_path / "output-request"))
    nb = execute("researcher_spells", tmp_path / "project" / "notebooks")
    text = "\n".join(_texts(nb))
    assert "dummy extract" in text and "nothing is requested" in text
    assert "figure checked: True" in text
    assert not (tmp_path / "output-request").exists()


@pytest.fixture
def linked_extract(tmp_path, monkeypatch):
    """A built extract of synthetic registers with LSS in the approval, opened by the
    researcher in the notebook; the steward's request, key store and audit log."""
    import yaml

    from mikrodata.access_requests import create_request
    from mikrodata.toolkit.synthetic import generate
    from tests.access_requests.support import (
        PASSPHRASE,
        PI,
        RESEARCHER,
        STEWARD,
        approve,
        make_keystore,
        steward_build,
        steward_store,
        write_request,
    )

    registers = tmp_path / "registers"
    generate(registers, persons=LINKED_PERSONS, years=(2018, 2020), seed=16)
    keystore = make_keystore(tmp_path / "steward" / "keystore")
    store = steward_store(keystore)
    log = AuditLog(tmp_path / "steward" / "audit.jsonl")
    request = tmp_path / "steward" / "P2026-001.yaml"
    create_request(request, "P2026-001", user=PI, audit=log)
    write_request(request)
    doc = yaml.safe_load(request.read_text(encoding="utf-8"))
    doc["registers"]["lss"] = {
        "years": "2018-2020",
        "variables": ["ar", "kommun", "insats", "personkrets"],
    }
    # the release asks for two stewards' approvals (the two-person release notebook)
    doc["data_stewards"] = [STEWARD, SECOND_STEWARD]
    doc["output_rules"]["reviewers"] = 2
    request.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), "utf-8")
    approve(request, log, store=store)
    built = steward_build(
        request,
        registers,
        tmp_path / "steward" / "extract",
        keystore,
        log,
        rejects=tmp_path / "steward" / "rejects",
    )
    project = tmp_path / "project"
    shutil.copytree(built.out, project / "extract")
    monkeypatch.setenv("MIKRODATA_USER", RESEARCHER)
    monkeypatch.setenv("MIKRODATA_AUDIT_LOG", str(log.path))
    monkeypatch.setenv("MIKRODATA_OUTPUT_REQUESTS", str(tmp_path / "output-request"))
    return {
        "project": project,
        "request": request,
        "keystore": keystore,
        "log": log,
        "raw": _raw_identifiers(registers),
        "steward": STEWARD,
        "second_steward": SECOND_STEWARD,
        "researcher": RESEARCHER,
        "passphrase": PASSPHRASE,
    }


@pytest.mark.slow
def test_the_linkage_notebook_links_lss_builds_a_panel_and_a_checked_survival_curve(
    linked_extract,
):
    project = linked_extract["project"]
    nb = execute("researcher_linkage", project / "notebooks")
    text = "\n".join(_texts(nb))
    assert "spell-decision overlaps; disclosure check: " in text
    assert "person-years; disclosure check: " in text
    assert "persons; disclosure check of the curve: " in text and "figure checked: True" in text
    assert any(
        "application/vnd.plotly.v1+json" in o.get("data", {})
        for c in nb.cells
        for o in c.get("outputs", [])
    )
    assert (project / "outputs" / "time_to_exit.html").exists()
    assert_no_raw_identifier(nb, linked_extract["raw"])


@pytest.mark.slow
def test_the_release_notebook_refuses_the_requester_and_one_steward_twice(
    linked_extract, monkeypatch
):
    from mikrodata.toolkit.release.manifest import verify_release

    monkeypatch.setenv("MIKRODATA_REQUEST", str(linked_extract["request"]))
    monkeypatch.setenv("MIKRODATA_KEYSTORE", str(linked_extract["keystore"]))
    monkeypatch.setenv("MIKRODATA_KEYSTORE_PASSPHRASE", linked_extract["passphrase"])
    monkeypatch.setenv("MIKRODATA_STEWARD", linked_extract["steward"])
    monkeypatch.setenv("MIKRODATA_SECOND_STEWARD", linked_extract["second_steward"])
    project = linked_extract["project"]
    nb = execute("release_review", project / "notebooks")
    text = "\n".join(_texts(nb))
    request_name = linked_extract["request"].name
    assert "disclosure check: pass" in text
    assert f"refused: {request_name}: user {linked_extract['researcher']} is not a steward" in text
    steward, second = linked_extract["steward"], linked_extract["second_steward"]
    assert f"{steward}: approved, 1 of 2 approvals" in text
    assert f"refused: {steward} has already approved output 'long_term_by_year'" in text
    assert f"released: P2026-001-R001, approved by {steward}, {second}" in text
    assert "release verified, signed by" in text
    events = linked_extract["log"].events("P2026-001")
    actions = [e["action"] for e in events]
    assert actions.count("access_refused") == 2 and "release_verified" in actions
    assert actions.count("release_approved") == 2
    released = sorted((project / "releases" / "P2026-001").iterdir())
    assert len([p for p in released if p.is_dir()]) == 1
    verify_release(next(p for p in released if p.is_dir()))
    assert_no_raw_identifier(nb, linked_extract["raw"])
