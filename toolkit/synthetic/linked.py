"""Linked registers: child placements, LSS, SoL services, causes of death.

Each is built from the same synthetic people as the population and social-assistance
registers, for the years the register's catalogue covers:

* ``barn_unga``: placements of children and young people (0-20). The yearly start hazard
  is several times higher for children in households with long-term social assistance,
  and raised for any assistance, so linkage analyses find the association. One row per
  placement and year it is in force; the end date is empty while it is ongoing.
* ``lss``: a small share of people have a lasting impairment (personkrets) and one or two
  LSS measures, in force on 1 October each year from age three.
* ``sol_insatser``: home help from an old age drawn per person, then often residential
  care, with a safety alarm beside home help; a few younger people with impairments get
  other services. One row per person, month and service.
* ``dodsorsak``: every death of a registered person, with an ICD-10 code drawn inside the
  code range of a chapter (the ranges are read from the catalogue's chapter labels).

Codes with a meaning the model needs are looked up by their English label in the
catalogue; any other code valid in the year is used generically.
"""

from __future__ import annotations

import re

import numpy as np
import pyarrow as pa

from mikrodata.quality.catalogue import Variable, load

from .columns import build_table, zero_padded
from .population import Geography, Population

__all__ = ["LINKED_REGISTERS", "linked_tables"]

REFERENCE_MONTH = 10  # sol_insatser's yearly reference date before 2014: 1 October
LINKED_REGISTERS = ("barn_unga", "lss", "sol_insatser", "dodsorsak")

PLACEMENT_HAZARD = 0.004  # per child and year without assistance
PLACEMENT_FACTOR_ANY, PLACEMENT_FACTOR_LONG = 2.5, 6.0
PLACEMENT_YEARS = 1.6  # mean duration
PLACEMENT_FORMS = {
    "Family home (foster care)": 0.55,
    "Residential care home (HVB)": 0.22,
    "Emergency foster home": 0.06,
    "Supported housing (ages 16-20)": 0.05,
    "Special youth home (SiS, 12 § LVU)": 0.04,
}
LEGAL_GROUNDS = {"Social Services Act (voluntary care)": 0.7}
LSS_SHARE = 0.006
LSS_GROUPS = {
    "Intellectual disability, autism or autism-like condition": 0.7,
    "Other lasting physical or mental impairments not due to normal ageing": 0.25,
}
LSS_MEASURES = {
    "Daily activities": 0.3,
    "Residence with special service for adults or other specially adapted residence": 0.25,
    "Personal assistance": 0.15,
    "Contact person": 0.1,
}
SOL_HOME_HELP = "Home help in ordinary housing"
SOL_RESIDENTIAL = "Residential care (special housing)"
SOL_ALARM = "Personal safety alarm"
SOL_OLDER = "Older people"
SOL_IMPAIRED = "Persons with impairments"
HOME_HELP_SHARE, RESIDENTIAL_SHARE, ALARM_SHARE, YOUNG_SOL_SHARE = 0.6, 0.45, 0.6, 0.004
# Share of deaths by ICD-10 chapter, keyed by the first letter of the chapter's range
# (Socialstyrelsen's cause-of-death statistics, rounded).
DEATH_CAUSES = {
    "I": 0.32,
    "C": 0.26,
    "J": 0.07,
    "F": 0.08,
    "G": 0.05,
    "V": 0.05,
    "K": 0.03,
    "E": 0.04,
    "N": 0.02,
    "R": 0.02,
    "A": 0.02,
    "U": 0.01,
}
DEATH_CAUSE_MISSING = 0.01
_RANGE = re.compile(r"\(([A-Z])(\d\d)-([A-Z])(\d\d)\)")


def _code_by_label(var: Variable, year: int, label: str) -> str | None:
    for c in var.codes_in(year):
        if c.label_en == label:
            return c.code
    return None


def _years(register: str, years: tuple[int, ...]) -> list[int]:
    reg = load(register)
    return [y for y in years if reg.covers(y)]  # inside its years, not a missing year


def _resident(pop: Population, m0: int, m1: int) -> np.ndarray:
    return (pop.start_m <= m1) & (pop.end_m > m0) & ~pop.coordination


def _age_at(pop: Population, date: np.datetime64) -> np.ndarray:
    return (date - pop.birth).astype(np.int64) / 365.25


