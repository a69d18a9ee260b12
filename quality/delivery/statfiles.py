"""SAS (``.sas7bdat``, transport ``.xpt``), Stata (``.dta``) and SPSS (``.sav``) files,
read in chunks of rows by pyreadstat (ReadStat), so a file of several GB never loads
whole. Values arrive as Python values (numbers, text, dates); the catalogue types them.
Stata's and SAS's special missing values (``.a``-``.z``) and empty text are missing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyreadstat

from mikrodata.toolkit.errors import BadInputError

from .convert import python_column
from .text import RawBatch

__all__ = ["STAT_FORMATS", "read_statfile"]

STAT_FORMATS = {
    "sas7bdat": pyreadstat.read_sas7bdat,
    "xpt": pyreadstat.read_xport,
    "dta": pyreadstat.read_dta,
    "sav": pyreadstat.read_sav,
}
_NAMES = {"sas7bdat": "SAS", "xpt": "SAS transport", "dta": "Stata", "sav": "SPSS"}


def _unreadable(path: Path, kind: str) -> BadInputError:
    # ReadStat's message may quote bytes of the file: name the file and the format only.
    return BadInputError(
        f"{path.name} cannot be read as a {_NAMES[kind]} file (damaged, truncated or "
        "another format)",
        "check the file, or deliver it again",
    )


def read_statfile(
    path: Path, kind: str, *, encoding: str = "auto", batch_rows: int = 250_000
) -> tuple[list[str], int, Iterator[RawBatch]]:
    """The column names and row count of a SAS, Stata or SPSS file, and its rows in
    batches."""
    read = STAT_FORMATS[kind]
    kwargs = {} if encoding == "auto" or kind == "xpt" else {"encoding": encoding}
    try:
        _, meta = read(str(path), metadataonly=True, **kwargs)
    except (pyreadstat.ReadstatError, pyreadstat.PyreadstatError, UnicodeDecodeError, OSError):
        raise _unreadable(path, kind) from None
    names = list(meta.column_names)
    total = int(meta.number_rows) if meta.number_rows is not None else -1

    def batches() -> Iterator[RawBatch]:
        row = 0
        chunks = pyreadstat.read_file_in_chunks(
            read, str(path), chunksize=batch_rows, output_format="dict", **kwargs
        )
        while True:
            try:
                data, _ = next(chunks)
            except StopIteration:
                break
            except (pyreadstat.ReadstatError, pyreadstat.PyreadstatError, UnicodeDecodeError):
                raise _unreadable(path, kind) from None
            n = len(next(iter(data.values()))) if data else 0
            if n == 0:
                break
            columns = {name: python_column(list(values)) for name, values in data.items()}
            yield RawBatch(columns, np.arange(row + 1, row + n + 1, dtype=np.int64), [])
            row += n
        if total >= 0 and row != total:
            raise BadInputError(
                f"{path.name} holds {row} rows but its header says {total} (truncated?)",
                "check the file, or deliver it again",
            )

    return names, total, batches()
