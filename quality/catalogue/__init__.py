"""The variable catalogue: one YAML file per register, the spine of mikrodata.

Everything that needs to know a register's variables, types, code lists or their
history reads it from here and repeats none of it::

    from mikrodata.quality.catalogue import load
    eb = load("ekonomiskt_bistand")
    eb.variables_in(2015)               # variables that exist in 2015
    eb.codes_in("hushallstyp", 2015)    # codes valid in 2015
    eb.history()                        # change events with year and source
"""

from ._load import CATALOGUE_DIR, catalogue_version, load, load_file, registers
from ._model import ChangeEvent, Code, CodeList, Reference, Register, Variable

__all__ = [
    "CATALOGUE_DIR",
    "ChangeEvent",
    "Code",
    "CodeList",
    "Reference",
    "Register",
    "Variable",
    "catalogue_version",
    "load",
    "load_file",
    "registers",
]
