"""The one clock every date check reads (expiry of an approval, the time of an event).

There is no ``today=`` parameter on any public function: a caller who could pass a date
could pass one before an approval's end date. Tests move time by replacing
:func:`today` and :func:`now` here (``monkeypatch.setattr(clock, "today", ...)``).

This module imports nothing of ours, so every layer may import it.
"""

from __future__ import annotations

import datetime as dt

__all__ = ["now", "today"]


def now() -> dt.datetime:
    """The current time, timezone-aware UTC."""
    return dt.datetime.now(dt.UTC)


def today() -> dt.date:
    """Today's date (local), the date an approval's end date is compared with."""
    return dt.date.today()
