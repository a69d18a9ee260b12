"""Pseudonyms: keyed, deterministic within a project, unrelated across projects, one per
person whatever the form, domain-separated, collision-checked, irreversible without the
key."""

from __future__ import annotations

import hashlib
import hmac
import re

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mikrodata.pseudonymisation import (
    PSEUDONYM_PATTERN,
    find_pseudonym_collisions,
    is_pseudonym,
    pseudonymise_table,
    rekey_table,
)
from mikrodata.pseudonymisation.tables import Pseudonymiser
from mikrodata.toolkit.errors import BadInputError, IntegrityError
from mikrodata.toolkit.rejects import REASONS
from tests.pseudonymisation.synthetic import REFERENCE, forms, synthetic_population

POPULATION = synthetic_population(300, seed=7)


def _pseudonyms(key, values, domain="person", **kwargs):
    """Pseudonyms in the order of ``values`` (the output is sorted by pseudonym: the row
    number travels along to put them back)."""
    table = pa.table({"id": pa.array(values), "row": pa.array(range(len(values)), pa.int64())})
    result = pseudonymise_table(table, key, {"id": domain}, REFERENCE, **kwargs)
    return result.table.sort_by("row")["id"].to_pylist(), result


def test_form_and_pattern(p1):
    pseudonyms, result = _pseudonyms(p1, POPULATION)
    assert result.rows_out == len(POPULATION)
    assert all(re.fullmatch(PSEUDONYM_PATTERN, p) for p in pseudonyms)
    assert is_pseudonym(pd.Series(pseudonyms)).all()
    assert not is_pseudonym(pd.Series(["640823-3234", "ABCDEF0123456789", None, "0" * 15])).any()
    assert len(set(pseudonyms)) == len(POPULATION)


def test_matches_a_plain_hmac(p1):
    # The fast HMAC equals the standard library's, message = domain tag + identifier.
    number = POPULATION[0]
    expected = hmac.digest(
        p1._secret, b"mikrodata/pseudonym/v1/person\x00" + number.encode(), "sha256"
    )[:8].hex()
    assert _pseudonyms(p1, [number])[0] == [expected]
    household = hmac.digest(p1._secret, b"mikrodata/pseudonym/v1/household\x00H-17", "sha256")
    assert _pseudonyms(p1, [" H-17 "], "household")[0] == [household[:8].hex()]


def test_every_form_of_one_number_gives_one_pseudonym(p1):
    for number in POPULATION[:40]:
        texts = [f for f in forms(number) if isinstance(f, str)]
        ints = [f for f in forms(number) if isinstance(f, int)]
        from_text, result = _pseudonyms(p1, texts)
        from_ints, result_ints = _pseudonyms(p1, ints)
        assert result.rows_rejected == result_ints.rows_rejected == 0, number
        assert len(set(from_text + from_ints)) == 1


@settings(max_examples=25, deadline=None)
@given(
    st.lists(st.sampled_from(POPULATION), min_size=1, max_size=60),
    st.randoms(use_true_random=False),
)
def test_same_project_same_pseudonym_in_every_register_and_delivery(p1, people, rnd):
    # Two "registers" with other columns, other row orders and other batch sizes.
    reference = dict(zip(POPULATION, _pseudonyms(p1, POPULATION)[0], strict=True))
    shuffled = people[:]
    rnd.shuffle(shuffled)
    register = pa.table({"amount": list(range(len(shuffled))), "pnr": shuffled})
    engine = Pseudonymiser(p1, {"pnr": "person"}, reference_date=REFERENCE)
    got = []
    for batch in register.to_batches(max_chunksize=rnd.randint(1, 7)):
        out, _ = engine.process(batch)
        got += out.column("pnr").to_pylist()
    assert got == [reference[p] for p in shuffled]


@settings(max_examples=10, deadline=None)
@given(st.lists(st.sampled_from(POPULATION), min_size=30, max_size=120, unique=True))
def test_projects_are_unrelated(p1, p2, people):
    a, _ = _pseudonyms(p1, people)
    b, _ = _pseudonyms(p2, people)
    assert not set(a) & set(b)
    # No relation between them: about half the bits agree, and the orders differ.
    bits_a = np.unpackbits(np.frombuffer(bytes.fromhex("".join(a)), np.uint8))
    bits_b = np.unpackbits(np.frombuffer(bytes.fromhex("".join(b)), np.uint8))
    assert abs((bits_a == bits_b).mean() - 0.5) < 0.06
    assert np.argsort(a).tolist() != np.argsort(b).tolist()


