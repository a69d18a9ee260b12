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
from mikrodata.toolkit.rejects import REASONS, REJECT_FIELDS, reject_schema

from .keystore import ProjectKey
from .pseudonyms import (
    PERSON,
    REJECT_REASONS,
    ColumnPseudonymiser,
    PreparedColumn,
    check_domain,
    check_identifier_type,
    hex_pseudonyms,
)
from .residual import residual_identifiers

__all__ = [
    "REJECT_FIELDS",
    "PreparedBatch",
    "PseudonymResult",
    "Pseudonymiser",
    "ResolvedBatch",
    "normalise_columns",
    "pseudonymise_table",
    "residual_message",
]

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

    ``rejected`` holds one reject record per rejected row (:mod:`toolkit.rejects`:
    ``source_file``, ``source_row`` counted from 1, the first ``column`` at fault, its
    ``reason`` code and ``detail``) and the row's other values as text (``value_*``);
    never the raw identifiers.
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
    """A batch with its identifier columns read (:meth:`Pseudonymiser.prepare`), and
    where its rows come from (``source_rows`` None: counted on from the batches before)."""

    batch: pa.RecordBatch
    columns: dict[str, PreparedColumn]
    source_file: str | pa.Array  # one name, or one per row
    source_rows: np.ndarray | None


