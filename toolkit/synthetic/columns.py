"""From the catalogue to Arrow columns: types, year validity, structural nulls.

Every register file the generator writes has one column per catalogue variable, in
catalogue order, with the catalogue's type (string for code and string, int64 for
integer, float64 for decimal, date32 for date). A variable that does not exist in the
file's year is all-null; ``applies_to`` makes a variable null on rows where the other
variable's value is outside the listed codes. The year variable of a register partitioned
by year lives in the directory name (hive style), not in the file.

Variables the generator has no model for are filled generically from their catalogue
entry (codes valid that year, the range, dates inside the year), so a new catalogue
variable needs no code change.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mikrodata.quality.catalogue import Register, Variable, load

__all__ = [
    "ARROW_TYPES",
    "arrow_schema",
    "build_table",
    "codes_of",
    "generic_values",
    "year_column",
    "zero_padded",
]

ARROW_TYPES = {
    "string": pa.string(),
    "code": pa.string(),
    "integer": pa.int64(),
    "decimal": pa.float64(),
    "date": pa.date32(),
}


def zero_padded(numbers: np.ndarray, width: int) -> np.ndarray:
    """Whole numbers as text padded with zeros to ``width`` (``7`` -> ``"07"``); an
    empty array stays empty (np.char.zfill fails on one: a small population may have
    no recipients or no deaths)."""
    text = np.asarray(numbers).astype(str)
    return np.char.zfill(text, width) if text.size else text


def year_column(reg: Register) -> str:
    """The register's year variable: the first of its period variables."""
    return reg.period[0]


def arrow_schema(register: str, partitioned: bool = True) -> pa.Schema:
    """The Arrow schema of one file of ``register`` (without the year when partitioned)."""
    reg = load(register)
    skip = year_column(reg) if partitioned else None
    return pa.schema(
        [pa.field(v.name, ARROW_TYPES[v.type]) for v in reg.variables if v.name != skip]
    )


def codes_of(var: Variable, year: int) -> np.ndarray:
    """The codes of ``var`` valid in ``year``, as a string array."""
    return np.array([c.code for c in var.codes_in(year)], dtype=object)


def generic_values(var: Variable, year: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """Plausible values for a variable the generator has no model for."""
    if var.type == "code":
        codes = codes_of(var, year)
        return codes[rng.integers(0, codes.size, size=n)] if codes.size else np.full(n, None)
    if var.type == "integer":
        lo = int(var.min) if var.min is not None else 0
        hi = int(var.max) if var.max is not None else 100
        return rng.integers(lo, min(hi, lo + 1000) + 1, size=n)
    if var.type == "decimal":
        lo = float(var.min) if var.min is not None else 0.0
        hi = float(var.max) if var.max is not None else 1000.0
        return np.round(lo + (min(hi, lo + 10_000.0) - lo) * rng.random(n), 2)
    if var.type == "date":
        start = np.datetime64(f"{year}-01-01")
        return start + rng.integers(0, 365, size=n).astype("timedelta64[D]")
    return np.char.add("S", rng.integers(0, 10**6, size=n).astype(str)).astype(object)


def _to_arrow(values, typ: pa.DataType, n: int) -> pa.Array:
    if values is None:
        return pa.nulls(n, typ)
    if isinstance(values, pa.Array | pa.ChunkedArray):
        return values.cast(typ)
    arr = np.asarray(values)
    if typ == pa.date32():
        if arr.dtype.kind == "M":
            arr = arr.astype("datetime64[D]")
            return pa.array(arr, type=pa.date32(), mask=np.isnat(arr))
        return pa.array(arr, type=pa.date32())
    if typ == pa.float64() and arr.dtype.kind == "f":
        return pa.array(arr, type=typ, mask=np.isnan(arr))
    return pa.array(arr, type=typ, from_pandas=True)


def build_table(
    register: str,
    year: int,
    values: Mapping[str, object],
    n: int,
    rng: np.random.Generator,
    partitioned: bool = True,
) -> pa.Table:
    """One file's table: the given ``values`` per variable, generic values for variables
    without a model, nulls where the variable does not exist in ``year``, and nulls
    where ``applies_to`` says the variable is not applicable."""
    reg = load(register)
    schema = arrow_schema(register, partitioned)
    columns: dict[str, pa.Array] = {}
    for field in schema:
        var = reg.variable(field.name)
        if not var.exists_in(year):
            columns[field.name] = pa.nulls(n, field.type)
            continue
        v = values.get(field.name, ...)
        if v is ...:
            v = generic_values(var, year, n, rng)
        columns[field.name] = _to_arrow(v, field.type, n)
    for field in schema:
        var = reg.variable(field.name)
        if var.applies_to and var.exists_in(year) and var.applies_to[0] in columns:
            other = columns[var.applies_to[0]]
            ok = pc.is_in(other, value_set=pa.array(list(var.applies_to[1]))).fill_null(False)
            columns[field.name] = pc.if_else(ok, columns[field.name], None)
    return pa.table(columns, schema=schema)
