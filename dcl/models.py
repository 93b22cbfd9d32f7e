from django.db import models

from autonomos.core.tenancy import TenantModel


class MaterializedView(TenantModel):
    """The catalog of the tenant's unified views in PostgreSQL (`dcl_view_<entity>`).

    Written in the same transaction that swaps the view in, so the catalog never describes a view
    that is not there.
    """

    entity = models.CharField(max_length=63, unique=True)
    data_table = models.CharField(max_length=63)
    version = models.PositiveIntegerField(default=0)
    row_count = models.BigIntegerField(default=0)
    # [{"name": ..., "kind": ...}] of the canonical fields: what the API may filter and sort on.
    columns = models.JSONField(default=list)
    # [{"connection_id", "connection_kind", "source_object", "records"}]: the view's lineage.
    sources = models.JSONField(default=list)
    materialized_at = models.DateTimeField()
    duration_ms = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["entity"]

    def __str__(self) -> str:
        return f"dcl_view_{self.entity} v{self.version} ({self.row_count} rows)"


class StreamAction(TenantModel):
    """Audit log of operator actions on a connection's stream (replay, consumer-group reset).

    Rows are written once and never changed: `save` refuses updates and `delete` refuses outright.
    """

    class Action(models.TextChoices):
        REPLAY = "replay", "Replay from the start"
        RESET = "reset", "Reset the consumer group"

    connection_id = models.BigIntegerField()
    connection_name = models.CharField(max_length=200)
    action = models.CharField(max_length=16, choices=Action.choices)
    actor = models.CharField(max_length=150)
    details = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise ValueError("audit records are never edited")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("audit records are never deleted")

    def __str__(self) -> str:
        return f"{self.action} on {self.connection_name} by {self.actor}"
