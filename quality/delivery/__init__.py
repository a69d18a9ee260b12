"""Deliveries as register holders send them: one reader for every format.

See :mod:`quality.delivery.reader` (formats, typing, rejects) and
:mod:`quality.delivery.stage` (a delivery as Parquet for the DuckDB-based commands).
"""

from .convert import ARROW_TYPES, to_catalogue_type
from .reader import (
    FILE_COLUMN,
    FORMATS,
    ROW_COLUMN,
    Delivery,
    ReadOptions,
    delivery_format,
    open_delivery,
)
from .text import Layout, load_layout

__all__ = [
    "ARROW_TYPES",
    "FILE_COLUMN",
    "FORMATS",
    "ROW_COLUMN",
    "Delivery",
    "Layout",
    "ReadOptions",
    "delivery_format",
    "load_layout",
    "open_delivery",
    "to_catalogue_type",
]
