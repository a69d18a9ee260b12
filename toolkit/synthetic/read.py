"""Reading a synthetic register back with the catalogue's types.

The year of a hive-partitioned register is in the directory name; plain
``pd.read_parquet(dir)`` returns it as a category. :func:`read_register` returns it as
int64, like every other integer variable.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds

from mikrodata.quality.catalogue import load

from .columns import ARROW_TYPES, year_column

__all__ = ["read_register"]


def read_register(
    out: str | Path, register: str, columns: list[str] | None = None, years=None
) -> pa.Table:
    """One register of a synthetic output as an Arrow table (optionally some columns and
    years), with the year column first-class and typed from the catalogue."""
    reg = load(register)
    ycol = year_column(reg)
    part = ds.partitioning(pa.schema([(ycol, ARROW_TYPES[reg.variable(ycol).type])]), flavor="hive")
    dataset = ds.dataset(Path(out) / register, format="parquet", partitioning=part)
    flt = None
    if years is not None:
        flt = ds.field(ycol).isin(list(years))
    table = dataset.to_table(columns=columns, filter=flt)
    order = [v.name for v in reg.variables if v.name in table.column_names]
    return table.select(order)
