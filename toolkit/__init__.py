"""mikrodata's working surface: extracts, synthetic registers, the command line.

Importing ``toolkit`` stays light on purpose: the basics every layer may import
(``toolkit.errors``, ``toolkit.atomic``, ``toolkit.progress``) live here, and nothing
heavier is imported until it is used.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("mikrodata")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
