"""JupyterHub for many researchers on one host: each gets a hardened single-user server
that sees only the extracts of the projects the gate approves them for.

At every spawn, :func:`pre_spawn` (the hub's ``Spawner.pre_spawn_hook``):

1. asks the access gate, for each request in the requests folder, whether the
   authenticated hub user may ``load_extract`` under it (:func:`gate_allows`, the one
   place that calls the gate; refusals land in the audit log with that user's name);
2. builds the user's workspace, one folder per approved project with ``extract``
   (read-only: a symbolic link for the local spawner, a read-only bind mount of that one
   extract under systemd), ``outputs/`` and ``notebooks/``; an extract the user is no
   longer approved for is taken out;
3. writes the hardened configuration (:mod:`mikrodata.toolkit.lab.config`) for that
   workspace and points the server at it (``JUPYTER_CONFIG_DIR``);
4. passes the identity: ``MIKRODATA_USER`` (the hub user's name) and
   ``MIKRODATA_HUB_IDENTITY``, a statement signed by the hub's key
   (:mod:`mikrodata.toolkit.lab.assertion`) that the gate verifies, so a changed
   ``MIKRODATA_USER`` is detected rather than believed. Under systemd the server also
   runs as the researcher's own Unix account, which the researcher cannot change.

Settings come from :class:`HubSettings` (environment variables ``MIKRODATA_HUB_*``);
``toolkit/lab/configs/jupyterhub_config.py`` is the configuration file to run.

Example (in ``jupyterhub_config.py``)::

    from mikrodata.toolkit.lab.hub import HubSettings, configure
    configure(c, HubSettings.from_env())
"""

from __future__ import annotations

import functools
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mikrodata.access_requests import AuditLog, check_access
from mikrodata.toolkit.errors import AccessRefused, MikrodataError

from .assertion import IDENTITY_ENV, ensure_hub_key, sign_identity
from .config import write_config_dir

__all__ = [
    "HubSettings",
    "approved_projects",
    "configure",
    "gate_allows",
    "pre_spawn",
    "prepare_workspace",
    "systemd_properties",
]

_ENV = "MIKRODATA_HUB_"


@dataclass(frozen=True)
class HubSettings:
    """Where the hub finds requests and extracts, and where it keeps its own state.

    ``requests``: approved access requests, ``<project>.yaml`` with their state files;
    ``extracts``: one extract per project, ``<extracts>/<project>/``; ``workspaces``: one
    folder per researcher; ``state``: the hub's database, cookie secret, signing key and
    generated server configurations; ``audit_log``: the audit log the gate writes;
    ``spawner``: ``systemd`` (production) or ``local`` (tests, one account for all).
    """

    requests: Path
    extracts: Path
    workspaces: Path
    state: Path
    audit_log: Path
    spawner: str = "systemd"

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> HubSettings:
        """From ``MIKRODATA_HUB_REQUESTS``, ``_EXTRACTS``, ``_WORKSPACES``, ``_STATE``,
        ``MIKRODATA_AUDIT_LOG`` and ``MIKRODATA_HUB_SPAWNER``."""
        env = dict(os.environ if env is None else env)
        missing = [
            n for n in ("REQUESTS", "EXTRACTS", "WORKSPACES", "STATE") if _ENV + n not in env
        ]
        if missing:
            raise MikrodataError(
                f"JupyterHub settings missing: {', '.join(_ENV + n for n in missing)}",
                "Set them in the hub's environment (docs/lab.md, 'JupyterHub')",
            )
        state = Path(env[_ENV + "STATE"])
        return cls(
            requests=Path(env[_ENV + "REQUESTS"]),
            extracts=Path(env[_ENV + "EXTRACTS"]),
            workspaces=Path(env[_ENV + "WORKSPACES"]),
            state=state,
            audit_log=Path(env.get("MIKRODATA_AUDIT_LOG", state / "audit.jsonl")),
            spawner=env.get(_ENV + "SPAWNER", "systemd"),
        )


def gate_allows(request_path: Path, user: str, audit: AuditLog) -> str | None:
    """The project of ``request_path`` when the gate lets ``user`` load its extract, else
    None. The one call into the gate (keep it small: the gate's signature may grow)."""
    try:
        return check_access(request_path, user=user, action="load_extract", audit=audit).project
    except AccessRefused:
        return None


def approved_projects(user: str, settings: HubSettings) -> list[str]:
    """The projects whose extract ``user`` may load now and which have one delivered."""
    audit = AuditLog(settings.audit_log)
    projects = []
    for request in sorted(settings.requests.glob("*.yaml")):
        project = gate_allows(request, user, audit)
        if project is not None and (settings.extracts / project).is_dir():
            projects.append(project)
    return projects


def prepare_workspace(user: str, projects: list[str], settings: HubSettings) -> Path:
    """``<workspaces>/<user>/<project>/{extract,outputs,notebooks}`` for each approved
    project; extracts of projects no longer approved are taken out (the researcher's own
    outputs and notebooks stay)."""
    home = settings.workspaces / user
    home.mkdir(parents=True, exist_ok=True)
    for old in home.iterdir():
        link = old / "extract"
        if old.name not in projects and (link.is_symlink() or link.is_dir()):
            link.unlink() if link.is_symlink() else shutil.rmtree(link)
    for project in projects:
        folder = home / project
        for name in ("outputs", "notebooks"):
            (folder / name).mkdir(parents=True, exist_ok=True)
        link = folder / "extract"
        if settings.spawner == "local":
            if not link.is_symlink():
                link.symlink_to((settings.extracts / project).resolve(), target_is_directory=True)
        else:
            link.mkdir(exist_ok=True)  # the mount point of a read-only bind mount
    return home


