"""The catalogue: schema errors name file, variable and field; the API; the history of
ekonomiskt_bistand as issue 2 requires it, from the catalogue alone."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from mikrodata.quality.catalogue import CATALOGUE_DIR, catalogue_version, load, load_file, registers
from mikrodata.toolkit.errors import CatalogueError

EB = "ekonomiskt_bistand"


@pytest.fixture
def eb_doc():
    return yaml.safe_load((CATALOGUE_DIR / f"{EB}.yaml").read_text(encoding="utf-8"))


def _write(tmp_path: Path, doc) -> Path:
    path = tmp_path / f"{doc.get('register', EB) if isinstance(doc, dict) else EB}.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return path


def _var(doc, name):
    return next(v for v in doc["variables"] if v["name"] == name)


# --- schema errors: (how to break the file, words the message must contain) -------------
BREAKS = [
    ("missing label", lambda d: _var(d, "kommun").pop("label_en"), ["'kommun'", "label_en"]),
    (
        "bad type",
        lambda d: _var(d, "antal_barn").update(type="number"),
        ["'antal_barn'", "type"],
    ),
    (
        "bad identifier class",
        lambda d: _var(d, "flykting").update(identifier_class="secret"),
        ["'flykting'", "identifier_class"],
    ),
    (
        "year as text",
        lambda d: _var(d, "flykting").update(last_year="2016"),
        ["'flykting'", "last_year"],
    ),
    (
        "years reversed",
        lambda d: _var(d, "flykting").update(first_year=2017, last_year=2016),
        ["'flykting'", "last_year", "before"],
    ),
    (
        "code outside its variable's years",
        lambda d: _var(d, "flykting")["codes"]["values"][0].update(last_year=2020),
        ["'flykting'", "codes.values[0]", "outside"],
    ),
    (
        "duplicate code",
        lambda d: _var(d, "hushallstyp")["codes"]["values"].append(
            {"code": "3", "label_sv": "x", "label_en": "x"}
        ),
        ["'hushallstyp'", "appears twice"],
    ),
    (
        "unknown source",
        lambda d: _var(d, "kon").update(sources=["nowhere"]),
        ["'kon'", "sources", "nowhere"],
    ),
    (
        "unknown field",
        lambda d: _var(d, "kon").update(colour="blue"),
        ["'kon'", "colour"],
    ),
    (
        "code list on a non-code variable",
        lambda d: _var(d, "antal_barn").update(codes={"ref": "kommun"}),
        ["'antal_barn'", "codes"],
    ),
    (
        "unknown shared list",
        lambda d: _var(d, "kommun").update(codes={"ref": "lan"}),
        ["'kommun'", "codes.ref", "lan"],
    ),
    (
        "provisional flag missing",
        lambda d: _var(d, "roll")["codes"].pop("provisional"),
        ["'roll'", "codes"],
    ),
    ("duplicate variable", lambda d: d["variables"].append(_var(d, "kon")), ["'kon'", "twice"]),
    ("key not a variable", lambda d: d.update(key=["lopnr"]), ["key", "lopnr"]),
    ("register field missing", lambda d: d.pop("holder"), ["holder", "missing"]),
]


@pytest.mark.parametrize("label,breaker,words", BREAKS, ids=[b[0] for b in BREAKS])
def test_a_broken_file_names_file_variable_and_field(tmp_path, eb_doc, label, breaker, words):
    breaker(eb_doc)
    path = _write(tmp_path, eb_doc)
    with pytest.raises(CatalogueError) as info:
        load_file(path)
    message = str(info.value)
    assert message.startswith(f"{EB}.yaml"), message
    for word in words:
        assert word in message, (word, message)
    assert info.value.exit_code == 12


def test_invalid_yaml_names_the_file_and_line(tmp_path):
    path = tmp_path / f"{EB}.yaml"
    path.write_text("register: x\nvariables: [\n  - name: a\n", encoding="utf-8")
    with pytest.raises(CatalogueError, match=r"ekonomiskt_bistand.yaml: not valid YAML at line"):
        load_file(path)


def test_register_name_must_match_the_file(tmp_path, eb_doc):
    path = tmp_path / "other.yaml"
    path.write_text(yaml.safe_dump(eb_doc, allow_unicode=True), encoding="utf-8")
    with pytest.raises(CatalogueError, match="differs from the file name"):
        load_file(path)


def test_the_shipped_file_is_valid_and_round_trips(tmp_path, eb_doc):
    assert load_file(_write(tmp_path, eb_doc)).names == load(EB).names


# --- the API --------------------------------------------------------------------------
def test_registers_lists_every_catalogue_file():
    assert EB in registers()
    assert registers() == tuple(sorted(p.stem for p in CATALOGUE_DIR.glob("*.yaml")))


def test_unknown_register_and_variable_are_catalogue_errors():
    with pytest.raises(CatalogueError, match="no register 'nope'"):
        load("nope")
    with pytest.raises(CatalogueError, match="has no variable 'lopnr'"):
        load(EB).variable("lopnr")


@pytest.mark.parametrize(
    "year,present,absent",
    [
        (1995, {"flykting", "introduktionsersattning", "bistandsmanader"}, {"fodelseland"}),
        (1998, {"fodelseland", "arbetslost_hushall"}, {"manad", "forsorjningshinder"}),
        (2005, {"manad", "flykting", "arbetslost_hushall"}, {"bistandsmanader", "andamal"}),
        (2011, {"forsorjningshinder", "andamal", "introduktionsersattning"}, {"avslutsorsak"}),
        (2012, {"flykting"}, {"introduktionsersattning", "arbetslost_hushall"}),
        (2016, {"flykting"}, {"arbetsmarknadsinsats"}),
        (2017, {"avslutsorsak", "arbetsmarknadsinsats", "fodelseland"}, {"flykting"}),
    ],
)
def test_variables_in_a_year(year, present, absent):
    names = {v.name for v in load(EB).variables_in(year)}
    assert present <= names
    assert not absent & names


def test_codes_in_a_year_follow_the_2017_revision():
    eb = load(EB)
    before = {c.code for c in eb.codes_in("forsorjningshinder", 2016)}
    after = {c.code for c in eb.codes_in("forsorjningshinder", 2017)}
    assert before and after and not before & after
    assert eb.codes_in("forsorjningshinder", 2009) == ()
    # every code carries a harmonising group, so series can cross the revision
    groups = {c.group for c in eb.variable("forsorjningshinder").codes.codes}
    assert {"unemployment", "social_reasons", "ill_health"} <= groups


def test_hushallstyp_has_no_code_2():
    codes = [c.code for c in load(EB).codes_in("hushallstyp", 2020)]
    assert codes == ["1", "3", "4", "5", "6", "7", "8", "9"]


def test_kommun_uses_the_shared_list_of_290_with_population_shares():
    kommun = load(EB).variable("kommun")
    assert kommun.codes.ref == "kommun"
    codes = kommun.codes_in(2024)
    assert len(codes) == 290
    assert all(len(c.code) == 4 and c.code.isdigit() for c in codes)
    assert sum(float(c.extra["befolkningsandel"]) for c in codes) == pytest.approx(1, abs=1e-4)


def test_direct_identifiers_have_their_own_domains():
    domains = {v.name: v.identifier_domain for v in load(EB).direct_identifiers()}
    assert domains == {"personnummer": "person", "hushallsid": "household"}


def test_every_fact_has_a_source_that_exists():
    for name in registers():
        reg = load(name)
        for v in reg.variables:
            assert v.sources and set(v.sources) <= set(reg.references), (name, v.name)
        for event in reg.history():
            assert event.sources and set(event.sources) <= set(reg.references), event


def test_catalogue_version_is_stable_and_content_addressed():
    assert catalogue_version() == catalogue_version()
    assert catalogue_version().startswith("sha256:")


# --- the history, from the catalogue alone (issue 2, done when) ------------------------
def _events(kind, variable):
    return [e for e in load(EB).history() if e.kind == kind and e.variable == variable]


@pytest.mark.parametrize(
    "kind,variable,year",
    [
        ("variable_retired", "flykting", 2017),  # last year 2016
        ("variable_introduced", "fodelseland", 1998),
        ("variable_introduced", "arbetslost_hushall", 1998),
        ("variable_retired", "arbetslost_hushall", 2012),  # 1998-2011
        ("variable_introduced", "forsorjningshinder", 2010),
        ("variable_introduced", "avslutsorsak", 2017),
        ("variable_introduced", "arbetsmarknadsinsats", 2017),
        ("variable_introduced", "introduktionsersattning", 1993),
        ("variable_retired", "introduktionsersattning", 2012),  # 1993-2011
    ],
)
def test_history_of_ekonomiskt_bistand(kind, variable, year):
    events = _events(kind, variable)
    assert [e.year for e in events] == [year]
    assert events[0].sources


def test_history_shows_the_2017_revision_of_forsorjningshinder():
    documented = _events("documented", "forsorjningshinder")
    assert [e.year for e in documented] == [2017]
    assert "revised" in documented[0].description.lower()
    added = {e.year for e in _events("code_added", "forsorjningshinder")}
    retired = {e.year for e in _events("code_retired", "forsorjningshinder")}
    assert added == {2017} and retired == {2017}


def test_history_is_in_year_order():
    years = [e.year for e in load(EB).history()]
    assert years == sorted(years)
