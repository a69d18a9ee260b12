"""The main job, end to end, on synthetic registers: what ``make demo`` runs.

Every step is the library call behind a ``mikrodata`` sub-command, in the order a
register holder, a reviewer and a researcher meet them, from synthetic registers to a
disclosure-checked figure in the project's output request:

1. the catalogue documentation (``mikrodata catalogue docs``);
2. a synthetic delivery, and the same delivery with injected faults (``mikrodata synth``),
   and the realism report (``mikrodata synth report``);
3. quality review: expectation suites on the clean and the faulty delivery, missingness
   and variable history (``mikrodata quality run|missingness|history``);
4. a key store, the steward's signing key and the project's key (``mikrodata keys init``);
5. one delivered file pseudonymised on its own (``mikrodata pseudonymise``);
6. an access request (social assistance and LSS) walked from draft to approved
   (``mikrodata access ...``);
7. the project extract, built through the gate with delivery checks, verified, and
   checked again as an extract (``mikrodata extract build|verify``, ``quality run
   --extract``);
8. the researcher's side: the extract delivered into a lab project folder (``make
   demo-lab`` opens JupyterLab on it) and opened there (verified, gated, audited), spells, long-term
   receipt and the yearly counts, spells linked with LSS (``mikrodata.open_extract``,
   ``build_spells``, ``long_term``, ``official_counts``, ``overlaps``);
9. a table and a figure checked against the approval's output rules, and put into the
   output request (``mikrodata.disclosure``);
10. the release: approved by the steward (another person than the researcher who asked),
    every table re-checked under the approved rules, released with a signed manifest and
    verified (``mikrodata release approve|verify``);
11. the audit trail verified (``mikrodata audit verify``), and ``index.html`` linking
    everything the demo wrote.

Everything is written under one directory; the state (key store, audit log, rejected
rows, delivery-check reports) goes to its ``state/`` folder, never to the user's own.
"""

from __future__ import annotations

import contextlib
import html
import json
import os
import secrets
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["DemoResult", "run_demo"]

PROJECT = "P2026-001"
RESEARCHER = "anna.andersson"
STEWARD = "steward"
STEPS = 11
# The LSS register joins the example request, so the researcher can link spells with it.
LSS_REQUEST = """  lss:
    years: {first}-{last}
    variables: [ar, kommun, insats, personkrets]
"""
FIGURE = "long_term_by_year"


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


def _remove(folder: Path) -> None:
    """Remove an earlier run, whose lab extract ``make demo-lab`` made read-only."""
    for path in [folder, *folder.rglob("*")]:
        if path.is_dir() and not path.is_symlink():
            path.chmod(path.stat().st_mode | 0o700)
    shutil.rmtree(folder)


def _add_lss(request: Path, years: tuple[int, int]) -> None:
    """The researcher fills in the draft: LSS as a second register, for the linkage."""
    text = request.read_text("utf-8")
    marker = "# Everyone who received"
    lss = LSS_REQUEST.format(first=years[0], last=years[1])
    request.write_text(text.replace(marker, lss + marker, 1), encoding="utf-8")


def _approve_release(
    request: Path,
    requests: Path,
    out: Path,
    state: Path,
    audit: Any,
    keystore: Any,
    echo: Callable[[str], None],
) -> Path:
    """The release of the requested outputs by another person, the steward: every table
    re-checked under the approved rules, the files written with a signed release
    manifest, and the release verified (``mikrodata release approve|verify``). Returns
    the folder of released files."""
    from mikrodata.toolkit.release import approve_release, verify_recorded

    released = approve_release(
        request,
        folder=requests,
        user=STEWARD,
        audit=audit,
        signer=keystore,
        releases=out / "releases",
        trail=state / "release-trail",
    )
    verify_recorded(released["directory"], audit=audit, user=STEWARD)
    echo(f"      released {released['release_id']}: signed, verified")
    return Path(released["directory"])


def _lab_project(extract: Path, lab: Path) -> Path:
    """The researcher's secure environment as ``make demo-lab`` opens it: a copy of the
    delivered extract and the role notebooks (``mikrodata lab start --project``)."""
    shutil.copytree(extract, lab / "extract")
    (lab / "notebooks").mkdir()
    (lab / "outputs").mkdir()
    notebooks = Path(__file__).resolve().parents[1] / "notebooks"
    for nb in sorted(notebooks.glob("researcher_*.ipynb")):
        shutil.copy2(nb, lab / "notebooks" / nb.name)
    return lab


