"""``mikrodata pseudonymise --engine spark``: read a Parquet delivery with Spark, write
the pseudonymised rows and the rejects as Parquet dataset folders, each whole or not at
all (written beside the target, then renamed into place)."""

from __future__ import annotations

from pathlib import Path

from mikrodata.pseudonymisation import FileResult, SparkPseudonymResult, reject_path_for
from mikrodata.toolkit.atomic import atomic_directory
from mikrodata.toolkit.errors import BadInputError

__all__ = ["read_delivery", "spark_session", "write_result"]

_PARQUET = (".parquet", ".pq")


def spark_session():
    """The SparkSession of this process: the one spark-submit (or a notebook) made, else
    a new local one."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise BadInputError(
            "--engine spark needs pyspark, which is not installed",
            "pip install 'mikrodata[spark]' (and a JDK 17 or later)",
        ) from None
    active = SparkSession.getActiveSession()
    return active or SparkSession.builder.appName("mikrodata").getOrCreate()


def read_delivery(in_path: Path, out_path: Path):
    """The delivery as a Spark DataFrame (a Parquet file or dataset folder)."""
    if in_path.suffix.lower() not in _PARQUET or not in_path.exists():
        raise BadInputError(
            f"--engine spark reads a Parquet file or dataset folder, not {in_path.name}",
            "check the path, or convert the delivery to Parquet "
            "(or pseudonymise it with --engine duckdb)",
        )
    if out_path.suffix.lower() not in _PARQUET:
        raise BadInputError(
            f"--engine spark writes Parquet, not {out_path.name}", "name --out <name>.parquet"
        )
    if in_path.resolve() in {out_path.resolve(), reject_path_for(out_path).resolve()}:
        raise BadInputError("the output would overwrite the input", "choose another --out")
    # Absolute: the JVM resolves relative paths against its own working directory.
    return spark_session().read.parquet(str(in_path.resolve()))


def write_result(result: SparkPseudonymResult, out_path: Path) -> FileResult:
    """Write the rows and the rejects; both appear together, or neither does."""
    out_path = out_path.resolve()  # for the JVM, as above
    reject_path = reject_path_for(out_path)
    try:
        with atomic_directory(out_path) as out_tmp, atomic_directory(reject_path) as rej_tmp:
            result.table.write.mode("overwrite").parquet(str(out_tmp))
            result.rejected.write.mode("overwrite").parquet(str(rej_tmp))
    finally:
        result.unpersist()
    return FileResult(
        rows_in=result.rows_in,
        rows_out=result.rows_out,
        rows_rejected=result.rows_rejected,
        out_path=out_path,
        reject_path=reject_path,
        key_id=result.key_id,
        distinct=result.distinct,
    )
