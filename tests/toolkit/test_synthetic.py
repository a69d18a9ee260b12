"""Synthetic registers: determinism, the catalogue's rules, faults and their ground truth,
realism against the published figures, and the command line.

Every check is driven by the catalogue (variables, years, codes, ranges, applies_to,
keys), so a catalogue edit changes what is checked without a test change.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from mikrodata.pseudonymisation.luhn import luhn_check_digit
from mikrodata.quality.catalogue import load
from mikrodata.toolkit.errors import BadInputError
from mikrodata.toolkit.synthetic import (
    FAULT_KINDS,
    REGISTERS,
    BirthNumberAllocator,
    generate,
    identifier_strings,
    read_register,
    realism_report,
)
from mikrodata.toolkit.synthetic.columns import ARROW_TYPES, year_column

YEARS = (1999, 2018)  # yearly rows, monthly rows, the 2010 and 2017 changes, linked starts


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth") / "clean"
    generate(out, 3000, YEARS, seed=5)
    return out


@pytest.fixture(scope="module")
def faulty(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth") / "faulty"
    generate(out, 3000, YEARS, seed=5, faults=0.03)
    return out


def _files(out):
    return sorted(p.relative_to(out).as_posix() for p in out.rglob("*.parquet"))


def _year_of(rel: str) -> int:
    return int(re.search(r"=(\d{4})/", rel).group(1))


# --- determinism ------------------------------------------------------------------------


def test_same_seed_same_bytes_and_other_seed_differs(tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    generate(a, 1500, (2000, 2003), seed=42, faults=0.01)
    generate(b, 1500, (2000, 2003), seed=42, faults=0.01)
    generate(c, 1500, (2000, 2003), seed=43, faults=0.01)
    files = _files(a)
    assert files == _files(b) and len(files) > 10
    for rel in files + ["ground_truth/manifest.json"]:
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel
    differ = [rel for rel in files if (a / rel).read_bytes() != (c / rel).read_bytes()]
    assert "ekonomiskt_bistand/statistikar=2002/part-0.parquet" in differ
    assert "befolkning/ar=2000/part-0.parquet" in differ


def test_chunks_stream_into_one_file_per_year(tmp_path):
    # Three chunks: identifiers stay unique across chunks, row counts add up.
    out = tmp_path / "chunks"
    result = generate(out, 2500, (2015, 2016), seed=1, chunk_size=1000)
    pop = read_register(out, "befolkning")
    per_year = pop.group_by(["ar", "personnummer"]).aggregate([("ar", "count")])
    assert pc.max(per_year["ar_count"]).as_py() == 1
    persons = pq.read_table(out / "ground_truth" / "persons.parquet")
    assert persons.num_rows == 2500
    assert len(pc.unique(persons["personnummer"])) == 2500
    for rel, info in result.manifest["files"].items():
        assert pq.ParquetFile(out / rel).metadata.num_rows == info["rows"]


# --- the catalogue's rules, on a clean run -------------------------------------------------


def _check_identifiers(ids: np.ndarray, sex: np.ndarray | None, where: str) -> None:
    assert all(len(x) == 12 and x.isdigit() for x in ids), where
    for x in ids:
        assert luhn_check_digit(x[2:11]) == int(x[11]), where
        day = int(x[6:8])
        assert 1 <= (day - 60 if day > 60 else day) <= 31, where
    if sex is not None:
        odd = np.array([int(x[10]) % 2 == 1 for x in ids])
        assert np.array_equal(odd, sex == "1"), f"{where}: sex digit differs from kon"


def test_every_value_follows_the_catalogue_for_its_year(clean):
    checked = 0
    for register in REGISTERS:
        reg = load(register)
        ycol = year_column(reg)
        for rel in _files(clean):
            if not rel.startswith(register + "/"):
                continue
            year = _year_of(rel)
            table = pq.read_table(clean / rel)
            where = f"{rel}"
            expected = [v.name for v in reg.variables if v.name != ycol]
            assert table.column_names == expected, where
            for var in reg.variables:
                if var.name == ycol:
                    continue
                col = table.column(var.name)
                assert col.type == ARROW_TYPES[var.type], f"{where}: {var.name} type"
                if not var.exists_in(year):
                    assert col.null_count == len(col), f"{where}: {var.name} outside its years"
                    continue
                valid = pc.is_valid(col)
                if var.applies_to:
                    other, codes = var.applies_to
                    ok = pc.fill_null(pc.is_in(table.column(other), pa.array(list(codes))), False)
                    # Not applicable -> null; applicable -> present unless nullable.
                    assert not pc.any(pc.and_(pc.invert(ok), valid)).as_py(), where
                    if not var.nullable:
                        assert pc.all(pc.or_(pc.invert(ok), valid)).as_py() in (True, None), (
                            f"{where}: {var.name} missing where applicable"
                        )
                elif not var.nullable:
                    assert col.null_count == 0, f"{where}: {var.name} has nulls"
                present = col.drop_null()
                if var.type == "code" and len(present):
                    allowed = {c.code for c in var.codes_in(year)}
                    seen = set(pc.unique(present).to_pylist())
                    assert seen <= allowed, f"{where}: {var.name} codes {seen - allowed}"
                if var.type in ("integer", "decimal") and len(present):
                    if var.min is not None:
                        assert pc.min(present).as_py() >= var.min, f"{where}: {var.name} < min"
                    if var.max is not None:
                        assert pc.max(present).as_py() <= var.max, f"{where}: {var.name} > max"
                if var.type == "date" and len(present) and var.name != "fodelsedatum":
                    assert pc.max(present).as_py().year <= year, f"{where}: {var.name} future"
            ids = table.column("personnummer").to_numpy(zero_copy_only=False)
            sex = (
                table.column("kon").to_numpy(zero_copy_only=False)
                if "kon" in table.column_names
                else None
            )
            _check_identifiers(ids, sex, where)
            key = [k for k in reg.key if k != ycol]
            if table.num_rows:
                dup = table.group_by(key).aggregate([(key[0], "count")])
                assert pc.max(dup[f"{key[0]}_count"]).as_py() == 1, f"{where}: key not unique"
            checked += table.num_rows
    assert checked > 50_000


def test_households_repeat_household_variables_on_every_member(clean):
    reg = load("ekonomiskt_bistand")
    table = pq.read_table(clean / "ekonomiskt_bistand/statistikar=2012/part-0.parquet")
    household_vars = [
        v.name for v in reg.variables_in(2012) if v.level == "household" and v.name != "statistikar"
    ]
    distinct = (
        table.select(household_vars)
        .group_by(["hushallsid", "manad"])
        .aggregate(
            [
                (name, "count_distinct")
                for name in household_vars
                if name not in ("hushallsid", "manad")
            ]
        )
    )
    for name in distinct.column_names:
        if name.endswith("_count_distinct"):
            assert pc.max(distinct[name]).as_py() <= 1, name
    # One applicant per household and month; children are under 18.
    roll = table.column("roll")
    applicants = table.filter(pc.equal(roll, "1")).group_by(["hushallsid", "manad"])
    assert pc.max(applicants.aggregate([("roll", "count")])["roll_count"]).as_py() == 1
    kids = table.filter(pc.equal(roll, "3")).column("personnummer").to_pylist()
    assert all(2012 - int(k[:4]) <= 18 for k in kids)


def test_yearly_rows_before_months_exist(clean):
    early = pq.read_table(clean / "ekonomiskt_bistand/statistikar=2000/part-0.parquet")
    assert early.column("manad").null_count == early.num_rows
    months = early.column("bistandsmanader")
    assert early.num_rows > 0 and pc.min(months).as_py() >= 1 and pc.max(months).as_py() <= 12
    later = pq.read_table(clean / "ekonomiskt_bistand/statistikar=2005/part-0.parquet")
    assert later.column("bistandsmanader").null_count == later.num_rows


def test_impediment_codes_follow_the_2017_revision(clean):
    var = load("ekonomiskt_bistand").variable("forsorjningshinder")
    for year in (2012, 2018):
        table = pq.read_table(clean / f"ekonomiskt_bistand/statistikar={year}/part-0.parquet")
        used = set(table.column("forsorjningshinder").drop_null().to_pylist())
        assert used and used <= {c.code for c in var.codes_in(year)}
        groups = {var.codes.get(c).group for c in used}
        assert {"unemployment", "social_reasons", "ill_health"} <= groups


def test_ground_truth_of_a_clean_run(clean):
    faults = pq.read_table(clean / "ground_truth" / "faults.parquet")
    assert faults.num_rows == 0
    assert faults.column_names == ["register", "file", "row", "column", "kind", "detail"]
    manifest = json.loads((clean / "ground_truth" / "manifest.json").read_text())
    assert manifest["seed"] == 5 and manifest["persons"] == 3000
    assert manifest["years"] == list(YEARS) and manifest["faults_rate"] == 0.0
    assert set(manifest["registers"]) == set(REGISTERS)
    persons = pq.read_table(clean / "ground_truth" / "persons.parquet")
    kinds = set(persons.column("identifier_kind").to_pylist())
    assert kinds == {"personnummer", "samordningsnummer"}
    # Samordningsnummer holders are not registered, so they are not in befolkning.
    pop = set(
        read_register(clean, "befolkning", columns=["personnummer"])["personnummer"].to_pylist()
    )
    coord = persons.filter(pc.equal(persons["identifier_kind"], "samordningsnummer"))
    assert not set(coord["personnummer"].to_pylist()) & pop
    assert all(int(x[6:8]) > 60 for x in coord["personnummer"].to_pylist())


# --- identifiers ------------------------------------------------------------------------


def test_identifiers_are_valid_for_the_reference_library():
    personnummer = pytest.importorskip("personnummer.personnummer")
    alloc = BirthNumberAllocator()
    dates = np.array(["1964-08-23"] * 1100 + ["1923-02-28"] * 10, dtype="datetime64[D]")
    sex = np.array([1, 2] * 555)
    coord = np.zeros(dates.size, dtype=bool)
    coord[-5:] = True
    moved, numbers = alloc.allocate(dates, sex, coord)
    ids = identifier_strings(moved, numbers, coord)
    assert len(set(ids)) == ids.size
    # 1100 people on one day exceed its 500 male / 499 female numbers: nearby days.
    assert (moved[:1100] != dates[:1100]).sum() > 0
    for x, s, c in zip(ids, sex, coord, strict=True):
        parsed = personnummer.parse(x)
        assert parsed.is_male() == (s == 1)
        assert parsed.is_coordination_number() == c
    # The reference example from Skatteverket.
    assert (
        identifier_strings(
            np.array(["1964-08-23"], dtype="datetime64[D]"), np.array([323]), np.array([False])
        )[0]
        == "196408233234"
    )


# --- faults -----------------------------------------------------------------------------


def test_faults_are_all_listed_and_nothing_else_differs(clean, faulty):
    truth = pq.read_table(faulty / "ground_truth" / "faults.parquet").to_pylist()
    assert {t["kind"] for t in truth} == set(FAULT_KINDS), "every kind is injected"
    by_file: dict[str, list[dict]] = {}
    for t in truth:
        by_file.setdefault(t["file"], []).append(t)
    assert _files(clean) == _files(faulty)
    compared = 0
    for rel in _files(clean):
        if rel.startswith("ground_truth"):
            continue
        a = pq.read_table(clean / rel)
        b = pq.read_table(faulty / rel)
        faults = by_file.get(rel, [])
        # Rows count from 1 (as the quality summary and rejects count them).
        dup_rows = {t["row"] - 1 for t in faults if t["kind"] == "duplicate_row"}
        removed: set[int] = set()
        for t in faults:
            if t["kind"] == "missing_month":
                assert t["row"] is None
                lo, hi = map(int, re.search(r"clean_rows=(\d+)-(\d+)", t["detail"]).groups())
                removed |= set(range(lo - 1, hi))  # rows count from 1
        # Duplicates are exact copies of the row before them.
        for r in dup_rows:
            assert b.slice(r, 1).to_pylist() == b.slice(r - 1, 1).to_pylist(), rel
        keep_b = [i for i in range(b.num_rows) if i not in dup_rows]
        keep_a = [i for i in range(a.num_rows) if i not in removed]
        assert len(keep_a) == len(keep_b), rel
        a2 = a.take(pa.array(keep_a, pa.int64()))
        b2 = b.take(pa.array(keep_b, pa.int64()))
        # Map faulty row numbers to positions in b2.
        pos = {row: k for k, row in enumerate(keep_b)}
        listed = {
            (pos[t["row"] - 1], t["column"])
            for t in faults
            if t["kind"] not in ("duplicate_row", "missing_month")
        }
        found = set()
        for name in a.column_names:
            x = a2.column(name).to_pylist()
            y = b2.column(name).to_pylist()
            for k in np.flatnonzero([u != v for u, v in zip(x, y, strict=True)]):
                found.add((int(k), name))
        assert found == listed, f"{rel}: differences not in the ground truth"
        compared += a.num_rows
    assert compared > 50_000


def test_fault_values_are_what_their_kind_says(faulty):
    truth = pq.read_table(faulty / "ground_truth" / "faults.parquet").to_pylist()
    tables: dict[str, pa.Table] = {}
    for t in truth:
        if t["row"] is None or t["kind"] == "duplicate_row":
            continue
        table = tables.setdefault(t["file"], pq.read_table(faulty / t["file"]))
        value = table.column(t["column"])[t["row"] - 1].as_py()
        kind = t["kind"]
        if kind == "no_century":
            assert len(value) == 10 and value.isdigit()
        elif kind == "separator_variant":
            assert re.fullmatch(r"(\d{6}|\d{8})[-+]\d{4}", value)
        elif kind == "whitespace":
            assert value != value.strip()
        elif kind == "missing_identifier":
            assert value in (None, "")
        elif kind == "check_digit":
            assert luhn_check_digit(value[2:11]) != int(value[11])
        elif kind == "negative_amount":
            assert value < 0
        elif kind == "absurd_amount":
            var = load(t["register"]).variable(t["column"])
            assert value > var.max
        elif kind in ("code_outside_years", "undocumented_code"):
            var = load(t["register"]).variable(t["column"])
            year = _year_of(t["file"])
            assert value not in {c.code for c in var.codes_in(year)}
            known = {c.code for c in var.codes.codes}
            assert (value in known) == (kind == "code_outside_years")


# --- realism ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def realistic(tmp_path_factory):
    # 150,000 people: the smallest size at which every published figure is within 15%
    # for the seeds we tried (100,000 leaves some yearly counts at the edge by chance).
    out = tmp_path_factory.mktemp("synth") / "realism"
    generate(out, 150_000, (2002, 2024), seed=2024)
    return out


@pytest.mark.slow
def test_realism_report_within_15_percent(realistic):
    rows = realism_report(realistic)
    tested = [r for r in rows if r.tested]
    assert len(tested) >= 50
    off = [
        f"{r.metric} {r.year}: {100 * r.deviation:+.1f}%" for r in tested if abs(r.deviation) > 0.15
    ]
    assert not off, off
    doc = json.loads((realistic / "ground_truth" / "realism.json").read_text())
    assert len(doc["rows"]) == len(rows)
    assert "| households | 2015 |" in (realistic / "ground_truth" / "realism.md").read_text()


@pytest.mark.slow
def test_spells_are_mostly_short_and_leavers_return(realistic):
    t = read_register(
        realistic, "ekonomiskt_bistand", columns=["hushallsid", "statistikar", "manad", "roll"]
    )
    t = t.filter(pc.equal(t["roll"], "1"))
    h = t["hushallsid"].to_numpy(zero_copy_only=False)
    m = t["statistikar"].to_numpy() * 12 + t["manad"].to_numpy() - 1
    order = np.lexsort((m, h))
    h, m = h[order], m[order]
    new = np.r_[True, (h[1:] != h[:-1]) | (m[1:] - m[:-1] > 1)]
    length = np.bincount(np.cumsum(new) - 1)
    start, hh = m[new], h[new]
    end = start + length - 1
    inside = (start > m.min()) & (end < m.max())  # not cut by the window
    assert np.median(length[inside]) <= 4
    assert 0.07 <= (length[inside] > 12).mean() <= 0.17  # Königs: about 11%
    same = np.r_[hh[1:] == hh[:-1], False]
    gap = np.r_[start[1:] - end[:-1] - 1, 99]
    ended = end < m.max() - 3
    assert (same & (gap <= 3))[ended].mean() > 0.45  # most leavers return within 3 months


@pytest.mark.slow
def test_child_placements_are_more_frequent_with_long_term_assistance(realistic):
    persons = pq.read_table(realistic / "ground_truth" / "persons.parquet")
    placed = set(
        read_register(realistic, "barn_unga", columns=["personnummer"])["personnummer"].to_pylist()
    )
    born = persons["fodelsedatum"].to_numpy(zero_copy_only=False).astype("datetime64[Y]")
    young = born.astype(int) + 1970 >= 1990
    ids = persons["personnummer"].to_numpy(zero_copy_only=False)[young]
    long_term = persons["long_term_years"].to_numpy()[young] > 0
    was_placed = np.isin(ids, list(placed))
    assert was_placed[long_term].mean() > 1.8 * was_placed[~long_term].mean()


# --- command line -----------------------------------------------------------------------


def test_cli_generates_and_reports(run_cli, workdir):
    result = run_cli(
        "synth",
        "--persons",
        "1500",
        "--years",
        "2015-2017",
        "--seed",
        "3",
        "--out",
        "s",
        "--faults",
        "0.001",
    )
    assert result.exit_code == 0, result.output
    assert "ekonomiskt_bistand" in result.output
    assert (workdir / "s" / "ekonomiskt_bistand" / "statistikar=2016" / "part-0.parquet").is_file()
    report = run_cli("synth", "report", "s")
    assert report.exit_code == 0, report.output
    assert "households" in report.output
    assert (workdir / "s" / "ground_truth" / "realism.md").is_file()
    # Regenerating over an earlier output replaces it.
    again = run_cli("synth", "--persons", "1000", "--years", "2016", "--out", "s")
    assert again.exit_code == 0, again.output
    assert not (workdir / "s" / "ekonomiskt_bistand" / "statistikar=2015").exists()


def test_cli_refuses_bad_input(run_cli, workdir):
    (workdir / "precious").mkdir()
    (workdir / "precious" / "notes.txt").write_text("keep me")
    result = run_cli("synth", "--persons", "100", "--years", "2015", "--out", "precious")
    assert result.exit_code == BadInputError.exit_code
    assert (workdir / "precious" / "notes.txt").read_text() == "keep me"
    assert (
        run_cli("synth", "--persons", "100", "--years", "2020-2010", "--out", "x").exit_code == 11
    )
    assert run_cli("synth", "--persons", "100", "--years", "abc", "--out", "x").exit_code == 11
    assert run_cli("synth", "--persons", "0", "--out", "x").exit_code == 11
    assert run_cli("synth", "--persons", "10", "--faults", "2", "--out", "x").exit_code == 11
    assert run_cli("synth", "report", str(workdir / "precious")).exit_code == 11


def test_random_personnummer_are_distinct_valid_and_inside_the_birth_years():
    import numpy as np

    from mikrodata.pseudonymisation import parse_identifiers
    from mikrodata.toolkit.synthetic.identifiers import random_personnummer

    ids = random_personnummer(5000, np.random.default_rng(3), born=(1950, 1959))
    parsed = parse_identifiers(list(ids))
    assert len(set(ids)) == 5000
    assert (parsed["kind"] == "personnummer").all()
    years = parsed["birth_date"].map(lambda d: d.year)
    assert years.between(1950, 1960).all()  # a crowded day may move a person a day on
    assert set(parsed["sex"]) == {"male", "female"}


@pytest.mark.parametrize("persons", [1, 3, 10])
def test_a_tiny_population_still_makes_every_register(tmp_path, persons):
    """A dummy extract may be drawn from a handful of people: a population with no
    recipient, no death or no care still writes every register (empty or not)."""
    from mikrodata.toolkit.synthetic.generate import REGISTERS, generate

    generate(tmp_path / "out", persons, (2012, 2014), seed=persons)
    for register in REGISTERS:
        assert (tmp_path / "out" / register).is_dir(), register
