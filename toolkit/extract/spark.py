"""One register through the extract pipeline on Spark (``build_extract(engine="spark")``).

The same steps as :mod:`.pipeline`, from the same definitions: the delivered Parquet
files are read by Spark (each row with its file and row number), the distinct person
identifiers are parsed once by the project's parser in an Arrow UDF, the approved rows
are selected by the one selection SQL (:func:`.pipeline._select_sql`, as Spark SQL), the
identifiers are pseudonymised by the Spark engine of :mod:`mikrodata.pseudonymisation.
spark` (the project key only in the UDF's payload; every batch read for residual
personnummer), and the rows are written sorted by the extract's total order
(:func:`.pipeline.output_order`) as Parquet parts ``<register>/part-<i>.parquet``, in row
order. The reject records (whole rows, raw identifiers included, as on one machine) come
to the driver, the steward's host, and are written there (mode 0600).

What is not on Spark: deliveries in other formats than Parquet (stage them with the
one-machine build, or convert them) and coarsening; both are refused with a
:class:`~mikrodata.toolkit.errors.BadInputError` before anything is written.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import pyarrow as pa
import pyarrow.parquet as pq

from mikrodata.access_requests import POPULATION_REGISTER, AccessRequest
from mikrodata.pseudonymisation import ProjectKey
from mikrodata.pseudonymisation.spark import (
    SparkPseudonymResult,
    local_arrow,
    pseudonymise_spark,
)
from mikrodata.quality.catalogue import load
from mikrodata.quality.delivery.stage import delivery_path
from mikrodata.toolkit.atomic import private_file
from mikrodata.toolkit.errors import BadInputError, IntegrityError
from mikrodata.toolkit.progress import progress
from mikrodata.toolkit.rejects import reject_schema

from .columns import RegisterSpec
from .parsed import parsed_batch
from .pipeline import RegisterResult, _select_sql, output_order, spark_quote
from .population import TABLE as POPULATION
from .population import PopulationResult, _read_cohort, _valid_normalised
from .source import source_files

__all__ = ["build_population_spark", "check_spark_build", "run_register_spark"]

q = spark_quote

_IDS_SCHEMA = (
    "raw STRING, normalised STRING, kind STRING, reason STRING, birth_date DATE, sex STRING"
)


def check_spark_build(registers_dir: Path, registers: list[str], coarsening: list) -> None:
    """Refuse, before anything is written, what the Spark build does not do yet."""
    if coarsening:
        raise BadInputError(
            "the request coarsens variables, which the Spark build does not do yet",
            "Build this extract with engine='duckdb' (--engine duckdb)",
        )
    for register in registers:
        found = delivery_path(Path(registers_dir), register)
        if found is not None and found[1] != "parquet":
            raise BadInputError(
                f"register {register} is not delivered as Parquet; the Spark build reads "
                "Parquet only",
                "Convert the delivery to Parquet, or build with engine='duckdb'",
            )


def _parse_batches(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """The UDF: each distinct delivered identifier parsed by the project's parser, as
    the one-machine build's ``ids`` table (runs on the executors)."""
    for batch in batches:
        yield parsed_batch(batch.column(0).cast(pa.string()))


def _read(spark: Any, registers_dir: Path, register: str) -> Any:
    """The register's delivered Parquet files as a Spark DataFrame with ``_file`` (the
    file, relative to ``registers_dir``, as one machine names it) and ``_row`` (its row
    number in that file, from 1). Hive folders (``statistikar=2015/``) are columns."""
    from pyspark.sql import functions as F

    root = Path(registers_dir).resolve()
    files = [str(Path(f).resolve()) for f in source_files(Path(registers_dir), register)]
    reader = spark.read.option("mergeSchema", "true")
    folder = root / register
    if folder.is_dir():
        reader = reader.option("basePath", str(folder))
    df = reader.parquet(*files)
    df = df.select(
        "*",
        F.col("_metadata.file_path").alias("__path"),
        (F.col("_metadata.row_index") + 1).cast("long").alias("_row"),
    )
    # The few distinct file URIs, named on the driver as one machine names them.
    uris = [r[0] for r in df.select("__path").distinct().collect()]
    names = {}
    for uri in uris:
        path = Path(unquote(urlparse(uri).path))
        names[uri] = path.relative_to(root).as_posix() if root in path.parents else str(path)
    mapping = F.create_map(*[F.lit(x) for kv in sorted(names.items()) for x in kv])
    return df.withColumn("_file", mapping[F.col("__path")]).drop("__path")


def _ids(spark: Any, src: str, spec: RegisterSpec, years: str) -> None:
    """The view ``ids``: the distinct person identifiers of the approved years, parsed."""
    raw = spark.sql(
        f"SELECT DISTINCT CAST({q(spec.person)} AS STRING) AS raw FROM {src} "
        f"WHERE {q(spec.year_column)} IN ({years})"
    )
    raw.mapInArrow(_parse_batches, _IDS_SCHEMA).createOrReplaceTempView("ids")


