"""``build_extract``: a project extract from delivered registers, gated, checked,
pseudonymised, atomic and audited.

1. the access gate (``build_extract`` by a data steward of the project);
2. the delivery checks of each register and approved year (the quality suites' hook);
3. the approved population; then per register :func:`~toolkit.extract.pipeline.run_register`;
4. ``approval.json`` (the steward-signed approval), ``manifest.json`` and its signature
   ``manifest.sig``; the extract directory and the rejects folder (steward side,
   outside the extract) are swapped in together (:func:`toolkit.atomic.atomic_together`),
   so an interrupted build leaves the previous pair or none;
5. an ``extract_built`` audit event with the manifest's hash, signed, and the request
   moves to ``extract_delivered`` on its first delivery (signed too).
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from filelock import FileLock, Timeout

from mikrodata.access_requests import (
    APPROVAL_NAME,
    POPULATION_REGISTER,
    AccessRequest,
    Approval,
    AuditLog,
    check_access,
    read_state,
    transition,
)
from mikrodata.pseudonymisation import KeyStore, ProjectKey
from mikrodata.quality.catalogue import catalogue_version, load
from mikrodata.toolkit import __version__, clock
from mikrodata.toolkit.atomic import atomic_together, private_file
from mikrodata.toolkit.errors import BadInputError, MikrodataError
from mikrodata.toolkit.identity import Identity, resolve_identity
from mikrodata.toolkit.paths import home, keystore_path

from .columns import RegisterSpec, register_spec
from .manifest import MANIFEST_FORMAT, describe_file, write_manifest
from .pipeline import RegisterResult, run_register
from .population import PopulationResult, build_population
from .source import connect, source_files

__all__ = [
    "BuildResult",
    "assemble_manifest",
    "build_lock_path",
    "build_extract",
    "default_check_dir",
    "default_reject_dir",
    "run_delivery_checks",
]


@dataclass(frozen=True)
class BuildResult:
    """What a build wrote."""

    out: Path
    rejects: Path
    manifest: dict[str, Any]
    manifest_sha256: str


def default_reject_dir(project: str) -> Path:
    """Where rejected rows go by default: ``$MIKRODATA_HOME/rejects/<project>``."""
    return home() / "rejects" / project


def default_check_dir(project: str) -> Path:
    """Where delivery-check reports go by default: ``$MIKRODATA_HOME/delivery_checks/<project>``."""
    return home() / "delivery_checks" / project


def run_delivery_checks(
    register: str, registers_dir: Path, years: tuple[int, ...], report_dir: Path
) -> str:
    """Run the quality suites (issue 6) on the delivered ``register`` for every approved
    year it holds, writing each year's summary under ``report_dir/<register>/<year>``.

    A critical failure raises ``QualityFailure`` before anything of the extract is
    written. Returns what was done, for the manifest."""
    # Imported here: the suites load Great Expectations, which only this step needs.
    from mikrodata.quality.run import run_quality
    from mikrodata.quality.source import open_source

    reg = load(register)
    source = open_source(registers_dir, register, reg.period[0])
    try:
        present = set(source.years())
    finally:
        source.close()
    checked = [y for y in years if y in present]
    for year in checked:
        run_quality(
            register,
            registers_dir,
            report_dir / register / str(year),
            year=year,
            data_docs=False,
        )
    missing = [y for y in years if y not in present]
    note = f"; no rows delivered for {', '.join(map(str, missing))}" if missing else ""
    return f"passed ({len(checked)} year(s)){note}"


def build_lock_path(out: Path) -> Path:
    """The lock one build of ``out`` holds: in ``$MIKRODATA_HOME/locks``, so nothing is
    left beside the extract (whose folder a researcher may be given whole)."""
    digest = hashlib.sha256(str(Path(out).resolve()).encode("utf-8")).hexdigest()[:16]
    folder = home() / "locks"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"extract-{digest}.lock"


def _inside(a: Path, b: Path) -> bool:
    a, b = a.resolve(), b.resolve()
    return a == b or b in a.parents


def _registers_entry(spec: RegisterSpec, result: RegisterResult, root: Path) -> dict[str, Any]:
    schema = pq.read_schema(result.file)
    return {
        "years": list(spec.years),
        "columns": [
            {
                "name": c.name,
                "role": c.role,
                "type": c.type,
                "arrow_type": str(schema.field(c.name).type),
            }
            | ({"domain": c.domain} if c.domain else {})
            | ({"source": c.source} if c.source else {})
            for c in spec.columns
        ],
        "sort_order": list(spec.sort_order),
        "year_column": spec.year_column,
        "files": [result.file.relative_to(root).as_posix()],
        **result.as_dict(),
    }


def assemble_manifest(
    root: Path,
    request: AccessRequest,
    specs: list[RegisterSpec],
    results: list[RegisterResult],
    *,
    user: str,
    key: dict[str, Any],
    population: dict[str, Any],
    audit_head: tuple[int, str],
    delivery_checks: dict[str, str],
    dummy: bool,
) -> dict[str, Any]:
    """The manifest of a finished extract directory ``root`` (see ``manifest.py``)."""
    files = sorted(p for p in root.rglob("*") if p.is_file())
    return {
        "format": MANIFEST_FORMAT,
        "dummy": dummy,
        "project": request.project,
        "request": request.path.name,
        "approval_hash": request.sha256,
        "built_at": clock.now().isoformat(timespec="seconds"),
        "built_by": user,
        "code_version": __version__,
        "catalogue_version": catalogue_version(),
        "key": key,
        "population": population,
        "delivery_checks": delivery_checks,
        "audit_head": {"seq": audit_head[0], "hash": audit_head[1]},
        "registers": {
            s.register: _registers_entry(s, r, root) for s, r in zip(specs, results, strict=True)
        },
        "files": [describe_file(root, p) for p in files],
    }


def build_extract(
    request_path: str | Path,
    registers_dir: str | Path,
    out: str | Path,
    *,
    keystore: str | Path | None = None,
    passphrase: str | None = None,
    rejects: str | Path | None = None,
    user: str | Identity | None = None,
    audit: AuditLog | None = None,
    delivery_checks: bool = True,
) -> BuildResult:
    """Build the project extract of the request at ``request_path`` into ``out``.

    ``delivery_checks=False`` skips the quality suites' delivery checks (for deliveries
    with deliberate faults, e.g. in tests of the reject path); the manifest says so. The
    command line always runs them."""
    request_path, registers_dir, out = Path(request_path), Path(registers_dir), Path(out)
    identity = resolve_identity(user)
    audit = audit or AuditLog()
    store = KeyStore.open(keystore or keystore_path(), passphrase)
    # The gate is the one place that says yes; what is selected below is exactly the
    # approval it returns (register_spec reads nothing else). With the key store open it
    # also refuses a log rolled back behind the key store's last checkpoint.
    approval = check_access(
        request_path, user=identity, action="build_extract", audit=audit, keystore=store
    )
    request, project = approval.request, approval.project
    specs = [register_spec(request, r) for r in request.register_names]
    reject_dir = Path(rejects) if rejects is not None else default_reject_dir(project)
    if _inside(reject_dir, out) or _inside(out, reject_dir):
        raise BadInputError(
            f"the reject folder {reject_dir} and the extract {out} overlap",
            "Rejected rows hold raw identifiers: keep them outside the extract directory",
        )
    needed = {s.register for s in specs}
    if request.population.type == "social_assistance_recipients":
        needed.add(POPULATION_REGISTER)
    for register in sorted(needed):
        source_files(registers_dir, register)  # fail before anything is written
    key = store.project_key(project)
    check_dir = default_check_dir(project)
    checks = {
        s.register: (
            run_delivery_checks(s.register, registers_dir, s.years, check_dir)
            if delivery_checks
            else "skipped by the caller"
        )
        for s in specs
    }

    out.parent.mkdir(parents=True, exist_ok=True)
    # One build per extract directory at a time: a second one would clear the first's
    # temporary directory (atomic_directory removes stale siblings).
    lock = FileLock(str(build_lock_path(out)))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise MikrodataError(
            f"another build is writing {out}", "Wait for it to finish, then build again"
        ) from None
    try:
        return _build_locked(
            approval, specs, registers_dir, out, reject_dir, key, checks, store, audit, request_path
        )
    finally:
        lock.release()


def _build_locked(
    approval: Approval,
    specs: list[RegisterSpec],
    registers_dir: Path,
    out: Path,
    reject_dir: Path,
    key: ProjectKey,
    checks: dict[str, str],
    store: KeyStore,
    audit: AuditLog,
    request_path: Path,
) -> BuildResult:
    request, project, user = approval.request, approval.project, approval.identity
    audit_head = audit.head()
    # DuckDB spills its sorts beside the output, on the disk that will hold the extract.
    with tempfile.TemporaryDirectory(prefix=".mikrodata-duckdb-", dir=out.parent) as scratch:
        con = connect(Path(scratch))
        try:
            # The extract and its rejects are swapped in as one step (a journal covers
            # a kill between the two).
            with atomic_together(directories=[out, reject_dir]) as (tmp, reject_tmp):
                pop: PopulationResult = build_population(con, request, registers_dir)
                reject_tmp.chmod(0o700)  # raw identifiers: the steward's eyes only
                if pop.rejected is not None and pop.rejected.num_rows:
                    pq.write_table(pop.rejected, private_file(reject_tmp / "cohort.parquet"))
                shared: dict = {}  # one pseudonym map per domain across the registers
                results = [
                    run_register(con, s, registers_dir, tmp, reject_tmp, key, shared=shared)
                    for s in specs
                ]
                (tmp / ".work").rmdir()
                # The signed approval travels with the extract: a researcher's machine
                # checks the extract's scope against it offline.
                (tmp / APPROVAL_NAME).write_text(
                    json.dumps(approval.approval.document, indent=2, sort_keys=True) + "\n",
                    encoding="utf-8",
                )
                manifest = assemble_manifest(
                    tmp,
                    request,
                    specs,
                    results,
                    user=user.user,
                    key={"key_id": key.key_id, "version": key.version},
                    population={
                        "type": pop.type,
                        "persons": pop.persons,
                        "cohort_rows_rejected": 0
                        if pop.rejected is None
                        else pop.rejected.num_rows,
                    },
                    audit_head=audit_head,
                    delivery_checks=checks,
                    dummy=False,
                )
                manifest_sha = write_manifest(tmp, manifest, store.signing_key())
        finally:
            con.close()
    audit.append(
        "extract_built",
        project=project,
        user=user,
        details={
            "out": str(out.resolve()),
            "manifest_sha256": manifest_sha,
            "approval_hash": request.sha256,
            "key_id": key.key_id,
            "key_version": key.version,
            "catalogue_version": manifest["catalogue_version"],
            "rows_out": {r.register: r.rows_out for r in results},
            "rows_rejected": {r.register: r.rows_rejected for r in results},
        },
        signer=store,
    )
    if read_state(request_path, audit).state == "confidentiality_approved":
        transition(request_path, "extract_delivered", user=user, audit=audit, signer=store)
    return BuildResult(out=out, rejects=reject_dir, manifest=manifest, manifest_sha256=manifest_sha)
