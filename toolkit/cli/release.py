"""``mikrodata release``: the steward's review of an output request, and the check of a
released folder.

``list``/``show`` read the output request and the audit log; ``approve``/``reject`` are a
data steward's decisions (the access gate's ``release_output``, never on an output the
steward asked for; signed with the key store, its passphrase from
``$MIKRODATA_KEYSTORE_PASSPHRASE`` or a prompt); ``verify`` needs only the trusted public
keys. Exit codes: 13 refused (not a steward, the two-person rule), 17 a disclosure
problem (re-check, dummy or unknown source, differencing), 16 a tampered release.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from mikrodata.access_requests import AuditLog, read_state
from mikrodata.toolkit.cli.keys import keystore_option, open_keystore

__all__ = ["release"]


def _resolve_project(_ctx: click.Context, _param: click.Parameter, value: str) -> Path:
    """``--project``: the project id (its request ``./<P>.yaml``) or the request's path."""
    from mikrodata.access_requests import request_project
    from mikrodata.toolkit.errors import BadInputError

    path = Path(value)
    if path.is_file():
        return path
    candidate = Path(f"{value}.yaml")
    if candidate.is_file() and request_project(candidate) == value:
        return candidate
    raise BadInputError(
        f"no access request for project {value!r} (looked for {value} and {candidate})",
        "Give the project's request file: --project path/to/P.yaml",
    )


_project_opt = click.option(
    "--project",
    "request",
    required=True,
    callback=_resolve_project,
    help="The project: its id (the request ./P.yaml) or its access request file; the "
    "approval names its stewards and rules.",
)
_folder_opt = click.option(
    "--requests",
    "folder",
    type=click.Path(file_okay=False, path_type=Path),
    help="The output request folder (default: $MIKRODATA_OUTPUT_REQUESTS or "
    "$MIKRODATA_HOME/output-requests).",
)
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
_names_arg = click.argument("names", nargs=-1)


def _states(request: Path, folder: Path | None, log: Path | None):
    from mikrodata.toolkit.disclosure import OutputRequest, Rules
    from mikrodata.toolkit.release import outputs

    audit = AuditLog(log)
    project = read_state(request, audit).project
    from mikrodata.access_requests import load_request

    reviewers = Rules.from_request(load_request(request)).reviewers
    return project, reviewers, outputs(OutputRequest(folder), project, audit)


@click.group()
def release() -> None:
    """Review output requests and release them: list, show, approve, reject, verify."""


@release.command("list")
@_project_opt
@_folder_opt
@_log_opt
@_json_opt
def list_(request: Path, folder: Path | None, log: Path | None, as_json: bool) -> None:
    """List the project's requested outputs and where their review stands."""
    project, reviewers, states = _states(request, folder, log)
    rows = [s.as_dict(reviewers) for s in states]
    if as_json:
        click.echo(json.dumps({"project": project, "outputs": rows}, ensure_ascii=False))
        return
    if not rows:
        click.echo(f"{project}: no outputs requested")
    for r in rows:
        state = r["state"]
        if state == "approved":
            state = f"approved {len(r['approvals'])} of {reviewers}"
        if state == "released":
            state = f"released in {r['release_id']}"
        src = "" if r["source"] else "  (source unknown)"
        click.echo(
            f"{r['name']}\t{r['output']}\t{r['status']}\t{state}\t"
            f"requested by {r['requested_by']}{src}"
        )


@release.command()
@_project_opt
@click.argument("name")
@_folder_opt
@_log_opt
@_json_opt
def show(request: Path, name: str, folder: Path | None, log: Path | None, as_json: bool) -> None:
    """Show one requested output NAME: its check, justification, source and review."""
    from mikrodata.toolkit.errors import BadInputError

    project, reviewers, states = _states(request, folder, log)
    found = [s for s in states if s.name == name]
    if not found:
        raise BadInputError(
            f"no output {name!r} of project {project}", "See `mikrodata release list`"
        )
    s = found[0]
    doc = s.as_dict(reviewers) | {
        "findings": s.entry["record"].get("findings", []),
        "notes": s.entry["record"].get("notes", []),
        "code": s.entry.get("code"),
    }
    if as_json:
        click.echo(json.dumps(doc, ensure_ascii=False, default=str))
        return
    click.echo(f"{s.name}: {doc['description']}")
    for key in ("output", "status", "state", "requested_by", "requested_at", "justification"):
        click.echo(f"  {key}: {doc[key]}")
    click.echo(f"  approvals: {', '.join(s.approvals) or 'none'} (needs {reviewers})")
    click.echo(f"  files: {', '.join(doc['files'])}")
    click.echo(f"  source: {doc['source'] or 'unknown (cannot be released)'}")
    click.echo(f"  summary: {doc['summary']}")
    for note in doc["notes"]:
        click.echo(f"  note: {note}")


