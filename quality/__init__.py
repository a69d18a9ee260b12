"""Data quality: the variable catalogue (``quality.catalogue``), expectation suites built
from it, and the missingness and variable-history reports.

Import the parts you need from their modules; the package itself exports nothing so that
``import quality.catalogue`` stays light (no Great Expectations import).
"""

__all__: list[str] = []
