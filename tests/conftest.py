"""Shared fixtures. Tests make their own keys and synthetic identifiers; nothing secret
is committed."""

from __future__ import annotations

import os

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, settings

# Property tests run a fixed, derandomised set, so a CI run is reproducible and never
# fails on a shared machine's timing (no deadline). A longer random run is one
# environment variable away: HYPOTHESIS_PROFILE=explore.
settings.register_profile(
    "ci", derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("explore", max_examples=2000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(autouse=True)
def _quiet_progress(monkeypatch):
    # Progress bars go to a terminal only; tests read plain output.
    monkeypatch.setenv("MIKRODATA_PROGRESS", "0")


@pytest.fixture(autouse=True, scope="session")
def _session_home(tmp_path_factory):
    # Module- and session-scoped fixtures run before the per-test home below: they get a
    # home of the session's own, never the working tree's .mikrodata.
    os.environ["MIKRODATA_HOME"] = str(tmp_path_factory.mktemp("mikrodata-session-home"))
    os.environ["MIKRODATA_DECLARED_IDENTITY"] = "1"
    yield


@pytest.fixture(autouse=True)
def _private_home(tmp_path_factory, monkeypatch):
    # Nothing a test does may land in the working tree's .mikrodata (key store, audit
    # log, rejects, delivery-check reports): every test gets its own state directory.
    monkeypatch.setenv("MIKRODATA_HOME", str(tmp_path_factory.mktemp("mikrodata-home")))
    for name in (
        "MIKRODATA_KEYSTORE",
        "MIKRODATA_AUDIT_LOG",
        "MIKRODATA_KEYSTORE_PASSPHRASE",
        "MIKRODATA_TRUSTED_KEYS",
        "MIKRODATA_USER",
        "JUPYTERHUB_API_URL",
        "JUPYTERHUB_API_TOKEN",
    ):
        monkeypatch.delenv(name, raising=False)
    # Tests play several people on one account: they declare who acts, and every event
    # records the identity as declared. Tests of the refusal unset this.
    monkeypatch.setenv("MIKRODATA_DECLARED_IDENTITY", "1")


@pytest.fixture
def run_cli():
    """Run ``mikrodata ARGS...`` in-process; returns the click Result (exit_code, output)."""
    from mikrodata.toolkit.cli import cli

    def _run(*args: str, input: str | None = None, env: dict[str, str] | None = None):
        runner = CliRunner()
        return runner.invoke(cli, list(args), input=input, env=env, catch_exceptions=True)

    return _run


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """A temporary working directory."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


os.environ.setdefault("MIKRODATA_PROGRESS", "0")
