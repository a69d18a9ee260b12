"""One option name for one thing: every option of every sub-command that names a concept
of the table below uses the table's name for it, the name means nothing else, and an old
spelling survives only as a hidden, deprecated alias (toolkit/cli/aliases.py)."""

from __future__ import annotations

import click
import pytest

from mikrodata.toolkit.cli import cli
from mikrodata.toolkit.cli.aliases import DEPRECATED

# concept: (the one option name, the parameter names commands give it)
CONCEPTS: dict[str, tuple[str, set[str]]] = {
    "the data a command reads: a file or a delivery": ("--in", {"in_path", "data"}),
    "the directory of delivered registers": ("--registers", {"registers_dir", "registers"}),
    "a register's catalogue name": ("--register", {"register"}),
    "an access request file": ("--request", {"request"}),
    # its id; `release` also resolves it to its request, `lab start` takes its folder
    "the project": ("--project", {"project"}),
    "what a command writes": ("--out", {"out", "out_path", "releases"}),
    "the key store": ("--keystore", {"keystore"}),
    "the audit log": ("--log", {"log"}),
    "who does it (tests and the demo)": ("--user", {"user"}),
    "JSON for scripts": ("--json", {"as_json"}),
    "the random seed": ("--seed", {"seed"}),
    "a statistical year": ("--year", {"year"}),
}
NAME_OF = {name: concept for concept, (name, _) in CONCEPTS.items()}
# Spellings no command may show (the name to use instead).
SYNONYMS = {
    "--data": "--in",
    "--input": "--in",
    "--file": "--in",
    "--register-dir": "--registers",
    "--registers-dir": "--registers",
    "--output": "--out",
    "--key-store": "--keystore",
    "--audit-log": "--log",
    "--request-file": "--request",
}
# (command, option name) whose parameter is named for another concept on purpose.
EXCEPTIONS = {
    # `release --project P` resolves the project id to its request file.
    ("release approve", "--project"),
    ("release list", "--project"),
    ("release reject", "--project"),
    ("release show", "--project"),
}


def _options():
    """(command path, option) for every option of every command, --help and --version
    aside."""
    ctx = click.Context(cli)

    def walk(command, path):
        for param in command.params:
            if isinstance(param, click.Option) and param.name not in ("help", "version"):
                yield " ".join(path), param
        if isinstance(command, click.Group):
            for name in command.list_commands(ctx):
                yield from walk(command.get_command(ctx, name), [*path, name])

    return list(walk(cli, []))


def _long(option: click.Option) -> list[str]:
    return [o for o in option.opts + option.secondary_opts if o.startswith("--")]


def test_the_walk_sees_every_command():
    commands = {path for path, _ in _options()}
    assert {"quality run", "extract build", "pseudonymise", "keys rekey", "access list"} <= commands
    assert len(commands) >= 35


def test_each_concept_has_one_option_name():
    wrong = []
    for path, option in _options():
        if option.hidden:
            continue
        names = _long(option)
        if any((path, n) in EXCEPTIONS for n in names):
            continue
        for concept, (name, dests) in CONCEPTS.items():
            # a parameter of this concept is called by the concept's name
            if option.name in dests and name not in names:
                wrong.append((path, names, f"is {concept}: say {name}"))
        for long in names:
            if long in NAME_OF and option.name not in CONCEPTS[NAME_OF[long]][1]:
                wrong.append((path, long, f"means {option.name!r}, not {NAME_OF[long]}"))
            if long in SYNONYMS:
                wrong.append((path, long, f"say {SYNONYMS[long]}"))
    assert not wrong, wrong


def test_old_spellings_are_hidden_and_point_to_the_one_name():
    by_command: dict[str, list[click.Option]] = {}
    for path, option in _options():
        by_command.setdefault(path, []).append(option)
    seen = set()
    for path, options in by_command.items():
        visible = {o for option in options if not option.hidden for o in _long(option)}
        for option in options:
            if not option.hidden:
                continue
            (old,) = _long(option)
            assert old in DEPRECATED, (path, old)
            assert DEPRECATED[old] in visible, (path, old, DEPRECATED[old])
            seen.add(old)
    assert seen == set(DEPRECATED)


@pytest.mark.parametrize("command", ["run", "missingness", "history"])
def test_quality_data_still_works_with_a_warning(run_cli, tmp_path, command):
    missing = tmp_path / "no-such-delivery"
    new = run_cli(
        "quality",
        command,
        "-r",
        "ekonomiskt_bistand",
        "--in",
        str(missing),
        "--out",
        str(tmp_path / "o"),
    )
    old = run_cli(
        "quality",
        command,
        "-r",
        "ekonomiskt_bistand",
        "--data",
        str(missing),
        "--out",
        str(tmp_path / "o"),
    )
    assert new.exit_code == old.exit_code == 2  # the path is checked under either name
    assert "does not exist" in old.output
    help_text = run_cli("quality", command, "--help").output
    assert "--in" in help_text and "--data" not in help_text
    both = run_cli("quality", command, "-r", "x", "--data", ".", "--in", ".", "--out", "o")
    assert both.exit_code == 2 and "give --in only" in both.output
    none = run_cli("quality", command, "-r", "x", "--out", "o")
    assert none.exit_code == 2 and "Missing option '--in'" in none.output


def test_the_deprecated_spelling_says_so(run_cli, tmp_path):
    (tmp_path / "d").mkdir()
    said = run_cli(
        "quality",
        "history",
        "-r",
        "no_such_register",
        "--data",
        str(tmp_path / "d"),
        "--out",
        str(tmp_path / "o"),
    )
    assert "--data is deprecated; use --in" in said.output
