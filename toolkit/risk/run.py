"""``extract_risk``: measure an extract (built, or planned from a request and the raw
delivery), optionally search for the coarsening that meets the request's risk rules,
and write ``risk.json`` and ``risk.html``.

    extract_risk(extract="extract/", out="risk/")                       # a built extract
    extract_risk(request="P.yaml", registers="registers/", out="risk/", coarsen=True)

The targets of the search come from the request's ``output_rules.risk`` (``min_k``,
``max_unicity``), or from ``min_k`` / ``max_unicity`` given here.
"""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path
from typing import Any

import yaml

from mikrodata.toolkit.errors import BadInputError
from mikrodata.toolkit.extract.source import connect

from .assess import DEFAULT_POINTS, assess
from .report import report_html, report_json, write_report
from .search import Targets, search
from .sources import Override, extract_tables, planned_tables

__all__ = ["request_targets", "extract_risk"]


def request_targets(request: str | Path) -> dict[str, Any]:
    """The request's ``output_rules.risk`` (``{}`` when it sets none). The request is
    validated first (its schema holds the field's shape)."""
    from mikrodata.access_requests import load_request

    load_request(request)
    doc = yaml.safe_load(Path(request).read_text(encoding="utf-8"))
    return dict(doc["output_rules"].get("risk") or {})


def extract_risk(
    *,
    out: str | Path,
    extract: str | Path | None = None,
    request: str | Path | None = None,
    registers: str | Path | None = None,
    k: int = 5,
    quasi_identifiers: Override = None,
    sensitive: Override = None,
    points: tuple[int, ...] = DEFAULT_POINTS,
    sample: int = 10_000,
    seed: int = 0,
    coarsen: bool = False,
    min_k: int | None = None,
    max_unicity: float | None = None,
    suda: bool = False,
) -> dict[str, Any]:
    """Measure, optionally coarsen, and write the report into ``out``; returns
    ``risk.json``'s content. Give ``extract`` (a built extract directory) or ``request``
    and ``registers`` (a planned extract)."""
    if (extract is None) == (request is None) or (request is not None and registers is None):
        raise BadInputError(
            "give either a built extract directory, or a request and its registers",
            "Use `mikrodata extract risk DIR` or `--request FILE --registers DIR`",
        )
    if k < 1 or sample < 1 or not points or min(points) < 1:
        raise BadInputError("k, the sample and every number of points must be >= 1", "")
    rules = request_targets(request) if request is not None else {}
    with tempfile.TemporaryDirectory(prefix="mikrodata-risk-") as scratch:
        con = connect(Path(scratch))
        try:
            if extract is not None:
                tables = extract_tables(
                    con, extract, quasi_identifiers=quasi_identifiers, sensitive=sensitive
                )
                source = {"kind": "extract", "directory": Path(extract).name}
            else:
                tables = planned_tables(
                    con,
                    request,
                    registers,
                    quasi_identifiers=quasi_identifiers,
                    sensitive=sensitive,
                )
                source = {"kind": "planned", "request": Path(request).name}
            source["sample"] = sample
            source["seed"] = seed
            assessment = assess(con, tables, k, points=points, sample=sample, seed=seed)
            if suda:  # optional: needs the suda package
                from .special_uniques import suda_summary

                scores = {t.register: suda_summary(t) for t in tables}
                assessment = dataclasses.replace(assessment, special_uniques=scores)
            result = after = None
            if coarsen:
                targets = Targets(
                    min_k=min_k or rules.get("min_k") or k,
                    max_unicity=max_unicity
                    if max_unicity is not None
                    else rules.get("max_unicity"),
                    points=max(points),
                )
                result = search(con, tables, targets, sample=sample, seed=seed)
                after = assess(con, list(result.tables), k, points=points, sample=sample, seed=seed)
            doc = report_json(assessment, k, source, result, after)
            write_report(out, doc, report_html(assessment, result, after))
        finally:
            con.close()
    return doc
