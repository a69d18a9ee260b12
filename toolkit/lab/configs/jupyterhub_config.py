# JupyterHub configuration for mikrodata: one hardened JupyterLab per researcher, each
# seeing only the extracts of the projects the access gate approves them for.
#
#   jupyterhub -f "$(mikrodata lab hub-config)"
#
# Settings from the environment (docs/lab.md, "JupyterHub"):
#   MIKRODATA_HUB_REQUESTS    folder of access requests (<project>.yaml and state files)
#   MIKRODATA_HUB_EXTRACTS    folder of extracts, one per project: <folder>/<project>/
#   MIKRODATA_HUB_WORKSPACES  folder of the researchers' workspaces
#   MIKRODATA_HUB_STATE       the hub's own state (database, secrets, signing key)
#   MIKRODATA_AUDIT_LOG       the audit log the gate writes
#   MIKRODATA_HUB_SPAWNER     systemd (production, the default) or local (tests)
#   MIKRODATA_HUB_PORT        the public port (default 8000), MIKRODATA_HUB_IP (127.0.0.1)
import os

from mikrodata.toolkit.lab.hub import HubSettings, configure

c = get_config()  # noqa: F821 (given by JupyterHub)
configure(c, HubSettings.from_env())
c.JupyterHub.ip = os.environ.get("MIKRODATA_HUB_IP", "127.0.0.1")
c.JupyterHub.port = int(os.environ.get("MIKRODATA_HUB_PORT", "8000"))

if os.environ.get("MIKRODATA_HUB_SPAWNER") == "local":
    # Tests only: every researcher is the same Unix account, passwords from the test.
    c.JupyterHub.authenticator_class = "dummy"
    c.DummyAuthenticator.password = os.environ["MIKRODATA_HUB_TEST_PASSWORD"]
    c.Authenticator.allowed_users = set(os.environ["MIKRODATA_HUB_TEST_USERS"].split(","))
else:
    # Production: PAM, the researchers' own Unix accounts (the ones SystemdSpawner runs
    # their servers as), behind TLS terminated by a reverse proxy on this host. For
    # single sign-on use oauthenticator's GenericOAuthenticator against the agency's
    # identity provider and map each login to its Unix account.
    c.JupyterHub.authenticator_class = "pam"
    c.Authenticator.allowed_groups = {"mikrodata-researchers"}
