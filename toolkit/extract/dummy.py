"""Dummy extracts: synthetic data with exactly the shape of the approved extract.

:func:`build_dummy_extract` draws the registers of the request from the synthetic
population model (:func:`toolkit.synthetic.generate.generate`: people with a stable
birth date and sex, households with stable members, assistance in spells, kommun
changes only by moving, codes valid in their year), never from real data, and runs them
through the same pipeline as a real build (the approved variables and years only, same
columns, types, derived variables, pseudonym form and sort order) under a throw-away
random key that is never stored, so a notebook written against the dummy runs unchanged
on the real extract, and ``quality run --extract`` finds what it finds in a real one.

:func:`synthetic_register` writes a small delivery of one register with independent
values per row (every catalogue variable of each year, of the right type), for tests
that need a delivery of any shape quickly; it is not what a dummy extract is made of.

The dummy holds no register data, so it needs a valid request but not an approval; it
is recorded in the audit log (``dummy_extract_built``), its manifest says
``"dummy": true`` and is signed by a throw-away key that travels with it, so it verifies
as a dummy and no release can come from it.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from mikrodata.access_requests import AuditLog, load_request
from mikrodata.pseudonymisation import ProjectKey, SigningKey
from mikrodata.quality.catalogue import Register, Variable, load
from mikrodata.toolkit.atomic import atomic_directory
from mikrodata.toolkit.errors import BadInputError
from mikrodata.toolkit.identity import Identity, resolve_identity
from mikrodata.toolkit.synthetic.generate import generate
from mikrodata.toolkit.synthetic.identifiers import random_personnummer

from .build import assemble_manifest, coarsening_steps, export_copies
from .columns import register_spec
from .formats import parse_formats
from .manifest import write_manifest
from .pipeline import run_register
from .source import connect

__all__ = ["DummyResult", "build_dummy_extract", "synthetic_register"]


@dataclass(frozen=True)
class DummyResult:
    out: Path
    manifest: dict[str, Any]
    manifest_sha256: str


def _values(
    v: Variable, year: int, n: int, rng: np.random.Generator, month: np.ndarray | None
) -> pa.Array:
    if v.type == "code":
        codes = [c.code for c in v.codes_in(year)] or ["0"]
        return pa.array(rng.choice(codes, size=n).astype(str).tolist(), pa.string())
    if v.type == "integer":
        if v.unit == "month" and month is not None:
            return pa.array(month, pa.int64())
        low = int(v.min) if v.min is not None else 0
        high = int(v.max) if v.max is not None else 100
        return pa.array(rng.integers(low, high + 1, size=n), pa.int64())
    if v.type == "decimal":
        low = v.min if v.min is not None else 0.0
        high = min(v.max if v.max is not None else 20_000.0, 20_000.0)
        return pa.array(np.round(rng.uniform(low, high, size=n), 2), pa.float64())
    if v.type == "date":
        days = rng.integers(0, 365, size=n)
        start = np.datetime64(f"{year}-01-01")
        return pa.array(start + days.astype("timedelta64[D]"), pa.date32())
    return pa.array([f"{v.name}-{k}" for k in rng.integers(1, 50, size=n)], pa.string())


def synthetic_register(
    register: str, years: tuple[int, ...], persons: int, out: Path, *, seed: int = 0
) -> Path:
    """Write a synthetic delivery of ``register`` for ``years`` under ``out/<register>``."""
    reg: Register = load(register)
    rng = np.random.default_rng(seed)
    ids = random_personnummer(persons, rng)
    household = np.arange(persons) // 3  # households of three
    year_col = next(p for p in reg.period if reg.variable(p).unit == "year")
    month_col = next((p for p in reg.period if reg.variable(p).unit == "month"), None)
    for year in years:
        present = np.flatnonzero(rng.random(persons) < 0.7)
        month = None
        if month_col is not None and reg.variable(month_col).exists_in(year):
            months = rng.integers(1, 7, size=present.size)  # rows per person: 1-6 months
            first = rng.integers(1, 8, size=present.size)
            person = np.repeat(present, months)
            month = np.concatenate(
                [np.arange(f, f + k) for f, k in zip(first, months, strict=True)]
            )
        else:
            person = present
        n = person.size
        data: dict[str, pa.Array] = {}
        for v in reg.variables_in(year):
            if v.name == year_col:
                continue  # the hive partition carries it
            if v.is_direct_identifier:
                values = (
                    ids[person]
                    if v.identifier_domain == "person"
                    else np.char.add(f"{v.identifier_domain}-", household[person].astype(str))
                )
                data[v.name] = pa.array(values.astype(str).tolist(), pa.string())
            else:
                data[v.name] = _values(v, year, n, rng, month)
        for v in reg.variables_in(year):
            if v.applies_to is not None and v.name in data and v.applies_to[0] in data:
                controlling = data[v.applies_to[0]].to_numpy(zero_copy_only=False)
                applies = np.isin(controlling.astype(str), list(v.applies_to[1]))
                values = data[v.name].to_pylist()
                data[v.name] = pa.array(
                    [x if ok else None for x, ok in zip(values, applies, strict=True)],
                    data[v.name].type,
                )
        target = out / register / f"{year_col}={year}" / "part-0.parquet"
        target.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.table(data), target)
    return out / register


def build_dummy_extract(
    request_path: str | Path,
    out: str | Path,
    *,
    persons: int = 2000,
    seed: int = 0,
    user: str | Identity | None = None,
    audit: AuditLog | None = None,
    formats: tuple[str, ...] | list[str] | str | None = None,
    labels: str = "en",
) -> DummyResult:
    """Write a synthetic extract with the approved shape of the request into ``out``,
    drawn from a synthetic population of ``persons`` people (of whom the registers hold
    those the model gives assistance, care or a death in the approved years); with the
    copies in ``formats`` a real build would have (see :func:`build_extract`)."""
    wanted = parse_formats(formats)
    if labels not in ("en", "sv"):
        raise BadInputError(f"labels={labels!r}", "Use 'en' or 'sv'")
    request = load_request(request_path)
    out = Path(out)
    identity = resolve_identity(user)
    audit = audit or AuditLog()
    specs = [register_spec(request, r) for r in request.register_names]
    coarsening = coarsening_steps(request, specs)  # a dummy is coarsened like the extract
    # A throw-away key: the dummy's pseudonyms have the real form but link to nothing.
    key = ProjectKey(request.project, 0, os.urandom(32))
    with tempfile.TemporaryDirectory(prefix="mikrodata-dummy-") as scratch:
        scratch = Path(scratch)
        years = [y for s in specs for y in s.years]
        generate(scratch / "src", persons, (min(years), max(years)), seed)
        con = connect(scratch)
        try:
            with atomic_directory(out) as tmp:
                results = [
                    run_register(
                        con,
                        s,
                        scratch / "src",
                        tmp,
                        scratch / "rejects",
                        key,
                        population=False,
                        coarsening=coarsening,
                    )
                    for s in specs
                ]
                if (tmp / ".work").exists():  # a Spark build's scratch folder, empty by now
                    (tmp / ".work").rmdir()
                exports = export_copies(tmp, specs, results, wanted, labels)
                manifest = assemble_manifest(
                    tmp,
                    request,
                    specs,
                    results,
                    user=identity.user,
                    key={"key_id": None, "version": None, "throwaway": True},
                    population={"type": "dummy", "persons": persons, "seed": seed},
                    audit_head=audit.head(),
                    delivery_checks={s.register: "not applicable (dummy)" for s in specs},
                    dummy=True,
                    exports=exports,
                )
                # Signed like a real extract, by a throw-away key that travels with it:
                # it verifies as a dummy, and as nothing else.
                sha = write_manifest(tmp, manifest, SigningKey(os.urandom(32), "dummy"))
        finally:
            con.close()
    audit.append(
        "dummy_extract_built",
        project=request.project,
        user=identity,
        details={
            "out": str(out.resolve()),
            "manifest_sha256": sha,
            "request_sha256": request.sha256,
        },
    )
    return DummyResult(out=out, manifest=manifest, manifest_sha256=sha)
