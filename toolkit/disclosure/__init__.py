"""Disclosure control of outputs: every table and figure is checked when it is made,
explains every decision, and is proven safe before it may leave.

Also reachable as ``mikrodata.disclosure``::

    from mikrodata import disclosure
    rules = disclosure.Rules.from_request("P2026-001.yaml")   # or Rules.profile("acro")
    t = disclosure.crosstab(frame, "kommun", "manad", unit="lopnr", rules=rules,
                            hierarchy={"kommun": "lan"})
    t.published, t.status, t.record.to_dict()
    fig = t.figure()
    disclosure.request_release(fig, "recipients_by_kommun", "Recipients per month")

One module per concept: rules and profiles (:mod:`.rules`), cells and relations
(:mod:`.structure`), primary checks (:mod:`.primary`), secondary suppression
(:mod:`.suppression`), the LP audit (:mod:`.audit`), check records (:mod:`.record`),
frequency and cross tables (:mod:`.frequency`), magnitude tables (:mod:`.magnitude`),
percentiles (:mod:`.percentiles`), survival curves (:mod:`.survival`), regression
(:mod:`.regression`), tables released together (:mod:`.linked`), differencing
(:mod:`.differencing`), figures (:mod:`.figures`) and the output request
(:mod:`.release`). See docs/disclosure.md.
"""

from mikrodata.toolkit.disclosure.differencing import ReleasedTable, check_differencing
from mikrodata.toolkit.disclosure.figures import attach, figure, is_checked, require_checked
from mikrodata.toolkit.disclosure.frequency import crosstab, frequency
from mikrodata.toolkit.disclosure.linked import protect_together
from mikrodata.toolkit.disclosure.magnitude import magnitude
from mikrodata.toolkit.disclosure.percentiles import percentiles
from mikrodata.toolkit.disclosure.record import CheckRecord, Finding
from mikrodata.toolkit.disclosure.regression import regression
from mikrodata.toolkit.disclosure.release import OutputRequest, request_release
from mikrodata.toolkit.disclosure.rounding import midpoint6, round_to_base
from mikrodata.toolkit.disclosure.rules import PROFILES, Rules
from mikrodata.toolkit.disclosure.structure import LAN, TOTAL, county_of
from mikrodata.toolkit.disclosure.survival import survival
from mikrodata.toolkit.disclosure.table import CheckedTable

__all__ = [
    "LAN",
    "PROFILES",
    "TOTAL",
    "CheckRecord",
    "CheckedTable",
    "Finding",
    "OutputRequest",
    "ReleasedTable",
    "Rules",
    "attach",
    "check_differencing",
    "county_of",
    "crosstab",
    "figure",
    "frequency",
    "is_checked",
    "magnitude",
    "midpoint6",
    "percentiles",
    "protect_together",
    "regression",
    "request_release",
    "require_checked",
    "round_to_base",
    "survival",
]