def _barn_unga(pop, years, rng, geo, person_months, all_years):
    reg = load("barn_unga")
    ys = _years("barn_unga", years)
    if not ys:
        return {}
    starts_p, starts_d, ends_d = [], [], []
    for y in range(max(ys[0] - 5, all_years[0]), ys[-1] + 1):
        yi = all_years.index(y)
        m0 = (y - 1970) * 12
        age = _age_at(pop, np.datetime64(f"{y}-07-01"))
        here = _resident(pop, m0, m0 + 11) & (age >= 0) & (age < 21)
        pm = person_months[:, yi]
        h = PLACEMENT_HAZARD * np.where(
            pm >= 10, PLACEMENT_FACTOR_LONG, np.where(pm > 0, PLACEMENT_FACTOR_ANY, 1.0)
        )
        h = h * np.where(age >= 13, 1.6, 1.0)
        new = np.flatnonzero(here & (rng.random(pop.size) < h))
        start = np.datetime64(f"{y}-01-01") + rng.integers(0, 365, new.size).astype(
            "timedelta64[D]"
        )
        dur = (rng.exponential(PLACEMENT_YEARS, new.size) * 365.25).astype(np.int64) + 14
        end = start + dur.astype("timedelta64[D]")
        # A placement ends at the latest when the person turns 21 or leaves Sweden.
        limit = pop.birth[new] + np.timedelta64(int(21 * 365.25), "D")
        out = (pop.end_m[new] - 1).astype("datetime64[M]").astype("datetime64[D]")
        end = np.minimum(np.minimum(end, limit), np.where(pop.end_m[new] < 10**8, out, end))
        end = np.maximum(end, start)
        starts_p.append(new)
        starts_d.append(start)
        ends_d.append(end)
    p = np.concatenate(starts_p)
    s = np.concatenate(starts_d)
    e = np.concatenate(ends_d)
    u_form, u_law = rng.random(p.size), rng.random(p.size)
    # Unaccompanied minors: foreign-born, placed within two years of arrival, aged 13+.
    arrived = np.where(np.isnat(pop.imm_date[p]), np.datetime64("1900-01-01"), pop.imm_date[p])
    alone = (
        pop.born_abroad[p]
        & ((s - arrived).astype(np.int64) < 730)
        & ((s - pop.birth[p]).astype(np.int64) > 13 * 365)
        & (rng.random(p.size) < 0.5)
    )
    sy = s.astype("datetime64[Y]").astype(np.int64) + 1970
    ey = e.astype("datetime64[Y]").astype(np.int64) + 1970
    tables = {}
    form_var = reg.variable("insatsform")
    # One placement form per placement: draw with the codes valid in the start year.
    for y in ys:
        sel = np.flatnonzero((sy <= y) & (ey >= y))
        sel = sel[np.argsort(p[sel], kind="stable")]
        n = sel.size
        values = {
            "personnummer": pop.ident[p[sel]].astype(object),
            "kommun": geo.kommun[pop.kommun[p[sel]]],
            "insats_start": s[sel],
            "insats_slut": np.where(ey[sel] > y, np.datetime64("NaT"), e[sel]),
            # Drawn once per placement, so a placement keeps its form and legal ground
            # in every year it is in force.
            "insatsform": _from_uniform(form_var, y, u_form[sel], PLACEMENT_FORMS),
            "lagrum": _from_uniform(reg.variable("lagrum"), y, u_law[sel], LEGAL_GROUNDS),
        }
        if "ensamkommande" in reg.names and reg.variable("ensamkommande").exists_in(y):
            evar = reg.variable("ensamkommande")
            yes, no = _code_by_label(evar, y, "Yes"), _code_by_label(evar, y, "No")
            if yes is not None and no is not None:
                values["ensamkommande"] = np.where(alone[sel], yes, no).astype(object)
        tables[y] = build_table("barn_unga", y, values, n, rng)
    return tables


def _lss(pop, years, rng, geo):
    reg = load("lss")
    ys = _years("lss", years)
    if not ys:
        return {}
    has = rng.random(pop.size) < LSS_SHARE
    u_group = rng.random(pop.size)
    u_m1, u_m2, two = rng.random(pop.size), rng.random(pop.size), rng.random(pop.size) < 0.35
    tables = {}
    for y in ys:
        oct1 = np.datetime64(f"{y}-10-01")
        m = (y - 1970) * 12 + 9
        age = _age_at(pop, oct1)
        here = np.flatnonzero(
            has & (pop.start_m <= m) & (pop.end_m > m) & ~pop.coordination & (age >= 3)
        )
        gvar, ivar = reg.variable("personkrets"), reg.variable("insats")
        group = _from_uniform(gvar, y, u_group[here], LSS_GROUPS)
        first = _from_uniform(ivar, y, u_m1[here], LSS_MEASURES)
        second = _from_uniform(ivar, y, u_m2[here], {})
        extra = two[here] & (second != first)
        person = np.concatenate([here, here[extra]])
        insats = np.concatenate([first, second[extra]])
        grp = np.concatenate([group, group[extra]])
        order = np.lexsort((insats, person))
        person, insats, grp = person[order], insats[order], grp[order]
        values = {
            "personnummer": pop.ident[person].astype(object),
            "kommun": geo.kommun[pop.kommun[person]],
            "insats": insats,
            "personkrets": grp,
        }
        tables[y] = build_table("lss", y, values, person.size, rng)
    return tables


