"""The mapping editor's change log: one row per change a person made to a connection's field mapping.

Each change wrote a new mapping version (`version_before` → `version_after`); the versions themselves
are the `FieldMapping` rows, never edited. The log says who changed which column from what to what,
which canonical field the change took away from the object (`field_before`: its values are emptied
on the records read again, aam/ingest), which memory rows it taught (an undo forgets them), and
whether it was undone. An undo is itself a change (`action = undo`, `undoes` the change it reversed):
history is appended to, never rewritten. See docs/adr/0027-mapping-editor.md.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from autonomos.core.tenancy import TenantModel


class MappingChange(TenantModel):
    class Action(models.TextChoices):
        MAP = "map", "Mapped"
        REMAP = "remap", "Re-mapped"
        UNMAP = "unmap", "Unmapped"
        EXCLUDE = "exclude", "Excluded"
        INCLUDE = "include", "Included again"
        UNDO = "undo", "Undone"

    connection = models.ForeignKey("connectors.Connection", on_delete=models.CASCADE, related_name="mapping_changes")
    source_object = models.CharField(max_length=255)
    source_field = models.CharField(max_length=512)
    action = models.CharField(max_length=16, choices=Action.choices)
    canonical_entity = models.CharField(max_length=64, blank=True, default="")
    field_before = models.CharField(max_length=128, null=True, blank=True)
    field_after = models.CharField(max_length=128, null=True, blank=True)
    status_before = models.CharField(max_length=16)
    status_after = models.CharField(max_length=16)
    version_before = models.PositiveIntegerField()
    version_after = models.PositiveIntegerField()
    undoes = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="undone_by")
    undone = models.BooleanField(default=False)
    memory_ids = models.JSONField(default=list, blank=True)  # MappingMemory rows this change taught
    # the pending review item of the column that this change decided (an undo queues it again)
    review_item = models.ForeignKey("aam.ReviewItem", null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+")
    reprocess = models.BooleanField(default=False)  # the object is read again so the views follow
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                             related_name="+")
    username = models.CharField(max_length=150, blank=True, default="")
    note = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["connection", "source_object"], name="mappingchange_object_idx")]

    def __str__(self) -> str:
        before = self.field_before or "(unmapped)"
        after = self.field_after or ("(excluded)" if self.status_after == "excluded" else "(unmapped)")
        return f"{self.source_object}.{self.source_field}: {before} → {after} ({self.action})"
