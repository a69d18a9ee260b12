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
    frames = {y: clean_year(REG, y, 30) for y in (2016, 2017)}
    frames[2017].loc[0, "hushallstyp"] = "99"  # a critical failure to render
    write_dataset(frames, root / "data", REG)
    # Two batches a year: Data Docs must still show one validation per year and page.
    run_quality(REG.name, root / "data", root / "out", batch_rows=1000, raise_on_failure=False)
    return root / "out" / "data_docs"


def _validation_pages(site):
    return sorted((site / "validations").rglob("*.html"))


def test_one_validation_per_year_and_page_whatever_the_batches(site):
    pages = _validation_pages(site)
    names = sorted(p.relative_to(site / "validations").parts[1:4:2] for p in pages)
    expected = sorted(
        (str(y), p)
        for y in (2016, 2017)
        for p in ("person_rows", "household_rows", "kommun_months", "household_months")
    )
    assert names == [(y, p) for y, p in expected]
    suites = sorted((site / "expectations").rglob("*.html"))
    assert len(suites) == len(pages)  # one suite page beside each validation page


def test_pages_name_the_asset_tell_severities_apart_and_speak_sentences(site):
    text = {p.name: p.read_text() for p in _validation_pages(site)}
    person = next(t for n, t in text.items() if n.endswith("2016-person_rows.html"))
    assert "Data asset: ekonomiskt_bistand 2016 person rows" in person
    assert "Data asset: None" not in "".join(text.values())
    assert "CRITICAL: personnummer is a valid personnummer" in person
    assert "Warning: personnummer is in the normalised 12-digit form" in person
    # No expectation renders as a keyword dump, and a type is never masked.
    for page in text.values():
        assert "(**" not in page and "batch_id" not in page
    assert "AAA" not in person and "type str" in person.replace("type string", "type str")
    failed = next(t for n, t in text.items() if n.endswith("2017-household_rows.html"))
    assert "Failed" in failed and "hushallstyp uses codes valid in 2017" in failed


def test_custom_expectations_render_sentences_without_a_description():
    from mikrodata.quality.expectations import (
        ExpectColumnValuesToBeValidIdentifiers,
        ExpectColumnValuesToHaveCatalogueType,
        ExpectRowsToSatisfyRule,
    )

    cases = [
        (ExpectColumnValuesToBeValidIdentifiers(column="pnr"), "valid personnummer"),
        (
            ExpectColumnValuesToHaveCatalogueType(column="kon", catalogue_type="code"),
            "catalogue type",
        ),
        (
            ExpectRowsToSatisfyRule(
                column_list=["hushallstyp", "antal_vuxna", "antal_barn"],
                rule="household_composition",
            ),
            "hushallstyp agrees with antal_vuxna",
        ),
    ]
    for exp, words in cases:
        config = exp.configuration
        rendered = type(exp)._prescriptive_renderer(configuration=config)
        template = rendered[0].string_template["template"]
        assert words in template and "**" not in template, template
        # GX may call a renderer with neither configuration nor result.
        assert type(exp)._prescriptive_renderer()[0].string_template["template"]


def test_no_page_invites_a_click_out(site):
    for page in site.rglob("*.html"):
        text = page.read_text().lower()
        assert "newsletter" not in text and "<footer>" not in text, page


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
