"""The command line: help everywhere, version, one-line errors with fixed exit codes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import click
import pytest

from mikrodata.toolkit import __version__
from mikrodata.toolkit.cli import COMMANDS, cli
from mikrodata.toolkit.errors import MikrodataError


def _all_commands(group: click.Group, ctx: click.Context, prefix=()):
    for name in group.list_commands(ctx):
        cmd = group.get_command(ctx, name)
        yield prefix + (name,), cmd
        if isinstance(cmd, click.Group):
            yield from _all_commands(cmd, ctx, prefix + (name,))


def test_version(run_cli):
    result = run_cli("--version")
    assert result.exit_code == 0
    assert __version__ in result.output


def test_top_level_help_lists_every_command_without_importing_them(run_cli):
    result = run_cli("--help")
    assert result.exit_code == 0
    for name in COMMANDS:
        assert name in result.output


def test_every_command_at_every_level_has_version(run_cli):
    ctx = click.Context(cli)
    for path, _ in _all_commands(cli, ctx):
        result = run_cli(*path, "--version")
        assert result.exit_code == 0, (path, result.output)
        assert __version__ in result.output, path


# What a command that touches no data must not load: each costs a noticeable part of a
# second to import (rfc3987_syntax, pulled in by jsonschema's format checkers, about four).
HEAVY = {
    "duckdb",
    "great_expectations",
    "jsonschema",
    "numpy",
    "pandas",
    "polars",
    "pyarrow",
    "pyspark",
    "rfc3987_syntax",
    "scipy",
}

_PROBE = """
import json, resource, sys
from mikrodata.toolkit.cli import main
try:
    main(sys.argv[2:])
except SystemExit as exc:
    code = exc.code or 0
use = resource.getrusage(resource.RUSAGE_SELF)
loaded = sorted({m.split(".")[0] for m, mod in sys.modules.items() if mod is not None})
with open(sys.argv[1], "w") as f:
    json.dump({"code": code, "cpu": use.ru_utime + use.ru_stime, "modules": loaded}, f)
"""


def _probe(tmp_path, *args):
    """Run ``mikrodata ARGS`` in a fresh interpreter; its exit code, CPU seconds (not
    wall time: a loaded machine makes that flaky) and the top-level modules it loaded."""
    import json

    out = tmp_path / "probe.json"
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, str(out), *args],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
        env={**os.environ, "MIKRODATA_HOME": str(tmp_path / "home")},
    )
    assert done.returncode == 0, done.stderr
    return json.loads(out.read_text())


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["access", "--help"],
        ["access", "list", "--json"],
        ["access", "status", "access_requests/examples/example_project.yaml", "--json"],
        ["access", "validate", "access_requests/examples/example_project.yaml"],
        ["keys", "--help"],
        ["audit", "--help"],
    ],
)
def test_commands_that_touch_no_data_load_no_data_library(tmp_path, args):
    got = _probe(tmp_path, *args)
    assert got["code"] == 0, (args, got)
    # Validating a request checks it against its JSON Schema; nothing else needs one.
    allowed = {"jsonschema"} if args[:2] == ["access", "validate"] else set()
    assert not (HEAVY - allowed) & set(got["modules"]), (args, sorted(HEAVY & set(got["modules"])))
    # About 0.2-0.7 s of CPU here; a data library or the format checkers add seconds.
    assert got["cpu"] < 2.0, (args, got["cpu"])


def test_rekey_from_and_to_the_same_version_is_refused(run_cli, tmp_path):
    (tmp_path / "ids.csv").write_text("personnummer\n")
    result = run_cli(
        "keys",
        "rekey",
        "--project",
        "P1",
        "--in",
        str(tmp_path / "ids.csv"),
        "--column",
        "personnummer",
        "--from",
        "1",
        "--to",
        "1",
        "--out",
        str(tmp_path / "pairs.parquet"),
    )
    assert result.exit_code == 11 and "both version 1" in result.output


@pytest.mark.parametrize("years", ["2090-2091", "1900-1901", "1985-1995"])
def test_synthetic_years_outside_the_catalogue_are_refused(run_cli, tmp_path, years):
    result = run_cli("synth", "--years", years, "--persons", "10", "--out", str(tmp_path / "s"))
    assert result.exit_code == 11 and "outside the catalogue" in result.output
    assert not (tmp_path / "s").exists()


def test_every_sub_command_has_help(run_cli):
    ctx = click.Context(cli)
    paths = list(_all_commands(cli, ctx))
    assert len(paths) >= len(COMMANDS)
    for path, _ in paths:
        result = run_cli(*path, "--help")
        assert result.exit_code == 0, (path, result.output)
        assert "Usage:" in result.output


def test_catalogue_commands(run_cli, tmp_path):
    listing = run_cli("catalogue", "list")
    assert listing.exit_code == 0 and "ekonomiskt_bistand" in listing.output
    show = run_cli("catalogue", "show", "ekonomiskt_bistand", "--year", "2016")
    assert show.exit_code == 0 and "flykting" in show.output
    show17 = run_cli("catalogue", "show", "ekonomiskt_bistand", "--year", "2017")
    assert "flykting" not in show17.output and "avslutsorsak" in show17.output
    history = run_cli("catalogue", "history", "ekonomiskt_bistand")
    assert history.exit_code == 0 and "2017" in history.output


@pytest.mark.parametrize(
    "args,code",
    [
        (("catalogue", "show", "nope"), 12),
        (("catalogue", "history", "nope"), 12),
        (("catalogue", "show"), 2),
        (("no-such-command",), 2),
    ],
)
def test_exit_codes(run_cli, args, code):
    result = run_cli(*args)
    assert result.exit_code == code, result.output


def test_user_errors_are_one_line_without_traceback():
    proc = subprocess.run(
        [sys.executable, "-m", "mikrodata.toolkit.cli", "catalogue", "show", "nope"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 12
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: no register 'nope' in the catalogue. Use one of:")
    assert "Traceback" not in proc.stderr


def test_unexpected_errors_keep_their_traceback(monkeypatch):
    @cli.command("boom", hidden=True)
    def boom():
        raise RuntimeError("a bug")

    try:
        from click.testing import CliRunner

        result = CliRunner().invoke(cli, ["boom"])
        assert result.exit_code == 1
        assert isinstance(result.exception, RuntimeError)
    finally:
        cli.commands.pop("boom")


@pytest.mark.parametrize("exc_class", MikrodataError.__subclasses__() + [MikrodataError])
def test_every_error_class_exits_with_its_own_code(exc_class):
    @cli.command("fail", hidden=True)
    def fail():
        raise exc_class("it went wrong", "Do this instead")

    try:
        from click.testing import CliRunner

        result = CliRunner().invoke(cli, ["fail"])
        assert result.exit_code == exc_class.exit_code
        assert "error: it went wrong. Do this instead" in result.output
    finally:
        cli.commands.pop("fail")


def test_exit_codes_are_distinct():
    from mikrodata.toolkit import errors

    classes = [getattr(errors, n) for n in errors.__all__ if isinstance(getattr(errors, n), type)]
    codes = [c.exit_code for c in classes]
    assert len(codes) == len(set(codes))
