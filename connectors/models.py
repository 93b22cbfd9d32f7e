from django.db import models

from autonomos.core.tenancy import TenantModel


class Connection(TenantModel):
    """A tenant's configured source system: its kind, validated config, write-only secrets and cursor."""

    class Kind(models.TextChoices):
        FILESOURCE = "filesource", "CSV files"
        POSTGRES = "postgres", "PostgreSQL"
        SUPABASE = "supabase", "Supabase"
        MONGODB = "mongodb", "MongoDB"
        SALESFORCE = "salesforce", "Salesforce"
        HUBSPOT = "hubspot", "HubSpot"
        DYNAMICS = "dynamics", "Dynamics 365"

    class Status(models.TextChoices):
        NEW = "new", "New"
        OK = "ok", "Healthy"
        ERROR = "error", "Error"
        SYNCING = "syncing", "Syncing"
        FROZEN = "frozen", "Frozen by drift policy"

    class DriftPolicy(models.TextChoices):
        AUTO = "auto", "Apply confident repairs, queue the rest"
        REVIEW = "review", "Queue every change for review"
        FREEZE = "freeze", "Stop the sync and alert"

    class Domain(models.TextChoices):
        AUTO = "", "Route by kind and entity"
        REVOPS = "revops", "RevOps"
        FINOPS = "finops", "FinOps"

    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=32, choices=Kind.choices)
    config = models.JSONField(default=dict, blank=True)
    # Never rendered by any serializer, log line or event: see connectors/api/serializers.py.
    secrets = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.NEW)
    last_error = models.TextField(blank=True, default="")
    cursor = models.JSONField(default=dict, blank=True)
    drift_policy = models.CharField(max_length=16, choices=DriftPolicy.choices, default=DriftPolicy.AUTO)
    domain = models.CharField(max_length=16, choices=Domain.choices, default=Domain.AUTO, blank=True)
    last_synced_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["name"], name="connection_name_unique")]

    def __str__(self) -> str:
        return f"{self.name} ({self.kind})"

    def __repr__(self) -> str:  # secrets stay out of reprs that end up in logs
        return f"<Connection {self.pk} {self.kind} {self.name!r}>"
