"""Pseudonymising a delivery on Spark: the same verdicts, pseudonyms and reject records
as on one machine, bit for bit, for tables past one machine.

::

    result = pseudonymise_table(df, key, {"personnummer": "person"},
                                engine="spark", spark=spark)
    result.table.write.parquet(...)         # Spark DataFrames, on the cluster
    result.rows_in == result.rows_out + result.rows_rejected

How it runs. The project's own code does the work, in a vectorised Arrow UDF
(``mapInArrow``): each partition's Arrow batches go through the same
:class:`~.pseudonyms.ColumnPseudonymiser` the one-machine path uses (the same parser,
the same HMAC-SHA256, one pseudonym map per partition so a person is hashed once per
partition), so nothing is re-implemented and the results are identical. (Spark's
built-in ``hmac`` would put the key into the query as a literal, where ``explain()``,
the Spark UI and the event log show it.)

The key. The project key reaches the executors inside the serialised Python function
of the UDF (the task's payload), never as a literal, a configuration value or a
column: query plans name the function only, and the key is in no log, no plan and no
page of the Spark UI (a test reads ``explain(True)``, the event log and the logs). On a
cluster, switch on Spark's RPC authentication and encryption, so the payload is
encrypted in transit (docs/spark.md).

Row numbers. A rejected row's ``row_number`` is its 1-based position in the input: for
a pandas or Arrow table its index, for a Spark DataFrame its position in partition
order (for files read by Spark, the order of the file splits).

Collisions. Two distinct identifiers with one pseudonym are caught across the whole
table: each valid identifier also gets a check code under a key derived from the
project key; a pseudonym with two check codes is a collision (IntegrityError). The
check codes, like the pseudonyms, reveal nothing of the identifiers.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import hmac
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mikrodata.toolkit.errors import BadInputError, IntegrityError

from .keystore import ProjectKey
from .pseudonyms import REJECT_REASONS, ColumnPseudonymiser, hex_pseudonyms
from .tables import Pseudonymiser, PseudonymResult

__all__ = [
    "SparkPseudonymResult",
    "check_collisions",
    "local_arrow",
    "pseudonymise_spark",
    "spark_session_of",
    "with_row_numbers",
]

_REASON_ARRAY = pa.array(REJECT_REASONS, pa.string())
_ROW, _COLUMN, _REASON, _REJECTED = "__row_number", "__column", "__reason", "__rejected"
_CHECK_TAG = b"mikrodata/spark/collision-check/v1"


def spark_session_of(data: object, spark: object = None) -> Any:
    """The SparkSession to use: ``spark``, that of a Spark DataFrame, or the active
    one; a clear error without one (or without pyspark)."""
    if (
        spark is None
        and hasattr(data, "sparkSession")
        and type(data).__module__.startswith("pyspark.")
    ):
        spark = data.sparkSession  # type: ignore[attr-defined]
    if spark is None:
        try:
            from pyspark.sql import SparkSession
        except ImportError:
            raise BadInputError(
                "engine='spark' needs pyspark, which is not installed",
                "pip install 'mikrodata[spark]' (and a JDK 17 or later)",
            ) from None
        spark = SparkSession.getActiveSession()
    if spark is None or not hasattr(spark, "sql"):
        raise BadInputError(
            "engine='spark' needs a SparkSession",
            "pass spark=SparkSession.builder.getOrCreate() (docs/spark.md)",
        )
    return spark


def local_arrow(table: pa.Table) -> pa.Table:
    """Spark's Arrow result in the types DuckDB's has: ``large_string`` and
    ``large_binary`` (Spark's large variable-width types) become the plain ones."""
    fields = []
    for f in table.schema:
        t = f.type
        if pa.types.is_large_string(t):
            t = pa.string()
        elif pa.types.is_large_binary(t):
            t = pa.binary()
        fields.append(pa.field(f.name, t, f.nullable))
    schema = pa.schema(fields)
    return table if schema == table.schema else table.cast(schema)


def with_row_numbers(df: Any, name: str, start: int = 1) -> Any:
    """``df`` with ``name``: each row's position in partition order, from ``start``.

    One counting pass gives each partition's rows; a row's number is its partition's
    offset plus its place in the partition (what ``monotonically_increasing_id`` keeps
    in its low 33 bits). No shuffle, no single-partition window."""
    from pyspark.sql import functions as F

    pid = F.spark_partition_id()
    counts = dict(df.select(pid.alias("p")).groupBy("p").count().collect())
    n_parts = max(counts, default=-1) + 1
    offsets, total = [], start
    for p in range(n_parts):
        offsets.append(total)
        total += counts.get(p, 0)
    if not offsets:
        return df.withColumn(name, F.lit(None).cast("long"))
    inside = F.monotonically_increasing_id() - F.shiftleft(pid.cast("long"), 33)
    offset = F.element_at(F.array(*[F.lit(o).cast("long") for o in offsets]), pid + 1)
    return df.withColumn(name, offset + inside)


class _ExecutorKey:
    """The project key on its way to the executors, inside the UDF's serialised payload
    (a :class:`ProjectKey` refuses to be pickled, so that it never lands in a cache or a
    checkpoint by accident; this carrier is the one deliberate exception). Its repr
    names the key id only."""

    __slots__ = ("_secret", "key_id", "project", "version")

    def __init__(self, project: str, version: int, secret: bytes) -> None:
        self.project, self.version, self._secret = project, version, secret
        self.key_id = ProjectKey(project, version, secret).key_id

    @classmethod
    def of(cls, key: ProjectKey) -> _ExecutorKey:
        return cls(key.project, key.version, key._secret)

    def __reduce__(self) -> Any:
        return (_ExecutorKey, (self.project, self.version, self._secret))

    def __repr__(self) -> str:
        return f"ExecutorKey({self.key_id})"

    __str__ = __repr__

    def project_key(self) -> ProjectKey:
        return ProjectKey(self.project, self.version, self._secret)

    def check_key(self) -> ProjectKey:
        """The key of the collision check codes: derived one-way from the project key."""
        secret = hmac.digest(self._secret, _CHECK_TAG, "sha256")
        return ProjectKey(self.project, self.version, secret)


def _join(parts: list[pa.Array]) -> pa.Array:
    """Join non-null strings element-wise with ';' (null where all are null)."""
    joined = parts[0]
    for part in parts[1:]:
        both = pc.binary_join_element_wise(joined, part, ";")
        joined = pc.coalesce(both, joined, part)
    return joined


@dataclasses.dataclass(frozen=True)
class _Plan:
    """What every partition needs (pickled with the UDF; the key's repr hides it)."""

    key: _ExecutorKey
    columns: tuple[tuple[str, str], ...]
    reference_date: dt.date
    allow_interim: bool
    allow_null: frozenset[str]
    nbytes: int | None
    names: tuple[str, ...]  # the input's columns, in order (with the row numbers last)
    large: bool  # strings as large_string (Spark's Arrow setting)
    residual: bool = False  # read every batch for personnummer in other columns
    raw_rejected: bool = False  # keep the identifiers as delivered on rejected rows only


_RESIDUAL = "look like personnummer but are not pseudonymised"


def _pseudonymise_partition(plan: _Plan, batches: Iterator[pa.RecordBatch]):
    """The UDF: each batch's identifier columns as pseudonyms, with per-row verdicts,
    reject columns and reasons and the check codes. Runs on the executors."""
    key, check_key = plan.key.project_key(), plan.key.check_key()
    domains = sorted({d for _, d in plan.columns})
    options = {"reference_date": plan.reference_date, "allow_interim": plan.allow_interim}
    main = {d: ColumnPseudonymiser(key, d, nbytes=plan.nbytes, **options) for d in domains}
    check = {d: ColumnPseudonymiser(check_key, d, **options) for d in domains}
    text = pa.large_string() if plan.large else pa.string()
    identifier = dict(plan.columns)
    for batch in batches:
        n = batch.num_rows
        if plan.residual:
            from .residual import residual_identifiers
            from .tables import residual_message

            # Every value, as on one machine (the columns named _... are bookkeeping).
            data = [c for c in batch.schema.names if not c.startswith("_")]
            found = residual_identifiers(batch.select(data), set(identifier), plan.reference_date)
            if found:
                raise IntegrityError(residual_message(found), "nothing was written")
        rejected = np.zeros(n, dtype=bool)
        pseudonyms, checks, names, reasons = {}, [], [], []
        for name, domain in plan.columns:
            allow_null = name in plan.allow_null
            prepared = main[domain].prepare(batch.column(name))
            codes, reason, valid = main[domain].resolve(prepared, allow_null)
            check_codes = check[domain].resolve(prepared, allow_null)[0]
            pseudonyms[name] = hex_pseudonyms(codes, valid).cast(text)
            checks.append(pa.array(check_codes.view(np.int64), mask=~valid))
            bad = reason != 0
            rejected |= bad
            reasons.append(_REASON_ARRAY.take(pa.array(reason)))
            names.append(pc.if_else(pa.array(bad), pa.scalar(name), pa.scalar(None, pa.string())))
        arrays = [pseudonyms[c] if c in identifier else batch.column(c) for c in plan.names]
        arrays += [_join(names).cast(text), _join(reasons).cast(text), pa.array(rejected)]
        raw = []
        if plan.raw_rejected:  # the reject records' values; null on the rows kept
            keep_out = pa.scalar(None, text)
            raw = [
                pc.if_else(pa.array(rejected), pc.cast(batch.column(c), text), keep_out)
                for c, _ in plan.columns
            ]
        yield pa.RecordBatch.from_arrays(
            arrays + checks + raw,
            names=[*plan.names, _COLUMN, _REASON, _REJECTED]
            + [f"__check_{i}" for i in range(len(checks))]
            + [f"__raw_{i}" for i in range(len(raw))],
        )


@dataclasses.dataclass(frozen=True)
class SparkPseudonymResult:
    """The pseudonymised table and the rejected rows as Spark DataFrames (on the
    cluster), with the counts; :meth:`to_local` brings both to the driver as the
    one-machine :class:`~.tables.PseudonymResult`."""

    table: Any
    rejected: Any
    rows_in: int
    rows_out: int
    rows_rejected: int
    key_id: str
    metadata: dict[str, str]
    distinct: dict[str, int]  # distinct identifiers per domain
    _marked: Any = dataclasses.field(repr=False, default=None)
    _plan: Any = dataclasses.field(repr=False, default=None)

    def __repr__(self) -> str:
        return (
            f"SparkPseudonymResult(rows_in={self.rows_in}, rows_out={self.rows_out}, "
            f"rows_rejected={self.rows_rejected}, key_id={self.key_id!r})"
        )

    def to_local(self) -> PseudonymResult:
        """Both tables on the driver, as :func:`~.tables.pseudonymise_table` gives them
        (in input order: the filters keep each partition's order)."""
        table = local_arrow(self.table.toArrow())
        return PseudonymResult(
            table=table.replace_schema_metadata(self.metadata),
            rejected=local_arrow(self.rejected.toArrow()),
            rows_in=self.rows_in,
            rows_out=self.rows_out,
            rows_rejected=self.rows_rejected,
            key_id=self.key_id,
        )

    def unpersist(self) -> None:
        """Free the cluster's cached copy of the pseudonymised rows."""
        if self._marked is not None:
            self._marked.unpersist()


def pseudonymise_spark(
    table: Any,
    key: ProjectKey,
    columns: Mapping[str, str] | Iterable[str] | str,
    reference_date: dt.date | None = None,
    *,
    spark: Any = None,
    allow_interim: bool = False,
    allow_null: Iterable[str] = (),
    check_residual: bool = True,
    nbytes: int | None = None,
    source: str = "table",
    source_columns: tuple[str, str] | None = None,
    with_identifiers: bool = False,
    residual_in_tasks: bool = False,
    collisions: bool = True,
) -> SparkPseudonymResult:
    """:func:`~.tables.pseudonymise_table` on Spark (``engine="spark"``): ``table`` is a
    Spark DataFrame or a pandas/Arrow table; the same options, verdicts, pseudonyms and
    reject records (``source`` names the input in them). Returns a
    :class:`SparkPseudonymResult`.

    For the extract build: ``source_columns`` (file, row) name each row's delivered file
    and row number in the reject records instead of ``source`` and the input position
    (they stay in ``.table``; no value of theirs is a reject value);
    ``with_identifiers`` puts the rows' identifiers in the reject records too (whole
    rows, steward side); ``residual_in_tasks`` reads every batch for personnummer in
    the other columns (an IntegrityError), not a sample; ``collisions=False`` leaves
    the collision check to the caller (:func:`check_collisions` over several runs;
    ``distinct`` is then empty)."""
    from pyspark.sql import types as T

    spark = spark_session_of(table, spark)
    if not hasattr(table, "sparkSession"):
        from .tables import _as_table

        arrow = _as_table(table)
        for i, f in enumerate(arrow.schema):  # Spark takes no dictionary columns
            if pa.types.is_dictionary(f.type):
                arrow = arrow.set_column(i, f.name, arrow.column(i).cast(f.type.value_type))
        table = spark.createDataFrame(arrow)
    local = Pseudonymiser(
        key,
        columns,
        reference_date=reference_date,
        allow_interim=allow_interim,
        allow_null=allow_null,
        nbytes=nbytes,
        source=source,
    )
    local.check_schema(pa.schema([(c, pa.null()) for c in table.columns]))
    if _ROW in table.columns:
        raise BadInputError(f"the input has a column named {_ROW}", "rename it")
    fields = {f.name: f for f in table.schema.fields}
    for name in local.columns:
        kind = fields[name].dataType
        if not isinstance(kind, (T.StringType, T.IntegralType)):
            raise BadInputError(
                f"identifier column {name} has type {kind.simpleString()}",
                "deliver identifiers as text or integers",
            )
    if check_residual:
        sample = table.limit(2000).toArrow()
        batches = sample.combine_chunks().to_batches()
        # A sample here (the first 2,000 rows); the one-machine guard reads every value.
        suspects = sorted(local.residual_identifiers(batches[0])) if batches else []
        if suspects:
            raise BadInputError(
                f"column(s) {', '.join(suspects)} look like personnummer but are not pseudonymised",
                "name them with --column (or drop them) so no raw identifier reaches the output",
            )
    from pyspark.sql import functions as F

    if source_columns is None:
        numbered = with_row_numbers(table, _ROW, start=1)
    else:
        numbered = table.withColumn(_ROW, F.col(source_columns[1]).cast("long"))
    large = (
        str(
            spark.conf.get("spark.sql.execution.arrow.useLargeVarTypes", "false") or "false"
        ).lower()
        == "true"
    )
    plan = _Plan(
        key=_ExecutorKey.of(key),
        columns=tuple(local.columns.items()),
        reference_date=local.reference_date,
        allow_interim=allow_interim,
        allow_null=frozenset(allow_null),
        nbytes=nbytes,
        names=tuple(numbered.columns),
        large=large,
        residual=residual_in_tasks,
        raw_rejected=with_identifiers,
    )
    out_fields = [
        T.StructField(f.name, T.StringType(), True) if f.name in local.columns else f
        for f in numbered.schema.fields
    ]
    out_fields += [
        T.StructField(_COLUMN, T.StringType(), True),
        T.StructField(_REASON, T.StringType(), True),
        T.StructField(_REJECTED, T.BooleanType(), False),
    ]
    out_fields += [
        T.StructField(f"__check_{i}", T.LongType(), True) for i in range(len(plan.columns))
    ]
    if with_identifiers:
        out_fields += [
            T.StructField(f"__raw_{i}", T.StringType(), True) for i in range(len(plan.columns))
        ]
    udf = functools.partial(_pseudonymise_partition, plan)
    udf.__name__ = "mikrodata_pseudonymise"  # type: ignore[attr-defined]
    marked = numbered.mapInArrow(udf, T.StructType(out_fields)).persist()
    try:
        rows_in, rows_rejected = _counts(marked)
        distinct = _check_collisions(marked, plan, key.key_id) if collisions else {}
    except Exception as exc:  # an executor's IntegrityError arrives wrapped
        marked.unpersist()
        if "pseudonym collision" in str(exc):
            raise IntegrityError(
                f"pseudonym collision under key {key.key_id}; nothing was written",
                "rotate the project key (`mikrodata keys rotate`) and run again",
            ) from None
        found = re.search(r"column\(s\) [^\n]*? " + _RESIDUAL, str(exc))
        if found:
            raise IntegrityError(
                f"{local.source}: {found.group(0)}", "nothing was written"
            ) from None
        raise
    from mikrodata.toolkit.rejects import REASONS

    bookkeeping = set(source_columns or ())
    raw = {c: f"__raw_{i}" for i, (c, _) in enumerate(plan.columns)} if with_identifiers else {}
    plain = [
        c
        for c in table.columns
        if c not in bookkeeping and (with_identifiers or c not in local.columns)
    ]
    # As on one machine: sorted by pseudonym (the input's order would leak, e.g. birth
    # order of a delivery sorted by personnummer), ties in input order.
    keys = [c for c in table.columns if c in local.columns]
    out = marked.where(~F.col(_REJECTED)).orderBy(*keys, _ROW).select(*table.columns)
    # One reject record per row, the one-machine record: the first column at fault.
    reason = F.split(F.col(_REASON), ";").getItem(0)
    details = F.create_map(*[F.lit(x) for kv in REASONS.items() for x in kv])
    where = F.lit(local.source) if source_columns is None else F.col(source_columns[0])
    records = marked.where(F.col(_REJECTED)).select(
        where.cast("string").alias("source_file"),
        F.col(_ROW).cast("long").alias("source_row"),
        F.split(F.col(_COLUMN), ";").getItem(0).alias("column"),
        reason.alias("reason"),
        details[reason].alias("detail"),
        *[F.col(raw.get(c, c)).alias(f"value_{c}") for c in plain],
    )
    # The rows' values as text the way Arrow writes them on one machine (6371, not
    # Spark's 6371.0), on the few rejected rows only.
    text_schema = T.StructType(
        [
            T.StructField(f.name, T.LongType() if f.name == "source_row" else T.StringType())
            for f in records.schema.fields
        ]
    )
    order = ["source_row"] if source_columns is None else ["source_file", "source_row"]
    rejected = records.mapInArrow(_values_as_text, text_schema).orderBy(*order)
    rows_out = rows_in - rows_rejected
    if rows_in != rows_out + rows_rejected:
        raise IntegrityError("rows in differ from rows out + rejected", "report this bug")
    return SparkPseudonymResult(
        table=out,
        rejected=rejected,
        rows_in=rows_in,
        rows_out=rows_out,
        rows_rejected=rows_rejected,
        key_id=key.key_id,
        metadata=local.metadata(),
        distinct=distinct,
        _marked=marked,
        _plan=plan,
    )


def _values_as_text(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """The reject records' ``value_`` columns as Arrow's text (runs on the executors)."""
    from .tables import _as_text

    for batch in batches:
        arrays = [
            _as_text(batch.column(i)) if name.startswith("value_") else batch.column(i)
            for i, name in enumerate(batch.schema.names)
        ]
        yield pa.RecordBatch.from_arrays(arrays, names=batch.schema.names)


def _counts(marked: Any) -> tuple[int, int]:
    from pyspark.sql import functions as F

    row = marked.agg(
        F.count(F.lit(1)).alias("n"),
        F.sum(F.col(_REJECTED).cast("long")).alias("r"),
    ).collect()[0]
    return int(row["n"]), int(row["r"] or 0)


def check_collisions(results: Iterable[SparkPseudonymResult]) -> dict[str, int]:
    """Collisions across several runs under one key (the registers of one extract, as
    the one-machine build's shared pseudonym maps check them); returns the distinct
    identifiers per domain over all of them."""
    runs = [(r._marked, r._plan) for r in results]
    if not runs:
        return {}
    return _check_collisions(None, None, runs[0][1].key.key_id, runs)


def _check_collisions(
    marked: Any, plan: _Plan | None, key_id: str, runs: list | None = None
) -> dict[str, int]:
    """A pseudonym of one domain with two check codes: two identifiers share it.
    Returns the distinct identifiers per domain."""
    from pyspark.sql import functions as F

    runs = runs if runs is not None else [(marked, plan)]
    distinct = {}
    for domain in sorted({d for _, p in runs for _, d in p.columns}):
        parts = [
            m.select(F.col(name).alias("p"), F.col(f"__check_{i}").alias("c"))
            for m, p in runs
            for i, (name, d) in enumerate(p.columns)
            if d == domain
        ]
        pairs = functools.reduce(lambda a, b: a.unionAll(b), parts).where(F.col("p").isNotNull())
        row = pairs.agg(
            F.countDistinct("p").alias("p"), F.countDistinct("p", "c").alias("pc")
        ).collect()[0]
        if row["p"] != row["pc"]:
            raise IntegrityError(
                f"pseudonym collision: two distinct {domain} identifiers got the same "
                f"pseudonym under key {key_id}; nothing was written",
                "rotate the project key (`mikrodata keys rotate`) and run again",
            )
        distinct[domain] = int(row["p"])
    return distinct
