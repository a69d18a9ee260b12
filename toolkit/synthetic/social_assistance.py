"""Social assistance (``ekonomiskt_bistand``): households, spells, amounts, impediments.

The model, month by month for every assistance unit of a chunk:

* Units are families (head, partner, children under 18) and, from their 18th birthday,
  each grown child on their own. A unit can receive assistance in a month when one of its
  adults lives in Sweden.
* Entry: a monthly hazard that depends on the applicant's age, sex and household type
  (single parents and young singles most), country of birth (foreign-born, refugees and
  the recently arrived more), the municipality (a per-municipality factor) and the year
  (scaled to the published number of households per inhabitant).
* Spells: at entry a spell is short (exit hazard 46% a month) or long (3.5%); the
  chance of a long spell rises with age, for single and foreign-born applicants, and
  after 2016. Leavers return at a raised hazard for three months, always into a short
  spell. Most spells are short (median 2-3 months), about one in seven lasts more than
  a year, and more than half of the leavers return within three months.
* Amounts: a monthly need by household type and size (adults, children), times the
  share the household cannot meet itself (higher in long spells), times a price and
  norm index per year fitted to the published SEK per household; about 8% of each
  amount is livsföring i övrigt, the rest försörjningsstöd.
* Impediments (adults, from the catalogue's first year): a group per adult and year with
  shares by sex and country of birth (SCB 2021) and a trend fitted to the published
  national shares, then a code of that group valid in the year, read from the catalogue.

Rows follow the catalogue: one per member and month where ``manad`` exists, one per
member and year before (with ``bistandsmanader``); household variables repeat on every
member's row; every variable is null outside its years.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from mikrodata.quality.catalogue import load
from mikrodata.toolkit.errors import CatalogueError

from .columns import build_table, generic_values, year_column, zero_padded
from .identifiers import SEX_FEMALE, SEX_MALE
from .population import Geography, Population
from .series import interpolate

__all__ = ["AssistanceChunk", "REGISTER", "simulate_assistance", "HOUSEHOLD_RATE"]

REGISTER = "ekonomiskt_bistand"

# Published households per inhabitant (DOMAIN.md §6: households / population). Before
# 2002 no figure is in the brief; the 2002 level is held, slightly raised for the late
# 1990s (an assumption: assistance peaked in the mid-1990s).
HOUSEHOLD_RATE: dict[int, float] = {
    1990: 0.0310,
    1998: 0.0300,
    2002: 0.0265,
    2013: 0.02365,
    2015: 0.02299,
    2016: 0.02202,
    2017: 0.02115,
    2018: 0.02018,
    2020: 0.01913,
    2021: 0.01744,
    2022: 0.01527,
    2023: 0.01381,
    2024: 0.01374,
}
# The model's composition drifts (more foreign-born people later), which raises its
# entry rate by itself; this factor, fitted on a 50,000-person run, takes the drift out
# so that households per inhabitant follow HOUSEHOLD_RATE.
DRIFT: dict[int, float] = {
    1998: 0.74,
    2002: 0.75,
    2013: 0.944,
    2015: 1.0,
    2016: 1.076,
    2017: 1.085,
    2018: 1.172,
    2020: 1.231,
    2021: 1.415,
    2022: 1.566,
    2023: 1.47,
    2024: 1.14,
}
# Households with children fell faster than others after 2020 (children in recipient
# households 130,000 in 2020, 85,200 in 2023): a factor on their entry rate.
CHILDREN_TREND: dict[int, float] = {
    2002: 1.25,
    2010: 1.0,
    2013: 0.88,
    2016: 0.96,
    2020: 0.87,
    2023: 0.54,
    2024: 0.54,
}
# SEK per household and year relative to 2015 (published amounts / households): the
# level of norms, rents and prices.
AMOUNT_INDEX: dict[int, float] = {
    1990: 0.62,
    1998: 0.72,
    2002: 0.80,
    2015: 1.00,
    2016: 0.985,
    2017: 0.99,
    2018: 1.07,
    2020: 1.11,
    2024: 1.40,
}
# Monthly need in 2015 SEK: first adult, second adult, each child.
NEED_ADULT1, NEED_ADULT2, NEED_CHILD = 7_100.0, 3_200.0, 1_900.0
LIVSFORING_SHARE = 0.08  # 92% of the amount is försörjningsstöd (publ. 2014-9-2)

ENTRY_SCALE = 0.000332  # monthly entry hazard per unit at HOUSEHOLD_RATE 2015 = 1
EXIT_SHORT, EXIT_LONG = 0.46, 0.035
RETURN_HAZARD, RETURN_MONTHS = 0.25, 3
LONG_SPELL_BASE = 0.38
# Spells grew longer as the number of recipients fell (the long-term share of adults in
# the population held at ~1.3% while households fell by a fifth, Kolada): a trend on
# the chance that a spell is long.
LONG_TREND: dict[int, float] = {2016: 1.0, 2019: 1.5, 2020: 2.1, 2021: 1.55, 2024: 1.4}
BURN_IN_MONTHS = 48

# Impediment groups: national shares by year (DOMAIN.md §6: 2012 46/11, 2014 49/11,
# 2016 51, 2018 >50/15, 2021 SCB table), and relative factors by sex and birth country
# from the SCB 2021 table (women/men x born in Sweden/abroad).
GROUPS = ("unemployment", "social_reasons", "ill_health", "other")
GROUP_SHARES: dict[str, dict[int, float]] = {
    "unemployment": {2010: 0.485, 2012: 0.495, 2014: 0.525, 2016: 0.545, 2018: 0.55, 2021: 0.55},
    "social_reasons": {2010: 0.097, 2014: 0.095, 2016: 0.12, 2018: 0.137, 2021: 0.16},
    "ill_health": {2010: 0.16, 2014: 0.16, 2018: 0.16, 2021: 0.16},
}
# (sex, born abroad) -> shares of unemployment, social reasons, ill health in 2021;
# other years scale them by the national trend above.
GROUP_2021 = {
    (SEX_FEMALE, False): (0.33, 0.22, 0.29),
    (SEX_FEMALE, True): (0.42, 0.29, 0.18),
    (SEX_MALE, False): (0.62, 0.11, 0.13),
    (SEX_MALE, True): (0.64, 0.11, 0.10),
}

# What the model means by each code of the code lists it must interpret. The codes are
# checked against the catalogue when a run starts (:func:`check_catalogue`).
ROLE = {"applicant": "1", "co_applicant": "2", "child": "3"}
HOUSEHOLD_TYPE = {
    # (adults, has children, applicant sex) -> hushallstyp
    (1, False, SEX_MALE): "3",
    (1, True, SEX_MALE): "4",
    (1, False, SEX_FEMALE): "5",
    (1, True, SEX_FEMALE): "6",
    (2, False, SEX_MALE): "7",
    (2, True, SEX_MALE): "8",
    (2, False, SEX_FEMALE): "7",
    (2, True, SEX_FEMALE): "8",
}
COUNT_CODED = ("flykting", "fodelseland", "arbetslost_hushall")  # codes "0","1","2" = count


def check_catalogue() -> None:
    """Fail early, naming the variable, if the catalogue no longer has a code the model
    interprets (a renumbered code list needs this mapping updated)."""
    reg = load(REGISTER)
    wanted = {"roll": set(ROLE.values()), "hushallstyp": set(HOUSEHOLD_TYPE.values())}
    wanted.update({v: {"0", "1", "2"} for v in COUNT_CODED})
    wanted["kon"] = {str(SEX_MALE), str(SEX_FEMALE)}
    for name, codes in wanted.items():
        if name not in reg.names:
            continue
        have = {c.code for c in reg.variable(name).codes.codes}
        if not codes <= have:
            raise CatalogueError(
                f"{REGISTER}.{name} lacks codes the synthetic model uses "
                f"({', '.join(sorted(codes - have))})",
                "Update the mapping in toolkit/synthetic/social_assistance.py",
            )


@dataclass
class AssistanceChunk:
    """The register rows of one chunk, per year, and what linked registers need."""

    tables: dict[int, pa.Table]
    person_months: np.ndarray  # (persons, years) months in a recipient household
    years: tuple[int, ...]


def _age_factor(age: np.ndarray) -> np.ndarray:
    return np.select(
        [age < 25, age < 30, age < 40, age < 50, age < 65],
        [5.0, 1.3, 1.3, 1.0, 0.75],
        0.2,
    )


def _type_factor(couple: np.ndarray, kids: np.ndarray, sex: np.ndarray) -> np.ndarray:
    single_w = ~couple & (sex == SEX_FEMALE)
    return np.where(
        couple,
        np.where(kids > 0, 1.75, 0.30),
        np.where(kids > 0, np.where(single_w, 4.8, 2.4), np.where(single_w, 0.95, 1.5)),
    )


class _Units:
    """Assistance units of a chunk and the people in them (index n is 'nobody')."""

    def __init__(self, pop: Population) -> None:
        n = pop.size
        self.n = n
        f = pop.head.size
        c = pop.child_idx.size
        self.a1 = np.concatenate([np.where(pop.head < 0, n, pop.head), pop.child_idx])
        self.a2 = np.concatenate([np.where(pop.partner < 0, n, pop.partner), np.full(c, n)])
        self.fam = np.concatenate([np.arange(f), np.full(c, -1)])
        self.size = f + c
        self.n_fam = f

        def pad(a, fill):
            return np.concatenate([a, [fill]])

        self.birth_m = pad(pop.birth.astype("datetime64[M]").astype(np.int64), 10**9)
        self.start_m = pad(pop.start_m, 10**9)
        self.end_m = pad(pop.end_m, -(10**9))
        self.sex = pad(pop.sex, 0)
        self.abroad = pad(pop.born_abroad, False)
        self.refugee = pad(pop.refugee, False)
        self.arrive_m = pad(
            np.where(
                np.isnat(pop.imm_date),
                -(10**9),
                pop.imm_date.astype("datetime64[M]").astype(np.int64),
            ),
            -(10**9),
        )
        kommun = np.concatenate([pop.family_kommun, pop.kommun[pop.child_idx]])
        self.kommun = kommun
        self.child_fam = pop.family[pop.child_idx]
        self.child_person = pop.child_idx

    def adult(self, p: np.ndarray, m) -> np.ndarray:
        return (self.start_m[p] <= m) & (m < self.end_m[p]) & (m - self.birth_m[p] >= 216)

    def minor(self, p: np.ndarray, m) -> np.ndarray:
        return (
            (self.start_m[p] <= m)
            & (m < self.end_m[p])
            & (m >= self.birth_m[p])
            & (m - self.birth_m[p] < 216)
        )

    def kids(self, m: int) -> np.ndarray:
        here = self.minor(self.child_person, m)
        k = np.bincount(self.child_fam[here], minlength=self.n_fam)
        return np.concatenate([k, np.zeros(self.size - self.n_fam, dtype=np.int64)])


def _simulate(units: _Units, m0: int, m1: int, rng, kommun_factor) -> np.ndarray:
    """State per month and unit: 0 none, 1 short spell, 2 long spell."""
    months = m1 - m0 + 1
    state = np.zeros((months, units.size), dtype=np.int8)
    cur = np.zeros(units.size, dtype=np.int8)
    last_exit = np.full(units.size, -(10**6))
    kf = kommun_factor[units.kommun]
    unit_frailty = rng.lognormal(-0.18, 0.6, size=units.size)  # unobserved heterogeneity
    rate_2015 = float(interpolate(HOUSEHOLD_RATE, 2015))
    for t in range(months):
        m = m0 + t
        year = 1970 + m // 12
        p1 = units.adult(units.a1, m)
        p2 = units.adult(units.a2, m)
        active = p1 | p2
        app = np.where(p1, units.a1, units.a2)
        couple = p1 & p2
        kids = units.kids(m)
        age = (m - units.birth_m[app]) // 12
        sex = units.sex[app]
        recent = (m - units.arrive_m[app]) < 60
        hazard = (
            ENTRY_SCALE
            * float(interpolate(HOUSEHOLD_RATE, year) / interpolate(DRIFT, year))
            / rate_2015
            * _age_factor(age)
            * _type_factor(couple, kids, sex)
            * np.where(units.abroad[app], 5.0, 1.0)
            * np.where(units.refugee[app], 1.8, 1.0)
            * np.where(recent & units.abroad[app], 2.5, 1.0)
            * np.where(kids > 0, float(interpolate(CHILDREN_TREND, year)), 1.0)
            * kf
            * unit_frailty
        )
        since = m - last_exit
        hazard = np.where((since >= 1) & (since <= RETURN_MONTHS), RETURN_HAZARD, hazard)
        u = rng.random(units.size)
        enter = (cur == 0) & active & (u < hazard)
        p_long = np.clip(
            LONG_SPELL_BASE
            * float(interpolate(LONG_TREND, year))
            * np.where(age >= 30, 1.5, 1.0)
            * np.where(age >= 50, 1.3, 1.0)
            * np.where(couple, 0.8, 1.0)
            * np.where(units.abroad[app], 1.25, 1.0),
            0,
            0.9,
        )
        # A return soon after leaving is a short top-up, never the start of a long spell.
        returning = (since >= 1) & (since <= RETURN_MONTHS)
        spell = np.where((rng.random(units.size) < p_long) & ~returning, 2, 1).astype(np.int8)
        stay = np.where(cur == 2, EXIT_LONG, EXIT_SHORT)
        leave = (cur > 0) & ((u < stay) | ~active)
        last_exit = np.where(leave, m, last_exit)
        cur = np.where(enter, spell, np.where(leave, 0, cur)).astype(np.int8)
        state[t] = cur
    return state


def _group_probs(year: int, sex: np.ndarray, abroad: np.ndarray) -> np.ndarray:
    trend = np.array(
        [
            float(interpolate(GROUP_SHARES[g], year) / interpolate(GROUP_SHARES[g], 2021))
            for g in GROUPS[:3]
        ]
    )
    probs = np.zeros((sex.size, 4))
    for (s, a), shares in GROUP_2021.items():
        sel = (sex == s) & (abroad == a)
        probs[sel, :3] = np.array(shares) * trend
    probs[:, 3] = np.clip(1 - probs[:, :3].sum(axis=1), 0.02, None)
    return probs / probs.sum(axis=1, keepdims=True)


def _impediment_codes(var, year: int, groups: np.ndarray, rng) -> np.ndarray:
    """A code of each row's group among the codes valid in ``year`` (catalogue)."""
    codes = var.codes_in(year)
    out = np.full(groups.size, None, dtype=object)
    for gi, g in enumerate(GROUPS):
        of_group = np.array([c.code for c in codes if c.group == g], dtype=object)
        sel = groups == gi
        if of_group.size == 0 or not sel.any():
            continue
        out[sel] = of_group[rng.integers(0, of_group.size, size=int(sel.sum()))]
    return out


