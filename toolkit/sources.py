"""The extracts opened in this Python process: where an output's data can have come from.

A frame of :meth:`~mikrodata.toolkit.project.Project.frame` carries its source in
``attrs["mikrodata"]``, and a table checked from it keeps it. pandas drops ``attrs`` in
some operations, though (``groupby(...).agg``, ``groupby(...).size``, ``value_counts``,
``crosstab``), so a table made from such an aggregate does not know its source. When
exactly one extract has been opened in this process, that is where the data came from;
with none or several, the researcher says which (``source=project``).
"""

from __future__ import annotations

import threading
from typing import Any

__all__ = ["opened_extracts", "record_opened"]

_FIELDS = ("project", "dummy", "manifest_sha256")
_OPENED: list[dict[str, Any]] = []
_LOCK = threading.Lock()


def record_opened(provenance: dict[str, Any]) -> None:
    """Note that the extract with this provenance was opened here (once per extract)."""
    entry = {k: provenance.get(k) for k in _FIELDS}
    with _LOCK:
        if entry not in _OPENED:
            _OPENED.append(entry)


def opened_extracts() -> list[dict[str, Any]]:
    """The extracts opened in this process, in order: project, dummy, manifest_sha256."""
    with _LOCK:
        return [dict(e) for e in _OPENED]
