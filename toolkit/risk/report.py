"""The risk report: ``risk.json`` and a self-contained ``risk.html``.

``risk.json`` holds at least ``persons``, ``records``, ``k`` (the smallest class),
``persons_below_k`` and ``unicity`` (by number of points), then the detail of
:meth:`Assessment.as_dict` and, when a search ran, its steps with the risk after each
and the information lost. ``risk.html`` shows the class-size distribution, unicity by
points and the quasi-identifiers that make persons rare, as counts; it never shows a
row or a value of the data. plotly.js is inlined, so the page loads nothing from the
network.

    >>> JSON_NAME, HTML_NAME
    ('risk.json', 'risk.html')
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import plotly.graph_objects as go

from mikrodata.toolkit.atomic import write_text_atomic

from .assess import Assessment
from .measures import SIZE_BUCKETS, size_bucket
from .search import SearchResult

__all__ = ["HTML_NAME", "JSON_NAME", "report_html", "report_json", "write_report"]

JSON_NAME = "risk.json"
HTML_NAME = "risk.html"
# No "produced with plotly" link: the page must not point anywhere outside.
_PLOT_CONFIG = {"displaylogo": False}
_BANDS = [size_bucket(low) for low, _ in SIZE_BUCKETS]


def report_json(
    assessment: Assessment,
    k: int,
    source: dict[str, Any],
    search: SearchResult | None = None,
    after: Assessment | None = None,
) -> dict[str, Any]:
    """The content of ``risk.json``."""
    doc = {"format": "mikrodata-risk/1", "source": source, **assessment.as_dict()}
    doc["threshold"] = k
    if search is not None:
        doc["search"] = search.as_dict()
    if after is not None:
        doc["after_coarsening"] = after.as_dict()
    return doc


def _class_size_figure(a: Assessment) -> go.Figure:
    fig = go.Figure()
    for name, cs in a.registers.items():
        fig.add_bar(
            name=name,
            x=_BANDS,
            y=[cs.class_sizes.get(b, {}).get("persons", 0) for b in _BANDS],
        )
    traj = a.trajectory.class_sizes
    fig.add_bar(
        name="whole trajectory", x=_BANDS, y=[traj.get(b, {}).get("persons", 0) for b in _BANDS]
    )
    fig.update_layout(
        barmode="group",
        title="Persons by the size of their equivalence class",
        xaxis_title="class size (persons)",
        yaxis_title="persons",
        xaxis={"type": "category"},
    )
    return fig


def _unicity_figure(a: Assessment, after: Assessment | None) -> go.Figure:
    fig = go.Figure()
    for label, x in (("extract", a), ("after coarsening", after)):
        if x is None:
            continue
        ps = sorted(x.unicity)
        us = [x.unicity[p] for p in ps]
        fig.add_scatter(
            name=label,
            x=ps,
            y=[u.share for u in us],
            mode="lines+markers",
            error_y={
                "type": "data",
                "symmetric": False,
                "array": [(u.high - u.share) if u.share is not None else 0 for u in us],
                "arrayminus": [(u.share - u.low) if u.share is not None else 0 for u in us],
            },
        )
    fig.update_layout(
        title="Unicity: share of persons made unique by p of their points",
        xaxis_title="points (p)",
        yaxis_title="share unique",
        yaxis={"range": [0, 1.05]},
        xaxis={"dtick": 1},
    )
    return fig


def _table(rows: list[list[Any]], header: list[str]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>" for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "-"


def report_html(
    assessment: Assessment, search: SearchResult | None = None, after: Assessment | None = None
) -> str:
    """The self-contained HTML report (counts only)."""
    a = assessment
    summary = _table(
        [
            ["persons", a.persons],
            ["records", a.records],
            ["k (smallest class)", a.k],
            [
                f"persons in classes < {a.threshold}",
                f"{a.persons_below_k} ({_pct(a.persons_below_k, a.persons)})",
            ],
            [
                f"records in classes < {a.threshold}",
                f"{a.records_below_k} ({_pct(a.records_below_k, a.records)})",
            ],
            ["trajectory k", a.trajectory.k],
            [
                f"persons whose trajectory is shared by < {a.threshold}",
                a.trajectory.persons_below_k,
            ],
        ]
        + [
            [
                f"unicity at p = {p} (sample {u.sample})",
                "-" if u.share is None else f"{u.share:.3f}",
            ]
            for p, u in sorted(a.unicity.items())
        ],
        ["measure", "value"],
    )
    registers = _table(
        [
            [
                n,
                ", ".join(c.quasi_identifiers),
                c.persons,
                c.records,
                c.classes,
                c.k,
                c.persons_below_k,
                "; ".join(
                    f"{x.variable}: l={x.distinct}, entropy-l={x.entropy:.2f}"
                    for x in c.l_diversity
                    if x.entropy is not None
                ),
            ]
            for n, c in a.registers.items()
        ],
        [
            "register",
            "quasi-identifiers",
            "persons",
            "records",
            "classes",
            "k",
            "persons below k",
            "l-diversity",
        ],
    )
    drivers = _table(
        [
            [d.register, ", ".join(d.quasi_identifiers), d.persons_below_k, d.classes_of_one]
            for d in a.drivers[:20]
        ],
        ["register", "known quasi-identifiers", f"persons below {a.threshold}", "classes of one"],
    )
    parts = [
        "<h1>Re-identification risk</h1>",
        "<p>Counts only: no row and no value of the extract appears in this report.</p>",
        summary,
        "<h2>Registers (cross-section per year)</h2>",
        registers,
        _class_size_figure(a).to_html(full_html=False, include_plotlyjs=True, config=_PLOT_CONFIG),
        _unicity_figure(a, after).to_html(
            full_html=False, include_plotlyjs=False, config=_PLOT_CONFIG
        ),
        "<h2>The riskiest combinations (which variables, never which values)</h2>",
        drivers,
    ]
    if search is not None:
        rows = [
            [
                "(extract)",
                "",
                search.before.k,
                search.before.persons_below_k,
                _fmt(search.before.unicity),
                search.before.trajectory_k,
                "",
            ]
        ]
        for s in search.applied:
            lost = "; ".join(
                f"{c}: {int(v['cells_changed'])} cells ({100 * v['share_of_cells']:.1f}%), "
                f"{v['entropy_bits_before']:.2f} -> {v['entropy_bits_after']:.2f} bits"
                for c, v in s.information_lost.items()
            )
            m = s.measured
            rows.append(
                [
                    s.step.describe(),
                    s.step.register or "all",
                    m.k,
                    m.persons_below_k,
                    _fmt(m.unicity),
                    m.trajectory_k,
                    lost,
                ]
            )
        parts += [
            f"<h2>Coarsening (target: k >= {search.targets.min_k}"
            + (
                f", unicity at {search.targets.points} points <= {search.targets.max_unicity}"
                if search.targets.max_unicity is not None
                else ""
            )
            + f"): {'reached' if search.reached else 'NOT reached'}</h2>",
            _table(
                rows,
                [
                    "step",
                    "register",
                    "k",
                    "persons below k",
                    "unicity",
                    "trajectory k",
                    "information lost",
                ],
            ),
        ]
    style = (
        "body{font-family:sans-serif;max-width:1100px;margin:2em auto}"
        "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;"
        "text-align:left}th{background:#f3f3f3}"
    )
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>Re-identification risk</title>"
        f"<style>{style}</style></head><body>{''.join(parts)}</body></html>"
    )


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.3f}"


def write_report(out: str | Path, doc: dict[str, Any], page: str) -> tuple[Path, Path]:
    """Write ``risk.json`` and ``risk.html`` into ``out`` (each atomically)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    json_path, html_path = out / JSON_NAME, out / HTML_NAME
    write_text_atomic(json_path, json.dumps(doc, indent=2, sort_keys=True) + "\n")
    write_text_atomic(html_path, page)
    return json_path, html_path
