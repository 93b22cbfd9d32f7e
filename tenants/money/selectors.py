"""Reads of the money app (inside a tenant)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date

from django.db.models import Count, Max, Min

from .models import DEFAULT_REPORTING_CURRENCY, FxRate, ReportingSettings
from .rates import BASE, RateTable


def reporting_currency() -> str:
    """The tenant's reporting currency (USD until someone sets another)."""
    row = ReportingSettings.objects.order_by("pk").values_list("currency", flat=True).first()
    return row or DEFAULT_REPORTING_CURRENCY


def reporting_settings() -> ReportingSettings:
    """The settings row (unsaved with the defaults when nobody has set anything yet)."""
    return ReportingSettings.objects.order_by("pk").select_related("updated_by").first() or ReportingSettings()


def rates_stamp() -> str:
    """Changes whenever a rate is loaded, changed or removed: the views' conversions are rebuilt then."""
    found = FxRate.objects.aggregate(n=Count("pk"), last=Max("loaded_at"), top=Max("pk"))
    last = found["last"].isoformat() if found["last"] else ""
    return f"{found['n']}:{found['top'] or 0}:{last}"


def rate_table(*, currencies: Iterable[str], until: date | None = None) -> RateTable:
    """The rates of `currencies` (EUR needs none), up to `until` when given."""
    wanted = sorted({c for c in currencies if c and c != BASE})
    qs = FxRate.objects.filter(currency__in=wanted)
    if until is not None:
        qs = qs.filter(day__lte=until)
    rates: dict[str, list] = defaultdict(list)
    for code, day, value in qs.values_list("currency", "day", "per_eur").iterator(chunk_size=10_000):
        rates[code].append((day, value))
    return RateTable(rates)


def rate_coverage() -> list[dict]:
    """Per currency: how many rates, first and last day."""
    return [
        {"currency": r["currency"], "rates": r["n"], "first_day": r["first"], "last_day": r["last"]}
        for r in FxRate.objects.values("currency").annotate(n=Count("id"), first=Min("day"), last=Max("day"))
        .order_by("currency")
    ]
