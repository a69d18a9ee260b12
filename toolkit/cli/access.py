"""``mikrodata access``: write, check and move access requests through their life cycle."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click
from mikrodata.access_requests import (
    TRANSITIONS,
    AuditLog,
    create_request,
    load_request,
    read_state,
    transition,
)
from mikrodata.toolkit.errors import MikrodataError
from mikrodata.toolkit.paths import current_user

__all__ = ["access"]

_request_arg = click.argument("request", type=click.Path(dir_okay=False, path_type=Path))
_user_opt = click.option("--user", help="Who does this (default: $MIKRODATA_USER or login).")
_log_opt = click.option(
    "--log",
    "log",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Audit log (default: $MIKRODATA_AUDIT_LOG or $MIKRODATA_HOME/audit.jsonl).",
)


def _move(request: Path, to: str, user: str | None, log: Path | None, note: str | None) -> None:
    state = transition(request, to, user=user or current_user(), audit=AuditLog(log), note=note)
    click.echo(f"{state.project}: {state.history[-1]['from']} -> {state.state}")


@click.group()
def access() -> None:
    """Access requests: one YAML file per project, with a recorded life cycle.

    draft -> submitted -> ethics_approved -> confidentiality_approved ->
    extract_delivered -> closed; plus withdrawn and expired. Every step is written to
    the request's sidecar (P.state.json) and to the audit log.
    """


@access.command()
@click.argument("project")
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="Where to write PROJECT.yaml.",
)
@_user_opt
@_log_opt
def new(project: str, directory: Path, user: str | None, log: Path | None) -> None:
    """Write a new draft request PROJECT.yaml from the example, to edit."""
    path = directory / f"{project}.yaml"
    create_request(path, project, user=user or current_user(), audit=AuditLog(log))
    click.echo(f"draft request written: {path}")
    click.echo(f"edit it, then: mikrodata access validate {path}")


@access.command()
@_request_arg
def validate(request: Path) -> None:
    """Check REQUEST against the schema and the catalogue."""
    req = load_request(request)
    click.echo(f"{request.name}: valid request for project {req.project}")
    for r in req.registers:
        click.echo(
            f"  {r.register}: years {r.years[0]}-{r.years[-1]}, "
            f"{len(r.variables)} variables, extract columns: {', '.join(req.columns(r.register))}"
        )
    click.echo(f"  population: {req.population.type}; end date {req.end_date.isoformat()}")


@access.command()
@_request_arg
@_user_opt
@_log_opt
def submit(request: Path, user: str | None, log: Path | None) -> None:
    """Submit a draft REQUEST for review (it must validate)."""
    _move(request, "submitted", user, log, None)


@access.command()
@_request_arg
@click.option(
    "--stage",
    type=click.Choice(["ethics", "confidentiality"]),
    required=True,
    help="ethics: the ethics decision is recorded; confidentiality: the register holder's "
    "confidentiality review approved it (this records the approval hash).",
)
@click.option("--note", help="A note for the history, e.g. the decision's diary number.")
@_user_opt
@_log_opt
def approve(
    request: Path, stage: str, note: str | None, user: str | None, log: Path | None
) -> None:
    """Record an approval of REQUEST."""
    to = {"ethics": "ethics_approved", "confidentiality": "confidentiality_approved"}[stage]
    _move(request, to, user, log, note)


def _final_step(name: str, to: str, doc: str) -> None:
    """Add ``access NAME REQUEST``: move the request to ``to``, recorded and audited."""

    @access.command(name, help=doc)
    @_request_arg
    @click.option("--note", help="Why.")
    @_user_opt
    @_log_opt
    def command(request: Path, note: str | None, user: str | None, log: Path | None) -> None:
        _move(request, to, user, log, note)


_final_step("withdraw", "withdrawn", "Withdraw REQUEST (final).")
_final_step("expire", "expired", "Record that REQUEST's approval has expired.")
_final_step("close", "closed", "Close the project of REQUEST (final).")


@access.command()
@_request_arg
def status(request: Path) -> None:
    """Show REQUEST's state and history."""
    state = read_state(request)
    click.echo(f"project: {state.project or request.stem}")
    click.echo(f"state: {state.state}")
    if state.approval_hash:
        click.echo(f"approved: {state.approved_at} (sha256 {state.approval_hash})")
        try:
            end = load_request(request).end_date
        except MikrodataError:  # status must show even for a file that no longer loads
            end = None
        if end is not None and end < dt.date.today() and state.state != "closed":
            click.echo(f"end date {end.isoformat()} has passed: the gate refuses it")
    allowed = ", ".join(TRANSITIONS[state.state]) or "none (final)"
    click.echo(f"next: {allowed}")
    for h in state.history:
        note = f"  ({h['note']})" if h.get("note") else ""
        click.echo(f"  {h['time']}  {h['user']}: {h['from'] or '(new)'} -> {h['to']}{note}")


@access.command("list")
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
)
def list_(directory: Path) -> None:
    """List the requests in a directory with their states."""
    found = False
    for path in sorted(directory.glob("*.yaml")):
        state = read_state(path)
        click.echo(f"{path.name}\t{state.project or path.stem}\t{state.state}")
        found = True
    if not found:
        click.echo(f"no requests in {directory}")
