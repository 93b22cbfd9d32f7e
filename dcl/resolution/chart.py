"""The match weights of a pair as a waterfall chart, laid out here and drawn as SVG by the template
(templates/dcl/_waterfall.html): no script, no library. Colours come from the page's CSS variables
(static/css/app.css `.wf-*`), so the chart follows light and dark mode.

Each comparison is one row: its label and the two values compared on a text line, under it a bar
from the running total before it to the total after it (Splink's waterfall: the prior, then each
comparison's log2 Bayes factor). The last row is the final match weight, from zero. Rows are stacked,
so the chart stays readable at a phone's width.
"""

from __future__ import annotations

import math

WIDTH = 400  # viewBox units; the SVG scales to its box (max-width in CSS)
ROW = 40  # height of one row: a text line and its bar
BAR = 12
PAD = 6
TEXT = 30  # characters of a row's label before it is cut


def finite(value) -> float:
    """A chart's (and a stored waterfall's) number: anything not a finite number is 0."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        return 0.0
    return x if math.isfinite(x) else 0.0


def _cut(text: str, n: int = TEXT) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def _label(row: dict) -> str:
    comparison = str(row.get("comparison") or "")
    level = str(row.get("level") or "")
    return _cut(f"{comparison} · {level}" if level and comparison != "prior" else comparison or "?", 44)


def _values(row: dict) -> str:
    left, right = row.get("left"), row.get("right")
    if left is None and right is None:
        return ""
    return f"{_cut(str(left if left is not None else '–'), 18)} / {_cut(str(right if right is not None else '–'), 18)}"


def waterfall_chart(rows: list[dict], match_weight: float | None = None) -> dict:
    """Geometry of the chart: {"width", "height", "zero_x", "bars": [{label, values, weight, x, w, y,
    text_y, kind}], "total"}; kind is "up", "down" or "total"."""
    steps = []
    running = 0.0
    for row in rows if isinstance(rows, list) else []:
        if not isinstance(row, dict):
            continue
        weight = finite(row.get("log2_bayes_factor"))
        steps.append((row, running, running + weight, weight))
        running += weight
    total = finite(match_weight) if match_weight is not None else running
    ends = [0.0, total] + [v for _, a, b, _ in steps for v in (a, b)]
    lo, hi = min(ends), max(ends)
    if hi - lo < 2:  # a scale of at least two bits: a tiny weight is not drawn full width
        mid = (hi + lo) / 2
        lo, hi = mid - 1, mid + 1
    span = WIDTH - 2 * PAD

    def x(value: float) -> float:
        return round(PAD + (value - lo) / (hi - lo) * span, 1)

    bars = []
    for i, (row, start, end, weight) in enumerate([*steps, ({"comparison": "match weight"}, 0.0, total, total)]):
        is_total = i == len(steps)
        left, right = sorted((x(start), x(end)))
        y = i * ROW
        bars.append({
            "label": "Final match weight" if is_total else _label(row),
            "values": "" if is_total else _values(row),
            "weight": f"{weight:+.2f}",
            "x": left, "w": max(1.0, round(right - left, 1)),
            "y": y + ROW - BAR - 6, "text_y": y + 14,
            "kind": "total" if is_total else ("up" if weight >= 0 else "down"),
        })
    return {"width": WIDTH, "height": len(bars) * ROW + PAD, "zero_x": x(0.0), "bars": bars,
            "total": f"{total:+.2f}", "text_right": WIDTH - PAD}
