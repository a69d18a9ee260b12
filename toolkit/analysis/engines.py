"""Choosing the engine a computation runs on: ``engine="duckdb"`` (the default, embedded)
or ``engine="spark"`` (the same SQL definitions on a SparkSession, :mod:`.spark`)."""

from __future__ import annotations

from mikrodata.toolkit.errors import BadInputError

from .engine import Engine
from .spark import SparkEngine

__all__ = ["ENGINES", "open_engine"]

ENGINES = ("duckdb", "spark")


def open_engine(engine: object = None, spark: object = None) -> tuple[Engine | SparkEngine, bool]:
    """The engine a computation runs on, and whether it is the caller's to close.

    ``engine``: ``None`` or ``"duckdb"`` (a new embedded DuckDB), ``"spark"`` (a
    :class:`~.spark.SparkEngine` on ``spark``, a SparkSession, or the active one), or an
    engine already open (the caller keeps it)."""
    if engine is None or engine == "duckdb":
        return Engine(), True
    if engine == "spark":
        return SparkEngine(spark), True
    if isinstance(engine, (Engine, SparkEngine)):
        return engine, False
    raise BadInputError(
        f"engine {engine!r} is unknown",
        "Use engine='duckdb' (the default) or engine='spark' with spark=<SparkSession>",
    )
