"""Pseudonymising the identifier columns of a table, batch by batch.

:class:`Pseudonymiser` is the engine both :func:`pseudonymise_table` (one table in
memory) and :func:`~pseudonymisation.files.pseudonymise_file` (a file streamed in
batches) use: for every batch it replaces each identifier column in place by its
pseudonyms, and moves every row with an unusable identifier to the rejected rows with
its row number, the column(s) and the reason(s). Nothing is dropped: rows in = rows out
+ rows rejected, checked on every batch.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from mikrodata.toolkit.errors import BadInputError, IntegrityError

from .identifiers import parse_identifiers_arrow
from .keystore import ProjectKey
from .pseudonyms import (
    PERSON,
    REJECT_REASONS,
    ColumnPseudonymiser,
    PreparedColumn,
    check_domain,
    hex_pseudonyms,
)

__all__ = [
    "REJECT_FIELDS",
    "PreparedBatch",
    "PseudonymResult",
    "Pseudonymiser",
    "ResolvedBatch",
    "normalise_columns",
    "pseudonymise_table",
]

# The fields a rejected row gets besides its non-identifier columns.
REJECT_FIELDS = ("row_number", "column", "reason")
_REASON_ARRAY = pa.array(REJECT_REASONS, pa.string())
_BATCH_ROWS = 1_000_000


def normalise_columns(columns: Mapping[str, str] | Iterable[str] | str) -> dict[str, str]:
    """``columns`` as a dict column -> domain; a bare name or list means ``person``."""
    if isinstance(columns, str):
        columns = [columns]
    if isinstance(columns, Mapping):
        mapping = dict(columns)
    else:
        mapping = {c: PERSON for c in columns}
    if not mapping:
        raise BadInputError("no identifier column given", "name at least one column")
    for domain in mapping.values():
        check_domain(domain)
    return mapping


@dataclasses.dataclass(frozen=True)
class PseudonymResult:
    """The pseudonymised table, the rejected rows and the counts.

    ``rejected`` holds the rejected rows' other columns, ``row_number`` (1-based, in
    input order), ``column`` and ``reason`` (several joined by ';'); never the raw
    identifiers.
    """

    table: pa.Table
    rejected: pa.Table
    rows_in: int
    rows_out: int
    rows_rejected: int
    key_id: str

    def __repr__(self) -> str:
        return (
            f"PseudonymResult(rows_in={self.rows_in}, rows_out={self.rows_out}, "
            f"rows_rejected={self.rows_rejected}, key_id={self.key_id!r})"
        )


class PreparedBatch(NamedTuple):
    """A batch with its identifier columns read (:meth:`Pseudonymiser.prepare`)."""

    batch: pa.RecordBatch
    columns: dict[str, PreparedColumn]


class ResolvedBatch(NamedTuple):
    """A batch with the pseudonym codes of its identifier columns
    (:meth:`Pseudonymiser.resolve`): per column (codes, valid) and reason codes, the
    rejected rows and the 1-based number of its first row."""

    batch: pa.RecordBatch
    first_row: int
    codes: dict[str, tuple[np.ndarray, np.ndarray]]
    reasons: dict[str, np.ndarray]
    rejected: np.ndarray
    n_rejected: int


class Pseudonymiser:
    """Pseudonymises batches of one table schema under one project key."""

    def __init__(
        self,
        key: ProjectKey,
        columns: Mapping[str, str] | Iterable[str] | str,
        *,
        reference_date: dt.date | None = None,
        allow_interim: bool = False,
        allow_null: Iterable[str] = (),
        nbytes: int | None = None,
    ) -> None:
        if not isinstance(key, ProjectKey):
            raise BadInputError("a ProjectKey is needed", "get one with KeyStore.project_key")
        self.key = key
        self.columns = normalise_columns(columns)
        self.allow_null = set(allow_null)
        self.reference_date = reference_date or dt.date.today()
        self._by_domain = {
            d: ColumnPseudonymiser(
                key,
                d,
                reference_date=self.reference_date,
                allow_interim=allow_interim,
                nbytes=nbytes,
            )
            for d in sorted(set(self.columns.values()))
        }
        self.rows_in = self.rows_out = self.rows_rejected = 0

    def check_schema(self, schema: pa.Schema) -> None:
        missing = [c for c in self.columns if c not in schema.names]
        if missing:
            raise BadInputError(
                f"identifier column(s) not in the input: {', '.join(missing)}",
                f"the input has {', '.join(schema.names)}",
            )
        clash = [c for c in REJECT_FIELDS if c in schema.names]
        if clash:
            raise BadInputError(
                f"the input already has column(s) named {', '.join(clash)}",
                "rename them before pseudonymising",
            )

    def output_schema(self, schema: pa.Schema) -> pa.Schema:
        fields = [pa.field(f.name, pa.string()) if f.name in self.columns else f for f in schema]
        return pa.schema(fields, metadata=self.metadata())

    def rejected_schema(self, schema: pa.Schema, with_identifiers: bool = False) -> pa.Schema:
        fields = [f for f in schema if f.name not in self.columns]
        fields += [pa.field("row_number", pa.int64()), pa.field("column", pa.string())]
        fields += [pa.field("reason", pa.string())]
        if with_identifiers:
            fields += [pa.field(c, schema.field(c).type) for c in self.columns]
        return pa.schema(fields)

    def metadata(self) -> dict[str, str]:
        """Public facts for the output's schema metadata (the key id, not the key)."""
        return {
            "mikrodata.key_id": self.key.key_id,
            "mikrodata.pseudonymised": ",".join(f"{c}={d}" for c, d in self.columns.items()),
        }

    def process(
        self, batch: pa.RecordBatch, with_identifiers: bool = False
    ) -> tuple[pa.RecordBatch, pa.RecordBatch]:
        """Pseudonymise one batch: returns (output rows, rejected rows). Row numbers
        continue from the batches seen before.

        The three steps can also run apart, as :func:`~pseudonymisation.files.
        pseudonymise_file` does to spread a file's work over the cores: :meth:`prepare`
        (stateless: in a reader thread), :meth:`resolve` (the pseudonym map: one batch
        at a time, in order) and :meth:`assemble` (stateless: in a writer thread)."""
        return self.assemble(self.resolve(self.prepare(batch)), with_identifiers)

    def prepare(self, batch: pa.RecordBatch) -> PreparedBatch:
        """Check the batch's columns and read its identifier columns; no state."""
        self.check_schema(batch.schema)
        columns = {
            name: self._by_domain[domain].prepare(batch.column(name))
            for name, domain in self.columns.items()
        }
        return PreparedBatch(batch, columns)

    def resolve(self, prepared: PreparedBatch) -> ResolvedBatch:
        """Pseudonym codes and reasons for a prepared batch, and the row counts."""
        batch = prepared.batch
        n = batch.num_rows
        first_row = self.rows_in + 1
        codes: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        reasons: dict[str, np.ndarray] = {}
        rejected = np.zeros(n, dtype=bool)
        for name, domain in self.columns.items():
            code, reason, valid = self._by_domain[domain].resolve(
                prepared.columns[name], allow_null=name in self.allow_null
            )
            codes[name] = (code, valid)
            reasons[name] = reason
            rejected |= reason != 0
        n_rejected = int(np.count_nonzero(rejected))
        self.rows_in += n
        self.rows_out += n - n_rejected
        self.rows_rejected += n_rejected
        if self.rows_in != self.rows_out + self.rows_rejected:
            raise IntegrityError("rows in differ from rows out + rejected", "report this bug")
        return ResolvedBatch(batch, first_row, codes, reasons, rejected, n_rejected)

    def assemble(
        self, resolved: ResolvedBatch, with_identifiers: bool = False
    ) -> tuple[pa.RecordBatch, pa.RecordBatch]:
        """The output rows and the rejected rows of a resolved batch; checks that they
        add up to the rows in."""
        batch, rejected = resolved.batch, resolved.rejected
        n = batch.num_rows
        rows = np.flatnonzero(rejected)
        plain = batch.select([f.name for f in batch.schema if f.name not in self.columns])
        pseudonyms = {}
        if len(rows):
            # Only the other columns are filtered; the pseudonyms are made for the rows
            # kept, not made for all and filtered after.
            keep = ~rejected
            plain = plain.filter(pa.array(keep))
            for name, (code, valid) in resolved.codes.items():
                pseudonyms[name] = hex_pseudonyms(code[keep], valid[keep])
        else:
            for name, (code, valid) in resolved.codes.items():
                pseudonyms[name] = hex_pseudonyms(code, valid)
        out_arrays = [
            pseudonyms[f.name] if f.name in pseudonyms else plain.column(f.name)
            for f in batch.schema
        ]
        out = pa.RecordBatch.from_arrays(out_arrays, schema=self.output_schema(batch.schema))
        # The rejected rows only (usually few): their other columns, number and reasons.
        picked = pa.array(rows)
        reject_columns, reject_reasons = [], []
        for name, reason in resolved.reasons.items():
            sub = reason[rows]
            reject_reasons.append(_REASON_ARRAY.take(pa.array(sub)))
            reject_columns.append(
                pc.if_else(pa.array(sub != 0), pa.scalar(name), pa.scalar(None, pa.string()))
            )
        other = [
            batch.column(i).take(picked)
            for i, f in enumerate(batch.schema)
            if f.name not in self.columns
        ]
        rej_arrays = [
            *other,
            pa.array(rows.astype(np.int64) + resolved.first_row),
            _join(reject_columns),
            _join(reject_reasons),
        ]
        if with_identifiers:
            rej_arrays += [batch.column(c).take(picked) for c in self.columns]
        rej = pa.RecordBatch.from_arrays(
            rej_arrays, schema=self.rejected_schema(batch.schema, with_identifiers)
        )
        # (The run's totals are checked in resolve: a writer thread may assemble while
        # the next batch is being resolved.)
        if out.num_rows + rej.num_rows != n or rej.num_rows != resolved.n_rejected:
            raise IntegrityError(
                f"row count mismatch: {n} in, {out.num_rows} out, {rej.num_rows} rejected",
                "this is a bug in mikrodata; please report it",
            )
        return out, rej

    def finish(self) -> None:
        """Check the whole run for pseudonym collisions (raises IntegrityError)."""
        for pseudonymiser in self._by_domain.values():
            pseudonymiser.cache.check()

    def distinct(self) -> dict[str, int]:
        """Distinct identifiers seen per domain."""
        return {d: len(p.cache) for d, p in self._by_domain.items()}

    def residual_identifier_columns(self, batch: pa.RecordBatch, sample: int = 2000) -> list[str]:
        """Columns not named for pseudonymisation whose values look like personnummer
        (more than half of a sample parses as valid): they would carry raw identifiers
        into the output."""
        suspects = []
        for i, field in enumerate(batch.schema):
            if field.name in self.columns:
                continue
            t = field.type
            if not (
                pa.types.is_string(t)
                or pa.types.is_large_string(t)
                or pa.types.is_integer(t)
                or (pa.types.is_dictionary(t) and pa.types.is_string(t.value_type))
            ):
                continue
            values = batch.column(i).drop_null()[:sample]
            if len(values) == 0:
                continue
            parsed = parse_identifiers_arrow(values, self.reference_date)
            if parsed.valid.mean() > 0.5:
                suspects.append(field.name)
        return suspects


