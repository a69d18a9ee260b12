"""Coarsening of a table a researcher or steward holds in memory: the steps themselves
(what each does, their JSON form, their SQL) are the extract's
(:mod:`mikrodata.toolkit.extract.coarsen`), since the extract builder applies them; this
module applies them to a pandas DataFrame or an Arrow table.

    >>> import pandas as pd
    >>> df = pd.DataFrame({"kommun": ["0180", "2584"], "birth_year": [1987, 1990]})
    >>> steps = [step_from_dict({"step": "kommun_to_lan", "column": "kommun",
    ...                          "codes": ["2584"]}), Band("birth_year", 5)]
    >>> coarsen(df, steps).to_dict("list")
    {'kommun': ['0180', '25'], 'birth_year': [1985, 1990]}
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa

from mikrodata.toolkit.extract.coarsen import (
    STEP_KINDS,
    Band,
    KommunToLan,
    MergeCodes,
    MonthToQuarter,
    Step,
    Suppress,
    TopCode,
    TruncateDate,
    applies,
    cells_changed,
    coarsen_sql,
    step_from_dict,
    steps_from_list,
    steps_to_list,
)
from mikrodata.toolkit.extract.source import quote

from .roles import PERSON_PSEUDONYM
from .tables import register_frame, relation_types

__all__ = [
    "STEP_KINDS",
    "Band",
    "KommunToLan",
    "MergeCodes",
    "MonthToQuarter",
    "Step",
    "Suppress",
    "TopCode",
    "TruncateDate",
    "applies",
    "cells_changed",
    "coarsen",
    "coarsen_sql",
    "step_from_dict",
    "steps_from_list",
    "steps_to_list",
]


def coarsen(
    table: Any,
    steps: Sequence[Step],
    *,
    register: str | None = None,
    person: str | None = None,
) -> Any:
    """``table`` (a pandas DataFrame or a pyarrow Table) with ``steps`` applied, as the
    same kind of table: same rows in the same order, same columns and types."""
    con = duckdb.connect()
    relation = register_frame(con, table)
    columns = {n: t for n, t in relation_types(con, relation).items() if n != "_row_id"}
    if person is None and PERSON_PSEUDONYM in columns:
        person = PERSON_PSEUDONYM
    sql = coarsen_sql(relation, columns, steps, register=register, person=person)
    cols = ", ".join(quote(c) for c in columns)
    result = con.sql(f"SELECT {cols} FROM ({sql}) ORDER BY _row_id").to_arrow_table()
    if isinstance(table, pa.Table):
        return result.cast(table.schema) if result.schema.names == table.schema.names else result
    if isinstance(table, pd.DataFrame):
        frame = result.to_pandas()
        for name in frame.columns:  # keep the caller's dtypes where they still fit
            try:
                frame[name] = frame[name].astype(table[name].dtype)
            except (TypeError, ValueError):
                pass
        return frame
    return result