def test_domains_are_separated(p1):
    person, _ = _pseudonyms(p1, POPULATION[:50])
    household, _ = _pseudonyms(p1, POPULATION[:50], domain="household")
    case, _ = _pseudonyms(p1, POPULATION[:50], domain="case")
    assert not set(person) & set(household) and not set(household) & set(case)


def test_non_person_domains_trim_and_reject(p1):
    values = [" H1", "H1 ", "H2", "", None, "x" * 65, "bad\x00id", 42]
    table = pa.table({"hh": pa.array([None if v is None else str(v) for v in values])})
    result = pseudonymise_table(table, p1, {"hh": "household"})
    assert result.rows_out == 4 and result.rows_rejected == 4
    out = _pseudonyms(p1, values[:3], "household")[0]
    assert out[0] == out[1] != out[2]
    assert result.rejected["reason"].to_pylist() == ["missing", "missing", "length", "characters"]
    nullable = pseudonymise_table(table.slice(4, 1), p1, {"hh": "household"}, allow_null=["hh"])
    assert nullable.rows_out == 1 and nullable.table["hh"].to_pylist() == [None]


def test_without_the_key_brute_force_finds_nothing(p1, p2):
    """An attacker who knows the scheme, the domain tag and every candidate number of the
    population (all birth numbers of their birth dates) but not the key finds none."""
    population = synthetic_population(60, seed=3, first="1980-05-01", last="1980-05-04")
    target = set(_pseudonyms(p1, population)[0])
    dates = sorted({n[:8] for n in population})
    candidates = []
    for date in dates:
        for birth in range(1, 1000):
            for day_offset in (0, 60):
                nine = f"{date[2:6]}{int(date[6:]) + day_offset:02d}{birth:03d}"
                from mikrodata.pseudonymisation.luhn import luhn_check_digit

                candidates.append(f"{date[:2]}{nine}{luhn_check_digit(nine)}")
    assert set(population) <= set(candidates)  # the attacker's list covers everyone
    tag = b"mikrodata/pseudonym/v1/person\x00"
    guesses = [b"", b"\x00" * 32, b"P1", b"mikrodata", p2._secret]
    for c in candidates:
        m = c.encode()
        found = {hashlib.sha256(m).hexdigest()[:16], hashlib.sha256(tag + m).hexdigest()[:16]}
        found |= {hmac.digest(g, tag + m, "sha256")[:8].hex() for g in guesses}
        assert not found & target
    # ...while the same enumeration with the key finds everyone: the check has teeth.
    with_key = {hmac.digest(p1._secret, tag + c.encode(), "sha256")[:8].hex() for c in candidates}
    assert target <= with_key


def test_a_collision_stops_the_run(p1):
    # Shorten pseudonyms to one byte so that 300 people must collide.
    engine = Pseudonymiser(p1, {"id": "person"}, reference_date=REFERENCE, nbytes=1)
    with pytest.raises(IntegrityError, match="collision") as info:
        engine.process(pa.record_batch({"id": POPULATION}))
    assert info.value.exit_code == 16
    for number in POPULATION:
        assert number not in str(info.value)


def test_a_collision_across_batches_is_caught_at_the_end(p1):
    engine = Pseudonymiser(p1, {"id": "person"}, reference_date=REFERENCE, nbytes=1)
    seen = set()
    # Feed one person per batch: no batch collides on its own.
    with pytest.raises(IntegrityError):
        for number in POPULATION:
            out, _ = engine.process(pa.record_batch({"id": [number]}))
            seen.add(out.column("id")[0].as_py())
        engine.finish()
    assert len(seen) <= 256


def test_find_pseudonym_collisions():
    ids = ["a", "b", "c", "a", "d"]
    pseudonyms = ["x", "x", "y", "x", "z"]
    found = find_pseudonym_collisions(ids, pseudonyms)
    assert found.to_pylist() == [{"pseudonym": "x", "identifiers": 2}]
    assert find_pseudonym_collisions(["a", "a"], ["x", "x"]).num_rows == 0


