"""National series the generator is calibrated to, and how to read them for any year.

Sources: SCB year-end population and immigration (rounded; SCB BE0101, the figures
Statistics Sweden publishes as "Befolkningsutveckling"), and the published social
assistance figures in ``/work/shared/reference/DOMAIN.md`` §6. Years between two points
are interpolated linearly; years outside are held at the nearest point.
"""

from __future__ import annotations

import numpy as np

__all__ = ["IMMIGRATION", "SWEDEN_POPULATION", "interpolate"]

# Sweden's population on 31 December (SCB BE0101, rounded to thousands).
SWEDEN_POPULATION: dict[int, float] = {
    1990: 8_591_000,
    1995: 8_837_000,
    1998: 8_854_000,
    2000: 8_883_000,
    2002: 8_941_000,
    2005: 9_048_000,
    2010: 9_416_000,
    2012: 9_556_000,
    2013: 9_645_000,
    2014: 9_747_000,
    2015: 9_851_000,
    2016: 9_995_000,
    2017: 10_120_000,
    2018: 10_230_000,
    2019: 10_328_000,
    2020: 10_379_000,
    2021: 10_452_000,
    2022: 10_522_000,
    2023: 10_552_000,
    2024: 10_588_000,
}

# Immigrations to Sweden per year, thousands (SCB, rounded; the shape matters, not the
# level: it weights the year an immigrant family arrives).
IMMIGRATION: dict[int, float] = {
    1950: 25,
    1965: 50,
    1970: 77,
    1975: 46,
    1980: 40,
    1985: 33,
    1989: 66,
    1990: 60,
    1994: 84,
    1995: 46,
    2000: 58,
    2005: 65,
    2006: 96,
    2010: 99,
    2013: 116,
    2014: 127,
    2015: 135,
    2016: 163,
    2017: 144,
    2018: 133,
    2019: 116,
    2020: 82,
    2021: 90,
    2022: 102,
    2023: 95,
    2024: 83,
}


def interpolate(series: dict[int, float], years) -> np.ndarray:
    """The series at ``years`` (scalar or array), linear between points, flat outside."""
    xs = np.array(sorted(series), dtype=float)
    ys = np.array([series[int(x)] for x in xs], dtype=float)
    return np.interp(np.asarray(years, dtype=float), xs, ys)