def _researcher(extract: Path, out: Path, facts: dict[str, Any]) -> dict[str, Any]:
    """Open the extract as the researcher and build the analysis the figure comes from."""
    from mikrodata.toolkit import analysis as mk
    from mikrodata.toolkit.project import open_extract

    project = open_extract(extract, user=RESEARCHER)

    def frame(register: str):
        # Analysis works on codes; the extract names its pseudonyms (lopnr, ...).
        return project.frame(register, labels=None)

    eb = frame("ekonomiskt_bistand")
    result = mk.build_spells(eb, gap=1)
    lt = mk.long_term(eb)
    counts = mk.official_counts(eb)
    links = mk.overlaps(result.spells, mk.register_intervals(frame("lss"), "lss"))
    facts["spells (rows that could not be placed)"] = (
        f"{len(result.spells):,} ({len(result.issues):,})"
    )
    analysis = out / "analysis"
    analysis.mkdir()
    fig = mk.recipients_figure(mk.recipients_table(counts))
    mk.write_html(fig, analysis / "recipients_per_year_unchecked.html")
    return {"project": project, "long_term": lt, "counts": counts, "links": links}


def _outputs(work: dict[str, Any], requests: Path, facts: dict[str, Any]) -> tuple[Path, Path]:
    """A table and a figure checked against the approval's rules, put into the request."""
    from mikrodata.toolkit import analysis as mk
    from mikrodata.toolkit import disclosure

    project = work["project"]
    rules = disclosure.Rules.from_request(project.approval.request)
    lt = work["long_term"]
    adults = lt[lt["adult"]].assign(
        receipt=lambda f: f["long_term"].map({True: "long-term", False: "shorter"}).astype("string")
    )
    table = disclosure.crosstab(adults, "statistikar", "receipt", unit="lopnr", rules=rules)
    fig = table.figure(title="Adults receiving social assistance per year, by long-term receipt")
    facts["disclosure check of the table"] = table.status
    # The linkage is counted only through the checks too: persons whose spells overlap an
    # LSS decision, by kind of decision (small cells hidden).
    linked = disclosure.frequency(work["links"], "kind", unit="lopnr", rules=rules)
    hidden = int(linked.published["count"].isna().sum())
    facts["LSS linkage table (checked)"] = (
        f"{linked.status}, {hidden} of {len(linked.published)} cells hidden"
    )
    facts["figure checked"] = disclosure.is_checked(fig)
    # The analysis frames are new frames: the extract they come from is named here, so
    # the steward's review can check it is this project's signed extract.
    disclosure.request_release(
        table,
        f"{FIGURE}_table",
        "Adults per year by long-term receipt",
        folder=requests,
        source=project,
    )
    record = disclosure.request_release(
        fig,
        FIGURE,
        "Adults receiving social assistance per year, by long-term receipt",
        folder=requests,
        table=table,
        source=project,
    )
    checked = requests.parent / "analysis" / f"{FIGURE}.html"
    mk.write_html(fig, checked)
    return record, checked


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
    from mikrodata.pseudonymisation import KeyStore, pseudonymise_file
    from mikrodata.quality.catalogue_docs import build_docs
    from mikrodata.quality.history_report import write_history
    from mikrodata.quality.missingness import write_missingness
    from mikrodata.quality.run import run_quality
    from mikrodata.toolkit.extract import build_extract, verify_extract
    from mikrodata.toolkit.synthetic import generate, realism_report
    from mikrodata.toolkit.synthetic.report import format_markdown

    out = Path(out).resolve()
    if out.exists():
        _remove(out)
    state = out / "state"
    state.mkdir(parents=True)
    result = DemoResult(out)
    paths, facts = result.paths, result.facts
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

        echo(f"1/{STEPS} catalogue documentation")
        paths["catalogue docs"] = build_docs(out / "catalogue")

        echo(f"2/{STEPS} synthetic registers: {persons:,} people, {years[0]}-{years[1]}")
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
        echo(f"3/{STEPS} quality review of the deliveries (ekonomiskt_bistand {year})")
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
        facts["clean delivery: critical failures"] = len(clean.critical_failures)
        facts["faulty delivery: critical failures"] = len(broken.critical_failures)
        paths["quality summary (clean)"] = out / "quality" / "delivery" / "summary.md"
        paths["quality summary (faults)"] = out / "quality" / "delivery-with-faults" / "summary.md"
        paths["Data Docs (faults)"] = (
            out / "quality" / "delivery-with-faults" / "data_docs" / "index.html"
        )
        paths["missingness heatmap"] = out / "quality" / "missingness" / "missingness.html"
        paths["variable history"] = out / "quality" / "history" / "history.html"

        echo(f"4/{STEPS} key store, signing key and project key")
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
        key = keystore.ensure_project(PROJECT)

        echo(f"5/{STEPS} one delivered file pseudonymised (befolkning {year})")
        source = registers / "befolkning" / f"ar={year}" / "part-0.parquet"
        pseudo = pseudonymise_file(
            source,
            out / "pseudonymised" / f"befolkning_{year}.parquet",
            key,
            ["personnummer"],
            reject_path=state / "rejects" / f"befolkning_{year}.rejects.parquet",
        )
        audit.append(
            "pseudonymised",
            project=PROJECT,
            user=STEWARD,
            details={"input": source.name, "key_id": pseudo.key_id, "rows_in": pseudo.rows_in},
            signer=keystore,
        )
        facts["pseudonymised file"] = pseudo.summary()
        paths["pseudonymised file"] = pseudo.out_path

        echo(f"6/{STEPS} access request {PROJECT}: draft -> confidentiality approved")
        request = out / "requests" / f"{PROJECT}.yaml"
        request.parent.mkdir()
        create_request(request, PROJECT, user=RESEARCHER, audit=audit)
        _add_lss(request, years)
        transition(request, "submitted", user=RESEARCHER, audit=audit)
        transition(request, "ethics_approved", user=STEWARD, audit=audit, signer=keystore)
        transition(request, "confidentiality_approved", user=STEWARD, audit=audit, signer=keystore)
        paths["access request"] = request

        echo(f"7/{STEPS} project extract: gate, delivery checks, pseudonyms, manifest")
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
        facts["extract rows"] = {r: v["rows_out"] for r, v in built.manifest["registers"].items()}
        facts["extract: critical failures"] = len(checked.critical_failures)
        paths["extract"] = extract
        paths["extract manifest"] = extract / "manifest.json"

        echo(f"8/{STEPS} researcher: open the extract, spells, long-term receipt, LSS linkage")
        lab = _lab_project(extract, out / "lab")
        # The researcher's steps are recorded as the researcher's (declared, like all here).
        with _environment(MIKRODATA_USER=RESEARCHER):
            work = _researcher(lab / "extract", out, facts)
            paths["lab project (make demo-lab)"] = lab

            echo(f"9/{STEPS} disclosure-checked table and figure into the output request")
            requests = out / "output-request"
            record, figure = _outputs(work, requests, facts)
        paths["checked figure"] = figure
        paths["output request"] = requests

        echo(f"10/{STEPS} release: approved by the steward, re-checked, signed, verified")
        released = _approve_release(request, requests, out, state, audit, keystore, echo)
        facts["released"] = f"{released.name} (signed, verified)"
        paths["released files"] = released

        echo(f"11/{STEPS} audit trail, and the index of everything above")
        report = audit.verify()
        facts["audit events (chain verified)"] = report.events
        paths["audit log"] = audit.path
        paths["index"] = _write_index(out, paths, facts)
    return result


