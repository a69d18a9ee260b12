"""Writing one synthetic delivery in every format the reader takes, the way the
programs that make them write them (pyreadstat/ReadStat for SAS, Stata and SPSS;
Latin-1 text with semicolons and decimal commas as Swedish exports do)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pyreadstat
import yaml


def read_delivery_table(folder: Path) -> pa.Table:
    """Every row of a hive-partitioned Parquet delivery, with its year column."""
    import pyarrow.dataset as ds

    return ds.dataset(folder, format="parquet", partitioning="hive").to_table()


def _frame(table: pa.Table) -> pd.DataFrame:
    """Columns as the statistics packages store them: text with '' for missing,
    numbers as doubles with their own missing value."""
    data = {}
    for name in table.column_names:
        col = table.column(name)
        if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
            data[name] = pd.Series([v or "" for v in col.to_pylist()], dtype=object)
        elif pa.types.is_dictionary(col.type):
            data[name] = pd.Series(
                [str(v) if v is not None else "" for v in col.to_pylist()], dtype=object
            )
        elif pa.types.is_date(col.type):
            data[name] = pd.Series(col.to_pylist(), dtype=object)
        else:
            data[name] = pd.Series(
                [float("nan") if v is None else float(v) for v in col.to_pylist()], dtype="float64"
            )
    return pd.DataFrame(data)


def _text(table: pa.Table, decimal_comma: bool) -> dict[str, list[str]]:
    out = {}
    for name in table.column_names:
        col = table.column(name)
        if pa.types.is_dictionary(col.type):
            col = col.cast(pa.string())
        text = pc.cast(col, pa.string()).to_pylist()
        if decimal_comma and pa.types.is_floating(col.type):
            text = [None if v is None else v.replace(".", ",") for v in text]
        out[name] = ["" if v is None else v for v in text]
    return out


def write_csv(table: pa.Table, path: Path, *, encoding="latin-1", sep=";", decimal_comma=True):
    cols = _text(table, decimal_comma)
    names = list(cols)
    lines = [sep.join(names)]
    lines += [sep.join(row) for row in zip(*cols.values(), strict=True)]
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode(encoding))
    return path


def write_fixed(table: pa.Table, path: Path, *, encoding="latin-1") -> Path:
    """Fixed-width text, decimal commas, and its layout beside it (``.layout.yaml``)."""
    cols = _text(table, True)
    fields, start = [], 1
    for name, values in cols.items():
        width = max([len(v) for v in values] + [1])
        fields.append({"name": name, "start": start, "length": width})
        start += width
    lines = [
        "".join(v.rjust(f["length"]) for v, f in zip(row, fields, strict=True))
        for row in zip(*cols.values(), strict=True)
    ]
    path.write_bytes(("\n".join(lines) + "\n").encode(encoding))
    layout = {"encoding": encoding, "decimal_comma": True, "fields": fields}
    path.with_name(path.stem + ".layout.yaml").write_text(yaml.safe_dump(layout), encoding="utf-8")
    return path


def write_stat(table: pa.Table, path: Path) -> Path:
    frame = _frame(table)
    suffix = path.suffix
    if suffix == ".dta":
        pyreadstat.write_dta(frame, str(path))
    elif suffix == ".sas7bdat":
        pyreadstat.write_sas7bdat(frame, str(path))
    elif suffix == ".xpt":
        pyreadstat.write_xport(frame, str(path), table_name="delivery", file_format_version=8)
    elif suffix == ".sav":
        pyreadstat.write_sav(frame, str(path))
    else:
        raise ValueError(suffix)
    return path


def write_parquet(table: pa.Table, path: Path) -> Path:
    pq.write_table(table, path)
    return path


WRITERS = {
    "csv": lambda t, d, r: write_csv(t, d / f"{r}.csv"),
    "fixed": lambda t, d, r: write_fixed(t, d / f"{r}.dat"),
    "dta": lambda t, d, r: write_stat(t, d / f"{r}.dta"),
    "sas7bdat": lambda t, d, r: write_stat(t, d / f"{r}.sas7bdat"),
    "xpt": lambda t, d, r: write_stat(t, d / f"{r}.xpt"),
    "sav": lambda t, d, r: write_stat(t, d / f"{r}.sav"),
    "parquet": lambda t, d, r: write_parquet(t, d / f"{r}.parquet"),
}
