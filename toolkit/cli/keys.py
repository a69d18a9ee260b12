"""``mikrodata keys``: the encrypted key store (init, rotate, status, rekey).

The passphrase comes from ``MIKRODATA_KEYSTORE_PASSPHRASE`` or a hidden prompt. No
command prints a key: only project ids, versions, dates and public key ids.
"""

from __future__ import annotations

import os
from pathlib import Path

import click
from mikrodata.pseudonymisation import PASSPHRASE_ENV, KeyStore
from mikrodata.toolkit.cli._output import console
from mikrodata.toolkit.paths import keystore_path

__all__ = ["keys", "keystore_option", "open_keystore", "passphrase"]


def passphrase(confirm: bool = False) -> str:
    """The key store passphrase: from the environment, or asked for (hidden)."""
    value = os.environ.get(PASSPHRASE_ENV)
    if value is not None:
        return value
    return click.prompt(
        "Key store passphrase", hide_input=True, confirmation_prompt=confirm, err=True
    )


def open_keystore(path: Path | None) -> KeyStore:
    return KeyStore.open(path or keystore_path(), passphrase())


keystore_option = click.option(
    "--keystore",
    "keystore",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Key store file (default: $MIKRODATA_KEYSTORE or $MIKRODATA_HOME/keystore).",
)


@click.group()
def keys() -> None:
    """The encrypted key store: init, rotate, status, rekey. No command prints a key."""


@keys.command()
@keystore_option
@click.option("--project", default=None, help="Also create version 1 of this project's key.")
def init(keystore: Path | None, project: str | None) -> None:
    """Create a new key store (scrypt + AES-256-GCM, mode 0600) with a fresh master
    secret. Never overwrites an existing one."""
    path = keystore or keystore_path()
    store = KeyStore.create(path, passphrase(confirm=True))
    click.echo(f"created key store {path} (mode 0600)")
    if project:
        version = store.rotate(project)
        click.echo(
            f"project {project}: key version {version} ({store.project_key(project).key_id})"
        )


@keys.command()
@keystore_option
@click.option("--project", required=True, help="Project id, e.g. P2026-017.")
def rotate(keystore: Path | None, project: str) -> None:
    """Start a new key version for a project (version 1 for a new project). Pseudonyms
    made under the new version differ from the old ones; the steward can compute the
    re-keying table between them."""
    store = open_keystore(keystore)
    version = store.rotate(project)
    key = store.project_key(project, version)
    click.echo(f"project {project}: key version {version} is now current (key id {key.key_id})")


@keys.command()
@keystore_option
def status(keystore: Path | None) -> None:
    """List projects, their key versions and public key ids (never the keys)."""
    from rich.table import Table

    store = open_keystore(keystore)
    projects = store.projects()
    click.echo(f"key store {store.path}: {len(projects)} project(s)")
    if not projects:
        return
    table = Table("project", "version", "created", "key id", "current")
    for project, versions in projects.items():
        latest = max(v["version"] for v in versions)
        for v in versions:
            key_id = store.project_key(project, v["version"]).key_id
            table.add_row(
                project,
                str(v["version"]),
                v["created"],
                key_id,
                "yes" if v["version"] == latest else "",
            )
    console().print(table)


@keys.command()
@keystore_option
@click.option("--project", required=True, help="Project id.")
@click.option(
    "--in",
    "in_path",
    required=True,
    type=click.Path(path_type=Path),
    help="A steward-side file with the raw identifiers (.parquet or .csv).",
)
@click.option("--column", required=True, help="The identifier column.")
@click.option("--domain", default="person", show_default=True, help="Its domain.")
@click.option("--from", "old", type=int, required=True, help="Old key version.")
@click.option("--to", "new", type=int, required=True, help="New key version.")
@click.option(
    "--out",
    "out_path",
    required=True,
    type=click.Path(path_type=Path),
    help="Where to write the table old_pseudonym -> new_pseudonym (.parquet).",
)
def rekey(
    keystore: Path | None,
    project: str,
    in_path: Path,
    column: str,
    domain: str,
    old: int,
    new: int,
    out_path: Path,
) -> None:
    """Write the re-keying table (old pseudonym -> new pseudonym) for the identifiers in a
    steward-side file: lets existing extracts be moved to a new key version."""
    import pyarrow.parquet as pq
    from mikrodata.pseudonymisation import input_columns, rekey_table
    from mikrodata.toolkit.atomic import atomic_file
    from mikrodata.toolkit.errors import BadInputError

    if column not in input_columns(in_path):
        raise BadInputError(f"column {column} is not in {in_path.name}", "check --column")
    if in_path.suffix.lower() in (".parquet", ".pq"):
        values = pq.read_table(in_path, columns=[column]).column(column)
    else:
        import pyarrow as pa
        import pyarrow.csv as pacsv
        from mikrodata.pseudonymisation import detect_encoding

        enc = detect_encoding(in_path)
        names = input_columns(in_path)
        values = pacsv.read_csv(
            in_path,
            read_options=pacsv.ReadOptions(encoding="utf8" if enc == "utf-8" else enc),
            parse_options=pacsv.ParseOptions(delimiter=_delimiter(in_path, enc)),
            convert_options=pacsv.ConvertOptions(
                column_types={n: pa.string() for n in names}, include_columns=[column]
            ),
        ).column(column)
    store = open_keystore(keystore)
    table = rekey_table(store, project, values, old, new, domain=domain)
    with atomic_file(out_path, mode=0o600) as tmp:
        pq.write_table(table, tmp)
    rejected = table.schema.metadata[b"mikrodata.rejected_distinct"].decode()
    click.echo(f"wrote {table.num_rows} pairs to {out_path} ({rejected} distinct invalid skipped)")


def _delimiter(path: Path, encoding: str) -> str:
    with open(path, "rb") as handle:
        first = handle.readline(1 << 20).decode(encoding, errors="replace")
    return max((";", ",", "\t", "|"), key=first.count)
