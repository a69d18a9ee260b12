"""Synthetic registers that behave like the real ones, read from the catalogue.

``generate`` writes one hive-partitioned Parquet dataset per register (``befolkning``,
``ekonomiskt_bistand``, ``barn_unga``, ``lss``, ``sol_insatser``, ``dodsorsak``) and a
``ground_truth`` folder (``persons.parquet``, ``faults.parquet``, ``manifest.json``);
``realism_report`` compares the output with the published figures. See
``docs/synthetic.md`` for the model.
"""

from .faults import FAULT_KINDS, FAULT_SCHEMA
from .generate import DEFAULT_CHUNK, GROUND_TRUTH, REGISTERS, SynthResult, generate, parse_years
from .identifiers import BirthNumberAllocator, identifier_strings
from .read import read_register
from .report import PUBLISHED, RealismRow, realism_report

__all__ = [
    "DEFAULT_CHUNK",
    "FAULT_KINDS",
    "FAULT_SCHEMA",
    "GROUND_TRUTH",
    "PUBLISHED",
    "REGISTERS",
    "BirthNumberAllocator",
    "RealismRow",
    "SynthResult",
    "generate",
    "identifier_strings",
    "parse_years",
    "read_register",
    "realism_report",
]
