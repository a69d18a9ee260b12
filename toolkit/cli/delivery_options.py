"""The options every command that reads a delivery takes: how to read text files
(detected when not given, docs/deliveries.md) and which engine runs the command; the
same names in every command."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

__all__ = ["delivery_options", "engine_option", "read_options"]

_ENCODINGS = ["auto", "utf-8", "utf-8-sig", "latin-1", "cp1252"]
_ENGINES = ["duckdb", "spark"]


def delivery_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Add ``--encoding``, ``--delimiter``, ``--decimal`` and ``--layout``; the command
    receives them as one ``read_options`` (a :class:`quality.delivery.ReadOptions`)."""

    @click.option(
        "--encoding",
        type=click.Choice(_ENCODINGS),
        default="auto",
        show_default=True,
        help="Encoding of text deliveries.",
    )
    @click.option("--delimiter", default=None, help="Separator of CSV files (default: detected).")
    @click.option(
        "--decimal",
        type=click.Choice([",", "."]),
        default=None,
        help="Decimal mark of text files (default: a comma unless it separates fields).",
    )
    @click.option(
        "--layout",
        type=click.Path(dir_okay=False, exists=True, path_type=Path),
        default=None,
        help="Fixed-width layout (YAML; default: <file>.layout.yaml beside the file).",
    )
    @functools.wraps(func)
    def wrapper(*args: Any, encoding, delimiter, decimal, layout, **kwargs: Any) -> Any:
        kwargs["read_options"] = read_options(encoding, delimiter, decimal, layout)
        return func(*args, **kwargs)

    return wrapper


def read_options(encoding: str, delimiter: str | None, decimal: str | None, layout: Path | None):
    from mikrodata.quality.delivery import ReadOptions

    if delimiter == "\\t":
        delimiter = "\t"
    return ReadOptions(encoding=encoding, delimiter=delimiter, decimal=decimal, layout=layout)


def engine_option(on_spark: str, *, spark_does: str = "") -> Callable[..., Any]:
    """``--engine duckdb|spark`` (default duckdb), the command receiving ``engine``.

    The help says what Spark does (``spark_does``, e.g. "select and sort on ") and what
    changes with it (``on_spark``: what it reads and writes); docs/spark.md has the rest."""
    return click.option(
        "--engine",
        type=click.Choice(_ENGINES),
        default="duckdb",
        show_default=True,
        help=f"duckdb: this machine, streaming. spark: {spark_does}the active (or a new) "
        f"SparkSession, e.g. under spark-submit; {on_spark} (docs/spark.md).",
    )
