"""The synthetic population: families of people with births, deaths and migration.

People are generated family by family, so households in the social-assistance register
are made of real members of the population: a head, maybe a partner, and children. A
family is native or immigrant; an immigrant family arrives on one date (weighted by the
national immigration series), foreign-born members arrive with it, and children born
after arrival are born in Sweden. Deaths follow a Gompertz hazard by age; families
emigrate together (immigrants far more often than natives). A small share of immigrant
families are never registered (folkbokförda): their foreign-born members have a
samordningsnummer and do not appear in ``befolkning``.

Everything here is vectorised over one chunk of people; :func:`make_population` draws
whole families until the chunk holds ``n`` people who were in Sweden at some time in
the requested years.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from mikrodata.quality.catalogue import load

from .identifiers import SEX_FEMALE, SEX_MALE, BirthNumberAllocator, identifier_strings
from .series import IMMIGRATION, interpolate

__all__ = [
    "ORIGIN_WEIGHTS",
    "Geography",
    "Population",
    "befolkning_tables",
    "make_population",
    "month_index",
]

# Gompertz mortality h(a) = ALPHA * exp(BETA * a) per year: modal age at death about 87,
# death rate about 0.3% at 50 and 5% at 80, close to Swedish life tables.
GOMPERTZ_ALPHA = 1.67e-5
GOMPERTZ_BETA = 0.10
# Yearly emigration hazards: natives rarely leave, immigrants often (SCB: a large share
# of immigrants re-emigrate within a few years); unregistered stays are short.
EMIGRATION_NATIVE = 0.003
EMIGRATION_IMMIGRANT = 0.03
EMIGRATION_UNREGISTERED = 0.35
IMMIGRANT_FAMILY_SHARE = 0.30  # gives roughly 17% foreign-born in 2024 (SCB: 20%)
UNREGISTERED_SHARE = 0.03  # immigrant families known only by samordningsnummer
PARTNER_SHARE = 0.55
CHILDREN_P = {False: [0.22, 0.18, 0.34, 0.18, 0.08], True: [0.18, 0.16, 0.28, 0.22, 0.16]}

# Country-of-birth groups of immigrants, by the English label of the catalogue's code
# (the codes themselves are read from the catalogue), with the share of refugees.
ORIGIN_WEIGHTS: dict[str, tuple[float, float]] = {
    "Nordic countries except Sweden": (0.11, 0.0),
    "EU except the Nordic countries": (0.20, 0.02),
    "Europe except the EU and the Nordic countries": (0.15, 0.45),
    "Africa": (0.13, 0.55),
    "Asia": (0.33, 0.55),
    "North America": (0.03, 0.0),
    "South America": (0.04, 0.2),
    "Oceania": (0.005, 0.0),
    "Unknown": (0.005, 0.3),
}
SWEDEN_LABEL = "Sweden"

# Native cohort sizes (births per year, thousands; SCB, rounded): weight of a native
# family head's birth year.
NATIVE_BIRTHS: dict[int, float] = {
    1900: 138,
    1920: 120,
    1933: 86,
    1945: 135,
    1950: 115,
    1965: 122,
    1978: 93,
    1990: 124,
    1998: 89,
    2010: 115,
    2024: 99,
}


def month_index(dates: np.ndarray) -> np.ndarray:
    """Months since 1970-01 of datetime64[D] values (NaT maps to a huge value)."""
    m = np.asarray(dates, dtype="datetime64[D]").astype("datetime64[M]").astype(np.int64)
    return np.where(np.isnat(np.asarray(dates, dtype="datetime64[D]")), 10**9, m)


@dataclass(frozen=True)
class Geography:
    """Municipality codes and population weights, and the country-of-birth groups,
    all read from the catalogue."""

    kommun: np.ndarray  # code strings
    weight: np.ndarray  # population shares, sum 1
    origin_codes: np.ndarray  # catalogue codes of fodelselandgrupp
    sweden_code: str
    origin_weight: np.ndarray  # immigrants' group weights (0 for Sweden)
    refugee_share: np.ndarray

    @classmethod
    def from_catalogue(cls, year: int) -> Geography:
        kommun = load("befolkning").variable("kommun").codes_in(year)
        codes = np.array([c.code for c in kommun])
        w = np.array([float(c.extra.get("befolkningsandel") or 0.0) for c in kommun])
        w = w / w.sum()
        groups = load("befolkning").variable("fodelselandgrupp").codes_in(year)
        origin = np.array([c.code for c in groups])
        sweden = [c.code for c in groups if c.label_en == SWEDEN_LABEL]
        if len(sweden) != 1:
            from mikrodata.toolkit.errors import CatalogueError

            raise CatalogueError(
                "befolkning.fodelselandgrupp has no single code labelled 'Sweden'",
                "Keep one code with label_en 'Sweden' in the catalogue",
            )
        ow = np.array([ORIGIN_WEIGHTS.get(c.label_en, (0.005, 0.1))[0] for c in groups])
        rs = np.array([ORIGIN_WEIGHTS.get(c.label_en, (0.005, 0.1))[1] for c in groups])
        ow[origin == sweden[0]] = 0.0
        return cls(codes, w, origin, sweden[0], ow / ow.sum(), rs)


@dataclass
class Population:
    """One chunk of people and their families. Person arrays have one entry per person;
    family arrays one per family; ``child_ptr``/``child_idx`` list each family's children."""

    pid: np.ndarray  # run-wide person number
    family: np.ndarray
    role: np.ndarray  # 0 head, 1 partner, 2 child
    birth: np.ndarray  # true birth date, datetime64[D]
    sex: np.ndarray  # 1 male, 2 female
    origin: np.ndarray  # index into Geography.origin_codes
    born_abroad: np.ndarray
    refugee: np.ndarray
    coordination: np.ndarray  # True: samordningsnummer, not registered
    imm_date: np.ndarray  # NaT if born in Sweden
    emi_date: np.ndarray  # NaT if never emigrated
    death_date: np.ndarray  # NaT if alive after the last year
    kommun: np.ndarray  # index into Geography.kommun
    ident: np.ndarray  # 12-digit identifier strings
    start_m: np.ndarray  # first month in Sweden
    end_m: np.ndarray  # first month no longer in Sweden (exclusive)
    head: np.ndarray  # per family: person index
    partner: np.ndarray  # per family: person index or -1
    child_ptr: np.ndarray  # per family + 1
    child_idx: np.ndarray
    family_kommun: np.ndarray
    family_immigrant: np.ndarray

    @property
    def size(self) -> int:
        return int(self.pid.size)