def build_population_spark(
    spark: Any, request: AccessRequest, registers_dir: Path
) -> PopulationResult:
    """The view ``population(normalised)`` for ``request``, as
    :func:`.population.build_population` makes the table: the valid identifiers of the
    cohort file (read on the driver), or of the persons in the register in the
    population years (on Spark)."""
    pop = request.population
    rejected = None
    if pop.type == "cohort_file":
        values, rejected = _valid_normalised(
            _read_cohort(pop.file, pop.column), Path(pop.file).name, pop.column
        )
        table = spark.createDataFrame(pa.table({"normalised": values}))
    else:
        reg = load(POPULATION_REGISTER)
        person = next(v.name for v in reg.direct_identifiers() if v.identifier_domain == "person")
        year = next(p for p in reg.period if reg.variable(p).unit == "year")
        _read(spark, registers_dir, POPULATION_REGISTER).createOrReplaceTempView("pop_src")
        years = ", ".join(str(int(y)) for y in pop.years)
        raw = spark.sql(
            f"SELECT DISTINCT CAST({q(person)} AS STRING) AS raw FROM pop_src "
            f"WHERE {q(year)} IN ({years})"
        )
        table = (
            raw.mapInArrow(_parse_batches, _IDS_SCHEMA)
            .where("reason IS NULL AND kind <> 'interim'")
            .select("normalised")
        )
    # Not cached: the executors keep no normalised identifiers between the steps.
    population = table.distinct()
    population.createOrReplaceTempView(POPULATION)
    return PopulationResult(type=pop.type, persons=population.count(), rejected=rejected)


def _move_parts(written: Path, target: Path) -> list[Path]:
    """Spark's part files, in name (= row) order, as ``part-<i>.parquet``; nothing else
    of Spark's (checksums, ``_SUCCESS``) stays."""
    parts = sorted(p for p in written.glob("part-*") if p.suffix == ".parquet")
    target.mkdir(parents=True, exist_ok=True)
    moved = []
    for i, part in enumerate(parts):
        dest = target / f"part-{i}.parquet"
        part.replace(dest)
        moved.append(dest)
    shutil.rmtree(written)
    return moved


def run_register_spark(
    spark: Any,
    spec: RegisterSpec,
    registers_dir: Path,
    out_dir: Path,
    reject_dir: Path,
    key: ProjectKey,
) -> tuple[RegisterResult, SparkPseudonymResult]:
    """Build ``out_dir/<register>/part-<i>.parquet`` on Spark; rejects to ``reject_dir``.
    Returns the counts and the pseudonymised rows (for the collision check across the
    build's registers; unpersist them after)."""
    from pyspark.sql import functions as F

    src = f"src_{spec.register}"
    source = _read(spark, registers_dir, spec.register)
    source.createOrReplaceTempView(src)
    needed = [c.delivered for c in spec.columns if c.role != "derived"]
    needed += [spec.year_column] + ([spec.month_column] if spec.month_column else [])
    missing = sorted(set(needed) - set(source.columns))
    if missing:
        raise BadInputError(
            f"register {spec.register}: the delivered files have no column " + ", ".join(missing),
            "Deliver every approved variable (names as in the catalogue)",
        )
    years = ", ".join(str(int(y)) for y in spec.years)
    _ids(spark, src, spec, years)
    row = spark.sql(
        f"SELECT count(*), collect_set({q(spec.year_column)}) FROM {src} "
        f"WHERE {q(spec.year_column)} IN ({years})"
    ).collect()[0]
    rows_read, years_found = int(row[0]), tuple(sorted(int(y) for y in row[1]))
    with progress(f"extract {spec.register} (Spark)", total=rows_read) as task:
        selected = spark.sql(_select_sql(src, spec, years, True, dialect="spark"))
        result = pseudonymise_spark(
            selected.drop("_unusable"),
            key,
            spec.pseudonymised,
            spark=spark,
            allow_null=spec.nullable_pseudonyms,
            check_residual=False,
            residual_in_tasks=True,
            source=spec.register,
            source_columns=("_file", "_row"),
            with_identifiers=True,
            collisions=False,  # checked across the build's registers (check_collisions)
        )
        renamed = result.table.select(*[F.col(c.delivered).alias(c.name) for c in spec.columns])
        ordered = renamed.orderBy(*[F.col(c).asc_nulls_last() for c in output_order(spec)])
        work = out_dir / ".work" / f"{spec.register}.spark"
        # Absolute: the JVM resolves relative paths against its own working directory.
        ordered.write.mode("overwrite").option("compression", "zstd").parquet(str(work.resolve()))
        parts = _move_parts(work, out_dir / spec.register)
        rows_out = sum(pq.ParquetFile(p).metadata.num_rows for p in parts)
        if result.rows_rejected:
            rejects = local_arrow(result.rejected.toArrow())
            rejects = rejects.cast(reject_schema(_reject_values(spec)))
            rejects_path = reject_dir / f"{spec.register}.parquet"
            rejects_path.parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(rejects, private_file(rejects_path))
        task.advance(rows_read)
    if not parts:
        raise IntegrityError(
            f"register {spec.register}: Spark wrote no file", "This is a bug; please report it"
        )
    if result.rows_in != rows_out + result.rows_rejected:
        raise IntegrityError(
            f"register {spec.register}: {result.rows_in} rows in but {rows_out} out and "
            f"{result.rows_rejected} rejected",
            "This is a bug; the extract was not written. Please report it",
        )
    counts = RegisterResult(
        register=spec.register,
        rows_read=rows_read,
        rows_outside_population=rows_read - result.rows_in,
        rows_in=result.rows_in,
        rows_out=rows_out,
        rows_rejected=result.rows_rejected,
        years_found=years_found,
        file=parts[0],
        parts=tuple(parts),
    )
    return counts, result


def _reject_values(spec: RegisterSpec) -> pa.Schema:
    """The reject records' value columns: every selected column under its delivered
    name, in the selection's order (as on one machine)."""
    return pa.schema([pa.field(c.delivered, pa.string()) for c in spec.columns])
