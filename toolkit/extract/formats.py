"""A register of an extract written in the formats researchers work in: Stata, SAS
transport, SPSS and CSV, beside the canonical Parquet.

The Parquet file stays the extract's data (``open_extract``, the quality suites and the
risk measures read only it); :func:`write_format` writes a copy of one register's
Parquet file in another format, atomically, and returns what it did, for the manifest
(``registers.<name>.exports``) or for :meth:`~mikrodata.toolkit.project.Project.export`.

What each format keeps (``docs/deliveries.md`` has the table):

- ``stata`` (``.dta``, format 118, UTF-8): a code column whose catalogue codes are all
  plain integers (``1``, ``23``; no leading zero) becomes an integer column with the
  catalogue's code list as its value labels; a code column with leading zeros or
  letters (kommun ``0114``) stays a string column, without value labels (Stata labels
  numbers only). Variable labels come from the catalogue in the language asked for
  (English by default), cut to Stata's 80 characters; dates are Stata dates (``%td``);
  the period columns (``statistikar``, ``manad``) stay integers (``ym(statistikar,
  manad)`` makes a Stata month). A missing string is Stata's empty string.
- ``sas-xpt`` (SAS transport, version 5): names of at most 8 characters, so a longer
  name is cut to 8 (on a clash: 6 and a two-digit number) and the mapping is returned
  (and signed in the manifest); labels in English, ASCII, at most 40 characters; the
  format has no value labels, so codes stay codes.
- ``spss`` (``.sav``): every code column keeps its codes (strings stay strings) with the
  catalogue's code list as value labels; variable labels as for Stata.
- ``csv``: UTF-8 without a byte-order mark, comma, a header row, codes (never labels),
  strings quoted, dates ``YYYY-MM-DD``, a missing value an empty field; written a batch
  at a time, in bounded memory.

pyreadstat writes Stata, SAS transport and SPSS from a whole DataFrame: those three hold
one register's frame in memory while they write (CSV does not). Before reading one in,
the memory it needs is estimated from the Parquet footer; when that is more than the
machine has free, the copy is refused with a clear error rather than the build being
killed by the system half-way.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from mikrodata.access_requests import DERIVED_VARIABLES
from mikrodata.quality.catalogue import load
from mikrodata.toolkit.atomic import atomic_file
from mikrodata.toolkit.errors import BadInputError

__all__ = [
    "EXPORT_FORMATS",
    "FORMATS",
    "LABEL_LANGUAGES",
    "FormatResult",
    "export_path",
    "parse_formats",
    "write_exports",
    "write_format",
]

# Every format an extract can be had in; "parquet" is the extract's own data.
FORMATS: tuple[str, ...] = ("parquet", "stata", "sas-xpt", "spss", "csv")
# The formats written as copies (everything but the canonical Parquet).
EXPORT_FORMATS: tuple[str, ...] = FORMATS[1:]
SUFFIXES: dict[str, str] = {
    "parquet": ".parquet",
    "stata": ".dta",
    "sas-xpt": ".xpt",
    "spss": ".sav",
    "csv": ".csv",
}
LABEL_LANGUAGES = ("en", "sv")
FORMATS_DIR = "formats"

_PLAIN_INTEGER = re.compile(r"^(0|[1-9][0-9]{0,8})$")
_CSV_BATCH = 65_536


@dataclass(frozen=True)
class FormatResult:
    """What :func:`write_format` wrote: the format, the rows, the label language, the
    columns given value labels, the code columns kept as strings, and for SAS transport
    the names that had to change (extract name -> file name) and the table name."""

    format: str
    rows: int
    labels: str | None
    value_labels: tuple[str, ...] = ()
    strings_kept: tuple[str, ...] = ()
    names: dict[str, str] = field(default_factory=dict)
    table: str | None = None

    def as_dict(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"format": self.format, "rows": self.rows}
        if self.labels is not None:
            doc["labels"] = self.labels
        if self.format in ("stata", "spss"):
            doc["value_labels"] = list(self.value_labels)
        if self.format == "stata":
            doc["strings_kept"] = list(self.strings_kept)
        if self.format == "sas-xpt":
            doc["names"] = dict(self.names)
            doc["table"] = self.table
        return doc


def parse_formats(values: Iterable[str] | str | None) -> tuple[str, ...]:
    """The formats asked for (each value may be a comma list), checked, in
    :data:`FORMATS` order, without ``parquet`` (always there) and without repeats."""
    if values is None:
        return ()
    if isinstance(values, str):
        values = [values]
    asked = [v.strip().lower() for value in values for v in str(value).split(",") if v.strip()]
    for name in asked:
        if name not in FORMATS:
            raise BadInputError(f"unknown format {name!r}", f"Choose from: {', '.join(FORMATS)}")
    return tuple(f for f in EXPORT_FORMATS if f in asked)


def export_path(register: str, fmt: str) -> str:
    """Where a register's copy in ``fmt`` sits inside the extract (relative path)."""
    return f"{FORMATS_DIR}/{fmt}/{register}{SUFFIXES[fmt]}"


