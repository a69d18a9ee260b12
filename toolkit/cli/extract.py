"""``mikrodata extract``: build, verify and mock project extracts."""

from __future__ import annotations

from pathlib import Path

import click

from mikrodata.access_requests import AuditLog
from mikrodata.toolkit.cli.delivery_options import delivery_options, engine_option

__all__ = ["extract"]

_log_opt = click.option(
    "--log",
    "log",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Audit log (default: $MIKRODATA_AUDIT_LOG or $MIKRODATA_HOME/audit.jsonl).",
)
_user_opt = click.option(
    "--user", help="Declare who does this (tests and the demo only; default: your account)."
)
_request_opt = click.option(
    "--request",
    "request",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    required=True,
    help="The project's access request (YAML).",
)


_format_opt = click.option(
    "--format",
    "formats",
    multiple=True,
    metavar="FORMAT",
    help="Also write each register inside the extract as parquet|stata|sas-xpt|spss|csv "
    "(repeat, or a comma list; default: parquet only, which is always written). The copies "
    'are signed in the manifest (docs/deliveries.md, "Formats out").',
)
_labels_opt = click.option(
    "--labels",
    type=click.Choice(["en", "sv"]),
    default="en",
    show_default=True,
    help="Language of the catalogue's variable and value labels in Stata and SPSS copies.",
)


def _echo_exports(manifest: dict) -> None:
    for name, r in manifest["registers"].items():
        for e in r.get("exports", ()):
            click.echo(f"  {name}: {e['format']} copy {e['path']} ({e['rows']} rows)")
            if e.get("value_labels"):
                click.echo(f"    value labels: {', '.join(e['value_labels'])}")
            if e.get("strings_kept"):
                click.echo(
                    f"    kept as strings (codes with leading zeros; no value labels): "
                    f"{', '.join(e['strings_kept'])}"
                )
            if e.get("names"):
                renamed = ", ".join(f"{k}->{v}" for k, v in e["names"].items())
                click.echo(f"    SAS names (8 characters): {renamed}")


@click.group()
def extract() -> None:
    """Project extracts: only approved registers, variables, years and population, with
    personnummer replaced by project pseudonyms; a manifest with checksums; audited."""


@extract.command()
@_request_opt
@click.option(
    "--registers",
    "registers_dir",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    required=True,
    help="Delivered registers: DIR/<register>/... or DIR/<register>.<suffix>, in any "
    "delivery format (docs/deliveries.md).",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="The extract directory (replaced whole, atomically).",
)
@click.option(
    "--keystore",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Key store (default: $MIKRODATA_KEYSTORE); passphrase from "
    "$MIKRODATA_KEYSTORE_PASSPHRASE.",
)
@click.option(
    "--rejects",
    type=click.Path(file_okay=False, path_type=Path),
    help="Steward-side folder for rejected rows, outside the extract "
    "(default: $MIKRODATA_HOME/rejects/<project>).",
)
@_format_opt
@_labels_opt
@engine_option(
    "Parquet deliveries only, no coarsening", spark_does="select, pseudonymise and sort on "
)
@_user_opt
@_log_opt
@delivery_options
def build(
    request: Path,
    registers_dir: Path,
    out: Path,
    keystore: Path | None,
    rejects: Path | None,
    formats: tuple[str, ...],
    labels: str,
    engine: str,
    user: str | None,
    log: Path | None,
    read_options,
) -> None:
    """Build the extract of an approved request."""
    from mikrodata.toolkit.extract import build_extract
    from mikrodata.toolkit.extract.formats import parse_formats

    wanted = parse_formats(formats)  # an unknown format is refused before the key store

    spark = None
    if engine == "spark":
        from .pseudonymise_spark import spark_session

        spark = spark_session()
    result = build_extract(
        request,
        registers_dir,
        out,
        keystore=keystore,
        rejects=rejects,
        user=user,
        audit=AuditLog(log),
        read_options=read_options,
        formats=wanted,
        labels=labels,
        engine=engine,
        spark=spark,
    )
    m = result.manifest
    click.echo(f"extract of {m['project']} written to {out} (key {m['key']['key_id']})")
    for name, r in m["registers"].items():
        click.echo(
            f"  {name}: {r['rows_in']} rows in, {r['rows_out']} out, {r['rows_rejected']} "
            f"rejected ({r['rows_outside_population']} outside the population)"
        )
        if "delivery" in r:
            d = r["delivery"]
            click.echo(
                f"  {name}: read from {d['format']}, {d['rows_unreadable']} of "
                f"{d['rows_in']} rows unreadable (rejected with their reason)"
            )
        missing = sorted(set(r["years"]) - set(r["years_found"]))
        if missing:
            click.echo(f"  warning: {name} has no rows in approved year(s) {missing}")
    for c in m.get("coarsening", []):
        click.echo(f"  coarsened {c['register']}: {c['description']} ({c['cells_changed']} cells)")
    _echo_exports(m)
    click.echo(f"  population: {m['population']['persons']} persons; rejects: {result.rejects}")
    click.echo(f"  manifest sha256 {result.manifest_sha256}")


@extract.command()
@click.argument("directory", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option(
    "--request",
    "request",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Also check the extract against this approval.",
)
@_user_opt
@_log_opt
def verify(directory: Path, request: Path | None, user: str | None, log: Path | None) -> None:
    """Check DIRECTORY against its manifest (and the audit log, and the approval)."""
    from mikrodata.toolkit.extract import verify_extract

    result = verify_extract(directory, request=request, user=user, audit=AuditLog(log))
    if result.dummy:
        click.echo(
            f"dummy extract ok: {result.files} files of project {result.project} match its "
            "manifest (synthetic data, signed by a throw-away key: no release can come from it)"
        )
        return
    click.echo(
        f"extract ok: {result.files} files of project {result.project} match the manifest, "
        f"signed by steward key {result.signed_by}; everything in it is inside the signed "
        "approval"
    )
    if result.approval_checked:
        click.echo("gate ok: the request's current approval is the one it was built under")


@extract.command()
@_request_opt
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True)
@click.option(
    "--persons",
    type=click.IntRange(1, 1_000_000),
    default=2000,
    show_default=True,
    help="People in the synthetic population the dummy is drawn from.",
)
@click.option("--seed", type=int, default=0, show_default=True)
@_format_opt
@_labels_opt
@_user_opt
@_log_opt
def dummy(
    request: Path,
    out: Path,
    persons: int,
    seed: int,
    formats: tuple[str, ...],
    labels: str,
    user: str | None,
    log: Path | None,
) -> None:
    """Write a synthetic extract with the approved shape, for writing notebooks."""
    from mikrodata.toolkit.extract import build_dummy_extract

    result = build_dummy_extract(
        request,
        out,
        persons=persons,
        seed=seed,
        user=user,
        audit=AuditLog(log),
        formats=formats,
        labels=labels,
    )
    rows = ", ".join(
        f"{r['rows_out']:,} rows of {n}" for n, r in result.manifest["registers"].items()
    )
    click.echo(
        f"dummy extract of project {result.manifest['project']} written to {out}: {rows} "
        f"(a synthetic population of {persons:,}, seed {seed}); it has the approved shape "
        "and holds no register data"
    )
    _echo_exports(result.manifest)


# The risk sub-command lives in its own module (mikrodata extract risk).
from mikrodata.toolkit.cli.risk import risk  # noqa: E402

extract.add_command(risk)
