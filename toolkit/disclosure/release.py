"""The output request: what a researcher asks to release, for the steward to review.

:func:`request_release` adds a checked table or a figure drawn from one to the
project's output request folder (steward-side; ``folder=``, else
``$MIKRODATA_OUTPUT_REQUESTS``, else ``$MIKRODATA_HOME/output-requests``):

- the output itself: ``<name>.csv`` for a table; ``<name>.html`` (self-contained,
  plotly.js inside, no network) and ``<name>.plotly.json`` for a figure;
- ``records/<name>.json``: the full check record, the description, the researcher's
  justification (required for a ``review`` status), the code that made it (the notebook
  cell, or the calling function's source), who asked and when; and
  ``records/<name>.released.json`` (+ ``.population.npy``) for later differencing checks,
  and ``records/<name>.snapshot.json`` (the table's cells, relations and states, for the
  steward's re-check; :mod:`.snapshot`); the entry names the project and the extract the
  data came from (``source``) and the SHA-256 of every output file;
- ACRO's layout, so the SACRO viewer that output checkers use opens the folder:
  ``results.json`` (``{"version", "results": {name: {uid, status, type, properties,
  files: [{name, sdc: {summary, cells}}], outcome, command, summary, timestamp,
  comments, exception}}}``), ``config.json`` (the rules) and ``checksums/<file>.txt``
  (SHA-256 of each output file).

A ``fail`` is refused, and so is a figure not drawn from a checked table (the message
says how to make one). Each request is a ``release_requested`` audit event. Nothing here
releases anything: the steward's review and the signed release are
:mod:`mikrodata.toolkit.release` (``mikrodata release``).

Example::

    disclosure.request_release(t, "recipients_by_kommun", "Recipients per kommun and month")
"""

from __future__ import annotations

import datetime as dt
import hashlib
import inspect
import json
import os
import re
from pathlib import Path
from typing import Any

from mikrodata.access_requests.audit import AuditLog
from mikrodata.toolkit.atomic import write_bytes_atomic, write_text_atomic
from mikrodata.toolkit.disclosure.differencing import ReleasedTable
from mikrodata.toolkit.disclosure.figures import HOW_TO, is_checked, require_checked
from mikrodata.toolkit.disclosure.snapshot import TableSnapshot
from mikrodata.toolkit.disclosure.table import CheckedTable
from mikrodata.toolkit.errors import BadInputError, DisclosureError
from mikrodata.toolkit.identity import current_identity
from mikrodata.toolkit.paths import home
from mikrodata.toolkit.sources import opened_extracts

__all__ = ["ACRO_VERSION", "OutputRequest", "output_request_folder", "request_release"]

# The results.json version written; the SACRO viewer reads 0.4 and later.
ACRO_VERSION = "0.4.0"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")

# ACRO's names for the rules in results.json's sdc summary and cell lists
_ACRO_RULE = {
    "min_count": "threshold",
    "zero": "threshold",
    "dominance": "nk-rule",
    "p_ratio": "p-ratio",
}


def output_request_folder(folder: str | Path | None = None) -> Path:
    """The output request folder: ``folder``, ``$MIKRODATA_OUTPUT_REQUESTS`` or
    ``$MIKRODATA_HOME/output-requests``."""
    if folder is not None:
        return Path(folder)
    env = os.environ.get("MIKRODATA_OUTPUT_REQUESTS")
    return Path(env) if env else home() / "output-requests"


def _caller_code(depth: int = 2) -> dict[str, Any]:
    """The notebook cell, or the source of the code, that called request_release."""
    try:
        from IPython import get_ipython

        shell = get_ipython()
    except ImportError:  # pragma: no cover - IPython comes with JupyterLab
        shell = None
    if shell is not None:
        cells = shell.user_ns.get("In") or []
        if cells:
            return {"kind": "notebook cell", "execution_count": len(cells) - 1, "source": cells[-1]}
    frame = inspect.currentframe()
    for _ in range(depth):
        frame = frame.f_back if frame is not None else None
    if frame is None:  # pragma: no cover
        return {"kind": "unknown", "source": ""}
    try:
        source = inspect.getsource(frame.f_code)
    except (OSError, TypeError):
        source = ""
    return {
        "kind": "source",
        "file": frame.f_code.co_filename,
        "line": frame.f_lineno,
        "function": frame.f_code.co_name,
        "source": source,
    }


