"""Synthetic registers shaped like an extract: pseudonym columns named ``lopnr`` and
``lopnr_hushall``, rows sorted by (person, period), one pandas frame per register."""

from __future__ import annotations

import pandas as pd
import pytest

from mikrodata.toolkit.synthetic import generate, read_register

REGISTERS = ("ekonomiskt_bistand", "befolkning", "dodsorsak", "barn_unga", "lss", "sol_insatser")


@pytest.fixture(scope="session")
def registers(tmp_path_factory) -> dict[str, pd.DataFrame]:
    out = tmp_path_factory.mktemp("synthetic") / "registers"
    generate(out, persons=6000, years=(1999, 2018), seed=11)
    frames = {}
    for name in REGISTERS:
        frame = read_register(out, name).to_pandas(types_mapper=pd.ArrowDtype)
        frame = frame.rename(columns={"personnummer": "lopnr", "hushallsid": "lopnr_hushall"})
        period = [c for c in ("statistikar", "ar", "manad") if c in frame.columns]
        frames[name] = frame.sort_values(["lopnr", *period], ignore_index=True)
    return frames
