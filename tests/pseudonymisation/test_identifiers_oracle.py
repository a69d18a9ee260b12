"""The parser agrees with an established validator, the ``personnummer`` package on
PyPI (tests only), on generated cases: valid and invalid, every delivered form."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from personnummer import personnummer

from mikrodata.pseudonymisation import parse_identifiers
from mikrodata.pseudonymisation.luhn import luhn_check_digit

TODAY = dt.date.today()  # the oracle resolves centuries against today


@st.composite
def candidates(draw):
    """A number in one of the delivered forms: mostly plausible, often broken."""
    date = draw(st.dates(min_value=dt.date(1900, 1, 1), max_value=TODAY))
    birth = draw(st.integers(0, 999))
    samordning = draw(st.booleans())
    day = date.day + (60 if samordning else 0)
    if draw(st.integers(0, 9)) == 0:  # sometimes an impossible day or month
        day = draw(st.integers(0, 99))
    month = date.month if draw(st.integers(0, 9)) else draw(st.integers(0, 19))
    nine = f"{date:%y}{month:02d}{day:02d}{birth:03d}"
    check = luhn_check_digit(nine) if draw(st.booleans()) else draw(st.integers(0, 9))
    ten = f"{nine}{check}"
    century = f"{date:%Y}"[:2]
    sep = "+" if TODAY.year - date.year >= 100 else "-"
    form = draw(st.sampled_from(["short", "short_sep", "long", "long_sep", "long_int"]))
    if form == "short" and sep == "+":
        form = "short_sep"  # without a separator a 10-digit form means under 100
    return {
        "short": ten,
        "short_sep": f"{ten[:6]}{sep}{ten[6:]}",
        "long": century + ten,
        "long_sep": f"{century}{ten[:6]}-{ten[6:]}",
        "long_int": int(century + ten),
    }[form]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(candidates(), min_size=1, max_size=40))
def test_agrees_with_the_personnummer_package(values):
    frame = parse_identifiers(values)
    for value, (_, row) in zip(values, frame.iterrows(), strict=True):
        expected = personnummer.valid(value)
        assert (row["kind"] != "invalid") == expected, (value, row["reason"])
        if expected:
            oracle = personnummer.parse(value)
            assert row["normalised"] == oracle.format(long_format=True)
            assert row["birth_date"] == oracle.get_date()
            assert (row["sex"] == "male") == oracle.is_male()
            assert (row["kind"] == "samordningsnummer") == oracle.is_coordination_number()


@pytest.mark.parametrize("value", ["640823-3234", "701063-2391", "6408233234", 196408233234])
def test_published_examples(value):
    assert personnummer.valid(value)
    assert parse_identifiers([value])["kind"].iloc[0] != "invalid"
