"""AOA jobs, agent runs and discovery logs (tenant models: each tenant's rows live in its schema)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from autonomos.core.tenancy import TenantModel


class Job(TenantModel):
    """One unit of orchestrated work with a full lifecycle.

    A connect job has child jobs (one `sync` per source, then `materialize` and `agents`), so the
    dashboard can show each step and the per-source report. The lifecycle: queued → running →
    succeeded / partial / failed / cancelled. `cancel_requested` is how a running job is asked to
    stop: the runner checks it at every step boundary.
    """

    class Kind(models.TextChoices):
        CONNECT = "connect", "Connect sources and run agents"
        SYNC = "sync", "Sync one source"
        MATERIALIZE = "materialize", "Consume streams and materialize views"
        AGENTS = "agents", "Run agents"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        PARTIAL = "partial", "Partially succeeded"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"
        SKIPPED = "skipped", "Skipped"

    ACTIVE = (Status.QUEUED, Status.RUNNING)
    FINISHED = (Status.SUCCEEDED, Status.PARTIAL, Status.FAILED, Status.CANCELLED, Status.SKIPPED)

    kind = models.CharField(max_length=16, choices=Kind.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    progress = models.PositiveSmallIntegerField(default=0)
    step = models.CharField(max_length=300, blank=True, default="")
    attempts = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True, default="")
    cancel_requested = models.BooleanField(default=False)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.CASCADE, related_name="children")
    connection = models.ForeignKey("connectors.Connection", null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="jobs")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="+")
    params = models.JSONField(default=dict, blank=True)
    result = models.JSONField(default=dict, blank=True)
    task_id = models.CharField(max_length=64, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Doubles as the heartbeat: every progress write touches it, so a job whose worker died is
    # recognisable (see services.jobs.job_reap_stale).
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # The database, not the application, guarantees one active connect job per tenant (each
            # tenant has its own schema, so the index is per tenant): of two simultaneous requests,
            # the second insert fails and gets the first job's id.
            # (An expression, not fields=["kind"], so DRF does not attach a unique validator, which
            # would query tenant data while the API schema is generated on the public schema.)
            models.UniqueConstraint(
                F("kind"),
                condition=Q(kind="connect", status__in=["queued", "running"], parent__isnull=True),
                name="job_one_active_connect",
            ),
            models.CheckConstraint(condition=Q(progress__lte=100), name="job_progress_at_most_100"),
        ]
        indexes = [
            models.Index(fields=["status", "kind"], name="job_status_kind"),
            models.Index(fields=["parent", "created_at"], name="job_parent_created"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} job #{self.pk} ({self.status})"

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at is None:
            return None
        end = self.finished_at
        if end is None:
            from django.utils import timezone

            end = timezone.now()
        return round((end - self.started_at).total_seconds(), 3)


class AgentRun(TenantModel):
    """One run of one pilot: what it read, what it computed, what it found, and a narrative."""

    class Agent(models.TextChoices):
        REVOPS = "revops", "RevOps pilot"
        FINOPS = "finops", "FinOps pilot"

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        SKIPPED = "skipped", "Skipped"

    class NarrativeSource(models.TextChoices):
        NONE = "", "None"
        LLM = "llm", "LLM"
        HEURISTIC = "heuristic", "Heuristic"

    agent = models.CharField(max_length=16, choices=Agent.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING)
    job = models.ForeignKey(Job, null=True, blank=True, on_delete=models.SET_NULL, related_name="agent_runs")
    inputs = models.JSONField(default=dict, blank=True)
    metrics = models.JSONField(default=dict, blank=True)
    findings = models.JSONField(default=list, blank=True)
    narrative = models.TextField(blank=True, default="")
    narrative_source = models.CharField(max_length=16, choices=NarrativeSource.choices, blank=True, default="")
    error = models.TextField(blank=True, default="")
    skipped_reason = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["agent", "-created_at"], name="agentrun_agent_created")]

    def __str__(self) -> str:
        return f"{self.agent} run #{self.pk} ({self.status})"


class DiscoveryLog(TenantModel):
    """An audit record of one discovery request: what was sent, what came back, what agents got."""

    class Kind(models.TextChoices):
        DISCOVER = "discover", "Natural-language discovery"
        SCAN = "scan", "Risk scan"

    class Backend(models.TextChoices):
        EXTERNAL = "external", "External discovery service"
        BUILTIN = "builtin", "Built-in discovery"

    class Status(models.TextChoices):
        OK = "ok", "OK"
        ERROR = "error", "Error"

    kind = models.CharField(max_length=16, choices=Kind.choices)
    backend = models.CharField(max_length=16, choices=Backend.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OK)
    query = models.TextField(blank=True, default="")
    request = models.JSONField(default=dict, blank=True)
    response = models.JSONField(default=dict, blank=True)
    handed_to_agents = models.JSONField(default=dict, blank=True)
    assets_count = models.PositiveIntegerField(default=0)
    review_items_created = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True, default="")
    duration_ms = models.PositiveIntegerField(default=0)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.kind} via {self.backend} #{self.pk}"


class Quota(TenantModel):
    """A sales quota entered in the admin: the amount one owner is to close in one period.

    Quotas also arrive through a connection (a "Quota" CSV maps onto the canonical entity `quota`, view
    `dcl_view_quota`); for the same owner and period a row here wins over a loaded one (ADR 0029), so a
    correction made in the admin is not undone by the next sync of a stale spreadsheet.
    """

    owner_id = models.CharField(max_length=200, help_text="The owner's id as the deals carry it (owner_id).")
    period_start = models.DateField()
    period_end = models.DateField(help_text="Last day of the period, inclusive.")
    amount = models.DecimalField(max_digits=20, decimal_places=2)
    currency = models.CharField(max_length=3, help_text="ISO 4217 code of the amount, such as USD.")
    note = models.CharField(max_length=300, blank=True, default="")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["period_start", "owner_id"]
        constraints = [
            models.UniqueConstraint(fields=["owner_id", "period_start", "period_end"], name="quota_owner_period"),
            models.CheckConstraint(condition=Q(period_end__gte=F("period_start")), name="quota_period_ordered"),
            models.CheckConstraint(condition=Q(amount__gte=0), name="quota_amount_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.owner_id} {self.period_start}–{self.period_end}: {self.amount} {self.currency}"

    def clean(self):
        from django.core.exceptions import ValidationError

        code = (self.currency or "").strip().upper()
        if len(code) != 3 or not code.isalpha():
            raise ValidationError({"currency": "an ISO 4217 code of three letters, such as USD"})
        self.currency = code
