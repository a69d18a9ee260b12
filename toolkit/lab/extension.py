"""A small server extension that removes the routes JupyterLab settings cannot close.

jupyter_server serves ``/nbconvert/<format>/<notebook>?download=true``: a notebook
rendered (outputs included) as an HTML, PDF or script file, for download, whatever the
page hides. ``/view/<file>`` wraps ``/files/`` in a page. No setting switches these off,
so this extension takes their routes out of the server's router when it loads: they then
answer 404 like any unknown address. ``/api/nbconvert`` (the list of export formats the
export menu reads) goes too.

Enabled by ``ServerApp.jpserver_extensions = {"mikrodata.toolkit.lab.extension": True}``
(see :mod:`mikrodata.toolkit.lab.config`).

What stays (and cannot be removed without breaking the notebook): the contents API,
``/api/contents/<file>?content=1``, which gives a logged-in user the contents of any
file the server may read. That is why the boundary is what the server may read.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["REMOVED_ROUTES", "remove_routes"]

# Route patterns (regular expressions as jupyter_server registers them) to take out.
REMOVED_ROUTES = re.compile(r"/(api/)?nbconvert\b|/view\b")


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    return [{"module": "mikrodata.toolkit.lab.extension"}]


def remove_routes(web_app: Any, pattern: re.Pattern[str] = REMOVED_ROUTES) -> list[str]:
    """Remove every route of the tornado application ``web_app`` whose path pattern
    matches ``pattern``; return the patterns removed."""
    removed = []
    router = web_app.wildcard_router
    kept = []
    for rule in router.rules:
        regex = getattr(rule.matcher, "regex", None)
        if regex is not None and pattern.search(regex.pattern):
            removed.append(regex.pattern)
        else:
            kept.append(rule)
    router.rules = kept
    for name in [n for n, r in router.named_rules.items() if r not in kept]:
        del router.named_rules[name]
    return removed


def _load_jupyter_server_extension(serverapp: Any) -> None:
    removed = remove_routes(serverapp.web_app)
    serverapp.log.info("mikrodata: removed %d download routes: %s", len(removed), removed)
