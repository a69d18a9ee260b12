"""Every register in the catalogue, as the files in quality/catalogue/ describe it.

The structural tests run over every register file found, so a new register is checked
the moment it is added. The spot checks each pin one documented fact per register,
with the source it comes from, so a careless edit of the YAML fails here.
"""

from __future__ import annotations

import pytest

from mikrodata.quality.catalogue import load, registers

REGISTERS = registers()

# Registers this test file documents; the structural checks run on all of them.
EXPECTED = {"ekonomiskt_bistand", "befolkning", "barn_unga", "lss", "sol_insatser", "dodsorsak"}


def test_every_expected_register_is_in_the_catalogue():
    assert EXPECTED <= set(REGISTERS)


@pytest.mark.parametrize("name", REGISTERS)
def test_register_loads(name):
    reg = load(name)
    assert reg.name == name
    assert reg.variables
    # history() must work on every register: it is what the docs and reports show.
    years = [e.year for e in reg.history()]
    assert years == sorted(years)


@pytest.mark.parametrize("name", REGISTERS)
def test_one_person_identifier_named_personnummer(name):
    reg = load(name)
    direct = reg.direct_identifiers()
    persons = [v for v in direct if v.identifier_domain == "person"]
    assert [v.name for v in persons] == ["personnummer"]
    assert persons[0].type == "string"
    # Any other direct identifier must say what it identifies, so pseudonymisation
    # can key it in the right domain.
    assert all(v.identifier_domain in {"person", "household", "case"} for v in direct)


@pytest.mark.parametrize("name", REGISTERS)
def test_key_and_period_columns_exist_and_are_never_missing(name):
    reg = load(name)
    assert "personnummer" in reg.key
    assert reg.period, "every register has a period column"
    for column in reg.key + reg.period:
        var = reg.variable(column)
        assert not var.nullable, f"{name}.{column} is a key/period column"
        assert var.last_year is None or var.last_year == reg.last_year
    # The person and the first period column identify a row from the register's first
    # year on (a finer period column, e.g. the month, may start later).
    for column in ("personnummer", reg.period[0]):
        assert reg.variable(column).first_year == reg.first_year, f"{name}.{column}"


@pytest.mark.parametrize("name", REGISTERS)
def test_municipalities_use_the_shared_list(name):
    reg = load(name)
    kommun_vars = [v for v in reg.variables if "kommun" in v.name]
    # The cause-of-death catalogue has no municipality; researchers take it from befolkning.
    if name != "dodsorsak":
        assert kommun_vars, f"{name} has no municipality variable"
    for var in kommun_vars:
        assert var.codes is not None and var.codes.ref == "kommun", var.name
        assert var.identifier_class == "quasi_identifier"
        assert len(var.codes_in(reg.first_year)) == 290


@pytest.mark.parametrize("name", REGISTERS)
def test_identifier_classes_follow_the_house_rules(name):
    reg = load(name)
    for var in reg.variables:
        if var.type == "date":
            assert var.identifier_class == "quasi_identifier", f"{name}.{var.name}"
        if var.name in {"ar", "statistikar", "manad"}:
            assert var.identifier_class == "other", f"{name}.{var.name}"


@pytest.mark.parametrize("name", REGISTERS)
def test_provisional_lists_say_why_and_cite_an_assumption(name):
    reg = load(name)
    for var in reg.variables:
        if var.codes is None or var.codes.ref is not None or not var.codes.provisional:
            continue
        assert var.codes.note, f"{name}.{var.name}: provisional list without a note"
        confidences = {reg.references[s].confidence for s in var.codes.sources}
        assert "U" in confidences, f"{name}.{var.name}: provisional but no U source"


@pytest.mark.parametrize("name", REGISTERS)
def test_every_reference_is_cited(name):
    # An uncited reference is usually a typo in a sources list that still resolved.
    reg = load(name)
    cited: set[str] = set()
    for event in reg.history():
        cited.update(event.sources)
    for var in reg.variables:
        cited.update(var.sources)
        if var.codes is not None:
            cited.update(var.codes.sources)
            for code in var.codes.codes:
                cited.update(code.sources)
    assert set(reg.references) - cited == set()


# --- spot checks: one documented fact per register -------------------------------------


