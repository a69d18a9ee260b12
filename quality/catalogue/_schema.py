"""The JSON Schema every catalogue file is checked against when it is loaded.

Structural rules live in the schema; rules that relate fields to each other (years in
order, codes inside their variable's years, sources that exist) are checked in
``_load.py``. Both report the file, the variable and the field.
"""

from __future__ import annotations

from typing import Any

IDENTIFIER_CLASSES = ("direct_identifier", "quasi_identifier", "sensitive", "other")
TYPES = ("string", "code", "integer", "decimal", "date")
CONFIDENCE = ("V", "S", "U")

_year = {"type": "integer", "minimum": 1900, "maximum": 2100}
_year_or_null = {"anyOf": [_year, {"type": "null"}]}
_text = {"type": "string", "minLength": 1}
_sources = {"type": "array", "items": _text, "minItems": 1}

_reference = {
    "type": "object",
    "required": ["title", "confidence"],
    "additionalProperties": False,
    "properties": {
        "title": _text,
        "url": _text,
        "confidence": {"enum": list(CONFIDENCE)},
        "note": _text,
    },
}

_change = {
    "type": "object",
    "required": ["year", "description", "sources"],
    "additionalProperties": False,
    "properties": {"year": _year, "description": _text, "sources": _sources},
}

_code = {
    "type": "object",
    "required": ["code", "label_sv", "label_en"],
    "additionalProperties": False,
    "properties": {
        "code": _text,
        "label_sv": _text,
        "label_en": _text,
        "first_year": _year,
        "last_year": _year_or_null,
        "group": {"type": "string", "pattern": "^[a-z][a-z0-9_]*$"},
        "sources": _sources,
    },
}

_codes = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "ref": _text,
        "provisional": {"type": "boolean"},
        "note": _text,
        "sources": _sources,
        "values": {"type": "array", "items": _code, "minItems": 1},
    },
    "oneOf": [{"required": ["ref"]}, {"required": ["values", "provisional", "sources"]}],
}

_missing_year = {
    "type": "object",
    "required": ["year", "reason", "sources"],
    "additionalProperties": False,
    "properties": {"year": _year, "reason": _text, "sources": _sources},
}

_variable = {
    "type": "object",
    "required": [
        "name",
        "label_sv",
        "label_en",
        "type",
        "identifier_class",
        "first_year",
        "last_year",
        "sources",
    ],
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "pattern": "^[a-z][a-z0-9_]*$"},
        "label_sv": _text,
        "label_en": _text,
        "description": _text,
        "type": {"enum": list(TYPES)},
        "unit": {"anyOf": [_text, {"type": "null"}]},
        "identifier_class": {"enum": list(IDENTIFIER_CLASSES)},
        "identifier_domain": {"enum": ["person", "household", "case"]},
        # The column name a direct identifier gets in an extract, where it is delivered
        # only as the project pseudonym (lopnr: Socialstyrelsen's word).
        "pseudonym": {"type": "string", "pattern": "^[a-z][a-z0-9_]*$"},
        "level": {"enum": ["person", "household", "event"]},
        "first_year": _year,
        "last_year": _year_or_null,
        "nullable": {"type": "boolean"},
        "applies_to": {
            "type": "object",
            "required": ["variable", "codes"],
            "additionalProperties": False,
            "properties": {
                "variable": _text,
                "codes": {"type": "array", "items": _text, "minItems": 1},
            },
        },
        # When within a year the variable applies (beyond applies_to's rows): "spell_end",
        # only in the last month of a spell of assistance (the household's next month
        # has no row). Its absence in other months is structural, not item missing.
        "applies_in": {"enum": ["spell_end"]},
        "range": {
            "type": "object",
            "additionalProperties": False,
            "properties": {"min": {"type": "number"}, "max": {"type": "number"}},
        },
        "codes": _codes,
        "changes": {"type": "array", "items": _change},
        "sources": _sources,
    },
}

REGISTER_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "mikrodata register catalogue",
    "type": "object",
    "required": [
        "register",
        "version",
        "label_sv",
        "label_en",
        "holder",
        "record",
        "first_year",
        "last_year",
        "key",
        "references",
        "variables",
    ],
    "additionalProperties": False,
    "properties": {
        "register": {"type": "string", "pattern": "^[a-z][a-z0-9_]*$"},
        "version": _text,
        "label_sv": _text,
        "label_en": _text,
        "holder": _text,
        "record": _text,
        "description": _text,
        "first_year": _year,
        "last_year": _year_or_null,
        "key": {"type": "array", "items": _text, "minItems": 1},
        "period": {"type": "array", "items": _text},
        # Years inside first_year..last_year in which the register holds no data at all.
        "missing_years": {"type": "array", "items": _missing_year},
        "references": {"type": "object", "additionalProperties": _reference, "minProperties": 1},
        "changes": {"type": "array", "items": _change},
        "variables": {"type": "array", "items": _variable, "minItems": 1},
    },
}

CODELIST_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "mikrodata shared code list",
    "type": "object",
    "required": ["name", "label_sv", "label_en", "file", "provisional", "sources", "references"],
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "pattern": "^[a-z][a-z0-9_]*$"},
        "label_sv": _text,
        "label_en": _text,
        "file": _text,
        "provisional": {"type": "boolean"},
        "note": _text,
        "sources": _sources,
        "references": {"type": "object", "additionalProperties": _reference, "minProperties": 1},
        "extra_columns": {"type": "object", "additionalProperties": _text},
    },
}
