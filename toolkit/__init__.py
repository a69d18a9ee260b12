"""mikrodata's working surface: extracts, synthetic registers, the command line.

Importing ``toolkit`` stays light on purpose: the basics every layer may import
(``toolkit.errors``, ``toolkit.atomic``, ``toolkit.progress``) live here, and nothing
heavier is imported until it is used.
"""

from importlib import metadata as _metadata

try:
    __version__ = _metadata.version("mikrodata")
except _metadata.PackageNotFoundError:  # a source tree that is not installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
