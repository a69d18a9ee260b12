"""The researcher's front door: open a project extract, checked, gated and audited.

::

    import mikrodata
    project = mikrodata.open_extract("extracts/P2026-001")
    project                                  # registers, years, variables; dummy or not
    eb = project.frame("ekonomiskt_bistand")        # pandas, Arrow-backed, labelled codes
    rel = project.relation("ekonomiskt_bistand")    # DuckDB, for what does not fit in memory

:func:`open_extract` verifies the extract offline (the steward's signature and every
checksum, from the trusted public key alone), passes the gate's ``load_extract`` action
against the extract's signed approval (the user is a researcher of the project and the
approval has not ended), and writes an ``extract_loaded`` event to the local audit log.
A dummy extract opens the same way, says it is a dummy, and needs no approval.

Code columns come as pandas categories labelled from the catalogue (``labels="en"`` or
``"sv"``; ``None`` keeps the codes); everything else keeps its Arrow type. The pseudonym
columns (``lopnr``, ``lopnr_hushall``) stay 16-character strings.

``project.export(register, "eb.dta", format="stata")`` writes a register in Stata, SAS
transport, SPSS, CSV or Parquet for working in the environment (a Stata or R session
beside the notebook), into the project's outputs folder only: nothing written there
leaves the environment except through an approved output release.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.dataset as pads

from mikrodata.access_requests import (
    Approval,
    AuditLog,
    SignedApproval,
    check_signed_approval,
)
from mikrodata.pseudonymisation import TrustStore
from mikrodata.quality.catalogue import load
from mikrodata.toolkit.errors import BadInputError, ExportRefused
from mikrodata.toolkit.identity import Identity, resolve_identity
from mikrodata.toolkit.sources import record_opened

from .extract.manifest import Manifest, RegisterEntry
from .extract.verify import verify_extract

__all__ = ["LABELS", "Project", "default_outputs", "open_extract"]

LABELS = ("en", "sv", None)


@dataclass
class Project:
    """An opened project extract. Make one with :func:`open_extract`."""

    directory: Path
    manifest: Manifest
    approval: SignedApproval | None  # None for a dummy extract
    identity: Identity
    manifest_sha256: str = ""
    outputs: Path | None = None  # the project's writable outputs folder, if known
    _connection: Any = field(default=None, repr=False)
    _audit: AuditLog | None = field(default=None, repr=False)

    # -- what it holds ----------------------------------------------------------------

    @property
    def project(self) -> str:
        return self.manifest.project

    @property
    def dummy(self) -> bool:
        """True for synthetic data with the approved shape (no release can come from it)."""
        return self.manifest.dummy

    @property
    def registers(self) -> tuple[str, ...]:
        return tuple(self.manifest.registers)

    def _entry(self, register: str) -> RegisterEntry:
        try:
            return self.manifest.registers[register]
        except KeyError:
            raise BadInputError(
                f"the extract of project {self.project} has no register {register!r}",
                f"It holds: {', '.join(self.registers)}",
            ) from None

    def years(self, register: str) -> tuple[int, ...]:
        """The years of ``register`` that have rows in the extract."""
        return self._entry(register).years_found

    def variables(self, register: str, labels: str = "en") -> pd.DataFrame:
        """One row per column of ``register``: name, role, type and catalogue label."""
        reg = load(register)
        rows = []
        for c in self._entry(register).columns:
            source = c.source or c.name
            label = None
            if source in reg.names:
                v = reg.variable(source)
                label = v.label_sv if labels == "sv" else v.label_en
            rows.append({"name": c.name, "role": c.role, "type": c.type, "label": label})
        return pd.DataFrame(rows)

    def __repr__(self) -> str:
        kind = "dummy extract (synthetic, not releasable)" if self.dummy else "extract"
        lines = [f"<{kind} of project {self.project} at {self.directory}>"]
        for name, entry in self.manifest.registers.items():
            years = entry.years_found
            span = f"{years[0]}-{years[-1]}" if years else "no rows"
            lines.append(f"  {name}: {entry.rows_out:,} rows, {span}, {len(entry.columns)} columns")
        return "\n".join(lines)

    # -- reading ----------------------------------------------------------------------

    def _files(self, register: str) -> list[str]:
        return [str(self.directory / rel) for rel in self._entry(register).files]

    def frame(
        self,
        register: str,
        *,
        columns: list[str] | None = None,
        years: list[int] | None = None,
        labels: str | None = "en",
    ) -> pd.DataFrame:
        """``register`` as a pandas DataFrame (Arrow-backed), optionally only some
        ``columns`` and ``years``; code columns as categories labelled in ``labels``."""
        if labels not in LABELS:
            raise BadInputError(f"labels={labels!r}", "Use 'en', 'sv' or None")
        entry = self._entry(register)
        known = entry.names
        wanted = list(columns) if columns is not None else list(known)
        unknown = [c for c in wanted if c not in known]
        if unknown:
            raise BadInputError(
                f"{register} in this extract has no column {unknown[0]!r}",
                f"Its columns: {', '.join(known)}",
            )
        dataset = pads.dataset(self._files(register), format="parquet")
        where = None
        if years is not None:
            where = pads.field(entry.year_column).isin([int(y) for y in years])
        table = dataset.to_table(columns=wanted, filter=where)
        frame = table.to_pandas(types_mapper=pd.ArrowDtype)
        if labels is not None:
            reg = load(register)
            for c in entry.columns:
                if c.name in frame.columns and c.type == "code" and c.name in reg.names:
                    frame[c.name] = _labelled(frame[c.name], reg.variable(c.name), labels)
        frame.attrs["mikrodata"] = self.provenance(register)
        return frame

    def provenance(self, register: str | None = None) -> dict[str, Any]:
        """Where data came from, for the records of checks and releases: the project, the
        extract's manifest hash and signer, and whether it is a dummy (no release can come
        from a dummy). ``frame.attrs["mikrodata"]`` carries it on every frame."""
        return {
            "project": self.project,
            "dummy": self.dummy,
            "manifest_sha256": self.manifest_sha256,
            "register": register,
        }

    def export(
        self,
        register: str,
        path: str | Path,
        format: str = "stata",  # noqa: A002 (the word researchers use)
        *,
        labels: str = "en",
    ) -> Path:
        """Write ``register`` as ``format`` (``stata``, ``sas-xpt``, ``spss``, ``csv`` or
        ``parquet``) to ``path``, atomically, with what the extract build's ``--format``
        writes (catalogue labels as value labels in Stata and SPSS, in ``labels``).

        With an outputs folder known (``outputs`` of :func:`open_extract`, or the
        workspace's ``<project>/outputs`` beside ``<project>/extract``) a relative
        ``path`` is taken inside it and any other place is refused
        (:class:`~mikrodata.toolkit.errors.ExportRefused`); the extract itself is never
        written into. The copy is for working here: it leaves the environment only
        through an output release, like every other file. The local audit log records
        an ``extract_exported`` event (register, format, path, checksum). Returns the
        path written."""
        from mikrodata.toolkit.extract.formats import FORMATS, parse_formats, write_format

        fmt = str(format).strip().lower()
        if fmt not in FORMATS or "," in fmt:
            raise BadInputError(f"unknown format {format!r}", f"Choose from: {', '.join(FORMATS)}")
        entry = self._entry(register)
        target = Path(path)
        if self.outputs is not None and not target.is_absolute():
            target = self.outputs / target
        target = target.resolve()
        if _inside(target, self.directory):
            raise ExportRefused(
                f"{target.name}: inside the extract, which is read-only",
                "Export into the project's outputs folder",
            )
        if self.outputs is not None and not _inside(target, self.outputs, strict=True):
            raise ExportRefused(
                f"{target}: outside the project's outputs folder {self.outputs}",
                "Export into the outputs folder; data leave only through an output release",
            )
        if target.is_dir():
            raise BadInputError(f"{target}: a folder", "Give a file name, e.g. eb.dta")
        source = self.directory / entry.files[0]
        if fmt == "parquet":
            import shutil

            from mikrodata.toolkit.atomic import atomic_file

            with atomic_file(target) as tmp:
                shutil.copyfile(source, tmp)
        else:
            parse_formats(fmt)
            columns = [
                {"name": c.name, "role": c.role, "type": c.type}
                | ({"source": c.source} if c.source else {})
                for c in entry.columns
            ]
            write_format(source, register, fmt, target, columns=columns, labels=labels)
        if self._audit is not None:  # where a copy of the data went, in the local log
            from mikrodata.access_requests import file_sha256

            self._audit.append(
                "extract_exported",
                project=self.project,
                user=self.identity,
                details={
                    "register": register,
                    "format": fmt,
                    "path": str(target),
                    "sha256": file_sha256(target),
                    "manifest_sha256": self.manifest_sha256,
                    "dummy": self.dummy,
                },
            )
        return target

    def relation(self, register: str) -> Any:
        """``register`` as a DuckDB relation (lazy, out of core), on this project's own
        connection; its codes are the catalogue's codes."""
        import duckdb

        if self._connection is None:
            self._connection = duckdb.connect()
        return self._connection.read_parquet(self._files(register))


def _inside(path: Path, folder: Path, strict: bool = False) -> bool:
    path, folder = Path(path).resolve(), Path(folder).resolve()
    return folder in path.parents or (not strict and path == folder)


def default_outputs(directory: str | Path) -> Path | None:
    """The outputs folder of a workspace project folder (``<project>/extract`` beside
    ``<project>/outputs``, as the lab lays it out), or None."""
    from mikrodata.toolkit.lab.config import PROJECT_LAYOUT

    directory = Path(directory)
    if directory.name != PROJECT_LAYOUT["extract"]:
        return None
    outputs = directory.parent / PROJECT_LAYOUT["outputs"]
    return outputs.resolve() if outputs.is_dir() else None


def _labelled(codes: pd.Series, variable: Any, labels: str) -> pd.Series:
    """Codes as an ordered set of categories named by the catalogue's labels (a code the
    catalogue does not know keeps its code, so nothing is lost)."""
    by_code = {c.code: (c.label_sv if labels == "sv" else c.label_en) for c in variable.codes.codes}
    values = codes.astype("string")
    mapped = values.map(by_code).fillna(values)
    order = [by_code[c] for c in by_code] + sorted(set(mapped.dropna()) - set(by_code.values()))
    categories = list(dict.fromkeys(order))
    return pd.Series(
        pd.Categorical(mapped.astype(object).where(mapped.notna(), None), categories=categories),
        index=codes.index,
        name=codes.name,
    )


def open_extract(
    path: str | Path,
    *,
    user: str | Identity | None = None,
    audit: AuditLog | None = None,
    trust: TrustStore | None = None,
    outputs: str | Path | None = None,
) -> Project:
    """Open the project extract at ``path``: verify it offline, pass the gate's
    ``load_extract`` action against its signed approval, and record the load in the
    local audit log (``$MIKRODATA_AUDIT_LOG``). Returns a :class:`Project`.

    ``outputs``: the project's writable outputs folder, the only place
    :meth:`Project.export` writes to (default: the workspace's ``<project>/outputs``
    when ``path`` is its ``<project>/extract``)."""
    directory = Path(path)
    folder = Path(outputs).resolve() if outputs is not None else default_outputs(directory)
    identity = resolve_identity(user)
    audit = audit or AuditLog()
    checked = verify_extract(directory, user=identity, audit=audit, trust=trust, record=False)
    manifest = checked.manifest
    details = {
        "directory": str(directory.resolve()),
        "manifest_sha256": checked.manifest_sha256,
        "registers": list(manifest.registers),
    }
    if manifest.dummy:
        audit.append(
            "dummy_extract_loaded", project=manifest.project, user=identity, details=details
        )
        project = Project(
            directory, manifest, None, identity, checked.manifest_sha256, folder, _audit=audit
        )
        record_opened(project.provenance())
        return project
    assert checked.approval is not None
    gate: Approval = check_signed_approval(
        checked.approval,
        user=identity,
        action="load_extract",
        audit=audit,
        registers=list(manifest.registers),
    )
    audit.append("extract_loaded", project=manifest.project, user=gate.identity, details=details)
    project = Project(
        directory,
        manifest,
        checked.approval,
        gate.identity,
        checked.manifest_sha256,
        folder,
        _audit=audit,
    )
    record_opened(project.provenance())
    return project
