"""``mikrodata synth``: generate synthetic registers; ``mikrodata synth report``: realism."""

from __future__ import annotations

import time
from pathlib import Path

import click

__all__ = ["synth"]


@click.group(invoke_without_command=True)
@click.option("--persons", type=int, default=None, help="Number of people in the population.")
@click.option(
    "--years",
    default="1998-2024",
    show_default=True,
    help="Years to generate, FIRST-LAST (e.g. 1998-2024) or one year.",
)
@click.option("--seed", type=int, default=1, show_default=True, help="Random seed.")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Output directory (created; an earlier synthetic output there is replaced).",
)
@click.option(
    "--faults",
    type=float,
    default=0.0,
    show_default=True,
    help="Faults per row to inject (e.g. 0.001); listed in ground_truth/faults.parquet.",
)
@click.option(
    "--chunk-size",
    type=int,
    default=None,
    help="People per chunk (memory vs speed; part of what the seed reproduces).",
)
@click.pass_context
def synth(
    ctx: click.Context,
    persons: int | None,
    years: str,
    seed: int,
    out: Path | None,
    faults: float,
    chunk_size: int | None,
) -> None:
    """Generate synthetic registers for every catalogue register, with ground truth.

    Example: mikrodata synth --persons 100000 --years 1998-2024 --seed 7 --out synth
    """
    if ctx.invoked_subcommand is not None:
        return
    if persons is None or out is None:
        raise click.UsageError("give --persons and --out (or a sub-command, e.g. report)")
    from mikrodata.toolkit.synthetic import DEFAULT_CHUNK, generate, parse_years

    start = time.perf_counter()
    result = generate(out, persons, parse_years(years), seed, faults, chunk_size or DEFAULT_CHUNK)
    seconds = time.perf_counter() - start
    for register, rows in result.manifest["registers"].items():
        click.echo(f"{register:22s} {rows:>14,} rows")
    n_faults = sum(result.manifest["faults"].values())
    click.echo(f"faults injected: {n_faults:,}")
    click.echo(f"written to {out} in {seconds:.1f} s")


@synth.command("report")
@click.argument("directory", type=click.Path(file_okay=False, exists=True, path_type=Path))
def report(directory: Path) -> None:
    """Compare the registers in DIRECTORY with the published figures (scaled)."""
    from mikrodata.toolkit.synthetic.report import realism_report

    rows = realism_report(directory)
    click.echo(f"{'metric':48s} {'year':>4s} {'published*':>14s} {'generated':>14s} {'dev':>7s}")
    for r in rows:
        click.echo(
            f"{r.metric:48s} {r.year:4d} {r.published_scaled:14.4g} {r.generated:14.4g} "
            f"{100 * r.deviation:+6.1f}%"
        )
    click.echo("* published figures scaled to the synthetic population for counts")
    click.echo(f"written: {directory / 'ground_truth' / 'realism.json'} and realism.md")
