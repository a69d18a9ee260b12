"""A real browser: Debian's Chromium, headless, driven by Playwright, against `make lab`.

It opens the researcher's notebook (open the extract, spells, long-term receipt, counts
per year, a disclosure-checked table and figure), runs all its cells, checks that the
checked plotly figure is drawn in the page and the disclosure check passed, that no
menu, context menu or command palette entry offers a download, an export, printing or a
browser tab, and that the browser loaded nothing from anywhere but the lab server. A
screenshot is saved under ``test-artifacts/lab-browser/`` (or
``$MIKRODATA_TEST_ARTIFACTS``), and its path printed.

The notebook is ``notebooks/researcher_spells.ipynb``; set ``MIKRODATA_BROWSER_NOTEBOOK``
to the name of another notebook in ``notebooks/`` to drive that one instead.

Chromium comes from ``make browser`` (``apt-get install chromium``; never a browser
download). Without it the test skips and says why.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from .support import ROOT

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
# Flags for a headless Chromium on a closed network (the background services would try
# to reach Google at every start); root needs --no-sandbox.
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
MENUS = ("File", "Edit", "View", "Run", "Kernel", "Tabs", "Settings", "Help")
FORBIDDEN = re.compile(r"download|export|print|browser tab|open from url|terminal", re.I)
TIMEOUT_MS = 180_000
NOTEBOOK = "researcher_spells.ipynb"
# What the researcher notebook prints once its table and figure have passed the checks.
CHECKED = ("disclosure check: pass", "figure checked: True")


def _artifacts() -> Path:
    folder = Path(os.environ.get("MIKRODATA_TEST_ARTIFACTS", ROOT / "test-artifacts"))
    folder = folder / "lab-browser"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


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


def test_a_notebook_runs_in_the_browser_with_a_plotly_figure_and_nothing_to_download(lab, browser):
    name = os.environ.get("MIKRODATA_BROWSER_NOTEBOOK", NOTEBOOK)
    shutil.copy2(ROOT / "notebooks" / name, lab.project / "notebooks" / name)
    origin = urlsplit(lab.base).netloc
    requests: list[str] = []
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.on("request", lambda r: requests.append(r.url))
    # Anything not for the lab server is refused before it leaves the browser.
    page.route(
        "**/*",
        lambda route: (
            route.continue_()
            if urlsplit(route.request.url).netloc in (origin, "")
            else route.abort()
        ),
    )
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(f"{lab.base}/lab/tree/notebooks/{name}?token={lab.token}")
    page.wait_for_selector(".jp-NotebookPanel")
    page.wait_for_selector(".jp-StatusBar-TextItem:has-text('| Idle')")

    page.click(".lm-MenuBar-itemLabel:text-is('Run')")
    page.click(".lm-Menu-itemLabel:text-is('Run All Cells')")
    page.wait_for_selector(".js-plotly-plot .main-svg")
    page.wait_for_selector(".jp-StatusBar-TextItem:has-text('| Idle')")
    errors = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
    assert "Traceback" not in " ".join(errors.all_inner_texts())
    if name == NOTEBOOK:
        shown = " ".join(page.locator(".jp-OutputArea-output").all_text_contents())
        assert all(line in shown for line in CHECKED), shown[-2000:]
    shot = _artifacts() / f"{Path(name).stem}.png"
    page.screenshot(path=str(shot), full_page=True)
    print(f"\nbrowser screenshot: {shot}")

    offered: dict[str, list[str]] = {}
    for menu in MENUS:
        page.click(f".lm-MenuBar-itemLabel:text-is('{menu}')")
        offered[menu] = [t for t in page.locator(".lm-Menu-itemLabel").all_inner_texts() if t]
        page.keyboard.press("Escape")
    assert "Run All Cells" in offered["Run"]  # the menus were read
    page.click(f".jp-DirListing-item:has-text('{Path(name).stem}')", button="right")
    offered["file context menu"] = page.locator(".lm-Menu-itemLabel").all_inner_texts()
    assert "Rename" in offered["file context menu"]
    page.keyboard.press("Escape")
    page.keyboard.press("Control+Shift+c")
    palette = page.locator(".lm-CommandPalette-input")
    palette.wait_for()
    for query in ("download", "export", "print", "browser tab", "url", "terminal"):
        palette.fill(query)
        page.wait_for_timeout(300)
        offered[f"palette: {query}"] = page.locator(
            ".lm-CommandPalette-item .lm-CommandPalette-itemLabel"
        ).all_inner_texts()
    palette.fill("run all")
    page.wait_for_timeout(300)
    assert "Run All Cells" in page.locator(".lm-CommandPalette-itemLabel").all_inner_texts()
    bad = {where: [t for t in items if FORBIDDEN.search(t)] for where, items in offered.items()}
    assert {where: items for where, items in bad.items() if items} == {}

    remote = sorted({u for u in requests if urlsplit(u).netloc not in (origin, "")})
    assert remote == [], remote
    page.close()
