"""The vectorised fast paths of pseudonymising give exactly what the plain definitions
give (HMAC-SHA256 by ``hmac.digest``, 12-digit values by a regular expression, hex by
``format``), and a file run's background threads hand their errors to the caller and
leave nothing written."""

from __future__ import annotations

import hmac
import re
import threading
import time

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mikrodata.pseudonymisation import files, pseudonymise_file
from mikrodata.pseudonymisation.pseudonyms import _twelve_digit_keys, hex_pseudonyms
from mikrodata.pseudonymisation.tables import Pseudonymiser
from mikrodata.toolkit.errors import BadInputError, IntegrityError
from tests.pseudonymisation.synthetic import REFERENCE, forms, synthetic_population

POPULATION = synthetic_population(400, seed=23)
COLUMNS = {"personnummer": "person", "hushallsid": "household"}


def test_project_key_digests_equal_hmac_digest(p1):
    rows = np.frombuffer("".join(POPULATION).encode(), np.uint8).reshape(-1, 12)
    varied = [str(f).encode() for number in POPULATION[:60] for f in forms(number)]
    varied += [b"", b"H-1", "hushåll 7".encode(), b"x" * 150]
    # Rows that end in NUL bytes (fixed-width bytes would drop them) are hashed whole.
    nul = rows.copy()
    nul[::3, -2:] = 0
    arrays = [(a, [r.tobytes() for r in a]) for a in (rows, nul)]
    for domain in ("person", "household"):
        tag = b"mikrodata/pseudonym/v1/" + domain.encode() + b"\x00"
        for messages, plain in (*arrays, (varied, varied), ([], [])):
            for nbytes in (8, 32):
                got = p1.digests(domain, messages, nbytes)
                expected = [hmac.digest(p1._secret, tag + m, "sha256")[:nbytes] for m in plain]
                assert got == b"".join(expected)


# -- _twelve_digit_keys -----------------------------------------------------------------

_TWELVE = re.compile(r"[0-9]{12}")  # ASCII digits only, unlike str.isdigit


def _expected_keys(values):
    return [int(v) if v is not None and _TWELVE.fullmatch(v) else -1 for v in values]


def _assert_same_keys(column, expected):
    got = _twelve_digit_keys(column)
    assert got.dtype == np.int64
    assert got.tolist() == expected


@st.composite
def _spoiled(draw):
    """12 digits with one other character put in or in place of a digit."""
    digits = draw(st.text("0123456789", min_size=12, max_size=12))
    char = draw(st.sampled_from(["A", "x", " ", "/", ":", "\x00", "\u00a0", "é", "١", "１"]))
    at, replace = draw(st.integers(0, 12)), draw(st.booleans())
    return digits[:at] + char + digits[at + replace :]


_STRINGS = st.one_of(
    st.text("0123456789", min_size=10, max_size=14),
    _spoiled(),
    st.just(""),
    st.sampled_from([str(f) for number in POPULATION[:20] for f in forms(number)]),
)


@settings(max_examples=200)
@given(
    st.lists(_STRINGS, max_size=40),
    st.sampled_from([pa.string(), pa.large_string()]),
    st.integers(0, 3),
)
def test_twelve_digit_keys_equal_a_regular_expression(values, type_, skip):
    column = pa.array(["0" * 12] * skip + values, type_).slice(skip)  # offset = skip
    _assert_same_keys(column, _expected_keys(values))


@pytest.mark.parametrize("type_", [pa.string(), pa.large_string()])
def test_twelve_digit_keys_of_sliced_null_and_empty_columns(type_):
    values = [POPULATION[0], "x" + POPULATION[1][1:], POPULATION[2], "", POPULATION[3]]
    whole = pa.array(values, type_)
    _assert_same_keys(whole.slice(1, 3), _expected_keys(values[1:4]))
    _assert_same_keys(whole.slice(5), [])
    _assert_same_keys(pa.array([], type_), [])
    _assert_same_keys(pa.array(["", ""], type_), [-1, -1])
    with_nulls = [POPULATION[4], None, "", None, POPULATION[5]]
    _assert_same_keys(pa.array(with_nulls, type_), _expected_keys(with_nulls))
    # A slice without the nulls of its parent (null_count 0, validity buffer present).
    _assert_same_keys(pa.array(with_nulls, type_).slice(4), _expected_keys(with_nulls[4:]))


def test_twelve_digit_keys_of_an_integer_column():
    values = [int(POPULATION[0]), None, 10**11 - 1, 10**11, 10**12 - 1, 10**12, -5, 0]
    expected = [int(POPULATION[0]), -1, -1, 10**11, 10**12 - 1, -1, -1, -1]
    _assert_same_keys(pa.array(values, pa.int64()), expected)


# -- hex_pseudonyms ---------------------------------------------------------------------


@settings(max_examples=100)
@given(st.lists(st.tuples(st.integers(0, 2**64 - 1), st.booleans()), max_size=50))
def test_hex_pseudonyms_equal_format(pairs):
    pairs = [(0, True), (2**64 - 1, True), (0, False), (2**64 - 1, False), *pairs]
    codes = np.array([c for c, _ in pairs], dtype=np.uint64)
    valid = np.array([v for _, v in pairs], dtype=bool)
    got = hex_pseudonyms(codes, valid)
    got.validate(full=True)
    assert got.to_pylist() == [format(c, "016x") if v else None for c, v in pairs]


