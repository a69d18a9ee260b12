"""A new request's starting text: the example request with the project id filled in."""

from __future__ import annotations

import re
from pathlib import Path

__all__ = ["EXAMPLE_REQUEST", "request_template"]

EXAMPLE_REQUEST = Path(__file__).parent / "examples" / "example_project.yaml"


def request_template(project: str) -> str:
    """The example request, for ``project``: a complete file to edit, valid as it is."""
    text = EXAMPLE_REQUEST.read_text(encoding="utf-8")
    return re.sub(r"(?m)^project: .*$", f"project: {project}", text, count=1)