@release.command()
@_project_opt
@_names_arg
@_folder_opt
@click.option(
    "--out",
    "releases",
    type=click.Path(file_okay=False, path_type=Path),
    help="Release folders root (default: $MIKRODATA_RELEASES or $MIKRODATA_HOME/releases).",
)
@click.option(
    "--trail",
    type=click.Path(file_okay=False, path_type=Path),
    help="The steward's trail of released tables (default: $MIKRODATA_HOME/release-trail).",
)
@keystore_option
@_user_opt
@_log_opt
@_json_opt
def approve(request, names, folder, releases, trail, keystore, user, log, as_json) -> None:
    """Approve the pending outputs NAMES (default: all) of the project: re-checked, and
    released with a signed manifest once enough stewards approved."""
    from mikrodata.toolkit.release import approve_release

    result = approve_release(
        request,
        names=names or None,
        folder=folder,
        user=user,
        audit=AuditLog(log),
        signer=lambda: open_keystore(keystore),
        releases=releases,
        trail=trail,
    )
    if as_json:
        click.echo(json.dumps(result, ensure_ascii=False))
    elif result["state"] == "released":
        click.echo(
            f"{result['release_id']}: released {', '.join(result['outputs'])} to "
            f"{result['directory']} (approved by {', '.join(result['approved_by'])}; signed)"
        )
    else:
        click.echo(
            f"{', '.join(result['outputs'])}: approved by {', '.join(result['approved_by'])}, "
            f"{len(result['approved_by'])} of {result['reviewers']} reviewers: another data "
            "steward must approve"
        )


@release.command()
@_project_opt
@_names_arg
@click.option("--reason", required=True, help="What must change.")
@_folder_opt
@keystore_option
@_user_opt
@_log_opt
@_json_opt
def reject(request, names, reason, folder, keystore, user, log, as_json) -> None:
    """Reject the pending outputs NAMES (default: all) of the project, with a reason."""
    from mikrodata.toolkit.release import reject_release

    result = reject_release(
        request,
        reason=reason,
        names=names or None,
        folder=folder,
        user=user,
        audit=AuditLog(log),
        signer=lambda: open_keystore(keystore),
    )
    if as_json:
        click.echo(json.dumps(result, ensure_ascii=False))
    else:
        click.echo(f"{', '.join(result['outputs'])}: rejected ({reason})")


@release.command()
@click.argument("directory", type=click.Path(path_type=Path))
@click.option(
    "--trusted-keys",
    "trusted",
    type=click.Path(exists=True, path_type=Path),
    help="Trusted public keys (default: $MIKRODATA_TRUSTED_KEYS or $MIKRODATA_HOME/trusted_keys).",
)
@_user_opt
@_log_opt
@_json_opt
def verify(directory: Path, trusted, user, log, as_json) -> None:
    """Check a release folder offline: signature, checksums, no file added or removed."""
    from mikrodata.pseudonymisation import TrustStore
    from mikrodata.toolkit.release import verify_recorded

    checked = verify_recorded(
        directory, trust=TrustStore.load(trusted), audit=AuditLog(log), user=user
    )
    doc = checked.as_dict()
    if as_json:
        click.echo(json.dumps(doc, ensure_ascii=False))
        return
    click.echo(
        f"{doc['release_id']}: ok ({doc['files']} files match the manifest signed by "
        f"{doc['signed_by']}; approved by {', '.join(doc['approved_by'])})"
    )