def test_lss_measures_are_the_nine_of_9_section_2_to_10():
    reg = load("lss")
    insats = reg.variable("insats")
    assert [c.code for c in insats.codes.codes] == [str(n) for n in range(2, 11)]
    assert not insats.codes.provisional
    labels = {c.code: c.label_sv for c in reg.codes_in("insats", 2023)}
    assert labels["2"] == "Personlig assistans"
    assert labels["10"] == "Daglig verksamhet"
    assert "1" not in labels  # råd och stöd (9 § 1) is collected only as aggregates
    assert [c.code for c in reg.codes_in("personkrets", 2023)] == ["1", "2", "3"]
    assert reg.key == ("personnummer", "ar", "insats")
    assert reg.first_year == 2004  # the register exists from 2004
    assert any(e.year == 2016 and "HSLF-FS 2016:48" in e.description for e in reg.history())


def test_befolkning_events_are_optional_dates_and_birth_groups_provisional():
    reg = load("befolkning")
    assert reg.key == ("personnummer", "ar")
    for name in ("invandringsdatum", "utvandringsdatum", "dodsdatum"):
        var = reg.variable(name)
        assert var.type == "date" and var.nullable
    assert not reg.variable("fodelsedatum").nullable
    groups = reg.variable("fodelselandgrupp").codes
    assert groups.provisional
    assert [c.label_sv for c in groups.codes][:2] == ["Sverige", "Norden utom Sverige"]
    assert len(groups.codes) == 10
    assert [c.label_sv for c in reg.codes_in("kon", 2000)] == ["Man", "Kvinna"]


def test_barn_unga_stodboende_from_2016_and_the_2017_regulation():
    reg = load("barn_unga")
    forms = lambda year: {c.label_sv for c in reg.codes_in("insatsform", year)}  # noqa: E731
    assert "Stödboende" not in forms(2015)
    assert "Stödboende" in forms(2016)
    events = reg.history()
    added = [e for e in events if e.kind == "code_added" and e.variable == "insatsform"]
    assert (2016, "4") in {(e.year, e.code) for e in added}
    documented_2017 = [e for e in events if e.year == 2017 and e.kind == "documented"]
    assert any("HSLF-FS 2016:22" in e.description for e in documented_2017)
    assert any("hslf_2016_22" in e.sources for e in documented_2017)
    assert any(e.year == 2014 and "personnummer" in e.description for e in events)
    assert reg.variable("insats_slut").nullable
    assert not reg.variable("ensamkommande").exists_in(2016)
    lagrum = reg.variable("lagrum").codes
    assert lagrum.provisional
    assert {"SoL", "LVU 2 och 3 §"} <= {c.label_sv for c in lagrum.codes}


def test_sol_insatser_home_help_hours_apply_only_to_home_help():
    reg = load("sol_insatser")
    assert reg.period == ("ar", "manad")
    hours = reg.variable("hemtjanst_timmar")
    assert hours.type == "decimal" and hours.nullable
    assert hours.unit == "hours per month"
    column, codes = hours.applies_to
    assert column == "insats"
    labels = [reg.variable("insats").codes.get(code).label_sv for code in codes]
    assert labels == ["Hemtjänst i ordinärt boende"]
    assert "project_assumption" in hours.sources  # confidence U
    assert reg.references["project_assumption"].confidence == "U"
    events = [e for e in reg.history() if e.year == 2022 and e.kind == "documented"]
    assert any("HSLF-FS 2021:106" in e.description for e in events)


def test_dodsorsak_icd10_chapters_from_1997():
    reg = load("dodsorsak")
    chapters = reg.variable("dodsorsak_kapitel")
    roman = ["I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X", "XI"]
    roman += ["XII", "XIII", "XIV", "XV", "XVI", "XVII", "XVIII", "XIX", "XX", "XXI", "XXII"]
    assert [c.code for c in reg.codes_in("dodsorsak_kapitel", 1997)] == roman
    assert chapters.codes.get("IX").label_en.startswith("Diseases of the circulatory system")
    assert reg.codes_in("dodsorsak_kapitel", 1996) == ()  # ICD-9 before 1997
    cause = reg.variable("underliggande_dodsorsak")
    assert cause.type == "string" and cause.identifier_class == "sensitive"
    assert cause.first_year == 1997
    assert reg.key == ("personnummer",)
