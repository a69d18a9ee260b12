"""Quality review of register deliveries and extracts, built on the variable catalogue.

- :mod:`quality.catalogue`: the catalogue itself (one YAML file per register);
- :func:`run_quality`: Great Expectations 1.x suites per register and year, offline
  Data Docs and a masked summary (``mikrodata quality run``);
- :func:`write_missingness`: structural versus item missingness
  (``mikrodata quality missingness``);
- :func:`write_history`: documented versus observed variable history
  (``mikrodata quality history``).

The names below are imported on first use, so ``import quality.catalogue`` does not
load Great Expectations.
"""

import importlib as _importlib
import os as _os
import warnings as _warnings

# Every quality module that imports Great Expectations is imported after this package
# file, so usage statistics are off before GX loads, whatever a module imports first.
_os.environ["GX_ANALYTICS_ENABLED"] = "False"
# Great Expectations imports pyspark when it is installed (the spark extra), and pyspark
# warns on import that it does not yet support pandas 3: a warning about a library GX
# loads, not about anything a reviewer does, printed on every quality command. Only that
# one warning is silenced.
_warnings.filterwarnings(
    "ignore", message="PySpark does not yet fully support pandas", category=FutureWarning
)

__all__ = [
    "ExpectationOutcome",
    "HistoryReport",
    "MissingnessReport",
    "QualityReport",
    "build_period_suite",
    "build_suite",
    "compute_history",
    "make_offline",
    "compute_missingness",
    "remote_references",
    "run_quality",
    "write_history",
    "write_missingness",
]

_WHERE = {
    "ExpectationOutcome": "mikrodata.quality.run",
    "QualityReport": "mikrodata.quality.run",
    "run_quality": "mikrodata.quality.run",
    "build_suite": "mikrodata.quality.suites",
    "build_period_suite": "mikrodata.quality.suites",
    "MissingnessReport": "mikrodata.quality.missingness",
    "compute_missingness": "mikrodata.quality.missingness",
    "write_missingness": "mikrodata.quality.missingness",
    "HistoryReport": "mikrodata.quality.history_report",
    "compute_history": "mikrodata.quality.history_report",
    "write_history": "mikrodata.quality.history_report",
    "make_offline": "mikrodata.quality.datadocs",
    "remote_references": "mikrodata.quality.datadocs",
}


def __getattr__(name: str) -> object:
    if name not in _WHERE:
        raise AttributeError(f"module 'quality' has no attribute {name!r}")
    value = getattr(_importlib.import_module(_WHERE[name]), name)
    globals()[name] = value  # cache: later lookups skip this function
    return value