# -- labels, from the catalogue only --------------------------------------------------


def _label(register: str, column: dict[str, Any], language: str) -> str | None:
    """A column's variable label: the catalogue's, a pseudonym's named for what it
    stands for, a derived variable's from the access-request model (English only)."""
    reg = load(register)
    name, source = column["name"], column.get("source")
    if column["role"] == "pseudonym" and source in reg.names:
        v = reg.variable(source)
        return (
            f"Projektets pseudonym för {v.label_sv.lower()}"
            if language == "sv"
            else f"Project pseudonym of {v.label_en.lower()}"
        )
    if name in reg.names:
        v = reg.variable(name)
        return v.label_sv if language == "sv" else v.label_en
    if name in DERIVED_VARIABLES:
        return DERIVED_VARIABLES[name].label_en
    return None


def _code_list(register: str, name: str, language: str) -> dict[str, str]:
    """The catalogue's code list of a code column: code -> label (all years)."""
    reg = load(register)
    if name not in reg.names or reg.variable(name).codes is None:
        return {}
    return {
        c.code: (c.label_sv if language == "sv" else c.label_en)
        for c in reg.variable(name).codes.codes
    }


def _ascii(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in folded if ord(ch) < 128 and not unicodedata.combining(ch))


def _sas_names(names: Sequence[str]) -> dict[str, str]:
    """Extract name -> SAS transport name (at most 8 characters, unique ignoring case)."""
    taken = {n.lower() for n in names if len(n) <= 8}
    mapping: dict[str, str] = {}
    for name in names:
        if len(name) <= 8:
            continue
        short = name[:8]
        number = 1
        while short.lower() in taken:
            short = f"{name[:6]}{number:02d}"
            number += 1
            if number > 99:
                raise BadInputError(
                    f"column {name}: no free 8-character SAS name",
                    "Write the register as stata, spss or csv instead",
                )
        taken.add(short.lower())
        mapping[name] = short
    return mapping


# -- the writers ----------------------------------------------------------------------


def _frame(table: pa.Table):
    """A numpy-backed pandas frame (what pyreadstat writes): integer columns with
    missing values as nullable integers, dates as dates."""
    import pandas as pd

    frame = table.to_pandas(date_as_object=True)
    for f in table.schema:
        column = table.column(f.name)
        if pa.types.is_integer(f.type) and column.null_count:
            values = pc.fill_null(column, 0).cast(pa.int64()).to_numpy()
            missing = column.is_null().to_numpy(zero_copy_only=False)
            frame[f.name] = pd.arrays.IntegerArray(values, missing)
    return frame


# A value of a pandas object column: the Python str object (about 50 bytes) and the
# pointer to it, besides its text.
_OBJECT_BYTES = 58


def frame_bytes(parquet: str | Path) -> int:
    """About the memory a Stata, SAS transport or SPSS copy of the Parquet file takes
    while it is written: the Arrow table (the file's uncompressed size) and the pandas
    frame made from it (8 bytes a value, or a Python string and its text), from the
    file's footer alone."""
    meta = pq.ParquetFile(parquet).metadata
    rows, total = meta.num_rows, 0
    schema = meta.schema.to_arrow_schema()
    for i, f in enumerate(schema):
        raw = sum(
            meta.row_group(g).column(i).total_uncompressed_size for g in range(meta.num_row_groups)
        )
        text = pa.types.is_string(f.type) or pa.types.is_large_string(f.type)
        total += raw + (raw + _OBJECT_BYTES * rows if text else 8 * rows)
    return total


