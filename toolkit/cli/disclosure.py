"""``mikrodata disclosure``: check a table of a Parquet or CSV file against the rules.

Exit code 17 when the table breaks a rule and ``--mitigation none`` was asked for, or
when its check fails (an audit or differencing failure).
"""

from __future__ import annotations

import json
from pathlib import Path

import click

__all__ = ["disclosure"]


def _read(path: Path):
    import pandas as pd

    from mikrodata.toolkit.errors import BadInputError

    if path.suffix.lower() == ".parquet":
        return pd.read_parquet(path)
    if path.suffix.lower() == ".csv":
        return pd.read_csv(path, dtype=str)  # codes stay codes ("0114", not 114)
    raise BadInputError(f"{path.name}: not a .parquet or .csv file", "Give a Parquet or CSV file")


def _rules(profile: str | None, request: Path | None):
    from mikrodata.toolkit.disclosure import Rules

    if request is not None:
        return Rules.from_request(request)
    return Rules.profile(profile or "acro")


@click.group()
def disclosure() -> None:
    """Disclosure checks of tables: rules, secondary suppression, the exact audit."""


@disclosure.command()
@click.argument("data", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--index", "index", required=True, multiple=True, help="Row variable(s).")
@click.option(
    "--columns", "columns", multiple=True, help="Column variable(s); none: a frequency table."
)
@click.option("--unit", default=None, help="The pseudonym column counted (default: lopnr).")
@click.option("--counts", default=None, help="The data is an aggregate table: its count column.")
@click.option("--profile", type=click.Choice(["acro", "opensafely"]), help="Named rules.")
@click.option(
    "--request",
    "request",
    type=click.Path(exists=True, path_type=Path),
    help="Take the rules from this access request.",
)
@click.option(
    "--mitigation",
    type=click.Choice(["suppress", "round", "none"]),
    help="What to do with cells that break a rule (default: the rules').",
)
@click.option(
    "--lan", "lan", multiple=True, help="Dimension(s) of kommun codes to group by county."
)
@click.option("--json", "as_json", is_flag=True, help="The published table and record as JSON.")
def check(data, index, columns, unit, counts, profile, request, mitigation, lan, as_json) -> None:
    """Check a cross table (or, without --columns, a frequency table) of DATA."""
    from mikrodata.toolkit.disclosure import LAN, crosstab, frequency
    from mikrodata.toolkit.errors import DisclosureError

    frame = _read(data)
    if counts:
        import pandas as pd

        frame[counts] = pd.to_numeric(frame[counts])
    rules = _rules(profile, request)
    hierarchy = {d: LAN for d in lan}
    kwargs = dict(unit=unit, rules=rules, mitigation=mitigation, hierarchy=hierarchy, counts=counts)
    if columns:
        table = crosstab(frame, list(index), list(columns), **kwargs)
    else:
        table = frequency(frame, list(index), **kwargs)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "status": table.status,
                    "published": json.loads(table.published.to_json(orient="split")),
                    "record": table.record.summary(),
                },
                indent=2,
            )
        )
    else:
        click.echo(table.published.to_string())
        click.echo(f"status: {table.status}; {table.record.counts() or 'no cell hit'}")
    if table.status == "fail":
        raise DisclosureError(
            "the table failed its disclosure check: " + "; ".join(table.record.notes),
            "Make the table coarser, or do not release it",
        )
