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
def verify(log: Path | None) -> None:
    """Check every event's hash, the chain and the anchor; say where it breaks."""
    report = AuditLog(log).verify()
    click.echo(
        f"audit log ok: {report.events} events, head {report.head_seq} "
        f"({report.head_hash[:16]}...), anchored at {report.anchored_seq}"
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
        details = ", ".join(
            f"{k}={v[:12] + '...' if isinstance(v, str) and len(v) == 64 else v}"
            for k, v in sorted(e.get("details", {}).items())
        )
        click.echo(
            f"{e['seq']:>6}  {e['time'][:19]}  {e['user']:<14} {e['project'] or '-':<12} "
            f"{e['action']:<20} {details}"
        )
    if not events:
        click.echo("no events" + (f" for project {project}" if project else ""))
