"""Access requests: the schema and the catalogue cross checks, each error naming the
file and the field."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from mikrodata.access_requests import DERIVED_VARIABLES, load_request
from mikrodata.quality.catalogue import load
from mikrodata.toolkit.errors import BadInputError

from .support import write_request

EXAMPLE = Path(__file__).resolve().parents[2] / "access_requests/examples/example_project.yaml"


def test_the_example_request_is_valid():
    req = load_request(EXAMPLE)
    assert req.project == "P2026-001"
    eb = req.register("ekonomiskt_bistand")
    assert eb.years == tuple(range(2012, 2021))
    assert req.population.type == "social_assistance_recipients"
    assert req.population.years == eb.years
    assert req.output_rules.min_cell_count == 10 and req.output_rules.rounding_base == 5
    assert req.derived_variables == ("birth_year", "sex", "age")


def test_columns_are_key_plus_approved_plus_derived_in_catalogue_order():
    req = load_request(EXAMPLE)
    cols = req.columns("ekonomiskt_bistand")
    reg = load("ekonomiskt_bistand")
    implied = {"personnummer", *reg.period}
    expected = implied | set(req.register("ekonomiskt_bistand").variables)
    assert set(cols[: len(expected)]) == expected
    assert cols[len(expected) :] == ("birth_year", "sex", "age")
    catalogue_order = [n for n in reg.names if n in expected]
    assert list(cols[: len(expected)]) == catalogue_order
    # flykting exists in the catalogue but is not approved
    assert "flykting" not in cols


def _doc():
    return yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))


def _with(change):
    doc = copy.deepcopy(_doc())
    change(doc)
    return doc


CASES = [
    ("missing title", lambda d: d.pop("title"), "field title: is required"),
    ("unknown field", lambda d: d.update(colour="red"), "unknown field"),
    ("bad project id", lambda d: d.update(project="../x"), "field project"),
    (
        "bad decision",
        lambda d: d["confidentiality_review"].update(decision="maybe"),
        "field confidentiality_review.decision",
    ),
    (
        "unknown register",
        lambda d: d["registers"].update(nope={"years": [2015], "variables": []}),
        "field registers.nope: no register 'nope'",
    ),
    (
        "unknown variable",
        lambda d: d["registers"]["ekonomiskt_bistand"]["variables"].append("shoe_size"),
        "field registers.ekonomiskt_bistand.variables[8]: register 'ekonomiskt_bistand' "
        "has no variable 'shoe_size'",
    ),
    (
        "variable missing in an approved year",
        lambda d: d["registers"]["ekonomiskt_bistand"]["variables"].append("flykting"),
        "variable 'flykting' does not exist in 2017 (nor 3 other approved years); "
        "it exists 1990-2016",
    ),
    (
        "variable before it exists",
        lambda d: d["registers"]["ekonomiskt_bistand"].update(
            years="2008-2012", variables=["forsorjningshinder"]
        ),
        "variable 'forsorjningshinder' does not exist in 2008",
    ),
    (
        "year outside the register",
        lambda d: d["registers"]["ekonomiskt_bistand"].update(years=[1985]),
        "year 1985 is outside the register's years",
    ),
    (
        "backwards range",
        lambda d: d["registers"]["ekonomiskt_bistand"].update(years="2020-2012"),
        "runs backwards",
    ),
    ("unknown derived", lambda d: d.update(derived_variables=["income"]), "derived_variables"),
    ("not a date", lambda d: d.update(end_date="2029-02-30"), "field end_date"),
    (
        "end before decision",
        lambda d: d.update(end_date="2020-01-01"),
        "field end_date: the end date is before",
    ),
    (
        "cohort without file",
        lambda d: d.update(population={"type": "cohort_file"}),
        "field population.file: is required",
    ),
    (
        "population years needed",
        lambda d: d.update(
            registers={"befolkning": {"years": [2015], "variables": []}},
            population={"type": "social_assistance_recipients"},
        ),
        "field population.years: is required when 'ekonomiskt_bistand'",
    ),
    ("min cell count", lambda d: d["output_rules"].update(min_cell_count=0), "min_cell_count"),
]


@pytest.mark.parametrize("name,change,expected", CASES, ids=[c[0] for c in CASES])
def test_invalid_requests_name_file_and_field(tmp_path, name, change, expected):
    path = tmp_path / "P.yaml"
    path.write_text(yaml.safe_dump(_with(change), allow_unicode=True), encoding="utf-8")
    with pytest.raises(BadInputError) as err:
        load_request(path)
    assert "P.yaml" in str(err.value)
    assert expected in str(err.value), str(err.value)


def test_not_yaml_and_missing_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("project: [unclosed\n")
    with pytest.raises(BadInputError, match="bad.yaml: not valid YAML at line"):
        load_request(bad)
    with pytest.raises(BadInputError, match="does not exist"):
        load_request(tmp_path / "none.yaml")


def test_cohort_population_resolves_the_file_next_to_the_request(tmp_path):
    path = write_request(
        tmp_path / "P.yaml", population={"type": "cohort_file", "file": "cohort.csv"}
    )
    req = load_request(path)
    assert req.population.file == (tmp_path / "cohort.csv").resolve()
    assert req.population.column == "personnummer"


def test_derived_variables_have_catalogue_types():
    types = {"string", "code", "integer", "decimal", "date"}
    assert all(d.type in types for d in DERIVED_VARIABLES.values())
