"""An independent, plain-Python statement of the spell rules (docs/analysis.md), one
unit at a time: the oracle the DuckDB definition is checked against. Slow on purpose:
it is written to be read, not to be fast."""

from __future__ import annotations

from collections import defaultdict

BIG = float("inf")


def _period(row: dict, resolution: str):
    year, month, months = row.get("statistikar"), row.get("manad"), row.get("bistandsmanader")
    if resolution == "month":
        if month is None:
            return "annual_row", None
        if year is None or not 1 <= month <= 12:
            return "bad_period", None
        return None, year * 12 + month - 1
    if month is not None:
        return "monthly_row", None
    if year is None or months is None or not 1 <= months <= 12:
        return "bad_period", None
    return None, year


def _sort_key(i: int, row: dict):
    def last(v):
        return (1, "") if v is None else (0, v)

    amount = row.get("amount")
    return (
        last(row.get("roll")),
        last(row.get("lopnr_hushall")),
        (1, 0) if amount is None else (0, -amount),
        (1, 0) if row.get("paid") is None else (0, -row["paid"]),
        last(row.get("avslutsorsak")),
        i,
    )


def oracle(
    rows: list[dict],
    gap: int = 0,
    unit: str = "person",
    resolution: str = "month",
    window: tuple[int, int] | None = None,
    birth: dict | None = None,
    death: dict | None = None,
    emigration: dict | None = None,
):
    """(spells, issues): spells as dicts, issues as (row, reason) pairs.

    ``window``, ``birth``, ``death`` and ``emigration`` (person -> list) are period
    indexes (year*12 + month - 1, or years)."""
    birth, death, emigration = birth or {}, death or {}, emigration or {}
    key = "lopnr" if unit == "person" else "lopnr_hushall"
    issues: dict[int, str] = {}
    candidates = []
    for i, row in enumerate(rows):
        if row.get("lopnr") is None or row.get(key) is None:
            issues[i] = "missing_pseudonym"
            continue
        reason, p = _period(row, resolution)
        if reason:
            issues[i] = reason
            continue
        paid = 1 if resolution == "month" else row["bistandsmanader"]
        amounts = [row.get(c) for c in ("belopp_forsorjningsstod", "belopp_livsforing_ovrigt")]
        amount = None if all(a is None for a in amounts) else sum(a or 0 for a in amounts)
        candidates.append((i, {**row, "p": p, "paid": paid, "amount": amount}))
    periods = [p for _, r in candidates for p in [r["p"]]]
    w0 = window[0] if window else (min(periods) if periods else 0)
    w1 = window[1] if window else (max(periods) if periods else 0)
    valid = []
    for i, r in candidates:
        person, p = r["lopnr"], r["p"]
        if p < w0 or p > w1:
            issues[i] = "outside_window"
        elif person in birth and birth[person] is not None and p < birth[person]:
            issues[i] = "before_birth"
        elif person in death and death[person] is not None and p > death[person]:
            issues[i] = "after_death"
        else:
            valid.append((i, r))
    groups = defaultdict(list)
    for i, r in valid:
        g = (r[key], r["p"]) if unit == "person" else (r[key], r["lopnr"], r["p"])
        groups[g].append((i, r))
    placed = []
    for members in groups.values():
        members.sort(key=lambda ir: _sort_key(*ir))
        first = members[0][1]
        placed.append(members[0])
        for i, r in members[1:]:
            same = r.get("lopnr_hushall") == first.get("lopnr_hushall")
            issues[i] = "duplicate" if same or unit == "household" else "two_households"
    # unit -> period -> summary of that unit-period
    up: dict = defaultdict(dict)
    for _i, r in placed:
        cell = up[r[key]].setdefault(
            r["p"], {"rows": 0, "paid": 0, "amount": None, "avsl": None, "who": None}
        )
        cell["rows"] += 1
        if unit == "person":
            cell.update(paid=r["paid"], amount=r["amount"], avsl=r.get("avslutsorsak"))
            cell["who"] = r["lopnr"]
        else:  # household values repeat on members' rows: each period counts once
            cell["paid"] = max(cell["paid"], r["paid"])
            if r["amount"] is not None:
                cell["amount"] = max(cell["amount"] or r["amount"], r["amount"])
            if r.get("avslutsorsak") is not None:
                cell["avsl"] = max(cell["avsl"] or r["avslutsorsak"], r["avslutsorsak"])
            if r.get("roll") == "1":
                cell["who"] = min(cell["who"] or r["lopnr"], r["lopnr"])
    spells = []
    for u in sorted(up):
        ps = sorted(up[u])
        groups_: list[list[int]] = []
        for p in ps:
            if groups_ and p - groups_[-1][-1] - 1 <= gap:
                groups_[-1].append(p)
            else:
                groups_.append([p])
        for n, g in enumerate(groups_, start=1):
            start, end = g[0], g[-1]
            cells = [up[u][p] for p in g]
            amounts = [c["amount"] for c in cells if c["amount"] is not None]
            last = up[u][end]
            who = last["who"]
            died = who in death and death[who] is not None and end <= death[who] <= end + 1
            emigrated = any(end <= e <= end + 1 for e in emigration.get(who, []))
            open_end = w1 - end <= gap
            if died:
                reason = "death"
            elif emigrated:
                reason = "emigration"
            elif open_end:
                reason = "censored"
            elif last["avsl"] is not None:
                reason = "avslutsorsak"
            else:
                reason = "unknown"
            nxt = groups_[n][0] if n < len(groups_) else None
            if nxt is not None:
                to_reentry = nxt - end - 1
            elif open_end or died or emigrated:
                to_reentry = None
            else:
                stops = [w1]
                if who in death and death[who] is not None:
                    stops.append(death[who])
                stops += [e for e in sorted(emigration.get(who, [])) if e > end][:1]
                to_reentry = min(stops) - end
            spells.append(
                {
                    key: u,
                    "spell": n,
                    "start": start,
                    "end": end,
                    "months": (end - start + 1) * (1 if resolution == "month" else 12),
                    "paid_months": sum(c["paid"] for c in cells),
                    "amount": sum(amounts) if amounts else None,
                    "rows": sum(c["rows"] for c in cells),
                    "left_censored": start - w0 <= gap,
                    "right_censored": open_end and not (died or emigrated),
                    "end_reason": reason,
                    "avslutsorsak": last["avsl"] if reason == "avslutsorsak" else None,
                    "next_start": nxt,
                    "months_to_reentry": to_reentry,
                    "reentered": nxt is not None,
                }
            )
    return spells, sorted(issues.items())
