"""``mikrodata quality``: expectation suites, missingness and variable history."""

from __future__ import annotations

from pathlib import Path

import click

from mikrodata.toolkit.cli.aliases import RequiredByAlias, deprecated_alias
from mikrodata.toolkit.cli.delivery_options import delivery_options

__all__ = ["quality"]

_register = click.option("--register", "-r", required=True, help="Register name in the catalogue.")
_DATA = click.Path(exists=True, path_type=Path)


def _in(func):
    """``--in`` (required), the data read; ``--data`` its old, hidden spelling."""
    func = click.option(
        "--in",
        "in_path",
        cls=RequiredByAlias,
        type=_DATA,
        default=None,
        help="A delivery: a file (.parquet, .csv, .dat with a layout, .sas7bdat, .xpt, "
        ".dta, .sav) or a directory DIR/<register>/... (docs/deliveries.md).",
    )(func)
    return deprecated_alias("--data", "--in", "in_path", type=_DATA)(func)


_out = click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Output directory (replaced whole).",
)


@click.group()
def quality() -> None:
    """Quality review: expectation suites from the catalogue, missingness, variable
    history."""


@quality.command()
@_register
@_in
@click.option("--year", type=int, help="Only this statistical year.")
@click.option(
    "--extract",
    is_flag=True,
    help="The data is a pseudonymised extract: check pseudonym format, not personnummer.",
)
@_out
@click.option(
    "--batch-rows",
    type=click.IntRange(min=1000),
    default=None,
    help="Rows per validation batch within a year (default 2,000,000).",
)
@delivery_options
def run(
    register: str,
    in_path: Path,
    year: int | None,
    extract: bool,
    out: Path,
    batch_rows: int | None,
    read_options,
) -> None:
    """Validate a delivery or extract; write review.html, Data Docs and
    summary.md/summary.json.

    Exit code 15 only when a critical expectation fails (warnings and info: 0).
    """
    from mikrodata.quality.delivery.stage import staging
    from mikrodata.quality.run import BATCH_ROWS, run_quality

    with staging(options=read_options):
        report = run_quality(
            register,
            in_path,
            out,
            year=year,
            extract=extract,
            batch_rows=batch_rows or BATCH_ROWS,
            raise_on_failure=False,
        )
    click.echo(
        f"{report.register} ({report.mode}): {report.rows:,} rows, years "
        f"{', '.join(map(str, report.years))}; {len(report.outcomes)} expectations, "
        f"{len(report.failures)} failed, {len(report.critical_failures)} critical"
    )
    for o in report.failures:
        click.echo(
            f"  {o.severity.upper() if o.critical else o.severity:8} {o.year} {o.check} "
            f"{o.variable or ''}: {o.unexpected_count:,} unexpected"
        )
    click.echo(
        f"review: {out / 'review.html'}; summary: {out / 'summary.md'}; "
        f"Data Docs: {out / 'data_docs' / 'index.html'}"
    )
    if report.critical_failures:
        from mikrodata.toolkit.errors import QualityFailure

        raise QualityFailure(
            f"{len(report.critical_failures)} critical expectation(s) failed",
            f"Read {out / 'summary.md'}",
        )


@quality.command()
@_register
@_in
@_out
@delivery_options
def missingness(register: str, in_path: Path, out: Path, read_options) -> None:
    """Structural versus item missingness per variable, year and kommun, with a
    heatmap."""
    from mikrodata.quality.delivery.stage import staging
    from mikrodata.quality.missingness import write_missingness

    with staging(options=read_options):
        report = write_missingness(register, in_path, out)
    by = report.by_year
    click.echo(
        f"{register}: {by['variable'].nunique()} variables x {by['year'].nunique()} years; "
        f"item missing {int(by['item'].sum()):,}, structural {int(by['structural'].sum()):,} "
        f"values; report in {out}"
    )


@quality.command()
@_register
@_in
@_out
@delivery_options
def history(register: str, in_path: Path, out: Path, read_options) -> None:
    """Documented vs observed variable history; breaks documented or flagged."""
    from mikrodata.quality.delivery.stage import staging
    from mikrodata.quality.history_report import write_history

    with staging(options=read_options):
        report = write_history(register, in_path, out)
    b = report.breaks
    click.echo(
        f"{register}: {len(b)} breaks, {int(b['documented'].sum())} documented, "
        f"{len(report.flagged)} flagged for review; report in {out}"
    )
    for _, r in report.flagged.head(20).iterrows():
        click.echo(f"  review {r['year']} {r['variable']} {r['kind']}: {r['detail']}")


@quality.command()
@click.argument("run_dir", metavar="RUN", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--request",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The access request whose data stewards may sign off (the delivery's project).",
)
@click.option("--verdict", required=True, type=click.Choice(["accepted", "rejected"]))
@click.option("--comment", default="", help="Why: e.g. which warnings were looked at and why.")
@click.option("--user", help="Declare who signs (tests and the demo only; default: your account).")
@click.option(
    "--log",
    "log",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Audit log (default: $MIKRODATA_AUDIT_LOG or $MIKRODATA_HOME/audit.jsonl).",
)
@click.option(
    "--keystore",
    "keystore",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Key store file (default: $MIKRODATA_KEYSTORE or $MIKRODATA_HOME/keystore).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the audit event as JSON.")
def signoff(
    run_dir: Path,
    request: Path,
    verdict: str,
    comment: str,
    user: str | None,
    log: Path | None,
    keystore: Path | None,
    as_json: bool,
) -> None:
    """Sign off the quality run in RUN (the --out of `quality run`): a signed audit event.

    Only a data steward of the request's project who is not one of its researchers may
    sign; a run with a critical failure can only be rejected.
    """
    import json

    from mikrodata.access_requests import AuditLog
    from mikrodata.quality.signoff import sign_off
    from mikrodata.toolkit.cli.keys import open_keystore

    event = sign_off(
        run_dir,
        request=request,
        verdict=verdict,
        comment=comment,
        user=user,
        audit=AuditLog(log),
        # Opened (its passphrase asked for) only once the sign-off is allowed.
        signer=lambda: open_keystore(keystore),
    )
    if as_json:
        click.echo(json.dumps(event, indent=2))
    else:
        d = event["details"]
        click.echo(
            f"{d['register']} signed off by {event['user']}: {d['verdict']} "
            f"(audit event {event['seq']}, signed)"
        )
