"""The identifier parser, as a specification: one row per rule.

Reference date for 10-digit forms: 2026-06-30 unless a row says otherwise. Numbers are
synthetic (Skatteverket's published example 640823-3234 and samordningsnummer example
701063-2391, and numbers made with luhn.py).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from mikrodata.pseudonymisation import Identifier, parse_identifiers
from mikrodata.pseudonymisation.identifiers import parse_twelve_digits, twelve_digit_reasons
from mikrodata.pseudonymisation.luhn import luhn_check_digit, luhn_check_digits
from mikrodata.toolkit.errors import BadInputError

REF = dt.date(2026, 6, 30)


def _n(ten_or_twelve_without_check: str) -> str:
    """Append the right check digit to YYMMDDNNN or YYYYMMDDNNN."""
    return ten_or_twelve_without_check + str(luhn_check_digit(ten_or_twelve_without_check[-9:]))


# value, normalised, kind, birth date, sex
VALID = [
    ("640823-3234", "196408233234", "personnummer", "1964-08-23", "male"),  # YYMMDD-NNNC
    ("6408233234", "196408233234", "personnummer", "1964-08-23", "male"),  # YYMMDDNNNC
    ("196408233234", "196408233234", "personnummer", "1964-08-23", "male"),  # YYYYMMDDNNNC
    ("19640823-3234", "196408233234", "personnummer", "1964-08-23", "male"),  # YYYYMMDD-NNNC
    ("640823+3234", "186408233234", "personnummer", "1864-08-23", "male"),  # + : 100 or older
    (196408233234, "196408233234", "personnummer", "1964-08-23", "male"),  # integer, 12 digits
    (6408233234, "196408233234", "personnummer", "1964-08-23", "male"),  # integer, 10 digits
    (" 640823-3234 ", "196408233234", "personnummer", "1964-08-23", "male"),  # whitespace
    ("6408 23 - 3234", "196408233234", "personnummer", "1964-08-23", "male"),  # inner spaces
    ("\u00a0640823-3234\t", "196408233234", "personnummer", "1964-08-23", "male"),  # nbsp, tab
    ("701063-2391", "197010632391", "samordningsnummer", "1970-10-03", "male"),  # day + 60
    (_n("000229002"), "20" + _n("000229002"), "personnummer", "2000-02-29", "female"),  # leap
    (int(_n("050101123")), _n("20050101123"), "personnummer", "2005-01-01", "male"),  # int 0-pad
    ("000101-P220", "20000101P220", "interim", "2000-01-01", "female"),  # interim letter
    ("000101-p220", "20000101P220", "interim", "2000-01-01", "female"),  # lower-case letter
    (_n("19240289001"), _n("19240289001"), "samordningsnummer", "1924-02-29", "male"),  # leap+60
    ("19640823+3234", "196408233234", "personnummer", "1964-08-23", "male"),  # century wins
]

# value, reason (and a why)
INVALID = [
    (None, "missing"),
    ("", "missing"),
    ("   ", "missing"),
    ("64082332", "length"),
    ("64082332345", "length"),  # 11 digits, no separator
    ("1964082332345", "length"),  # 13 digits, no separator
    ("19640823323456", "length"),
    ("640823/3234", "characters"),  # wrong separator
    ("64O823-3234", "characters"),  # letter O for zero
    ("640823-32a4", "characters"),  # letter outside the interim place
    ("64-0823-3234", "characters"),  # separators in the wrong places
    ("6408233234ä", "characters"),  # non-ASCII, right length
    (_n("640823000")[:6] + "-000" + _n("640823000")[-1], "characters"),  # birth number 000
    (-6408233234, "characters"),  # negative integer
    ("641323-3234", "date"),  # month 13
    ("640832-3234", "date"),  # day 32
    ("640800-3234", "date"),  # day 0
    (_n("19010229001"), "date"),  # 1901 is no leap year
    (_n("19000229001"), "date"),  # 1900 is no leap year
    (_n("640892001"), "date"),  # samordningsnummer day 92 (31 + 61)
    (_n("640845001"), "date"),  # day 45: neither a date nor a samordningsnummer
    (_n("17990101001"), "date"),  # before 1800
    (_n("20261231001"), "date"),  # after the reference date
    ("640823-3235", "check_digit"),
    ("196408233230", "check_digit"),
    ("000101-P221", "check_digit"),  # interim with a wrong check digit
]


@pytest.mark.parametrize("value,normalised,kind,birth,sex", VALID, ids=lambda v: repr(v)[:20])
def test_valid_forms(value, normalised, kind, birth, sex):
    row = parse_identifiers([value], reference_date=REF).iloc[0]
    assert row["normalised"] == normalised
    assert row["kind"] == kind
    assert row["reason"] is pd.NA
    assert row["birth_date"] == dt.date.fromisoformat(birth)
    assert row["sex"] == sex


@pytest.mark.parametrize("value,reason", INVALID, ids=lambda v: repr(v)[:20])
def test_invalid_reasons(value, reason):
    row = parse_identifiers(pd.Series([value], dtype=object), reference_date=REF).iloc[0]
    assert row["kind"] == "invalid"
    assert row["reason"] == reason
    assert row["normalised"] is pd.NA
    assert row["birth_date"] is pd.NA
    assert row["sex"] is pd.NA


def test_century_from_separator_and_reference_date():
    # The same short form, read in two delivery years.
    short = _n("200101238")
    short = f"{short[:6]}-{short[6:]}"
    early = parse_identifiers([short], reference_date=dt.date(1995, 1, 1))
    late = parse_identifiers([short], reference_date=dt.date(2026, 1, 1))
    assert early["birth_date"].iloc[0] == dt.date(1920, 1, 1)
    assert late["birth_date"].iloc[0] == dt.date(2020, 1, 1)
    # '+' from the calendar year the person turns 100.
    plus_form = _n("260101238")
    plus_form = f"{plus_form[:6]}+{plus_form[6:]}"
    plus = parse_identifiers([plus_form], reference_date=dt.date(2026, 1, 1))
    assert plus["birth_date"].iloc[0] == dt.date(1926, 1, 1)


def test_leap_days_every_year_of_a_century():
    years = range(1896, 2025)
    values = [_n(f"{y}0229{1:03d}") for y in years]
    frame = parse_identifiers(values, reference_date=REF)
    leap = [(y % 4 == 0 and y % 100 != 0) or y % 400 == 0 for y in years]
    assert (frame["reason"].isna().tolist()) == leap
    assert set(frame["reason"].dropna()) == {"date"}


def test_input_types_and_index_are_kept():
    series = pd.Series(["640823-3234", None, "x"], index=[10, 20, 30])
    frame = parse_identifiers(series, reference_date=REF)
    assert list(frame.index) == [10, 20, 30]
    assert list(frame.columns) == ["normalised", "kind", "reason", "birth_date", "sex"]
    for values in (
        pa.array(["640823-3234", None, "x"]),
        pa.chunked_array([["640823-3234"], [None, "x"]]),
        pa.array(["640823-3234", None, "x"]).dictionary_encode(),
        ["640823-3234", None, "x"],
    ):
        got = parse_identifiers(values, reference_date=REF)
        assert got["reason"].tolist() == [pd.NA, "missing", "length"]
    ints = parse_identifiers(pd.Series([196408233234, None], dtype="Int64"), reference_date=REF)
    assert ints["normalised"].tolist() == ["196408233234", pd.NA]


def test_repeated_values_parse_once_and_map_back():
    values = ["640823-3234", "701063-2391", "bad"] * 1000
    frame = parse_identifiers(values, reference_date=REF)
    assert frame["normalised"].tolist()[:3] == ["196408233234", "197010632391", pd.NA]
    assert frame["normalised"].tolist() == frame["normalised"].tolist()[:3] * 1000


def test_identifier_value_type():
    one = Identifier.parse("640823-3234", reference_date=REF)
    assert one == Identifier.parse(196408233234) == Identifier.parse(" 19640823-3234 ")
    assert one.kind == "personnummer" and one.sex == "male"
    assert one.birth_date == dt.date(1964, 8, 23)
    assert repr(one) == str(one) == "Identifier(19640823-****, personnummer)"
    assert "3234" not in repr(one) and "3234" not in f"{one}"
    assert one.format() == "196408233234"
    assert one.format(long=False) == "640823-3234"
    assert len({one, Identifier.parse("6408233234")}) == 1
    with pytest.raises(AttributeError):
        one.normalised = "x"  # type: ignore[misc]


@pytest.mark.parametrize("value", ["640823-3235", "", "123", "641323-3234"])
def test_identifier_refuses_invalid_without_showing_it(value):
    with pytest.raises(BadInputError) as info:
        Identifier.parse(value, reference_date=REF)
    if value:
        assert value not in str(info.value)


def test_identifier_constructor_validates():
    with pytest.raises(BadInputError):
        Identifier("196408233235", "personnummer", dt.date(1964, 8, 23), "male")
    with pytest.raises(BadInputError):
        Identifier("196408233234", "samordningsnummer", dt.date(1964, 8, 23), "male")
    ok = Identifier("196408233234", "personnummer", dt.date(1964, 8, 23), "male")
    assert ok == Identifier.parse("640823-3234")


@pytest.mark.parametrize("reference", [dt.date(2024, 2, 29), dt.date(2026, 6, 30)])
def test_twelve_digit_reasons_agree_with_the_full_parser(reference):
    # The pseudonymiser's integer-only check of new 12-digit values must give exactly
    # the full parser's reason and kind, on valid numbers and every kind of fault.
    rng = np.random.default_rng(11)
    n = 200_000
    year, month = rng.integers(1780, 2035, n), rng.integers(0, 14, n)
    day, birth, check = rng.integers(0, 100, n), rng.integers(0, 1000, n), rng.integers(0, 10, n)
    parts = (((year * 100 + month) * 100 + day) * 1000 + birth) * 10 + check
    nine = (parts // 10) % 10**9
    digits = (nine[:, None] // 10 ** np.arange(8, -1, -1)) % 10
    valid_check = (parts // 10) * 10 + luhn_check_digits(digits)  # many valid numbers too
    keys = np.concatenate([parts, valid_check, rng.integers(0, 10**12, n)])
    full = parse_twelve_digits(keys, reference)
    reason, kind = twelve_digit_reasons(keys, reference)
    assert (reason == full.reason).all() and (kind == full.kind).all()
    assert (full.key[reason == 0] == keys[reason == 0]).all()
    assert (reason == 0).sum() > 10_000 and len(set(reason.tolist())) >= 4