def _dates_in_years(rng: np.random.Generator, years: np.ndarray) -> np.ndarray:
    start = (
        (np.asarray(years, dtype=np.int64) - 1970).astype("datetime64[Y]").astype("datetime64[D]")
    )
    return start + rng.integers(0, 365, size=len(years)).astype("timedelta64[D]")


def _death_dates(rng: np.random.Generator, birth: np.ndarray, alive_at: np.ndarray):
    """Gompertz death dates for people known to be alive at ``alive_at``."""
    a0 = np.maximum((alive_at - birth).astype(np.int64) / 365.25, 0.0)
    e = rng.exponential(size=birth.size)
    age = np.log(np.exp(GOMPERTZ_BETA * a0) + GOMPERTZ_BETA * e / GOMPERTZ_ALPHA) / GOMPERTZ_BETA
    return birth + (age * 365.25).astype(np.int64).astype("timedelta64[D]")


def _families(rng: np.random.Generator, n_fam: int, geo: Geography, last_year: int):
    """Draw ``n_fam`` families; returns person-level arrays and family-level arrays."""
    immigrant = rng.random(n_fam) < IMMIGRANT_FAMILY_SHARE
    # Native heads: birth year weighted by cohort size, adult by the last year.
    cohorts = np.arange(1900, last_year - 20)
    cw = interpolate(NATIVE_BIRTHS, cohorts)
    head_year = rng.choice(cohorts, size=n_fam, p=cw / cw.sum())
    head_birth = _dates_in_years(rng, head_year)
    # Immigrant heads: year of arrival weighted by the immigration series, age 18-60.
    arrival_years = np.arange(1950, last_year + 1)
    aw = interpolate(IMMIGRATION, arrival_years)
    arrive = _dates_in_years(rng, rng.choice(arrival_years, size=n_fam, p=aw / aw.sum()))
    age_at = np.minimum(18 + rng.gamma(2.2, 5.5, size=n_fam), 64)
    imm_birth = arrive - (age_at * 365.25).astype(np.int64).astype("timedelta64[D]")
    head_birth = np.where(immigrant, imm_birth, head_birth)
    arrive = np.where(immigrant, arrive, np.datetime64("NaT"))
    origin = rng.choice(geo.origin_codes.size, size=n_fam, p=geo.origin_weight)
    refugee = immigrant & (rng.random(n_fam) < geo.refugee_share[origin])
    unregistered = immigrant & (rng.random(n_fam) < UNREGISTERED_SHARE)
    kommun = rng.choice(geo.kommun.size, size=n_fam, p=geo.weight)
    # Immigrants settle more in large municipalities: redraw a third of them by weight^1.5.
    big = geo.weight**1.5
    redraw = immigrant & (rng.random(n_fam) < 0.33)
    kommun[redraw] = rng.choice(geo.kommun.size, size=int(redraw.sum()), p=big / big.sum())
    head_sex = np.where(rng.random(n_fam) < 0.5, SEX_MALE, SEX_FEMALE)
    has_partner = rng.random(n_fam) < PARTNER_SHARE
    partner_shift = rng.normal(-2.0, 3.0, size=n_fam) * np.where(head_sex == SEX_MALE, 1, -1)
    partner_birth = head_birth + (partner_shift * 365.25).astype(np.int64).astype("timedelta64[D]")
    kids = np.where(
        immigrant,
        rng.choice(5, size=n_fam, p=CHILDREN_P[True]),
        rng.choice(5, size=n_fam, p=CHILDREN_P[False]),
    )
    # Emigration of the whole family, counted from arrival (immigrants) or from the
    # head's 18th birthday (natives).
    from_date = np.where(immigrant, arrive, head_birth + np.timedelta64(int(18 * 365.25), "D"))
    rate = np.where(
        unregistered,
        EMIGRATION_UNREGISTERED,
        np.where(immigrant, EMIGRATION_IMMIGRANT, EMIGRATION_NATIVE),
    )
    emi = from_date + (rng.exponential(1 / rate) * 365.25).astype(np.int64).astype("timedelta64[D]")

    # Expand to persons: head, partner (if any), children.
    n_members = 1 + has_partner + kids
    fam = np.repeat(np.arange(n_fam), n_members)
    offset = np.arange(fam.size) - np.repeat(np.cumsum(n_members) - n_members, n_members)
    role = np.where(offset == 0, 0, np.where((offset == 1) & has_partner[fam], 1, 2))
    child_age = rng.uniform(21, 41, size=fam.size)  # parent's age at each child's birth
    birth = np.where(
        role == 0,
        head_birth[fam],
        np.where(
            role == 1,
            partner_birth[fam],
            head_birth[fam] + (child_age * 365.25).astype(np.int64).astype("timedelta64[D]"),
        ),
    )
    sex = np.where(
        role == 0,
        head_sex[fam],
        np.where(
            role == 1,
            np.where(head_sex[fam] == SEX_MALE, SEX_FEMALE, SEX_MALE),
            np.where(rng.random(fam.size) < 0.512, SEX_MALE, SEX_FEMALE),
        ),
    )
    imm = immigrant[fam]
    born_abroad = imm & (birth < arrive[fam])
    origin_p = np.where(
        born_abroad, origin[fam], int(np.flatnonzero(geo.origin_codes == geo.sweden_code)[0])
    )
    imm_date = np.where(born_abroad, arrive[fam], np.datetime64("NaT"))
    start = np.where(born_abroad, arrive[fam], birth)
    death = _death_dates(rng, birth, start)
    emi_p = np.where(emi[fam] > start, emi[fam], np.datetime64("NaT"))
    emi_p = np.where(emi_p < death, emi_p, np.datetime64("NaT"))
    return dict(
        fam=fam,
        role=role,
        birth=birth,
        sex=sex,
        origin=origin_p,
        born_abroad=born_abroad,
        refugee=refugee[fam] & born_abroad,
        coordination=unregistered[fam] & born_abroad,
        imm_date=imm_date,
        emi_date=emi_p,
        death_date=death,
        kommun=kommun[fam],
        start=start,
        family_kommun=kommun,
        family_immigrant=immigrant,
    )


