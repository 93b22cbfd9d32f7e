"""Canonical value models (docs/adr/0014-canonical-values.md): what each distinct source value of a
value-mapped field means (`ValueMap`), the tenant's memory of approved value maps (`ValueMemory`,
per source vendor and field, reused across connections of that vendor), and what the drivers say
about their columns (`ColumnMetadata`: option labels, deal stages; whether a column is free text).

One row per distinct value, never per record: a million deals with seven stages are seven rows.
"""

from __future__ import annotations

import hashlib

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from autonomos.core.tenancy import TenantModel

_UNIT = [MinValueValidator(0.0), MaxValueValidator(1.0)]
MAX_SAMPLES = 3


def raw_hash(raw_key: str) -> str:
    """The key a raw value is unique by (raw values may be 10 KB: too long for a b-tree index)."""
    return hashlib.sha256(raw_key.encode("utf-8", "surrogatepass")).hexdigest()


class ValueMap(TenantModel):
    """One distinct raw value of one source column mapped onto one canonical field.

    `status` is what the views show: `mapped` (canonical applies: decided by the engine at or above
    the auto threshold, or by a person), `pending` (awaiting a person: the view shows canonical NULL
    with `<field>_status = 'pending'`), `none` (no canonical value applies: a placeholder such as
    `N/A`, or a person said so). `decision` is what the engine said (auto, review, unmapped, null),
    kept for the audit and the measurements; `reviewed_by` / `reviewed_at` say a person decided.
    """

    class Status(models.TextChoices):
        MAPPED = "mapped", "Mapped"
        PENDING = "pending", "Awaiting review"
        NONE = "none", "No canonical value"

    connection = models.ForeignKey("connectors.Connection", on_delete=models.CASCADE, related_name="value_maps")
    source_object = models.CharField(max_length=255)
    entity = models.CharField(max_length=64)
    field = models.CharField(max_length=128)  # the canonical field (status and stage_category too)
    column = models.CharField(max_length=512)  # the source column the values come from
    vendor = models.CharField(max_length=64, blank=True, default="")  # the memory's key: salesforce, hubspot, ...
    raw_key = models.TextField()  # the value as text, as the views join it (DuckDB's CAST(col AS VARCHAR))
    raw_hash = models.CharField(max_length=64)
    raw = models.JSONField(null=True, blank=True)  # the value as the engine saw it (9, "closedwon", 0.25)
    label = models.TextField(null=True, blank=True)  # the vendor's own label of a code (9 → "Consulting")
    canonical = models.TextField(null=True, blank=True)  # a value of the field's value set, as text
    confidence = models.FloatField(default=0.0, validators=_UNIT)
    decision = models.CharField(max_length=16)  # the engine's: auto, review, unmapped, null
    evidence = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices)
    record_count = models.BigIntegerField(default=0)
    samples = models.JSONField(default=list, blank=True)  # a few source ids of records with this value
    first_seen = models.DateTimeField()
    last_seen = models.DateTimeField()
    drift = models.BooleanField(default=False)  # first seen in a later sync than the column's first
    reviewed_by = models.CharField(max_length=150, blank=True, default="")
    reviewed_at = models.DateTimeField(null=True, blank=True)
    review_item = models.ForeignKey(
        "aam.ReviewItem", null=True, blank=True, on_delete=models.SET_NULL, related_name="value_maps"
    )

    class Meta:
        ordering = ["connection_id", "entity", "field", "-record_count", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "source_object", "entity", "field", "raw_hash"], name="valuemap_one_per_value"
            ),
        ]
        indexes = [models.Index(fields=["status", "entity", "field"], name="valuemap_status_idx")]

    def __str__(self) -> str:
        raw = self.raw_key if len(self.raw_key) <= 60 else self.raw_key[:57] + "..."
        return f"{self.entity}.{self.field}: {raw!r} → {self.canonical} [{self.status}]"

    def save(self, *args, **kwargs):
        self.raw_hash = raw_hash(self.raw_key)
        super().save(*args, **kwargs)


class ValueMemory(TenantModel):
    """A person's decision on a raw value, remembered per source vendor and field: the next
    connection of the same vendor (or the next sync) maps that value the same way. `canonical`
    null = "no canonical value applies"."""

    vendor = models.CharField(max_length=64)
    entity = models.CharField(max_length=64)
    field = models.CharField(max_length=128)
    raw_key = models.TextField()
    raw_hash = models.CharField(max_length=64)
    canonical = models.TextField(null=True, blank=True)
    decided_by = models.CharField(max_length=150, blank=True, default="")
    decided_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["vendor", "entity", "field", "id"]
        verbose_name_plural = "value memory"
        constraints = [
            models.UniqueConstraint(fields=["vendor", "entity", "field", "raw_hash"], name="valuememory_one_per_value"),
        ]

    def __str__(self) -> str:
        return f"{self.vendor} {self.entity}.{self.field}: {self.raw_key[:60]!r} → {self.canonical}"

    def save(self, *args, **kwargs):
        self.raw_hash = raw_hash(self.raw_key)
        super().save(*args, **kwargs)


class ColumnMetadata(TenantModel):
    """What a driver's API says about one source column (`driver.value_metadata(object)`):
    {"options": [{"value", "label"}]} or {"stages": [{"value", "label", "probability"?, "is_closed"?,
    "is_won"?, "forecast_category"?}]}; and what the value stage found: `free_text` when the column
    has too many distinct values to be a picklist (it is then not value-mapped; `note` says why)."""

    connection = models.ForeignKey("connectors.Connection", on_delete=models.CASCADE, related_name="column_metadata")
    source_object = models.CharField(max_length=255)
    column = models.CharField(max_length=512)
    metadata = models.JSONField(default=dict, blank=True)
    fetched_at = models.DateTimeField(null=True, blank=True)
    free_text = models.BooleanField(default=False)
    distinct_values = models.BigIntegerField(default=0)
    note = models.TextField(blank=True, default="")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["connection_id", "source_object", "column"]
        verbose_name_plural = "column metadata"
        constraints = [
            models.UniqueConstraint(fields=["connection", "source_object", "column"],
                                    name="columnmetadata_one_per_column"),
        ]

    def __str__(self) -> str:
        return f"{self.source_object}.{self.column}{' (free text)' if self.free_text else ''}"
