"""``mikrodata quality run``: validate a delivery or extract with the catalogue's suites.

A year at a time, and within a year in batches (see :mod:`quality.source`), the row
suite of that register and year runs through a Great Expectations file data context
under ``OUT/gx``; the period suite runs on the months each kommun delivered. Results
are added up over the batches per expectation. Written to ``OUT`` (built in a
temporary sibling and swapped in whole):

- ``summary.json`` and ``summary.md``: every expectation, pass or fail, critical or not,
  unexpected count and up to :data:`EXAMPLES` examples as file and row number, with
  values of direct identifiers masked;
- ``unexpected_rows.parquet``: every unexpected row (year, expectation, file, row);
- ``review.html``: the page a reviewer opens first (:mod:`quality.review`): failures
  first, critical at the top, links into Data Docs, missingness and history figures,
  the sign-off block;
- ``data_docs/``: Great Expectations' own Data Docs, made readable offline, one
  validation per year and page (:mod:`quality.validations`);
- ``gx/``: the GX project (suites, stored results with identifiers masked).

A failed critical expectation raises :class:`~toolkit.errors.QualityFailure` after
everything is written.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from mikrodata.quality.catalogue import Register, catalogue_version, load
from mikrodata.quality.identifiers import identifier_reasons, mask_identifier
from mikrodata.quality.review import REVIEW_FILE, render_review
from mikrodata.quality.source import FILE_COLUMN, ROW_COLUMN, Source, open_source
from mikrodata.toolkit.atomic import atomic_directory, write_text_atomic
from mikrodata.toolkit.errors import BadInputError, IntegrityError, QualityFailure
from mikrodata.toolkit.identity import current_identity
from mikrodata.toolkit.progress import progress

if TYPE_CHECKING:
    from mikrodata.quality.validations import Page

# Great Expectations is imported only once the input is known to be usable (inside
# _validate and run_quality): a wrong --in comes back in well under a second.

__all__ = [
    "BATCH_ROWS",
    "EXAMPLES",
    "delivery_checksums",
    "ExpectationOutcome",
    "QualityReport",
    "run_quality",
]

BATCH_ROWS = 2_000_000
EXAMPLES = 10
# COMPLETE: GX returns every unexpected row, which the row file needs.
RESULT_FORMAT = {"result_format": "COMPLETE", "partial_unexpected_count": EXAMPLES}
_TYPE_CHECK = "expect_column_values_to_have_catalogue_type"
_NULL_CHECKS = {"expect_column_values_to_not_be_null", "expect_column_values_to_be_null"}


@dataclass
class ExpectationOutcome:
    """One expectation of one year, added up over the batches."""

    year: int
    suite: str
    expectation: str
    check: str
    variable: str | None
    severity: str
    description: str
    mostly: float
    page: str = "person_rows"
    batches: int = 0
    element_count: int = 0
    missing_count: int = 0
    unexpected_count: int = 0
    all_batches_succeeded: bool = True
    is_map: bool = False
    errors: list[str] = field(default_factory=list)
    examples: list[dict[str, Any]] = field(default_factory=list)
    observed: Any = None
    config: Any = field(default=None, repr=False, compare=False)  # GX's, for the page

    @property
    def critical(self) -> bool:
        return self.severity == "critical"

    @property
    def success(self) -> bool:
        if self.errors:
            return False
        if not self.is_map:
            return self.all_batches_succeeded
        denominator = self.element_count - (
            0 if self.expectation in _NULL_CHECKS else self.missing_count
        )
        if denominator <= 0:
            return True
        return self.unexpected_count / denominator <= 1 - self.mostly + 1e-12

    def as_dict(self) -> dict[str, Any]:
        return {
            "year": self.year,
            "suite": self.suite,
            "expectation": self.expectation,
            "check": self.check,
            "variable": self.variable,
            "severity": self.severity,
            "critical": self.critical,
            "page": self.page,
            "description": self.description,
            "success": self.success,
            "mostly": self.mostly,
            "batches": self.batches,
            "element_count": self.element_count,
            "missing_count": self.missing_count,
            "unexpected_count": self.unexpected_count,
            "unexpected_percent": (
                round(100 * self.unexpected_count / self.element_count, 4)
                if self.element_count
                else 0.0
            ),
            "observed": self.observed,
            "errors": self.errors,
            "examples": self.examples,
        }


@dataclass
class QualityReport:
    """What a run found; ``critical_failures`` decides the exit code."""

    register: str
    mode: str
    years: list[int]
    rows: int
    outcomes: list[ExpectationOutcome]
    seconds: float
    out: Path | None = None
    # the delivered files' checksums (what a sign-off is bound to) and, for a delivery
    # staged from another format, its format and read counts
    delivery: dict[str, Any] = field(default_factory=dict)
    checked_by: str = ""
    checked_at: str = ""

    @property
    def failures(self) -> list[ExpectationOutcome]:
        return [o for o in self.outcomes if not o.success]

    @property
    def critical_failures(self) -> list[ExpectationOutcome]:
        return [o for o in self.failures if o.critical]

    def failed_by(self, severity: str) -> int:
        return sum(o.severity == severity for o in self.failures)

    def as_dict(self) -> dict[str, Any]:
        return {
            "register": self.register,
            "mode": self.mode,
            "catalogue_version": catalogue_version(),
            "years": self.years,
            "rows": self.rows,
            "seconds": round(self.seconds, 2),
            "checked_by": self.checked_by,
            "checked_at": self.checked_at,
            "delivery": self.delivery,
            "expectations": len(self.outcomes),
            "failed": len(self.failures),
            "critical_failed": len(self.critical_failures),
            "warning_failed": self.failed_by("warning"),
            "info_failed": self.failed_by("info"),
            "success": not self.critical_failures,
            "outcomes": [o.as_dict() for o in self.outcomes],
        }


def _identifier_columns(reg: Register) -> set[str]:
    return {v.name for v in reg.direct_identifiers()}


def _touches(config_kwargs: dict, columns: set[str]) -> bool:
    cols = set(config_kwargs.get("column_list") or [])
    if config_kwargs.get("column"):
        cols.add(config_kwargs["column"])
    return bool(cols & columns)


# Keys of a GX result that hold data values (the rest are counts, percentages, indices).
_VALUE_KEYS = {
    "partial_unexpected_list",
    "unexpected_list",
    "partial_unexpected_counts",
    "unexpected_rows",
    "observed_value",
    "details",
}


def _mask_tree(value: Any) -> Any:
    """Mask every string leaf (identifier results: values, dict values of key lists)."""
    if isinstance(value, str):
        return mask_identifier(value)
    if isinstance(value, list):
        return [_mask_tree(v) for v in value]
    if isinstance(value, dict):
        return {k: _mask_tree(v) for k, v in value.items()}
    return value


def scrub_stored_results(gx_root: Path, identifier_columns: set[str]) -> int:
    """Mask identifier values in every stored validation result; returns files changed.

    GX stores unexpected values verbatim; for direct identifiers they must not stay on
    disk nor reach Data Docs.
    """
    changed = 0
    for path in (gx_root / "uncommitted" / "validations").rglob("*.json"):
        doc = json.loads(path.read_text(encoding="utf-8"))
        touched = False
        for res in doc.get("results", []):
            config = res.get("expectation_config", {})
            kwargs = config.get("kwargs", {})
            # A type check's observed value is the column's dtype: no value to mask.
            if config.get("type") == _TYPE_CHECK:
                continue
            if _touches(kwargs, identifier_columns) and res.get("result"):
                res["result"] = {
                    # Only the keys that carry values; indices and counts stay readable.
                    k: _mask_tree(v) if k in _VALUE_KEYS else v
                    for k, v in res["result"].items()
                }
                touched = True
        if touched:
            write_text_atomic(path, json.dumps(doc, indent=2))
            changed += 1
    return changed


def _example_rows(
    frame: pd.DataFrame,
    positions: list[int],
    values: list[Any],
    column: str | None,
    identifiers: set[str],
) -> list[dict[str, Any]]:
    out = []
    if not positions:
        return out
    pos = np.asarray(positions[:EXAMPLES], dtype=np.int64)
    files = frame[FILE_COLUMN].to_numpy()[pos] if FILE_COLUMN in frame else [None] * len(pos)
    rows = frame[ROW_COLUMN].to_numpy()[pos] if ROW_COLUMN in frame else pos
    reasons = None
    if column in identifiers and column in frame:
        reasons = identifier_reasons(frame[column].iloc[pos]).to_numpy()
    for k in range(len(pos)):
        value = values[k] if k < len(values) else None
        example: dict[str, Any] = {"file": str(files[k]), "row": int(rows[k])}
        if column in identifiers or isinstance(value, dict):
            value = (
                _mask_tree(value)
                if not isinstance(value, dict)
                else {c: (mask_identifier(v) if c in identifiers else v) for c, v in value.items()}
            )
        if reasons is not None and reasons[k]:
            example["reason"] = str(reasons[k])
        example["value"] = _jsonable(value)
        out.append(example)
    return out


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if value is None or value is pd.NA:
        return None
    if isinstance(value, float) and np.isnan(value):
        return None
    if isinstance(value, np.generic):
        return value.item()
    return value


def _exceptions(info: Any) -> list[str]:
    """Messages of the exceptions GX caught while computing an expectation.

    GX 1.x gives either one ``{raised_exception, exception_message}`` or a mapping of
    metric id to such a record. Only the exception's class is kept: a message may
    quote a value, and values of identifier columns must not reach the summary.
    """
    if not isinstance(info, dict):
        return []
    records = [info] if "raised_exception" in info else list(info.values())
    out = []
    for rec in records:
        if isinstance(rec, dict) and rec.get("raised_exception"):
            message = str(rec.get("exception_message") or "")
            out.append(message.split(":", 1)[0][:120] or "error")
    return out


class _Collector:
    """Adds up GX results over batches and keeps the unexpected rows."""

    def __init__(self, identifiers: set[str]) -> None:
        self.identifiers = identifiers
        self.outcomes: dict[tuple[int, str, str], ExpectationOutcome] = {}
        self.unexpected: list[pd.DataFrame] = []

    def add(
        self,
        year: int,
        suite: str,
        page: str,
        result,
        frame: pd.DataFrame,
        extra: tuple[str, ...] = (),
    ) -> None:
        """Add one batch's result of a computed part to the outcomes of ``suite`` (the
        page's suite name); expectations are matched by their ``meta["n"]``."""
        for er in result.results:
            cfg = er.expectation_config
            meta = cfg.meta or {}
            key = (year, suite, meta.get("n", cfg.id))
            outcome = self.outcomes.get(key)
            if outcome is None:
                outcome = ExpectationOutcome(
                    year=year,
                    suite=suite,
                    expectation=cfg.type,
                    check=meta.get("check", cfg.type),
                    variable=meta.get("variable"),
                    severity=meta.get("severity", "warning"),
                    description=meta.get("description", cfg.type),
                    mostly=float(cfg.kwargs.get("mostly", 1.0) or 1.0),
                    page=page,
                    config=cfg,
                )
                self.outcomes[key] = outcome
            outcome.batches += 1
            errors = _exceptions(er.exception_info)
            if errors:
                outcome.errors.extend(errors)
                continue
            res = er.result or {}
            outcome.all_batches_succeeded &= bool(er.success)
            if "unexpected_count" in res:
                outcome.is_map = True
                outcome.element_count += int(res.get("element_count") or 0)
                outcome.missing_count += int(res.get("missing_count") or 0)
                n_unexpected = int(res.get("unexpected_count") or 0)
                outcome.unexpected_count += n_unexpected
                positions = list(res.get("unexpected_index_list") or [])
                positions = [p for p in positions if isinstance(p, int | np.integer)]
                if positions:
                    self._keep_rows(year, suite, outcome, frame, positions)
                room = EXAMPLES - len(outcome.examples)
                if room > 0 and positions:
                    column = cfg.kwargs.get("column")
                    values = list(res.get("unexpected_list") or [])
                    examples = _example_rows(
                        frame, positions[:room], values[:room], column, self.identifiers
                    )
                    for name in extra:
                        picked = frame[name].to_numpy(dtype=object)[np.asarray(positions[:room])]
                        for example, value in zip(examples, picked, strict=False):
                            example[name] = _jsonable(value)
                    outcome.examples.extend(examples)
            elif "observed_value" in res:
                observed = res["observed_value"]
                # A column's type is not a value of it: shown even for identifiers.
                is_type = cfg.type == _TYPE_CHECK
                outcome.observed = (
                    None
                    if _touches(cfg.kwargs, self.identifiers) and not is_type
                    else _jsonable(observed)
                )

    def _keep_rows(self, year, suite, outcome, frame, positions) -> None:
        pos = np.asarray(positions, dtype=np.int64)
        self.unexpected.append(
            pd.DataFrame(
                {
                    "year": np.full(len(pos), year, dtype=np.int64),
                    "suite": suite,
                    "check": outcome.check,
                    "variable": outcome.variable or "",
                    "severity": outcome.severity,
                    "critical": outcome.critical,
                    "file": frame[FILE_COLUMN].to_numpy()[pos].astype(str)
                    if FILE_COLUMN in frame
                    else "",
                    "row": frame[ROW_COLUMN].to_numpy()[pos].astype(np.int64)
                    if ROW_COLUMN in frame
                    else pos,
                }
            )
        )

    def add_period_examples(self, year, suite, result, frame: pd.DataFrame) -> None:
        """The period frame has no file rows: examples name the kommun and months."""
        for er in result.results:
            cfg = er.expectation_config
            outcome = self.outcomes[(year, suite, (cfg.meta or {}).get("n", cfg.id))]
            positions = list((er.result or {}).get("unexpected_index_list") or [])
            outcome.examples = [
                {k: _jsonable(v) for k, v in frame.iloc[int(p)].to_dict().items()}
                for p in positions[:EXAMPLES]
            ]


