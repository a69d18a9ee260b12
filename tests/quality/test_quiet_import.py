"""Loading the quality suites prints nothing about libraries a reviewer never chose."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest


@pytest.mark.skipif(importlib.util.find_spec("pyspark") is None, reason="needs the spark extra")
def test_the_suites_load_without_pysparks_pandas_warning(tmp_path):
    # Great Expectations imports pyspark when it is installed, and pyspark warns that it
    # does not support pandas 3; warnings as errors make that warning fail the import.
    script = tmp_path / "load.py"  # a file: pyspark exits a `python -c` program
    script.write_text("import mikrodata.quality.suites\nprint('loaded')\n", encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-W", "error::FutureWarning", str(script)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "loaded"
    assert "PySpark does not yet fully support pandas" not in done.stderr
