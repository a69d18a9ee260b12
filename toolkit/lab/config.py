"""The hardened JupyterLab configuration, generated for one project.

:func:`server_config` is the ``jupyter_server_config.json`` of a researcher's server and
:func:`page_config` the ``labconfig/page_config.json`` beside it; :func:`write_config_dir`
writes both into a fresh folder that the server is then started with as its only user
configuration (``JUPYTER_CONFIG_DIR``). Each key says why it is there. The settings were
tried live against JupyterLab 4.6 and jupyter_server 2.21 (``tests/toolkit/test_lab.py``
holds every one of them).

Most of this is convenience, not a boundary: a logged-in user can still read a file's
contents through the contents API. The boundaries are the kernel's network namespace
(:mod:`mikrodata.toolkit.lab.kernels`), what the server's account may read, and the
release; ``docs/lab.md`` lists each.

Example::

    >>> cfg = server_config(Path("/srv/project"))
    >>> cfg["ServerApp"]["ip"]
    '127.0.0.1'
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

__all__ = [
    "DISABLED_PLUGINS",
    "PROJECT_LAYOUT",
    "page_config",
    "server_config",
    "write_config_dir",
]

# JupyterLab front-end plugins switched off in the page: downloading, exporting, printing
# and opening a file in a browser tab (which goes around the notebook into /files); the
# workspace export (a download of the layout); opening a URL (the browser fetching an
# address outside); news, help links to outside pages, the extension manager, terminals.
# None of this is a boundary (docs/lab.md): it keeps the page honest about what it offers.
DISABLED_PLUGINS: tuple[str, ...] = (
    "@jupyterlab/docmanager-extension:download",
    "@jupyterlab/filebrowser-extension:download",
    "@jupyterlab/filebrowser-extension:open-browser-tab",
    "@jupyterlab/filebrowser-extension:open-url",
    "@jupyterlab/notebook-extension:export",
    "@jupyterlab/apputils-extension:print",
    "@jupyterlab/workspaces-extension:commands",
    "@jupyterlab/workspaces-extension:menu",
    "@jupyterlab/apputils-extension:announcements",
    "@jupyterlab/help-extension:resources",
    "@jupyterlab/help-extension:jupyter-forum",
    "@jupyterlab/extensionmanager-extension:plugin",
    "@jupyterlab/terminal-extension:plugin",
)

# Where things are inside a project folder: the extract (read-only to the server),
# outputs (where tables and figures are written before an output request) and notebooks.
PROJECT_LAYOUT: dict[str, str] = {
    "extract": "extract",
    "outputs": "outputs",
    "notebooks": "notebooks",
}


def server_config(
    root: Path,
    *,
    writable: tuple[str, ...] = ("outputs", "notebooks"),
    isolation: str | None = None,
) -> dict[str, Any]:
    """The server configuration for a project folder ``root``.

    ``writable`` are the folders (relative to ``root``) the server may save into; every
    other path, the extract among them, is read-only through the server. ``isolation``
    forces a kernel isolation mechanism (see :func:`~.kernels.detect_isolation`).
    """
    root = Path(root).resolve()
    server: dict[str, Any] = {
        # Only this machine can connect; a hub proxy or an SSH tunnel brings the user.
        "ip": "127.0.0.1",
        "allow_remote_access": False,
        "open_browser": False,
        "root_dir": str(root),
        "preferred_dir": str(root),
        # A terminal is a shell outside the kernel's network namespace.
        "terminals_enabled": False,
        "jpserver_extensions": {
            "jupyter_server_terminals": False,
            # Language servers are processes outside the kernel's namespace too.
            "jupyter_lsp": False,
            "mikrodata.toolkit.lab.extension": True,
        },
        "contents_manager_class": "mikrodata.toolkit.lab.contents.ProjectContentsManager",
        # No cross-origin pages may drive the API.
        "allow_origin": "",
        "disable_check_xsrf": False,
    }
    if os.geteuid() == 0:
        # Tests and CI run as root; production runs one unprivileged account per researcher.
        server["allow_root"] = True
    return {
        "ServerApp": server,
        # A token is the only way in; it comes from $JUPYTER_TOKEN (never the command line,
        # where `ps` shows it), and no password can be set from the page.
        "PasswordIdentityProvider": {"allow_password_change": False},
        "ContentsManager": {
            # /files/<path> would hand any file to the browser: refuse it outright.
            "files_handler_class": "tornado.web.ErrorHandler",
            "files_handler_params": {"status_code": 403},
            "allow_hidden": False,
        },
        "ProjectContentsManager": {"writable": list(writable)},
        "FileContentsManager": {"delete_to_trash": False, "always_delete_dir": False},
        # Each kernel in a network namespace of its own (mikrodata.toolkit.lab.kernels).
        "AsyncMappingKernelManager": {
            "kernel_manager_class": "mikrodata.toolkit.lab.kernels.IsolatedKernelManager"
        },
        "IsolatedKernelManager": {"isolation": isolation or "auto"},
        "LabApp": {
            "news_url": None,
            "check_for_updates_class": "jupyterlab.NeverCheckForUpdate",
            "extension_manager": "readonly",
            "lock_all_plugins": True,
        },
        "LabServerApp": {"open_browser": False},
    }


def page_config() -> dict[str, Any]:
    """The ``labconfig/page_config.json``: the disabled plugins, and no CDN address.

    jupyterlab_server puts MathJax 2 on a CDN into every page as ``fullMathjaxUrl`` unless
    the page config already has one; JupyterLab 4 typesets with its bundled MathJax 3 and
    never reads it, so it is emptied rather than left pointing outside."""
    return {"disabledExtensions": {name: True for name in DISABLED_PLUGINS}, "fullMathjaxUrl": ""}


def write_config_dir(dest: Path, root: Path, **kwargs: Any) -> Path:
    """Write the server and page configuration for ``root`` into ``dest`` (a new folder,
    readable only by its owner) and return ``dest``."""
    dest = Path(dest)
    (dest / "labconfig").mkdir(parents=True, exist_ok=True)
    os.chmod(dest, 0o700)
    (dest / "jupyter_server_config.json").write_text(
        json.dumps(server_config(root, **kwargs), indent=2), encoding="utf-8"
    )
    (dest / "labconfig" / "page_config.json").write_text(
        json.dumps(page_config(), indent=2), encoding="utf-8"
    )
    return dest
