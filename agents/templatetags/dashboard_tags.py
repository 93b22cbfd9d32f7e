"""Template filters for the dashboard pages (loaded with `{% load dashboard_tags %}`)."""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from typing import Any

from django import template
from django.core.serializers.json import DjangoJSONEncoder

register = template.Library()


@register.filter
def pretty_json(value: Any) -> str:
    """Indented JSON for evidence and payloads (escaped by the template as usual)."""
    try:
        return json.dumps(value, cls=DjangoJSONEncoder, indent=2, sort_keys=True, ensure_ascii=False)
    except (TypeError, ValueError):
        return str(value)


@register.filter
def get(mapping: Any, key: Any) -> Any:
    """`row|get:field` for dicts (view rows, evidence)."""
    if isinstance(mapping, dict):
        return mapping.get(key)
    return getattr(mapping, str(key), None)


@register.filter
def number(value: Any, digits: int = 0) -> str:
    """1234567.8 → "1,234,568"; junk is shown as it is."""
    if value is None or value == "":
        return "–"
    try:
        d = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return str(value)
    return f"{d:,.{int(digits)}f}"


@register.filter
def percent(value: Any, digits: int = 0) -> str:
    """0.873 → "87%" (values above 1 are taken as already in percent)."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        return "–"
    if abs(x) <= 1:
        x *= 100
    return f"{x:.{int(digits)}f}%"


@register.filter
def is_scalar(value: Any) -> bool:
    return not isinstance(value, dict | list | tuple)


@register.filter
def is_list(value: Any) -> bool:
    return isinstance(value, list | tuple)


@register.filter
def words(value: Any) -> str:
    """at_risk_deal → at risk deal."""
    return str(value).replace("_", " ")


@register.filter
def statements(revenue: Any) -> list[str]:
    """Every statement the RevOps analyses made instead of a figure (no data for the period, quota
    missing, a currency without a rate, deals without close date...), in the analyses' order."""
    out: list[str] = []
    if not isinstance(revenue, dict):
        return out
    for part in revenue.values():
        if isinstance(part, dict):
            out += [str(part[k]) for k in ("statement", "left_out_statement", "quota_statement",
                                           "close_date_statement") if part.get(k)]
    return out
