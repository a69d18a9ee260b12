"""Cross-sectional re-identification risk: equivalence classes over the
quasi-identifiers, k-anonymity, the records and persons in classes smaller than k, and
l-diversity of the sensitive variables within classes.

Definitions (docs/risk.md says more):

- an **equivalence class** is the set of records sharing one combination of the
  quasi-identifiers within one cross-section (``by``: by default the register's year,
  so a person's rows of one year are one cross-section and the year is known to an
  attacker); NULL is a value like any other;
- its **size** is the number of distinct *persons* in it (a person's twelve monthly rows
  with the same values are one person, not twelve); a table without a person key
  counts rows;
- a record's **risk** is ``1 / size``: a register extract is the whole population, not a
  sample, so a class of one is a person re-identified for certain; ``mean_risk`` is its
  mean over records (the expected share of records an attacker picking at random
  within the class would get right);
- **k** is the smallest class size; records and persons **below k** are those in classes
  smaller than the threshold asked for (a person counts once, if any of their records
  is in such a class);
- **l-diversity** of a sensitive variable: in each class, the number of distinct values
  (``distinct``) and ``exp`` of the Shannon entropy of the values' record shares
  (``entropy``, natural log: the entropy-l of Machanavajjhala et al.); the table's l is
  the smallest over classes. NULL counts as one value.

    >>> import pandas as pd
    >>> df = pd.DataFrame({"age": [30, 30, 30, 41, 41], "zip": ["1", "1", "1", "2", "2"],
    ...                    "dx": ["a", "b", "a", "c", "c"]})
    >>> k_anonymity(df, ["age", "zip"]), l_diversity(df, ["age", "zip"], ["dx"])["dx"].distinct
    (2, 1)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import duckdb
import pandas as pd

from mikrodata.toolkit.extract.source import quote

from .roles import ColumnRoles
from .tables import RiskTable, register_frame

__all__ = [
    "SIZE_BUCKETS",
    "CrossSection",
    "LDiversity",
    "class_sizes",
    "cross_section",
    "k_anonymity",
    "l_diversity",
    "size_bucket",
]

# Class sizes are reported exactly up to 10, then in these bands.
SIZE_BUCKETS: tuple[tuple[int, int | None], ...] = (
    *((n, n) for n in range(1, 11)),
    (11, 20),
    (21, 50),
    (51, 100),
    (101, 1000),
    (1001, None),
)


def size_bucket(size: int) -> str:
    """The label of the band a class size falls in: ``"3"``, ``"11-20"``, ``"1001+"``."""
    for low, high in SIZE_BUCKETS:
        if size >= low and (high is None or size <= high):
            return str(low) if low == high else (f"{low}+" if high is None else f"{low}-{high}")
    raise ValueError(size)  # sizes are >= 1 by construction


@dataclass(frozen=True)
class LDiversity:
    """l-diversity of one sensitive variable: the smallest over classes."""

    variable: str
    distinct: int | None
    entropy: float | None
    classes_with_one_value: int  # classes where every record has the same value
    records_with_one_value: int


@dataclass(frozen=True)
class CrossSection:
    """The cross-sectional risk of one table (see the module docstring)."""

    register: str
    quasi_identifiers: tuple[str, ...]
    by: tuple[str, ...]
    threshold: int
    records: int
    persons: int
    classes: int
    k: int | None  # the smallest class (None: no rows)
    records_below_k: int
    persons_below_k: int
    mean_risk: float | None  # the mean over records of 1 / class size
    class_sizes: dict[str, dict[str, int]]  # size band -> classes, persons, records
    l_diversity: tuple[LDiversity, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["l_diversity"] = {x.variable: asdict(x) for x in self.l_diversity}
        return d


def _cols(names: Sequence[str]) -> list[str]:
    return [quote(c) for c in names]


def _by(t: RiskTable, by: Sequence[str] | None) -> tuple[str, ...]:
    return tuple(by) if by is not None else ((t.roles.year,) if t.roles.year else ())


def _partition(keys: Sequence[str]) -> str:
    return f"PARTITION BY {', '.join(keys)}" if keys else ""


def _sized_cells(t: RiskTable, by: Sequence[str], name: str) -> None:
    """``name``: one row per (cross-section, class, person) with the person's records
    ``_n`` and the class size ``_size`` in persons."""
    keys = _cols([*by, *t.roles.quasi_identifiers])
    group = ", ".join([*keys, "_person"])
    t.con.execute(
        f"CREATE OR REPLACE TEMP TABLE {name}_p AS SELECT "
        f"{', '.join([*keys, f'{t.person_sql()} AS _person'])}, count(*) AS _n "
        f"FROM {t.relation} GROUP BY {group}"
    )
    if not keys:
        t.con.execute(
            f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT *, count(*) OVER () AS _size "
            f"FROM {name}_p"
        )
    else:  # group, then join back NULL-safely: faster than a window over the same keys
        same = " AND ".join(f"c.{k} IS NOT DISTINCT FROM s.{k}" for k in keys)
        t.con.execute(
            f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT c.*, s._size FROM {name}_p c "
            f"JOIN (SELECT {', '.join(keys)}, count(*) AS _size FROM {name}_p "
            f"GROUP BY {', '.join(keys)}) s ON {same}"
        )
    t.con.execute(f"DROP TABLE {name}_p")


def _l_diversity(t: RiskTable, by: Sequence[str], variable: str) -> LDiversity:
    keys = _cols([*by, *t.roles.quasi_identifiers])
    v = quote(variable)
    group = ", ".join([*keys, v])
    part = _partition(keys)
    row = t.con.execute(
        f"""
        WITH v AS (SELECT {group}, count(*) AS _n FROM {t.relation} GROUP BY {group}),
        w AS (SELECT _n, sum(_n) OVER ({part}) AS _tot, count(*) OVER ({part}) AS _d,
              {", ".join(keys) or "1 AS _all"} FROM v),
        c AS (SELECT any_value(_d) AS d, any_value(_tot) AS tot,
              -sum(_n / _tot * ln(_n / _tot)) AS h FROM w GROUP BY {", ".join(keys) or "_all"})
        SELECT min(d), min(h), count(*) FILTER (WHERE d = 1),
               coalesce(sum(tot) FILTER (WHERE d = 1), 0) FROM c
        """
    ).fetchall()[0]
    distinct, h, one, one_records = row
    return LDiversity(
        variable,
        None if distinct is None else int(distinct),
        None if h is None else math.exp(max(h, 0.0)),
        int(one),
        int(one_records),
    )


def cross_section(
    t: RiskTable,
    k: int = 5,
    *,
    by: Sequence[str] | None = None,
    l_diversity: bool = True,
    collect_below: str | None = None,
) -> CrossSection:
    """The cross-sectional risk of ``t`` with threshold ``k`` (see the module docstring).

    ``by``: the columns that make a cross-section (default: the register's year).
    ``collect_below``: a table ``(_person VARCHAR)`` that receives the persons below k,
    so persons below k in any of several registers can be counted once."""
    by = _by(t, by)
    cells = "_risk_cells"
    _sized_cells(t, by, cells)
    con = t.con
    records, persons, smallest, rec_below, per_below, mean_risk = con.execute(
        f"SELECT coalesce(sum(_n), 0), count(DISTINCT _person), min(_size), "
        f"coalesce(sum(_n) FILTER (WHERE _size < {int(k)}), 0), "
        f"count(DISTINCT _person) FILTER (WHERE _size < {int(k)}), "
        f"sum(_n / _size) / sum(_n) FROM {cells}"
    ).fetchall()[0]
    bands: dict[str, dict[str, int]] = {}
    classes = 0
    for size, cell_rows, persons_in, records_in in con.execute(
        f"SELECT _size, count(*), count(DISTINCT _person), sum(_n) FROM {cells} "
        "GROUP BY _size ORDER BY _size"
    ).fetchall():
        n_classes = cell_rows // size  # each class of size s has exactly s cell rows
        classes += n_classes
        band = bands.setdefault(size_bucket(size), {"classes": 0, "persons": 0, "records": 0})
        band["classes"] += n_classes
        band["persons"] += persons_in  # a person in two bands (two years) counts in both
        band["records"] += int(records_in)
    if collect_below is not None:
        con.execute(
            f"INSERT INTO {collect_below} SELECT DISTINCT CAST(_person AS VARCHAR) FROM {cells} "
            f"WHERE _size < {int(k)}"
        )
    con.execute(f"DROP TABLE {cells}")
    diversity = tuple(_l_diversity(t, by, s) for s in t.roles.sensitive) if l_diversity else ()
    return CrossSection(
        register=t.register,
        quasi_identifiers=t.roles.quasi_identifiers,
        by=by,
        threshold=int(k),
        records=int(records),
        persons=int(persons),
        classes=classes,
        k=None if smallest is None else int(smallest),
        records_below_k=int(rec_below),
        persons_below_k=int(per_below),
        mean_risk=None if mean_risk is None else float(mean_risk),
        class_sizes=bands,
        l_diversity=diversity,
    )


def _ad_hoc(table: Any, qis: Sequence[str], sensitive: Sequence[str], person: str | None):
    con = duckdb.connect()
    relation = register_frame(con, table)
    roles = ColumnRoles("(table)", person, None, None, tuple(qis), tuple(sensitive))
    return RiskTable(con, relation, roles)


def class_sizes(
    table: Any,
    quasi_identifiers: Sequence[str],
    *,
    person: str | None = None,
    by: Sequence[str] = (),
) -> pd.DataFrame:
    """Every record of ``table`` with its class size (in persons) and risk ``1/size``,
    in input order.

    >>> import pandas as pd
    >>> class_sizes(pd.DataFrame({"sex": ["1", "1", "2"]}), ["sex"])["risk"].tolist()
    [0.5, 0.5, 1.0]
    """
    t = _ad_hoc(table, quasi_identifiers, (), person)
    keys = _cols([*by, *quasi_identifiers])
    return t.con.execute(
        f"SELECT * EXCLUDE (_row_id, _size), _size AS class_size, 1.0 / _size AS risk FROM "
        f"(SELECT *, count(DISTINCT {t.person_sql()}) OVER ({_partition(keys)}) AS _size "
        f"FROM {t.relation}) ORDER BY _row_id"
    ).df()


def k_anonymity(
    table: Any,
    quasi_identifiers: Sequence[str],
    *,
    person: str | None = None,
    by: Sequence[str] = (),
) -> int | None:
    """The smallest class size of ``table`` over ``quasi_identifiers`` (None if empty)."""
    return cross_section(_ad_hoc(table, quasi_identifiers, (), person), by=by, l_diversity=False).k


def l_diversity(
    table: Any,
    quasi_identifiers: Sequence[str],
    sensitive: Sequence[str],
    *,
    by: Sequence[str] = (),
) -> dict[str, LDiversity]:
    """Distinct and entropy l-diversity of each sensitive variable, by name."""
    t = _ad_hoc(table, quasi_identifiers, sensitive, None)
    return {s: _l_diversity(t, tuple(by), s) for s in sensitive}
