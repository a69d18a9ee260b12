"""The production JupyterHub configuration (SystemdSpawner), short of running systemd.

This machine has no systemd, so the unit is not started: the shipped configuration file
is loaded as JupyterHub loads it, the spawn hook runs on a real SystemdSpawner, and
SystemdSpawner's own start() builds the `systemd-run` call, which is captured instead
of run. What systemd then does with those properties is untested here (docs/lab.md).
"""

from __future__ import annotations

import asyncio
import pwd
from pathlib import Path
from types import SimpleNamespace

import pytest
from traitlets.config import PyFileConfigLoader

from mikrodata.access_requests import AuditLog
from mikrodata.toolkit import lab as lab_package
from mikrodata.toolkit.extract import build_dummy_extract
from mikrodata.toolkit.lab.assertion import IDENTITY_ENV, verify_identity

from ...access_requests.support import new_approved_request

systemdspawner = pytest.importorskip("systemdspawner")
RESEARCHER = "nobody"  # an account every Debian machine has: the server runs as it


@pytest.fixture
def hub_config(tmp_path, monkeypatch):
    log = AuditLog(tmp_path / "audit.jsonl")
    requests = tmp_path / "requests"
    requests.mkdir()
    mine = new_approved_request(
        requests,
        log,
        project="P2026-201",
        principal_investigator=RESEARCHER,
        researchers=[RESEARCHER],
    )
    theirs = new_approved_request(requests, log, project="P2026-202")
    for path in (mine, theirs):
        build_dummy_extract(path, tmp_path / "extracts" / path.stem, persons=10, audit=log)
    for name, value in {
        "MIKRODATA_HUB_REQUESTS": requests,
        "MIKRODATA_HUB_EXTRACTS": tmp_path / "extracts",
        "MIKRODATA_HUB_WORKSPACES": tmp_path / "workspaces",
        "MIKRODATA_HUB_STATE": tmp_path / "state",
        "MIKRODATA_AUDIT_LOG": log.path,
    }.items():
        monkeypatch.setenv(name, str(value))
    monkeypatch.delenv("MIKRODATA_HUB_SPAWNER", raising=False)
    config_file = Path(lab_package.__file__).parent / "configs" / "jupyterhub_config.py"
    loader = PyFileConfigLoader(config_file.name, path=str(config_file.parent))
    return loader.load_config(), tmp_path


def test_the_systemd_unit_of_a_researcher(hub_config, monkeypatch):
    c, tmp = hub_config
    assert c.JupyterHub.spawner_class == "systemdspawner.SystemdSpawner"
    assert c.JupyterHub.authenticator_class == "pam"
    assert c.ConfigurableHTTPProxy.command[0].endswith("configurable-http-proxy")
    captured = {}

    async def start_transient_service(unit_name, **kwargs):
        captured.update(kwargs, unit=unit_name)

    async def no(*args):
        return False

    monkeypatch.setattr(systemdspawner.systemd, "start_transient_service", start_transient_service)
    monkeypatch.setattr(systemdspawner.systemd, "service_running", no)
    monkeypatch.setattr(systemdspawner.systemd, "service_failed", no)
    spawner = systemdspawner.SystemdSpawner(
        config=c, user=SimpleNamespace(name=RESEARCHER, escaped_name=RESEARCHER, id=1)
    )
    spawner.get_env = lambda: dict(spawner.environment)  # the hub's own variables aside
    spawner.get_args = list

    async def up():
        return None

    spawner.poll = up
    c.Spawner.pre_spawn_hook(spawner)
    asyncio.run(spawner.start())

    props = captured["properties"]
    home = tmp / "workspaces" / RESEARCHER
    assert captured["uid"] == pwd.getpwnam(RESEARCHER).pw_uid  # the researcher's account
    assert props["IPAddressDeny"] == "any" and props["IPAddressAllow"] == "localhost"
    assert props["PrivateTmp"] == "yes" and props["PrivateDevices"] == "yes"
    assert props["NoNewPrivileges"] == "yes"  # no sudo
    assert props["ProtectSystem"] == "strict"
    assert props["InaccessiblePaths"] == f"{tmp / 'extracts'} {tmp / 'state'}"
    assert props["BindReadOnlyPaths"] == (
        f"{tmp / 'extracts' / 'P2026-201'}:{home / 'P2026-201' / 'extract'}"
    )
    assert props["ReadOnlyDirectories"] == [str(tmp / "requests")]
    assert sorted(p.name for p in home.iterdir()) == ["P2026-201"]
    assert (home / "P2026-201" / "outputs").stat().st_uid == pwd.getpwnam(RESEARCHER).pw_uid
    env = captured["environment_variables"]
    assert env["MIKRODATA_USER"] == RESEARCHER
    claims = verify_identity(env[IDENTITY_ENV], tmp / "state" / "hub_identity.pub")
    assert claims["user"] == RESEARCHER and claims["projects"] == ["P2026-201"]