class ResolvedBatch(NamedTuple):
    """A batch with the pseudonym codes of its identifier columns
    (:meth:`Pseudonymiser.resolve`): per column (codes, valid) and reason codes, the
    rejected rows and the 1-based number of its first row."""

    batch: pa.RecordBatch
    first_row: int
    source_file: str | pa.Array  # one name, or one per row
    source_rows: np.ndarray | None
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
        source: str = "table",
        shared: dict[str, ColumnPseudonymiser] | None = None,
    ) -> None:
        """``source`` names the input in reject records. ``shared`` (domain ->
        :class:`ColumnPseudonymiser`) lets several runs, e.g. the registers of one
        extract, share their pseudonym maps: each identifier is hashed once, and
        :meth:`finish` checks collisions across all of them."""
        if not isinstance(key, ProjectKey):
            raise BadInputError("a ProjectKey is needed", "get one with KeyStore.project_key")
        self.key = key
        self.columns = normalise_columns(columns)
        self.allow_null = set(allow_null)
        self.reference_date = reference_date or dt.date.today()
        self.source = source
        self._by_domain = shared if shared is not None else {}
        for d in sorted(set(self.columns.values())):
            if d not in self._by_domain:
                self._by_domain[d] = ColumnPseudonymiser(
                    key,
                    d,
                    reference_date=self.reference_date,
                    allow_interim=allow_interim,
                    nbytes=nbytes,
                )
        self.rows_in = self.rows_out = self.rows_rejected = 0

    def check_schema(self, schema: pa.Schema) -> None:
        missing = [c for c in self.columns if c not in schema.names]
        if missing:
            raise BadInputError(
                f"identifier column(s) not in the input: {', '.join(missing)}",
                f"the input has {', '.join(schema.names)}",
            )
        for name, domain in self.columns.items():
            check_identifier_type(schema.field(name).type, domain, f"identifier column {name}")

    def sort_keys(self, schema: pa.Schema) -> list[str]:
        """The columns an output is sorted by: the pseudonym columns in the input's
        order (however they were named to the run)."""
        return [n for n in schema.names if n in self.columns]

    def output_schema(self, schema: pa.Schema, codes: bool = False) -> pa.Schema:
        """The output's schema: pseudonym columns as text, or ``codes`` as their uint64
        values (as :meth:`assemble` gives them ``as_codes``)."""
        kind = pa.uint64() if codes else pa.string()
        fields = [pa.field(f.name, kind) if f.name in self.columns else f for f in schema]
        return pa.schema(fields, metadata=self.metadata())

    def rejected_schema(self, schema: pa.Schema, with_identifiers: bool = False) -> pa.Schema:
        """The reject records (:func:`toolkit.rejects.reject_schema`) with the rows'
        other values; their raw identifiers too only ``with_identifiers``."""
        return reject_schema(pa.schema(self._reject_values(schema, with_identifiers)))

    def _reject_values(self, schema: pa.Schema, with_identifiers: bool) -> list[pa.Field]:
        return [f for f in schema if with_identifiers or f.name not in self.columns]

    def metadata(self) -> dict[str, str]:
        """Public facts for the output's schema metadata (the key id, not the key)."""
        return {
            "mikrodata.key_id": self.key.key_id,
            "mikrodata.pseudonymised": ",".join(f"{c}={d}" for c, d in self.columns.items()),
        }

    def process(
        self,
        batch: pa.RecordBatch,
        with_identifiers: bool = False,
        *,
        source_file: str | pa.Array | None = None,
        source_rows: np.ndarray | None = None,
    ) -> tuple[pa.RecordBatch, pa.RecordBatch]:
        """Pseudonymise one batch: returns (output rows, rejected rows). Row numbers
        continue from the batches seen before.

        The three steps can also run apart, as :func:`~pseudonymisation.files.
        pseudonymise_file` does to spread a file's work over the cores: :meth:`prepare`
        (stateless: in a reader thread), :meth:`resolve` (the pseudonym map: one batch
        at a time, in order) and :meth:`assemble` (stateless: in a writer thread)."""
        prepared = self.prepare(batch, source_file=source_file, source_rows=source_rows)
        return self.assemble(self.resolve(prepared), with_identifiers)

    def prepare(
        self,
        batch: pa.RecordBatch,
        *,
        source_file: str | pa.Array | None = None,
        source_rows: np.ndarray | None = None,
    ) -> PreparedBatch:
        """Check the batch's columns and read its identifier columns; no state.
        ``source_file`` and ``source_rows`` (each row's number in it, from 1) name the
        rows in reject records; by default the engine's source, rows counted on."""
        self.check_schema(batch.schema)
        columns = {
            name: self._by_domain[domain].prepare(batch.column(name))
            for name, domain in self.columns.items()
        }
        source = self.source if source_file is None else source_file
        return PreparedBatch(batch, columns, source, source_rows)

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
        return ResolvedBatch(
            batch,
            first_row,
            prepared.source_file,
            prepared.source_rows,
            codes,
            reasons,
            rejected,
            n_rejected,
        )

    def assemble(
        self, resolved: ResolvedBatch, with_identifiers: bool = False, as_codes: bool = False
    ) -> tuple[pa.RecordBatch, pa.RecordBatch]:
        """The output rows and the rejected rows of a resolved batch; checks that they
        add up to the rows in. ``as_codes``: the pseudonym columns as their uint64
        codes (null where a pseudonym is null), for a caller that sorts by them and
        writes the text itself (:func:`hex_pseudonyms`), as the file run does."""
        pseudonymised = _codes_array if as_codes else hex_pseudonyms
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
                pseudonyms[name] = pseudonymised(code[keep], valid[keep])
        else:
            for name, (code, valid) in resolved.codes.items():
                pseudonyms[name] = pseudonymised(code, valid)
        out_arrays = [
            pseudonyms[f.name] if f.name in pseudonyms else plain.column(f.name)
            for f in batch.schema
        ]
        out = pa.RecordBatch.from_arrays(
            out_arrays, schema=self.output_schema(batch.schema, codes=as_codes)
        )
        rej = self._reject_records(resolved, rows, with_identifiers)
        # (The run's totals are checked in resolve: a writer thread may assemble while
        # the next batch is being resolved.)
        if out.num_rows + rej.num_rows != n or rej.num_rows != resolved.n_rejected:
            raise IntegrityError(
                f"row count mismatch: {n} in, {out.num_rows} out, {rej.num_rows} rejected",
                "this is a bug in mikrodata; please report it",
            )
        return out, rej

    def _reject_records(
        self, resolved: ResolvedBatch, rows: np.ndarray, with_identifiers: bool
    ) -> pa.RecordBatch:
        """One reject record per rejected row (usually few): where it is, the first
        column at fault in the run's column order, its reason, and the row's values."""
        batch, n = resolved.batch, len(rows)
        column = np.full(n, None, dtype=object)
        reason = np.zeros(n, dtype=np.int8)
        for name, codes in reversed(resolved.reasons.items()):  # the first one wins
            sub = codes[rows]
            column[sub != 0] = name
            reason[sub != 0] = sub[sub != 0]
        codes = [REJECT_REASONS[r] for r in reason.tolist()]
        if resolved.source_rows is not None:
            source_rows = np.asarray(resolved.source_rows, dtype=np.int64)[rows]
        else:
            source_rows = rows.astype(np.int64) + resolved.first_row
        picked = pa.array(rows)
        values = [
            _as_text(batch.column(f.name).take(picked))
            for f in self._reject_values(batch.schema, with_identifiers)
        ]
        arrays = [
            pa.array([resolved.source_file] * n, pa.string())
            if isinstance(resolved.source_file, str)
            else resolved.source_file.take(picked).cast(pa.string()),
            pa.array(source_rows, pa.int64()),
            pa.array(column.tolist(), pa.string()),
            pa.array(codes, pa.string()),
            pa.array([REASONS[c] for c in codes], pa.string()),
            *values,
        ]
        return pa.RecordBatch.from_arrays(
            arrays, schema=self.rejected_schema(batch.schema, with_identifiers)
        )

    def finish(self) -> None:
        """Check the whole run for pseudonym collisions (raises IntegrityError)."""
        for pseudonymiser in self._by_domain.values():
            pseudonymiser.cache.check()

    def distinct(self) -> dict[str, int]:
        """Distinct identifiers seen per domain."""
        return {d: len(p.cache) for d, p in self._by_domain.items()}

    def resolve_distinct(self, column: str, values: pa.Array) -> tuple[pa.Array, np.ndarray]:
        """Pseudonyms and reason codes for distinct ``values`` of one identifier column,
        as :meth:`process` would give its rows (null pseudonyms where refused, or where
        an accepted null stays null): for a caller that maps rows back itself, as the
        extract build does in DuckDB. Hashes only values not seen before."""
        self.check_schema(pa.schema([pa.field(n, values.type) for n in self.columns]))
        return self._by_domain[self.columns[column]].apply(
            values, allow_null=column in self.allow_null
        )

    def residual_identifiers(self, batch: pa.RecordBatch) -> dict[str, int]:
        """Columns not named for pseudonymisation that hold personnummer anywhere in
        any value (see :mod:`pseudonymisation.residual`), with how many distinct values
        do: they would carry raw identifiers into the output."""
        return residual_identifiers(batch, set(self.columns), self.reference_date)