def _reading_outcome(src: Source, year: int) -> ExpectationOutcome | None:
    """A delivery that is not Parquet was read by the one reader: its rejected rows (a
    value not readable as its catalogue type, a line with the wrong number of fields)
    fail a critical expectation of their own, named by file, row and column only."""
    staged = src.staged
    if staged is None:
        return None
    outcome = ExpectationOutcome(
        year=year,
        suite=f"{src.register}.delivery",
        expectation="expect_rows_readable_as_catalogue_types",
        check="readable",
        variable=None,
        severity="critical",
        description="every row can be read, each value as its catalogue type",
        mostly=1.0,
        batches=1,
        element_count=staged.rows_in,
        unexpected_count=staged.rows_rejected,
        all_batches_succeeded=staged.rows_rejected == 0,
    )
    if staged.rejects is not None:
        first = pq.read_table(
            staged.rejects, columns=["source_file", "source_row", "column", "reason"]
        ).slice(0, EXAMPLES)
        outcome.examples = [
            {
                "file": r["source_file"],
                "row": r["source_row"],
                "column": r["column"],
                "reason": r["reason"],
            }
            for r in first.to_pylist()
        ]
    return outcome


def _markdown(report: QualityReport) -> str:
    lines = [
        f"# Quality summary: {report.register} ({report.mode})",
        "",
        f"- years: {', '.join(map(str, report.years)) or 'none'}",
        f"- rows: {report.rows:,}",
        f"- expectations: {len(report.outcomes)}, failed: {len(report.failures)} "
        f"(critical {len(report.critical_failures)}, warning {report.failed_by('warning')}, "
        f"info {report.failed_by('info')})",
        f"- result: {'FAIL' if report.critical_failures else 'PASS'}",
        f"- catalogue version: {catalogue_version()}",
        "",
        "Identifier values are masked (# digit, A letter, _ white space); rows are named by "
        "file and row (the first data row of a file is row 1, as in the rejects of `pseudonymise` "
        "and `extract build`). Start with `review.html`; Great Expectations' Data Docs: "
        "`data_docs/index.html`.",
        "",
        "## Failed expectations",
        "",
    ]
    order = {"critical": 0, "warning": 1, "info": 2}
    failed = sorted(report.failures, key=lambda o: (order[o.severity], o.year, o.check))
    if not failed:
        lines.append("None.")
    else:
        lines.append("| year | severity | check | variable | expectation | unexpected | examples |")
        lines.append("|---|---|---|---|---|---|---|")
        for o in failed:
            ex = (
                "; ".join(", ".join(f"{k}={v}" for k, v in e.items()) for e in o.examples[:3])
                or "; ".join(o.errors)[:200]
            )
            lines.append(
                f"| {o.year} | {o.severity} | {o.check} | {o.variable or ''} "
                f"| {o.description} | {o.unexpected_count:,} | {ex.replace('|', '/')} |"
            )
    lines += ["", "## Passed, with unexpected rows within the tolerance (`mostly`)", ""]
    tolerated = [o for o in report.outcomes if o.success and o.unexpected_count]
    if not tolerated:
        lines.append("None.")
    else:
        lines.append("| year | check | variable | expectation | unexpected | examples |")
        lines.append("|---|---|---|---|---|---|")
        for o in tolerated:
            ex = "; ".join(", ".join(f"{k}={v}" for k, v in e.items()) for e in o.examples[:3])
            lines.append(
                f"| {o.year} | {o.check} | {o.variable or ''} | {o.description} "
                f"| {o.unexpected_count:,} | {ex.replace('|', '/')} |"
            )
    lines += ["", "## All expectations", ""]
    lines.append("| year | suite | check | variable | severity | result | unexpected |")
    lines.append("|---|---|---|---|---|---|---|")
    for o in report.outcomes:
        lines.append(
            f"| {o.year} | {o.suite.rsplit('.', 1)[-1]} | {o.check} | {o.variable or ''} "
            f"| {o.severity} | {'pass' if o.success else 'FAIL'} "
            f"| {o.unexpected_count:,} |"
        )
    return "\n".join(lines) + "\n"