def available_memory() -> int | None:
    """The memory the system could give this process now (Linux's ``MemAvailable``),
    or None where it does not say."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return None


def _check_memory(parquet: Path, register: str, fmt: str) -> None:
    need, free = frame_bytes(parquet), available_memory()
    if free is not None and need > free:
        raise BadInputError(
            f"the {fmt} copy of {register} needs about {need / 2**30:.1f} GiB of memory "
            f"while it is written, and {free / 2**30:.1f} GiB is free",
            "Write it as csv or parquet instead (those are written in bounded memory), "
            "or where there is more memory; nothing was written",
        )


def _integer_coded(values: pa.ChunkedArray, codes: dict[str, str]) -> bool:
    """Whether a string code column can be an integer column with value labels: every
    catalogue code and every value present a plain integer (no leading zero)."""
    if not codes or not all(_PLAIN_INTEGER.match(c) for c in codes):
        return False
    present = pc.unique(values.drop_null()).to_pylist()
    return all(_PLAIN_INTEGER.match(str(v)) for v in present)


def _columns(register: str, table: pa.Table, columns: Sequence[dict[str, Any]] | None):
    """The manifest's column entries of the table (or the table's names as variables)."""
    if columns is None:
        return [{"name": n, "role": "variable", "type": "string"} for n in table.column_names]
    return [dict(c) for c in columns]


def _write_stata(register, table, columns, target, language) -> FormatResult:
    import pandas as pd
    import pyreadstat

    _check_names(register, columns, 32, "Stata")
    frame = _frame(table)
    for f in table.schema:  # an integer Stata's long holds is written as one (not a double)
        if pa.types.is_integer(f.type) and table.num_rows:
            low, high = pc.min(table.column(f.name)).as_py(), pc.max(table.column(f.name)).as_py()
            if low is not None and -2_147_483_647 <= low and high <= 2_147_483_620:
                frame[f.name] = frame[f.name].astype("Int32")
    labels, value_labels, kept = {}, {}, []
    for c in columns:
        name = c["name"]
        label = _label(register, c, language)
        if label:
            labels[name] = label[:80]
        if c["type"] != "code":
            continue
        codes = _code_list(register, name, language)
        if _integer_coded(table.column(name), codes):
            values = table.column(name).to_pylist()
            frame[name] = pd.array([None if v is None else int(v) for v in values], "Int32")
            value_labels[name] = {int(k): v[:32000] for k, v in codes.items()}
        else:
            kept.append(name)
    # Stata has no missing string: pyreadstat writes a missing string as the empty one.
    pyreadstat.write_dta(
        frame,
        str(target),
        file_label=f"mikrodata extract: {register}"[:80],
        column_labels=labels,
        version=15,  # format 118: UTF-8, names up to 32 characters
        variable_value_labels=value_labels,
    )
    return FormatResult("stata", table.num_rows, language, tuple(value_labels), tuple(kept))


def _write_spss(register, table, columns, target, language) -> FormatResult:
    import pyreadstat

    _check_names(register, columns, 64, "SPSS")
    frame = _frame(table)
    labels, value_labels = {}, {}
    for c in columns:
        label = _label(register, c, language)
        if label:
            labels[c["name"]] = label[:256]
        codes = _code_list(register, c["name"], language) if c["type"] == "code" else {}
        if codes:
            value_labels[c["name"]] = {k: v[:120] for k, v in codes.items()}
    pyreadstat.write_sav(
        frame,
        str(target),
        file_label=f"mikrodata extract: {register}"[:64],
        column_labels=labels,
        variable_value_labels=value_labels,
    )
    return FormatResult("spss", table.num_rows, language, tuple(value_labels))


def _write_xpt(register, table, columns, target, language) -> FormatResult:
    import pyreadstat

    names = _sas_names([c["name"] for c in columns])
    frame = _frame(table).rename(columns=names)
    for c in columns:
        if not pa.types.is_string(table.schema.field(c["name"]).type):
            continue
        longest = pc.max(pc.binary_length(table.column(c["name"]))).as_py()
        if longest is not None and longest > 200:
            raise BadInputError(
                f"{register}.{c['name']}: values longer than SAS transport's 200 bytes",
                "Write the register as stata, spss or csv instead",
            )
    labels = {
        names.get(c["name"], c["name"]): _ascii(label)[:40]
        for c in columns
        if (label := _label(register, c, "en"))
    }
    table_name = _ascii(register)[:8].upper()
    pyreadstat.write_xport(
        frame,
        str(target),
        file_label=_ascii(f"mikrodata {register}")[:40],
        column_labels=labels,
        table_name=table_name,
        file_format_version=5,
    )
    return FormatResult("sas-xpt", table.num_rows, "en", names=names, table=table_name)


def _check_names(register: str, columns, limit: int, what: str) -> None:
    long = [c["name"] for c in columns if len(c["name"]) > limit]
    if long:
        raise BadInputError(
            f"{register}.{long[0]}: longer than {what}'s {limit} characters",
            "Write the register as parquet or csv instead",
        )


def _write_csv(parquet: Path, target: Path) -> int:
    source = pq.ParquetFile(parquet)
    rows = 0
    with pacsv.CSVWriter(
        str(target),
        source.schema_arrow,
        write_options=pacsv.WriteOptions(include_header=True, delimiter=","),
    ) as writer:
        for batch in source.iter_batches(batch_size=_CSV_BATCH):
            writer.write_batch(batch)
            rows += batch.num_rows
    return rows


def write_format(
    parquet: str | Path,
    register: str,
    fmt: str,
    target: str | Path,
    *,
    columns: Sequence[dict[str, Any]] | None = None,
    labels: str = "en",
) -> FormatResult:
    """Write the register in the Parquet file ``parquet`` as ``fmt`` to ``target``,
    atomically (a temporary file beside it, renamed on success). ``columns`` are the
    manifest's column entries (name, role, catalogue type, source); ``labels`` the
    language of the variable and value labels (``en`` or ``sv``)."""
    if fmt not in EXPORT_FORMATS:
        raise BadInputError(f"unknown format {fmt!r}", f"Choose from: {', '.join(EXPORT_FORMATS)}")
    if labels not in LABEL_LANGUAGES:
        raise BadInputError(f"labels={labels!r}", "Use 'en' or 'sv'")
    parquet, target = Path(parquet), Path(target)
    with atomic_file(target) as tmp:
        if fmt == "csv":
            return FormatResult("csv", _write_csv(parquet, tmp), None)
        _check_memory(parquet, register, fmt)
        table = pq.read_table(parquet)
        cols = _columns(register, table, columns)
        writer = {"stata": _write_stata, "spss": _write_spss, "sas-xpt": _write_xpt}[fmt]
        return writer(register, table, cols, tmp, labels)


def write_exports(
    root: Path,
    registers: Sequence[tuple[str, Path, Sequence[dict[str, Any]]]],
    formats: Sequence[str],
    labels: str = "en",
) -> dict[str, list[dict[str, Any]]]:
    """Inside the extract being built at ``root``, write every register (name, its
    Parquet file, its manifest column entries) in every one of ``formats`` (see
    :func:`parse_formats`) under ``formats/<format>/``. Returns, per register, the
    manifest's ``exports`` entries."""
    from mikrodata.toolkit.progress import progress

    done: dict[str, list[dict[str, Any]]] = {name: [] for name, _, _ in registers}
    if not formats:
        return done
    with progress("extract formats", total=len(registers) * len(formats)) as task:
        for name, parquet, columns in registers:
            for fmt in formats:
                rel = export_path(name, fmt)
                result = write_format(
                    parquet, name, fmt, root / rel, columns=columns, labels=labels
                )
                done[name].append({"path": rel, **result.as_dict()})
                task.advance()
    return done
