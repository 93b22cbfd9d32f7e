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