def _join(parts: list[pa.Array]) -> pa.Array:
    """Join non-null strings element-wise with ';' (null where all are null)."""
    joined = parts[0]
    for part in parts[1:]:
        both = pc.binary_join_element_wise(joined, part, ";")
        joined = pc.coalesce(both, joined, part)
    return joined


def _as_table(table: Any) -> pa.Table:
    if isinstance(table, pa.Table):
        return table
    if isinstance(table, pa.RecordBatch):
        return pa.Table.from_batches([table])
    if isinstance(table, pd.DataFrame):
        return pa.Table.from_pandas(table, preserve_index=False).replace_schema_metadata(None)
    raise BadInputError(
        f"cannot pseudonymise a {type(table).__name__}", "pass a pyarrow Table or a DataFrame"
    )


def pseudonymise_table(
    table: Any,
    key: ProjectKey,
    columns: Mapping[str, str] | Iterable[str] | str,
    reference_date: dt.date | None = None,
    *,
    allow_interim: bool = False,
    allow_null: Iterable[str] = (),
    check_residual: bool = True,
    engine: str = "duckdb",
    spark: Any = None,
) -> PseudonymResult:
    """Replace identifier columns by pseudonyms under ``key``.

    ``table``: a pyarrow Table or pandas DataFrame. ``columns`` maps column name ->
    domain (``person`` columns are parsed as personnummer/samordningsnummer; other
    domains are hashed as trimmed strings in their own domain); a list means person.
    Rows with an unusable identifier (invalid, missing, interim unless
    ``allow_interim``; nulls pass as null in ``allow_null`` columns) are moved to
    ``.rejected``. With ``check_residual``, a column not named but full of
    personnummer stops the run (BadInputError) rather than leak into the output.

    ``engine``: ``"duckdb"`` (the default: this machine, in Arrow batches) or
    ``"spark"`` (``table`` may be a Spark DataFrame; ``spark`` the SparkSession): the
    same verdicts, pseudonyms and reject records, returned as a
    :class:`~.spark.SparkPseudonymResult` of Spark DataFrames (``.to_local()`` gives
    this function's result).
    """
    if engine == "spark":
        # Through the package's lazy names: .spark builds on this module.
        from . import pseudonymise_spark

        return pseudonymise_spark(  # type: ignore[return-value]
            table,
            key,
            columns,
            reference_date,
            spark=spark,
            allow_interim=allow_interim,
            allow_null=allow_null,
            check_residual=check_residual,
        )
    if engine != "duckdb":
        raise BadInputError(f"engine {engine!r} is unknown", "use engine='duckdb' or 'spark'")
    arrow = _as_table(table)
    engine = Pseudonymiser(
        key,
        columns,
        reference_date=reference_date,
        allow_interim=allow_interim,
        allow_null=allow_null,
    )
    engine.check_schema(arrow.schema)
    outs, rejs = [], []
    for batch in arrow.to_batches(max_chunksize=_BATCH_ROWS) or [
        pa.RecordBatch.from_pylist([], schema=arrow.schema)
    ]:
        if check_residual and not outs:
            _refuse_residual(engine, batch)
        out, rej = engine.process(batch)
        outs.append(out)
        rejs.append(rej)
    engine.finish()
    result = PseudonymResult(
        table=pa.Table.from_batches(outs, schema=engine.output_schema(arrow.schema)),
        rejected=pa.Table.from_batches(rejs, schema=engine.rejected_schema(arrow.schema)),
        rows_in=engine.rows_in,
        rows_out=engine.rows_out,
        rows_rejected=engine.rows_rejected,
        key_id=key.key_id,
    )
    if result.rows_in != arrow.num_rows:
        raise IntegrityError("row count mismatch after pseudonymising", "report this bug")
    return result


def _refuse_residual(engine: Pseudonymiser, batch: pa.RecordBatch) -> None:
    suspects = engine.residual_identifier_columns(batch)
    if suspects:
        raise BadInputError(
            f"column(s) {', '.join(suspects)} look like personnummer but are not pseudonymised",
            "name them with --column (or drop them) so no raw identifier reaches the output",
        )