def _from_uniform(var, year, u, weights):
    codes = var.codes_in(year)
    w = np.array([weights.get(c.label_en, -1.0) for c in codes])
    rest = max(1.0 - w[w > 0].sum(), 0.05)
    unknown = w < 0
    w[unknown] = rest / max(int(unknown.sum()), 1)
    cum = np.cumsum(w / w.sum())
    idx = np.minimum(np.searchsorted(cum, u, side="right"), len(codes) - 1)
    return np.array([c.code for c in codes], dtype=object)[idx]


def _months(a: np.ndarray, b: np.ndarray, m0: int) -> tuple[np.ndarray, np.ndarray]:
    """Expand intervals [a, b) of months to (row, month 1-12) inside the year from m0."""
    lo = np.maximum(a, m0)
    hi = np.minimum(b, m0 + 12)
    count = np.maximum(hi - lo, 0)
    rows = np.repeat(np.arange(a.size), count)
    k = np.arange(rows.size) - np.repeat(np.cumsum(count) - count, count)
    return rows, (lo[rows] + k - m0 + 1)


def _sol(pop, years, rng, geo):
    reg = load("sol_insatser")
    ys = _years("sol_insatser", years)
    if not ys:
        return {}
    birth_m = pop.birth.astype("datetime64[M]").astype(np.int64)
    start, end = pop.start_m, np.minimum(pop.end_m, 10**8)
    gets = rng.random(pop.size) < HOME_HELP_SHARE
    hh_age = 76 + rng.gamma(2.0, 4.5, pop.size)
    res_age = hh_age + rng.gamma(2.0, 1.5, pop.size)
    goes_res = rng.random(pop.size) < RESIDENTIAL_SHARE
    alarm = rng.random(pop.size) < ALARM_SHARE
    hh_from = np.where(gets, birth_m + (hh_age * 12).astype(np.int64), 10**8)
    res_from = np.where(gets & goes_res, birth_m + (res_age * 12).astype(np.int64), 10**8)
    young = rng.random(pop.size) < YOUNG_SOL_SHARE
    young_from = birth_m + (rng.uniform(20, 60, pop.size) * 12).astype(np.int64)
    young_to = np.minimum(
        birth_m + 65 * 12, young_from + (rng.exponential(6, pop.size) * 12).astype(np.int64)
    )
    u_young = rng.random(pop.size)
    ok = ~pop.coordination
    tables = {}
    for y in ys:
        ivar, gvar = reg.variable("insats"), reg.variable("malgrupp")
        m0 = (y - 1970) * 12
        parts = []  # (persons, months, codes)
        code_hh = _code_by_label(ivar, y, SOL_HOME_HELP)
        code_res = _code_by_label(ivar, y, SOL_RESIDENTIAL)
        code_al = _code_by_label(ivar, y, SOL_ALARM)
        for code, a, b, who in (
            (code_hh, hh_from, res_from, ok),
            (code_al, hh_from, res_from, ok & alarm),
            (code_res, res_from, np.full(pop.size, 10**8), ok),
        ):
            if code is None:
                continue
            a2 = np.where(who, np.maximum(a, start), 10**8)
            b2 = np.minimum(b, end)
            r, mon = _months(a2, b2, m0)
            parts.append((r, mon, np.full(r.size, code, dtype=object)))
        a2 = np.where(ok & young, np.maximum(young_from, start), 10**8)
        r, mon = _months(a2, np.minimum(young_to, end), m0)
        parts.append((r, mon, _from_uniform(ivar, y, u_young[r], {})))
        person = np.concatenate([p[0] for p in parts])
        month = np.concatenate([p[1] for p in parts])
        insats = np.concatenate([p[2] for p in parts])
        # One row per person, month and service.
        key = np.char.add(pop.ident[person].astype(str), insats.astype(str))
        order = np.lexsort((insats.astype(str), person, month))
        person, month, insats = person[order], month[order], insats[order]
        key = key[order]
        keep = np.r_[True, (key[1:] != key[:-1]) | (month[1:] != month[:-1])][: key.size]
        person, month, insats = person[keep], month[keep], insats[keep]
        if not reg.variable("manad").exists_in(y):
            # Before monthly reporting: the services in force on the yearly reference date
            # (1 October), one row per person and service.
            on_date = month == REFERENCE_MONTH
            person, month, insats = person[on_date], month[on_date], insats[on_date]
        age = (m0 + month - 1 - birth_m[person]) / 12
        older = _code_by_label(gvar, y, SOL_OLDER)
        impaired = _code_by_label(gvar, y, SOL_IMPAIRED)
        malgrupp = (
            np.where(age >= 65, older, impaired)
            if older is not None and impaired is not None
            else None
        )
        hours = np.round(np.minimum(rng.lognormal(np.log(22), 0.8, person.size), 744), 1)
        values = {
            "personnummer": pop.ident[person].astype(object),
            "manad": month,
            "kommun": geo.kommun[pop.kommun[person]],
            "insats": insats,
            "hemtjanst_timmar": hours,
        }
        if malgrupp is not None:
            values["malgrupp"] = malgrupp
        tables[y] = build_table("sol_insatser", y, values, person.size, rng)
    return tables


