"""Offline Data Docs: every CDN asset GX's templates load is vendored, every generated
page points at the local copies, and no page or style sheet names a remote address."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mikrodata.quality.catalogue import load
from mikrodata.quality.datadocs import ASSETS_DIR, CDN_MAP, VENDOR, make_offline, remote_references
from mikrodata.quality.run import run_quality
from mikrodata.toolkit.errors import IntegrityError
from mikrodata.toolkit.synthetic.clean import clean_year, write_dataset

REG = load("ekonomiskt_bistand")
GX_TEMPLATES = (
    Path(__import__("great_expectations").__file__).parent / "render" / "view" / "templates"
)


def test_every_cdn_asset_of_the_installed_gx_templates_is_vendored():
    loaded = set()
    for template in GX_TEMPLATES.glob("*.j2"):
        text = template.read_text()
        loaded |= set(re.findall(r'<script[^>]*\bsrc="(https?://[^"]+)"', text))
        loaded |= set(re.findall(r'<link[^>]*\bhref="(https?://[^"]+)"', text))
    assert loaded, "GX templates moved: update the scan"
    assert loaded <= set(CDN_MAP), sorted(loaded - set(CDN_MAP))


def test_vendored_files_exist_and_are_documented():
    readme = (ASSETS_DIR / "README.md").read_text()
    for local in set(CDN_MAP.values()):
        assert (ASSETS_DIR / local).is_file(), local
    for path in ASSETS_DIR.rglob("*"):
        if path.is_file() and path.parent.name in ("js", "css"):
            assert path.name in readme or path.name == "fontawesome-all.min.css", path.name
            assert ".min." in path.name  # minified only
    fonts = [p.name for p in (ASSETS_DIR / "css").glob("fontawesome-all.min.css")]
    css = (ASSETS_DIR / "css" / fonts[0]).read_text()
    for ref in re.findall(r"url\(\.\./webfonts/([^)]+\.woff2)\)", css):
        assert (ASSETS_DIR / "webfonts" / ref).is_file(), ref
    total = sum(p.stat().st_size for p in ASSETS_DIR.rglob("*") if p.is_file())
    assert total < 3_000_000


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    root = tmp_path_factory.mktemp("docs")
    write_dataset({2016: clean_year(REG, 2016, 30)}, root / "data", REG)
    run_quality(REG.name, root / "data", root / "out")
    return root / "out" / "data_docs"


def test_generated_site_has_no_remote_reference_and_resolves_locally(site):
    assert remote_references(site) == []
    pages = list(site.rglob("*.html"))
    assert len(pages) >= 3  # index, suites, validation results
    for page in pages:
        text = page.read_text()
        assert "great-expectations-web-assets" not in text
        assert "dataContextId" not in text
        assert "integrity=" not in text
        refs = re.findall(r'(?:src|href)="([^"#][^"]*)"', text)
        assert any(f"{VENDOR}/js/jquery.min.js" in r for r in refs), page
        for ref in refs:
            assert (page.parent / ref.split("?")[0]).exists(), (page.name, ref)
    css = (site / "static" / "styles" / "data_docs_default_styles.css").read_text()
    assert "amazonaws" not in css


def test_remote_references_are_detected_and_unknown_ones_refused(tmp_path):
    page = tmp_path / "site" / "index.html"
    page.parent.mkdir()
    page.write_text(
        '<script src="https://example.org/x.js"></script>'
        "<style>a{background:url(//example.org/y.png)}</style>"
        '<link rel="stylesheet" href="local.css">'
    )
    assert len(remote_references(page.parent)) == 2
    # make_offline blanks what it cannot vendor and reports nothing left
    make_offline(page.parent)
    assert remote_references(page.parent) == []
    assert "example.org" not in page.read_text()
    # a page written after the rewrite is caught
    page.write_text('<img src="http://example.org/z.png">')
    assert remote_references(page.parent) != []


def test_make_offline_fails_loudly_when_a_remote_reference_survives(tmp_path):
    # An unquoted attribute is not rewritten; the final check must still refuse it.
    page = tmp_path / "site" / "index.html"
    page.parent.mkdir()
    page.write_text("<img src=https://cdn.example.org/new.png>")
    with pytest.raises(IntegrityError):
        make_offline(page.parent)
