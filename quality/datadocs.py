"""Make Great Expectations' Data Docs readable offline and silent.

GX 1.x pages load Bootstrap, jQuery, Popper, bootstrap-table, bootstrap-datepicker,
Font Awesome and Vega from public CDNs and a logo from a cloud bucket tagged with the
data context id. In a secure environment without internet they render broken; with
internet they call out. :func:`make_offline` copies the vendored files from
``quality/datadocs_assets`` (see its README for packages, versions and licences) into
the site, points every page at them, replaces the remote logo with GX's own bundled
image, drops GX's newsletter footer, turns remaining links to remote sites into plain
text targets, and then checks that no page or style sheet refers to a remote address
(:func:`remote_references`).
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from mikrodata.toolkit.errors import IntegrityError

__all__ = ["ASSETS_DIR", "CDN_MAP", "make_offline", "remote_references"]

ASSETS_DIR = Path(__file__).with_name("datadocs_assets")
VENDOR = "static/vendor"

# Remote address (as GX's templates write it) -> vendored file under ASSETS_DIR.
CDN_MAP: dict[str, str] = {
    "https://cdn.jsdelivr.net/npm/vega@5": "js/vega.min.js",
    "https://cdn.jsdelivr.net/npm/vega-lite@5": "js/vega-lite.min.js",
    "https://cdn.jsdelivr.net/npm/vega-embed@6": "js/vega-embed.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/font-awesome/6.6.0/css/all.min.css": (
        "css/fontawesome-all.min.css"
    ),
    "https://code.jquery.com/jquery-3.7.1.min.js": "js/jquery.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/popper.js/1.12.9/umd/popper.min.js": (
        "js/popper.min.js"
    ),
    "https://stackpath.bootstrapcdn.com/bootstrap/4.3.1/js/bootstrap.min.js": (
        "js/bootstrap.min.js"
    ),
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.js": (
        "js/bootstrap-table.min.js"
    ),
    "https://unpkg.com/bootstrap-table@1.19.1/dist/extensions/filter-control/"
    "bootstrap-table-filter-control.min.js": "js/bootstrap-table-filter-control.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/js/"
    "bootstrap-datepicker.min.js": "js/bootstrap-datepicker.min.js",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.css": (
        "css/bootstrap-table.min.css"
    ),
    "https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css": (
        "css/bootstrap.min.css"
    ),
    # The 1.19.0 filter-control CSS is the same file as in 1.19.1's package.
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/"
    "bootstrap-table-filter-control.css": "css/bootstrap-table-filter-control.min.css",
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/"
    "bootstrap-table-filter-control.min.css": "css/bootstrap-table-filter-control.min.css",
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/css/"
    "bootstrap-datepicker.min.css": "css/bootstrap-datepicker.min.css",
    "https://cdn.jsdelivr.net/npm/@forevolve/bootstrap-dark@1.1.0/dist/css/"
    "bootstrap-prefers-dark.css": "css/bootstrap-prefers-dark.min.css",
}

# The logo GX loads from its cloud bucket (with ?d=<time>&dataContextId=<id>), and the
# bundled image that replaces it.
_REMOTE_LOGO = re.compile(r"https://great-expectations-web-assets\.s3[^\"')\s]*")
_LOCAL_LOGO = "static/images/logo-long.png"
# Subresource-integrity hashes name the CDN's bytes; the local copies are served as is.
_SRI = re.compile(r'\s+(integrity|crossorigin)="[^"]*"')
# Any remaining remote reference in an attribute or a CSS url().
_REMOTE_ATTR = re.compile(r'(\b(?:href|src)\s*=\s*)(["\'])(?:https?:)?//[^"\']*\2', re.IGNORECASE)
_REMOTE_URL = re.compile(r"url\(\s*(['\"]?)(?:https?:)?//[^)]*\)", re.IGNORECASE)
# GX computes some relative paths to the site's static folder one level short on
# validation pages (the favicon): point every static reference at the site root.
_STATIC = re.compile(r'((?:href|src)=")(?:\.\.?/)*(static/[^"]*")')
_CHECK = re.compile(
    r"""(?:\b(?:href|src)\s*=\s*["']?\s*(?:https?:)?//)|(?:url\(\s*["']?\s*(?:https?:)?//)""",
    re.IGNORECASE,
)


# GX's page footer: a newsletter sign-up form on every page, a click out of the
# environment; dropped whole.
_FOOTER = re.compile(r"<footer>.*?</footer>", re.DOTALL | re.IGNORECASE)


# The index's per-column filter controls (select lists and a date picker built from
# every row in the browser) more than double the time the index takes to render with a
# few hundred validations (measured in headless Chromium on a 27-year delivery); the
# search box and sorting stay.
_FILTER_CONTROL = re.compile(r",\s*'filterControl':\s*'[a-z]+'")


def _rewrite(text: str, prefix: str) -> str:
    text = _FOOTER.sub("", text)
    text = _FILTER_CONTROL.sub("", text).replace("filterControl: true", "filterControl: false")
    for remote, local in CDN_MAP.items():
        text = text.replace(remote, f"{prefix}{VENDOR}/{local}")
    text = _REMOTE_LOGO.sub(f"{prefix}{_LOCAL_LOGO}", text)
    text = _SRI.sub("", text)
    text = _STATIC.sub(lambda m: f"{m.group(1)}{prefix}{m.group(2)}", text)
    # Links to GX's website and docs: keep the text, drop the address.
    text = _REMOTE_ATTR.sub(lambda m: f"{m.group(1)}{m.group(2)}#{m.group(2)}", text)
    return _REMOTE_URL.sub("none", text)


def remote_references(site: str | os.PathLike[str]) -> list[tuple[str, str]]:
    """Every (file, snippet) in an HTML or CSS file of ``site`` naming a remote address
    in ``href``/``src`` or ``url()``; empty for an offline site."""
    root = Path(site)
    found = []
    for path in sorted(root.rglob("*")):
        if path.suffix.lower() not in (".html", ".htm", ".css") or not path.is_file():
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        for m in _CHECK.finditer(text):
            found.append((str(path.relative_to(root)), text[m.start() : m.start() + 80]))
    return found


def make_offline(site: str | os.PathLike[str]) -> None:
    """Vendor the assets into ``site`` and rewrite every page to use them.

    Raises :class:`IntegrityError` if a remote reference survives (a new GX template).
    """
    root = Path(site)
    target = root / VENDOR
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(ASSETS_DIR, target, ignore=shutil.ignore_patterns("README.md"))
    logo = root / _LOCAL_LOGO
    if not logo.exists():  # GX copies its static images; keep the page whole if not
        from great_expectations.render.view import view

        bundled = Path(view.__file__).parent / "static" / "images" / "logo-long.png"
        logo.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(bundled, logo)
    for path in root.rglob("*"):
        if path.suffix.lower() not in (".html", ".htm", ".css") or not path.is_file():
            continue
        if target in path.parents:
            continue
        depth = len(path.parent.relative_to(root).parts)
        prefix = "../" * depth
        text = path.read_text(encoding="utf-8")
        new = _rewrite(text, prefix)
        if new != text:
            path.write_text(new, encoding="utf-8")
    left = remote_references(root)
    if left:
        raise IntegrityError(
            f"{len(left)} remote reference(s) left in the Data Docs, first in {left[0][0]}",
            "Add the asset to quality/datadocs_assets and quality/datadocs.CDN_MAP",
        )
