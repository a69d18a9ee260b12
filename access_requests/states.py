"""The states of an access request, the moves between them, and who may make each.

::

    draft -> submitted -> ethics_approved -> confidentiality_approved
          -> extract_delivered -> closed
    submitted -> draft (returned to the researchers)
    any open state -> withdrawn;  an approved state -> expired -> closed

Researchers (the principal investigator among them) submit and withdraw; only a data
steward of the project records the ethics and confidentiality decisions, a delivery,
expiry, closing and a return to draft, and never on a request where they are also a
researcher. A steward's move is valid only signed with the steward's key
(:data:`STEWARD_STATES`).
"""

from __future__ import annotations

__all__ = [
    "APPROVED_STATES",
    "RESEARCHER_STATES",
    "STATES",
    "STEWARD_STATES",
    "TERMINAL_STATES",
    "TRANSITIONS",
]

STATES = (
    "draft",
    "submitted",
    "ethics_approved",
    "confidentiality_approved",
    "extract_delivered",
    "closed",
    "expired",
    "withdrawn",
)
APPROVED_STATES = ("confidentiality_approved", "extract_delivered")
TERMINAL_STATES = ("closed", "withdrawn")

# from -> the states it may move to
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "draft": ("submitted", "withdrawn"),
    "submitted": ("ethics_approved", "draft", "withdrawn"),
    "ethics_approved": ("confidentiality_approved", "withdrawn"),
    "confidentiality_approved": ("extract_delivered", "expired", "closed", "withdrawn"),
    "extract_delivered": ("closed", "expired"),
    "expired": ("closed",),
    "closed": (),
    "withdrawn": (),
}

# The states a researcher of the request moves it to; every other move is a steward's.
RESEARCHER_STATES = frozenset({"submitted", "withdrawn"})
STEWARD_STATES = frozenset(set(STATES) - RESEARCHER_STATES)
