"""docs/deliveries.md: its format x command table names tests that exist, and every
format the reader knows has a row, with what the formats out write of it."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
DOC = (ROOT / "docs" / "deliveries.md").read_text(encoding="utf-8")


def test_every_test_the_table_names_exists():
    named = re.findall(r"`(test_\w+\.py)::(test_\w+)`", DOC)
    assert len(named) >= 9
    for file, name in named:
        here = Path(__file__).parent / file
        if not here.exists():  # the formats out are tested with the extract builder
            here = ROOT / "tests" / "toolkit" / file
        source = here.read_text(encoding="utf-8")
        assert f"def {name}(" in source, (file, name)


def test_every_cell_of_the_table_says_read_or_error():
    rows = [line for line in DOC.splitlines() if line.startswith("| ") and "[" in line]
    assert len(rows) >= 7
    for row in rows[:7]:
        cells = [c.strip() for c in row.strip("|").split("|")][1:]
        assert len(cells) == 8, row
        assert all(re.match(r"(read|error) \[\d\]", c) for c in cells[:7]), row
        assert re.match(r"(written|not written)", cells[7]), row  # extract build --format