def _write_index(out: Path, paths: dict[str, Path], facts: dict[str, object]) -> Path:
    """One HTML page linking what the demo wrote (relative links: the folder can move)."""
    from mikrodata.toolkit.atomic import write_text_atomic

    def link(what: str, path: Path) -> str:
        target = path / "index.html" if path.is_dir() and (path / "index.html").exists() else path
        rel = html.escape(os.path.relpath(target, out))
        return f'<li><a href="{rel}">{html.escape(what)}</a> <code>{rel}</code></li>'

    items = "\n".join(link(w, p) for w, p in paths.items() if w != "index")
    found = "\n".join(
        f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>"
        for k, v in facts.items()
    )
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>mikrodata demo</title>
<style>body{{font-family:sans-serif;max-width:60rem;margin:2rem auto}}
th{{text-align:left;padding-right:1rem}}code{{color:#555}}</style></head><body>
<h1>mikrodata demo: project {PROJECT}</h1>
<p>Synthetic registers to a disclosure-checked figure in the project's output request.
Everything here is synthetic; nothing on this page or behind its links holds a
personnummer.</p>
<h2>What it found</h2><table>{found}</table>
<h2>What it wrote</h2><ul>{items}</ul>
<p>Next: open <code>notebooks/researcher_spells.ipynb</code> on this extract (see the
README).</p>
</body></html>
"""
    index = out / "index.html"
    write_text_atomic(index, page)
    return index
