"""A tenant's reporting currency and its dated FX rates, in the tenant's own schema (ADR 0015)."""

from django.conf import settings
from django.db import models

from autonomos.core.tenancy import TenantModel

DEFAULT_REPORTING_CURRENCY = "USD"


class FxRate(TenantModel):
    """How many units of `currency` one euro bought on `day` (the ECB euro reference-rate convention).

    Every cross rate goes through the euro: GBP → USD on a day is USD-per-EUR / GBP-per-EUR. EUR
    itself has no row (1 EUR = 1 EUR)."""

    day = models.DateField()
    currency = models.CharField(max_length=3)
    per_eur = models.DecimalField(max_digits=24, decimal_places=10)
    source = models.CharField(max_length=200, blank=True, default="",
                              help_text="The file (or feed) the rate was loaded from.")
    loaded_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-day", "currency"]
        constraints = [
            models.UniqueConstraint(fields=["currency", "day"], name="money_fxrate_currency_day"),
            models.CheckConstraint(condition=models.Q(per_eur__gt=0), name="money_fxrate_positive"),
        ]
        verbose_name = "FX rate"

    def __str__(self) -> str:
        return f"{self.day} 1 EUR = {self.per_eur} {self.currency}"


class ReportingSettings(TenantModel):
    """The tenant's one settings row: the currency its views and agents report money in."""

    currency = models.CharField(max_length=3, default=DEFAULT_REPORTING_CURRENCY,
                                help_text="ISO 4217 code (USD, EUR, GBP, ...) every amount is converted to.")
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")

    class Meta:
        verbose_name = "reporting currency"
        verbose_name_plural = "reporting currency"

    def __str__(self) -> str:
        return f"Reporting currency {self.currency}"
