"""The realism report: generated aggregates next to the published figures.

Each published figure of ``/work/shared/reference/DOMAIN.md`` §6 is compared with the
same aggregate of the synthetic registers. Counts are compared per inhabitant: the
published count is scaled by (synthetic population that year) / (Sweden's population
that year), where the synthetic population is the number of ``befolkning`` rows of the
year and Sweden's comes from :data:`~toolkit.synthetic.series.SWEDEN_POPULATION`. Shares
are compared as they are. ``deviation`` = generated / published (scaled) - 1.

Definitions used for the generated side (from the register's rules):
households = distinct ``hushallsid`` in the year; persons, adults, children = distinct
identifiers (adults: applicant or co-applicant); amount = försörjningsstöd + livsföring i
övrigt (+ introduction compensation where the published figure includes it) counted once
per household and month; long-term = an adult with assistance in 10-12 months of the
year; impediment shares = shares of adult person-months with a försörjningshinder whose
code group is unemployment, social reasons or ill health.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from mikrodata.quality.catalogue import load
from mikrodata.toolkit.atomic import write_text_atomic
from mikrodata.toolkit.errors import BadInputError

from .columns import year_column
from .series import SWEDEN_POPULATION, interpolate
from .social_assistance import ROLE

__all__ = ["PUBLISHED", "Figure", "RealismRow", "format_markdown", "realism_report"]

EB = "ekonomiskt_bistand"


@dataclass(frozen=True)
class Figure:
    """One published figure: ``kind`` 'count' (compared per inhabitant) or 'share'."""

    metric: str
    year: int
    value: float
    kind: str
    source: str
    tested: bool = True  # False: reported, but too noisy at test scale to gate on


PUBLISHED: tuple[Figure, ...] = (
    Figure("households", 2002, 237_000, "count", "Socialstyrelsen press release 2003"),
    Figure("persons", 2002, 434_000, "count", "Socialstyrelsen press release 2003"),
    Figure("amount_incl_intro_sek", 2002, 8.5e9, "count", "Socialstyrelsen press release 2003"),
    Figure("households", 2013, 228_056, "count", "Årsstatistik 2013"),
    Figure("adults", 2013, 255_616, "count", "Årsstatistik 2013"),
    Figure("months_per_household", 2013, 6.6, "share", "Årsstatistik 2013"),
    Figure("children_share_of_children", 2013, 0.07, "share", "Försörjningshinder 2013"),
    Figure("children_long_term_share_of_children", 2013, 0.027, "share", "Försörjningshinder 2013"),
    Figure("households", 2015, 226_511, "count", "socialstyrelsen.se"),
    Figure("persons", 2015, 415_500, "count", "socialstyrelsen.se"),
    Figure("adults", 2015, 270_600, "count", "socialstyrelsen.se"),
    Figure("women_adults", 2015, 129_000, "count", "socialstyrelsen.se"),
    Figure("men_adults", 2015, 143_600, "count", "socialstyrelsen.se"),
    Figure("children", 2015, 143_000, "count", "socialstyrelsen.se"),
    Figure("amount_sek", 2015, 10.6e9, "count", "socialstyrelsen.se"),
    Figure("adults_aged_18_29_share", 2015, 0.37, "share", "socialstyrelsen.se"),
    Figure("households", 2016, 220_112, "count", "SKL fact page"),
    Figure("persons", 2016, 409_681, "count", "SKL fact page"),
    Figure("adults", 2016, 269_317, "count", "SKL fact page"),
    Figure("children", 2016, 140_315, "count", "SKL fact page"),
    Figure("amount_sek", 2016, 10.5e9, "count", "SKL fact page"),
    Figure("long_term_share_of_adults", 2016, 0.40, "share", "SKL fact page"),
    Figure("impediment_unemployment", 2016, 0.51, "share", "SKL fact page"),
    Figure("households", 2017, 214_500, "count", "Socialstyrelsen press release"),
    Figure("amount_sek", 2017, 10.7e9, "count", "Socialstyrelsen press release"),
    Figure("adults_foreign_born_share", 2017, 0.66, "share", "Socialstyrelsen press release"),
    Figure("adults_aged_18_24_share", 2017, 0.22, "share", "Socialstyrelsen press release"),
    Figure("households", 2018, 206_479, "count", "SKR via bt.se"),
    Figure("persons", 2018, 400_000, "count", "SKR via bt.se; kunskapsguiden"),
    Figure("adults", 2018, 237_000, "count", "SKR via bt.se; kunskapsguiden"),
    Figure("amount_sek", 2018, 11.2e9, "count", "SKR via bt.se"),
    Figure("impediment_social_reasons", 2018, 0.15, "share", "kunskapsguiden 2018"),
    Figure("households", 2020, 198_514, "count", "Socialstyrelsen press release"),
    Figure("persons", 2020, 374_000, "count", "Socialstyrelsen press release"),
    Figure("women_adults", 2020, 115_000, "count", "Socialstyrelsen press release"),
    Figure("men_adults", 2020, 129_000, "count", "Socialstyrelsen press release"),
    Figure("children", 2020, 130_000, "count", "Socialstyrelsen press release"),
    Figure("amount_sek", 2020, 11.9e9, "count", "Socialstyrelsen press release"),
    Figure("persons_share_of_population", 2020, 0.036, "share", "Socialstyrelsen press release"),
    Figure("households", 2021, 182_328, "count", "Regionfakta"),
    Figure("households", 2022, 160_630, "count", "Regionfakta"),
    Figure("households", 2023, 145_740, "count", "Socialstyrelsen press release; Regionfakta"),
    Figure("children", 2023, 85_200, "count", "Socialstyrelsen press release"),
    Figure("adults_foreign_born_share", 2023, 0.60, "share", "Socialstyrelsen press release"),
    Figure("households", 2024, 145_456, "count", "Regionfakta"),
    Figure("amount_sek", 2024, 10.916e9, "count", "Regionfakta"),
    Figure("amount_per_household_sek", 2024, 75_045, "share", "Regionfakta"),
    Figure("impediment_unemployment", 2012, 0.46, "share", "Försörjningshinder (DOMAIN §6)"),
    Figure("impediment_social_reasons", 2012, 0.11, "share", "Försörjningshinder (DOMAIN §6)"),
    Figure("impediment_unemployment", 2014, 0.49, "share", "Försörjningshinder (DOMAIN §6)"),
    Figure("impediment_social_reasons", 2014, 0.11, "share", "Försörjningshinder (DOMAIN §6)"),
    *(
        Figure("long_term_share_of_adult_population", y, v, "share", "Kolada via Luleå")
        for y, v in (
            (2012, 0.0135),
            (2013, 0.0135),
            (2015, 0.0131),
            (2016, 0.0127),
            (2017, 0.0122),
            (2018, 0.0122),
            (2019, 0.0125),
            (2020, 0.0132),
            (2021, 0.0126),
            (2022, 0.0111),
        )
    ),
    *(
        # Cells of sex x country of birth: a few hundred adults each at test scale.
        Figure(f"impediment_{g}_{who}", 2021, v / 100, "share", "SCB 2021, main impediment", False)
        for who, vals in (
            ("women_born_in_sweden", (33, 29, 22)),
            ("women_born_abroad", (42, 18, 29)),
            ("men_born_in_sweden", (62, 13, 11)),
            ("men_born_abroad", (64, 10, 11)),
        )
        for g, v in zip(("unemployment", "ill_health", "social_reasons"), vals, strict=True)
    ),
)


@dataclass(frozen=True)
class RealismRow:
    metric: str
    year: int
    kind: str
    published: float
    published_scaled: float
    generated: float
    deviation: float
    source: str
    tested: bool


def _read(out: Path, register: str, year: int, columns: list[str]) -> pa.Table | None:
    reg = load(register)
    path = out / register / f"{year_column(reg)}={year}" / "part-0.parquet"
    if not path.is_file():
        return None
    return pq.read_table(path, columns=columns)


def _birth_year(ids: pa.Array) -> np.ndarray:
    """Birth year from 12-digit identifiers (NaN where the identifier is not 12 digits)."""
    ok = pc.fill_null(pc.match_substring_regex(ids, r"^\d{12}$"), False)
    yy = pc.utf8_slice_codeunits(pc.if_else(ok, ids, "000000000000"), 0, 4)
    years = pc.cast(yy, pa.int64()).to_numpy().astype(float)
    years[~ok.to_numpy(zero_copy_only=False)] = np.nan
    return years


def _year_metrics(out: Path, year: int) -> dict[str, float]:
    reg = load(EB)
    m: dict[str, float] = {}
    pop = _read(out, "befolkning", year, ["personnummer", "fodelsedatum", "fodelselandgrupp"])
    if pop is None:
        return m
    m["_population"] = pop.num_rows
    dec31 = np.datetime64(f"{year}-12-31")
    born = pop.column("fodelsedatum").to_numpy(zero_copy_only=False).astype("datetime64[D]")
    age = (dec31 - born).astype(np.int64) / 365.25
    m["_adult_population"] = float((age >= 18).sum())
    m["_child_population"] = float((age < 18).sum())
    sweden = [
        c.code
        for c in load("befolkning").codes_in("fodelselandgrupp", year)
        if c.label_en == "Sweden"
    ]
    native = pc.filter(
        pop.column("personnummer"), pc.is_in(pop.column("fodelselandgrupp"), pa.array(sweden))
    )
    cols = [
        "hushallsid",
        "personnummer",
        "roll",
        "kon",
        "manad",
        "bistandsmanader",
        "belopp_forsorjningsstod",
        "belopp_livsforing_ovrigt",
        "introduktionsersattning",
        "forsorjningshinder",
    ]
    eb = _read(out, EB, year, cols)
    if eb is None or eb.num_rows == 0:
        return m
    roll = eb.column("roll")
    adult = pc.fill_null(pc.is_in(roll, pa.array([ROLE["applicant"], ROLE["co_applicant"]])), False)
    child = pc.fill_null(pc.equal(roll, ROLE["child"]), False)
    applicant = pc.fill_null(pc.equal(roll, ROLE["applicant"]), False)
    ids = eb.column("personnummer")
    m["households"] = len(pc.unique(eb.column("hushallsid")))
    m["persons"] = len(pc.unique(ids))
    adult_ids = pc.unique(pc.filter(ids, adult))
    m["adults"] = len(adult_ids)
    m["children"] = len(pc.unique(pc.filter(ids, child)))
    kon = eb.column("kon")
    m["women_adults"] = len(pc.unique(pc.filter(ids, pc.and_(adult, pc.equal(kon, "2")))))
    m["men_adults"] = len(pc.unique(pc.filter(ids, pc.and_(adult, pc.equal(kon, "1")))))
    app = eb.filter(applicant)

    def total(name):
        return float(pc.sum(app.column(name)).as_py() or 0.0)

    amount = total("belopp_forsorjningsstod") + total("belopp_livsforing_ovrigt")
    m["amount_sek"] = amount
    m["amount_incl_intro_sek"] = amount + total("introduktionsersattning")
    m["amount_per_household_sek"] = amount / max(m["households"], 1)
    monthly = reg.variable("manad").exists_in(year)
    # Months per person: rows per identifier (monthly) or bistandsmanader (yearly).
    if monthly:
        months_of = pa.table({"id": ids}).group_by("id").aggregate([("id", "count")])
        mids, mcount = months_of.column("id"), months_of.column("id_count").to_numpy()
        m["months_per_household"] = app.num_rows / max(m["households"], 1)
    else:
        mids = ids
        mcount = eb.column("bistandsmanader").to_numpy(zero_copy_only=False)
    long_ids = pc.filter(mids, pa.array(mcount >= 10))
    long_adults = pc.is_in(adult_ids, long_ids)
    n_long = int(pc.sum(long_adults).as_py() or 0)
    m["long_term_share_of_adults"] = n_long / max(m["adults"], 1)
    m["long_term_share_of_adult_population"] = n_long / max(m["_adult_population"], 1)
    child_ids = pc.unique(pc.filter(ids, child))
    m["children_share_of_children"] = len(child_ids) / max(m["_child_population"], 1)
    n_long_children = int(pc.sum(pc.is_in(child_ids, long_ids)).as_py() or 0)
    m["children_long_term_share_of_children"] = n_long_children / max(m["_child_population"], 1)
    m["persons_share_of_population"] = m["persons"] / max(m["_population"], 1)
    by = _birth_year(adult_ids)
    known = ~np.isnan(by)
    agey = year - by[known]
    if known.any():
        m["adults_aged_18_29_share"] = float(((agey >= 18) & (agey <= 29)).mean())
        m["adults_aged_18_24_share"] = float(((agey >= 18) & (agey <= 24)).mean())
    # Samordningsnummer holders are not in befolkning; they are immigrants.
    if len(adult_ids):
        born_here = pc.is_in(adult_ids, value_set=native)
        m["adults_foreign_born_share"] = 1.0 - float(
            pc.mean(pc.cast(born_here, pa.int64())).as_py()
        )
    fh = reg.variable("forsorjningshinder")
    if fh.exists_in(year):
        group_of = {c.code: c.group for c in fh.codes.codes}
        rows = eb.filter(pc.and_(adult, pc.is_valid(eb.column("forsorjningshinder"))))
        codes = rows.column("forsorjningshinder").to_numpy(zero_copy_only=False)
        groups = np.array([group_of.get(c) for c in codes], dtype=object)
        is_native = pc.is_in(rows.column("personnummer"), value_set=native).to_numpy(
            zero_copy_only=False
        )
        sex = rows.column("kon").to_numpy(zero_copy_only=False)
        for g in ("unemployment", "social_reasons", "ill_health"):
            m[f"impediment_{g}"] = float((groups == g).mean()) if groups.size else 0.0
            for who, sel in (
                ("women_born_in_sweden", (sex == "2") & is_native),
                ("women_born_abroad", (sex == "2") & ~is_native),
                ("men_born_in_sweden", (sex == "1") & is_native),
                ("men_born_abroad", (sex == "1") & ~is_native),
            ):
                if sel.any():
                    m[f"impediment_{g}_{who}"] = float((groups[sel] == g).mean())
    return m


def realism_report(out: str | Path) -> list[RealismRow]:
    """Compare a synthetic output directory with the published figures; writes
    ``ground_truth/realism.json`` and ``realism.md`` and returns the rows."""
    out = Path(out)
    manifest_path = out / "ground_truth" / "manifest.json"
    if not manifest_path.is_file():
        raise BadInputError(
            f"{out} has no ground_truth/manifest.json",
            "Give a directory written by mikrodata synth",
        )
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    first, last = manifest["years"]
    rows: list[RealismRow] = []
    cache: dict[int, dict[str, float]] = {}
    for fig in PUBLISHED:
        if not first <= fig.year <= last:
            continue
        if fig.year not in cache:
            cache[fig.year] = _year_metrics(out, fig.year)
        m = cache[fig.year]
        if fig.metric not in m or "_population" not in m:
            continue
        if fig.kind == "count":
            scale = m["_population"] / float(interpolate(SWEDEN_POPULATION, fig.year))
        else:
            scale = 1.0
        expected = fig.value * scale
        gen = float(m[fig.metric])
        rows.append(
            RealismRow(
                fig.metric,
                fig.year,
                fig.kind,
                fig.value,
                expected,
                gen,
                gen / expected - 1 if expected else float("nan"),
                fig.source,
                fig.tested,
            )
        )
    doc = {
        "seed": manifest["seed"],
        "persons": manifest["persons"],
        "years": manifest["years"],
        "method": (
            "counts compared per inhabitant: published x synthetic population / Sweden's "
            "population in the year; shares compared as they are"
        ),
        "rows": [asdict(r) for r in rows],
    }
    write_text_atomic(out / "ground_truth" / "realism.json", json.dumps(doc, indent=2) + "\n")
    write_text_atomic(out / "ground_truth" / "realism.md", format_markdown(rows, manifest))
    return rows


def _fmt(v: float, kind: str, metric: str) -> str:
    if kind == "share" and v < 1.5 and "per_household" not in metric and "months" not in metric:
        return f"{100 * v:.2f}%"
    if abs(v) >= 1e6:
        return f"{v / 1e6:,.2f} M"
    return f"{v:,.1f}" if abs(v) < 100 else f"{v:,.0f}"


def format_markdown(rows: list[RealismRow], manifest: dict) -> str:
    """The report as a Markdown table."""
    lines = [
        "# Realism of the synthetic registers",
        "",
        f"seed {manifest['seed']}, {manifest['persons']:,} persons, years "
        f"{manifest['years'][0]}-{manifest['years'][1]}. Counts are scaled to the synthetic "
        "population (published x synthetic population / Sweden's population that year).",
        "",
        "| metric | year | published | published, scaled | generated | deviation | source |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r.metric} | {r.year} | {_fmt(r.published, r.kind, r.metric)} | "
            f"{_fmt(r.published_scaled, r.kind, r.metric)} | "
            f"{_fmt(r.generated, r.kind, r.metric)} | {100 * r.deviation:+.1f}% | {r.source} |"
        )
    return "\n".join(lines) + "\n"
