"""``mikrodata pseudonymise``: replace identifier columns of a file by project
pseudonyms, streaming, with a reject file beside the output."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path
from typing import Any

import click

from mikrodata.pseudonymisation import pseudonymise_file
from mikrodata.toolkit.cli.delivery_options import delivery_options, engine_option
from mikrodata.toolkit.cli.keys import keystore_option, log_option, open_keystore
from mikrodata.toolkit.errors import BadInputError

__all__ = ["pseudonymise"]


def _columns(
    column: tuple[str, ...],
    domain: tuple[str, ...],
    register: str | None,
    available: list[str],
) -> dict[str, str]:
    mapping = {c: "person" for c in column}
    for item in domain:
        name, sep, value = item.partition("=")
        if not sep or not name or not value:
            raise BadInputError(
                f"--domain {item!r} is not COLUMN=DOMAIN", "e.g. hushallsid=household"
            )
        mapping[name] = value
    if register:
        from mikrodata.quality.catalogue import load

        for variable in load(register).direct_identifiers():
            if variable.name in available:
                mapping.setdefault(variable.name, variable.identifier_domain or "person")
    if not mapping:
        raise BadInputError(
            "no identifier column given", "name them with --column/--domain or use --register"
        )
    return mapping


def _write_unreadable(delivery, out_path: Path) -> Path | None:
    """Rows the reader could not use (wrong type, broken line), steward side (0600):
    ``<out>.unreadable.parquet`` beside the output, only when there are any."""
    import pyarrow.parquet as pq

    from mikrodata.toolkit.atomic import atomic_file

    table = delivery.reject_table()
    if not table.num_rows:
        return None
    path = out_path.with_name(f"{out_path.stem}.unreadable.parquet")
    with atomic_file(path, mode=0o600) as tmp:
        pq.write_table(table, tmp)
    return path


@click.command()
@click.option("--project", required=True, help="Project id whose key to use.")
@click.option(
    "--in",
    "in_path",
    required=True,
    type=click.Path(path_type=Path),
    help="Input file: .parquet, .csv/.txt/.tsv, .dat (fixed width, with --layout), "
    ".sas7bdat, .xpt, .dta or .sav (docs/deliveries.md).",
)
@click.option(
    "--out",
    "out_path",
    required=True,
    type=click.Path(path_type=Path),
    help="Output file (.parquet or .csv); rejects go to <out>.rejected.<suffix>.",
)
@click.option("--column", multiple=True, help="A personnummer column (repeatable).")
@click.option(
    "--domain",
    multiple=True,
    metavar="COLUMN=DOMAIN",
    help="Another identifier column and its domain, e.g. hushallsid=household.",
)
@click.option(
    "--register",
    default=None,
    help="Also pseudonymise the direct identifiers the catalogue names for this "
    "register (those present in the file).",
)
@keystore_option
@click.option("--key-version", type=int, default=None, help="Key version (default: current).")
@click.option(
    "--reference-date",
    default=None,
    metavar="YYYY-MM-DD",
    help="Date that resolves the century of 10-digit numbers (default: today); use "
    "the delivery date.",
)
@delivery_options
@click.option("--allow-interim", is_flag=True, help="Accept interim numbers (rejected by default).")
@click.option(
    "--allow-null",
    multiple=True,
    metavar="COLUMN",
    help="Let this identifier column be empty (kept empty, not rejected).",
)
@click.option(
    "--rejects-with-identifiers",
    is_flag=True,
    help="Keep the raw identifiers of rejected rows in the reject file (steward only).",
)
@click.option("--batch-size", type=click.IntRange(1000), default=1_000_000, show_default=True)
@engine_option(
    "--in is Parquet (a file or a dataset folder) and --out and the rejects become "
    "Parquet dataset folders"
)
@log_option
def pseudonymise(
    project: str,
    in_path: Path,
    out_path: Path,
    column: tuple[str, ...],
    domain: tuple[str, ...],
    register: str | None,
    keystore: Path | None,
    key_version: int | None,
    reference_date: str | None,
    read_options: Any,
    allow_interim: bool,
    allow_null: tuple[str, ...],
    rejects_with_identifiers: bool,
    batch_size: int,
    engine: str,
    log: Path | None,
) -> None:
    """Replace identifier columns by project pseudonyms (HMAC-SHA256, 16 hex
    characters). Ends with rows in / out / rejected."""
    ref = None
    if reference_date:
        try:
            ref = dt.date.fromisoformat(reference_date)
        except ValueError:
            raise BadInputError("--reference-date is not a date", "use YYYY-MM-DD") from None
    if engine == "spark":
        if rejects_with_identifiers:
            raise BadInputError(
                "--rejects-with-identifiers is not available with --engine spark",
                "run without it, or pseudonymise this file with --engine duckdb",
            )
        from .pseudonymise_spark import read_delivery, write_result

        frame = read_delivery(in_path, out_path)
        columns = _columns(column, domain, register, list(frame.columns))
        store = open_keystore(keystore)
        key = store.project_key(project, key_version)
        from mikrodata.pseudonymisation import pseudonymise_spark

        result = write_result(
            pseudonymise_spark(
                frame,
                key,
                columns,
                ref,
                allow_interim=allow_interim,
                allow_null=allow_null,
                source=in_path.name,
            ),
            out_path,
        )
        unreadable, rows_unreadable = None, 0  # Spark reads Parquet only
    else:
        if not in_path.is_file():
            raise BadInputError(f"no input file {in_path}", "check the path")
        # The one delivery reader opens every format (typed by the catalogue with --register).
        from mikrodata.quality.delivery import open_delivery

        delivery = open_delivery(
            in_path, register, dataclasses.replace(read_options, batch_rows=batch_size)
        )
        columns = _columns(column, domain, register, delivery.schema.names)
        store = open_keystore(keystore)
        key = store.project_key(project, key_version)
        result = pseudonymise_file(
            in_path,
            out_path,
            key,
            columns,
            reference_date=ref,
            encoding=read_options.encoding,
            batch_size=batch_size,
            allow_interim=allow_interim,
            allow_null=allow_null,
            rejects_with_identifiers=rejects_with_identifiers,
            source=(delivery.schema, delivery.batches()),
        )
        unreadable = _write_unreadable(delivery, result.out_path)
        rows_unreadable = delivery.rows_rejected
    # A passphrase holder can pseudonymise any list of people under a project's key: the
    # trail says who did, what file, how many.
    from mikrodata.access_requests import AuditLog

    AuditLog(log).append(
        "pseudonymised",
        project=project,
        details={
            "input": in_path.name,
            "out": str(result.out_path.resolve()),
            "key_id": result.key_id,
            "columns": columns,
            "rows_in": result.rows_in,
            "rows_out": result.rows_out,
            "rows_rejected": result.rows_rejected,
            "rows_unreadable": rows_unreadable,
            "distinct": result.distinct,
        },
        signer=store,
    )
    pairs = ", ".join(f"{c} ({d})" for c, d in columns.items())
    click.echo(f"pseudonymised {pairs} with key {result.key_id}")
    click.echo(f"output: {result.out_path}")
    click.echo(f"rejects: {result.reject_path}")
    if unreadable is None:
        click.echo(result.summary())
    else:  # rows in = rows out + rejected + unreadable
        click.echo(f"unreadable rows: {unreadable}")
        click.echo(
            f"rows in {result.rows_in + delivery.rows_rejected} / out {result.rows_out} / "
            f"rejected {result.rows_rejected} / unreadable {rows_unreadable}"
        )
