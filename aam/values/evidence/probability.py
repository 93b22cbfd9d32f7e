"""Probability on 0–1: percent columns (a value above 1 in a number column, or "75%") are divided by
100, fractions are kept; anything else is not a probability."""

from __future__ import annotations

import math
import re

from . import Candidate

NUMBER = re.compile(r"^\s*([+-]?\d+(?:[.,]\d+)?)\s*(%?)\s*$")


def parse_number(raw) -> tuple[float, bool] | None:
    """(value, written as percent) or None."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, (int, float)):
        x = float(raw)
        return (x, False) if math.isfinite(x) else None
    if not isinstance(raw, str):
        return None
    m = NUMBER.match(raw[:40])
    if not m:
        return None
    return float(m.group(1).replace(",", ".")), bool(m.group(2))


def column_is_percent(raws) -> bool:
    """A column is on 0–100 when any of its numbers is above 1."""
    for raw in raws:
        parsed = parse_number(raw)
        if parsed and not parsed[1] and parsed[0] > 1:
            return True
    return False


def probability(raw, *, percent_column: bool) -> Candidate | None:
    parsed = parse_number(raw)
    if parsed is None:
        return None
    x, pct = parsed
    if pct or percent_column:
        x = x / 100.0
        note = "percent divided by 100"
    else:
        note = "fraction"
    if not 0.0 <= x <= 1.0:
        return Candidate(None, 0.0, "number", "outside 0–100 %")
    return Candidate(round(x, 6), 0.99, "number", note)
