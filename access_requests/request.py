"""An access request: one YAML file per project, what it approves, checked on load.

A request is checked in two steps, and every problem names the file and the field:

1. the JSON Schema below (structure, types, allowed values);
2. cross checks against the variable catalogue: every register exists, every approved
   year lies inside the register's years, and every approved variable exists in every
   approved year (a variable missing in a year is an error naming both).

What a request approves for one register is :meth:`AccessRequest.columns`: the
person identifier (which arrives only as a project pseudonym) and the period columns,
the approved variables, and the approved derived variables. Nothing else may reach an
extract.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from mikrodata.quality.catalogue import Register, load, registers
from mikrodata.toolkit.errors import BadInputError, CatalogueError
from mikrodata.toolkit.identity import USER_PATTERN
from mikrodata.toolkit.jsonschemas import best_error

__all__ = [
    "DERIVED_VARIABLES",
    "POPULATION_REGISTER",
    "PROJECT_ID_PATTERN",
    "POPULATION_TYPES",
    "REQUEST_SCHEMA",
    "AccessRequest",
    "DerivedVariable",
    "OutputRules",
    "Population",
    "RegisterApproval",
    "file_sha256",
    "load_request",
    "parse_request",
    "request_project",
]

# The C loader where PyYAML has libyaml (several times faster: the catalogue is read on
# every command); its safe subset either way.
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class DerivedVariable:
    """A variable computed from the person identifier, so the identifier itself need not
    be approved. ``type`` is a catalogue type."""

    name: str
    type: str
    label_en: str


# The derived variables a request may approve; the extract builder computes exactly these.
DERIVED_VARIABLES: dict[str, DerivedVariable] = {
    d.name: d
    for d in (
        DerivedVariable("birth_year", "integer", "Year of birth, from the identifier"),
        DerivedVariable("sex", "string", "Sex from the identifier: male or female"),
        DerivedVariable(
            "age", "integer", "Age in completed years on the last day of the row's period"
        ),
    )
}

# The register that defines the social-assistance population.
POPULATION_REGISTER = "ekonomiskt_bistand"
POPULATION_TYPES = ("social_assistance_recipients", "cohort_file")

PROJECT_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
_USER = {"type": "string", "pattern": USER_PATTERN}
_TEXT = {"type": "string", "minLength": 1}
_DATE = {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}$"}
_YEARS = {
    "oneOf": [
        {"type": "array", "items": {"type": "integer"}, "minItems": 1, "uniqueItems": True},
        {"type": "string", "pattern": r"^\d{4}-\d{4}$"},
    ]
}

REQUEST_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "additionalProperties": False,
    "required": [
        "project",
        "title",
        "principal_investigator",
        "researchers",
        "data_stewards",
        "ethics",
        "confidentiality_review",
        "registers",
        "population",
        "end_date",
        "output_rules",
    ],
    "properties": {
        "project": {"type": "string", "pattern": PROJECT_ID_PATTERN},
        "title": _TEXT,
        "principal_investigator": _USER,
        "researchers": {"type": "array", "items": _USER, "uniqueItems": True},
        "data_stewards": {"type": "array", "items": _USER, "minItems": 1, "uniqueItems": True},
        "ethics": {
            "type": "object",
            "additionalProperties": False,
            "required": ["authority", "diary_number", "decision_date"],
            "properties": {"authority": _TEXT, "diary_number": _TEXT, "decision_date": _DATE},
        },
        "confidentiality_review": {
            "type": "object",
            "additionalProperties": False,
            "required": ["register_holder", "diary_number", "decision_date", "decision"],
            "properties": {
                "register_holder": _TEXT,
                "diary_number": _TEXT,
                "decision_date": _DATE,
                "decision": {"enum": ["approved", "approved_with_conditions", "refused"]},
                "conditions": {"type": "array", "items": _TEXT},
            },
        },
        "registers": {
            "type": "object",
            "minProperties": 1,
            "additionalProperties": {
                "type": "object",
                "additionalProperties": False,
                "required": ["years", "variables"],
                "properties": {
                    "years": _YEARS,
                    "variables": {
                        "type": "array",
                        "items": {"type": "string", "pattern": "^[a-z][a-z0-9_]*$"},
                        "uniqueItems": True,
                    },
                },
            },
        },
        "population": {
            "type": "object",
            "additionalProperties": False,
            "required": ["type"],
            "properties": {
                "type": {"enum": list(POPULATION_TYPES)},
                "years": _YEARS,
                "file": _TEXT,
                "column": _TEXT,
            },
        },
        "derived_variables": {
            "type": "array",
            "items": {"enum": sorted(DERIVED_VARIABLES)},
            "uniqueItems": True,
        },
        "end_date": _DATE,
        # Coarsening the extract builder applies before delivery (mikrodata extract risk
        # --coarsen finds them; mikrodata.toolkit.extract.coarsen reads each step).
        "coarsening": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["step"],
                "properties": {"step": {"type": "string"}, "register": {"type": "string"}},
            },
        },
        "output_rules": {
            "type": "object",
            "additionalProperties": False,
            "required": ["min_cell_count"],
            "properties": {
                "min_cell_count": {"type": "integer", "minimum": 1},
                "dominance": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["n", "k"],
                    "properties": {
                        "n": {"type": "integer", "minimum": 1},
                        "k": {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
                    },
                },
                "rounding_base": {"type": "integer", "minimum": 1},
                # Read by mikrodata.toolkit.disclosure.Rules; all optional.
                "profile": {"enum": ["acro", "opensafely"]},
                "p_ratio": {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
                "zeros_disclosive": {"type": "boolean"},
                "min_dof": {"type": "integer", "minimum": 1},
                "protection": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "lower": {"type": "number", "minimum": 0},
                        "upper": {"type": "number", "minimum": 0},
                    },
                },
                "reviewers": {"enum": [1, 2]},
                # Re-identification risk the extract must meet (mikrodata extract risk).
                "risk": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["min_k"],
                    "properties": {
                        "min_k": {"type": "integer", "minimum": 1},
                        "max_unicity": {"type": "number", "minimum": 0, "maximum": 1},
                    },
                },
            },
        },
    },
}


@dataclass(frozen=True)
class RegisterApproval:
    """The approved years and variables of one register. ``without`` lists the years of
    an approved range that the register does not cover (its catalogue's
    ``missing_years``), which the approval therefore leaves out."""

    register: str
    years: tuple[int, ...]
    variables: tuple[str, ...]
    without: tuple[int, ...] = ()


@dataclass(frozen=True)
class Population:
    """Who the extract is about.

    ``social_assistance_recipients``: everyone with a row in the social-assistance
    register in ``years`` plus the members of their households. ``cohort_file``: the
    identifiers in ``file`` (CSV or Parquet, column ``column``) supplied by the project.
    """

    type: str
    years: tuple[int, ...] = ()
    file: Path | None = None
    column: str = "personnummer"


@dataclass(frozen=True)
class OutputRules:
    """Disclosure thresholds for the project's outputs (used by the disclosure checks)."""

    min_cell_count: int
    dominance_n: int | None = None
    dominance_k: float | None = None
    rounding_base: int | None = None
    # None: the profile's value (mikrodata.toolkit.disclosure.Rules.from_request).
    profile: str | None = None
    p_ratio: float | None = None
    zeros_disclosive: bool | None = None
    min_dof: int | None = None
    lower_protection: float | None = None
    upper_protection: float | None = None
    reviewers: int = 1


