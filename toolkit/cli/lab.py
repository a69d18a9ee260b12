"""``mikrodata lab``: the researcher's hardened JupyterLab, and its self-check."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import time
from pathlib import Path

import click

from mikrodata.toolkit.errors import BadInputError, MikrodataError
from mikrodata.toolkit.lab.selfcheck import CHECKS

from ._output import console

__all__ = ["lab"]


@click.group()
def lab() -> None:
    """The secure JupyterLab: start it for one project, probe a running one.

    A setting of JupyterLab is not a security boundary: see docs/lab.md for what is.
    """


def _target(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit():
        raise BadInputError(f"--target {value} is not HOST:PORT", "For example 127.0.0.1:5432")
    return host.strip("[]"), int(port)


@lab.command()
@click.option(
    "--project",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="The project folder: extract/ (read-only), outputs/, notebooks/.",
)
@click.option("--port", type=int, default=8888, show_default=True, help="Port on 127.0.0.1.")
@click.option(
    "--isolation",
    type=click.Choice(["auto", "required", "netns", "userns", "none"]),
    default="auto",
    show_default=True,
    help="How kernels are kept off the network; 'required' refuses kernels without it.",
)
@click.option(
    "--dummy-extract",
    "dummy_request",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="When the project has no extract/ yet, build a dummy one for this request.",
)
@click.option(
    "--notebooks",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="Copy the notebooks of this folder into the project (those not there yet).",
)
def start(
    project: Path,
    port: int,
    isolation: str,
    dummy_request: Path | None,
    notebooks: Path | None,
) -> None:
    """Start JupyterLab for PROJECT on 127.0.0.1, hardened; stop it with Ctrl-C.

    The token is $JUPYTER_TOKEN when set, else a fresh random one (printed once).
    """
    from mikrodata.toolkit.lab.kernels import detect_isolation
    from mikrodata.toolkit.lab.server import LabServer

    project.mkdir(parents=True, exist_ok=True)
    if dummy_request is not None and not (project / "extract").exists():
        from mikrodata.toolkit.extract import build_dummy_extract

        build_dummy_extract(dummy_request, project / "extract")
        click.echo(f"dummy extract built for {dummy_request.name}: {project / 'extract'}")
    if notebooks is not None:
        (project / "notebooks").mkdir(exist_ok=True)
        for nb in sorted(notebooks.glob("*.ipynb")):
            if not (project / "notebooks" / nb.name).exists():
                shutil.copy2(nb, project / "notebooks" / nb.name)
    iso = detect_isolation("auto" if isolation == "required" else isolation)
    if isolation == "required" and not iso.enforced:
        raise MikrodataError(
            f"kernel network isolation is required but not available: {iso.reason}",
            "Run on Linux with util-linux's unshare and user namespaces allowed",
        )
    server = LabServer(
        project, port=port, token=os.environ.get("JUPYTER_TOKEN"), isolation=isolation
    )
    # A stop by signal (make, systemd, a test) goes through stop() too, kernels and all.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    server.start()
    click.echo(f"JupyterLab for {server.project}")
    click.echo(f"  open:    {server.url}?token={server.token}")
    click.echo(
        f"  kernels: network isolation {iso.mechanism}" + (f" ({iso.reason})" if iso.reason else "")
    )
    click.echo(f"  check:   mikrodata lab selfcheck {server.base_url} --token <token>")
    try:
        while server.process is not None and server.process.poll() is None:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


@lab.command()
@click.argument("url")
@click.option(
    "--token", envvar="JUPYTER_TOKEN", required=True, help="The server's token ($JUPYTER_TOKEN)."
)
@click.option(
    "--target",
    "targets",
    multiple=True,
    help="HOST:PORT a kernel must not reach (repeatable; the server's own address is "
    "always tried).",
)
@click.option(
    "--only",
    multiple=True,
    type=click.Choice(CHECKS),
    help="Run only this check (repeatable).",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON document instead of a table.")
def selfcheck(
    url: str, token: str, targets: tuple[str, ...], only: tuple[str, ...], as_json: bool
) -> None:
    """Probe the JupyterLab server at URL and report each hardening property.

    Exit code 0 when none fails ('residual' is a known gap, reported, not a failure).
    """
    from mikrodata.toolkit.lab.selfcheck import selfcheck as run

    checks = run(url, token, targets=[_target(t) for t in targets], only=only or None)
    failed = [c for c in checks if c.status == "fail"]
    if as_json:
        click.echo(
            json.dumps(
                {"url": url, "checks": [c.as_dict() for c in checks], "ok": not failed}, indent=2
            )
        )
    else:
        from rich.table import Table

        table = Table("check", "status", "expected", "observed")
        for c in checks:
            table.add_row(c.name, c.status, c.expected, c.observed)
        console().print(table)
    if failed:
        raise MikrodataError(
            f"{len(failed)} of {len(checks)} lab checks failed: "
            + ", ".join(c.name for c in failed),
            "See docs/lab.md for each property and how it is enforced",
        )


@lab.command("hub-config")
def hub_config() -> None:
    """Print the path of the JupyterHub configuration file: jupyterhub -f "$(mikrodata lab
    hub-config)". Its settings come from MIKRODATA_HUB_* variables (docs/lab.md)."""
    from mikrodata.toolkit import lab as package

    click.echo(Path(package.__file__).parent / "configs" / "jupyterhub_config.py")