class OutputRequest:
    """The output request folder, read and written."""

    def __init__(self, folder: str | Path | None = None) -> None:
        self.folder = output_request_folder(folder)

    @property
    def records(self) -> Path:
        return self.folder / "records"

    def names(self) -> list[str]:
        if not self.records.is_dir():
            return []
        return sorted(
            p.name[: -len(".json")]
            for p in self.records.glob("*.json")
            if not p.name.endswith((".released.json", ".snapshot.json"))
        )

    def entry(self, name: str) -> dict[str, Any]:
        return json.loads((self.records / f"{name}.json").read_text())

    def released_tables(self) -> list[ReleasedTable]:
        """The tables of this request, for the differencing check of a new one."""
        return [ReleasedTable.load(p) for p in sorted(self.records.glob("*.released.json"))]

    def write_acro(self) -> Path:
        """Rewrite ``results.json``, ``config.json`` and ``checksums/`` from the records."""
        results: dict[str, Any] = {}
        checksums = self.folder / "checksums"
        checksums.mkdir(parents=True, exist_ok=True)
        config: dict[str, Any] = {}
        for name in self.names():
            e = self.entry(name)
            config = e["record"]["rules"]
            files = []
            for f in e["files"]:
                digest = hashlib.sha256((self.folder / f).read_bytes()).hexdigest()
                write_text_atomic(checksums / f"{f}.txt", digest)
                files.append({"name": f, "sdc": e["sdc"] if f.endswith(".csv") else {}})
            comments = [e["description"]] + ([e["justification"]] if e["justification"] else [])
            results[name] = {
                "uid": name,
                "status": e["record"]["status"],
                "type": "table" if e["output"] == "table" else "custom",
                "properties": {"method": e["record"]["kind"]},
                "files": files,
                "outcome": e["outcome"],
                "command": e["code"].get("source", ""),
                "summary": e["summary"],
                "timestamp": e["requested_at"],
                "comments": comments,
                "exception": e["justification"] if e["record"]["status"] == "review" else None,
            }
        write_text_atomic(self.folder / "config.json", json.dumps(config, indent=2, default=str))
        path = self.folder / "results.json"
        doc = {"version": ACRO_VERSION, "results": results}
        write_text_atomic(path, json.dumps(doc, indent=2, default=str))
        return path


def _sdc(table: CheckedTable) -> tuple[dict[str, Any], dict[str, Any]]:
    """ACRO's ``sdc`` block and ``outcome`` for a table."""
    hit = table.record.rules_hit()
    summary = {
        "suppressed": any(
            f.action in ("suppressed", "secondary", "redacted") for f in table.record.findings
        ),
        "negative": 0,
        "missing": 0,
        "threshold": hit.get("min_count", 0) + hit.get("zero", 0),
        "p-ratio": hit.get("p_ratio", 0),
        "nk-rule": hit.get("dominance", 0),
    }
    cells: dict[str, list[list[int]]] = {}
    positions = table.suppressed_positions()
    pos_of = {}
    for state, pos in positions.items():
        rows = table.cells[table.cells["state"] == state]
        for (_, r), p in zip(rows.iterrows(), pos, strict=True):
            pos_of[tuple(str(r[d]) for d in table.dims)] = p
    for f in table.record.findings:
        key = tuple(f.cell.get(d) for d in table.dims)
        if key in pos_of:
            flag = _ACRO_RULE.get(f.rule, f.rule)
            cells.setdefault(flag, [])
            if pos_of[key] not in cells[flag]:
                cells[flag].append(pos_of[key])
    outcome = {}
    if table.published.ndim == 2 and len(positions):
        grid = table.published.astype(object).map(lambda _: "ok")
        for state, pos in positions.items():
            for r, c in pos:
                grid.iat[r, c] = state
        outcome = json.loads(grid.to_json())
    return {"summary": summary, "cells": cells}, outcome


