"""The extract build's residual guard: a raw personnummer hidden in a variable that is
not an identifier (text, whole number, amount) refuses the build and nothing is
written; the guard's DuckDB pre-filter finds exactly what the guard finds on its own."""

from __future__ import annotations

import datetime as dt

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mikrodata.pseudonymisation.residual import residual_identifiers
from mikrodata.toolkit.errors import IntegrityError
from mikrodata.toolkit.extract.pipeline import residual_in_parquet
from mikrodata.toolkit.synthetic.identifiers import random_personnummer
from tests.access_requests.support import (
    FAULT_YEAR,
    approved_extract,
    make_delivery,
    make_keystore,
)

REFERENCE = dt.date(2026, 1, 1)
PEOPLE = list(random_personnummer(6, np.random.default_rng(11)))


def _plant(registers, column, value, typ):
    """Put ``value`` in ``column`` of every row of one delivered year."""
    path = registers / "ekonomiskt_bistand" / f"statistikar={FAULT_YEAR}" / "part-0.parquet"
    table = pq.read_table(path)
    i = table.schema.get_field_index(column)
    planted = pa.array([value] * table.num_rows, typ)
    pq.write_table(table.set_column(i, column, planted), path)


@pytest.mark.parametrize(
    ("column", "value", "typ"),
    [
        ("kommun", f"kontakt {PEOPLE[0][2:8]}-{PEOPLE[0][8:]}", pa.string()),
        ("antal_barn", int(PEOPLE[1][2:]), pa.int64()),
        ("belopp_forsorjningsstod", float(PEOPLE[2]), pa.float64()),
    ],
    ids=["free-text", "integer", "amount"],
)
def test_a_number_hidden_in_a_variable_refuses_the_build(tmp_path, column, value, typ):
    delivery = make_delivery(tmp_path / "registers")
    _plant(delivery["root"], column, value, typ)
    keystore = make_keystore(tmp_path / "keystore")
    with pytest.raises(IntegrityError, match=column) as info:
        approved_extract(tmp_path, delivery["root"], keystore)
    message = str(info.value) + str(info.value.hint)
    assert "look like personnummer" in message
    assert not any(p[2:8] in message for p in PEOPLE)  # no value, whole or in part
    assert not (tmp_path / "extract").exists()
    assert not (tmp_path / "rejects").exists()


def test_a_clean_delivery_passes_the_guard(tmp_path):
    delivery = make_delivery(tmp_path / "registers")
    built = approved_extract(tmp_path, delivery["root"], make_keystore(tmp_path / "keystore"))
    assert built.result.manifest["registers"]["ekonomiskt_bistand"]["rows_out"] > 0


_TEXT = st.text(alphabet="0123456789 -+SEkontaøé", max_size=30)
_HIDDEN = st.sampled_from(PEOPLE).flatmap(
    lambda p: st.sampled_from(
        [p, p[2:], f"{p[2:8]}-{p[8:]}", f"{p[2:8]}+{p[8:]}", f"SE{p}", f"nr {p[:8]} {p[8:]}"]
    )
)
_NUMBERS = st.one_of(
    st.integers(-(10**13), 10**13),
    st.sampled_from(PEOPLE).flatmap(lambda p: st.sampled_from([int(p), int(p[2:]), -int(p)])),
)
_FLOATS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    _NUMBERS.map(float),
    _NUMBERS.map(lambda n: n + 0.5),
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    text=st.lists(st.one_of(_TEXT, _HIDDEN, st.none()), min_size=0, max_size=25),
    whole=st.lists(st.one_of(_NUMBERS, st.none()), min_size=0, max_size=25),
    amount=st.lists(st.one_of(_FLOATS, st.none()), min_size=0, max_size=25),
)
def test_the_duckdb_prefilter_finds_what_the_guard_finds(tmp_path, text, whole, amount):
    n = max(len(text), len(whole), len(amount))
    table = pa.table(
        {
            "text": pa.array(text + [None] * (n - len(text)), pa.string()),
            "whole": pa.array(whole + [None] * (n - len(whole)), pa.int64()),
            "amount": pa.array(amount + [None] * (n - len(amount)), pa.float64()),
            "day": pa.array([dt.date(2020, 1, 1)] * n, pa.date32()),
        }
    )
    path = tmp_path / "t.parquet"
    pq.write_table(table, path)
    con = duckdb.connect()
    try:
        got = residual_in_parquet(con, path, table.column_names, REFERENCE)
    finally:
        con.close()
    assert got == residual_identifiers(table, reference_date=REFERENCE)
