"""The output rules a check applies, and the two named profiles.

A project's rules come from its approval (the request YAML's ``output_rules``, read by
:func:`mikrodata.access_requests.load_request`); :meth:`Rules.from_request` turns them
into a :class:`Rules`. Fields the approval does not set come from its ``profile``
(``acro`` when it names none). :meth:`Rules.profile` gives a profile as it is.

============================  =============================  ============================
rule                          ``acro`` (ACRO's defaults)      ``opensafely``
============================  =============================  ============================
units per cell                at least 10                    at least 8 (7 or fewer
                                                             redacted)
zeros                         disclosive                     disclosive (0 is 7 or fewer)
dominance (n, k)              top 2 hold < 90 % of the cell  not applied
p-ratio                       (rest)/top1 >= 10 %            not applied
residual degrees of freedom   at least 10                    reported for review
rounding                      base 5, only if asked          every count to the nearest 5,
                                                             totals recomputed from the
                                                             rounded cells
survival estimates            risk sets < 10 cut, numbers    midpoint-6 rounding of event
                              at risk rounded to 5           and censoring counts
mitigation                    secondary suppression          redact and round
reviewers                     1                              2
============================  =============================  ============================

Thresholds always count **distinct units** (the pseudonym column: ``lopnr`` for persons,
``lopnr_hushall`` for households), never rows.

Protection levels (how far the values an attacker can work out for a suppressed cell
must reach on either side of its true value) follow τ-ARGUS: the lower and upper
protection levels of a cell are a share of its value (``lower_protection``,
``upper_protection``, default 10 %, τ-ARGUS's usual safety range) and at least
``min_protection`` (1, as in τ-ARGUS). For a dominance or p-ratio breach they are
τ-ARGUS's own: ``top_n / k - X`` and ``p * top1 - (X - top1 - top2)``.

Example::

    rules = Rules.profile("acro")
    rules.min_count            # 10
    Rules.from_request("P2026-001.yaml").unit   # "lopnr"
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from mikrodata.toolkit.errors import BadInputError

__all__ = ["MITIGATIONS", "PROFILES", "Rules"]

Mitigation = Literal["suppress", "round", "none"]
MITIGATIONS: tuple[str, ...] = ("suppress", "round", "none")


@dataclass(frozen=True)
class Rules:
    """Disclosure rules. Every threshold counts distinct units of ``unit``."""

    profile_name: str = "acro"
    min_count: int = 10
    zeros_disclosive: bool = True
    dominance_n: int | None = 2
    dominance_k: float | None = 0.90
    p_ratio: float | None = 0.10
    min_dof: int | None = 10
    rounding_base: int = 5
    mitigation: Mitigation = "suppress"
    # opensafely: totals are sums of the rounded, published cells
    totals_from_rounded: bool = False
    survival_rounding: Literal["base", "midpoint6"] = "base"
    lower_protection: float = 0.10
    upper_protection: float = 0.10
    min_protection: float = 1.0
    reviewers: int = 1
    unit: str = "lopnr"

    def __post_init__(self) -> None:
        if self.mitigation not in MITIGATIONS:
            raise BadInputError(
                f"unknown mitigation {self.mitigation!r}", f"Use one of {', '.join(MITIGATIONS)}"
            )
        if self.min_count < 1:
            raise BadInputError("min_count must be at least 1", "Give a positive threshold")
        if (self.dominance_n is None) != (self.dominance_k is None):
            raise BadInputError("dominance needs both n and k", "Give both, or neither")

    @classmethod
    def profile(cls, name: str) -> Rules:
        """A named profile: ``acro`` or ``opensafely``."""
        try:
            return PROFILES[name]
        except KeyError:
            raise BadInputError(
                f"no disclosure profile {name!r}", f"Use one of {', '.join(sorted(PROFILES))}"
            ) from None

    @classmethod
    def from_request(cls, request: Any) -> Rules:
        """The rules a project's approval sets: an ``AccessRequest``, its
        ``OutputRules``, or the path of its YAML file."""
        if isinstance(request, str | Path):
            from mikrodata.access_requests import load_request

            request = load_request(request)
        rules = getattr(request, "output_rules", request)
        base = cls.profile(rules.profile or "acro")
        changes: dict[str, Any] = {"min_count": rules.min_cell_count}
        if rules.dominance_n is not None:
            changes |= {"dominance_n": rules.dominance_n, "dominance_k": rules.dominance_k}
        for field, value in (
            ("rounding_base", rules.rounding_base),
            ("p_ratio", rules.p_ratio),
            ("zeros_disclosive", rules.zeros_disclosive),
            ("min_dof", rules.min_dof),
            ("lower_protection", rules.lower_protection),
            ("upper_protection", rules.upper_protection),
        ):
            if value is not None:
                changes[field] = value
        changes["reviewers"] = max(rules.reviewers, base.reviewers)
        return dataclasses.replace(base, **changes)

    def replace(self, **changes: Any) -> Rules:
        """A copy with some fields changed (``rules.replace(unit="lopnr_hushall")``)."""
        return dataclasses.replace(self, **changes)

    def as_dict(self) -> dict[str, Any]:
        """The rules as plain data, for a check record."""
        return dataclasses.asdict(self)


PROFILES: dict[str, Rules] = {
    "acro": Rules(),
    "opensafely": Rules(
        profile_name="opensafely",
        min_count=8,
        zeros_disclosive=True,
        dominance_n=None,
        dominance_k=None,
        p_ratio=None,
        min_dof=None,
        rounding_base=5,
        mitigation="round",
        totals_from_rounded=True,
        survival_rounding="midpoint6",
        reviewers=2,
    ),
}
