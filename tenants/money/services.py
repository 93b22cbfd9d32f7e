"""Writes of the money app: load a rate file, set the reporting currency."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from django.db import transaction

from autonomos.core.errors import InvalidInput

from .models import FxRate, ReportingSettings
from .rates import ecb_parse, is_iso4217

BULK_BATCH = 5_000


@dataclass(frozen=True)
class FxLoadResult:
    rates: int
    days: int
    currencies: list[str]
    not_available: int
    first_day: date | None
    last_day: date | None

    def as_dict(self) -> dict:
        return {"rates": self.rates, "days": self.days, "currencies": self.currencies,
                "not_available": self.not_available,
                "first_day": self.first_day.isoformat() if self.first_day else None,
                "last_day": self.last_day.isoformat() if self.last_day else None}


def fx_rates_load(*, text: str, source: str = "") -> FxLoadResult:
    """Load an ECB euro reference-rate CSV into the current tenant's rate table.

    The whole file is checked before anything is written: a file with bad rows raises
    `rates.FxFileError` naming every bad line, and loads nothing. A good file is written in one
    transaction; a rate already held for a (currency, day) is replaced by the file's."""
    parsed = ecb_parse(text)
    source = source[:200]
    with transaction.atomic():
        FxRate.objects.bulk_create(
            [FxRate(day=d, currency=c, per_eur=v, source=source) for d, c, v in parsed.rates],
            batch_size=BULK_BATCH, update_conflicts=True, unique_fields=["currency", "day"],
            update_fields=["per_eur", "source", "loaded_at"],
        )
    return FxLoadResult(rates=len(parsed.rates), days=parsed.days, currencies=parsed.currencies,
                        not_available=parsed.not_available, first_day=parsed.first_day, last_day=parsed.last_day)


def reporting_currency_set(*, currency: str, user=None) -> ReportingSettings:
    """Set the tenant's reporting currency (an ISO 4217 code). Views convert at materialization, so the
    caller re-materializes them for the new currency to show."""
    code = currency.strip().upper() if isinstance(currency, str) else ""
    if not is_iso4217(code):
        raise InvalidInput(f"{str(currency)[:40]!r} is not an ISO 4217 currency code (USD, EUR, GBP, ...)",
                           details={"currency": str(currency)[:40]})
    with transaction.atomic():
        row = ReportingSettings.objects.select_for_update().order_by("pk").first() or ReportingSettings()
        row.currency = code
        row.updated_by = user if getattr(user, "pk", None) else None
        row.full_clean()
        row.save()
    return row


VIEWS_MATERIALIZE_TASK = "dcl.views_materialize"  # dcl/tasks.py (queued by name: the DCL is a layer above)
CONVERTED_ENTITIES = ["opportunity", "cost"]


def views_rematerialize_request(*, schema: str) -> None:
    """Queue the DCL's re-materialization of the views that carry reporting amounts (callers wrap it in
    `transaction.on_commit`)."""
    from celery import current_app

    current_app.send_task(VIEWS_MATERIALIZE_TASK, args=[CONVERTED_ENTITIES], headers={"_schema_name": schema})
