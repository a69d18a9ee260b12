"""Terminal output for the command line (tables via rich)."""

from __future__ import annotations

import sys

from rich.console import Console

__all__ = ["console"]


def console() -> Console:
    """A console for standard output. When the output is not a terminal (a pipe, a file,
    a test) rich would wrap at 80 columns and cut names; use a wide page instead."""
    if sys.stdout.isatty():
        return Console()
    return Console(width=200, soft_wrap=False)
