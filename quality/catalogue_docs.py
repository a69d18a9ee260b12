"""Variable documentation generated from the catalogue: one offline HTML page per
register (the variable table, code lists and a plotly timeline of the history).

Pages load plotly.js from a copy written beside them, never from a CDN, so they read
the same inside a secure environment with no internet.
"""

from __future__ import annotations

import datetime as dt
import html
from pathlib import Path

import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

from mikrodata.quality.catalogue import Register, catalogue_version, load, registers
from mikrodata.toolkit.atomic import atomic_directory
from mikrodata.toolkit.progress import progress

__all__ = ["build_docs", "history_figure"]

_CSS = """
body{font-family:system-ui,sans-serif;margin:2rem;max-width:80rem;color:#222}
table{border-collapse:collapse;margin:1rem 0;font-size:.9rem}
th,td{border:1px solid #ccc;padding:.3rem .5rem;text-align:left;vertical-align:top}
th{background:#f0f0f0} .prov{color:#a60} .muted{color:#666;font-size:.85rem}
details{margin:.2rem 0} code{background:#f6f6f6;padding:0 .2rem}
"""


def _e(text: object) -> str:
    return html.escape("" if text is None else str(text))


def _years(first: int, last: int | None) -> str:
    return f"{first}–{last}" if last is not None else f"{first}–"


def history_figure(reg: Register, until: int | None = None) -> go.Figure:
    """A timeline: one bar per variable (and per code, for inline code lists) over the
    years it exists, with the documented changes marked."""
    end = until or max(dt.date.today().year, reg.first_year)
    labels, bases, lengths, colours, hovers = [], [], [], [], []
    for v in reversed(reg.variables):
        rows = [(v.name, v.first_year, v.last_year, "#1f77b4", v.label_en)]
        if v.codes is not None and v.codes.ref is None:
            for c in v.codes.codes:
                if (c.first_year, c.last_year) != (v.first_year, v.last_year):
                    rows.append(
                        (f"{v.name} = {c.code}", c.first_year, c.last_year, "#ff7f0e", c.label_en)
                    )
        for label, first, last, colour, text in reversed(rows):
            stop = (last if last is not None else end) + 1
            labels.append(label)
            bases.append(first)
            lengths.append(stop - first)
            colours.append(colour)
            hovers.append(f"{label}: {text}<br>{_years(first, last)}")
    fig = go.Figure(
        go.Bar(
            y=labels,
            x=lengths,
            base=bases,
            orientation="h",
            marker_color=colours,
            hovertext=hovers,
            hoverinfo="text",
        )
    )
    for event in reg.history():
        if event.kind == "documented" and event.variable is None:
            fig.add_vline(x=event.year, line_dash="dot", line_color="#999")
    fig.update_layout(
        title=f"{reg.label_en}: variables and codes over the years",
        height=max(400, 18 * len(labels) + 120),
        xaxis_title="year (dotted: documented register-wide changes)",
        margin={"l": 260},
        showlegend=False,
    )
    return fig


def _code_table(reg: Register) -> str:
    parts = []
    for v in reg.variables:
        if v.codes is None:
            continue
        prov = ' <span class="prov">provisional</span>' if v.codes.provisional else ""
        if v.codes.ref is not None:
            parts.append(
                f"<details><summary><code>{_e(v.name)}</code>: shared list "
                f"<code>{_e(v.codes.ref)}</code> ({len(v.codes.codes)} codes){prov}</summary>"
                f"<p class=muted>{_e(v.codes.note)}</p></details>"
            )
            continue
        rows = "".join(
            f"<tr><td>{_e(c.code)}</td><td>{_e(c.label_sv)}</td><td>{_e(c.label_en)}</td>"
            f"<td>{_years(c.first_year, c.last_year)}</td><td>{_e(c.group or '')}</td></tr>"
            for c in v.codes.codes
        )
        parts.append(
            f"<details><summary><code>{_e(v.name)}</code> ({len(v.codes.codes)} codes){prov}"
            f"</summary><p class=muted>{_e(v.codes.note)} Sources: "
            f"{_e(', '.join(v.codes.sources))}</p><table><tr><th>code</th><th>svenska</th>"
            f"<th>English</th><th>valid</th><th>group</th></tr>{rows}</table></details>"
        )
    return "".join(parts)


