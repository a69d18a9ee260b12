"""``generate``: write every synthetic register and the ground truth, chunk by chunk.

People are made in chunks of ``chunk_size`` (each chunk is a whole set of families with
its own random stream, ``(seed, chunk)``), their rows for every register and year are
appended to the Parquet files as row groups, and the chunk is freed, so memory does not
grow with the number of people. Faults use a separate stream ``(seed, chunk, 99, ...)``,
so a run with faults has exactly the clean run's values except where the ground truth
says. The output directory is built beside the target and swapped in whole.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from mikrodata.quality.catalogue import catalogue_version, load
from mikrodata.toolkit import __version__, clock
from mikrodata.toolkit.atomic import atomic_directory
from mikrodata.toolkit.errors import BadInputError
from mikrodata.toolkit.progress import progress

from .columns import arrow_schema, year_column
from .faults import FaultInjector
from .identifiers import BirthNumberAllocator
from .linked import LINKED_REGISTERS, linked_tables
from .population import Geography, befolkning_tables, make_population
from .social_assistance import REGISTER as EB
from .social_assistance import check_catalogue, simulate_assistance
from .writer import PARQUET_OPTIONS, DatasetWriter, partition_path

__all__ = ["DEFAULT_CHUNK", "GROUND_TRUTH", "SynthResult", "generate", "parse_years"]

DEFAULT_CHUNK = 50_000
GROUND_TRUTH = "ground_truth"
REGISTERS = ("befolkning", EB, *LINKED_REGISTERS)
_FAULT_STREAM = 99

PERSONS_SCHEMA = pa.schema(
    [
        ("personnummer", pa.string()),
        ("identifier_kind", pa.string()),
        ("registered", pa.bool_()),
        ("fodelsedatum", pa.date32()),
        ("kon", pa.string()),
        ("fodelselandgrupp", pa.string()),
        ("born_abroad", pa.bool_()),
        ("refugee", pa.bool_()),
        ("kommun", pa.string()),
        ("invandringsdatum", pa.date32()),
        ("utvandringsdatum", pa.date32()),
        ("dodsdatum", pa.date32()),
        ("family", pa.int64()),
        ("family_role", pa.string()),
        ("assistance_months", pa.int64()),
        ("long_term_years", pa.int64()),
    ]
)


@dataclass(frozen=True)
class SynthResult:
    """What a run wrote: the directory, its manifest and the row counts."""

    out: Path
    manifest: dict


def parse_years(text: str) -> tuple[int, int]:
    """``"1998-2024"`` or ``"2015"`` -> (first, last)."""
    parts = text.split("-")
    try:
        if len(parts) == 1:
            first = last = int(parts[0])
        elif len(parts) == 2:
            first, last = int(parts[0]), int(parts[1])
        else:
            raise ValueError
    except ValueError:
        raise BadInputError(
            f"years {text!r} are not FIRST-LAST", "Write the years like 1998-2024"
        ) from None
    return first, last


def _check(persons: int, first: int, last: int, faults: float, chunk: int) -> None:
    if persons < 1:
        raise BadInputError(f"--persons is {persons}", "Give at least 1 person")
    if first > last:
        raise BadInputError(f"years {first}-{last} run backwards", "Write FIRST-LAST")
    lo = min(load(r).first_year for r in REGISTERS)
    # The catalogue documents the registers up to now: a later year has no code lists
    # or variables that are known to hold.
    hi = clock.today().year
    if first < lo or last > hi:
        raise BadInputError(
            f"years {first}-{last} are outside the catalogue ({lo}-{hi})",
            f"Choose years from {lo} to {hi}",
        )
    if not 0.0 <= faults <= 0.5:
        raise BadInputError(f"--faults is {faults}", "Give a rate between 0 and 0.5")
    if not 1000 <= chunk <= 5_000_000:
        # Household ids number units within a chunk below 10 million.
        raise BadInputError(f"chunk size {chunk} is out of range", "Use 1000 to 5,000,000")


def _guard(out: Path) -> None:
    """Refuse to replace a directory that is not an earlier synthetic output."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        if not (out / GROUND_TRUTH / "manifest.json").is_file():
            raise BadInputError(
                f"{out} exists and is not a synthetic-register directory",
                "Choose a new or empty --out directory",
            )


