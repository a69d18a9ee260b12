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
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
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
    load_request,
    read_state,
    transition,
)
from mikrodata.pseudonymisation import KeyStore, ProjectKey
from mikrodata.quality.catalogue import catalogue_version, load
from mikrodata.quality.delivery import ReadOptions
from mikrodata.quality.delivery.stage import Staged, staged_deliveries, staging
from mikrodata.toolkit import __version__, clock
from mikrodata.toolkit.atomic import atomic_together, private_file
from mikrodata.toolkit.errors import BadInputError, MikrodataError
from mikrodata.toolkit.identity import Identity, resolve_identity
from mikrodata.toolkit.paths import home, keystore_path

from .coarsen import Step, applies, steps_from_list
from .columns import RegisterSpec, register_spec
from .formats import parse_formats, write_exports
from .manifest import MANIFEST_FORMAT, describe_file, write_manifest
from .pipeline import RegisterResult, run_register
from .population import PopulationResult, build_population
from .source import connect, source_files

__all__ = [
    "BuildResult",
    "assemble_manifest",
    "build_lock_path",
    "build_extract",
    "export_copies",
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
    register: str,
    registers_dir: Path,
    years: tuple[int, ...],
    report_dir: Path,
    audit: AuditLog | None = None,
) -> str:
    """Run the quality suites on the delivered ``register`` for every approved year it
    holds, writing each year's summary under ``report_dir/<register>/<year>``, except
    the years a reviewer has already signed off for this very delivery: a signed
    ``quality_signoff`` event in ``audit`` (of any project) that accepted a delivery run
    of the register whose delivery checksum and catalogue version are today's. Those
    years are not checked again.

    A critical failure raises ``QualityFailure`` before anything of the extract is
    written. Returns what was done, for the manifest."""
    # Imported here: the suites load Great Expectations, which only this step needs.
    from mikrodata.quality.run import delivery_checksums, run_quality
    from mikrodata.quality.source import open_source

    reg = load(register)
    source = open_source(registers_dir, register, reg.period[0])
    try:
        present = set(source.years())
        delivered = delivery_checksums(source)["sha256"]
    finally:
        source.close()
    signed = _signed_off_years(audit, register, delivered) if audit is not None else {}
    checked = [y for y in years if y in present and y not in signed]
    for year in checked:
        run_quality(
            register,
            registers_dir,
            report_dir / register / str(year),
            year=year,
            data_docs=False,
        )
    reused = sorted(y for y in years if y in present and y in signed)
    missing = [y for y in years if y not in present]
    note = f"; no rows delivered for {', '.join(map(str, missing))}" if missing else ""
    if reused:
        by = sorted({signed[y] for y in reused})
        note += (
            f"; {len(reused)} year(s) signed off already for this delivery (sha256 "
            f"{delivered[:16]}…, audit event(s) {', '.join(map(str, by))}), not run again"
        )
    return f"passed ({len(checked)} year(s) checked){note}"


def _signed_off_years(audit: AuditLog, register: str, delivered: str) -> dict[int, int]:
    """Year -> audit sequence number of the sign-off that accepted it for the delivery
    with checksum ``delivered``, from signed events of the verified log only."""
    audit.verify()  # signatures and the chain: an edited event is refused here
    version = catalogue_version()
    years: dict[int, int] = {}
    for event in audit.events():
        d = event.get("details") or {}
        if (
            event.get("action") == "quality_signoff"
            and "signature" in event
            and d.get("register") == register
            and d.get("mode") == "delivery"
            and d.get("verdict") == "accepted"
            and d.get("delivery_sha256") == delivered
            and d.get("catalogue_version") == version
            and not (d.get("failed") or {}).get("critical")
        ):
            for year in d.get("years") or ():
                years[int(year)] = int(event["seq"])
    return years


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


def _column_entries(spec: RegisterSpec, schema: Any = None) -> list[dict[str, Any]]:
    return [
        {"name": c.name, "role": c.role, "type": c.type}
        | ({"arrow_type": str(schema.field(c.name).type)} if schema is not None else {})
        | ({"domain": c.domain} if c.domain else {})
        | ({"source": c.source} if c.source else {})
        for c in spec.columns
    ]


def export_copies(
    root: Path,
    specs: list[RegisterSpec],
    results: list[RegisterResult],
    formats: tuple[str, ...],
    labels: str,
) -> dict[str, list[dict[str, Any]]]:
    """Each register's copies in ``formats``, written inside the extract at ``root``."""
    return write_exports(
        root,
        [(s.register, r.file, _column_entries(s)) for s, r in zip(specs, results, strict=True)],
        formats,
        labels,
    )


