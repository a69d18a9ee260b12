"""One option name for one thing, in every sub-command, and the old spellings kept.

The names (README, "What each role runs"): ``--in`` is the data a command reads (a file or a
delivery), ``--registers`` the directory of delivered registers, ``--register`` a
register's catalogue name, ``--request`` an access request file, ``--out`` what a command
writes, ``--keystore``, ``--log``, ``--user``, ``--json``. ``tests/toolkit/test_cli_names.py``
walks every command and holds the table.

An old spelling that documented usage relied on stays as a hidden alias
(:func:`deprecated_alias`): it still works, says once on standard error that it is
deprecated, and is not shown in ``--help``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import click

__all__ = ["DEPRECATED", "RequiredByAlias", "deprecated_alias"]

# old spelling -> the one name now
DEPRECATED: dict[str, str] = {"--data": "--in"}


class RequiredByAlias(click.Option):
    """An option that is required, given by its name or its deprecated alias: click
    must not demand it (the alias may stand in), its help still says required."""

    def get_help_extra(self, ctx: click.Context) -> Any:
        extra = super().get_help_extra(ctx)
        extra["required"] = "required"
        return extra


def deprecated_alias(
    old: str, new: str, dest: str, *, type: Any = None, required: bool = True
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Accept ``old`` as a hidden alias of the option ``new`` (whose parameter is
    ``dest``; declare ``new`` itself with ``cls=RequiredByAlias`` and no ``required``:
    this checks it is given, by either name, when ``required``)."""
    if DEPRECATED.get(old) != new:
        raise RuntimeError(f"{old} is not a deprecated spelling of {new}")  # a bug
    hidden = f"{dest}__{old.lstrip('-').replace('-', '_')}"

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        @click.option(old, hidden, hidden=True, type=type, default=None)
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            value = kwargs.pop(hidden)
            if value is not None:
                if kwargs.get(dest) is not None:
                    raise click.UsageError(f"{old} is the old name of {new}: give {new} only")
                click.echo(f"warning: {old} is deprecated; use {new}", err=True)
                kwargs[dest] = value
            if required and kwargs.get(dest) is None:
                raise click.UsageError(f"Missing option '{new}'.")
            return func(*args, **kwargs)

        return wrapper

    return decorate
