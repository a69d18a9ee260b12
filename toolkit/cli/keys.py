"""``mikrodata keys``: the encrypted key store (init, rotate, status, rekey,
export-public).

The passphrase comes from ``MIKRODATA_KEYSTORE_PASSPHRASE`` or a hidden prompt. No
command prints a key: only project ids, versions, dates, public key ids and the
steward's public signing key. Every command that uses the key store's secrets writes a
signed audit event (``keystore_created``, ``key_rotated``, ``rekey_table_written``).
"""

from __future__ import annotations

import os
from pathlib import Path

import click

from mikrodata.pseudonymisation import PASSPHRASE_ENV, KeyStore
from mikrodata.toolkit.cli._output import console
from mikrodata.toolkit.errors import KeyStoreError
from mikrodata.toolkit.paths import keystore_path, trusted_keys_path

__all__ = ["keys", "keystore_option", "log_option", "open_keystore", "passphrase"]


def passphrase(confirm: bool = False) -> str:
    """The key store passphrase: from the environment, or asked for (hidden)."""
    value = os.environ.get(PASSPHRASE_ENV)
    if value is not None:
        return value
    try:
        return click.prompt(
            "Key store passphrase", hide_input=True, confirmation_prompt=confirm, err=True
        )
    except click.Abort:
        # No terminal (a script, a job) and nothing on stdin: say what to do instead
        # of click's bare "Aborted!".
        raise KeyStoreError(
            f"no key store passphrase: {PASSPHRASE_ENV} is not set and none was typed",
            f"run in a terminal, or set {PASSPHRASE_ENV} for scripts and jobs",
        ) from None


def open_keystore(path: Path | None) -> KeyStore:
    return KeyStore.open(path or keystore_path(), passphrase())


keystore_option = click.option(
    "--keystore",
    "keystore",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Key store file (default: $MIKRODATA_KEYSTORE or $MIKRODATA_HOME/keystore).",
)


log_option = click.option(
    "--log",
    "log",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Audit log (default: $MIKRODATA_AUDIT_LOG or $MIKRODATA_HOME/audit.jsonl).",
)


def _audit(log: Path | None):
    from mikrodata.access_requests import AuditLog

    return AuditLog(log)


def _trust_public_key(store: KeyStore) -> Path:
    """Install the store's public signing key in the local trust store (the steward's
    own machine trusts its own key); returns the file."""
    from mikrodata.toolkit.atomic import write_text_atomic

    public = store.public_key()
    folder = trusted_keys_path()
    target = folder / f"{public.key_id}.pub" if not folder.is_file() else folder
    if folder.is_file():  # a single file of keys: add the line once
        text = folder.read_text(encoding="utf-8")
        if public.to_text() not in text:
            write_text_atomic(folder, text + public.to_text())
        return folder
    write_text_atomic(target, public.to_text(), mode=0o644)
    return target


@click.group()
def keys() -> None:
    """The encrypted key store: init, rotate, status, rekey. No command prints a key."""


@keys.command()
@keystore_option
@click.option("--project", default=None, help="Also create version 1 of this project's key.")
@log_option
def init(keystore: Path | None, project: str | None, log: Path | None) -> None:
    """Create a new key store (scrypt + AES-256-GCM, mode 0600) with a fresh master
    secret and the steward's signing key. Never overwrites an existing one. Its public
    key is installed in the trust store ($MIKRODATA_TRUSTED_KEYS)."""
    path = keystore or keystore_path()
    store = KeyStore.create(path, passphrase(confirm=True))
    trusted = _trust_public_key(store)
    audit = _audit(log)
    audit.append(
        "keystore_created",
        project=None,
        details={"keystore": str(path.resolve()), "signing_key_id": store.public_key().key_id},
        signer=store,
    )
    click.echo(f"created key store {path} (mode 0600)")
    click.echo(f"signing key {store.public_key().key_id}, public key trusted in {trusted}")
    if project:
        version = store.rotate(project)
        key_id = store.project_key(project).key_id
        audit.append(
            "key_rotated",
            project=project,
            details={"version": version, "key_id": key_id},
            signer=store,
        )
        click.echo(f"project {project}: key version {version} ({key_id})")


