"""The steward's re-check of a requested output, under the project's approved rules.

A researcher checks an output with the rules they pass; what may leave is decided by the
rules the project was approved with. Before a release is signed every output is checked
again, from what the output request holds and the approval alone:

- every output file is byte for byte the file that was checked (its SHA-256 at request);
- the check did not fail, and a ``review`` carries the researcher's justification;
- a table (with its snapshot: cells, relations, published values and states, see
  :mod:`mikrodata.toolkit.disclosure.snapshot`) is checked again under the approved
  rules: no published cell breaks a rule, and the exact audit finds no hidden cell or
  group that can be worked back too closely. (For magnitude tables the audit of groups
  of hidden cells against dominance needs the microdata; the researcher's check did it
  and its record says so.)
- an output without a snapshot (survival curves, percentiles, regression results, a
  figure drawn without its table) must have been checked with rules at least as strict
  as the approved ones;
- a figure still plots what its check record vouches for.

Each problem is one line of text without any value of a hidden cell.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np

from mikrodata.toolkit.disclosure.audit import audit
from mikrodata.toolkit.disclosure.primary import primary
from mikrodata.toolkit.disclosure.rules import Rules
from mikrodata.toolkit.disclosure.snapshot import TableSnapshot
from mikrodata.toolkit.errors import IntegrityError

__all__ = ["HIDDEN_STATES", "known_bounds", "recheck", "weaker_rules"]

HIDDEN_STATES = ("suppressed", "secondary", "redacted")


def weaker_rules(used: dict[str, Any], approved: Rules) -> list[str]:
    """Where the rules ``used`` by a check are weaker than the ``approved`` ones."""
    out = []
    if used.get("min_count", 0) < approved.min_count:
        out.append(f"min_count {used.get('min_count')} < {approved.min_count}")
    if approved.zeros_disclosive and not used.get("zeros_disclosive", False):
        out.append("zeros were not treated as disclosive")
    if approved.dominance_n is not None:
        n, k = used.get("dominance_n"), used.get("dominance_k")
        if n is None or k is None or n < approved.dominance_n or k > approved.dominance_k:
            out.append(
                f"dominance ({n}, {k}) weaker than ({approved.dominance_n}, {approved.dominance_k})"
            )
    if approved.p_ratio is not None and (used.get("p_ratio") or 0) < approved.p_ratio:
        out.append(f"p-ratio {used.get('p_ratio')} < {approved.p_ratio}")
    if approved.min_dof is not None and (used.get("min_dof") or 0) < approved.min_dof:
        out.append(f"min_dof {used.get('min_dof')} < {approved.min_dof}")
    for field in ("lower_protection", "upper_protection", "min_protection"):
        if used.get(field, 0) < getattr(approved, field):
            out.append(f"{field} {used.get(field)} < {getattr(approved, field)}")
    return out


def known_bounds(
    snap: TableSnapshot, rounding_base: float, floor: float
) -> tuple[np.ndarray, np.ndarray]:
    """What the table publishes about each of its cells, as bounds: a published value
    exactly, a rounded one to within half the base, nothing of a recomputed total, and
    of a hidden cell only that it is at least ``floor``."""
    shown, state = snap.shown, snap.state
    lo = np.where(np.isnan(shown), 0.0, shown)
    hi = lo.copy()
    rounded = state == "rounded"
    lo[rounded] = np.maximum(shown[rounded] - rounding_base / 2, 0.0)
    hi[rounded] = shown[rounded] + rounding_base / 2
    free = np.isin(state, ("recomputed", "hidden"))
    lo[free], hi[free] = 0.0, np.inf
    hidden = np.isin(state, HIDDEN_STATES)
    lo[hidden] = np.where(state[hidden] == "redacted", 0.0, floor)
    hi[hidden] = np.inf
    return lo, hi


def recheck_snapshot(
    snap: TableSnapshot,
    rules: Rules,
    used_base: float,
    extra: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[list[str], Any]:
    """Primary rules and the exact audit of a snapshot under ``rules``; ``extra``: more
    bounds an attacker has (from other releases). Returns the problems and the audit."""
    grid = snap.grid
    prim = primary(grid, rules, magnitude=snap.magnitude)
    hidden = np.isin(snap.state, HIDDEN_STATES)
    problems = []
    shown_breaking = prim.mask & ~hidden & (snap.state != "hidden")
    for i in np.flatnonzero(shown_breaking)[:5]:
        rule = ", ".join(prim.reasons[i])
        problems.append(f"{snap.name}: cell {grid.key(int(i))} breaks {rule} but is published")
    if shown_breaking.sum() > 5:
        problems.append(f"{snap.name}: {int(shown_breaking.sum()) - 5} more such cells")
    floor = 1.0 if grid.integer and not rules.zeros_disclosive else 0.0
    lo, hi = known_bounds(snap, used_base, floor)
    if extra is not None:
        lo, hi = np.maximum(lo, extra[0]), np.minimum(hi, extra[1])
        known = hidden & (hi - lo <= 1e-6)  # published outright elsewhere
        for i in np.flatnonzero(known)[:5]:
            problems.append(f"{snap.name}: {grid.key(int(i))} can be worked back (recoverable)")
        hidden = hidden & ~known
    result = audit(
        grid,
        lo,
        hi,
        hidden,
        prim,
        min_count=rules.min_count,
        zeros_disclosive=rules.zeros_disclosive,
        published=snap.state != "hidden",
    )
    for f in result.failures[:5]:
        where = f.get("cell") or f"the group {f.get('group')} under {f.get('margin')}"
        problems.append(f"{snap.name}: {where} can be worked back ({', '.join(f['problems'])})")
    if len(result.failures) > 5:
        problems.append(f"{snap.name}: {len(result.failures) - 5} more cells or groups")
    return problems, result


def recheck(entry: dict[str, Any], folder: Path, rules: Rules) -> list[str]:
    """The problems of one output request entry under the approved ``rules`` (none: it
    may be released)."""
    name = entry["name"]
    problems: list[str] = []
    sums = entry.get("file_sha256") or {}
    for f in entry["files"]:
        path = folder / f
        if f not in sums:
            problems.append(f"{name}: {f} has no checksum of its check (request it again)")
        elif not path.is_file():
            problems.append(f"{name}: {f} is missing from the output request")
        elif hashlib.sha256(path.read_bytes()).hexdigest() != sums[f]:
            problems.append(f"{name}: {f} was changed after its check")
    record = entry["record"]
    if record["status"] == "fail":
        problems.append(f"{name}: its check failed")
    if record["status"] == "review" and not (entry.get("justification") or "").strip():
        problems.append(f"{name}: needs review but has no justification")
    snap = None
    if entry.get("snapshot"):
        try:
            snap = TableSnapshot.load(folder / "records" / entry["snapshot"])
        except IntegrityError as exc:
            problems.append(f"{name}: {exc.message}")
        if snap is not None and snap.digest() != entry.get("snapshot_sha256"):
            problems.append(f"{name}: its table snapshot was changed after its check")
            snap = None
    if snap is not None:
        used = record.get("rules") or {}
        try:
            found, _ = recheck_snapshot(snap, rules, float(used.get("rounding_base", 5)))
        except RuntimeError:  # the audit LP has no solution: cells and relations disagree
            found = [f"{name}: its published cells contradict its own table (request it again)"]
        problems += found
    else:
        problems += [
            f"{name}: checked with weaker rules: {w}"
            for w in weaker_rules(record.get("rules") or {}, rules)
        ]
    if entry["output"] == "figure":
        problems += _figure_problems(entry, folder)
    return problems


def _figure_problems(entry: dict[str, Any], folder: Path) -> list[str]:
    import json

    import plotly.graph_objects as go

    from mikrodata.toolkit.disclosure.figures import is_checked

    spec = next((f for f in entry["files"] if f.endswith(".plotly.json")), None)
    if spec is None or not (folder / spec).is_file():
        return [f"{entry['name']}: the figure's plotly JSON is missing"]
    try:
        fig = go.Figure(_decoded(json.loads((folder / spec).read_text(encoding="utf-8"))))
    except ValueError:
        return [f"{entry['name']}: the figure cannot be read"]
    if not is_checked(fig):
        return [f"{entry['name']}: the figure no longer plots what its check vouches for"]
    return []


def _decoded(obj: Any) -> Any:
    """Plotly's JSON with its typed arrays (``{"dtype", "bdata"}``) back as lists."""
    import base64

    if isinstance(obj, dict):
        if set(obj) >= {"dtype", "bdata"}:
            arr = np.frombuffer(base64.b64decode(obj["bdata"]), dtype=np.dtype(obj["dtype"]))
            if "shape" in obj:
                shape = [int(x) for x in str(obj["shape"]).split(",")]
                arr = arr.reshape(shape)
            return arr.tolist()
        return {k: _decoded(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_decoded(v) for v in obj]
    return obj