def _persons_table(pop, geo, eb) -> pa.Table:
    def d(a):
        return pa.array(a.astype("datetime64[D]"), type=pa.date32(), mask=np.isnat(a))

    return pa.table(
        {
            "personnummer": pop.ident.astype(object),
            "identifier_kind": np.where(pop.coordination, "samordningsnummer", "personnummer"),
            "registered": ~pop.coordination,
            "fodelsedatum": d(pop.birth),
            "kon": pop.sex.astype(str),
            "fodelselandgrupp": geo.origin_codes[pop.origin].astype(object),
            "born_abroad": pop.born_abroad,
            "refugee": pop.refugee,
            "kommun": geo.kommun[pop.kommun].astype(object),
            "invandringsdatum": d(pop.imm_date),
            "utvandringsdatum": d(pop.emi_date),
            "dodsdatum": d(pop.death_date),
            "family": pop.family.astype(np.int64) + int(pop.pid[0]),
            "family_role": np.array(["head", "partner", "child"])[pop.role],
            "assistance_months": eb.person_months.astype(np.int64).sum(axis=1),
            "long_term_years": (eb.person_months >= 10).sum(axis=1).astype(np.int64),
        },
        schema=PERSONS_SCHEMA,
    )


def generate(
    out: str | Path,
    persons: int,
    years: tuple[int, int],
    seed: int,
    faults: float = 0.0,
    chunk_size: int = DEFAULT_CHUNK,
) -> SynthResult:
    """Write synthetic registers for ``persons`` people over ``years`` into ``out``."""
    out = Path(out)
    first, last = years
    _check(persons, first, last, faults, chunk_size)
    _guard(out)
    check_catalogue()
    all_years = tuple(range(first, last + 1))
    geo = Geography.from_catalogue(last)
    root = np.random.default_rng([seed, 0])
    # Municipalities differ in assistance rates beyond their population mix.
    kommun_factor = root.lognormal(-0.045, 0.3, size=geo.kommun.size)
    allocator = BirthNumberAllocator()
    injector = FaultInjector(faults)
    n_chunks = -(-persons // chunk_size)
    with atomic_directory(out) as tmp:
        writer = DatasetWriter(tmp)
        clean_rows: dict[str, int] = {}
        for register in REGISTERS:
            reg = load(register)
            for y in all_years:
                if y < reg.first_year or (reg.last_year is not None and y > reg.last_year):
                    continue
                rel = partition_path(register, year_column(reg), y)
                writer.open(rel, arrow_schema(register))
                clean_rows[rel] = 0
        truth_dir = tmp / GROUND_TRUTH
        truth_dir.mkdir()
        persons_writer = pq.ParquetWriter(
            truth_dir / "persons.parquet", PERSONS_SCHEMA, **PARQUET_OPTIONS
        )
        with progress("synthetic registers: people", total=persons) as task:
            for chunk in range(n_chunks):
                size = min(chunk_size, persons - chunk * chunk_size)
                rng = np.random.default_rng([seed, 1, chunk])
                pop = make_population(
                    rng, size, first, last, geo, allocator, pid_start=chunk * chunk_size
                )
                eb = simulate_assistance(pop, all_years, rng, geo, kommun_factor, chunk)
                tables = {"befolkning": befolkning_tables(pop, all_years, rng, geo), EB: eb.tables}
                tables.update(linked_tables(pop, all_years, rng, geo, eb.person_months))
                for ri, register in enumerate(REGISTERS):
                    ycol = year_column(load(register))
                    for y, table in sorted(tables.get(register, {}).items()):
                        rel = partition_path(register, ycol, y)
                        if faults > 0:
                            frng = np.random.default_rng([seed, chunk, _FAULT_STREAM, ri, y])
                            faulty = injector.inject(
                                table, register, y, rel, clean_rows[rel], writer.rows[rel], frng
                            )
                        else:
                            faulty = table
                        clean_rows[rel] += table.num_rows
                        writer.write(rel, faulty)
                persons_writer.write_table(_persons_table(pop, geo, eb))
                del pop, eb, tables
                task.advance(size)
        persons_writer.close()
        writer.close()
        pq.write_table(injector.table(), truth_dir / "faults.parquet", **PARQUET_OPTIONS)
        counts: dict[str, int] = {}
        for rel, n in writer.rows.items():
            counts[rel.split("/")[0]] = counts.get(rel.split("/")[0], 0) + n
        kinds: dict[str, int] = {}
        for r in injector.records:
            kinds[r["kind"]] = kinds.get(r["kind"], 0) + 1
        manifest = {
            "generator": "mikrodata synth",
            "version": __version__,
            "catalogue_version": catalogue_version(),
            "seed": seed,
            "persons": persons,
            "years": [first, last],
            "faults_rate": faults,
            "chunk_size": chunk_size,
            "registers": {r: counts.get(r, 0) for r in REGISTERS},
            "files": {
                rel: {"rows": writer.rows[rel], "sha256": digest}
                for rel, digest in writer.checksums().items()
            },
            "faults": dict(sorted(kinds.items())),
        }
        (truth_dir / "manifest.json").write_text(
            json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8"
        )
    return SynthResult(out, manifest)
