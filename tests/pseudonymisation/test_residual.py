"""The residual guard: no raw personnummer in any value of a column that is not
pseudonymised, in any type and any batch; and no raw number in an error message."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mikrodata.pseudonymisation import pseudonymise_file, pseudonymise_table
from mikrodata.pseudonymisation.residual import residual_identifiers
from mikrodata.toolkit.errors import BadInputError
from tests.pseudonymisation.synthetic import REFERENCE, synthetic_population

PEOPLE = synthetic_population(40, seed=7)
N = len(PEOPLE)


def _short(number: str) -> str:
    return number[2:]


def _hidden_forms() -> dict[str, pa.Array]:
    """One raw number hidden in a column of each type (the other values harmless)."""
    p, s = PEOPLE[0], _short(PEOPLE[1])
    # A 10-digit number of someone born 2000-2021 fits an int32 (the guard skips only
    # integer types too narrow to hold one).
    small = next(_short(q) for q in PEOPLE if int(_short(q)) < 2**31)

    def strings(value, typ=None):
        return pa.array([value] + ["ingen"] * (N - 1), typ or pa.string())

    return {
        "string": strings(p),
        "large_string": strings(p, pa.large_string()),
        "free_text": strings(f"kontakt {s[:6]}-{s[6:]} efter samtal"),
        "country_prefix": strings(f"SE{s}"),
        "date_glued": strings(f"2019-05-01{s}"),
        "spaced": strings(f"{s[:6]} {s[6:]}"),
        "dictionary": strings(p).dictionary_encode(),
        "binary": pa.array([p.encode()] + [b"x"] * (N - 1), pa.binary()),
        "list": pa.array([[p]] + [[]] * (N - 1), pa.list_(pa.string())),
        "struct": pa.array([{"note": f"nr {s}"}] + [{"note": "x"}] * (N - 1)),
        "int12": pa.array([int(p)] + [1] * (N - 1), pa.int64()),
        "int10": pa.array([int(s)] + [1] * (N - 1), pa.int64()),
        "int10_negative": pa.array([-int(s)] + [1] * (N - 1), pa.int64()),
        "int32": pa.array([int(small)] + [1] * (N - 1), pa.int32()),
        "uint32": pa.array([int(small)] + [1] * (N - 1), pa.uint32()),
        "uint64": pa.array([int(p)] + [2**64 - 1] * (N - 1), pa.uint64()),
        "float": pa.array([float(p)] + [1.5] * (N - 1), pa.float64()),
    }


@pytest.mark.parametrize("kind", sorted(_hidden_forms()))
def test_a_raw_number_in_any_column_type_is_refused(p1, kind):
    table = pa.table({"pnr": PEOPLE, "other": _hidden_forms()[kind]})
    with pytest.raises(BadInputError, match="other") as info:
        pseudonymise_table(table, p1, ["pnr"])
    message = str(info.value) + str(info.value.hint)
    assert not any(_short(p)[:6] in message for p in PEOPLE)


def test_a_column_under_half_valid_is_refused_and_harmless_ones_pass(p1):
    # One raw number among many codes: the old guard (more than half of a sample) let
    # it through.
    codes = ["1234567890", "HH-0001", "2020-01-01", "0701234567"] * N
    table = pa.table({"pnr": PEOPLE * 4, "code": codes[: 4 * N]})
    assert pseudonymise_table(table, p1, ["pnr"]).rows_out == 4 * N  # nothing found
    mixed = table.set_column(1, "code", pa.array([PEOPLE[5]] + codes[1 : 4 * N]))
    with pytest.raises(BadInputError, match=r"code \(1 distinct value\)"):
        pseudonymise_table(mixed, p1, ["pnr"])


def test_the_guard_looks_at_every_batch_not_the_first(tmp_path, p1):
    n = 5000
    people = synthetic_population(n, seed=3)
    notes = ["ok"] * n
    notes[-1] = f"ring {people[0]}"  # in the last batch only
    path = tmp_path / "in.parquet"
    pq.write_table(pa.table({"pnr": people, "note": notes}), path, row_group_size=1000)
    with pytest.raises(BadInputError, match="note"):
        pseudonymise_file(
            path, tmp_path / "out.parquet", p1, ["pnr"], batch_size=1000, reference_date=REFERENCE
        )
    assert not (tmp_path / "out.parquet").exists()


def test_column_names_are_checked_too():
    assert residual_identifiers(pa.table({PEOPLE[0]: [1]})) == {PEOPLE[0]: 1}
    assert residual_identifiers(pa.table({"a": [1]}), reference_date=dt.date(2026, 1, 1)) == {}


def test_a_csv_without_its_header_says_so_without_the_number(tmp_path, p1):
    path = tmp_path / "no_header.csv"
    path.write_text("".join(f"{p};{i}\n" for i, p in enumerate(PEOPLE)), encoding="utf-8")
    with pytest.raises(BadInputError, match="header line") as info:
        pseudonymise_file(path, tmp_path / "out.csv", p1, ["personnummer"])
    message = str(info.value) + str(info.value.hint)
    assert not any(_short(p)[:6] in message for p in PEOPLE)


def test_an_unterminated_quote_is_an_error_not_a_merged_row(tmp_path, p1):
    a, b, c = PEOPLE[:3]
    path = tmp_path / "quote.csv"
    # The quote opened on line 3 closes on line 4: Arrow reads both lines as one row of
    # the right width, with the second number inside the first field.
    path.write_text(f'pnr,belopp\n{a},1\n"{b},2\n{c}",3\n', encoding="utf-8")
    with pytest.raises(BadInputError, match=r"row 2: a quoted value runs over a line") as info:
        pseudonymise_file(path, tmp_path / "out.csv", p1, ["pnr"], reference_date=REFERENCE)
    assert b[2:8] not in str(info.value) and not (tmp_path / "out.csv").exists()
