"""The contents manager of a project server: everything is read-only but a few folders.

Through the server (the file browser, saving a notebook, renaming, deleting) a researcher
may change files only under the project's writable folders (``outputs/`` and
``notebooks/`` by default); the extract and everything else answer 403. This protects
the extract from a slip in the file browser. It is not the boundary against the kernel,
which runs the researcher's own code with the account's rights: there the extract is
read-only because its files are (``docs/lab.md``), and its checksums are verified on
every ``open_extract``.

Example (in a server configuration)::

    c.ServerApp.contents_manager_class = "mikrodata.toolkit.lab.contents.ProjectContentsManager"
    c.ProjectContentsManager.writable = ["outputs", "notebooks"]
"""

from __future__ import annotations

import fnmatch
from typing import Any

from jupyter_server.services.contents.largefilemanager import AsyncLargeFileManager
from tornado import web
from traitlets import List, Unicode

__all__ = ["ProjectContentsManager", "inside_writable"]


def inside_writable(path: str, writable: list[str]) -> bool:
    """Whether ``path`` lies strictly inside a folder matching one of ``writable``
    (patterns matched segment by segment: ``*/outputs`` is any project's outputs).

    >>> inside_writable("P1/outputs/t.csv", ["*/outputs"])
    True
    >>> inside_writable("P1/outputs", ["*/outputs"])
    False
    """
    parts = path.strip("/").split("/")
    for pattern in writable:
        want = pattern.strip("/").split("/")
        if len(parts) > len(want) and all(
            fnmatch.fnmatchcase(p, w) for p, w in zip(parts, want, strict=False)
        ):
            return True
    return False


class ProjectContentsManager(AsyncLargeFileManager):
    """Refuses saves, renames and deletions outside ``writable``."""

    writable = List(
        Unicode(),
        default_value=["outputs", "notebooks"],
        config=True,
        help="Folders (patterns, relative to the root) where files may be created and changed.",
    )

    def _check_writable(self, path: str) -> None:
        if not inside_writable(path, self.writable):
            raise web.HTTPError(
                403, f"read-only: files can be changed only in {', '.join(self.writable)}"
            )

    async def save(self, model: dict[str, Any], path: str = "") -> dict[str, Any]:
        self._check_writable(path)
        return await super().save(model, path)

    async def delete_file(self, path: str) -> None:
        self._check_writable(path)
        return await super().delete_file(path)

    async def rename_file(self, old_path: str, new_path: str) -> None:
        self._check_writable(old_path)
        self._check_writable(new_path)
        return await super().rename_file(old_path, new_path)