def test_rejected_rows_keep_other_columns_but_no_identifier(p1):
    table = pa.table(
        {
            "pnr": ["640823-3234", "640823-3235", None, "000101-P220", "19640823 3234"],
            "hh": ["H1", "H2", "H3", "H4", ""],
            "amount": [1, 2, 3, 4, 5],
        }
    )
    result = pseudonymise_table(table, p1, {"pnr": "person", "hh": "household"}, REFERENCE)
    assert (result.rows_in, result.rows_out, result.rows_rejected) == (5, 1, 4)
    rej = result.rejected.to_pylist()
    # One record per row (toolkit.rejects): the first column at fault, rows from 1, the
    # other values as text, never the identifiers.
    assert [(r["source_row"], r["column"], r["reason"], r["value_amount"]) for r in rej] == [
        (2, "pnr", "check_digit", "2"),
        (3, "pnr", "missing", "3"),
        (4, "pnr", "interim", "4"),
        (5, "hh", "missing", "5"),
    ]
    assert result.rejected.column_names == [
        "source_file",
        "source_row",
        "column",
        "reason",
        "detail",
        "value_amount",
    ]
    assert rej[0]["detail"] == REASONS["check_digit"] and rej[0]["source_file"] == "table"
    assert result.table.column_names == ["pnr", "hh", "amount"]
    interim = pseudonymise_table(table.slice(3, 1), p1, {"pnr": "person"}, allow_interim=True)
    assert interim.rows_out == 1


def test_input_checks(p1):
    table = pd.DataFrame({"pnr": ["640823-3234"], "copy": ["640823-3234"]})
    with pytest.raises(BadInputError, match="copy"):
        pseudonymise_table(table, p1, ["pnr"])  # a raw identifier would leak via "copy"
    assert pseudonymise_table(table, p1, ["pnr"], check_residual=False).rows_out == 1
    with pytest.raises(BadInputError, match="not in the input"):
        pseudonymise_table(table, p1, ["nope"])
    with pytest.raises(BadInputError, match="domain"):
        pseudonymise_table(table, p1, {"pnr": "Person!"})
    with pytest.raises(BadInputError):
        pseudonymise_table(table, "not a key", ["pnr"])


def test_rekey_table(keystore, passphrase):
    keystore.rotate("P1")
    people = POPULATION[:20] + ["garbage"]
    table = rekey_table(keystore, "P1", people, 1, 2, reference_date=REFERENCE)
    old, _ = _pseudonyms(keystore.project_key("P1", 1), POPULATION[:20])
    new, _ = _pseudonyms(keystore.project_key("P1", 2), POPULATION[:20])
    assert dict(
        zip(table["old_pseudonym"].to_pylist(), table["new_pseudonym"].to_pylist(), strict=True)
    ) == dict(zip(old, new, strict=True))
    assert table.schema.metadata[b"mikrodata.rejected_distinct"] == b"1"


def test_every_row_of_many_batches_matches_a_plain_hmac(p1):
    # The fast path across batches: known people found by the hash index, new ones
    # hashed, bad numbers and other forms mixed in; every pseudonym equals hmac.digest.
    rng = np.random.default_rng(3)
    people = np.array(synthetic_population(3000, seed=5))
    rows = people[rng.integers(0, len(people), 20_000)].astype(object)
    rows[::97] = "19640823-3234"  # another form, also the fast path's fallback
    rows[::101] = "196408233230"  # a wrong check digit
    engine = Pseudonymiser(p1, {"pnr": "person"}, reference_date=REFERENCE)
    got, rejected = [], 0
    for batch in pa.table({"pnr": pa.array(rows.tolist())}).to_batches(max_chunksize=1500):
        out, rej = engine.process(batch)
        got += out.column("pnr").to_pylist()
        rejected += rej.num_rows
    engine.finish()
    tag = b"mikrodata/pseudonym/v1/person\x00"
    kept = [v.replace("-", "") for v in rows if v != "196408233230"]
    assert rejected == len(rows) - len(kept)
    assert got == [hmac.digest(p1._secret, tag + v.encode(), "sha256")[:8].hex() for v in kept]
    assert engine.distinct()["person"] == len(set(kept))
