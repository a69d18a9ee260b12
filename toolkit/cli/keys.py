"""``mikrodata keys``: the encrypted key store (init, rotate, status).

The passphrase comes from ``MIKRODATA_KEYSTORE_PASSPHRASE`` or a hidden prompt. No
command prints a key: only project ids, versions, dates and public key ids.
"""

from __future__ import annotations

import os
from pathlib import Path

import click

from pseudonymisation import PASSPHRASE_ENV, KeyStore
from toolkit.cli._output import console
from toolkit.paths import keystore_path

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
    """The encrypted key store: init, rotate, status. No command prints a key."""


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