def _gx_frame(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """The columns GX needs; with pandas 3 copy-on-write this copies no data."""
    return frame[columns]


def _numbered(suite):
    """Number the suite's expectations: the key that matches a part's results to the
    page's expectation (unsaved suites have no GX ids)."""
    for i, exp in enumerate(suite.expectations):
        exp.meta["n"] = i
    return suite


def _validate_frame(batch_definition, suite, frame: pd.DataFrame):
    """Run ``suite`` on ``frame`` without storing anything in the context: only the
    assembled pages are stored (:mod:`quality.validations`)."""
    from great_expectations.validator.v1_validator import Validator

    return Validator(
        batch_definition=batch_definition,
        batch_parameters={"dataframe": frame},
        result_format=RESULT_FORMAT,
    ).validate_expectation_suite(suite)


def _page_of(suite, exp) -> str:
    kind = suite.name.rsplit(".", 1)[-1]
    if kind != "rows":
        return kind
    return f"{exp.meta.get('rows', 'person')}_rows"


def _validate(
    context,
    reg: Register,
    src: Source,
    years: list[int],
    extract: bool,
    batch_rows: int,
    collector: _Collector,
) -> tuple[int, list[Page]]:
    from mikrodata.quality.suites import (
        HOLES_COLUMN,
        PROBABLE_COLUMN,
        build_holes_suite,
        build_period_suite,
        build_suite,
        household_column,
        spell_end_variable,
        split_suite,
        suite_name,
        unchanged_household_variables,
    )
    from mikrodata.quality.validations import Page

    datasource = context.data_sources.add_pandas(name=reg.name)
    rows_bd = datasource.add_dataframe_asset("rows").add_batch_definition_whole_dataframe("batch")
    periods_bd = datasource.add_dataframe_asset(
        "kommun_months"
    ).add_batch_definition_whole_dataframe("batch")
    # The household frame carries counts only: the household id never reaches GX.
    households_bd = datasource.add_dataframe_asset(
        "household_months"
    ).add_batch_definition_whole_dataframe("batch")
    data_columns = [c for c in src.columns if c not in (FILE_COLUMN, ROW_COLUMN)]
    key = reg.key[0] if reg.key and reg.key[0] in data_columns else None
    mode = "extract" if extract else "delivery"
    total_rows = 0
    pages: list[Page] = []
    batches = sum(src.batch_count(y, batch_rows) for y in years)

    def page_suite(suite, exp) -> str:
        return suite_name(reg.name, int(suite.meta["year"]), mode, _page_of(suite, exp))

    def add_pages(year: int, suite) -> None:
        by_page: dict[str, list] = {}
        for exp in suite.expectations:
            by_page.setdefault(_page_of(suite, exp), []).append(exp)
        for page, exps in by_page.items():
            name = suite_name(reg.name, year, mode, page)
            outcomes = [collector.outcomes.get((year, name, e.meta["n"])) for e in exps]
            kept = [(e, o) for e, o in zip(exps, outcomes, strict=True) if o is not None]
            pages.append(
                Page(
                    register=reg.name,
                    year=year,
                    mode=mode,
                    page=page,
                    meta=dict(suite.meta),
                    configs=[o.config for _, o in kept],
                    outcomes=[o for _, o in kept],
                )
            )

    with progress(f"quality {reg.name}", total=batches) as task:
        for year in years:
            suite = _numbered(build_suite(reg, year, data_columns, extract=extract))
            parts = [
                (part.suite, [c for c in part.columns if c in data_columns])
                for part in split_suite(suite)
            ]
            expected_rows = src.count(year)
            year_rows = 0
            for frame in src.batches(year, batch_rows, key):
                total_rows += len(frame)
                year_rows += len(frame)
                frame = frame.reset_index(drop=True)
                for part, columns in parts:
                    # Only the part's columns: see quality.suites.split_suite.
                    result = _validate_frame(rows_bd, part, _gx_frame(frame, columns))
                    # A part's expectations all belong to one page.
                    name = page_suite(suite, part.expectations[0])
                    collector.add(year, name, _page_of(suite, part.expectations[0]), result, frame)
                del frame
                task.advance(1)
            if year_rows != expected_rows:  # every row in exactly one batch
                raise IntegrityError(
                    f"{reg.name} {year}: batches held {year_rows:,} rows, "
                    f"the data {expected_rows:,}",
                    "Report this as a bug in quality.source",
                )
            add_pages(year, suite)
            month = reg.period[1] if len(reg.period) > 1 else None
            kommun_suite = build_period_suite(reg, year, extract=extract)
            if kommun_suite is not None and month in data_columns and "kommun" in data_columns:
                kommun_suite = _numbered(kommun_suite)
                pframe = src.months_by(year, "kommun", month)
                presult = _validate_frame(periods_bd, kommun_suite, pframe)
                collector.add(year, kommun_suite.name, "kommun_months", presult, pd.DataFrame())
                collector.add_period_examples(year, kommun_suite.name, presult, pframe)
                add_pages(year, kommun_suite)
            holes_suite = build_holes_suite(reg, year, extract=extract)
            household = household_column(reg)
            if holes_suite is not None and month in data_columns and household in data_columns:
                holes_suite = _numbered(holes_suite)
                ended = spell_end_variable(reg, year)
                same = [c for c in unchanged_household_variables(reg, year) if c in data_columns]
                hframe = src.month_holes(
                    year,
                    household,
                    month,
                    ended=ended if ended in data_columns else None,
                    same=tuple(same),
                )
                hresult = _validate_frame(
                    households_bd, holes_suite, hframe[[HOLES_COLUMN, PROBABLE_COLUMN]]
                )
                collector.add(
                    year,
                    holes_suite.name,
                    "household_months",
                    hresult,
                    hframe,
                    extra=("hole_month",),
                )
                add_pages(year, holes_suite)
    return total_rows, pages


_MISSINGNESS_NOTE = (
    "Share of rows missing per variable and year. Item missing: the variable applies to "
    "the row that year and was not reported (empty strings and blanks count as missing). "
    "Structural: the catalogue says it cannot be there (the variable did not exist that "
    "year, or does not apply to the row, e.g. avslutsorsak outside the month a spell "
    "ends). Only item missing is non-response."
)
_HISTORY_NOTE = (
    "The years each variable exists by the catalogue (bars) and the breaks the data show "
    "between adjacent years: green when the catalogue documents the change, red crosses "
    "to review (an undocumented new or vanished code, a jump in missingness, a shift in "
    "a code distribution)."
)


def _review_figures(register: str, data) -> list:
    """The missingness heatmap and history timeline for the review page."""
    from mikrodata.quality.history_report import compute_history
    from mikrodata.quality.missingness import compute_missingness

    return [
        (
            "Missingness by variable and year",
            _MISSINGNESS_NOTE,
            compute_missingness(register, data).figure,
        ),
        (
            "Variable history: documented and observed",
            _HISTORY_NOTE,
            compute_history(register, data).figure,
        ),
    ]


def _staged_counts(src: Source) -> dict[str, Any]:
    """Format and read counts of a delivery staged from another format ({} for Parquet)."""
    if src.staged is None:
        return {}
    return {
        "format": src.staged.format,
        "rows_in": src.staged.rows_in,
        "rows_read": src.staged.rows_out,
        "rows_rejected": src.staged.rows_rejected,
        **src.staged.details,
    }


def delivery_checksums(src: Source) -> dict[str, Any]:
    """SHA-256 of every file delivered, and one checksum over them all: what a sign-off
    is bound to (a changed delivery has a different checksum). A staged delivery is
    checked by its delivered file, not by the staged copy."""
    files = []
    delivered = [src.staged.source] if src.staged is not None else src.files
    for path in delivered:
        digest = hashlib.sha256()
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
        files.append(
            {
                "path": os.path.relpath(path, src.root),
                "bytes": path.stat().st_size,
                "sha256": digest.hexdigest(),
            }
        )
    files.sort(key=lambda f: f["path"])
    listing = "\n".join(f"{f['path']}\t{f['sha256']}" for f in files)
    return {"sha256": hashlib.sha256(listing.encode("utf-8")).hexdigest(), "files": files}


def run_quality(
    register: str,
    data: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    year: int | None = None,
    extract: bool = False,
    batch_rows: int = BATCH_ROWS,
    data_docs: bool = True,
    review_figures: bool = True,
    raise_on_failure: bool = True,
) -> QualityReport:
    """Validate ``data`` (a file or directory, in any delivery format) of ``register``
    and write ``out``.

    Raises :class:`QualityFailure` (exit code 15) when a critical expectation fails,
    after the outputs are written (unless ``raise_on_failure`` is False).
    """
    started = time.perf_counter()
    reg = load(register)
    year_column = reg.period[0] if reg.period else "statistikar"
    src = open_source(data, register, year_column, year)
    try:
        years = src.years()
        if year is not None:
            years = [y for y in years if y == year]
        if not years:
            raise BadInputError(
                f"no rows of {reg.name}" + (f" for {year}" if year is not None else ""),
                "Check --in and --year",
            )
        from mikrodata.quality.datadocs import make_offline
        from mikrodata.quality.gx_context import DATA_DOCS_SITE, GX_DIR, open_context
        from mikrodata.quality.validations import page_link, store_pages

        collector = _Collector(_identifier_columns(reg))
        out_path = Path(out)
        with atomic_directory(out_path) as tmp:
            context = open_context(tmp)
            gx_root = tmp / GX_DIR
            rows, pages = _validate(context, reg, src, years, extract, batch_rows, collector)
            reading = _reading_outcome(src, years[0])
            if reading is not None:
                collector.outcomes[("delivery", reading.expectation)] = reading
            run_time = dt.datetime.now(dt.UTC)
            store_pages(context, pages, run_time)
            # Nothing unmasked should be stored; this is the safety net.
            scrub_stored_results(gx_root, collector.identifiers)
            report = QualityReport(
                register=reg.name,
                mode="extract" if extract else "delivery",
                years=years,
                rows=rows,
                outcomes=list(collector.outcomes.values()),
                seconds=0.0,
                out=out_path,
                delivery=delivery_checksums(src) | _staged_counts(src),
                checked_by=current_identity().user,
                checked_at=run_time.isoformat(timespec="seconds"),
            )
            if data_docs:
                context.build_data_docs()
                site = gx_root / "uncommitted" / "data_docs" / DATA_DOCS_SITE
                shutil.move(str(site), str(tmp / "data_docs"))
                make_offline(tmp / "data_docs")
            links = {}
            for page in pages:
                link = page_link(page, run_time)
                if (tmp / "data_docs" / link).is_file():
                    links[(page.year, page.page)] = f"data_docs/{link}"
            # Deliveries only: an extract's columns are pseudonyms and approved variables.
            show = data_docs and review_figures and not extract
            figures = _review_figures(reg.name, data) if show else []
            write_text_atomic(tmp / REVIEW_FILE, render_review(report, links, figures=figures))
            frames = collector.unexpected
            table = (
                pa.Table.from_pandas(pd.concat(frames, ignore_index=True), preserve_index=False)
                if frames
                else pa.table(
                    {
                        "year": pa.array([], pa.int64()),
                        "suite": pa.array([], pa.string()),
                        "check": pa.array([], pa.string()),
                        "variable": pa.array([], pa.string()),
                        "severity": pa.array([], pa.string()),
                        "critical": pa.array([], pa.bool_()),
                        "file": pa.array([], pa.string()),
                        "row": pa.array([], pa.int64()),
                    }
                )
            )
            pq.write_table(table, tmp / "unexpected_rows.parquet")
            report.seconds = time.perf_counter() - started
            (tmp / "summary.json").write_text(
                json.dumps(report.as_dict(), indent=2, default=str), encoding="utf-8"
            )
            (tmp / "summary.md").write_text(_markdown(report), encoding="utf-8")
    finally:
        src.close()
    if raise_on_failure and report.critical_failures:
        checks = sorted({f"{o.check}:{o.variable}" for o in report.critical_failures})
        raise QualityFailure(
            f"{len(report.critical_failures)} critical expectation(s) failed for "
            f"{reg.name} ({', '.join(checks[:8])}{', ...' if len(checks) > 8 else ''})",
            f"Read {out_path / 'summary.md'} and {out_path / 'data_docs' / 'index.html'}",
        )
    return report
