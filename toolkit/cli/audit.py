"""``mikrodata audit``: show and verify the hash-chained audit log."""

from __future__ import annotations

from pathlib import Path

import click

from mikrodata.access_requests import AuditLog, canonical_json

__all__ = ["audit"]

_log_opt = click.option(
    "--log",
    "log",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Audit log (default: $MIKRODATA_AUDIT_LOG or $MIKRODATA_HOME/audit.jsonl).",
)


@click.group()
def audit() -> None:
    """The audit log: every request change, extract build, verification, load and release,
    chained by hash."""


@audit.command()
@_log_opt
@click.option(
    "--with-keystore",
    is_flag=True,
    help="Also open the key store (passphrase) and check the log reaches the last "
    "checkpoint it saw: finds a log rolled back to an older, consistently signed copy.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def verify(log: Path | None, with_keystore: bool, as_json: bool) -> None:
    """Check every event's hash, the chain, every steward signature, the anchor and the
    signed checkpoint; say where it breaks."""
    import dataclasses
    import json

    keystore = None
    if with_keystore:
        from mikrodata.toolkit.cli.keys import open_keystore

        keystore = open_keystore(None)
    report = AuditLog(log).verify(keystore=keystore)
    if as_json:
        click.echo(json.dumps(dataclasses.asdict(report)))
        return
    click.echo(
        f"audit log ok: {report.events} events ({report.signed_events} signed), head "
        f"{report.head_seq} ({report.head_hash[:16]}...), anchored at {report.anchored_seq}, "
        f"signed checkpoint at {report.checkpoint_seq}"
    )


@audit.command()
@click.option("--project", help="Only this project's events.")
@click.option("--json", "as_json", is_flag=True, help="One JSON event per line.")
@_log_opt
def show(project: str | None, as_json: bool, log: Path | None) -> None:
    """List the events (of one project), oldest first."""
    events = AuditLog(log).events(project)
    for e in events:
        if as_json:
            click.echo(canonical_json(e))
            continue
        details = ", ".join(f"{k}={_short(v)}" for k, v in sorted(e.get("details", {}).items()))
        who = e["user"] + ("*" if e.get("identity") == "declared" else "")
        signed = "S" if "signature" in e else " "
        click.echo(
            f"{e['seq']:>6} {signed} {e['time'][:19]}  {who:<15} {e['project'] or '-':<12} "
            f"{e['action']:<20} {details}"
        )
    if not events:
        click.echo("no events" + (f" for project {project}" if project else ""))
    elif not as_json:
        click.echo("(S: signed with the steward's key; *: a declared identity, tests and demo)")


def _short(value: object) -> str:
    """A detail as one short word: hashes cut, documents (a signed approval) named."""
    if isinstance(value, str) and len(value) == 64:
        return value[:12] + "..."
    if isinstance(value, dict):
        return "<signed approval>" if "signature" in value else "{...}"
    if isinstance(value, list):
        return f"[{len(value)}]"
    return str(value)