def _codes_array(codes: np.ndarray, valid: np.ndarray) -> pa.Array:
    """uint64 pseudonym codes as an Arrow array, null where not ``valid``."""
    return pa.array(codes, pa.uint64(), mask=None if valid.all() else ~valid)


def _as_text(values: pa.Array) -> pa.Array:
    """A rejected row's values as text for its record (any type; nested ones as their
    Python form, which is fine for the few rows a reject file holds)."""
    try:
        return pc.cast(values, pa.string())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return pa.array([None if v is None else str(v) for v in values.to_pylist()], pa.string())


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
    ``.rejected``. With ``check_residual``, a column not named that holds a
    personnummer in any value stops the run (BadInputError) rather than leak into the output.

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
        if check_residual:
            _refuse_residual(engine, batch)
        out, rej = engine.process(batch)
        outs.append(out)
        rejs.append(rej)
    engine.finish()
    # Sorted by pseudonym: input order (often by personnummer) would leak birth order.
    table = pa.Table.from_batches(outs, schema=engine.output_schema(arrow.schema))
    table = table.sort_by([(c, "ascending", "at_end") for c in engine.sort_keys(arrow.schema)])
    result = PseudonymResult(
        table=table,
        rejected=pa.Table.from_batches(rejs, schema=engine.rejected_schema(arrow.schema)),
        rows_in=engine.rows_in,
        rows_out=engine.rows_out,
        rows_rejected=engine.rows_rejected,
        key_id=key.key_id,
    )
    if result.rows_in != arrow.num_rows:
        raise IntegrityError("row count mismatch after pseudonymising", "report this bug")
    return result


def residual_message(found: dict[str, int]) -> str:
    """What the residual guard found, in words: column names and counts, no value."""
    parts = [f"{name} ({n} distinct value{'s' if n != 1 else ''})" for name, n in found.items()]
    return f"column(s) {', '.join(parts)} look like personnummer but are not pseudonymised"


def _refuse_residual(engine: Pseudonymiser, batch: pa.RecordBatch) -> None:
    found = engine.residual_identifiers(batch)
    if found:
        raise BadInputError(
            residual_message(found),
            "name them with --column (or drop them) so no raw identifier reaches the output",
        )
