"""Custom Great Expectations 1.x expectations of mikrodata.

Three checks the core library cannot make, each a map expectation so that GX counts
the unexpected rows and renders them in Data Docs like any other:

- :class:`ExpectColumnValuesToBeValidIdentifiers`: personnummer/samordningsnummer
  valid by the project's parser (and, with ``normalised=True``, already in the one
  normalised 12-digit form);
- :class:`ExpectColumnValuesToHaveCatalogueType`: the column holds the catalogue's
  type (string, code, integer, decimal, date). GX's own type expectations reject
  pandas 3's Arrow-backed ``str`` dtype even when "str" is listed, hence this one;
- :class:`ExpectRowsToSatisfyRule`: a named cross-column rule from :mod:`quality.rules`.

All three compute vectorised conditions on pandas (the only engine we run), and each
renders as a sentence in Data Docs (GX's legacy prescriptive renderer; without it GX
shows ``expect_...(**{kwargs})``). Suites built by :mod:`quality.suites` also carry a
``description`` with the severity, which GX shows in place of the sentence.
"""

from __future__ import annotations

from typing import ClassVar, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
from great_expectations.compatibility import pydantic
from great_expectations.execution_engine import PandasExecutionEngine
from great_expectations.expectations.expectation import (
    ColumnAggregateExpectation,
    ColumnMapExpectation,
    MulticolumnMapExpectation,
)
from great_expectations.expectations.metrics.column_aggregate_metric_provider import (
    ColumnAggregateMetricProvider,
    column_aggregate_value,
)
from great_expectations.expectations.metrics.map_metric_provider import (
    ColumnMapMetricProvider,
    MulticolumnMapMetricProvider,
    column_condition_partial,
)
from great_expectations.expectations.metrics.map_metric_provider.multicolumn_condition_partial import (  # noqa: E501
    multicolumn_condition_partial,
)
from great_expectations.render import LegacyDiagnosticRendererType, LegacyRendererType
from great_expectations.render.components import RenderedStringTemplateContent
from great_expectations.render.renderer.renderer import renderer

import mikrodata.quality.gx_context  # noqa: F401  (analytics off before GX is used)
from mikrodata.quality.identifiers import identifier_reasons
from mikrodata.quality.rules import RULES

__all__ = [
    "CATALOGUE_TYPES",
    "ExpectColumnValuesToBeValidIdentifiers",
    "ExpectColumnValuesToHaveCatalogueType",
    "ExpectRowsToSatisfyRule",
    "matches_catalogue_type",
]

CATALOGUE_TYPES = ("string", "code", "integer", "decimal", "date")


def matches_catalogue_type(column: pd.Series, catalogue_type: str) -> bool:
    """Whether the pandas column's dtype (and, for integers stored as floats because of
    missing values, its values) fit the catalogue type."""
    dtype = column.dtype
    if catalogue_type in ("string", "code"):
        # Codes are strings: "0180" must keep its leading zero.
        if pd.api.types.is_object_dtype(dtype):
            return pd.api.types.infer_dtype(column, skipna=True) in ("string", "empty")
        return pd.api.types.is_string_dtype(dtype)
    if catalogue_type == "integer":
        if pd.api.types.is_integer_dtype(dtype):
            return True
        if pd.api.types.is_float_dtype(dtype):
            values = column.dropna().to_numpy(dtype=float)
            return bool(np.all(values == np.floor(values)))
        return False
    if catalogue_type == "decimal":
        return pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)
    if catalogue_type == "date":
        if isinstance(dtype, pd.ArrowDtype):
            return pa.types.is_date(dtype.pyarrow_dtype) or pa.types.is_timestamp(
                dtype.pyarrow_dtype
            )
        # Parquet date32 columns arrive as objects holding datetime.date; infer_dtype
        # checks them in C, without a Python call per row.
        return pd.api.types.is_datetime64_any_dtype(dtype) or (
            pd.api.types.is_object_dtype(dtype)
            and pd.api.types.infer_dtype(column, skipna=True) in ("date", "datetime", "empty")
        )
    raise ValueError(f"unknown catalogue type {catalogue_type!r}")


def _sentence(configuration, result, template: str, keys: tuple[str, ...]):
    """A one-sentence rendering of a custom expectation.

    GX calls renderers with ``configuration`` or only ``result`` (or neither) depending
    on the page; both are narrowed here rather than assumed.
    """
    config = configuration
    if config is None and result is not None:
        config = result.expectation_config
    kwargs = dict(config.kwargs) if config is not None else {}
    params = {k: kwargs.get(k) for k in keys}
    if "column_list" in params and isinstance(params["column_list"], list):
        params["column_list"] = ", ".join(map(str, params["column_list"]))
    if any(v is None for v in params.values()):
        template = "a mikrodata check (its configuration is not available here)"
        params = {}
    return [
        RenderedStringTemplateContent(
            content_block_type="string_template",
            string_template={"template": template, "params": params},
        )
    ]


class ColumnValuesValidIdentifiers(ColumnMapMetricProvider):
    condition_metric_name = "column_values.mikrodata_valid_identifier"
    condition_value_keys = ("normalised", "reference_year")

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column, normalised=False, reference_year=None, **kwargs):
        reasons = identifier_reasons(column, reference_year)
        if normalised:
            return reasons == ""
        return (reasons == "") | (reasons == "not_normalised")


