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
    help="Directory for everything the demo writes.",
)
def demo(out: Path) -> None:
    """Run the main job: build the catalogue documentation and say where it is."""
    from quality.catalogue_docs import build_docs

    index = build_docs(out / "catalogue")
    click.echo(f"catalogue documentation: {index.resolve()}")
