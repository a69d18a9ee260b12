"""The signed approval: what the register holder approved, in a form that travels.

When a data steward records the confidentiality approval, the request file as approved
(its exact bytes) is signed with the steward's key together with who approved it and
when. The document goes into the audit log (the gate derives its state from it) and
into every extract built under it (``approval.json``), so a researcher's environment,
which has no steward log, can check offline what its extract may hold and until when::

    {"format": "mikrodata-approval/1", "project": ..., "request": "P.yaml",
     "request_sha256": ..., "request_text": "<the YAML as approved>",
     "end_date": "YYYY-MM-DD", "approved_by": ..., "approved_at": ...,
     "ethics_approved_by": ..., "signature": {...}}
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mikrodata.pseudonymisation import SigningKey, TrustStore
from mikrodata.toolkit.errors import IntegrityError

from .request import AccessRequest, parse_request

__all__ = ["APPROVAL_FORMAT", "APPROVAL_NAME", "SignedApproval", "sign_approval"]

APPROVAL_FORMAT = "mikrodata-approval/1"
APPROVAL_NAME = "approval.json"
_PURPOSE = "approval"
_FIELDS = (
    "format",
    "project",
    "request",
    "request_sha256",
    "request_text",
    "end_date",
    "approved_by",
    "approved_at",
    "ethics_approved_by",
)


def sign_approval(
    request: AccessRequest,
    raw: bytes,
    *,
    approved_by: str,
    approved_at: str,
    ethics_approved_by: str | None,
    key: SigningKey,
) -> dict[str, Any]:
    """The signed approval document of ``request`` (whose file bytes are ``raw``)."""
    body = {
        "format": APPROVAL_FORMAT,
        "project": request.project,
        "request": request.path.name,
        "request_sha256": hashlib.sha256(raw).hexdigest(),
        "request_text": raw.decode("utf-8"),
        "end_date": request.end_date.isoformat(),
        "approved_by": approved_by,
        "approved_at": approved_at,
        "ethics_approved_by": ethics_approved_by,
    }
    return {**body, "signature": key.sign(_PURPOSE, body)}


@dataclass(frozen=True)
class SignedApproval:
    """A checked approval document: the approved request and who approved it."""

    document: dict[str, Any]
    request: AccessRequest
    signer: str  # the key id that signed it

    @property
    def project(self) -> str:
        return self.request.project

    @property
    def request_sha256(self) -> str:
        return str(self.document["request_sha256"])

    @classmethod
    def check(
        cls,
        document: Any,
        trust: TrustStore,
        what: str = "the approval",
        *,
        path: str | Path | None = None,
    ) -> SignedApproval:
        """Check ``document``'s signature (a trusted steward key) and that its request
        text is the one it names; :class:`IntegrityError` otherwise. ``path``: where the
        request file lives (its cohort file is found beside it), when known."""
        hint = "Do not use it: ask the data steward for a genuine copy"
        if not isinstance(document, dict) or document.get("format") != APPROVAL_FORMAT:
            raise IntegrityError(f"{what} is not a {APPROVAL_FORMAT} document", hint)
        try:
            body = {k: document[k] for k in _FIELDS}
        except KeyError as exc:
            raise IntegrityError(f"{what} has no field {exc.args[0]}", hint) from None
        signer = trust.check(_PURPOSE, body, document.get("signature"), what)
        raw = str(body["request_text"]).encode("utf-8")
        if hashlib.sha256(raw).hexdigest() != body["request_sha256"]:
            raise IntegrityError(f"{what}: its request text does not match its hash", hint)
        request = parse_request(raw, Path(path) if path is not None else Path(str(body["request"])))
        if request.project != body["project"]:
            raise IntegrityError(f"{what}: names two different projects", hint)
        return cls(document=dict(document), request=request, signer=signer)

    @classmethod
    def read(cls, path: str | Path, trust: TrustStore) -> SignedApproval:
        """Read and check an ``approval.json`` file."""
        path = Path(path)
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError, UnicodeDecodeError):
            raise IntegrityError(
                f"{path}: the approval cannot be read", "Ask the data steward for a new extract"
            ) from None
        return cls.check(document, trust, str(path.name))