class ExpectColumnValuesToBeValidIdentifiers(ColumnMapExpectation):
    """Expect each value to be a valid personnummer or samordningsnummer, judged by
    :func:`pseudonymisation.parse_identifiers`; with ``normalised`` also expect the
    one normalised form (12 digits, century, no separator)."""

    normalised: bool = pydantic.Field(default=False)
    reference_year: int | None = pydantic.Field(default=None)

    library_metadata: ClassVar[dict] = {"maturity": "experimental", "tags": ["mikrodata"]}
    map_metric = "column_values.mikrodata_valid_identifier"
    success_keys = ("normalised", "reference_year", "mostly")
    args_keys = ("column",)

    @classmethod
    @renderer(renderer_type=LegacyRendererType.PRESCRIPTIVE)
    def _prescriptive_renderer(
        cls, configuration=None, result=None, runtime_configuration=None, **kwargs
    ):
        config = configuration or (result.expectation_config if result else None)
        normalised = bool(config and config.kwargs.get("normalised"))
        template = (
            "$column values must be personnummer or samordningsnummer in the normalised "
            "12-digit form."
            if normalised
            else "$column values must be valid personnummer or samordningsnummer "
            "(date and check digit)."
        )
        return _sentence(configuration, result, template, ("column",))


class ColumnCatalogueType(ColumnAggregateMetricProvider):
    """The column's dtype name and whether it fits the catalogue type."""

    metric_name = "column.mikrodata_catalogue_type"
    value_keys = ("catalogue_type",)

    @column_aggregate_value(engine=PandasExecutionEngine)
    def _pandas(cls, column, catalogue_type, **kwargs):
        return {
            "dtype": str(column.dtype),
            "matches": matches_catalogue_type(column, catalogue_type),
        }


class ExpectColumnValuesToHaveCatalogueType(ColumnAggregateExpectation):
    """Expect the column to hold the catalogue's type (string, code, integer, decimal,
    date); codes must be strings.

    An aggregate, not a map expectation: the dtype decides for the whole column, and a
    map expectation would make GX filter and count every row to say so.
    """

    catalogue_type: Literal["string", "code", "integer", "decimal", "date"]

    library_metadata: ClassVar[dict] = {"maturity": "experimental", "tags": ["mikrodata"]}
    metric_dependencies = ("column.mikrodata_catalogue_type",)
    success_keys = ("catalogue_type",)
    args_keys = ("column", "catalogue_type")

    @classmethod
    @renderer(renderer_type=LegacyRendererType.PRESCRIPTIVE)
    def _prescriptive_renderer(
        cls, configuration=None, result=None, runtime_configuration=None, **kwargs
    ):
        return _sentence(
            configuration,
            result,
            "$column must hold the catalogue type $catalogue_type.",
            ("column", "catalogue_type"),
        )

    @classmethod
    @renderer(renderer_type=LegacyDiagnosticRendererType.OBSERVED_VALUE)
    def _diagnostic_observed_value_renderer(
        cls, configuration=None, result=None, runtime_configuration=None, **kwargs
    ):
        # The column's dtype: a type, never a value, so never masked.
        observed = (result.result or {}).get("observed_value") if result else None
        return f"type {observed}" if observed is not None else "--"

    def _validate(self, metrics, runtime_configuration=None, execution_engine=None):
        found = metrics["column.mikrodata_catalogue_type"]
        return {
            "success": bool(found["matches"]),
            "result": {"observed_value": found["dtype"]},
        }


class MulticolumnRule(MulticolumnMapMetricProvider):
    condition_metric_name = "multicolumn_values.mikrodata_rule"
    condition_domain_keys = (
        "batch_id",
        "table",
        "column_list",
        "row_condition",
        "condition_parser",
        "ignore_row_if",
    )
    condition_value_keys = ("rule",)

    @multicolumn_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column_list, rule, **kwargs):
        return RULES[rule].check(column_list)


class ExpectRowsToSatisfyRule(MulticolumnMapExpectation):
    """Expect each row to satisfy the named cross-column rule of :mod:`quality.rules`."""

    rule: str
    ignore_row_if: Literal["all_values_are_missing", "any_value_is_missing", "never"] = "never"

    library_metadata: ClassVar[dict] = {"maturity": "experimental", "tags": ["mikrodata"]}
    map_metric = "multicolumn_values.mikrodata_rule"
    success_keys = ("rule", "mostly")
    args_keys = ("column_list", "rule")

    @classmethod
    @renderer(renderer_type=LegacyRendererType.PRESCRIPTIVE)
    def _prescriptive_renderer(
        cls, configuration=None, result=None, runtime_configuration=None, **kwargs
    ):
        config = configuration or (result.expectation_config if result else None)
        rule = RULES.get(config.kwargs.get("rule")) if config is not None else None
        text = rule.description if rule is not None else "the rule $rule"
        return _sentence(
            configuration,
            result,
            f"Each row must satisfy: {text} (columns $column_list).",
            ("column_list", "rule"),
        )
