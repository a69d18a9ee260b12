"""τ-ARGUS (the pytauargus engine, headless, with HiGHS) as an independent oracle.

On the same microdata and rules, τ-ARGUS and this package must agree on which cells
break a rule; each one's suppression pattern must pass the other's audit (ours: our LP
audit on τ-ARGUS's pattern; τ-ARGUS's: its own audit of its pattern). How the patterns
differ in size is printed (``pytest -s``) and written in docs/disclosure.md.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mikrodata.toolkit.disclosure import Rules
from mikrodata.toolkit.disclosure.audit import audit
from mikrodata.toolkit.disclosure.primary import primary
from mikrodata.toolkit.disclosure.structure import TOTAL, build_grid
from mikrodata.toolkit.disclosure.suppression import secondary

pytauargus = pytest.importorskip("pytauargus", reason="pytauargus (τ-ARGUS) is not installed")

ACRO = Rules.profile("acro").replace(zeros_disclosive=False)


def _frame(seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(150, 500))
    rows = [f"r{i}" for i in range(int(rng.integers(3, 7)))]
    cols = [f"c{j}" for j in range(int(rng.integers(3, 6)))]
    pr = rng.dirichlet(np.ones(len(rows)) * 0.7)
    pc = rng.dirichlet(np.ones(len(cols)) * 0.7)
    return pd.DataFrame(
        {
            "lopnr": [f"{i:016x}" for i in range(n)],
            "a": rng.choice(rows, n, p=pr),
            "b": rng.choice(cols, n, p=pc),
            "one": 1.0,
        }
    )


def _tau(frame: pd.DataFrame, tmp_path, method: str) -> pd.DataFrame:
    res = pytauargus.protect(
        frame,
        ["a", "b"],
        response="one",
        safety_rules=f"FREQ({ACRO.min_count},{round(100 * ACRO.upper_protection)})",
        suppress=method,
        workdir=str(tmp_path / method.split("(")[0]),
    )
    out = res.tables[0].dataframe()
    out["audit"] = None
    return out, res


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(8))
def test_tauargus_and_this_package_agree(seed, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the τ-ARGUS engine writes its logs in the working directory
    frame = _frame(seed)
    tau, res = _tau(frame, tmp_path, "OPT(1)")
    tau = tau.set_index(["a", "b"])
    grid = build_grid(frame, ["a", "b"], unit="lopnr")
    prim = primary(grid, ACRO, magnitude=False)
    keys = [tuple(k) for k in grid.cells[["a", "b"]].itertuples(index=False, name=None)]
    status = np.array([tau.loc[k, "status"] for k in keys])
    # 1. the same primary cells (τ-ARGUS: U; empty cells are safe in both)
    assert (prim.mask == (status == "U")).all()
    # 2. τ-ARGUS's own audit finds its pattern safe
    tau_audit = {r["cell"]: r for r in res.engine.audit(0)}
    assert not any(r["unsafe"] for r in tau_audit.values())
    # 3. our audit, given τ-ARGUS's attacker (who does not use that a hidden count is at
    #    least 1 where empty cells are published), finds τ-ARGUS's pattern safe too
    hidden = np.isin(status, ["U", "M"])
    x = grid.cells["value"].to_numpy(float)

    def ours(floor):
        return audit(
            grid,
            np.where(hidden, floor, x),
            np.where(hidden, np.inf, x),
            hidden,
            prim,
            min_count=ACRO.min_count,
            zeros_disclosive=False,
        )

    as_tau = ours(0.0)
    assert [f for f in as_tau.failures if "cell" in f] == []
    # 4. where the two differ, for the report: our full attacker (hidden counts >= 1,
    #    groups of small cells), and the intervals
    full = ours(1.0)
    tau_rows = tau.reset_index()
    index = {
        tuple(k): i for i, k in enumerate(tau_rows[["a", "b"]].itertuples(index=False, name=None))
    }
    wider = narrower = 0
    for e in as_tau.intervals:
        r = tau_audit[index[(e["cell"]["a"], e["cell"]["b"])]]
        if e["upper"] - e["lower"] > r["max"] - r["min"] + 1e-6:
            wider += 1
        elif e["upper"] - e["lower"] < r["max"] - r["min"] - 1e-6:
            narrower += 1
    sup = secondary(grid, prim, min_count=ACRO.min_count, zeros_disclosive=False)
    inner = ((grid.cells["a"] != TOTAL) & (grid.cells["b"] != TOTAL)).to_numpy()
    print(
        f"seed {seed}: primary {int(prim.mask.sum())}; hidden ours {int(sup.suppressed.sum())} "
        f"(inner {int((sup.suppressed & inner).sum())}, value "
        f"{x[sup.suppressed].sum():g}), τ-ARGUS OPT {int(hidden.sum())} (inner "
        f"{int((hidden & inner).sum())}, value {x[hidden].sum():g}); intervals ours wider "
        f"{wider}, narrower {narrower}; τ-ARGUS's pattern under our full audit: "
        + ("pass" if full.passed else f"{len(full.failures)} failures")
    )