def _registers_entry(
    spec: RegisterSpec,
    result: RegisterResult,
    root: Path,
    read: Staged | None = None,
    exports: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    schema = pq.read_schema(result.files[0])
    delivery = (
        {}
        if read is None
        else {
            "delivery": {
                "format": read.format,
                "rows_in": read.rows_in,
                "rows_unreadable": read.rows_rejected,
            }
        }
    )
    return {
        "years": list(spec.years),
        "columns": _column_entries(spec, schema),
        "sort_order": list(spec.sort_order),
        "year_column": spec.year_column,
        "files": [f.relative_to(root).as_posix() for f in result.files],
        **result.as_dict(),
        **delivery,
        **({"exports": exports} if exports else {}),
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
    read: dict[str, Staged] | None = None,
    exports: dict[str, list[dict[str, Any]]] | None = None,
) -> dict[str, Any]:
    """The manifest of a finished extract directory ``root`` (see ``manifest.py``)."""
    files = sorted(p for p in root.rglob("*") if p.is_file())
    read = read or {}
    exports = exports or {}
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
            s.register: _registers_entry(s, r, root, read.get(s.register), exports.get(s.register))
            for s, r in zip(specs, results, strict=True)
        },
        "files": [describe_file(root, p) for p in files],
        # What the request's coarsening changed, register by register (signed with the rest).
        "coarsening": [entry for r in results for entry in r.coarsening],
    }


def coarsening_steps(request: AccessRequest, specs: list[RegisterSpec]) -> list[Step]:
    """The request's coarsening steps, each checked against the extract's columns before
    anything is built: a step that names a register must find its columns there, and a
    step for every register must apply to at least one."""
    steps = steps_from_list(request.coarsening)
    for step in steps:
        hits = [s.register for s in specs if applies(step, s.register, s.names)]
        if not hits:
            columns = ", ".join(step.columns_changed)
            raise BadInputError(
                f"coarsening step {step.kind} of {columns}: no approved register of the "
                "extract has that column",
                "Name a column of the extract (mikrodata extract risk shows them)",
            )
    return steps


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
    read_options: ReadOptions | None = None,
    formats: tuple[str, ...] | list[str] | str | None = None,
    labels: str = "en",
    engine: str = "duckdb",
    spark: Any = None,
) -> BuildResult:
    """Build the project extract of the request at ``request_path`` into ``out``.

    ``formats`` (``stata``, ``sas-xpt``, ``spss``, ``csv``; ``parquet`` is always
    there) adds inside the extract a copy of each register in each format,
    ``formats/<format>/<register>.<suffix>``, listed in the signed manifest with its
    checksum (:mod:`.formats`; ``labels``: the language of their labels, en or sv).

    ``engine="spark"`` (with ``spark``, a SparkSession, or the active one) selects,
    pseudonymises and sorts on Spark (:mod:`.spark`: Parquet deliveries only, no
    coarsening yet); the gate, the delivery checks, the manifest, its signature and the
    audit events are this function's, whatever the engine.

    ``delivery_checks=False`` skips the quality suites' delivery checks (for deliveries
    with deliberate faults, e.g. in tests of the reject path); the manifest says so. The
    command line always runs them. A register delivered in another format than Parquet
    is read by the one delivery reader (``read_options``: encoding, separator, decimal
    mark, layout), once, staged beside the extract for the length of the build."""
    request_path, registers_dir, out = Path(request_path), Path(registers_dir), Path(out)
    wanted = parse_formats(formats)  # an unknown format fails before anything is done
    if labels not in ("en", "sv"):
        raise BadInputError(f"labels={labels!r}", "Use 'en' or 'sv'")
    out.parent.mkdir(parents=True, exist_ok=True)
    if engine not in ("duckdb", "spark"):
        raise BadInputError(
            f"engine {engine!r} is unknown",
            "Use engine='duckdb' (the default) or engine='spark' with spark=<SparkSession>",
        )
    if engine == "spark":
        from mikrodata.pseudonymisation.spark import spark_session_of

        spark = spark_session_of(None, spark)
    # A delivery not in Parquet is staged beside the extract, on the disk that holds it.
    with staging(out.parent, read_options):
        return _build(
            request_path,
            registers_dir,
            out,
            keystore,
            passphrase,
            rejects,
            user,
            audit,
            delivery_checks,
            (wanted, labels),
            spark if engine == "spark" else None,
        )


def _read_catalogue(request_path: Path) -> None:
    """Read (and cache) the catalogue the request names, while the key store opens.
    Nothing is decided here: a request that cannot be read is the gate's to refuse."""
    try:
        load_request(request_path)
    except (MikrodataError, OSError):
        pass  # the gate reads the request again, after the key store, and says why


