"""Drift and review models: schema snapshots, drift events, and the immutable review decision log.

They live in the `aam` app (imported by aam/models/__init__.py) but in their own module, so the mapping models
and these can change without touching each other.
"""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from autonomos.core.tenancy import TenantModel, TenantQuerySet, current_tenant

_UNIT = [MinValueValidator(0.0), MaxValueValidator(1.0)]


class SchemaSnapshot(TenantModel):
    """The schema of one source object as one check saw it: fields with types and samples.

    `fields` is a list of `{name, type, samples, keyed}` sorted by name (order never matters;
    `keyed` maps a record's primary key to the field's value). A new row is written when the schema
    changed; an unchanged check refreshes the samples of the latest row and counts it as seen.
    The baseline a check compares with is the latest `accepted` row: under the freeze policy a
    drifted schema is stored unaccepted until a human has decided its changes.
    """

    connection = models.ForeignKey("connectors.Connection", on_delete=models.CASCADE, related_name="schema_snapshots")
    source_object = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64)
    fields = models.JSONField(default=list)
    primary_key = models.CharField(max_length=255, blank=True, default="")
    field_count = models.PositiveIntegerField(default=0)
    accepted = models.BooleanField(default=True)
    taken_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField()
    seen_count = models.PositiveIntegerField(default=1)

    class Meta:
        ordering = ["connection_id", "source_object", "-id"]
        indexes = [models.Index(fields=["connection", "source_object", "accepted"], name="snapshot_baseline_idx")]

    def __str__(self) -> str:
        return f"{self.source_object} {self.fingerprint[:8]} ({self.field_count} fields)"

    def field_names(self) -> list[str]:
        return [f["name"] for f in self.fields]


class DriftEvent(TenantModel):
    """One change of a source object's schema and what was done about it.

    `repair` is the proposal of the repair agent (`action`: move, swap, map, unmap, retype, drop,
    keep; the source field, the canonical field before and after), with `repair_confidence` and an
    `explanation` a person can read. `holds_mapping`: the mapping keeps a field that is gone from the
    source (a removal or rename awaiting a human), so nothing downstream is re-pointed silently.
    """

    class Kind(models.TextChoices):
        ADDED = "added", "Field added"
        REMOVED = "removed", "Field removed"
        RETYPED = "retyped", "Type changed"
        RENAMED = "renamed", "Field renamed"
        VALUE = "value", "New value"  # value drift: a source value never seen before (aam.values)

    class Status(models.TextChoices):
        APPLIED = "applied", "Repaired automatically"
        PENDING = "pending", "Awaiting review"
        APPROVED = "approved", "Approved by a reviewer"
        REJECTED = "rejected", "Rejected by a reviewer"
        FLAGGED = "flagged", "Flagged by a reviewer"
        SUPPRESSED = "suppressed", "Not proposed again (rejected before)"

    class Direction(models.TextChoices):
        NONE = "", "—"
        WIDENING = "widening", "Widening"
        NARROWING = "narrowing", "Narrowing"

    class Reprocess(models.TextChoices):
        NOT_NEEDED = "not_needed", "Not needed"
        PENDING = "pending", "The next sync reads the object again"
        STARTED = "started", "Read again"

    connection = models.ForeignKey("connectors.Connection", on_delete=models.CASCADE, related_name="drift_events")
    source_object = models.CharField(max_length=255)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    field = models.CharField(max_length=512)
    new_field = models.CharField(max_length=512, blank=True, default="")
    old_type = models.CharField(max_length=16, blank=True, default="")
    new_type = models.CharField(max_length=16, blank=True, default="")
    direction = models.CharField(max_length=16, choices=Direction.choices, blank=True, default="")
    swap = models.BooleanField(default=False)
    confidence = models.FloatField(default=1.0, validators=_UNIT)  # that the change is what `kind` says
    evidence = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices)
    policy = models.CharField(max_length=16)  # the connection's drift policy when it was detected
    repair = models.JSONField(default=dict, blank=True)
    repair_confidence = models.FloatField(default=0.0, validators=_UNIT)
    explanation = models.TextField(blank=True, default="")
    holds_mapping = models.BooleanField(default=False)
    review_item = models.ForeignKey(
        "aam.ReviewItem", null=True, blank=True, on_delete=models.SET_NULL, related_name="drift_events"
    )
    snapshot_before = models.ForeignKey(
        SchemaSnapshot, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    snapshot_after = models.ForeignKey(
        SchemaSnapshot, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    mapping_version_before = models.PositiveIntegerField(null=True, blank=True)
    mapping_version_after = models.PositiveIntegerField(null=True, blank=True)
    reprocess = models.CharField(max_length=16, choices=Reprocess.choices, default=Reprocess.NOT_NEEDED)
    detected_at = models.DateTimeField(auto_now_add=True)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-detected_at", "-id"]
        indexes = [
            models.Index(fields=["connection", "source_object", "status"], name="driftevent_object_status_idx"),
            models.Index(fields=["kind", "detected_at"], name="driftevent_kind_date_idx"),
        ]

    def __str__(self) -> str:
        change = f"{self.field} → {self.new_field}" if self.new_field else self.field
        return f"{self.source_object}: {self.kind} {change} [{self.status}]"


class ImmutableRecord(RuntimeError):
    """An audit record was about to be changed or deleted."""


class _DecisionQuerySet(TenantQuerySet):
    def update(self, **kwargs):
        raise ImmutableRecord("review decisions are never changed")

    def delete(self):
        raise ImmutableRecord("review decisions are never deleted")

    def bulk_update(self, *args, **kwargs):
        raise ImmutableRecord("review decisions are never changed")


class _DecisionManager(models.Manager.from_queryset(_DecisionQuerySet)):
    def get_queryset(self):
        current_tenant()  # fail closed on the public schema, like every tenant model
        return super().get_queryset()


class ReviewDecision(TenantModel):
    """One decision on a review item: who, when, what, why, and what it changed. Never edited or
    deleted: `save()` refuses updates, `delete()` and queryset updates/deletes raise, the admin is
    read-only, and a database trigger refuses UPDATE and DELETE (migration 0002)."""

    class Decision(models.TextChoices):
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"
        FLAGGED = "flagged", "Flagged"

    item = models.ForeignKey("aam.ReviewItem", on_delete=models.PROTECT, related_name="decisions")
    decision = models.CharField(max_length=16, choices=Decision.choices)
    previous_status = models.CharField(max_length=16)
    # no database constraint: deleting a user must neither fail nor rewrite the audit trail
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    username = models.CharField(max_length=150, blank=True, default="")
    note = models.TextField(blank=True, default="")
    canonical_field = models.CharField(max_length=128, blank=True, default="")  # a reviewer's correction
    proposal = models.JSONField(default=dict, blank=True)  # what was decided on, as it was then
    outcome = models.JSONField(default=dict, blank=True)  # what the decision changed
    decided_at = models.DateTimeField(auto_now_add=True)

    objects = _DecisionManager()

    class Meta:
        ordering = ["-decided_at", "-id"]

    def __str__(self) -> str:
        who = self.username or "system"
        return f"{self.decision} by {who} on review #{self.item_id}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise ImmutableRecord("review decisions are never changed")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ImmutableRecord("review decisions are never deleted")
