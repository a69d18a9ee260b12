"""The review page: the one file a quality reviewer opens first.

``review.html`` is written by ``mikrodata quality run`` beside Data Docs. It is static
and self-contained (styles inline, plotly.js inline, no request leaves the page):

1. a banner with the verdict of the checks and the counts of failures by severity;
2. the failures, critical first (on the first screen), then warnings, then info, each
   grouped by check and variable with the years it failed in, its unexpected rows,
   examples by file and row (identifier values masked) and a link to the year's page in
   Data Docs;
3. the sign-off block: who signed off, the verdict and the comment, once
   ``mikrodata quality signoff`` has recorded them (:mod:`quality.signoff`), else how to;
4. the missingness heatmap and the variable-history timeline with what they show;
5. everything that passed, folded away.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mikrodata.toolkit.atomic import write_text_atomic

__all__ = ["REVIEW_FILE", "render_review", "write_signoff_block"]

REVIEW_FILE = "review.html"
_SIGNOFF_START = "<!--signoff-->"
_SIGNOFF_END = "<!--/signoff-->"
_ORDER = ("critical", "warning", "info")
_TITLES = {
    "critical": "Critical failures: the delivery cannot be accepted",
    "warning": "Warnings: look at these before signing off",
    "info": "For information",
}
# No plotly logo link: the page must not point anywhere outside.
_PLOT_CONFIG = {"displaylogo": False}

_CSS = """
body{font-family:system-ui,sans-serif;margin:0;color:#1d1d1d;background:#fafafa}
main{max-width:1200px;margin:0 auto;padding:12px 20px}
h1{font-size:1.35rem;margin:.3rem 0}
h2{font-size:1.1rem;margin:1.2rem 0 .4rem}
.banner{padding:10px 14px;border-radius:6px;font-weight:600;margin:.4rem 0}
.fail{background:#b00020;color:#fff}.warn{background:#f2c94c}.pass{background:#2e7d32;color:#fff}
.counts span{display:inline-block;margin-right:14px;padding:2px 8px;border-radius:4px}
.c-critical{background:#fde0e0}.c-warning{background:#fff3cd}.c-info{background:#e3f2fd}
table{border-collapse:collapse;width:100%;background:#fff;font-size:.88rem}
th,td{border:1px solid #ddd;padding:4px 6px;text-align:left;vertical-align:top}
th{background:#eee}
tr.critical td:first-child{border-left:5px solid #b00020}
tr.warning td:first-child{border-left:5px solid #f2c94c}
tr.info td:first-child{border-left:5px solid #64b5f6}
.ex{font-family:ui-monospace,monospace;font-size:.8rem;color:#333}
.note{color:#444;font-size:.9rem;max-width:70em}
.signoff{background:#fff;border:1px solid #bbb;border-radius:6px;padding:8px 12px}
"""


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _example(ex: dict[str, Any]) -> str:
    where = f"{ex.get('file', '')}:{ex.get('row', '')}" if "file" in ex else ""
    rest = ", ".join(f"{k}={v}" for k, v in ex.items() if k not in ("file", "row"))
    return _e(" ".join(p for p in (where, rest) if p))


def _groups(failures: Sequence[Any]) -> dict[str, list[list[Any]]]:
    """Failures by severity, then by (check, variable), years in order."""
    out: dict[str, dict[tuple[str, str], list[Any]]] = {s: {} for s in _ORDER}
    for o in sorted(failures, key=lambda o: (o.year, o.check)):
        out[o.severity].setdefault((o.check, o.variable or ""), []).append(o)
    return {s: list(g.values()) for s, g in out.items()}


def _failure_rows(severity: str, groups: list[list[Any]], links: dict) -> str:
    rows = []
    for group in groups:
        first = group[0]
        years = ", ".join(
            f'<a href="{_e(links[(o.year, o.page)])}">{o.year}</a>'
            if (o.year, o.page) in links
            else str(o.year)
            for o in group
        )
        unexpected = sum(o.unexpected_count for o in group)
        examined = sum(o.element_count for o in group)
        errors = sorted({e for o in group for e in o.errors})
        examples = [ex for o in group for ex in o.examples][:5]
        shown = "<br>".join(_example(x) for x in examples) or _e("; ".join(errors))
        if not examples and first.observed is not None:
            shown = _e(f"observed: {first.observed}")
        count = f"{unexpected:,}" + (f" of {examined:,}" if examined else "")
        rows.append(
            f'<tr class="{severity}"><td>{_e(first.variable)}</td><td>{_e(first.check)}</td>'
            f"<td>{_e(first.description)}</td><td>{years}</td><td>{count}</td>"
            f'<td class="ex">{shown}</td></tr>'
        )
    return "".join(rows)


def _signoff_html(record: dict[str, Any] | None, critical: int, out: Path | None) -> str:
    if record:
        body = (
            f"<p><b>Signed off</b> by {_e(record.get('user'))} at {_e(record.get('time'))}: "
            f"verdict <b>{_e(record.get('verdict'))}</b>.</p>"
            f"<p>Comment: {_e(record.get('comment') or '(none)')}</p>"
            f"<p class='note'>Audit event {_e(record.get('seq'))}, hash "
            f"{_e(str(record.get('hash', ''))[:16])}…, bound to the delivery checksum "
            f"{_e(str(record.get('delivery_sha256', ''))[:16])}….</p>"
        )
    else:
        verdicts = "rejected" if critical else "accepted or rejected"
        body = (
            "<p><b>Not signed off yet.</b> Reviewer: ____________ Verdict: ____________ "
            "Comment: ____________</p>"
            f"<p class='note'>Record it with <code>mikrodata quality signoff "
            f"{_e(out or 'OUT')} --request REQUEST.yaml --verdict VERDICT --comment "
            f"TEXT</code> (verdict {verdicts}"
            + ("; a run with a critical failure cannot be accepted" if critical else "")
            + "). The sign-off is a signed event in the audit log.</p>"
        )
    return f'{_SIGNOFF_START}<div class="signoff" id="signoff">{body}</div>{_SIGNOFF_END}'


def render_review(
    report: Any,
    links: dict[tuple[int, str], str],
    *,
    figures: Sequence[tuple[str, str, Any]] = (),
    signoff: dict[str, Any] | None = None,
) -> str:
    """The review page of ``report`` (a :class:`quality.run.QualityReport`).

    ``links``: (year, page) -> path of that validation page in Data Docs, relative to
    the review page; ``figures``: (title, explanation, plotly figure).
    """
    import plotly.io as pio

    failures = report.failures
    counts = {s: sum(o.severity == s for o in failures) for s in _ORDER}
    critical = counts["critical"]
    if critical:
        banner = f'<div class="banner fail">FAIL: {critical} critical failure(s)</div>'
    elif counts["warning"]:
        banner = (
            f'<div class="banner warn">No critical failure; {counts["warning"]} warning(s) '
            "to look at</div>"
        )
    else:
        banner = '<div class="banner pass">PASS: no critical failure, no warning</div>'
    passed = len(report.outcomes) - len(failures)
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        "<meta http-equiv='Content-Security-Policy' content=\"default-src 'none'; "
        "script-src 'unsafe-inline' 'unsafe-eval'; style-src 'unsafe-inline'; img-src data:; "
        'font-src data:">',
        f"<title>Quality review: {_e(report.register)}</title><style>{_CSS}</style></head>",
        "<body><main>",
        f"<h1>Quality review: {_e(report.register)} ({_e(report.mode)})</h1>",
        banner,
        '<p class="counts">'
        + "".join(f'<span class="c-{s}"><a href="#{s}">{counts[s]} {s}</a></span>' for s in _ORDER)
        + f"<span>{passed} passed</span><span>{report.rows:,} rows</span>"
        f"<span>years {_e(', '.join(map(str, report.years)))}</span></p>",
    ]
    groups = _groups(failures)
    header = (
        "<tr><th>variable</th><th>check</th><th>expectation</th><th>years (Data Docs)</th>"
        "<th>unexpected</th><th>examples (file:row, identifiers masked)</th></tr>"
    )
    for severity in _ORDER:
        if not groups[severity]:
            continue
        parts.append(f'<h2 id="{severity}">{_e(_TITLES[severity])}</h2>')
        parts.append(f"<table>{header}{_failure_rows(severity, groups[severity], links)}</table>")
    if not failures:
        parts.append("<h2>Failures</h2><p>None.</p>")
    parts.append(
        '<p class="note">Identifier values are masked (# digit, A letter, _ white space). '
        "Every unexpected row is in <code>unexpected_rows.parquet</code>; Data Docs: "
        '<a href="data_docs/index.html">data_docs/index.html</a>.</p>'
    )
    parts.append("<h2>Sign-off</h2>")
    parts.append(_signoff_html(signoff, critical, report.out))
    first = True
    for title, explanation, figure in figures:
        parts.append(f"<h2>{_e(title)}</h2><p class='note'>{_e(explanation)}</p>")
        parts.append(
            pio.to_html(figure, include_plotlyjs=first, full_html=False, config=_PLOT_CONFIG)
        )
        first = False
    rows = "".join(
        f"<tr><td>{o.year}</td><td>{_e(o.variable)}</td><td>{_e(o.check)}</td>"
        f"<td>{_e(o.severity)}</td><td>{_e(o.description)}</td><td>{o.unexpected_count:,}</td></tr>"
        for o in report.outcomes
        if o.success
    )
    parts.append(
        f"<details><summary>Passed ({passed})</summary><table><tr><th>year</th>"
        "<th>variable</th><th>check</th><th>severity</th><th>expectation</th>"
        f"<th>unexpected (within tolerance)</th></tr>{rows}</table></details>"
    )
    parts.append("</main></body></html>")
    return "\n".join(parts)


def write_signoff_block(run: str | Path, record: dict[str, Any]) -> None:
    """Replace the sign-off block of ``run/review.html`` with ``record``."""
    path = Path(run) / REVIEW_FILE
    if not path.is_file():
        return
    text = path.read_text(encoding="utf-8")
    start, end = text.find(_SIGNOFF_START), text.find(_SIGNOFF_END)
    if start < 0 or end < 0:
        return
    block = _signoff_html(record, 0, None)
    write_text_atomic(path, text[:start] + block + text[end + len(_SIGNOFF_END) :])
