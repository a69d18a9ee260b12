"""What a check found and did: the check record every output carries.

A :class:`CheckRecord` holds the rules applied, one :class:`Finding` per cell a rule hit
(which rule, and what was done: ``suppressed``, ``secondary``, ``rounded``, ``redacted``,
``widened``, ``refused``), the audit of the published table, notes for the output
checker, and a status:

- ``pass``: what is published meets every rule, and the audit proves no suppressed cell
  can be worked back (mitigation, such as suppression, may have been applied);
- ``review``: a person must judge (negative values under a dominance rule, a model
  without a degrees-of-freedom rule, ...): the researcher gives a justification;
- ``fail``: a rule is broken and cannot be mitigated (too few residual degrees of
  freedom, a differencing risk, a failed audit): the output cannot be released.

Two views: :meth:`CheckRecord.to_dict` is the steward's full record (it names true values
of suppressed cells, through the audit intervals: it stays in the secure environment);
:meth:`CheckRecord.summary` carries no value of a suppressed cell and may travel with a
released file (a figure's metadata).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["STATUSES", "CheckRecord", "Finding", "worst"]

Status = Literal["pass", "review", "fail"]
STATUSES: tuple[str, ...] = ("pass", "review", "fail")


def worst(*statuses: str) -> str:
    """The most severe of some statuses (``fail`` > ``review`` > ``pass``)."""
    return max(statuses, key=STATUSES.index, default="pass")


@dataclass(frozen=True)
class Finding:
    """One cell a rule hit. ``cell`` maps each dimension to its code (``Total`` for a
    margin); ``action`` says what was done; ``detail`` is free text without values."""

    rule: str
    cell: dict[str, str]
    action: str
    detail: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "cell": self.cell, "action": self.action, "detail": self.detail}


@dataclass
class CheckRecord:
    """The record of one check (see the module docstring)."""

    kind: str
    rules: dict[str, Any]
    unit: str
    status: str = "pass"
    findings: list[Finding] = field(default_factory=list)
    audit: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)
    properties: dict[str, Any] = field(default_factory=dict)
    created: str = field(
        default_factory=lambda: dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    )

    def hit(self, rule: str, cell: dict[str, str], action: str, detail: str = "") -> None:
        self.findings.append(Finding(rule, dict(cell), action, detail))

    def escalate(self, status: str, note: str | None = None) -> None:
        """Raise the status to at least ``status`` and say why."""
        self.status = worst(self.status, status)
        if note:
            self.notes.append(note)

    def counts(self) -> dict[str, int]:
        """How many cells each action touched (``{"suppressed": 3, "secondary": 5}``)."""
        out: dict[str, int] = {}
        for f in self.findings:
            out[f.action] = out.get(f.action, 0) + 1
        return out

    def rules_hit(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for f in self.findings:
            out[f.rule] = out.get(f.rule, 0) + 1
        return out

    def to_dict(self) -> dict[str, Any]:
        """The full record, for the steward's review folder."""
        return {
            "kind": self.kind,
            "status": self.status,
            "unit": self.unit,
            "rules": self.rules,
            "findings": [f.as_dict() for f in self.findings],
            "audit": self.audit,
            "notes": list(self.notes),
            "properties": dict(self.properties),
            "created": self.created,
        }

    def summary(self) -> dict[str, Any]:
        """What may travel with a released file: no value of any suppressed cell."""
        audit = None
        if self.audit is not None:
            audit = {k: self.audit[k] for k in ("method", "passed", "cells", "groups")}
        return {
            "kind": self.kind,
            "status": self.status,
            "unit": self.unit,
            "profile": self.rules.get("profile_name"),
            "actions": self.counts(),
            "rules_hit": self.rules_hit(),
            "audit": audit,
            "record_sha256": self.digest(),
        }

    def digest(self) -> str:
        """SHA-256 of the full record's canonical JSON."""
        text = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(text.encode()).hexdigest()
