"""The ``mikrodata`` command line.

Each sub-command lives in its own module under ``mikrodata.toolkit.cli`` and is imported only
when it runs (or its help is shown), so ``mikrodata --help`` stays fast and a broken
optional part cannot break the others.

Errors: a :class:`~toolkit.errors.MikrodataError` is printed as one line on standard
error, ``error: <what went wrong>. <what to do>``, with no traceback, and the command
exits with the error's fixed code (see ``toolkit.errors``). Anything else is a bug and
keeps its traceback (exit code 1).
"""

from __future__ import annotations

import importlib
from typing import Any

import click

from mikrodata.toolkit import __version__
from mikrodata.toolkit.errors import MikrodataError

__all__ = ["cli", "main"]

# name -> (module in mikrodata.toolkit.cli, attribute, one-line help). Keep sorted by name.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "access": ("access", "access", "Access requests: new, validate, submit, approve, status."),
    "audit": ("audit", "audit", "Show and verify the hash-chained audit log."),
    "catalogue": ("catalogue", "catalogue", "Read the variable catalogue and build its docs."),
    "demo": ("demo", "demo", "Run the main job end to end on synthetic data."),
    "disclosure": ("disclosure", "disclosure", "Check tables against the disclosure rules."),
    "extract": ("extract", "extract", "Build, verify and mock project extracts."),
    "keys": ("keys", "keys", "The encrypted key store: init, rotate, status."),
    "lab": ("lab", "lab", "The secure JupyterLab: start it for a project, self-check it."),
    "pseudonymise": ("pseudonymise", "pseudonymise", "Replace identifiers with pseudonyms."),
    "quality": ("quality", "quality", "Expectation suites, missingness, variable history."),
    "release": ("release", "release", "Review output requests; sign and verify releases."),
    "synth": ("synth", "synth", "Generate synthetic registers; report their realism."),
}


def _version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value and not ctx.resilient_parsing:
        click.echo(f"mikrodata, version {__version__}")
        ctx.exit()


def with_version(command: click.Command) -> click.Command:
    """Give ``command`` and every sub-command a ``--version`` option (once)."""
    if not any(p.name == "version" for p in command.params):
        command.params.append(
            click.Option(
                ["--version"],
                is_flag=True,
                expose_value=False,
                is_eager=True,
                callback=_version,
                help="Show the version and exit.",
            )
        )
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            with_version(sub)
    return command


class LazyGroup(click.Group):
    """A group whose sub-commands are imported on first use."""

    def __init__(self, *args: Any, lazy: dict[str, tuple[str, str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._lazy = lazy

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(self._lazy))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self._lazy:
            module, attr, _ = self._lazy[cmd_name]
            command = getattr(importlib.import_module(f"mikrodata.toolkit.cli.{module}"), attr)
            return with_version(command)
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Show help from the table so listing commands imports none of them.
        rows = [(name, self._lazy[name][2]) for name in sorted(self._lazy)]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except MikrodataError as exc:
            click.echo(exc.one_line(), err=True)
            ctx.exit(exc.exit_code)


@click.group(
    cls=LazyGroup,
    lazy=COMMANDS,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(__version__, "--version", prog_name="mikrodata")
def cli() -> None:
    """mikrodata: pseudonymised, checked and audited research extracts from Swedish
    social-services registers.

    Exit codes: 0 ok, 1 unexpected error (a bug: please report it with the traceback),
    2 wrong usage, 10 mikrodata error, 11 bad input, 12 catalogue error, 13 access
    refused, 14 key store error, 15 quality failure, 16 integrity failure,
    17 disclosure failure.
    """


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``mikrodata`` command."""
    cli.main(args=argv, prog_name="mikrodata")
