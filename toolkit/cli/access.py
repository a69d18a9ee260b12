"""``mikrodata access``: write, check and move access requests through their life cycle.

Who does a step is the authenticated user (the operating-system account, or the
JupyterHub user); ``--user`` declares another name for tests and the demo only (see
:mod:`mikrodata.toolkit.identity`). A data steward's step opens the key store (its
passphrase from ``$MIKRODATA_KEYSTORE_PASSPHRASE`` or a prompt) and is signed with the
steward's key; a researcher's step is not.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from mikrodata.access_requests import (
    STEWARD_STATES,
    TRANSITIONS,
    AuditLog,
    create_request,
    load_request,
    read_state,
    transition,
)
from mikrodata.toolkit import clock
from mikrodata.toolkit.cli.keys import keystore_option, open_keystore
from mikrodata.toolkit.errors import MikrodataError

__all__ = ["access"]

_request_arg = click.argument("request", type=click.Path(dir_okay=False, path_type=Path))
_user_opt = click.option(
    "--user", help="Declare who does this (tests and the demo only; default: your account)."
)
_log_opt = click.option(
    "--log",
    "log",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Audit log (default: $MIKRODATA_AUDIT_LOG or $MIKRODATA_HOME/audit.jsonl).",
)
_json_opt = click.option("--json", "as_json", is_flag=True, help="Print JSON, for scripts.")


def _move(
    request: Path,
    to: str,
    user: str | None,
    log: Path | None,
    note: str | None,
    keystore: Path | None,
) -> None:
    # The key store is opened (its passphrase asked for) only once the move is allowed.
    signer = (lambda: open_keystore(keystore)) if to in STEWARD_STATES else None
    state = transition(request, to, user=user, audit=AuditLog(log), note=note, signer=signer)
    signed = " (signed)" if to in STEWARD_STATES else ""
    click.echo(f"{state.project}: {state.history[-1]['from']} -> {state.state}{signed}")


@click.group()
def access() -> None:
    """Access requests: one YAML file per project, with a recorded life cycle.

    draft -> submitted -> ethics_approved -> confidentiality_approved ->
    extract_delivered -> closed; plus withdrawn and expired. Researchers submit and
    withdraw; a data steward of the project records every other step, signed with the
    steward's key. The state is read back from the audit log, never from a file.
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
    create_request(path, project, user=user, audit=AuditLog(log))
    click.echo(f"draft request written: {path}")
    click.echo(f"edit it, then: mikrodata access validate {path}")


@access.command()
@_request_arg
@_json_opt
def validate(request: Path, as_json: bool) -> None:
    """Check REQUEST against the schema and the catalogue."""
    req = load_request(request)
    registers = {
        r.register: {
            "years": list(r.years),
            "without": list(r.without),
            "variables": list(r.variables),
            "columns": list(req.columns(r.register)),
        }
        for r in req.registers
    }
    if as_json:
        click.echo(json.dumps({"project": req.project, "valid": True, "registers": registers}))
        return
    click.echo(f"{request.name}: valid request for project {req.project}")
    for r in req.registers:
        without = f" (without {', '.join(map(str, r.without))}: no data)" if r.without else ""
        click.echo(
            f"  {r.register}: years {r.years[0]}-{r.years[-1]}{without}, "
            f"{len(r.variables)} variables, extract columns: {', '.join(req.columns(r.register))}"
        )
    click.echo(f"  population: {req.population.type}; end date {req.end_date.isoformat()}")


@access.command()
@_request_arg
@_user_opt
@_log_opt
def submit(request: Path, user: str | None, log: Path | None) -> None:
    """Submit a draft REQUEST for review (a researcher of it; it must validate)."""
    _move(request, "submitted", user, log, None, None)


@access.command()
@_request_arg
@click.option(
    "--stage",
    type=click.Choice(["ethics", "confidentiality"]),
    required=True,
    help="ethics: the ethics decision is recorded; confidentiality: the register holder's "
    "confidentiality review approved it (this signs the approval).",
)
@click.option("--note", help="A note for the history, e.g. the decision's diary number.")
@keystore_option
@_user_opt
@_log_opt
def approve(
    request: Path,
    stage: str,
    note: str | None,
    keystore: Path | None,
    user: str | None,
    log: Path | None,
) -> None:
    """Record an approval of REQUEST (a data steward of the project, signed)."""
    to = {"ethics": "ethics_approved", "confidentiality": "confidentiality_approved"}[stage]
    _move(request, to, user, log, note, keystore)


def _step(name: str, to: str, doc: str) -> None:
    """Add ``access NAME REQUEST``: move the request to ``to``, recorded and audited."""
    options = [_request_arg, click.option("--note", help="Why."), _user_opt, _log_opt]
    if to in STEWARD_STATES:
        options.insert(2, keystore_option)

    def command(
        request: Path,
        note: str | None,
        user: str | None,
        log: Path | None,
        keystore: Path | None = None,
    ) -> None:
        _move(request, to, user, log, note, keystore)

    for option in reversed(options):
        command = option(command)
    access.command(name, help=doc)(command)


_step("withdraw", "withdrawn", "Withdraw REQUEST (a researcher of it; final).")
_step("return", "draft", "Return a submitted REQUEST to its researchers as a draft (a steward).")
_step("expire", "expired", "Record that REQUEST's approval has expired (a steward).")
_step("close", "closed", "Close the project of REQUEST (a steward; final).")


def _status_lines(request: Path, log: Path | None) -> tuple[dict, list[str]]:
    state = read_state(request, AuditLog(log))
    doc = state.as_dict()
    lines = [f"project: {state.project}", f"state: {state.state}"]
    if state.approval_hash:
        lines.append(f"approved: {state.approved_at} (sha256 {state.approval_hash})")
        try:
            end = load_request(request).end_date
        except MikrodataError:  # status must show even for a file that no longer loads
            end = None
        if end is not None and end < clock.today() and state.state != "closed":
            lines.append(f"end date {end.isoformat()} has passed: the gate refuses it")
            doc["expired"] = True
    lines.append(f"next: {', '.join(TRANSITIONS[state.state]) or 'none (final)'}")
    for h in state.history:
        note = f"  ({h['note']})" if h.get("note") else ""
        who = h["user"] + (" (declared)" if h.get("identity") == "declared" else "")
        signed = ", signed" if h.get("signed") else ""
        lines.append(f"  {h['time']}  {who}: {h['from'] or '(new)'} -> {h['to']}{signed}{note}")
    return doc, lines


@access.command()
@_request_arg
@_json_opt
@_log_opt
def status(request: Path, as_json: bool, log: Path | None) -> None:
    """Show REQUEST's state and history, read from the verified audit log."""
    doc, lines = _status_lines(request, log)
    if as_json:
        click.echo(json.dumps(doc, ensure_ascii=False))
        return
    for line in lines:
        click.echo(line)


@access.command("list")
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
)
@_json_opt
@_log_opt
def list_(directory: Path, as_json: bool, log: Path | None) -> None:
    """List the requests in a directory with their states."""
    audit = AuditLog(log)
    rows = []
    for path in sorted(directory.glob("*.yaml")):
        state = read_state(path, audit)
        rows.append({"request": path.name, "project": state.project, "state": state.state})
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False))
    elif not rows:
        click.echo(f"no requests in {directory}")
    for row in rows if not as_json else ():
        click.echo(f"{row['request']}\t{row['project']}\t{row['state']}")
