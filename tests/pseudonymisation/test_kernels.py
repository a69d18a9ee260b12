"""The C loops of pseudonymising (pseudonymisation/_kernels.c) give exactly what their
Python and NumPy twins give, whether alone or inside whole file runs; they refuse bad
arguments without reading out of bounds, and a file run's background threads hand their
errors to the caller and leave nothing written."""

from __future__ import annotations

import hmac
import importlib
import os
import re
import subprocess
import sys
import threading
import time

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import pseudonymisation
from pseudonymisation import _native, files, pseudonymise_file
from pseudonymisation.pseudonyms import _twelve_digit_keys, hex_pseudonyms
from pseudonymisation.tables import Pseudonymiser
from tests.pseudonymisation.synthetic import REFERENCE, forms, synthetic_population
from toolkit.errors import BadInputError, IntegrityError

kernels = _native.kernels
needs_c = pytest.mark.skipif(
    kernels is None, reason="the C loops are off (not built, or MIKRODATA_PURE_PYTHON=1)"
)
POPULATION = synthetic_population(400, seed=23)
COLUMNS = {"personnummer": "person", "hushallsid": "household"}


def _without_c(fn, *args, **kwargs):
    """fn(...) with the C loops switched off (usable inside Hypothesis tests)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_native, "kernels", None)
        return fn(*args, **kwargs)


# -- hmac_sha256_many -------------------------------------------------------------------

_KEY = b"kernel-test-key!"  # easy to spot in an error message
_PREFIXES = [b"", b"mikrodata/pseudonym/v1/person\x00", b"p" * 55, b"q" * 64, b"r" * 130]


def _offsets(lengths, start=0):
    return np.cumsum([start, *lengths], dtype=np.int64)


@needs_c
@pytest.mark.parametrize("prefix", _PREFIXES, ids=len)
def test_hmac_many_equals_hmac_digest_for_every_length_up_to_200(prefix):
    # Lengths 0..200 cross every SHA-256 block boundary with every prefix above.
    messages = [bytes((37 * i + n) % 256 for i in range(n)) for n in range(201)]
    data = b"".join(messages)
    for nbytes in (1, 8, 16, 32):
        got = kernels.hmac_sha256_many(_KEY, prefix, data, _offsets(map(len, messages)), nbytes)
        assert got == b"".join(hmac.digest(_KEY, prefix + m, "sha256")[:nbytes] for m in messages)


@needs_c
@settings(max_examples=150)
@given(
    key=st.binary(min_size=1, max_size=64),
    prefix=st.sampled_from(_PREFIXES),
    messages=st.lists(st.binary(max_size=200), max_size=12),
    nbytes=st.sampled_from([1, 8, 16, 32]),
    lead=st.binary(max_size=9),
)
def test_hmac_many_equals_hmac_digest(key, prefix, messages, nbytes, lead):
    # The first message may start past the beginning of the data (offsets[0] > 0).
    data = lead + b"".join(messages)
    got = kernels.hmac_sha256_many(
        key, prefix, data, _offsets(map(len, messages), len(lead)), nbytes
    )
    assert got == b"".join(hmac.digest(key, prefix + m, "sha256")[:nbytes] for m in messages)


@needs_c
def test_hmac_many_of_no_messages_is_empty():
    assert kernels.hmac_sha256_many(_KEY, b"p", b"", np.zeros(1, np.int64), 8) == b""
    assert kernels.hmac_sha256_many(_KEY, b"p", b"abc", np.array([3], np.int64), 32) == b""


@needs_c
@pytest.mark.parametrize(
    "key, nbytes, offsets",
    [
        ((_KEY * 5)[:65], 8, [0, 3]),  # key longer than a block
        (b"", 8, [0, 3]),
        (_KEY, 0, [0, 3]),
        (_KEY, 33, [0, 3]),
        (_KEY, 8, [0, 5, 3]),  # falling
        (_KEY, 8, [0, 4, 11]),  # past the 10 bytes of data
        (_KEY, 8, [-1, 3]),  # negative start
        (_KEY, 8, []),  # not n + 1 values
    ],
    ids=["key65", "key0", "nbytes0", "nbytes33", "falling", "past", "negative", "no-offsets"],
)
def test_hmac_many_refuses_bad_arguments_without_showing_the_key(key, nbytes, offsets):
    with pytest.raises(ValueError) as info:
        kernels.hmac_sha256_many(key, b"p", b"0123456789", np.array(offsets, np.int64), nbytes)
    message = str(info.value)
    assert "kernel-test" not in message and _KEY.hex()[:8] not in message
    assert "kernel-test" not in repr(info.value.args)


def test_project_key_digests_are_the_same_with_and_without_c(p1):
    rows = np.frombuffer("".join(POPULATION).encode(), np.uint8).reshape(-1, 12)
    varied = [str(f).encode() for number in POPULATION[:60] for f in forms(number)]
    varied += [b"", b"H-1", "hushåll 7".encode(), b"x" * 150]
    for domain in ("person", "household"):
        tag = b"mikrodata/pseudonym/v1/" + domain.encode() + b"\x00"
        for messages, plain in ((rows, [r.tobytes() for r in rows]), (varied, varied), ([], [])):
            for nbytes in (8, 32):
                with_c = p1.digests(domain, messages, nbytes)
                without = _without_c(p1.digests, domain, messages, nbytes)
                expected = [hmac.digest(p1._secret, tag + m, "sha256")[:nbytes] for m in plain]
                assert with_c == without == b"".join(expected)


# -- _twelve_digit_keys -----------------------------------------------------------------

_TWELVE = re.compile(r"[0-9]{12}")  # ASCII digits only, unlike str.isdigit


def _expected_keys(values):
    return [int(v) if v is not None and _TWELVE.fullmatch(v) else -1 for v in values]


def _assert_same_keys(column, expected):
    with_c = _twelve_digit_keys(column)
    without = _without_c(_twelve_digit_keys, column)
    assert with_c.dtype == without.dtype == np.int64
    assert with_c.tolist() == without.tolist() == expected


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
def test_twelve_digit_keys_are_the_same_with_and_without_c(values, type_, skip):
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
def test_hex_pseudonyms_are_the_same_with_and_without_c(pairs):
    pairs = [(0, True), (2**64 - 1, True), (0, False), (2**64 - 1, False), *pairs]
    codes = np.array([c for c, _ in pairs], dtype=np.uint64)
    valid = np.array([v for _, v in pairs], dtype=bool)
    with_c = hex_pseudonyms(codes, valid)
    without = _without_c(hex_pseudonyms, codes, valid)
    with_c.validate(full=True)
    assert with_c.equals(without)
    assert with_c.to_pylist() == [format(c, "016x") if v else None for c, v in pairs]


def test_hex_pseudonyms_of_nothing_and_without_a_mask():
    for codes in (np.zeros(0, np.uint64), np.array([0, 255, 2**64 - 1], np.uint64)):
        with_c, without = hex_pseudonyms(codes), _without_c(hex_pseudonyms, codes)
        assert with_c.equals(without) and with_c.null_count == 0
        assert with_c.to_pylist() == [format(int(c), "016x") for c in codes]


# -- KeyMap -----------------------------------------------------------------------------


def _lookup(keymap, keys):
    keys = np.asarray(keys, dtype=np.int64)
    codes, found = np.empty(len(keys), np.uint64), np.empty(len(keys), np.uint8)
    hits = keymap.lookup(keys, codes, found)
    return hits, codes, found


_KEYS = st.one_of(st.integers(0, 40), st.integers(0, 2**63 - 1))


@needs_c
@settings(max_examples=150)
@given(
    st.lists(st.dictionaries(_KEYS, st.integers(0, 2**64 - 1), max_size=40), max_size=6),
    st.lists(st.integers(-(2**63), 2**63 - 1), max_size=20),
)
def test_keymap_agrees_with_a_dict(batches, probes):
    keymap, oracle = kernels.KeyMap(), {}
    for batch in batches:
        new = {k: c for k, c in batch.items() if k not in oracle}
        keymap.insert(np.array(list(new), np.int64), np.array(list(new.values()), np.uint64))
        oracle.update(new)
        assert len(keymap) == len(oracle)
        keys = [*oracle, *probes, -1, -(2**63), 41]  # present, absent and negative
        hits, codes, found = _lookup(keymap, keys)
        assert found.tolist() == [int(k in oracle) for k in keys]
        assert codes.tolist() == [oracle.get(k, 0) for k in keys]
        assert hits == sum(k in oracle for k in keys)


@needs_c
def test_keymap_grows_through_many_small_batches():
    rng = np.random.default_rng(4)
    spread = np.unique(rng.integers(2**40, 2**63 - 1, 50_000, dtype=np.int64))
    keys = np.concatenate([np.arange(50_000, dtype=np.int64) * 7, spread])  # ~100k distinct
    rng.shuffle(keys)
    codes = np.frombuffer(rng.bytes(8 * len(keys)), np.uint64)
    keymap, done, batches = kernels.KeyMap(), 0, 0
    while done < len(keys):
        size = int(rng.integers(1, 200))
        keymap.insert(keys[done : done + size], codes[done : done + size].copy())
        done, batches = min(done + size, len(keys)), batches + 1
        if batches % 100 == 0 or done == len(keys):
            hits, got, found = _lookup(keymap, keys)
            assert len(keymap) == hits == done
            assert found[:done].all() and not found[done:].any()
            assert (got[:done] == codes[:done]).all() and not got[done:].any()
    assert batches > 500


@needs_c
def test_keymap_refuses_bad_input():
    keymap = kernels.KeyMap()
    keymap.insert(np.array([5, 6], np.int64), np.array([50, 60], np.uint64))
    refused = [
        (np.array([8, 5], np.int64), np.array([1, 2], np.uint64)),  # a key already there
        (np.array([8, -3], np.int64), np.array([1, 2], np.uint64)),  # negative
        (np.array([1, 2], np.int64), np.array([1], np.uint64)),  # sizes differ
        (np.array([1, 2, 3], np.int32), np.array([1], np.uint64)),  # not whole int64s
    ]
    for keys, codes in refused:
        with pytest.raises(ValueError):
            keymap.insert(keys, codes)
    keys = np.array([5, 6, 7], np.int64)
    for codes, found in [
        (np.empty(2, np.uint64), np.empty(3, np.uint8)),
        (np.empty(3, np.uint64), np.empty(4, np.uint8)),
        (np.empty(3, np.uint32), np.empty(3, np.uint8)),
    ]:
        with pytest.raises(ValueError):
            keymap.lookup(keys, codes, found)
    assert _lookup(keymap, [5, 6, 8, -3])[1].tolist() == [50, 60, 0, 0]
    assert len(keymap) == 2  # refused before anything changed


@needs_c
def test_keymap_repeated_key_in_one_insert_makes_it_refuse_all_use():
    keymap = kernels.KeyMap()
    with pytest.raises(ValueError, match="repeated"):
        keymap.insert(np.array([9, 4, 9], np.int64), np.array([1, 2, 3], np.uint64))
    with pytest.raises(RuntimeError, match="unusable"):
        _lookup(keymap, [9])
    with pytest.raises(RuntimeError, match="unusable"):
        keymap.insert(np.array([1], np.int64), np.array([1], np.uint64))


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


@pytest.mark.parametrize("kind", ["parquet", "csv"])
def test_files_are_the_same_with_and_without_c(tmp_path, p1, kind):
    source = _write_input(tmp_path, kind)
    with_c = _run(source, tmp_path / "c.parquet", p1, batch_size=500)
    without = _without_c(_run, source, tmp_path / "py.parquet", p1, batch_size=500)
    assert with_c.rows_rejected > 50 and with_c.rows_out > 2500
    assert (with_c.rows_out, with_c.rows_rejected) == (without.rows_out, without.rows_rejected)
    assert with_c.distinct == without.distinct
    for a, b in ((with_c.out_path, without.out_path), (with_c.reject_path, without.reject_path)):
        assert pq.read_table(a).equals(pq.read_table(b))
    # CSV out as well: the very same bytes.
    csv_c = _run(source, tmp_path / "c.csv", p1, batch_size=500)
    csv_py = _without_c(_run, source, tmp_path / "py.csv", p1, batch_size=500)
    assert csv_c.out_path.read_bytes() == csv_py.out_path.read_bytes()
    assert csv_c.reject_path.read_bytes() == csv_py.reject_path.read_bytes()


# -- the install ------------------------------------------------------------------------


def test_the_install_has_the_c_loops():
    if os.environ.get(_native.PURE_PYTHON_ENV) == "1":
        pytest.skip(f"{_native.PURE_PYTHON_ENV}=1: the Python twins were asked for")
    try:
        importlib.import_module("pseudonymisation._kernels")
    except ImportError:
        pytest.fail(
            "pseudonymisation._kernels was not built: install a C compiler and the OpenSSL "
            "headers (Debian: gcc, libssl-dev) and reinstall: `rm .venv/.installed && make "
            f"install` (or set {_native.PURE_PYTHON_ENV}=1 to run without the C loops)"
        )
    assert pseudonymisation.NATIVE_KERNELS


def test_the_python_twins_can_be_asked_for():
    env = dict(os.environ, **{_native.PURE_PYTHON_ENV: "1"})
    code = "import pseudonymisation; print(pseudonymisation.NATIVE_KERNELS)"
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert done.stdout.strip() == "False", done.stderr


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

    def assemble(self, resolved, *args):
        calls.append(resolved.first_row)
        if len(calls) == 3:
            raise IntegrityError("assembling failed on purpose", "nothing to do")
        return real(self, resolved, *args)

    monkeypatch.setattr(pseudonymisation.tables.Pseudonymiser, "assemble", assemble)
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
    # A 3-row file with an unnamed personnummer column: the residual check refuses its
    # first batch (quartered into 3), by when the reader has queued the rest.
    people = POPULATION[:3]
    pq.write_table(pa.table({"personnummer": people, "copy": people}), tmp_path / "in.parquet")
    refuse = files._refuse_residual

    def slow_refuse(engine, batch):
        time.sleep(0.3)  # the reader is done by now (it is anyway, most of the time)
        refuse(engine, batch)

    monkeypatch.setattr(files, "_refuse_residual", slow_refuse)
    args = (tmp_path / "in.parquet", tmp_path / "out.parquet", p1, ["personnummer"])
    with pytest.raises(BadInputError, match="copy look like personnummer"):
        _run_or_hang(pseudonymise_file, *args, timeout=5)
