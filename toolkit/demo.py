"""The main job, end to end, on synthetic registers: what ``make demo`` runs.

Every step is the library call behind a ``mikrodata`` sub-command, in the order a
register holder and a project meet them:

1. the catalogue documentation (``mikrodata catalogue docs``);
2. a synthetic delivery, and the same delivery with injected faults (``mikrodata synth``),
   and the realism report (``mikrodata synth report``);
3. quality review: expectation suites on the clean and the faulty delivery, missingness
   and variable history (``mikrodata quality run|missingness|history``);
4. a key store and the project's key (``mikrodata keys init``);
5. an access request walked from draft to approved (``mikrodata access ...``);
6. the project extract, built through the gate with delivery checks, verified, and
   checked again as an extract (``mikrodata extract build|verify``, ``quality run
   --extract``);
7. an output: a checked table the researcher asks for, approved by the steward (re-checked
   under the approved rules), released with a signed manifest and verified
   (``request_release``, ``mikrodata release approve|verify``);
8. the audit trail verified (``mikrodata audit verify``).

Everything is written under one directory; the state (key store, audit log, rejected
rows, delivery-check reports) goes to its ``state/`` folder, never to the user's own.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["DemoResult", "run_demo"]

PROJECT = "P2026-001"
RESEARCHER = "anna.andersson"
STEWARD = "steward"


@dataclass
class DemoResult:
    """Where the demo wrote what, and what it found."""

    out: Path
    paths: dict[str, Path] = field(default_factory=dict)
    facts: dict[str, object] = field(default_factory=dict)


@contextlib.contextmanager
def _environment(**values: str) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def run_demo(
    out: str | Path,
    *,
    persons: int = 20_000,
    years: tuple[int, int] = (2012, 2020),
    seed: int = 2026,
    echo: Callable[[str], None] = lambda _: None,
) -> DemoResult:
    """Run the whole pipeline into ``out`` (replaced); ``echo`` receives one line per step."""
    from mikrodata.access_requests import AuditLog, create_request, transition
    from mikrodata.pseudonymisation import KeyStore
    from mikrodata.quality.catalogue_docs import build_docs
    from mikrodata.quality.history_report import write_history
    from mikrodata.quality.missingness import write_missingness
    from mikrodata.quality.run import run_quality
    from mikrodata.toolkit import disclosure
    from mikrodata.toolkit.extract import build_extract, verify_extract
    from mikrodata.toolkit.project import open_extract
    from mikrodata.toolkit.release import approve_release, verify_recorded
    from mikrodata.toolkit.synthetic import generate, realism_report
    from mikrodata.toolkit.synthetic.report import format_markdown

    out = Path(out).resolve()
    if out.exists():
        shutil.rmtree(out)
    state = out / "state"
    state.mkdir(parents=True)
    result = DemoResult(out)
    paths = result.paths
    # A passphrase the user gave, or a throwaway one that lives only in this process.
    passphrase = os.environ.get("MIKRODATA_KEYSTORE_PASSPHRASE") or secrets.token_urlsafe(24)
    env = {
        "MIKRODATA_HOME": str(state),
        "MIKRODATA_KEYSTORE": str(state / "keystore"),
        "MIKRODATA_AUDIT_LOG": str(state / "audit.jsonl"),
        "MIKRODATA_TRUSTED_KEYS": str(state / "trusted_keys"),
        # The demo plays every role on one account, so it declares who does each step;
        # the audit log records every one of those identities as declared.
        "MIKRODATA_DECLARED_IDENTITY": "1",
    }
    with _environment(**env):
        audit = AuditLog(state / "audit.jsonl")

        echo("1/8 catalogue documentation")
        paths["catalogue docs"] = build_docs(out / "catalogue")

        echo(f"2/8 synthetic registers: {persons:,} people, {years[0]}-{years[1]}")
        registers = out / "registers"
        generate(registers, persons=persons, years=years, seed=seed)
        faulty = out / "registers-with-faults"
        generate(faulty, persons=persons, years=years, seed=seed, faults=0.002)
        rows = realism_report(registers)
        realism = registers / "ground_truth" / "realism.md"
        manifest = json.loads((registers / "ground_truth" / "manifest.json").read_text("utf-8"))
        realism.write_text(format_markdown(rows, manifest), encoding="utf-8")
        paths["synthetic registers"] = registers
        paths["realism report"] = realism

        year = years[1]
        echo(f"3/8 quality review of the deliveries (ekonomiskt_bistand {year})")
        clean = run_quality(
            "ekonomiskt_bistand", registers, out / "quality" / "delivery", year=year
        )
        broken = run_quality(
            "ekonomiskt_bistand",
            faulty,
            out / "quality" / "delivery-with-faults",
            year=year,
            raise_on_failure=False,
        )
        write_missingness("ekonomiskt_bistand", registers, out / "quality" / "missingness")
        write_history("ekonomiskt_bistand", registers, out / "quality" / "history")
        result.facts["clean delivery: critical failures"] = len(clean.critical_failures)
        result.facts["faulty delivery: critical failures"] = len(broken.critical_failures)
        paths["quality summary (clean)"] = out / "quality" / "delivery" / "summary.md"
        paths["quality summary (faults)"] = out / "quality" / "delivery-with-faults" / "summary.md"
        paths["missingness heatmap"] = out / "quality" / "missingness" / "missingness.html"
        paths["variable history"] = out / "quality" / "history" / "history.html"

        echo("4/8 key store, signing key and project key")
        keystore = KeyStore.create(state / "keystore", passphrase)
        (state / "trusted_keys").mkdir()
        public = keystore.public_key()
        (state / "trusted_keys" / f"{public.key_id}.pub").write_text(public.to_text())
        audit.append(
            "keystore_created",
            project=None,
            user=STEWARD,
            details={"signing_key_id": public.key_id},
            signer=keystore,
        )
        keystore.ensure_project(PROJECT)

        echo(f"5/8 access request {PROJECT}: draft -> confidentiality approved")
        request = out / "requests" / f"{PROJECT}.yaml"
        request.parent.mkdir()
        create_request(request, PROJECT, user=RESEARCHER, audit=audit)
        transition(request, "submitted", user=RESEARCHER, audit=audit)
        transition(request, "ethics_approved", user=STEWARD, audit=audit, signer=keystore)
        transition(request, "confidentiality_approved", user=STEWARD, audit=audit, signer=keystore)
        paths["access request"] = request

        echo("6/8 project extract: gate, delivery checks, pseudonyms, manifest")
        extract = out / "extracts" / PROJECT
        built = build_extract(
            request,
            registers,
            extract,
            passphrase=passphrase,
            user=STEWARD,
            audit=audit,
        )
        verify_extract(extract, request=request, user=STEWARD, audit=audit)
        checked = run_quality(
            "ekonomiskt_bistand",
            extract / "ekonomiskt_bistand",
            out / "quality" / "extract",
            extract=True,
        )
        result.facts["extract rows"] = {
            r: v["rows_out"] for r, v in built.manifest["registers"].items()
        }
        result.facts["extract: critical failures"] = len(checked.critical_failures)
        paths["extract"] = extract
        paths["extract manifest"] = extract / "manifest.json"

        echo("7/8 an output: a checked table asked for, re-checked, released, signed, verified")
        project = open_extract(extract, user=RESEARCHER, audit=audit)
        frame = project.frame("ekonomiskt_bistand")
        frame = frame[frame["statistikar"] == year]  # keeps where the data came from
        table = disclosure.frequency(frame, "hushallstyp", unit="personnummer")
        requests = out / "output-requests"
        with _environment(MIKRODATA_USER=RESEARCHER):  # the researcher asks
            disclosure.request_release(
                table,
                "persons_by_household_type",
                f"Persons by household type, {year}",
                folder=requests,
            )
        released = approve_release(  # another person, the steward, approves
            request,
            folder=requests,
            user=STEWARD,
            audit=audit,
            signer=keystore,
            releases=out / "releases",
            trail=state / "release-trail",
        )
        verify_recorded(released["directory"], audit=audit, user=STEWARD)
        result.facts["output status"] = table.status
        result.facts["released"] = f"{released['release_id']} (signed, verified)"
        paths["output request"] = requests
        paths["release"] = Path(released["directory"])

        echo("8/8 audit trail")
        report = audit.verify()
        result.facts["audit events (chain verified)"] = report.events
        paths["audit log"] = audit.path
    return result
