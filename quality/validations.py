"""One stored GX validation per register, year and page, assembled from the batches.

The suites are computed in small parts (a variable, the key, a rule) on batches of
rows, because that is fast (see :func:`quality.suites.split_suite`). What a reviewer
reads is different: one validation result per register, year and page (person rows,
household rows, kommun months, household months), each with every expectation of that
page and its counts added up over the batches. :func:`store_pages` writes exactly those
results and their suites into the GX context, so Data Docs show a few pages per year,
named by data asset, with each expectation's severity in a column of its own.

Unexpected values of direct identifiers reach the stored result masked (the examples
are masked when collected); a column's type is never a value and is never masked.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from great_expectations.core import ExpectationSuiteValidationResult, ExpectationValidationResult
from great_expectations.core.run_identifier import RunIdentifier
from great_expectations.data_context.types.resource_identifiers import (
    ExpectationSuiteIdentifier,
    ValidationResultIdentifier,
)

from mikrodata.quality.gx_context import gx

__all__ = ["PAGE_LABELS", "Page", "page_link", "store_pages"]

# Page -> how a reviewer names the data the page is about.
PAGE_LABELS = {
    "person_rows": "person rows",
    "household_rows": "household rows",
    "kommun_months": "months delivered per kommun",
    "household_months": "months per household",
}


@dataclass
class Page:
    """The expectations of one year and page, with their outcomes in suite order."""

    register: str
    year: int
    mode: str
    page: str
    meta: dict[str, Any]  # the suite's meta (severity notes, catalogue version)
    configs: list[Any]  # ExpectationConfiguration, the suite's own
    outcomes: list[Any]  # quality.run.ExpectationOutcome, same order

    @property
    def suite_name(self) -> str:
        return f"{self.register}.{self.year}.{self.mode}.{self.page}"

    @property
    def asset_name(self) -> str:
        return f"{self.register} {self.year} {PAGE_LABELS.get(self.page, self.page)}"

    @property
    def batch_identifier(self) -> str:
        return f"{self.register}-{self.year}-{self.page}"


def _result(outcome, config) -> ExpectationValidationResult:
    """The GX result of one expectation, from its outcome added up over batches."""
    result: dict[str, Any] = {}
    if outcome.is_map:
        n = outcome.element_count
        result = {
            "element_count": n,
            "missing_count": outcome.missing_count,
            "missing_percent": 100 * outcome.missing_count / n if n else 0.0,
            "unexpected_count": outcome.unexpected_count,
            "unexpected_percent": 100 * outcome.unexpected_count / n if n else 0.0,
            "unexpected_percent_nonmissing": (
                100 * outcome.unexpected_count / (n - outcome.missing_count)
                if n - outcome.missing_count > 0
                else 0.0
            ),
            # Examples only (masked for identifiers); the row file has every row.
            "partial_unexpected_list": [e.get("value") for e in outcome.examples],
        }
    elif outcome.observed is not None:
        result = {"observed_value": outcome.observed}
    exception = {"raised_exception": False, "exception_message": None, "exception_traceback": None}
    if outcome.errors:
        exception = {
            "raised_exception": True,
            "exception_message": "; ".join(sorted(set(outcome.errors))),
            "exception_traceback": None,
        }
    return ExpectationValidationResult(
        success=outcome.success,
        expectation_config=config,
        result=result,
        exception_info=exception,
    )


def store_pages(context, pages: Iterable[Page], run_time: dt.datetime) -> list[Page]:
    """Add each page's suite to the context and store its one validation result."""
    stored = []
    store = context.validation_results_store
    for page in pages:
        if not page.configs:
            continue
        suite = context.suites.add(
            gx.ExpectationSuite(
                name=page.suite_name,
                expectations=[c.to_domain_obj() for c in page.configs],
                meta=dict(page.meta),
            )
        )
        configs = [e.configuration for e in suite.expectations]
        results = [_result(o, c) for o, c in zip(page.outcomes, configs, strict=True)]
        failed = sum(not r.success for r in results)
        result = ExpectationSuiteValidationResult(
            success=failed == 0,
            results=results,
            suite_name=page.suite_name,
            statistics={
                "evaluated_expectations": len(results),
                "successful_expectations": len(results) - failed,
                "unsuccessful_expectations": failed,
                "success_percent": 100 * (len(results) - failed) / len(results),
            },
            meta={
                "great_expectations_version": gx.__version__,
                "batch_spec": {"data_asset_name": page.asset_name},
                "active_batch_definition": {
                    "datasource_name": page.register,
                    "data_asset_name": page.asset_name,
                    "batch_definition_name": page.page,
                },
                "run_id": {"run_name": str(page.year), "run_time": run_time.isoformat()},
                "validation_time": run_time.strftime("%Y%m%dT%H%M%S.%fZ"),
            },
        )
        key = ValidationResultIdentifier(
            expectation_suite_identifier=ExpectationSuiteIdentifier(name=page.suite_name),
            run_id=RunIdentifier(run_name=str(page.year), run_time=run_time),
            batch_identifier=page.batch_identifier,
        )
        store.set(key, result)
        stored.append(page)
    return stored


def page_link(page: Page, run_time: dt.datetime) -> str:
    """The page's validation result in Data Docs, relative to the site root (GX's
    layout: suite name parts, run name, run time, batch identifier)."""
    stamp = RunIdentifier(run_name=str(page.year), run_time=run_time).to_tuple()[1]
    parts = page.suite_name.split(".")
    return "/".join(["validations", *parts, str(page.year), stamp, page.batch_identifier]) + ".html"
