"""Progress for long jobs, shown on standard error with rich.

Progress lines carry counts and names only, never row values. The bar is hidden when
standard error is not a terminal (tests, CI logs) unless ``MIKRODATA_PROGRESS=1``.

This module imports nothing of ours, so every layer may import it.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

__all__ = ["Task", "progress"]


class Task:
    """A handle on one progress bar: call :meth:`advance` as work is done."""

    def __init__(self, bar: Progress | None, task_id: int | None) -> None:
        self._bar = bar
        self._task_id = task_id

    def advance(self, amount: float = 1) -> None:
        if self._bar is not None and self._task_id is not None:
            self._bar.advance(self._task_id, amount)

    def update(self, *, total: float | None = None, description: str | None = None) -> None:
        if self._bar is not None and self._task_id is not None:
            self._bar.update(self._task_id, total=total, description=description)


def _enabled() -> bool:
    setting = os.environ.get("MIKRODATA_PROGRESS")
    if setting is not None:
        return setting not in ("0", "", "false", "no")
    return sys.stderr.isatty()


@contextlib.contextmanager
def progress(description: str, total: float | None = None) -> Iterator[Task]:
    """Show a progress bar for one job; yields a :class:`Task`."""
    if not _enabled():
        yield Task(None, None)
        return
    bar = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=False,
    )
    with bar:
        task_id = bar.add_task(description, total=total)
        yield Task(bar, task_id)
