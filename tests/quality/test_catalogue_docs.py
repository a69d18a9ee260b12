"""The generated catalogue documentation: one page per register, offline."""

from __future__ import annotations

import re

from mikrodata.quality.catalogue import registers
from mikrodata.quality.catalogue_docs import build_docs

REMOTE = re.compile(r"""(src|href)\s*=\s*["']?(https?:)?//""", re.I)


def test_docs_have_one_offline_page_per_register(tmp_path):
    index = build_docs(tmp_path / "docs")
    out = index.parent
    assert index.exists()
    for name in registers():
        page = (out / f"{name}.html").read_text(encoding="utf-8")
        assert "plotly.min.js" in page
        assert not REMOTE.search(page), name
        assert 'class="plotly-graph-div"' in page
    assert (out / "plotly.min.js").stat().st_size > 1_000_000


def test_ekonomiskt_bistand_page_shows_variables_codes_and_history(tmp_path):
    out = build_docs(tmp_path / "docs").parent
    page = (out / "ekonomiskt_bistand.html").read_text(encoding="utf-8")
    for text in (
        "forsorjningshinder",
        "Hushållstyp",
        "provisional",
        "1990–2016",
        "HSLF-FS 2015:30",
    ):
        assert text in page, text


def test_docs_replace_the_directory_whole(tmp_path):
    out = tmp_path / "docs"
    out.mkdir()
    (out / "stale.html").write_text("old")
    build_docs(out)
    assert not (out / "stale.html").exists()


def test_the_docs_command_says_where_the_docs_are(run_cli, tmp_path):
    result = run_cli("catalogue", "docs", "--out", str(tmp_path / "docs"))
    assert result.exit_code == 0, result.output
    assert (tmp_path / "docs" / "index.html").exists()
    assert "index.html" in result.output
