"""Start the hardened JupyterLab for one project folder.

A project folder holds ``extract/`` (the project extract, read-only), ``outputs/``
(where tables and figures go before an output request) and ``notebooks/``. The server
gets a configuration generated for it (:mod:`mikrodata.toolkit.lab.config`) in a private
folder of its own, as its only user configuration: nothing from ``~/.jupyter`` applies.
The token comes from the environment, never from the command line, where ``ps`` would
show it to every account on the machine.

Example::

    with LabServer(Path("my-project")) as lab:
        print(lab.url, lab.token)     # http://127.0.0.1:PORT/lab, a fresh random token
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType

import httpx

from mikrodata.toolkit.errors import BadInputError, MikrodataError

from .config import PROJECT_LAYOUT, write_config_dir

__all__ = ["LabServer", "free_port", "prepare_project", "protect_extract"]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def protect_extract(extract: Path) -> int:
    """Take away write permission from every file and folder of ``extract``; return how
    many were changed. (For root this stops nothing: production servers run as one
    unprivileged account per researcher, with the extract mounted read-only.)"""
    changed = 0
    for path in [extract, *extract.rglob("*")]:
        mode = path.lstat().st_mode
        if stat.S_ISLNK(mode) or not mode & 0o222:
            continue
        path.chmod(stat.S_IMODE(mode) & ~0o222)
        changed += 1
    return changed


def prepare_project(project: Path) -> Path:
    """Check the project folder, create ``outputs/`` and ``notebooks/`` in it when
    missing, make its extract read-only; return its resolved path."""
    project = Path(project).resolve()
    if not project.is_dir():
        raise BadInputError(
            f"project folder {project} does not exist",
            "Give the folder that holds the project's extract/ (mikrodata lab start --project DIR)",
        )
    for name in ("outputs", "notebooks"):
        (project / PROJECT_LAYOUT[name]).mkdir(exist_ok=True)
    extract = project / PROJECT_LAYOUT["extract"]
    if extract.is_dir():
        protect_extract(extract)
    return project


class LabServer:
    """A hardened JupyterLab server for ``project`` on 127.0.0.1 (a context manager).

    ``port``: a free one when omitted; ``token``: a fresh random one when omitted;
    ``isolation``: kernel isolation (``auto``, ``required``, ``netns``, ``userns``,
    ``none``); ``env``: extra environment for the server and its kernels.
    """

    def __init__(
        self,
        project: Path,
        *,
        port: int | None = None,
        token: str | None = None,
        isolation: str = "auto",
        env: dict[str, str] | None = None,
    ) -> None:
        self.project = prepare_project(project)
        self.port = port or free_port()
        self.token = token or secrets.token_hex(24)
        self.isolation = isolation
        self.extra_env = env or {}
        self.process: subprocess.Popen[bytes] | None = None
        self._state: Path | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.base_url}/lab"

    @property
    def log_path(self) -> Path | None:
        return self._state / "server.log" if self._state else None

    def command(self) -> list[str]:
        return [sys.executable, "-m", "jupyterlab", f"--ServerApp.port={self.port}"]

    def environment(self, state: Path) -> dict[str, str]:
        env = {**os.environ, **self.extra_env}
        env.update(
            JUPYTER_CONFIG_DIR=str(state / "config"),
            JUPYTER_CONFIG_PATH=str(state / "config"),
            JUPYTER_RUNTIME_DIR=str(state / "runtime"),
            JUPYTER_TOKEN=self.token,
            JUPYTER_PLATFORM_DIRS="1",
        )
        env.pop("JUPYTER_NO_CONFIG", None)
        return env

    def start(self, timeout: float = 90.0) -> LabServer:
        """Start the server and wait until it answers."""
        self._state = Path(tempfile.mkdtemp(prefix="mkd-lab-"))
        write_config_dir(self._state / "config", self.project, isolation=self.isolation)
        (self._state / "runtime").mkdir(mode=0o700)
        log = open(self._state / "server.log", "wb")  # noqa: SIM115 (closed in stop)
        self.process = subprocess.Popen(
            self.command(),
            cwd=self._state,  # never the project: a config file there would be read
            env=self.environment(self._state),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self._log = log
        self._wait(timeout)
        return self

    def _wait(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise MikrodataError(
                    f"JupyterLab exited with code {self.process.returncode}",
                    f"See its log: {self.log_path}",
                )
            try:
                r = httpx.get(
                    f"{self.base_url}/api/status",
                    headers={"Authorization": f"token {self.token}"},
                    timeout=2,
                )
                if r.status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        self.stop()
        raise MikrodataError(
            f"JupyterLab did not answer within {timeout:.0f} s", f"See {self.log_path}"
        )

    def stop(self) -> None:
        """Stop the server (and its kernels) and remove its private folder."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if getattr(self, "_log", None) is not None:
            self._log.close()
        if self._state is not None:
            shutil.rmtree(self._state, ignore_errors=True)
            self._state = None

    def __enter__(self) -> LabServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
