"""The packed pseudonym keys: 16 lower-case hex characters as one uint64, exact (the
value of the hex number), in string order, and None for anything else (the callers
then take their general road)."""

from __future__ import annotations

import importlib
from unittest import mock

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mikrodata.toolkit.analysis.keys import packed_keys, packed_runs, unpacked
from mikrodata.toolkit.analysis.spells import _packed_order

keys_module = importlib.import_module("mikrodata.toolkit.analysis.keys")
HEX = "0123456789abcdef"
pseudonym = st.text(alphabet=HEX, min_size=16, max_size=16)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(values=st.lists(pseudonym, min_size=0, max_size=50))
def test_packed_keys_are_the_hex_numbers_in_string_order(values):
    got = packed_keys(pa.array(values, pa.string()))
    assert got is not None and got.dtype == np.uint64
    assert [int(v) for v in got] == [int(s, 16) for s in values]
    assert unpacked(got).to_pylist() == values  # spelled back exactly
    # Order and equality of the numbers are the strings' (stable sorts agree).
    assert list(np.argsort(got, kind="stable")) == sorted(
        range(len(values)), key=lambda k: values[k]
    )


def test_every_digit_at_every_position_and_the_extremes():
    values = ["0" * 16, "f" * 16, "9" + "f" * 15, "a" + "0" * 15, "0123456789abcdef"]
    values += [HEX[d] * 16 for d in range(16)]
    values += ["0" * k + HEX[d] + "0" * (15 - k) for k in range(16) for d in range(16)]
    got = packed_keys(pa.array(values))
    assert [int(v) for v in got] == [int(s, 16) for s in values]
    assert sorted(values) == [values[k] for k in np.argsort(got, kind="stable")]


def test_chunked_sliced_and_large_string_columns():
    values = [f"{k * 0x9E3779B97F4A7C15 % 2**64:016x}" for k in range(300_000)]
    want = [int(s, 16) for s in values]
    chunked = pa.chunked_array([values[:70_000], values[70_000:], []], pa.string())
    assert [int(v) for v in packed_keys(chunked)] == want  # more than one block too
    assert unpacked(packed_keys(chunked)).equals(pa.array(values, pa.string()))
    sliced = pa.array(values, pa.string()).slice(3, 1000)
    assert [int(v) for v in packed_keys(sliced)] == want[3:1003]
    assert [int(v) for v in packed_keys(pa.array(values[:50], pa.large_string()))] == want[:50]
    assert len(packed_keys(pa.array([], pa.string()))) == 0


@pytest.mark.parametrize(
    "bad",
    [
        None,  # a null
        "0123456789abcde",  # 15 characters
        "0123456789abcdef0",  # 17
        "0123456789ABCDEF",  # upper-case
        "0123456789abcdeF",
        "h000000001234567",  # a household id
        "0123456789abcde/",  # the characters next to the hex ranges
        "0123456789abcde:",
        "0123456789abcde`",
        "0123456789abcdeg",
        "0123456789abcd\u00e9",  # 16 bytes, 15 characters (non-ASCII)
        "0123456789abcd\x00\x00",
        " 123456789abcdef",
    ],
)
@pytest.mark.parametrize("position", [0, 1, 70_000])
def test_anything_else_is_not_packed(bad, position):
    values = [f"{k:016x}" for k in range(70_001)]
    values[position] = bad
    assert packed_keys(pa.array(values, pa.string())) is None
    assert packed_keys(pa.chunked_array([values[:5], values[5:]], pa.string())) is None


def test_other_types_are_not_packed():
    values = ["0123456789abcdef"] * 3
    assert packed_keys(pa.array(values).dictionary_encode()) is None
    assert packed_keys(pa.array([1, 2, 3])) is None
    assert packed_keys(pa.array([b"0123456789abcdef"] * 3, pa.binary())) is None


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    rows=st.lists(
        st.tuples(
            # persons that differ only in their last bits (where the sort key puts the
            # period), across the digit/letter boundary, and far apart
            st.sampled_from(
                [
                    "0123456789abcde0",
                    "0123456789abcde1",
                    "0123456789abcdef",
                    "9fffffffffffffff",
                    "a000000000000000",
                    "ffffffffffffffff",
                    "0000000000000000",
                ]
            ),
            st.integers(-5, 300),
        ),
        min_size=1,
        max_size=40,
        unique=True,
    ),
    huge=st.booleans(),
)
def test_the_packed_order_is_the_person_then_period_order(rows, huge):
    persons = [p for p, _ in rows]
    pv = np.array([m * (2**30 if huge else 1) for _, m in rows], np.int64)  # huge: lexsort
    packed = packed_keys(pa.array(persons))
    perm, pv_sorted, new_person, heads = _packed_order(packed, pv)
    order = list(range(len(rows))) if perm is None else list(perm)
    want = sorted(range(len(rows)), key=lambda k: (persons[k], pv[k]))
    assert order == want
    assert list(pv_sorted) == [pv[k] for k in want]
    assert list(new_person) == [
        j == 0 or persons[want[j]] != persons[want[j - 1]] for j in range(len(want))
    ]
    assert unpacked(heads).to_pylist() == sorted(set(persons))


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    values=st.lists(
        st.sampled_from(["0123456789abcde0", "0123456789abcde1", "9fffffffffffffff", "a" * 16]),
        min_size=1,
        max_size=30,
    ),
    chunks=st.integers(1, 3),
    piece=st.integers(1, 40),
)
def test_packed_runs_are_the_runs_of_equal_neighbours(values, chunks, piece):
    cut = [len(values) * k // chunks for k in range(chunks + 1)]
    column = pa.chunked_array(
        [values[a:b] for a, b in zip(cut, cut[1:], strict=False)], pa.string()
    )
    with mock.patch.object(keys_module, "_RUN_SLICE", piece):  # chunks cut in slices too
        starts, firsts = packed_runs(column)
    want = [k == 0 or values[k] != values[k - 1] for k in range(len(values))]
    assert list(starts) == want
    assert unpacked(firsts).to_pylist() == [v for v, s in zip(values, want, strict=True) if s]


@pytest.mark.parametrize(
    "bad", [None, "0123456789ABCDEF", "0123456789abcde", "0123456789abcdeg", "h000000001"]
)
def test_packed_runs_of_anything_else_are_none(bad):
    values = ["0123456789abcdef"] * 3 + [bad] * 2  # the bad value repeated: not a first
    assert packed_runs(pa.array(values, pa.string())) is None
    assert packed_runs(pa.chunked_array([values[:2], values[2:]], pa.string())) is None
