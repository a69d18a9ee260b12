"""The researcher's toolkit: spells, official measures, linkage, panels, survival and
figures, on ordinary pandas frames, Arrow tables or DuckDB relations with the extract's
column names (``lopnr``, ``lopnr_hushall``, ``statistikar``, ``manad``, ...).

::

    from mikrodata.toolkit.analysis import spells, long_term
    s = spells(eb, gap=1)           # or mikrodata.spells(...)

One module per concept: :mod:`.spells`, :mod:`.measures`, :mod:`.linkage`,
:mod:`.panels`, :mod:`.survival`, :mod:`.figures`; :mod:`.engine` and :mod:`.dialect`
run the SQL definitions. ``docs/analysis.md`` defines every column exactly.
"""

from .engine import Engine
from .figures import (
    duration_figure,
    duration_table,
    kommun_figure,
    kommun_table,
    recipients_figure,
    recipients_table,
    sequence_figure,
    sequence_table,
    survival_figure,
    survival_table,
    write_html,
)
from .linkage import (
    INTERVAL_REGISTERS,
    deaths,
    demographics,
    events_near,
    overlaps,
    register_intervals,
)
from .measures import LONG_TERM_MONTHS, VERY_LONG_TERM_YEARS, long_term, official_counts
from .panels import event_time, panel, sequences
from .spells import (
    ISSUE_REASONS,
    IssuesWarning,
    SpellResult,
    build_spells,
    spell_issues,
    spells,
    to_annual,
)
from .survival import kaplan_meier, log_rank, numbers_at_risk, reentry_durations, spell_durations

__all__ = [
    "INTERVAL_REGISTERS",
    "ISSUE_REASONS",
    "LONG_TERM_MONTHS",
    "VERY_LONG_TERM_YEARS",
    "Engine",
    "IssuesWarning",
    "SpellResult",
    "build_spells",
    "deaths",
    "demographics",
    "duration_figure",
    "duration_table",
    "event_time",
    "events_near",
    "kaplan_meier",
    "kommun_figure",
    "kommun_table",
    "log_rank",
    "long_term",
    "numbers_at_risk",
    "official_counts",
    "overlaps",
    "panel",
    "recipients_figure",
    "recipients_table",
    "reentry_durations",
    "register_intervals",
    "sequence_figure",
    "sequence_table",
    "sequences",
    "spell_durations",
    "spell_issues",
    "spells",
    "survival_figure",
    "survival_table",
    "to_annual",
    "write_html",
]
