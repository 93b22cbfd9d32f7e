"""The demo's FX rates: a composed file in the ECB euro reference-rate format.

`data/eurofxref-demo.csv` is NOT the ECB's data: it was composed by `compose_demo_rates()` below (a
seeded, mean-reverting random walk around realistic levels of each currency against the euro, on the
TARGET calendar's business days) so the demo ships without downloading anything. It covers
2024-01-02 to 2026-12-04, which holds every close date and charge period of the demo's exports
(deals created up to 400 days and closing up to 150 days from the day it is seeded: a later date
takes the latest rate before it). Load the ECB's own history (https://www.ecb.europa.eu/stats/
eurofxref/eurofxref-hist.zip) with `manage.py fx_load` for real figures.
"""

from __future__ import annotations

import random
from datetime import date, timedelta
from pathlib import Path

DEMO_RATES = Path(__file__).resolve().parent / "data" / "eurofxref-demo.csv"
DEMO_START, DEMO_END = date(2024, 1, 2), date(2026, 12, 4)

# Currency: (level per EUR, daily volatility, decimals as the ECB quotes it). RUB has been N/A since
# March 2022 in the ECB's file, and stays N/A here.
LEVELS = {
    "USD": (1.11, 0.0035, 4), "JPY": (165.0, 0.005, 2), "BGN": (1.9558, 0.0, 4), "CZK": (25.0, 0.002, 3),
    "DKK": (7.46, 0.0002, 4), "GBP": (0.855, 0.0025, 5), "HUF": (395.0, 0.004, 2), "PLN": (4.30, 0.003, 4),
    "RON": (4.98, 0.001, 4), "SEK": (11.30, 0.004, 4), "CHF": (0.945, 0.003, 4), "ISK": (150.0, 0.003, 2),
    "NOK": (11.60, 0.004, 4), "TRY": (36.0, 0.004, 4), "AUD": (1.68, 0.005, 4), "BRL": (6.10, 0.007, 4),
    "CAD": (1.52, 0.003, 4), "CNY": (7.95, 0.003, 4), "HKD": (8.65, 0.0035, 4), "INR": (95.0, 0.004, 4),
    "KRW": (1520.0, 0.005, 2), "MXN": (20.5, 0.006, 4), "NZD": (1.85, 0.005, 4), "SGD": (1.47, 0.0025, 4),
    "ZAR": (20.3, 0.007, 4), "RUB": (None, 0.0, 4),
}


def _easter(year: int) -> date:
    """Gregorian Easter Sunday (the anonymous algorithm)."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = b // 4, b % 4
    g = (8 * b + 13) // 25
    h = (19 * a + b - d - g + 15) % 30
    i, k = c // 4, c % 4
    l_ = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * l_) // 451
    month, day = divmod(h + l_ - 7 * m + 114, 31)
    return date(year, month, day + 1)


def target_business_days(start: date, end: date) -> list[date]:
    """Days the ECB publishes rates: weekdays except the TARGET holidays (1 January, Good Friday,
    Easter Monday, 1 May, 25 and 26 December)."""
    days, day = [], start
    while day <= end:
        easter = _easter(day.year)
        closed = {date(day.year, 1, 1), easter - timedelta(days=2), easter + timedelta(days=1),
                  date(day.year, 5, 1), date(day.year, 12, 25), date(day.year, 12, 26)}
        if day.weekday() < 5 and day not in closed:
            days.append(day)
        day += timedelta(days=1)
    return days


def compose_demo_rates(path: Path = DEMO_RATES, *, start: date = DEMO_START, end: date = DEMO_END,
                       seed: int = 2026) -> int:
    """Write the composed rate file (newest first, N/A cells, the ECB's trailing empty column);
    returns the number of days."""
    rng = random.Random(seed)
    days = target_business_days(start, end)
    level = {code: spec[0] for code, spec in LEVELS.items()}
    rows = []
    for day in days:
        cells = [day.isoformat()]
        for code, (mean, vol, places) in LEVELS.items():
            if mean is None:
                cells.append("N/A")
                continue
            # mean-reverting walk: drifts back towards the level, never far from it
            level[code] *= 1 + rng.gauss(0, vol) + 0.02 * (mean / level[code] - 1)
            cells.append(f"{level[code]:.{places}f}")
        rows.append(",".join(cells) + ",")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("Date," + ",".join(LEVELS) + ",\n" + "\n".join(reversed(rows)) + "\n", encoding="utf-8")
    return len(days)
