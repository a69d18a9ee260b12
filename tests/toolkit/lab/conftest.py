"""The JupyterLab of `make lab`, started once for the lab tests and the browser test."""

from __future__ import annotations

import pytest

from mikrodata.toolkit.lab.server import free_port

from .support import start_make_lab, stop


@pytest.fixture(scope="session")
def lab(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("make-lab")
    running = start_make_lab(
        tmp / "project", free_port(), "test-token-" + "0" * 20, tmp / "home", tmp / "lab.log"
    )
    yield running
    stop(running.process)
