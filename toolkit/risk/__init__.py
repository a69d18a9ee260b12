"""Re-identification risk of a project extract: measure it, per record and per person
over time, and lower it with recorded coarsening (docs/risk.md).

::

    from mikrodata.toolkit.risk import extract_risk, k_anonymity, coarsen, step_from_dict
    extract_risk(extract="extract/", out="risk/")          # risk.json + risk.html
    k_anonymity(df, ["birth_year", "sex", "kommun"])        # a plain table
    coarsen(df, [step_from_dict({"step": "band", "column": "birth_year", "width": 5})])

Modules: ``roles`` (which columns are quasi-identifiers, from the catalogue),
``measures`` (cross-section: classes, k, below-k, l-diversity), ``longitudinal``
(trajectory k, unicity), ``assess`` (a whole extract), ``coarsen`` (the steps, a pure
function of a table), ``ladders`` (the steps each column can take), ``search`` (the
least coarsening that meets the rules), ``special_uniques`` (optional SUDA scores),
``sources`` (built or planned extracts), ``report`` and ``run``.
"""

from .assess import DEFAULT_POINTS, Assessment, Driver, assess, drivers
from .coarsen import (
    STEP_KINDS,
    Band,
    KommunToLan,
    MergeCodes,
    MonthToQuarter,
    Step,
    Suppress,
    TopCode,
    TruncateDate,
    applies,
    cells_changed,
    coarsen,
    coarsen_sql,
    step_from_dict,
    steps_from_list,
    steps_to_list,
)
from .ladders import next_steps
from .longitudinal import Trajectory, Unicity, trajectory, unicity
from .measures import CrossSection, LDiversity, class_sizes, cross_section, k_anonymity, l_diversity
from .roles import PERSON_PSEUDONYM, ColumnRoles, column_roles
from .run import extract_risk, request_targets
from .search import Applied, Measured, SearchResult, Targets, apply_steps, search
from .sources import extract_tables, planned_tables
from .tables import RiskTable, risk_table

__all__ = [
    "DEFAULT_POINTS",
    "PERSON_PSEUDONYM",
    "STEP_KINDS",
    "Applied",
    "Assessment",
    "Band",
    "ColumnRoles",
    "CrossSection",
    "Driver",
    "KommunToLan",
    "LDiversity",
    "Measured",
    "MergeCodes",
    "MonthToQuarter",
    "RiskTable",
    "SearchResult",
    "Step",
    "Suppress",
    "Targets",
    "TopCode",
    "Trajectory",
    "TruncateDate",
    "Unicity",
    "applies",
    "apply_steps",
    "assess",
    "cells_changed",
    "class_sizes",
    "coarsen",
    "coarsen_sql",
    "column_roles",
    "cross_section",
    "drivers",
    "extract_risk",
    "extract_tables",
    "k_anonymity",
    "l_diversity",
    "next_steps",
    "planned_tables",
    "request_targets",
    "risk_table",
    "search",
    "step_from_dict",
    "steps_from_list",
    "steps_to_list",
    "trajectory",
    "unicity",
]
