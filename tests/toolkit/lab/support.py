"""Helpers for the lab tests: start `make lab`, listeners a kernel must not reach."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[3]


def host_address() -> str | None:
    """This machine's own non-loopback IPv4 address, if it has one. (A UDP connect only
    picks a route and sends nothing.)"""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("198.51.100.1", 9))
        except OSError:
            return None
        address = s.getsockname()[0]
    return None if address.startswith("127.") else address


class Listener:
    """A TCP server on ``host`` (any free port) that counts the connections it accepts:
    stands for another user's database or Jupyter server on this machine."""

    def __init__(self, host: str) -> None:
        self.sock = socket.socket()
        self.sock.bind((host, 0))
        self.sock.listen()
        self.sock.settimeout(0.2)
        self.host, self.port = host, self.sock.getsockname()[1]
        self.accepted = 0
        self._stop = False
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def _serve(self) -> None:
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.accepted += 1
            conn.close()

    def close(self) -> None:
        self._stop = True
        self._thread.join()
        self.sock.close()


@dataclass
class RunningLab:
    base: str
    token: str
    project: Path
    process: subprocess.Popen[bytes]
    log: Path

    def get(self, path: str, **kwargs) -> httpx.Response:
        headers = {"Authorization": f"token {self.token}"}
        return httpx.get(self.base + path, headers=headers, timeout=30, **kwargs)

    def request(self, method: str, path: str, **kwargs) -> httpx.Response:
        headers = {"Authorization": f"token {self.token}"}
        return httpx.request(method, self.base + path, headers=headers, timeout=30, **kwargs)


def start_make_lab(project: Path, port: int, token: str, home: Path, log: Path) -> RunningLab:
    """`make lab` for ``project`` on 127.0.0.1:``port``, in a session of its own so the
    whole tree (make, mikrodata, jupyter, kernels) stops together."""
    env = {**os.environ, "JUPYTER_TOKEN": token, "MIKRODATA_HOME": str(home)}
    with open(log, "wb") as out:
        process = subprocess.Popen(
            ["make", "-s", "-C", str(ROOT), "lab", f"PROJECT={project}", f"LAB_PORT={port}"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    lab = RunningLab(f"http://127.0.0.1:{port}", token, project, process, log)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"make lab exited {process.returncode}: {log.read_text()[-2000:]}")
        try:
            if lab.get("/api/status").status_code == 200:
                return lab
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    stop(process)
    raise RuntimeError(f"make lab did not answer: {log.read_text()[-2000:]}")


def stop(process: subprocess.Popen[bytes]) -> None:
    """Stop a process started with ``start_new_session`` and everything under it."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
