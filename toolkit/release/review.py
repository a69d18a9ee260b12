"""The steward's review of an output request: list, show, approve, reject.

Who may decide: a data steward of the project (the access gate's ``release_output``
action, against the signed approval), and never the researcher who asked for the output
(the two-person rule: refused with :class:`AccessRefused`, exit 13, and recorded as an
``access_refused`` event). Where the project's rules ask for two reviewers
(``reviewers: 2``), two different stewards approve; the first approval is recorded and
the release is written with the second.

Approving re-checks every output under the project's approved rules
(:mod:`.recheck`), refuses an output made from a dummy extract or from data whose source
is unknown (its source must be an extract the steward built for this project: an
``extract_built`` event of the signed trail), and refuses a table that, with the
project's earlier releases or the other tables of this one, gives back a hidden cell
(:mod:`.differencing`). Then it writes the release folder
``<releases>/<project>/<release_id>/`` whole (built beside it and renamed into place):
the output files, copied and checked against their checksums, and the signed manifest
(:mod:`.manifest`); the tables' snapshots go to the steward's trail
``<trail>/<project>/<release_id>/`` for later differencing checks. Each decision is a
signed audit event (``release_approved``, ``release_rejected``); a refusal is a
``release_refused`` event with its reasons.

The state of an output is read back from the audit trail, never from a file: ``pending``,
``approved 1 of 2``, ``released`` or ``rejected``; an output requested again with other
content is a new output (its entry's SHA-256 differs).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from filelock import FileLock

from mikrodata.access_requests import AuditLog, check_access
from mikrodata.pseudonymisation import KeyStore, TrustStore
from mikrodata.toolkit import clock
from mikrodata.toolkit.disclosure.release import OutputRequest
from mikrodata.toolkit.disclosure.rules import Rules
from mikrodata.toolkit.disclosure.snapshot import TableSnapshot
from mikrodata.toolkit.errors import AccessRefused, BadInputError, DisclosureError
from mikrodata.toolkit.identity import Identity, resolve_identity
from mikrodata.toolkit.paths import home

from .differencing import cross_release_problems, earlier_snapshots
from .manifest import RELEASE_FORMAT, sha256_file, write_manifest
from .recheck import recheck

__all__ = [
    "OutputState",
    "approve_release",
    "outputs",
    "reject_release",
    "releases_root",
    "trail_root",
    "verify_recorded",
]


def releases_root(path: str | Path | None = None) -> Path:
    """Where release folders are written: ``path``, ``$MIKRODATA_RELEASES`` or
    ``$MIKRODATA_HOME/releases``."""
    if path is not None:
        return Path(path)
    env = os.environ.get("MIKRODATA_RELEASES")
    return Path(env) if env else home() / "releases"


def trail_root(path: str | Path | None = None) -> Path:
    """The steward's trail of released tables: ``path``, ``$MIKRODATA_RELEASE_TRAIL`` or
    ``$MIKRODATA_HOME/release-trail``."""
    if path is not None:
        return Path(path)
    env = os.environ.get("MIKRODATA_RELEASE_TRAIL")
    return Path(env) if env else home() / "release-trail"


@dataclass(frozen=True)
class OutputState:
    """One output of the request and where its review stands."""

    name: str
    entry: dict[str, Any]
    entry_sha256: str
    state: str  # pending, approved, released, rejected
    approvals: tuple[str, ...]
    release_id: str | None = None
    reason: str | None = None
    requesters: tuple[str, ...] = ()  # the entry's and the audit log's

    def as_dict(self, reviewers: int) -> dict[str, Any]:
        e = self.entry
        return {
            "name": self.name,
            "state": self.state,
            "approvals": list(self.approvals),
            "reviewers": reviewers,
            "release_id": self.release_id,
            "reason": self.reason,
            "output": e["output"],
            "description": e["description"],
            "status": e["record"]["status"],
            "requested_by": e["requested_by"],
            "requested_at": e["requested_at"],
            "justification": e.get("justification"),
            "files": e["files"],
            "source": e.get("source"),
            "summary": e.get("summary"),
            "entry_sha256": self.entry_sha256,
        }


def _entry_sha(request: OutputRequest, name: str) -> str:
    return hashlib.sha256((request.records / f"{name}.json").read_bytes()).hexdigest()


def outputs(request: OutputRequest, project: str, audit: AuditLog) -> list[OutputState]:
    """The outputs of ``project`` in the output request (and those whose source is
    unknown, which cannot be released), with their review state from the audit log."""
    everything = audit.events()
    events = [e for e in everything if e.get("project") == project]
    # who asked for an output of this name, as the audit log saw them (the entry's own
    # field can be edited): none of them reviews it
    asked: dict[str, set[str]] = {}
    where = str(request.folder.resolve())
    for ev in everything:
        d = ev.get("details") or {}
        if ev.get("action") == "release_requested" and d.get("folder") == where:
            asked.setdefault(str(d.get("output")), set()).add(str(ev.get("user")))
    out = []
    for name in request.names():
        entry = request.entry(name)
        if entry.get("project") not in (project, None):
            continue
        sha = _entry_sha(request, name)
        state, approvals, release_id, reason = "pending", [], None, None
        for ev in events:
            d = ev.get("details") or {}
            if d.get("outputs", {}).get(name) != sha:
                continue
            if ev.get("action") == "release_rejected":
                state, reason = "rejected", d.get("reason")
            elif ev.get("action") == "release_approved":
                approvals.append(str(ev.get("user")))
                if d.get("complete"):
                    state, release_id = "released", d.get("release_id")
                else:
                    state = "approved"
        requesters = tuple(sorted(asked.get(name, set()) | {str(entry["requested_by"])}))
        out.append(
            OutputState(name, entry, sha, state, tuple(approvals), release_id, reason, requesters)
        )
    return out


def _select(states: list[OutputState], names: Iterable[str] | None) -> list[OutputState]:
    by_name = {s.name: s for s in states}
    if names:
        missing = [n for n in names if n not in by_name]
        if missing:
            raise BadInputError(
                f"no output {missing[0]!r} of this project in the output request",
                "See `mikrodata release list --project P`",
            )
        chosen = [by_name[n] for n in names]
    else:
        chosen = [s for s in states if s.state in ("pending", "approved")]
    done = [s for s in chosen if s.state in ("released", "rejected")]
    if done:
        raise BadInputError(
            f"output {done[0].name!r} is already {done[0].state}",
            "Ask the researcher to request it again if it has changed",
        )
    if not chosen:
        raise BadInputError("nothing to review: no pending output", "See `mikrodata release list`")
    return chosen


def _gate(request_path: Path, identity: Identity, audit: AuditLog, trust: TrustStore | None):
    return check_access(
        request_path, user=identity, action="release_output", audit=audit, trust=trust
    )


def _two_person(
    chosen: list[OutputState], identity: Identity, audit: AuditLog, project: str, action: str
) -> None:
    for s in chosen:
        why = None
        if identity.user in s.requesters or s.entry["requested_by"] == identity.user:
            why = f"{identity.user} asked for output {s.name!r} and cannot review it"
        elif identity.user in s.approvals:
            why = f"{identity.user} has already approved output {s.name!r}"
        if why:
            audit.append(
                "access_refused",
                project=project,
                user=identity,
                details={"action": action, "output": s.name, "reason": why},
            )
            raise AccessRefused(
                why,
                "Another data steward of the project must review it (the two-person rule)",
            )


def _known_extracts(audit: AuditLog, project: str) -> tuple[set[str], set[str]]:
    built, dummies = set(), set()
    for ev in audit.events(project):
        sha = (ev.get("details") or {}).get("manifest_sha256")
        if ev.get("action") == "extract_built" and "signature" in ev:
            built.add(sha)
        elif ev.get("action") == "dummy_extract_built":
            dummies.add(sha)
    return built, dummies


def _source_problems(s: OutputState, project: str, built: set[str], dummies: set[str]) -> list[str]:
    src = s.entry.get("source")
    if not src:
        return [
            f"{s.name}: the data it was made from is unknown (make it from a frame of "
            "open_extract, or pass source=project to request_release)"
        ]
    if src.get("dummy") or src.get("manifest_sha256") in dummies:
        return [f"{s.name}: it was made from a dummy extract (synthetic data, never released)"]
    if src.get("project") != project:
        return [f"{s.name}: it was made from an extract of project {src.get('project')}"]
    if src.get("manifest_sha256") not in built:
        return [f"{s.name}: it was made from an extract this project's trail does not hold"]
    return []


def _complete_releases(audit: AuditLog, project: str) -> set[str]:
    return {
        str(e["details"].get("release_id"))
        for e in audit.events(project)
        if e.get("action") == "release_approved" and (e.get("details") or {}).get("complete")
    }


def _refuse(audit: AuditLog, project: str, identity: Identity, problems: list[str]) -> None:
    audit.append("release_refused", project=project, user=identity, details={"problems": problems})
    raise DisclosureError(
        "the release is refused: " + "; ".join(problems),
        "Nothing was released; the researcher must change the outputs and request again",
    )


def approve_release(
    request_path: str | Path,
    *,
    names: Iterable[str] | None = None,
    folder: str | Path | None = None,
    user: str | Identity | None = None,
    audit: AuditLog | None = None,
    signer: KeyStore | Callable[[], KeyStore],
    releases: str | Path | None = None,
    trail: str | Path | None = None,
    trust: TrustStore | None = None,
) -> dict[str, Any]:
    """Approve the pending outputs (``names``, default all) of the project of
    ``request_path``. Returns ``{"state": "approved"|"released", "release_id",
    "directory", "outputs", "approved_by", "reviewers"}``."""
    request_path = Path(request_path)
    audit = audit or AuditLog()
    identity = resolve_identity(user)
    gate = _gate(request_path, identity, audit, trust)
    project = gate.project
    request = OutputRequest(folder)
    chosen = _select(outputs(request, project, audit), names)
    _two_person(chosen, identity, audit, project, "approve_release")
    rules = Rules.from_request(gate.request)
    built, dummies = _known_extracts(audit, project)
    problems: list[str] = []
    snapshots: list[TableSnapshot] = []
    for s in chosen:
        problems += _source_problems(s, project, built, dummies)
        problems += recheck(s.entry, request.folder, rules)
        if s.entry.get("snapshot"):
            snapshots.append(TableSnapshot.load(request.records / s.entry["snapshot"]))
    trail_dir = trail_root(trail)
    seen = _complete_releases(audit, project)
    earlier: list[tuple[str, TableSnapshot]] = []
    if not problems:
        earlier = earlier_snapshots(trail_dir, project, audit.events(project))
        problems += cross_release_problems(snapshots, earlier, rules)
    if problems:
        _refuse(audit, project, identity, problems)
    if len({s.approvals for s in chosen}) > 1:
        raise BadInputError(
            "these outputs stand at different stages of their review",
            "Approve them one group at a time: mikrodata release approve --project P NAME ...",
        )
    approvers = sorted(set(chosen[0].approvals) | {identity.user})
    complete = len(approvers) >= rules.reviewers
    store = signer() if callable(signer) else signer
    ids = {s.name: s.entry_sha256 for s in chosen}
    result: dict[str, Any] = {
        "project": project,
        "outputs": sorted(ids),
        "approved_by": approvers,
        "reviewers": rules.reviewers,
        "state": "released" if complete else "approved",
        "release_id": None,
        "directory": None,
    }
    details: dict[str, Any] = {
        "outputs": ids,
        "stage": len(approvers),
        "of": rules.reviewers,
        "complete": complete,
    }
    if not complete:
        audit.append(
            "release_approved", project=project, user=identity, details=details, signer=store
        )
        return result
    root = releases_root(releases)
    (root / project).mkdir(parents=True, exist_ok=True)
    # one release of a project written at a time: its number, folder and event
    with FileLock(str(root / project / ".release.lock")):
        # another steward may have decided while this one re-checked
        now = {s.name: s for s in outputs(request, project, audit)}
        if any(now[s.name].state in ("released", "rejected") for s in chosen):
            raise BadInputError(
                "another steward decided on these outputs meanwhile",
                "See `mikrodata release list`",
            )
        done = _complete_releases(audit, project)
        if done != seen:
            # a release was written while this one was checked: check against it too
            raise BadInputError(
                "another release of the project was written meanwhile",
                "Approve again: the outputs are then checked against it too",
            )
        n = 1 + len(done)
        release_id = f"{project}-R{n:03d}"
        directory, manifest_sha = _write_release(
            release_id,
            project,
            chosen,
            request,
            rules,
            approvers,
            store,
            audit,
            snapshots,
            root,
            trail_dir,
            sorted({rid for rid, _ in earlier}),
        )
        details |= {
            "release_id": release_id,
            "manifest_sha256": manifest_sha,
            "directory": str(directory.resolve()),
            "snapshots": {s.name: s.digest() for s in snapshots},
        }
        result |= {
            "release_id": release_id,
            "directory": str(directory),
            "manifest_sha256": manifest_sha,
        }
        audit.append(
            "release_approved", project=project, user=identity, details=details, signer=store
        )
    return result


def _write_release(
    release_id: str,
    project: str,
    chosen: list[OutputState],
    request: OutputRequest,
    rules: Rules,
    approvers: list[str],
    store: KeyStore,
    audit: AuditLog,
    snapshots: list[TableSnapshot],
    root: Path,
    trail: Path,
    checked_against: list[str],
) -> tuple[Path, str]:
    target = root / project / release_id
    if target.exists():
        raise BadInputError(
            f"{target} exists already", "Move it away; releases are never overwritten"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    seq, head = audit.head()
    sources = {json.dumps(s.entry["source"], sort_keys=True) for s in chosen}
    with tempfile.TemporaryDirectory(prefix=f".{release_id}-", dir=target.parent) as scratch:
        tmp = Path(scratch) / release_id
        tmp.mkdir()
        files = []
        for s in chosen:
            for f in s.entry["files"]:
                shutil.copyfile(request.folder / f, tmp / f)
                digest = sha256_file(tmp / f)
                if digest != s.entry["file_sha256"][f]:  # changed while we copied
                    raise DisclosureError(f"{f} changed during the release", "Approve it again")
                files.append({"path": f, "sha256": digest, "bytes": (tmp / f).stat().st_size})
        manifest = {
            "format": RELEASE_FORMAT,
            "release_id": release_id,
            "project": project,
            "files": files,
            "outputs": [
                {
                    "name": s.name,
                    "output": s.entry["output"],
                    "description": s.entry["description"],
                    "status": s.entry["record"]["status"],
                    "justification": s.entry.get("justification"),
                    "requested_by": s.entry["requested_by"],
                    "requested_at": s.entry["requested_at"],
                    "entry_sha256": s.entry_sha256,
                    "files": s.entry["files"],
                }
                for s in chosen
            ],
            "rules": rules.as_dict(),
            "profile": rules.profile_name,
            "requested_by": sorted({s.entry["requested_by"] for s in chosen}),
            "approved_by": approvers,
            "reviewers": rules.reviewers,
            "approved_at": clock.now().isoformat(timespec="seconds"),
            "source": [json.loads(x) for x in sorted(sources)],
            "audit_head": {"seq": seq, "hash": head},
            "differencing": {
                "checked_against": checked_against,
                "tables": [s.name for s in snapshots],
            },
        }
        manifest_sha = write_manifest(tmp, manifest, store.signing_key())
        for snap in snapshots:
            snap.save(trail / project / release_id)
        os.rename(tmp, target)  # the whole folder appears at once, or none of it
    return target, manifest_sha


def reject_release(
    request_path: str | Path,
    *,
    reason: str,
    names: Iterable[str] | None = None,
    folder: str | Path | None = None,
    user: str | Identity | None = None,
    audit: AuditLog | None = None,
    signer: KeyStore | Callable[[], KeyStore],
    trust: TrustStore | None = None,
) -> dict[str, Any]:
    """Reject the pending outputs (``names``, default all) of the project, with a reason."""
    if not reason or not reason.strip():
        raise BadInputError("a rejection needs a reason", "Give --reason 'what must change'")
    request_path = Path(request_path)
    audit = audit or AuditLog()
    identity = resolve_identity(user)
    gate = _gate(request_path, identity, audit, trust)
    project = gate.project
    chosen = _select(outputs(OutputRequest(folder), project, audit), names)
    _two_person(chosen, identity, audit, project, "reject_release")
    store = signer() if callable(signer) else signer
    ids = {s.name: s.entry_sha256 for s in chosen}
    audit.append(
        "release_rejected",
        project=project,
        user=identity,
        details={"outputs": ids, "reason": reason.strip()},
        signer=store,
    )
    return {"project": project, "outputs": sorted(ids), "state": "rejected", "reason": reason}


def verify_recorded(
    directory: str | Path,
    *,
    trust: TrustStore | None = None,
    audit: AuditLog | None = None,
    user: str | Identity | None = None,
):
    """:func:`~.manifest.verify_release`, with the result (``release_verified`` or
    ``release_verify_failed`` and why) written to the audit log."""
    from mikrodata.toolkit.errors import IntegrityError

    from .manifest import verify_release

    audit = audit or AuditLog()
    identity = resolve_identity(user)
    directory = Path(directory)
    try:
        checked = verify_release(directory, trust)
    except IntegrityError as exc:
        project = None
        try:
            project = json.loads((directory / "release.json").read_text()).get("project")
        except (OSError, ValueError, AttributeError):
            pass
        audit.append(
            "release_verify_failed",
            project=project if isinstance(project, str) else None,
            user=identity,
            details={"directory": str(directory.resolve()), "reason": exc.message},
        )
        raise
    audit.append(
        "release_verified",
        project=checked.manifest["project"],
        user=identity,
        details={
            "directory": str(directory.resolve()),
            "release_id": checked.manifest["release_id"],
            "manifest_sha256": checked.manifest_sha256,
            "signed_by": checked.signed_by,
        },
    )
    return checked