@dataclass(frozen=True)
class AccessRequest:
    """A validated access request. ``sha256`` is the hash of the file's bytes."""

    path: Path
    sha256: str
    project: str
    title: str
    principal_investigator: str
    researchers: tuple[str, ...]
    data_stewards: tuple[str, ...]
    ethics: dict[str, str]
    confidentiality_review: dict[str, Any]
    registers: tuple[RegisterApproval, ...]
    population: Population
    derived_variables: tuple[str, ...]
    end_date: dt.date
    output_rules: OutputRules
    # The coarsening steps as the request writes them (dicts; the builder reads them).
    coarsening: tuple[dict[str, Any], ...] = ()

    @property
    def researchers_and_pi(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys((self.principal_investigator, *self.researchers)))

    @property
    def members(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys((*self.researchers_and_pi, *self.data_stewards)))

    def register(self, name: str) -> RegisterApproval:
        """The approval of register ``name``; a :class:`BadInputError` if it has none."""
        for r in self.registers:
            if r.register == name:
                return r
        raise BadInputError(
            f"register {name} is not approved for project {self.project}",
            f"Approved registers: {', '.join(self.register_names)}",
        )

    @property
    def register_names(self) -> tuple[str, ...]:
        return tuple(r.register for r in self.registers)

    def columns(self, register: str) -> tuple[str, ...]:
        """Every column an extract of ``register`` may contain, in catalogue order: the
        person identifier of the record key (delivered as a pseudonym) and the period
        columns that exist in an approved year, the approved variables, then the
        approved derived variables. Other key variables need approval like any other."""
        approval = self.register(register)
        reg = load(register)
        implied = [
            k
            for k in reg.key
            if reg.variable(k).is_direct_identifier
            and reg.variable(k).identifier_domain == "person"
        ] + list(reg.period)
        wanted = set(approval.variables) | {
            k for k in implied if any(reg.variable(k).exists_in(y) for y in approval.years)
        }
        ordered = [v.name for v in reg.variables if v.name in wanted]
        return tuple(ordered) + self.derived_variables


