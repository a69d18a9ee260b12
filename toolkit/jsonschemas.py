"""JSON Schema validation without a slow import.

``import jsonschema`` also imports its optional format checkers, and one of them,
``rfc3987_syntax`` (installed alongside Jupyter), builds a parser grammar at import time:
about four seconds, most of the start-up of a command that touches no data. None of our
schemas uses ``format``, so that one module is kept out while jsonschema loads, and
nothing else changes (later imports of it by other code work as usual).

This module imports nothing of ours, so every layer may import it.
"""

from __future__ import annotations

import sys
from typing import Any

__all__ = ["best_error", "best_match", "validator"]

_SLOW_OPTIONAL = "rfc3987_syntax"


def _jsonschema() -> Any:
    if "jsonschema" not in sys.modules and _SLOW_OPTIONAL not in sys.modules:
        sys.modules[_SLOW_OPTIONAL] = None  # type: ignore[assignment]  # import fails fast
        try:
            import jsonschema
        finally:
            del sys.modules[_SLOW_OPTIONAL]
        return jsonschema
    import jsonschema

    return jsonschema


def validator(schema: dict[str, Any]) -> Any:
    """A Draft 2020-12 validator for ``schema``."""
    return _jsonschema().Draft202012Validator(schema)


def best_error(schema: dict[str, Any], instance: Any) -> Any:
    """The most relevant error of ``instance`` against ``schema``, or None if it is valid."""
    errors = list(validator(schema).iter_errors(instance))
    return _jsonschema().exceptions.best_match(errors) if errors else None


def best_match(errors: list[Any]) -> Any:
    """jsonschema's choice of the most relevant of ``errors``."""
    return _jsonschema().exceptions.best_match(errors)