def _build(
    request_path: Path,
    registers_dir: Path,
    out: Path,
    keystore: str | Path | None,
    passphrase: str | None,
    rejects: str | Path | None,
    user: str | Identity | None,
    audit: AuditLog | None,
    delivery_checks: bool,
    formats: tuple[tuple[str, ...], str],
    spark: Any = None,
) -> BuildResult:
    identity = resolve_identity(user)
    audit = audit or AuditLog()
    # The key store's scrypt (about 0.3 s, by design) runs in the background (it
    # releases the GIL) while the request's catalogue is read; the gate below checks
    # the request with the store open, and raises whatever is wrong with either.
    with ThreadPoolExecutor(1, thread_name_prefix="mikrodata-keystore") as pool:
        opening = pool.submit(KeyStore.open, keystore or keystore_path(), passphrase)
        _read_catalogue(request_path)
        store = opening.result()
    # The gate is the one place that says yes; what is selected below is exactly the
    # approval it returns (register_spec reads nothing else). With the key store open it
    # also refuses a log rolled back behind the key store's last checkpoint.
    approval = check_access(
        request_path, user=identity, action="build_extract", audit=audit, keystore=store
    )
    request, project = approval.request, approval.project
    specs = [register_spec(request, r) for r in request.register_names]
    coarsening = coarsening_steps(request, specs)
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
    if spark is not None:
        from .spark import check_spark_build

        check_spark_build(registers_dir, sorted(needed), coarsening)
    key = store.project_key(project)
    check_dir = default_check_dir(project)
    checks = {
        s.register: (
            run_delivery_checks(s.register, registers_dir, s.years, check_dir, audit)
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
            approval,
            specs,
            coarsening,
            registers_dir,
            out,
            reject_dir,
            key,
            checks,
            store,
            audit,
            request_path,
            formats,
            spark,
        )
    finally:
        lock.release()


def _run_on_spark(
    spark: Any,
    specs: list[RegisterSpec],
    registers_dir: Path,
    tmp: Path,
    reject_tmp: Path,
    key: ProjectKey,
) -> list[RegisterResult]:
    """Each register on Spark, then the collision check across them (the one-machine
    build's shared pseudonym maps); nothing stays cached."""
    from mikrodata.pseudonymisation.spark import check_collisions

    from .spark import run_register_spark

    results, runs = [], []
    try:
        for s in specs:
            counts, run = run_register_spark(spark, s, registers_dir, tmp, reject_tmp, key)
            results.append(counts)
            runs.append(run)
        check_collisions(runs)
    finally:
        for run in runs:
            run.unpersist()
        for view in ("population", "ids", "pop_src", *(f"src_{s.register}" for s in specs)):
            spark.catalog.dropTempView(view)
    return results


def _build_locked(
    approval: Approval,
    specs: list[RegisterSpec],
    coarsening: list[Step],
    registers_dir: Path,
    out: Path,
    reject_dir: Path,
    key: ProjectKey,
    checks: dict[str, str],
    store: KeyStore,
    audit: AuditLog,
    request_path: Path,
    formats: tuple[tuple[str, ...], str],
    spark: Any = None,
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
                if spark is None:
                    pop: PopulationResult = build_population(con, request, registers_dir)
                else:
                    from .spark import build_population_spark

                    pop = build_population_spark(spark, request, registers_dir)
                reject_tmp.chmod(0o700)  # raw identifiers: the steward's eyes only
                if pop.rejected is not None and pop.rejected.num_rows:
                    pq.write_table(pop.rejected, private_file(reject_tmp / "cohort.parquet"))
                if spark is None:
                    shared: dict = {}  # one pseudonym map per domain across the registers
                    results = [
                        run_register(
                            con,
                            s,
                            registers_dir,
                            tmp,
                            reject_tmp,
                            key,
                            shared=shared,
                            coarsening=coarsening,
                        )
                        for s in specs
                    ]
                else:
                    results = _run_on_spark(spark, specs, registers_dir, tmp, reject_tmp, key)
                # Rows the delivery reader could not use (a register not in Parquet).
                read = {r.register: r for r in staged_deliveries()}
                for register, done in read.items():
                    if done.rejects is not None:
                        target = private_file(reject_tmp / f"{register}.unreadable.parquet")
                        shutil.copyfile(done.rejects, target)  # keeps the 0600
                if (tmp / ".work").exists():  # a Spark build's scratch folder, empty by now
                    (tmp / ".work").rmdir()
                exports = export_copies(tmp, specs, results, *formats)
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
                    read={s.register: read[s.register] for s in specs if s.register in read},
                    exports=exports,
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
            "coarsening": manifest.get("coarsening", []),
            "formats": list(formats[0]),
        },
        signer=store,
    )
    if read_state(request_path, audit).state == "confidentiality_approved":
        transition(request_path, "extract_delivered", user=user, audit=audit, signer=store)
    return BuildResult(out=out, rejects=reject_dir, manifest=manifest, manifest_sha256=manifest_sha)