def _page(reg: Register, version: str) -> str:
    var_rows = "".join(
        f"<tr><td><code>{_e(v.name)}</code></td><td>{_e(v.label_sv)}</td><td>{_e(v.label_en)}"
        f"<div class=muted>{_e(v.description)}</div></td><td>{_e(v.type)}</td>"
        f"<td>{_e(v.unit)}</td><td>{_e(v.identifier_class)}</td><td>{_e(v.level)}</td>"
        f"<td>{_years(v.first_year, v.last_year)}</td><td>{_e(', '.join(v.sources))}</td></tr>"
        for v in reg.variables
    )
    hist_rows = "".join(
        f"<tr><td>{e.year}</td><td>{_e(e.kind.replace('_', ' '))}</td>"
        f"<td>{_e(e.description)}</td><td>{_e(', '.join(e.sources))}</td></tr>"
        for e in reg.history()
    )
    ref_rows = "".join(
        f"<tr><td><code>{_e(r.id)}</code></td><td>{_e(r.title)}"
        f"<div class=muted>{_e(r.note)}</div></td><td>{_e(r.confidence)}</td>"
        f"<td>{_e(r.url)}</td></tr>"
        for r in reg.references.values()
    )
    figure = history_figure(reg).to_html(full_html=False, include_plotlyjs=False)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{_e(reg.name)}: {_e(reg.label_en)}</title>
<style>{_CSS}</style><script src="plotly.min.js"></script></head><body>
<p><a href="index.html">All registers</a></p>
<h1>{_e(reg.label_sv)}</h1><p><b>{_e(reg.label_en)}</b>, {_e(reg.holder)},
{_years(reg.first_year, reg.last_year)}. Catalogue {_e(reg.version)} ({_e(version)}).</p>
<p>{_e(reg.description)}</p><p><b>Record:</b> {_e(reg.record)}<br><b>Key:</b>
{_e(", ".join(reg.key))}</p>
<h2>Variables</h2><table><tr><th>name</th><th>svenska</th><th>English</th><th>type</th>
<th>unit</th><th>class</th><th>level</th><th>years</th><th>sources</th></tr>{var_rows}</table>
<h2>Code lists</h2>{_code_table(reg)}
<h2>History</h2>{figure}
<table><tr><th>year</th><th>change</th><th>what</th><th>sources</th></tr>{hist_rows}</table>
<h2>Sources</h2><p class=muted>Confidence: V read in the source, S secondary source,
U unchecked (an assumption).</p>
<table><tr><th>id</th><th>source</th><th>confidence</th><th>address</th></tr>{ref_rows}</table>
</body></html>
"""


def build_docs(out: str | Path) -> Path:
    """Write the catalogue documentation to ``out`` (replaced whole, atomically);
    returns the path of its index page."""
    out = Path(out)
    version = catalogue_version()
    names = registers()
    with atomic_directory(out) as tmp, progress("catalogue docs", total=len(names)) as task:
        (tmp / "plotly.min.js").write_text(get_plotlyjs(), encoding="utf-8")
        items = []
        for name in names:
            reg = load(name)
            (tmp / f"{name}.html").write_text(_page(reg, version), encoding="utf-8")
            items.append(
                f"<tr><td><a href='{name}.html'>{_e(name)}</a></td><td>{_e(reg.label_sv)}</td>"
                f"<td>{_e(reg.label_en)}</td><td>{len(reg.variables)}</td></tr>"
            )
            task.advance()
        (tmp / "index.html").write_text(
            f"<!doctype html><html lang=en><head><meta charset=utf-8><title>mikrodata catalogue"
            f"</title><style>{_CSS}</style></head><body><h1>mikrodata variable catalogue</h1>"
            f"<p>Catalogue version {_e(version)}.</p><table><tr><th>register</th>"
            f"<th>svenska</th><th>English</th><th>variables</th></tr>{''.join(items)}</table>"
            f"</body></html>\n",
            encoding="utf-8",
        )
    return out / "index.html"
