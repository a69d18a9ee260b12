"""Kernels without a network: each kernel runs in a network namespace of its own.

A new network namespace holds only a loopback interface, down, and no route: a socket
in it cannot reach any other address, on this machine or elsewhere, and the loopback
servers of other users (a database, another researcher's Jupyter server) are not there
either. This is enforced by the Linux kernel, not by Python: ``ctypes``, ``subprocess``
and ``curl`` meet the same wall.

The server still talks to the kernel, over ZeroMQ's ``ipc`` transport (Unix-domain
sockets in the runtime folder, which a network namespace does not separate), instead of
TCP on 127.0.0.1.

Mechanisms, the first that works wins (:func:`detect_isolation`):

``netns``
    ``unshare --net``, when the server runs as root (tests, CI, a container).
``userns``
    ``unshare --user --map-current-user --net``: an unprivileged user namespace, which
    Debian and most distributions allow; the kernel keeps its own uid.
``none``
    neither works (no ``unshare``, user namespaces switched off, macOS): kernels start
    without isolation. Nothing pretends otherwise: the server logs a warning, the kernel
    sees ``MIKRODATA_KERNEL_ISOLATION=none`` and ``mikrodata lab selfcheck`` fails the
    egress check. ``isolation="required"`` refuses to start a kernel instead.

Example::

    >>> detect_isolation().mechanism in ("netns", "userns", "none")
    True
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from typing import Any

from jupyter_server.services.kernels.kernelmanager import ServerKernelManager
from traitlets import CaselessStrEnum, default

__all__ = ["MECHANISMS", "IsolatedKernelManager", "Isolation", "detect_isolation"]

# mechanism -> the command prefix that puts a process in its own network namespace
MECHANISMS: dict[str, tuple[str, ...]] = {
    "netns": ("unshare", "--net", "--"),
    "userns": ("unshare", "--user", "--map-current-user", "--net", "--"),
}


@dataclass(frozen=True)
class Isolation:
    """How kernels are kept off the network: ``mechanism`` and the ``prefix`` put before a
    kernel's command (empty for ``none``), with ``reason`` when none works."""

    mechanism: str
    prefix: tuple[str, ...]
    reason: str = ""

    @property
    def enforced(self) -> bool:
        return self.mechanism != "none"


def _works(prefix: tuple[str, ...]) -> str:
    """'' if a process started with ``prefix`` runs in a namespace without any interface
    but loopback, else why not."""
    probe = "import socket; print(' '.join(n for _, n in socket.if_nameindex()))"
    try:
        done = subprocess.run(
            [*prefix, sys.executable, "-c", probe], capture_output=True, text=True, timeout=20
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    if done.returncode != 0:
        return (done.stderr.strip().splitlines() or ["failed"])[-1]
    if done.stdout.split() != ["lo"]:
        return f"namespace has interfaces {done.stdout.strip()}"
    return ""


@functools.cache
def detect_isolation(wanted: str = "auto") -> Isolation:
    """The isolation kernels get here. ``wanted``: ``auto`` (the first that works),
    ``netns``, ``userns``, ``none``; ``required`` is ``auto`` that never gives ``none``
    (the kernel manager then refuses to start a kernel)."""
    if wanted == "none":
        return Isolation("none", (), "switched off by configuration")
    if shutil.which("unshare") is None:
        return Isolation("none", (), "the unshare command (util-linux) is not installed")
    names = [wanted] if wanted in MECHANISMS else ["netns", "userns"]
    if os.geteuid() != 0 and wanted not in MECHANISMS:
        names = ["userns"]
    reasons = []
    for name in names:
        why = _works(MECHANISMS[name])
        if not why:
            return Isolation(name, MECHANISMS[name])
        reasons.append(f"{name}: {why}")
    return Isolation("none", (), "; ".join(reasons))


class IsolatedKernelManager(ServerKernelManager):
    """A kernel manager that starts every kernel in its own network namespace and talks
    to it over ``ipc``. Configured by ``IsolatedKernelManager.isolation``."""

    isolation = CaselessStrEnum(
        ["auto", "required", "netns", "userns", "none"],
        default_value="auto",
        config=True,
        help="How kernels are kept off the network (see mikrodata.toolkit.lab.kernels).",
    )

    @property
    def kernel_isolation(self) -> Isolation:
        return detect_isolation("auto" if self.isolation == "required" else self.isolation)

    @default("transport")
    def _transport_default(self) -> str:
        # TCP on 127.0.0.1 inside the kernel's namespace is not the server's 127.0.0.1.
        return "ipc" if self.kernel_isolation.enforced else "tcp"

    def _ip_default(self) -> str:
        # A Unix socket path holds at most 107 bytes, and the runtime folder under a
        # hub user's home is deep: keep the sockets in a short private folder instead.
        if self.transport == "ipc":
            if self._socket_dir is None:
                self._socket_dir = tempfile.mkdtemp(prefix="mkd-k-")  # mode 0700
            return os.path.join(self._socket_dir, "k")
        return super()._ip_default()

    _socket_dir: str | None = None

    async def _async_cleanup_resources(self, restart: bool = False) -> None:
        await super()._async_cleanup_resources(restart=restart)
        if not restart and self._socket_dir is not None:
            shutil.rmtree(self._socket_dir, ignore_errors=True)
            self._socket_dir = None

    def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
        iso = self.kernel_isolation
        if not iso.enforced:
            if self.isolation == "required":
                raise RuntimeError(f"kernel network isolation is required but {iso.reason}")
            self.log.warning("kernel starts WITHOUT network isolation: %s", iso.reason)
        return [*iso.prefix, *super().format_kernel_cmd(extra_arguments)]

    async def _async_launch_kernel(self, kernel_cmd: list[str], **kw: Any) -> None:
        env = kw.setdefault("env", dict(os.environ))
        env["MIKRODATA_KERNEL_ISOLATION"] = self.kernel_isolation.mechanism
        # Figures go out as plotly's mime bundle, drawn by the locally served
        # jupyterlab-plotly extension: never a script tag pointing at a CDN.
        env.setdefault("PLOTLY_RENDERER", "plotly_mimetype")
        await super()._async_launch_kernel(kernel_cmd, **kw)
