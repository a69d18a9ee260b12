"""Who is running mikrodata is authenticated, not typed in: the OS account (not $USER),
or the hub user JupyterHub confirms for the server's token; a declared name only where
tests and the demo allow it, and then recorded as declared."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from mikrodata.toolkit import identity
from mikrodata.toolkit.errors import AccessRefused, BadInputError
from mikrodata.toolkit.identity import Identity, current_identity, os_user, resolve_identity


def test_the_os_account_is_read_from_the_system_not_the_environment(monkeypatch):
    for name in ("USER", "LOGNAME", "USERNAME"):
        monkeypatch.setenv(name, "mallory")
    monkeypatch.delenv("MIKRODATA_USER", raising=False)
    me = current_identity()
    assert me == Identity(os_user(), "os") and me.user != "mallory"


def test_a_declared_name_needs_the_test_and_demo_switch(monkeypatch):
    monkeypatch.delenv("MIKRODATA_DECLARED_IDENTITY", raising=False)
    with pytest.raises(AccessRefused, match="for tests and the demo only"):
        resolve_identity("steward")
    monkeypatch.setenv("MIKRODATA_USER", "steward")
    with pytest.raises(AccessRefused):
        current_identity()
    # Declaring who you really are is no declaration.
    assert resolve_identity(os_user()).source == "os"
    monkeypatch.setenv("MIKRODATA_DECLARED_IDENTITY", "1")
    assert resolve_identity("steward") == Identity("steward", "declared")
    assert str(resolve_identity("steward")) == "steward (declared)"


@pytest.mark.parametrize("bad", ["a\nb", "x y", "", "ä" * 3, "a" * 65, "tab\tbed", "nul\x00"])
def test_user_ids_are_validated(bad):
    with pytest.raises(BadInputError, match="a user id must be"):
        resolve_identity(bad)


class _Hub(BaseHTTPRequestHandler):
    """The one call of JupyterHub's REST API the identity needs: GET /user."""

    tokens = {"token-of-anna": "anna.andersson"}

    def do_GET(self):  # noqa: N802 - the http.server API
        token = self.headers.get("Authorization", "").removeprefix("token ")
        name = self.tokens.get(token)
        if self.path != "/hub/api/user" or name is None:
            self.send_response(403)
            self.end_headers()
            return
        body = json.dumps({"name": name, "kind": "user"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def hub():
    server = HTTPServer(("127.0.0.1", 0), _Hub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    identity._hub_user.cache_clear()
    yield f"http://127.0.0.1:{server.server_port}/hub/api"
    server.shutdown()
    identity._hub_user.cache_clear()


def test_under_jupyterhub_the_hub_confirms_the_user(hub, monkeypatch):
    monkeypatch.setenv("JUPYTERHUB_API_URL", hub)
    monkeypatch.setenv("JUPYTERHUB_API_TOKEN", "token-of-anna")
    monkeypatch.setenv("JUPYTERHUB_USER", "bertil.berg")  # editable: never trusted
    assert current_identity() == Identity("anna.andersson", "jupyterhub")
    monkeypatch.delenv("MIKRODATA_DECLARED_IDENTITY")
    with pytest.raises(AccessRefused):  # nor can a researcher declare another name
        resolve_identity("bertil.berg")


def test_a_token_the_hub_does_not_know_is_refused(hub, monkeypatch):
    monkeypatch.setenv("JUPYTERHUB_API_URL", hub)
    monkeypatch.setenv("JUPYTERHUB_API_TOKEN", "forged")
    with pytest.raises(AccessRefused, match="did not confirm who is logged in"):
        current_identity()


def test_a_kernel_without_network_proves_its_user_by_the_hubs_signed_assertion(
    tmp_path, monkeypatch
):
    # A kernel in its own network namespace cannot reach the hub's API; the hub signed,
    # at spawn, whose server it is.
    from mikrodata.toolkit.lab.assertion import ensure_hub_key, sign_identity

    key = ensure_hub_key(tmp_path / "hub")
    monkeypatch.setattr(identity, "HUB_KEY_PATH", key.with_suffix(".pub"))
    monkeypatch.setenv(identity.HUB_IDENTITY_ENV, sign_identity(key, "anna.andersson", ["P1"]))
    monkeypatch.delenv("MIKRODATA_DECLARED_IDENTITY")
    monkeypatch.setenv("MIKRODATA_USER", "anna.andersson")  # as the spawner sets it
    assert current_identity() == Identity("anna.andersson", "jupyterhub")
    monkeypatch.setenv("MIKRODATA_USER", "bertil.berg")  # edited in the kernel
    with pytest.raises(AccessRefused, match="a declared user"):
        current_identity()
    monkeypatch.delenv("MIKRODATA_USER")
    other = ensure_hub_key(tmp_path / "mallory")
    monkeypatch.setenv(identity.HUB_IDENTITY_ENV, sign_identity(other, "bertil.berg", ["P2"]))
    with pytest.raises(AccessRefused, match="not signed by this hub's key"):
        current_identity()
    monkeypatch.setenv(
        identity.HUB_IDENTITY_ENV, sign_identity(key, "anna.andersson", [], hours=-1)
    )
    with pytest.raises(AccessRefused, match="expired"):
        current_identity()
