"""`quality run` checks its input before it loads Great Expectations: a wrong --in is
a clear error, without GX's import time (several seconds) in front of it."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import sys, time
from mikrodata.quality.run import run_quality
from mikrodata.toolkit.errors import BadInputError
started = time.perf_counter()
try:
    run_quality("ekonomiskt_bistand", sys.argv[1], sys.argv[2])
except BadInputError as exc:
    print("refused", exc.exit_code)
print("gx loaded", "great_expectations" in sys.modules)
print("seconds", round(time.perf_counter() - started, 3))
"""


def test_a_wrong_input_is_refused_before_great_expectations_is_imported(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    for data in (tmp_path / "missing", empty):
        result = subprocess.run(
            [sys.executable, "-c", SCRIPT, str(data), str(tmp_path / "out")],
            capture_output=True,
            text=True,
            check=True,
        )
        assert "refused 11" in result.stdout, result.stdout + result.stderr
        assert "gx loaded False" in result.stdout, result.stdout
        assert "Traceback" not in result.stderr
        assert not (tmp_path / "out").exists()
