"""``mikrodata extract risk``: the re-identification risk of an extract, built or planned."""

from __future__ import annotations

import json
from pathlib import Path

import click

__all__ = ["risk"]


def _names(value: str | None) -> list[str] | None:
    return None if value is None else [v.strip() for v in value.split(",") if v.strip()]


@click.command()
@click.argument(
    "directory", required=False, type=click.Path(file_okay=False, exists=True, path_type=Path)
)
@click.option(
    "--request",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="A planned extract: the access request (with --registers).",
)
@click.option(
    "--registers",
    "registers_dir",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="The raw delivery the planned extract is selected from.",
)
@click.option(
    "--k",
    "k",
    type=click.IntRange(1),
    default=5,
    show_default=True,
    help="Count classes smaller than this.",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Folder for risk.json and risk.html.",
)
@click.option("--qi", help="Quasi-identifiers, comma-separated (default: the catalogue's).")
@click.option(
    "--sensitive", help="Sensitive variables, comma-separated (default: the catalogue's)."
)
@click.option(
    "--sample",
    type=click.IntRange(1),
    default=10_000,
    show_default=True,
    help="Persons sampled for unicity.",
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--coarsen", is_flag=True, help="Search for the least coarsening that meets the risk rules."
)
@click.option(
    "--min-k",
    type=click.IntRange(1),
    help="Target k (default: the request's output_rules.risk.min_k, else --k).",
)
@click.option(
    "--max-unicity",
    type=click.FloatRange(0, 1),
    help="Target unicity at 4 points (default: the request's output_rules.risk).",
)
@click.option("--suda", is_flag=True, help="Add SUDA scores (needs the optional suda package).")
@click.option("--json", "as_json", is_flag=True, help="Print risk.json's summary as JSON.")
def risk(
    directory: Path | None,
    request: Path | None,
    registers_dir: Path | None,
    k: int,
    out: Path,
    qi: str | None,
    sensitive: str | None,
    sample: int,
    seed: int,
    coarsen: bool,
    min_k: int | None,
    max_unicity: float | None,
    suda: bool,
    as_json: bool,
) -> None:
    """Measure the re-identification risk of the extract in DIRECTORY, or of the one a
    request would build (--request FILE --registers DIR): k-anonymity, persons below k,
    l-diversity, trajectory k and unicity. Writes OUT/risk.json and OUT/risk.html
    (counts only, never rows)."""
    from mikrodata.toolkit.risk import extract_risk

    doc = extract_risk(
        out=out,
        extract=directory,
        request=request if directory is None else None,
        registers=registers_dir,
        k=k,
        quasi_identifiers=_names(qi),
        sensitive=_names(sensitive),
        sample=sample,
        seed=seed,
        coarsen=coarsen,
        min_k=min_k,
        max_unicity=max_unicity,
        suda=suda,
    )
    keys = ("persons", "records", "k", "persons_below_k", "records_below_k", "unicity")
    summary = {key: doc[key] for key in keys} | {"trajectory_k": doc["trajectory"]["k"]}
    if "search" in doc:
        summary["coarsening_reached"] = doc["search"]["reached"]
        summary["steps"] = doc["search"]["steps"]
        summary["after_coarsening"] = {key: doc["after_coarsening"][key] for key in keys}
    if as_json:
        click.echo(json.dumps(summary, indent=2, sort_keys=True))
        return
    click.echo(
        f"{doc['persons']} persons, {doc['records']} records: k = {doc['k']}, "
        f"{doc['persons_below_k']} persons in classes smaller than {k}; trajectory k = "
        f"{doc['trajectory']['k']}"
    )
    click.echo(
        "  unicity by points: "
        + ", ".join(f"{p}: {'-' if u is None else f'{u:.3f}'}" for p, u in doc["unicity"].items())
    )
    if "search" in doc:
        s = doc["search"]
        reached = "reached" if s["reached"] else "NOT reached"
        click.echo(f"  coarsening: {len(s['steps'])} step(s), target {reached}")
        for a in s["applied"]:
            click.echo(
                f"    {a['description']}: k = {a['after']['k']}, "
                f"{a['after']['persons_below_k']} persons below"
            )
    click.echo(f"  report: {out / 'risk.html'}, {out / 'risk.json'}")
