"""``mikrodata catalogue``: list, show and document the variable catalogue."""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table

from mikrodata.quality.catalogue import load, registers
from mikrodata.toolkit.cli._output import console

__all__ = ["catalogue"]


def _years(first: int, last: int | None) -> str:
    return f"{first}-{last}" if last is not None else f"{first}-"


@click.group()
def catalogue() -> None:
    """Read the variable catalogue (quality/catalogue/*.yaml) and build its docs."""


@catalogue.command("list")
def list_() -> None:
    """List the registers in the catalogue."""
    table = Table("register", "label", "holder", "years", "variables", "version")
    for name in registers():
        reg = load(name)
        table.add_row(
            name,
            reg.label_en,
            reg.holder,
            _years(reg.first_year, reg.last_year),
            str(len(reg.variables)),
            reg.version,
        )
    console().print(table)


@catalogue.command()
@click.argument("register")
@click.option("--year", type=int, help="Only the variables that exist in this year.")
def show(register: str, year: int | None) -> None:
    """Show the variables of REGISTER (optionally those existing in one year)."""
    reg = load(register)
    variables = reg.variables_in(year) if year is not None else reg.variables
    title = f"{reg.name}: {reg.label_en}" + (f" ({year})" if year is not None else "")
    table = Table("variable", "label", "type", "unit", "class", "years", "codes", title=title)
    for v in variables:
        if v.codes is None:
            codes = ""
        else:
            n = len(v.codes_in(year)) if year is not None else len(v.codes.codes)
            codes = f"{n}{' (ref ' + v.codes.ref + ')' if v.codes.ref else ''}"
            codes += " provisional" if v.codes.provisional else ""
        table.add_row(
            v.name,
            v.label_en,
            v.type,
            v.unit or "",
            v.identifier_class,
            _years(v.first_year, v.last_year),
            codes,
        )
    console().print(table)


@catalogue.command()
@click.argument("register")
def history(register: str) -> None:
    """Show the history of REGISTER: variables and codes introduced and retired, and
    documented changes, each with its year and source."""
    reg = load(register)
    table = Table("year", "change", "what", "sources", title=f"{reg.name}: history")
    for event in reg.history():
        table.add_row(
            str(event.year),
            event.kind.replace("_", " "),
            event.description,
            ", ".join(event.sources),
        )
    console().print(table)


@catalogue.command()
@click.option(
    "--out",
    "out",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Directory for the HTML pages (replaced whole).",
)
def docs(out: Path) -> None:
    """Write one offline HTML page per register (variable table and history timeline)."""
    from mikrodata.quality.catalogue_docs import build_docs

    index = build_docs(out)
    click.echo(f"catalogue docs written: {index}")