def _dodsorsak(pop, years, rng, geo):
    reg = load("dodsorsak")
    ys = _years("dodsorsak", years)
    if not ys:
        return {}
    dy = pop.death_date.astype("datetime64[Y]").astype(np.int64) + 1970
    registered_at_death = (
        ~pop.coordination
        & ~np.isnat(pop.death_date)
        & (pop.start_m <= pop.death_date.astype("datetime64[M]").astype(np.int64))
        & np.isnat(pop.emi_date)
    )
    kvar = reg.variable("dodsorsak_kapitel")
    tables = {}
    for y in ys:
        who = np.flatnonzero(registered_at_death & (dy == y))
        chapters = kvar.codes_in(y)
        ranges, weights, codes = [], [], []
        for c in chapters:
            mt = _RANGE.search(c.label_en)
            if not mt:
                continue
            lo = (ord(mt.group(1)) - 65) * 100 + int(mt.group(2))
            hi = (ord(mt.group(3)) - 65) * 100 + int(mt.group(4))
            ranges.append((lo, hi))
            weights.append(DEATH_CAUSES.get(mt.group(1), 0.002))
            codes.append(c.code)
        w = np.array(weights) / np.sum(weights)
        pick = rng.choice(len(codes), size=who.size, p=w)
        lo = np.array([r[0] for r in ranges])[pick]
        hi = np.array([r[1] for r in ranges])[pick]
        val = lo + (rng.random(who.size) * (hi - lo + 1)).astype(np.int64)
        letters = np.array([chr(65 + i) for i in range(26)], dtype=object)
        icd = (
            letters[val // 100]
            + zero_padded(val % 100, 2).astype(object)
            + rng.integers(0, 10, who.size).astype(str).astype(object)
        )
        missing = rng.random(who.size) < DEATH_CAUSE_MISSING
        values = {
            "personnummer": pop.ident[who].astype(object),
            "dodsdatum": pop.death_date[who],
            "underliggande_dodsorsak": np.where(missing, None, icd),
            "dodsorsak_kapitel": np.where(missing, None, np.array(codes, dtype=object)[pick]),
        }
        tables[y] = build_table("dodsorsak", y, values, who.size, rng)
    return tables


def linked_tables(
    pop: Population,
    years: tuple[int, ...],
    rng: np.random.Generator,
    geo: Geography,
    person_months: np.ndarray,
    registers: tuple[str, ...] = LINKED_REGISTERS,
) -> dict[str, dict[int, pa.Table]]:
    """The rows of every linked register for one chunk, per register and year."""
    out: dict[str, dict[int, pa.Table]] = {}
    for name in registers:
        if name == "barn_unga":
            out[name] = _barn_unga(pop, years, rng, geo, person_months, list(years))
        elif name == "lss":
            out[name] = _lss(pop, years, rng, geo)
        elif name == "sol_insatser":
            out[name] = _sol(pop, years, rng, geo)
        elif name == "dodsorsak":
            out[name] = _dodsorsak(pop, years, rng, geo)
    return out
