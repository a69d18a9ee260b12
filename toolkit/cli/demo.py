"""``mikrodata demo``: the main job end to end, for a new user's first run."""

from __future__ import annotations

from pathlib import Path

import click

__all__ = ["demo"]


@click.command()
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("demo-output"),
    show_default=True,
    help="Directory for everything the demo writes (replaced).",
)
@click.option("--persons", type=click.IntRange(1000), default=20_000, show_default=True)
@click.option("--seed", type=int, default=2026, show_default=True)
def demo(out: Path, persons: int, seed: int) -> None:
    """Run the main job on synthetic registers: catalogue docs, a synthetic delivery
    (clean and with faults), quality review, key store, an access request walked to
    approval, the pseudonymised project extract, an output released through the steward's
    review with a signed manifest, and the verified audit trail."""
    from mikrodata.toolkit.demo import run_demo

    result = run_demo(out, persons=persons, seed=seed, echo=click.echo)
    click.echo("")
    for what, value in result.facts.items():
        click.echo(f"  {what}: {value}")
    click.echo("")
    click.echo("Open these:")
    for what, path in result.paths.items():
        click.echo(f"  {what + ':':28} {path}")
