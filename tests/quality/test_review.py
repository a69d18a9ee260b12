"""The review a reviewer reads, on a 27-year synthetic delivery with faults: a few Data
Docs pages per year, an index that renders in headless Chromium in under 5 seconds, and
a review page whose first screen shows a critical failure. Nothing leaves the browser.

Chromium is Debian's (`make browser` installs it as root; CI installs it); without it
the browser tests skip.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from mikrodata.quality.datadocs import remote_references
from mikrodata.quality.run import run_quality

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
YEARS = (1995, 2021)  # 27 years: yearly rows before 2002, monthly from 2002
INDEX_SECONDS = 5.0
SCREEN = {"width": 1280, "height": 800}


@pytest.fixture(scope="module")
def delivery(tmp_path_factory):
    from mikrodata.toolkit.synthetic import generate

    root = tmp_path_factory.mktemp("review")
    generate(root / "synth", 1000, YEARS, seed=5, faults=0.01)
    out = root / "out"
    report = run_quality("ekonomiskt_bistand", root / "synth", out, raise_on_failure=False)
    return report, out


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (make browser installs it as root)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM), args=FLAGS, chromium_sandbox=False
        )
        yield browser
        browser.close()


def _artifacts() -> Path:
    root = Path(__file__).resolve().parents[2]
    folder = Path(os.environ.get("MIKRODATA_TEST_ARTIFACTS", root / "test-artifacts"))
    folder = folder / "quality-review"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _offline_page(browser):
    """A page that refuses every request not for a local file (and records it)."""
    page = browser.new_page(viewport=SCREEN)
    outside: list[str] = []

    def route(r):
        url = r.request.url
        if url.startswith(("file://", "data:", "about:")):
            return r.continue_()
        outside.append(url)
        return r.abort()

    page.route("**/*", route)
    return page, outside


def test_a_27_year_delivery_gives_a_few_data_docs_pages_per_year(delivery):
    report, out = delivery
    assert len(report.years) == 27
    site = out / "data_docs"
    validations = list((site / "validations").rglob("*.html"))
    per_year: dict[str, int] = {}
    for page in validations:
        year = page.relative_to(site / "validations").parts[1]
        per_year[year] = per_year.get(year, 0) + 1
    assert len(per_year) == 27
    assert max(per_year.values()) <= 4, per_year  # person, household, kommun, household months
    pages = list(site.rglob("*.html"))
    assert len(pages) <= 8 * 27 + 1  # a suite page beside each validation, and the index
    assert remote_references(site) == []
    assert remote_references(out / "review.html") == []


def test_the_data_docs_index_renders_in_chromium_in_under_5_seconds(delivery, browser):
    _, out = delivery
    page, outside = _offline_page(browser)
    started = time.perf_counter()
    page.goto((out / "data_docs" / "index.html").as_uri(), wait_until="load")
    # Rendered: bootstrap-table has drawn the validation rows (links to their pages).
    page.wait_for_function(
        "document.querySelectorAll('tr.clickable-row').length > 0", timeout=60_000
    )
    seconds = time.perf_counter() - started
    page.screenshot(path=str(_artifacts() / "data-docs-index.png"))
    assert seconds < INDEX_SECONDS, f"index took {seconds:.1f} s"
    rows = page.evaluate(
        "[...document.querySelectorAll('tr.clickable-row')].map(r => r.dataset.href)"
    )
    assert rows and all((out / "data_docs" / r).is_file() for r in rows), rows[:3]
    assert "newsletter" not in page.content().lower()
    assert outside == []
    page.close()


def test_a_critical_failure_is_on_the_first_screen_of_the_review_page(delivery, browser):
    report, out = delivery
    assert report.critical_failures  # the faulty delivery has them
    page, outside = _offline_page(browser)
    page.goto((out / "review.html").as_uri(), wait_until="load")
    page.screenshot(path=str(_artifacts() / "review-first-screen.png"))
    banner = page.locator(".banner.fail")
    assert "critical failure" in banner.inner_text()
    first = page.locator("tr.critical").first
    box = first.bounding_box()
    assert box is not None and box["y"] + box["height"] <= SCREEN["height"], box
    assert first.is_visible()
    # The first critical row's Data Docs link opens that year's validation page.
    link = first.locator("a").first.get_attribute("href")
    assert (out / link).is_file(), link
    # Critical comes before any warning on the page.
    order = page.evaluate(
        "[...document.querySelectorAll('tr.critical, tr.warning, tr.info')].map(r => r.className)"
    )
    assert order.index("critical") == 0
    if "warning" in order:
        assert order.index("warning") > max(i for i, c in enumerate(order) if c == "critical")
    assert page.locator(".js-plotly-plot").count() == 2  # missingness, history
    assert outside == []
    page.close()