def simulate_assistance(
    pop: Population,
    years: tuple[int, ...],
    rng: np.random.Generator,
    geo: Geography,
    kommun_factor: np.ndarray,
    chunk_no: int,
) -> AssistanceChunk:
    """Simulate one chunk's assistance and build its register rows, year by year."""
    reg = load(REGISTER)
    ycol = year_column(reg)
    units = _Units(pop)
    y0, y1 = years[0], years[-1]
    m0 = (y0 - 1970) * 12 - BURN_IN_MONTHS
    m1 = (y1 - 1970) * 12 + 11
    state = _simulate(units, m0, m1, rng, kommun_factor)
    person_months = np.zeros((pop.size, len(years)), dtype=np.int8)
    tables: dict[int, pa.Table] = {}
    has_month = {y: reg.variable("manad").exists_in(y) for y in years}
    fvar = reg.variable("forsorjningshinder")
    for yi, year in enumerate(years):
        t0 = (year - 1970) * 12 - m0
        block = state[t0 : t0 + 12]
        # The month after the year decides whether a spell ends in December.
        nxt = state[t0 + 12] if t0 + 12 < state.shape[0] else np.zeros(units.size, np.int8)
        t_idx, u_idx = np.nonzero(block)
        m = (year - 1970) * 12 + t_idx
        ends = np.where(t_idx < 11, block[np.minimum(t_idx + 1, 11), u_idx] == 0, nxt[u_idx] == 0)
        long = block[t_idx, u_idx] == 2
        p1 = units.adult(units.a1[u_idx], m)
        p2 = units.adult(units.a2[u_idx], m)
        app = np.where(p1, units.a1[u_idx], units.a2[u_idx])
        co = np.where(p1 & p2, units.a2[u_idx], units.n)
        # Children present in the month: expand each family pair by its children.
        fam = units.fam[u_idx]
        nk = np.where(fam >= 0, np.diff(pop.child_ptr)[np.maximum(fam, 0)], 0)
        pair_of_child = np.repeat(np.arange(u_idx.size), nk)
        first = np.repeat(pop.child_ptr[np.maximum(fam, 0)], nk)
        k = np.arange(pair_of_child.size) - np.repeat(np.cumsum(nk) - nk, nk)
        child = pop.child_idx[first + k] if k.size else np.zeros(0, np.int64)
        here = units.minor(child, m[pair_of_child])
        pair_of_child, child = pair_of_child[here], child[here]
        kids = np.bincount(pair_of_child, minlength=u_idx.size)
        adults = 1 + (co < units.n)
        # Household-month values.
        index = float(interpolate(AMOUNT_INDEX, year))
        need = (NEED_ADULT1 + NEED_ADULT2 * (adults - 1) + NEED_CHILD * kids) * index
        share = np.where(long, rng.beta(6, 1.3, u_idx.size), rng.beta(2, 1.6, u_idx.size))
        amount = np.round(need * share, 0)
        livs = np.round(
            amount
            * np.where(
                rng.random(u_idx.size) < 0.3,
                rng.uniform(0, 2 * LIVSFORING_SHARE / 0.3, u_idx.size),
                0,
            ),
            0,
        )
        livs = np.minimum(livs, amount)
        fs = amount - livs
        refugees = units.refugee[app].astype(int) + units.refugee[co].astype(int)
        abroad = units.abroad[app].astype(int) + units.abroad[co].astype(int)
        intro = np.where(
            refugees > 0,
            np.where(
                (m - np.maximum(units.arrive_m[app], units.arrive_m[co])) < 24,
                np.round(6_500 * index * rng.uniform(0.5, 1.0, u_idx.size), 0),
                0.0,
            ),
            0.0,
        )
        sex_app = units.sex[app]
        typ_key = np.where(kids > 0, 1, 0) + 2 * (adults - 1) + 4 * (sex_app == SEX_FEMALE)
        typ_table = np.empty(8, dtype=object)
        for (a, c, s), code in HOUSEHOLD_TYPE.items():
            typ_table[(1 if c else 0) + 2 * (a - 1) + 4 * (s == SEX_FEMALE)] = code
        hushallstyp = typ_table[typ_key]
        kommun = geo.kommun[units.kommun[u_idx]]
        district = np.char.add(
            np.char.add(kommun.astype(str), "-"),
            zero_padded(u_idx % 11 + 1, 2),
        ).astype(object)
        hhid = np.char.add("H", zero_padded(chunk_no * 10_000_000 + u_idx, 12)).astype(object)
        # Impediment group per adult and year: drawn for every person of the chunk.
        grp_all = np.full(pop.size + 1, 3, dtype=np.int64)
        unemployed_var = "arbetslost_hushall" in reg.names and reg.variable(
            "arbetslost_hushall"
        ).exists_in(year)
        if fvar.exists_in(year) or unemployed_var:
            sexp = np.concatenate([pop.sex, [SEX_MALE]])
            abp = np.concatenate([pop.born_abroad, [False]])
            probs = _group_probs(year, sexp, abp)
            cum = probs.cumsum(axis=1)
            grp_all = (rng.random((pop.size + 1, 1)) > cum).sum(axis=1)
            grp_all = np.minimum(grp_all, 3)
        unemployed = (grp_all == 0) & (rng.random(pop.size + 1) < 0.75)
        unemployed[units.n] = False
        arbl = unemployed[app].astype(int) + unemployed[co].astype(int)

        hh = {
            "hushallsid": hhid,
            "kommun": kommun,
            "distrikt": district,
            "hushallstyp": hushallstyp,
            "antal_vuxna": adults,
            "antal_barn": kids,
            "belopp_forsorjningsstod": fs,
            "belopp_livsforing_ovrigt": livs,
            "introduktionsersattning": intro,
            "flykting": refugees.astype(str).astype(object),
            "fodelseland": abroad.astype(str).astype(object),
            "arbetslost_hushall": arbl.astype(str).astype(object),
            "manad": t_idx + 1,
        }
        # avslutsorsak: in the month a spell ends; generic codes otherwise null.
        if "avslutsorsak" in reg.names:
            av = generic_values(reg.variable("avslutsorsak"), year, u_idx.size, rng)
            hh["avslutsorsak"] = np.where(ends, av, None)
        # Household variables without a model: one generic value per household-month.
        for var in reg.variables_in(year):
            if var.level == "household" and var.name not in hh and var.name != ycol:
                hh[var.name] = generic_values(var, year, u_idx.size, rng)

        if not has_month[year]:
            # One row per household and year: the last month's members, summed amounts.
            order = np.lexsort((t_idx, u_idx))
            last = np.r_[u_idx[order][1:] != u_idx[order][:-1], True]
            rep = order[last]
            months = np.bincount(u_idx, minlength=units.size)[u_idx[rep]]
            sums = {}
            for col in (
                "belopp_forsorjningsstod",
                "belopp_livsforing_ovrigt",
                "introduktionsersattning",
            ):
                sums[col] = np.bincount(u_idx, weights=hh[col], minlength=units.size)[u_idx[rep]]
            sel = np.full(u_idx.size, -1)
            sel[rep] = np.arange(rep.size)
            keep_child = sel[pair_of_child] >= 0
            pair_of_child = sel[pair_of_child[keep_child]]
            child = child[keep_child]
            hh = {k2: (v[rep] if isinstance(v, np.ndarray) else v) for k2, v in hh.items()}
            hh.update(sums)
            hh["bistandsmanader"] = months
            hh["manad"] = None
            app, co = app[rep], co[rep]
            npairs = rep.size
        else:
            months = None
            npairs = u_idx.size
        # Member rows: applicant, co-applicant, children.
        has_co = co < units.n
        pair = np.concatenate([np.arange(npairs), np.flatnonzero(has_co), pair_of_child])
        person = np.concatenate([app, co[has_co], child])
        roll = np.concatenate(
            [
                np.full(npairs, ROLE["applicant"], dtype=object),
                np.full(int(has_co.sum()), ROLE["co_applicant"], dtype=object),
                np.full(child.size, ROLE["child"], dtype=object),
            ]
        )
        # Rows by month, household, role: a household's rows of one month are adjacent.
        order = np.lexsort((person, roll, pair))
        pair, person, roll = pair[order], person[order], roll[order]
        # Months each person spent in a recipient household this year.
        if months is None:
            np.add.at(person_months[:, yi], person, 1)
        else:
            person_months[person, yi] = np.maximum(person_months[person, yi], months[pair])
        adult_row = roll != ROLE["child"]
        values: dict[str, object] = {}
        for name, v in hh.items():
            values[name] = None if v is None else v[pair]
        values["personnummer"] = pop.ident[person].astype(object)
        values["roll"] = roll
        values["kon"] = pop.sex[person].astype(str).astype(object)
        if fvar.exists_in(year):
            values["forsorjningshinder"] = np.where(
                adult_row, _impediment_codes(fvar, year, grp_all[person], rng), None
            )
        # Person variables without a model: generic values per row.
        for var in reg.variables_in(year):
            if var.name not in values and var.level != "household" and var.name != ycol:
                values[var.name] = generic_values(var, year, person.size, rng)
        tables[year] = build_table(REGISTER, year, values, person.size, rng)
    return AssistanceChunk(tables, person_months, tuple(years))