def make_population(
    rng: np.random.Generator,
    n: int,
    first_year: int,
    last_year: int,
    geo: Geography,
    allocator: BirthNumberAllocator,
    pid_start: int,
) -> Population:
    """A chunk of exactly ``n`` people in Sweden at some time in the years."""
    lo = np.datetime64(f"{first_year}-01-01")
    hi = np.datetime64(f"{last_year}-12-31")
    parts = []
    have = 0
    while have < n:
        d = _families(rng, max(1000, int((n - have) * 0.9)), geo, last_year)
        end = np.fmin(d["emi_date"], d["death_date"])
        keep_p = (d["start"] <= hi) & (end >= lo) & (d["birth"] <= hi)
        # A family is kept whole (its members that were ever here) if anyone was here.
        keep_f = np.zeros(d["family_kommun"].size, dtype=bool)
        keep_f[d["fam"][keep_p]] = True
        d["keep"] = keep_p
        d["keep_f"] = keep_f
        parts.append(d)
        have += int(keep_p.sum())
    # Concatenate the kept people, renumbering families, then cut at exactly n people.
    cols: dict[str, list] = {}
    fam_kommun, fam_imm = [], []
    fam_base = 0
    for d in parts:
        kf = d["keep_f"]
        new_id = np.cumsum(kf) - 1 + fam_base
        k = d["keep"]
        for key in (
            "role birth sex origin born_abroad refugee coordination imm_date emi_date "
            "death_date kommun start"
        ).split():
            cols.setdefault(key, []).append(d[key][k])
        cols.setdefault("fam", []).append(new_id[d["fam"][k]])
        fam_kommun.append(d["family_kommun"][kf])
        fam_imm.append(d["family_immigrant"][kf])
        fam_base += int(kf.sum())
    p = {k: np.concatenate(v)[:n] for k, v in cols.items()}
    n_fam = int(p["fam"].max()) + 1 if n else 0
    fam_kommun_a = np.concatenate(fam_kommun)[:n_fam]
    fam_imm_a = np.concatenate(fam_imm)[:n_fam]

    # Family structure. A head who never lived here (e.g. died before the years) leaves
    # the partner as the family's first adult; families always have an adult slot.
    head = np.full(n_fam, -1, dtype=np.int64)
    partner = np.full(n_fam, -1, dtype=np.int64)
    idx = np.arange(n)
    heads = p["role"] == 0
    partners = p["role"] == 1
    head[p["fam"][heads]] = idx[heads]
    partner[p["fam"][partners]] = idx[partners]
    no_head = head < 0
    head[no_head] = partner[no_head]
    partner[no_head] = -1
    children = np.flatnonzero(p["role"] == 2)
    order = np.argsort(p["fam"][children], kind="stable")
    child_idx = children[order]
    counts = np.bincount(p["fam"][child_idx], minlength=n_fam)
    child_ptr = np.r_[0, np.cumsum(counts)]

    # Identifiers: personnummer from the birth date; samordningsnummer for the
    # unregistered. Crowded dates give a nearby date, as Skatteverket does.
    id_date, numbers = allocator.allocate(p["birth"], p["sex"], p["coordination"])
    ident = identifier_strings(id_date, numbers, p["coordination"])
    end = np.fmin(p["emi_date"], p["death_date"])
    return Population(
        pid=pid_start + idx,
        family=p["fam"],
        role=p["role"],
        birth=p["birth"],
        sex=p["sex"],
        origin=p["origin"],
        born_abroad=p["born_abroad"],
        refugee=p["refugee"],
        coordination=p["coordination"],
        imm_date=p["imm_date"],
        emi_date=p["emi_date"],
        death_date=p["death_date"],
        kommun=p["kommun"],
        ident=ident,
        start_m=month_index(p["start"]),
        end_m=np.where(np.isnat(end), 10**9, month_index(end) + 1),
        head=head,
        partner=partner,
        child_ptr=child_ptr,
        child_idx=child_idx,
        family_kommun=fam_kommun_a,
        family_immigrant=fam_imm_a,
    )