def file_sha256(path: str | Path) -> str:
    """The SHA-256 (hex) of a file's bytes, read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _fail(path: Path, field: str, message: str, hint: str) -> BadInputError:
    where = f"{path.name}, field {field}" if field else path.name
    return BadInputError(f"{where}: {message}", hint)


def _isoformat_dates(node: Any) -> Any:
    # YAML reads 2025-03-01 as a date; the schema checks ISO strings.
    if isinstance(node, dict):
        return {k: _isoformat_dates(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_isoformat_dates(v) for v in node]
    if isinstance(node, dt.date):
        return node.isoformat()
    return node


def _schema_check(path: Path, doc: Any) -> None:
    err = best_error(REQUEST_SCHEMA, doc)
    if err is None:
        return
    location = [str(p) for p in err.absolute_path]
    if err.validator == "required":
        missing = [p for p in err.validator_value if p not in (err.instance or {})]
        location += missing[:1]
        message = "is required but missing"
    elif err.validator == "additionalProperties":
        message = f"unknown field ({err.message.split('(')[-1].rstrip(')')})"
    else:
        message = err.message
    raise _fail(
        path,
        ".".join(location) or "(top level)",
        message,
        "Fix the request file; `mikrodata access new` writes a complete example",
    )


def _years(path: Path, field: str, value: Any) -> tuple[int, ...]:
    if isinstance(value, str):
        first, last = (int(x) for x in value.split("-"))
        if last < first:
            raise _fail(path, field, f"year range {value!r} runs backwards", "Write FIRST-LAST")
        return tuple(range(first, last + 1))
    return tuple(sorted(value))


def _span(first: int, last: int | None) -> str:
    return f"{first}-{last}" if last is not None else f"{first} onwards"


def _check_register(path: Path, name: str, item: dict[str, Any]) -> RegisterApproval:
    field = f"registers.{name}"
    if name not in registers():
        raise _fail(
            path, field, f"no register {name!r} in the catalogue", f"Use one of: {registers()}"
        )
    try:
        reg: Register = load(name)
    except CatalogueError as exc:
        raise _fail(path, field, f"the catalogue of {name!r} cannot be read ({exc})", "") from None
    years = _years(path, f"{field}.years", item["years"])
    missing = [y for y in years if y in reg.missing_years]
    if missing and not isinstance(item["years"], str):
        raise _fail(
            path,
            f"{field}.years",
            f"the register has no data for {missing[0]} ({reg.missing_years[missing[0]]})",
            "Leave that year out (a range such as 2010-2020 leaves it out by itself)",
        )
    for year in years:
        if year < reg.first_year or (reg.last_year is not None and year > reg.last_year):
            raise _fail(
                path,
                f"{field}.years",
                f"year {year} is outside the register's years "
                f"({_span(reg.first_year, reg.last_year)})",
                "Approve only years the register covers",
            )
    for i, var in enumerate(item["variables"]):
        vfield = f"{field}.variables[{i}]"
        if var not in reg.names:
            raise _fail(
                path,
                vfield,
                f"register {name!r} has no variable {var!r}",
                f"Use names from `mikrodata catalogue show {name}`",
            )
        v = reg.variable(var)
        missing = [y for y in years if not v.exists_in(y) and y not in reg.missing_years]
        if missing:
            raise _fail(
                path,
                vfield,
                f"variable {var!r} does not exist in {missing[0]}"
                + (f" (nor {len(missing) - 1} other approved years)" if len(missing) > 1 else "")
                + f"; it exists {_span(v.first_year, v.last_year)}",
                "Remove the variable or limit the approved years to those it exists in",
            )
    covered = tuple(y for y in years if y not in reg.missing_years)
    if not covered:
        raise _fail(path, f"{field}.years", "the register has no data in any of these years", "")
    without = tuple(y for y in years if y in reg.missing_years)
    return RegisterApproval(name, covered, tuple(item["variables"]), without)


def _person_identifier(reg: Register) -> str | None:
    for v in reg.direct_identifiers():
        if v.identifier_domain == "person":
            return v.name
    return None


def load_request(path: str | Path) -> AccessRequest:
    """Read and check an access request; a :class:`BadInputError` names file and field."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        raise BadInputError(
            f"access request {path} does not exist",
            "Check the path, or create one with `mikrodata access new`",
        ) from None
    return parse_request(raw, path)