def test_hex_pseudonyms_of_nothing_and_without_a_mask():
    for codes in (np.zeros(0, np.uint64), np.array([0, 255, 2**64 - 1], np.uint64)):
        got = hex_pseudonyms(codes)
        assert got.null_count == 0
        assert got.to_pylist() == [format(int(c), "016x") for c in codes]


# -- whole files ------------------------------------------------------------------------


def _register(n: int = 3000, seed: int = 8) -> pa.Table:
    """People in every delivered form, some repeated, some broken; households too."""
    rng = np.random.default_rng(seed)
    pnr: list[str | None] = []
    for i in range(n):
        number = POPULATION[int(rng.integers(len(POPULATION)))]
        options = [str(f) for f in forms(number)]
        pnr.append(options[int(rng.integers(len(options)))])
        if i % 53 == 0:
            pnr[-1] = number[:-1] + str((int(number[-1]) + 1) % 10)  # wrong check digit
        elif i % 89 == 0:
            pnr[-1] = ["", "not a number", number[:11], number + "0", number[:8] + "X"][i % 5]
    for i in (100, 2100):
        pnr[i] = None  # batches with nulls take the Python path for this column
    households = [f"H{int(h)}" for h in rng.integers(0, 900, n)]
    for i in range(0, n, 137):
        households[i] = "" if i % 2 else "x" * 70
    return pa.table({"personnummer": pnr, "hushallsid": households, "belopp": np.arange(n)})


def _write_input(tmp_path, kind: str):
    path = tmp_path / f"in.{kind}"
    table = _register()
    if kind == "parquet":
        pq.write_table(table, path, row_group_size=1100)
    else:  # CSV: nulls become empty fields
        pacsv.write_csv(table, path)
    return path


def _run(source, out, key, **kwargs):
    return pseudonymise_file(source, out, key, COLUMNS, reference_date=REFERENCE, **kwargs)


# -- errors in the background threads -----------------------------------------------------


def _run_or_hang(fn, *args, timeout: float = 60, **kwargs):
    """fn(...) in a thread, so a run whose threads deadlock fails the test, not hangs it."""
    outcome: dict[str, object] = {}

    def target():
        try:
            outcome["result"] = fn(*args, **kwargs)
        except BaseException as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout)
    assert not thread.is_alive(), "pseudonymise_file hung: its threads deadlocked"
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"]


def _fail_writing(monkeypatch):
    real, calls = files._writer.write_batch, []

    def write_batch(self, batch):
        calls.append(batch.num_rows)
        if len(calls) > 1:
            raise OSError("disk full")
        real(self, batch)

    monkeypatch.setattr(files._writer, "write_batch", write_batch)
    return OSError, "disk full"


def _fail_assembling(monkeypatch):
    real, calls = Pseudonymiser.assemble, []

    def assemble(self, resolved, *args, **kwargs):
        calls.append(resolved.first_row)
        if len(calls) == 3:
            raise IntegrityError("assembling failed on purpose", "nothing to do")
        return real(self, resolved, *args, **kwargs)

    monkeypatch.setattr(Pseudonymiser, "assemble", assemble)
    return IntegrityError, "on purpose"


@pytest.mark.parametrize("existing", [False, True], ids=["new", "existing"])
@pytest.mark.parametrize("fail", [_fail_writing, _fail_assembling], ids=["writer", "assembler"])
def test_errors_in_background_threads_reach_the_caller_and_write_nothing(
    tmp_path, p1, monkeypatch, fail, existing
):
    source = _write_input(tmp_path, "parquet")
    out, rej = tmp_path / "out.parquet", tmp_path / "out.rejected.parquet"
    if existing:
        out.write_bytes(b"the previous output")
        rej.write_bytes(b"the previous rejects")
    before = sorted(p.name for p in tmp_path.iterdir())
    error, text = fail(monkeypatch)
    # Small batches (about 30): the error comes long before the reader has read them all.
    with pytest.raises(error, match=text):
        _run_or_hang(_run, source, out, p1, batch_size=100)
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no temporary files left
    if existing:
        assert out.read_bytes() == b"the previous output"
        assert rej.read_bytes() == b"the previous rejects"
    else:
        assert not out.exists() and not rej.exists()


def test_an_error_after_the_reader_has_read_everything_reaches_the_caller(
    tmp_path, p1, monkeypatch
):
    # A 3-row file whose first batch (quartered into 3) the main thread refuses only
    # once the reader has queued the rest.
    people = POPULATION[:3]
    pq.write_table(pa.table({"personnummer": people}), tmp_path / "in.parquet")

    def slow_refuse(self, prepared):
        time.sleep(0.3)  # the reader is done by now (it is anyway, most of the time)
        raise BadInputError("refused in the main thread", "a test")

    monkeypatch.setattr(files.Pseudonymiser, "resolve", slow_refuse)
    args = (tmp_path / "in.parquet", tmp_path / "out.parquet", p1, ["personnummer"])
    with pytest.raises(BadInputError, match="refused in the main thread"):
        _run_or_hang(pseudonymise_file, *args, timeout=5)
