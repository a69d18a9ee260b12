"""Faults injected into synthetic registers, and their ground truth.

Each kind below is a problem real deliveries have. ``--faults RATE`` injects about RATE
faults per row of every file, on rows chosen at random (one fault per row at most), from
a random stream of its own: the clean values of a run do not depend on the faults, so a
faulty run differs from the clean run with the same seed exactly where the ground truth
says. Every fault is one row of ``ground_truth/faults.parquet``: register, file (relative
to the output directory), row (the row's number in that file, its first row being 1, as
the quality summary and the rejects count rows; null for an absence), column, kind and
detail.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from mikrodata.quality.catalogue import load

__all__ = [
    "ABSURD_AMOUNT",
    "CHECK_DIGIT",
    "CODE_OUTSIDE_YEARS",
    "DUPLICATE_ROW",
    "FAULT_KINDS",
    "FAULT_SCHEMA",
    "MISSING_IDENTIFIER",
    "MISSING_MONTH",
    "NEGATIVE_AMOUNT",
    "NO_CENTURY",
    "SEPARATOR_VARIANT",
    "UNDOCUMENTED_CODE",
    "WHITESPACE",
    "FaultInjector",
]

CHECK_DIGIT = "check_digit"
NO_CENTURY = "no_century"
SEPARATOR_VARIANT = "separator_variant"
WHITESPACE = "whitespace"
MISSING_IDENTIFIER = "missing_identifier"
DUPLICATE_ROW = "duplicate_row"
NEGATIVE_AMOUNT = "negative_amount"
ABSURD_AMOUNT = "absurd_amount"
CODE_OUTSIDE_YEARS = "code_outside_years"
MISSING_MONTH = "missing_month"
UNDOCUMENTED_CODE = "undocumented_code"

FAULT_KINDS: dict[str, str] = {
    CHECK_DIGIT: "An identifier whose last (Luhn check) digit is wrong.",
    NO_CENTURY: "An identifier written with ten digits, without the century (YYMMDDNNNC).",
    SEPARATOR_VARIANT: (
        "An identifier written with a separator: YYMMDD-NNNC, YYYYMMDD-NNNC, or "
        "YYMMDD+NNNC for a person aged 100 or more."
    ),
    WHITESPACE: "An identifier with stray leading or trailing spaces.",
    MISSING_IDENTIFIER: "An identifier that is null or an empty string.",
    DUPLICATE_ROW: "A row delivered twice; the ground truth points at the second copy.",
    NEGATIVE_AMOUNT: "A negative amount in SEK.",
    ABSURD_AMOUNT: "An amount in SEK far above the catalogue's maximum.",
    CODE_OUTSIDE_YEARS: "A code of the variable's code list that is not valid in the row's year.",
    MISSING_MONTH: (
        "A household's (or person's) rows for one month left out of the delivery; row is "
        "null, detail names the month and the rows of the clean file."
    ),
    UNDOCUMENTED_CODE: "A code that is in no year of the variable's code list.",
}

FAULT_SCHEMA = pa.schema(
    [
        pa.field("register", pa.string()),
        pa.field("file", pa.string()),
        pa.field("row", pa.int64()),
        pa.field("column", pa.string()),
        pa.field("kind", pa.string()),
        pa.field("detail", pa.string()),
    ]
)

_ID_KINDS = (CHECK_DIGIT, NO_CENTURY, SEPARATOR_VARIANT, WHITESPACE, MISSING_IDENTIFIER)


class _Columns:
    """A table's columns as NumPy arrays, converted only when first used (a fault touches
    a few columns of a large chunk)."""

    def __init__(self, table: pa.Table) -> None:
        self._table = table
        self._arrays: dict[str, np.ndarray] = {}

    def __getitem__(self, name: str) -> np.ndarray:
        if name not in self._arrays:
            arr = self._table.column(name).to_numpy(zero_copy_only=False)
            self._arrays[name] = arr.astype(object) if arr.dtype.kind != "f" else arr.copy()
        return self._arrays[name]

    def get(self, name: str):
        return self[name] if name in self._table.column_names else None

    def changed(self) -> dict[str, np.ndarray]:
        return self._arrays


def _null(v) -> bool:
    return v is None or (isinstance(v, float) and np.isnan(v))


@dataclass
class _Plan:
    row: int
    kind: str


class FaultInjector:
    """Injects faults into one file's chunk of rows; collects the ground truth."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.records: list[dict] = []

    def _columns(self, register: str, year: int):
        reg = load(register)
        exists = [v for v in reg.variables_in(year) if v.name != reg.period[0]]
        ident = [v.name for v in exists if v.identifier_domain == "person"]
        amounts = [v for v in exists if v.type == "decimal" and v.unit == "SEK"]
        codes = [v for v in exists if v.type == "code" and v.codes is not None]
        outside = [v for v in codes if any(not c.valid_in(year) for c in v.codes.codes)]
        monthly = "manad" in reg.period and reg.variable("manad").exists_in(year)
        group = "hushallsid" if "hushallsid" in reg.names else (ident[0] if ident else None)
        return ident, amounts, codes, outside, monthly and group is not None, group

    def inject(
        self,
        table: pa.Table,
        register: str,
        year: int,
        file: str,
        clean_offset: int,
        out_offset: int,
        rng: np.random.Generator,
    ) -> pa.Table:
        """The faulty version of ``table`` (rows ``clean_offset``... of the clean file);
        its rows start at ``out_offset`` in the faulty file."""
        n = table.num_rows
        k = int(rng.binomial(n, self.rate)) if n else 0
        if k == 0:
            return table
        ident, amounts, codes, outside, monthly, group = self._columns(register, year)
        kinds = [DUPLICATE_ROW]
        if ident:
            kinds += list(_ID_KINDS)
        if amounts:
            kinds += [NEGATIVE_AMOUNT, ABSURD_AMOUNT]
        if outside:
            kinds.append(CODE_OUTSIDE_YEARS)
        if codes:
            kinds.append(UNDOCUMENTED_CODE)
        if monthly:
            kinds.append(MISSING_MONTH)
        chosen = rng.choice(n, size=min(k, n), replace=False)
        plan = [_Plan(int(r), kinds[int(rng.integers(len(kinds)))]) for r in np.sort(chosen)]

        cols = _Columns(table)
        removed = np.zeros(n, dtype=bool)
        touched = np.zeros(n, dtype=bool)
        # Absences first, so that no other fault lands on a row that is removed.
        months = cols.get("manad")
        group_values = cols[group] if monthly else None
        for p in plan:
            if p.kind != MISSING_MONTH or touched[p.row]:
                continue
            g = group_values[p.row]
            m = months[p.row]
            lo = p.row
            while lo > 0 and group_values[lo - 1] == g and months[lo - 1] == m:
                lo -= 1
            hi = p.row
            while hi + 1 < n and group_values[hi + 1] == g and months[hi + 1] == m:
                hi += 1
            if touched[lo : hi + 1].any():
                continue
            removed[lo : hi + 1] = True
            touched[lo : hi + 1] = True
            self.records.append(
                dict(
                    register=register,
                    file=file,
                    row=None,
                    column=None,
                    kind=MISSING_MONTH,
                    detail=(
                        f"{group}={g if group == 'hushallsid' else '(person)'}; manad={int(m)}; "
                        f"clean_rows={clean_offset + lo + 1}-{clean_offset + hi + 1}"
                    ),
                )
            )
        duplicated = np.zeros(n, dtype=bool)
        cell: list[tuple[int, str, str, str]] = []  # row, column, kind, detail
        for p in plan:
            r = p.row
            if p.kind == MISSING_MONTH or touched[r]:
                continue
            done = self._cell(p.kind, r, cols, year, ident, amounts, codes, outside, rng)
            if p.kind == DUPLICATE_ROW:
                duplicated[r] = True
                touched[r] = True
            elif done is not None:
                cell.append((r, done[0], p.kind, done[1]))
                touched[r] = True
        # The output row of each kept clean row, with duplicates right after their original.
        kept = ~removed
        extra = duplicated.astype(np.int64)
        out_pos = np.cumsum(kept + extra) - (kept + extra)
        for r, column, kind, detail in cell:
            self.records.append(
                dict(
                    register=register,
                    file=file,
                    row=out_offset + int(out_pos[r]) + 1,
                    column=column,
                    kind=kind,
                    detail=detail,
                )
            )
        for r in np.flatnonzero(duplicated):
            self.records.append(
                dict(
                    register=register,
                    file=file,
                    row=out_offset + int(out_pos[r]) + 2,
                    column=None,
                    kind=DUPLICATE_ROW,
                    detail=f"copy of row {out_offset + int(out_pos[r]) + 1}",
                )
            )
        take = np.repeat(np.arange(n), kept + extra)
        new = table
        for name, arr in cols.changed().items():
            i = table.schema.get_field_index(name)
            typ = table.schema.field(i).type
            new = new.set_column(
                i, table.schema.field(i), pa.array(arr, type=typ, from_pandas=True)
            )
        return new.take(pa.array(take, type=pa.int64()))

    def _cell(self, kind, r, cols, year, ident, amounts, codes, outside, rng):
        """Change one cell in place; returns (column, detail) or None if not applicable."""
        if kind == DUPLICATE_ROW:
            return ("", "")
        if kind in _ID_KINDS:
            col = ident[0]
            v = cols[col][r]
            if _null(v) or not v:
                return None
            if kind == CHECK_DIGIT:
                d = (int(v[-1]) + int(rng.integers(1, 10))) % 10
                cols[col][r] = v[:-1] + str(d)
                return col, "last digit changed"
            if kind == NO_CENTURY:
                cols[col][r] = v[2:]
                return col, "ten digits, century left out"
            if kind == SEPARATOR_VARIANT:
                aged_100 = year - int(v[:4]) >= 100
                form = int(rng.integers(0, 3 if aged_100 else 2))
                if form == 0:
                    cols[col][r] = f"{v[2:8]}-{v[8:]}"
                    return col, "YYMMDD-NNNC"
                if form == 1:
                    cols[col][r] = f"{v[:8]}-{v[8:]}"
                    return col, "YYYYMMDD-NNNC"
                cols[col][r] = f"{v[2:8]}+{v[8:]}"
                return col, "YYMMDD+NNNC (aged 100 or more)"
            if kind == WHITESPACE:
                form = int(rng.integers(0, 3))
                cols[col][r] = [" " + v, v + " ", "  " + v + " "][form]
                return col, ["leading space", "trailing space", "spaces both sides"][form]
            if rng.random() < 0.5:
                cols[col][r] = None
                return col, "null"
            cols[col][r] = ""
            return col, "empty string"
        if kind in (NEGATIVE_AMOUNT, ABSURD_AMOUNT):
            have = [v.name for v in amounts if not _null(cols[v.name][r])]
            if not have:
                return None
            col = have[int(rng.integers(len(have)))]
            v = cols[col][r]
            if kind == NEGATIVE_AMOUNT:
                cols[col][r] = -abs(float(v)) if v else -float(rng.integers(100, 10_000))
                return col, "sign flipped" if v else "negative value where 0"
            top = max(v2.max or 1_000_000 for v2 in amounts)
            cols[col][r] = float(top * int(rng.integers(10, 100)) + int(rng.integers(0, 1000)))
            return col, "far above the maximum"
        if kind == CODE_OUTSIDE_YEARS:
            have = [v for v in outside if not _null(cols[v.name][r])]
            if not have:
                return None
            var = have[int(rng.integers(len(have)))]
            bad = [c for c in var.codes.codes if not c.valid_in(year)]
            c = bad[int(rng.integers(len(bad)))]
            cols[var.name][r] = c.code
            return var.name, f"code {c.code} valid {c.first_year}-{c.last_year or ''}"
        if kind == UNDOCUMENTED_CODE:
            have = [v for v in codes if not _null(cols[v.name][r])]
            if not have:
                return None
            var = have[int(rng.integers(len(have)))]
            known = {c.code for c in var.codes.codes}
            new = next(x for x in ("99", "98", "999", "X", "0000") if x not in known)
            cols[var.name][r] = new
            return var.name, f"code {new} is not in the code list"
        return None

    def table(self) -> pa.Table:
        """The ground truth so far (empty with the schema when no faults)."""
        if not self.records:
            return FAULT_SCHEMA.empty_table()
        return pa.Table.from_pylist(self.records, schema=FAULT_SCHEMA)