def request_release(
    obj: Any,
    name: str,
    description: str,
    justification: str | None = None,
    *,
    folder: str | Path | None = None,
    table: CheckedTable | None = None,
    source: Any = None,
) -> Path:
    """Add a checked table, or a figure drawn from one, to the output request.
    ``table``: the checked table a figure was drawn from (its record and cells go with
    it; without it the figure's own record summary is used). ``source``: the
    :class:`~mikrodata.toolkit.project.Project` (or its ``provenance()``) the output was
    made from, where the table does not know it (a table of an extract's frame does; one
    of an aggregate made with ``groupby(...).agg`` does not, pandas drops the frame's
    attrs). Without either, the one extract opened in this process is taken (recorded
    as ``source_inferred``); with none or several opened, BadInputError. Returns the
    record's path."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise BadInputError(
            f"output name {name!r} is not usable", "Use letters, digits, '_', '.' and '-'"
        )
    if not description or not str(description).strip():
        raise BadInputError("an output needs a description", "Say what the output shows")
    request = OutputRequest(folder)
    request.folder.mkdir(parents=True, exist_ok=True)
    request.records.mkdir(exist_ok=True)
    code = _caller_code()
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    if isinstance(obj, CheckedTable):
        checked, output, files = obj, "table", [f"{name}.csv"]
    elif hasattr(obj, "to_plotly_json") or hasattr(obj, "layout"):
        require_checked(obj)
        checked, output, files = table, "figure", [f"{name}.html", f"{name}.plotly.json"]
    else:
        raise DisclosureError(
            "only checked tables and figures drawn from them can be released", HOW_TO
        )
    if checked is not None:
        record = checked.record.to_dict()
    else:
        record = dict(obj.layout.meta["mikrodata"]["check"])
        record.setdefault("rules", {})
        record.setdefault("findings", [])
    status = record["status"]
    if status == "fail":
        reasons = "; ".join(record.get("notes", [])) or "a rule is broken"
        raise DisclosureError(
            f"output {name!r} failed its checks: {reasons}",
            "Change the output so it passes; a failed check cannot be released",
        )
    if status == "review" and not (justification and justification.strip()):
        raise BadInputError(
            f"output {name!r} needs review: {'; '.join(record.get('notes', []))}",
            "Give justification='why this output is safe and needed'",
        )
    base = obj if output == "table" else table
    provenance = _provenance(source, base)
    inferred = False
    if provenance is None:
        # pandas drops a frame's attrs in groupby(...).agg and the like: with one
        # extract opened here, the data came from it; otherwise the researcher says.
        known = opened_extracts()
        if len(known) != 1:
            raise BadInputError(
                f"output {name!r}: the data it was made from is unknown"
                + (f" ({len(known)} extracts are open in this session)" if known else ""),
                "Pass source=project, where project = mikrodata.open_extract(...)",
            )
        provenance, inferred = dict(known[0], register=None), True
    for stale in (f"{name}.snapshot.json", f"{name}.population.npy", f"{name}.released.json"):
        (request.records / stale).unlink(missing_ok=True)
    snapshot = TableSnapshot.from_table(name, base) if base is not None else None
    if snapshot is not None:
        snapshot.save(request.records)
    if output == "table":
        write_text_atomic(request.folder / files[0], obj.published.to_csv())
        sdc, outcome = _sdc(obj)
        ReleasedTable.from_table(name, obj).save(request.records)
    else:
        write_text_atomic(
            request.folder / files[0], obj.to_html(include_plotlyjs=True, full_html=True)
        )
        write_text_atomic(request.folder / files[1], obj.to_json())
        sdc, outcome = _sdc(table) if table is not None else ({}, {})
        if table is not None:
            ReleasedTable.from_table(name, table).save(request.records)
    entry = {
        "name": name,
        "output": output,
        "description": description,
        "justification": justification,
        "requested_by": current_identity().user,
        "requested_at": now,
        "files": files,
        "record": record,
        "checked": output == "table" or is_checked(obj),
        "project": provenance.get("project") if provenance else None,
        "source": provenance,
        "source_inferred": inferred,
        "file_sha256": {
            f: hashlib.sha256((request.folder / f).read_bytes()).hexdigest() for f in files
        },
        "snapshot": f"{name}.snapshot.json" if snapshot is not None else None,
        "snapshot_sha256": snapshot.digest() if snapshot is not None else None,
        "code": code,
        "sdc": sdc,
        "outcome": outcome,
        "summary": f"{status}; "
        + ", ".join(f"{k}: {v}" for k, v in sorted(_count_actions(record).items()))
        if record.get("findings")
        else status,
    }
    path = request.records / f"{name}.json"
    data = json.dumps(entry, indent=2, default=str).encode()
    write_bytes_atomic(path, data)
    request.write_acro()
    AuditLog().append(
        "release_requested",
        project=entry["project"],
        details={
            "output": name,
            "status": status,
            "entry_sha256": hashlib.sha256(data).hexdigest(),
            "files": entry["file_sha256"],
            "folder": str(request.folder.resolve()),
        },
    )
    return path


def _provenance(source: Any, table: CheckedTable | None) -> dict[str, Any] | None:
    """Where the output's data came from: ``source`` (a Project or its provenance), or
    what the table's frame carried."""
    if source is not None:
        prov = source.provenance() if hasattr(source, "provenance") else source
        if not isinstance(prov, dict) or "dummy" not in prov or "project" not in prov:
            raise BadInputError(
                "source= must be the project opened with open_extract",
                "Pass source=project, where project = mikrodata.open_extract(...)",
            )
        return {k: prov.get(k) for k in ("project", "dummy", "manifest_sha256", "register")}
    if table is not None and isinstance(table.record.properties.get("source"), dict):
        return dict(table.record.properties["source"])
    return None


def _count_actions(record: dict[str, Any]) -> dict[str, int]:
    out: dict[str, int] = {}
    for f in record.get("findings", []):
        out[f["action"]] = out.get(f["action"], 0) + 1
    return out
