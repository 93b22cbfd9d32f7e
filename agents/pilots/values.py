"""Tolerant readers for values in unified view rows.

View rows come from PostgreSQL (Decimal, date, datetime, bool, dict) but the pilots also accept
plain strings (CSV-like dicts in tests and benchmarks), so every reader accepts both and returns
None for what it cannot read rather than guessing.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

TRUE = {"true", "t", "1", "yes", "y"}
FALSE = {"false", "f", "0", "no", "n"}


def num(value: Any) -> float | None:
    """A finite float, or None (None, '', 'n/a', NaN and inf are all 'unknown')."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        result = float(value)
    elif isinstance(value, Decimal):
        try:
            result = float(value)
        except (InvalidOperation, ValueError):
            return None
    else:
        text = str(value).strip().replace(",", "")
        for symbol in ("$", "€", "£"):
            text = text.replace(symbol, "")
        if not text:
            return None
        try:
            result = float(text)
        except ValueError:
            return None
    return result if math.isfinite(result) else None


def day(value: Any) -> date | None:
    """The calendar date (UTC) of a date, datetime or ISO string."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC)
        return value.date()
    if isinstance(value, date):
        return value
    text = str(value).strip()
    if not text:
        return None
    try:
        return day(datetime.fromisoformat(text.replace("Z", "+00:00")))
    except ValueError:
        pass
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        return None


def boolean(value: Any) -> bool | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return bool(value)
    text = str(value).strip().lower()
    if text in TRUE:
        return True
    if text in FALSE:
        return False
    return None


def text(value: Any) -> str:
    if value is None:
        return ""
    return str(value).strip()


def tags(value: Any) -> dict:
    """Tags as a dict: accepts a dict, a JSON string, 'k=v;k2=v2' or 'k:v,k2:v2'. Empty values do not count."""
    if value is None:
        return {}
    if isinstance(value, dict):
        return {str(k): v for k, v in value.items() if str(k).strip() and v not in (None, "")}
    if isinstance(value, list):
        out: dict = {}
        for item in value:
            if isinstance(item, dict) and "key" in item:
                if item.get("value") not in (None, ""):
                    out[str(item["key"])] = item.get("value")
            elif isinstance(item, str) and item.strip():
                out[item.strip()] = True
        return out
    raw = str(value).strip()
    if not raw or raw in ("{}", "[]", "null", "None"):
        return {}
    if raw[0] in "{[":
        try:
            return tags(json.loads(raw))
        except json.JSONDecodeError:
            return {}
    out = {}
    for part in raw.replace(";", ",").split(","):
        sep = "=" if "=" in part else ":"
        key, _, val = part.partition(sep)
        if key.strip() and val.strip():
            out[key.strip()] = val.strip()
    return out


def money(value: float) -> float:
    return round(value + 0.0, 2)


def money_text(value: float | None, currency: str | None, *, signed: bool = False, cents: bool = False) -> str:
    """An amount as people read it, with its currency: 9,668,318 USD, 85.36 USD, +293.76 USD (whole
    units from 1,000 up, cents below; always cents with `cents`, as costs are written); without a
    currency the number alone."""
    if value is None:
        return "n/a"
    digits = 2 if cents or abs(value) < 1000 else 0
    number = f"{value:+,.{digits}f}" if signed else f"{value:,.{digits}f}"
    return f"{number} {currency}" if currency else number


def pct(part: float, whole: float) -> float | None:
    if not whole:
        return None
    return round(100.0 * part / whole, 2)


# Why an amount was not converted (the views' `fx_missing`: dcl/reporting.py), in words.
FX_REASONS = {
    "no_currency": "no currency",
    "unknown_currency": "not an ISO 4217 currency",
    "no_date": "no date to take a rate of",
    "no_rate": "no {currency} rate on or before their date",
    "no_reporting_rate": "no {reporting} rate on or before their date",
    "out_of_range": "too large to convert",
    "not_converted": "not converted",
}


def counted(n: int, things: str) -> str:
    """'1 deal', '2 deals' (`things` is the plural)."""
    return f"{n} {things[:-1] if n == 1 else things}"