def befolkning_tables(
    pop: Population, years: tuple[int, ...], rng: np.random.Generator, geo: Geography
) -> dict[int, pa.Table]:
    """``befolkning`` rows of one chunk: one per registered person and year in which they
    lived in Sweden at some time (their situation on 31 December, or their last one)."""
    from .columns import build_table

    reg = load("befolkning")
    out = {}
    for y in years:
        if y < reg.first_year or (reg.last_year is not None and y > reg.last_year):
            continue
        m0 = (y - 1970) * 12
        dec31 = np.datetime64(f"{y}-12-31")
        who = np.flatnonzero(
            (pop.start_m <= m0 + 11) & (pop.end_m > m0) & ~pop.coordination & (pop.birth <= dec31)
        )

        def upto(d, who=who, dec31=dec31):
            d = d[who]
            return np.where(d <= dec31, d, np.datetime64("NaT"))

        values = {
            "personnummer": pop.ident[who].astype(object),
            "fodelsedatum": pop.birth[who],
            "kon": pop.sex[who].astype(str).astype(object),
            "fodelselandgrupp": geo.origin_codes[pop.origin[who]].astype(object),
            "kommun": geo.kommun[pop.kommun[who]],
            "invandringsdatum": upto(pop.imm_date),
            "utvandringsdatum": upto(pop.emi_date),
            "dodsdatum": upto(pop.death_date),
        }
        out[y] = build_table("befolkning", y, values, who.size, rng)
    return out