def systemd_properties(user: str, projects: list[str], settings: HubSettings) -> dict[str, str]:
    """The systemd unit properties of ``user``'s server (beyond SystemdSpawner's own
    PrivateTmp, PrivateDevices, NoNewPrivileges and ReadOnlyDirectories): no address but
    loopback, the extracts folder hidden, the approved extracts bound in read-only.

    SystemdSpawner takes one string per property; systemd reads a space-separated list
    (so these folders must not contain spaces)."""
    home = settings.workspaces / user
    paths = [settings.extracts, settings.state, home]
    if any(" " in str(p) for p in paths):
        raise MikrodataError(
            "a hub folder contains a space, which systemd's path lists cannot hold",
            "Use folders without spaces for extracts, state and workspaces",
        )
    return {
        # Kernels are in their own network namespace already; this holds the server too.
        "IPAddressDeny": "any",
        "IPAddressAllow": "localhost",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "ReadWritePaths": str(home),
        "InaccessiblePaths": f"{settings.extracts} {settings.state}",
        "BindReadOnlyPaths": " ".join(
            f"{settings.extracts / p}:{home / p / 'extract'}" for p in projects
        ),
    }


def pre_spawn(settings: HubSettings, spawner: Any) -> None:
    """The hub's ``pre_spawn_hook``: decide, from the approvals, what ``spawner``'s user
    sees, and start their server with the hardened configuration."""
    user = spawner.user.name
    projects = approved_projects(user, settings)
    if not projects:
        raise AccessRefused(
            f"user {user} is not approved for any project with a delivered extract",
            "Ask your project's principal investigator and data steward",
        )
    home = prepare_workspace(user, projects, settings)
    config = write_config_dir(
        settings.state / "servers" / user, home, writable=("*/outputs", "*/notebooks")
    )
    key = ensure_hub_key(settings.state)
    spawner.environment.update(
        {
            "JUPYTER_CONFIG_DIR": str(config),
            "JUPYTER_CONFIG_PATH": str(config),
            "MIKRODATA_USER": user,
            IDENTITY_ENV: sign_identity(key, user, projects),
            "MIKRODATA_AUDIT_LOG": str(settings.audit_log),
        }
    )
    spawner.notebook_dir = str(home)
    spawner.default_url = "/lab"
    if settings.spawner == "systemd":
        spawner.unit_extra_properties = {
            **spawner.unit_extra_properties,
            **systemd_properties(user, projects, settings),
        }
        spawner.readonly_paths = [str(settings.requests)]
        for path in [home / p / d for p in projects for d in ("outputs", "notebooks")]:
            shutil.chown(path, user=spawner.user.name)


def configure(c: Any, settings: HubSettings) -> None:
    """Fill the JupyterHub configuration ``c`` for ``settings``."""
    settings.state.mkdir(parents=True, exist_ok=True)
    c.JupyterHub.db_url = f"sqlite:///{settings.state / 'jupyterhub.sqlite'}"
    c.JupyterHub.cookie_secret_file = str(settings.state / "jupyterhub_cookie_secret")
    c.JupyterHub.pid_file = str(settings.state / "jupyterhub.pid")
    # The Python configurable-http-proxy: no Node at run time.
    c.ConfigurableHTTPProxy.command = [
        str(Path(sys.executable).with_name("configurable-http-proxy"))
    ]
    c.ConfigurableHTTPProxy.pid_file = str(settings.state / "proxy.pid")
    c.JupyterHub.hub_ip = "127.0.0.1"
    c.Spawner.pre_spawn_hook = functools.partial(pre_spawn, settings)
    c.Spawner.default_url = "/lab"
    c.Spawner.cmd = [str(Path(sys.executable).with_name("jupyterhub-singleuser"))]
    # Nothing of the hub's own environment reaches a researcher's server but these.
    c.Spawner.env_keep = ["PATH", "LANG", "LC_ALL", "TZ"]
    c.JupyterHub.shutdown_on_logout = True
    if settings.spawner == "local":
        c.JupyterHub.spawner_class = "jupyterhub.spawner.SimpleLocalProcessSpawner"
        c.SimpleLocalProcessSpawner.home_dir_template = str(settings.state / "homes" / "{username}")
    else:
        c.JupyterHub.spawner_class = "systemdspawner.SystemdSpawner"
        c.SystemdSpawner.dynamic_users = False  # the researcher's own Unix account
        c.SystemdSpawner.username_template = "{USERNAME}"
        c.SystemdSpawner.isolate_tmp = True
        c.SystemdSpawner.isolate_devices = True
        c.SystemdSpawner.disable_user_sudo = True
        c.SystemdSpawner.mem_limit = "8G"
        c.SystemdSpawner.cpu_limit = 2.0
        c.SystemdSpawner.unit_name_template = "mikrodata-lab-{USERNAME}"
