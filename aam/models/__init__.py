"""AAM models: field mappings (versioned per connection and source object), the tenant's mapping
memory, and review items for decisions a human must take."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from autonomos.core.tenancy import TenantModel

_UNIT = [MinValueValidator(0.0), MaxValueValidator(1.0)]


class FieldMapping(TenantModel):
    """One source field's mapping in one version of a (connection, source object) mapping.

    Each version holds one row per source field. The active mapping of a (connection, object) is the
    set of `active` rows of its latest version. When a new version is written, the rows that were in
    force become `superseded`; pending, rejected and excluded rows keep their status so an old version
    still reads as it was. A field the engine left unmapped has an active row with `canonical_field`
    null; a proposal awaiting a human is `pending`; a proposal a human turned down is `rejected`; a
    column a person excluded in the mapping editor (aam/editor) is `excluded`: not mapped and its
    values not carried at all (not even in the batch's `_extras`).

    `hint`: what an unmapped column was found to look like when it was looked at again (aam/editor/
    meaningful.py): `{}` nothing, else `{"entity", "field", "score", "proposal", "why"}`; null when it
    has not been looked at yet.
    """

    class Method(models.TextChoices):
        MEMORY = "memory", "Memory"
        HEURISTIC = "heuristic", "Heuristic"
        LLM = "llm", "LLM"
        HUMAN = "human", "Human decision"
        NONE = "none", "None"

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        PENDING = "pending", "Pending review"
        REJECTED = "rejected", "Rejected"
        SUPERSEDED = "superseded", "Superseded"
        EXCLUDED = "excluded", "Excluded"

    connection = models.ForeignKey("connectors.Connection", on_delete=models.CASCADE, related_name="field_mappings")
    source_object = models.CharField(max_length=255)
    source_field = models.CharField(max_length=512)
    # what the field looked like when mapped: fed to the memory when a human decides
    source_type = models.CharField(max_length=16, blank=True, default="")
    value_signature = models.CharField(max_length=64, blank=True, default="")
    canonical_entity = models.CharField(max_length=64, blank=True, default="")  # "" = no entity fits the object
    canonical_field = models.CharField(max_length=128, null=True, blank=True)
    confidence = models.FloatField(default=0.0, validators=_UNIT)
    method = models.CharField(max_length=16, choices=Method.choices, default=Method.NONE)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    version = models.PositiveIntegerField(default=1, validators=[MinValueValidator(1)])
    explanation = models.TextField(blank=True, default="")
    hint = models.JSONField(null=True, blank=True, default=None)
    created_at = models.DateTimeField(auto_now_add=True)

    # What a mapping decision is, apart from where it belongs (connection, object) and its version.
    DECISION_FIELDS = (
        "source_field",
        "source_type",
        "value_signature",
        "canonical_entity",
        "canonical_field",
        "confidence",
        "method",
        "status",
        "explanation",
        "hint",
    )

    def carried_forward(self, **changes) -> FieldMapping:
        """An unsaved copy of this decision for another version of the same (connection, object)
        mapping; `changes` override fields (e.g. `version`, `status`)."""
        data = {name: getattr(self, name) for name in self.DECISION_FIELDS}
        data.update(changes)
        return FieldMapping(connection_id=self.connection_id, source_object=self.source_object, **data)

    class Meta:
        ordering = ["connection_id", "source_object", "-version", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "source_object", "version", "source_field"],
                name="fieldmapping_one_row_per_field_and_version",
            ),
        ]
        indexes = [models.Index(fields=["connection", "source_object", "status"], name="fieldmapping_active_idx")]

    def __str__(self) -> str:
        target = f"{self.canonical_entity}.{self.canonical_field}" if self.canonical_field else "(unmapped)"
        return f"{self.source_object}.{self.source_field} → {target} v{self.version} [{self.status}]"


class MappingMemory(TenantModel):
    """A human decision the engine remembers for this tenant: approved (propose it again) or rejected
    (never propose it again for a similar field). `canonical_field` null + approved = "no counterpart"."""

    class Decision(models.TextChoices):
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"

    source_kind = models.CharField(max_length=32, blank=True, default="")
    source_object = models.CharField(max_length=255, blank=True, default="")
    field_name = models.CharField(max_length=512)
    normalized_name = models.CharField(max_length=512, db_index=True)
    field_type = models.CharField(max_length=16, blank=True, default="")
    value_signature = models.CharField(max_length=64, blank=True, default="")
    canonical_entity = models.CharField(max_length=64)
    canonical_field = models.CharField(max_length=128, null=True, blank=True)
    decision = models.CharField(max_length=16, choices=Decision.choices)
    decided_by = models.CharField(max_length=150, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "mapping memory"

    def __str__(self) -> str:
        target = f"{self.canonical_entity}.{self.canonical_field}" if self.canonical_field else "(no counterpart)"
        return f"{self.decision}: {self.field_name} → {target}"


class ReviewItem(TenantModel):
    """Something a human must decide: a mapping proposal, a drift repair, an asset. `proposal` says what
    is proposed, `evidence` why; once decided, `decided_by` / `decided_at` / `note` record the decision."""

    class Kind(models.TextChoices):
        MAPPING = "mapping", "Mapping"
        DRIFT = "drift", "Drift"
        ASSET = "asset", "Asset"
        VALUE = "value", "Value"  # a source value's canonical value (aam.values)
        DELETES = "deletes", "Deletes"  # a sync that would delete too much (aam/deletes_review.py)

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"
        FLAGGED = "flagged", "Flagged"

    class Risk(models.TextChoices):
        LOW = "low", "Low"
        MEDIUM = "medium", "Medium"
        HIGH = "high", "High"

    kind = models.CharField(max_length=16, choices=Kind.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    title = models.CharField(max_length=300, blank=True, default="")
    proposal = models.JSONField(default=dict, blank=True)
    confidence = models.FloatField(default=0.0, validators=_UNIT)
    evidence = models.JSONField(default=dict, blank=True)
    risk = models.CharField(max_length=8, choices=Risk.choices, default=Risk.MEDIUM)
    connection = models.ForeignKey(
        "connectors.Connection", null=True, blank=True, on_delete=models.SET_NULL, related_name="review_items"
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    note = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["kind", "status"], name="reviewitem_kind_status_idx")]

    def __str__(self) -> str:
        return self.title or f"{self.kind} review #{self.pk}"


class QuarantinedRecord(TenantModel):
    """A source record that could not land (a value that cannot be its canonical type, no id, a line
    the driver could not read): kept with the reason, never dropped silently."""

    connection = models.ForeignKey("connectors.Connection", on_delete=models.CASCADE, related_name="quarantined")
    source_object = models.CharField(max_length=255)
    entity = models.CharField(max_length=64, blank=True, default="")
    source_id = models.CharField(max_length=255, blank=True, default="")
    position = models.BigIntegerField(null=True, blank=True)  # line number for files, else record number
    reason = models.TextField()
    raw = models.JSONField(default=dict, blank=True)
    mapping_version = models.PositiveIntegerField(default=0)
    schema_fingerprint = models.CharField(max_length=64, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["connection", "source_object"], name="quarantine_conn_object")]

    def __str__(self) -> str:
        return f"{self.source_object}#{self.position}: {self.reason[:60]}"


# Drift detection and the review flow keep their models in their own module (same app). They live
# here, under aam/models/, not in aam/drift/: the drift package uses the mapping models, so its
# models importing back from aam.drift would be an import circle (docs/adr/0011).
from .changes import MappingChange  # noqa: E402
from .drift import DriftEvent, ImmutableRecord, ReviewDecision, SchemaSnapshot  # noqa: E402
from .values import ColumnMetadata, ValueMap, ValueMemory  # noqa: E402

__all__ = [
    "ColumnMetadata",
    "DriftEvent",
    "FieldMapping",
    "ImmutableRecord",
    "MappingChange",
    "MappingMemory",
    "QuarantinedRecord",
    "ReviewDecision",
    "ReviewItem",
    "SchemaSnapshot",
    "ValueMap",
    "ValueMemory",
]
