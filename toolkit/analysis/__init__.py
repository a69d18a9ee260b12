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

from .measures import LONG_TERM_MONTHS, VERY_LONG_TERM_YEARS, long_term, official_counts
from .spells import (
    ISSUE_REASONS,
    IssuesWarning,
    SpellResult,
    build_spells,
    spell_issues,
    spells,
    to_annual,
)

__all__ = [
    "ISSUE_REASONS",
    "IssuesWarning",
    "LONG_TERM_MONTHS",
    "VERY_LONG_TERM_YEARS",
    "SpellResult",
    "build_spells",
    "long_term",
    "official_counts",
    "spell_issues",
    "spells",
    "to_annual",
]
