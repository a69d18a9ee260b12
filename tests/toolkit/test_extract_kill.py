"""An extract build killed part-way (SIGKILL) leaves the previous extract intact and the
audit log valid; the next build succeeds and clears the leftovers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

from mikrodata.access_requests import file_sha256
from mikrodata.toolkit.extract import verify_extract
from tests.access_requests.support import (
    PASSPHRASE,
    PI,
    STEWARD,
    approved_extract,
    make_delivery,
    make_keystore,
    steward_build,
)

BUILD = textwrap.dedent(
    """
    import sys
    from mikrodata.access_requests import AuditLog
    from mikrodata.toolkit.extract import build_extract
    request, registers, out, keystore, rejects, log = sys.argv[1:7]
    build_extract(request, registers, out, keystore=keystore, rejects=rejects,
                  user="steward", audit=AuditLog(log), delivery_checks=False)
    """
)


def test_sigkill_mid_build_leaves_the_old_extract_and_a_valid_log(tmp_path):
    keystore = make_keystore(tmp_path / "keystore")
    delivery = make_delivery(tmp_path / "registers", persons=1500)
    out, rejects = tmp_path / "extract", tmp_path / "rejects"
    built = approved_extract(tmp_path, delivery["root"], keystore, out=out, rejects=rejects)
    first, request, log = built.result, built.request, built.log
    manifest_sha = file_sha256(out / "manifest.json")
    events_before = len(log.events())

    env = dict(os.environ, MIKRODATA_KEYSTORE_PASSPHRASE=PASSPHRASE)
    args = [
        str(request),
        str(delivery["root"]),
        str(out),
        str(keystore),
        str(rejects),
        str(log.path),
    ]
    proc = subprocess.Popen([sys.executable, "-c", BUILD, *args], env=env)
    deadline = time.monotonic() + 60
    # Wait until the build is writing its new extract next to the old one, then kill it.
    while not list(tmp_path.glob(".extract.*.tmp/*")) and time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        time.sleep(0.002)
    time.sleep(0.01)  # part-way: well before the sort and the manifest
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=30) == -signal.SIGKILL, "the build finished before it was killed"

    assert list(tmp_path.glob(".extract.*.tmp")), "the half-built extract sits beside it"
    assert file_sha256(out / "manifest.json") == manifest_sha
    result = verify_extract(out, user=PI, audit=log, record=False)
    assert result.manifest_sha256 == first.manifest_sha256
    log.verify()
    assert len(log.events()) == events_before  # the killed build recorded nothing

    again = steward_build(request, delivery["root"], out, keystore, log, rejects=rejects)
    assert not list(tmp_path.glob(".extract.*.tmp")) and not list(tmp_path.glob(".rejects.*"))
    verify_extract(out, request=request, user=STEWARD, audit=log)
    assert again.manifest["registers"] == first.manifest["registers"]