@keys.command("export-public")
@keystore_option
@click.option(
    "--out",
    "out_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write it here (default: print it).",
)
def export_public(keystore: Path | None, out_path: Path | None) -> None:
    """The steward's public signing key, for researchers' environments: they check
    approvals, extracts and releases against it, offline."""
    from mikrodata.toolkit.atomic import write_text_atomic

    public = open_keystore(keystore).public_key()
    if out_path is None:
        click.echo(public.to_text(), nl=False)
        return
    write_text_atomic(out_path, public.to_text(), mode=0o644)
    click.echo(f"public key {public.key_id} written to {out_path}")


@keys.command()
@keystore_option
@click.option("--project", required=True, help="Project id, e.g. P2026-017.")
@log_option
def rotate(keystore: Path | None, project: str, log: Path | None) -> None:
    """Start a new key version for a project (version 1 for a new project). Pseudonyms
    made under the new version differ from the old ones; the steward can compute the
    re-keying table between them."""
    store = open_keystore(keystore)
    version = store.rotate(project)
    key = store.project_key(project, version)
    _audit(log).append(
        "key_rotated",
        project=project,
        details={"version": version, "key_id": key.key_id},
        signer=store,
    )
    click.echo(f"project {project}: key version {version} is now current (key id {key.key_id})")


@keys.command()
@keystore_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON, for scripts.")
def status(keystore: Path | None, as_json: bool) -> None:
    """List projects, their key versions and public key ids (never the keys)."""
    import json

    from rich.table import Table

    store = open_keystore(keystore)
    projects = store.projects()
    if as_json:
        doc = {
            "keystore": str(store.path),
            "signing_key_id": store.public_key().key_id,
            "projects": {
                project: [
                    dict(v, key_id=store.project_key(project, v["version"]).key_id)
                    for v in versions
                ]
                for project, versions in projects.items()
            },
        }
        click.echo(json.dumps(doc))
        return
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
@log_option
def rekey(
    keystore: Path | None,
    project: str,
    in_path: Path,
    column: str,
    domain: str,
    old: int,
    new: int,
    out_path: Path,
    log: Path | None,
) -> None:
    """Write the re-keying table (old pseudonym -> new pseudonym) for the identifiers in a
    steward-side file: lets existing extracts be moved to a new key version."""
    import pyarrow.parquet as pq

    from mikrodata.pseudonymisation import rekey_table
    from mikrodata.toolkit.atomic import atomic_file
    from mikrodata.toolkit.errors import BadInputError

    if old == new:
        raise BadInputError(
            f"--from and --to are both version {old}", "Give two different key versions"
        )
    import pyarrow as pa
    import pyarrow.compute as pc

    from mikrodata.quality.delivery import open_delivery

    if not in_path.is_file():
        raise BadInputError(f"no input file {in_path}", "check the path")
    # The one delivery reader: Parquet, CSV (any encoding, separator), SAS, Stata, SPSS.
    delivery = open_delivery(in_path)
    if column not in delivery.schema.names:
        raise BadInputError(f"column {column} is not in {in_path.name}", "check --column")
    values = pa.chunked_array(
        [pc.cast(b.column(column), pa.string()) for b in delivery.batches()], pa.string()
    )
    if delivery.rows_rejected:
        raise BadInputError(
            f"{in_path.name}: {delivery.rows_rejected} line(s) cannot be read",
            "fix the file (wrong number of fields) and run again",
        )
    store = open_keystore(keystore)
    table = rekey_table(store, project, values, old, new, domain=domain)
    with atomic_file(out_path, mode=0o600) as tmp:
        pq.write_table(table, tmp)
    rejected = table.schema.metadata[b"mikrodata.rejected_distinct"].decode()
    _audit(log).append(
        "rekey_table_written",
        project=project,
        details={
            "from_version": old,
            "to_version": new,
            "pairs": table.num_rows,
            "invalid_distinct": int(rejected),
            "input": in_path.name,
            "out": str(out_path.resolve()),
        },
        signer=store,
    )
    click.echo(f"wrote {table.num_rows} pairs to {out_path} ({rejected} distinct invalid skipped)")