def request_project(path: str | Path) -> str:
    """The project id a request file names, read without checking the rest (so a
    request that no longer validates can still be withdrawn or closed); the file's stem
    when it names none."""
    path = Path(path)
    try:
        doc = yaml.load(path.read_bytes().decode("utf-8"), Loader=_YAML_LOADER)
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        doc = None
    project = doc.get("project") if isinstance(doc, dict) else None
    if isinstance(project, str) and re.match(PROJECT_ID_PATTERN, project):
        return project
    return path.stem


def parse_request(raw: bytes, path: str | Path) -> AccessRequest:
    """Check the bytes of a request file named ``path`` (used for the approved copy that
    travels, signed, inside an extract). A cohort file is found relative to ``path``."""
    path = Path(path)
    try:
        doc = yaml.load(raw.decode("utf-8"), Loader=_YAML_LOADER)
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark is not None else ""
        raise _fail(path, "", f"not valid YAML{at}", "Fix the YAML syntax") from None
    doc = _isoformat_dates(doc)
    _schema_check(path, doc)

    approvals = tuple(_check_register(path, n, item) for n, item in doc["registers"].items())
    derived = tuple(doc.get("derived_variables", []))
    if derived:
        for a in approvals:
            if _person_identifier(load(a.register)) is None:
                raise _fail(
                    path,
                    "derived_variables",
                    f"register {a.register!r} has no person identifier to derive them from",
                    "Remove the derived variables or that register",
                )

    dates = {}
    for field, value in (
        ("ethics.decision_date", doc["ethics"]["decision_date"]),
        ("confidentiality_review.decision_date", doc["confidentiality_review"]["decision_date"]),
        ("end_date", doc["end_date"]),
    ):
        try:
            dates[field] = dt.date.fromisoformat(value)
        except ValueError:
            raise _fail(path, field, f"{value!r} is not a real date", "Write YYYY-MM-DD") from None
    for field in ("ethics.decision_date", "confidentiality_review.decision_date"):
        if dates[field] > dates["end_date"]:
            raise _fail(path, "end_date", f"the end date is before the {field}", "")

    pop = doc["population"]
    if pop["type"] == "social_assistance_recipients":
        if "years" in pop:
            pop_years = _years(path, "population.years", pop["years"])
        elif POPULATION_REGISTER in doc["registers"]:
            pop_years = next(a.years for a in approvals if a.register == POPULATION_REGISTER)
        else:
            raise _fail(
                path,
                "population.years",
                f"is required when {POPULATION_REGISTER!r} is not an approved register",
                "Give the years in which the population received social assistance",
            )
        if "file" in pop:
            raise _fail(path, "population.file", "only a cohort_file population has a file", "")
        population = Population(pop["type"], years=pop_years)
    else:
        if "file" not in pop:
            raise _fail(path, "population.file", "is required for a cohort_file population", "")
        population = Population(
            pop["type"],
            file=(path.parent / pop["file"]).resolve(),
            column=pop.get("column", "personnummer"),
        )

    coarsening = tuple(dict(step) for step in doc.get("coarsening", []))
    for n, step in enumerate(coarsening):
        if "register" in step and step["register"] not in doc["registers"]:
            raise _fail(
                path,
                f"coarsening[{n}].register",
                f"register {step['register']!r} is not approved in this request",
                "Name an approved register, or leave register out to coarsen every one",
            )

    rules = doc["output_rules"]
    dominance = rules.get("dominance") or {}
    return AccessRequest(
        path=path.resolve(),
        sha256=hashlib.sha256(raw).hexdigest(),
        project=doc["project"],
        title=doc["title"],
        principal_investigator=doc["principal_investigator"],
        researchers=tuple(doc["researchers"]),
        data_stewards=tuple(doc["data_stewards"]),
        ethics=dict(doc["ethics"]),
        confidentiality_review=dict(doc["confidentiality_review"]),
        registers=approvals,
        population=population,
        derived_variables=derived,
        end_date=dates["end_date"],
        output_rules=OutputRules(
            min_cell_count=rules["min_cell_count"],
            dominance_n=dominance.get("n"),
            dominance_k=dominance.get("k"),
            rounding_base=rules.get("rounding_base"),
            profile=rules.get("profile"),
            p_ratio=rules.get("p_ratio"),
            zeros_disclosive=rules.get("zeros_disclosive"),
            min_dof=rules.get("min_dof"),
            lower_protection=rules.get("protection", {}).get("lower"),
            upper_protection=rules.get("protection", {}).get("upper"),
            reviewers=rules.get("reviewers", 1),
        ),
        coarsening=coarsening,
    )
