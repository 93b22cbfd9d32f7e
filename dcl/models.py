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
    columns = models.JSONField(default=list, blank=True)
    # [{"connection_id", "connection_kind", "source_object", "records"}]: the view's lineage.
    sources = models.JSONField(default=list, blank=True)
    materialized_at = models.DateTimeField()
    duration_ms = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["entity"]

    def __str__(self) -> str:
        return f"dcl_view_{self.entity} v{self.version} ({self.row_count} rows)"


class RemovedConnection(TenantModel):
    """A deleted connection whose records may still be in the views ("keep its data"), or were until
    they left: its name and kind, so lineage names it instead of showing a bare id (written by the
    deletion, dcl/apps.py `connection_deleted`)."""

    connection_id = models.BigIntegerField(unique=True)
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=40)
    data_removed = models.BooleanField(default=False)
    removed_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-removed_at"]

    def __str__(self) -> str:
        return f"removed connection {self.connection_id} “{self.name}” ({self.kind})"


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


class ConnectionRun(TenantModel):
    """One pipeline run of a connection started by a Celery task (its schedule, the sync API, drift
    re-processing, stream replay): how it ended and what it did per source object.

    A scheduled tick that finds a run of the connection going starts nothing and is recorded as
    `skipped`; consecutive skips share one row (`skipped_count`, `finished_at` the last one), so a
    1-second schedule over a 10-minute run writes one row, not 600. Runs of `manage.py sync` and the
    AOA connect job drive the pipeline's steps themselves and are not recorded here.
    """

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        SKIPPED = "skipped", "Skipped (a run was going)"

    connection = models.ForeignKey("connectors.Connection", on_delete=models.CASCADE, related_name="runs")
    trigger = models.CharField(max_length=16)  # "schedule" or "task" (the sync API, drift, replay)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING)
    attempt = models.PositiveSmallIntegerField(default=1)  # 1, then 2, 3... for the retries of a failed run
    task_id = models.CharField(max_length=64, blank=True, default="")
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    seconds = models.FloatField(null=True, blank=True)
    error = models.TextField(blank=True, default="")
    retry_at = models.DateTimeField(null=True, blank=True)  # when a failed attempt is tried again
    skipped_count = models.PositiveIntegerField(default=0)
    records_read = models.BigIntegerField(default=0)
    quarantined = models.BigIntegerField(default=0)
    # What the run changed in the DCL (its "changes" step, dcl/changes.py); null when the run did not
    # get that far (a failed or skipped run) or was recorded before these were counted.
    inserted = models.BigIntegerField(null=True, blank=True)
    updated = models.BigIntegerField(null=True, blank=True)
    deleted = models.BigIntegerField(null=True, blank=True)
    # [{"object", "entity", "read", "published", "quarantined", "inserted", "updated", "deleted"}]; a
    # count the run did not reach is null (docs/adr/0017-schedules-and-freshness.md, 0021-run-counts.md).
    object_counts = models.JSONField(default=list, blank=True)
    info = models.JSONField(default=dict, blank=True)  # the run's RunInfo (dcl/pipeline/info.py)

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["connection", "-started_at"], name="dcl_run_conn_started")]

    def __str__(self) -> str:
        return f"run of connection {self.connection_id} ({self.trigger}) {self.status}"


class EntityHistory(TenantModel):
    """Type-2 history of one unified entity's tracked columns (docs/adr/0020-history.md).

    One row per version of a unified entity (`unified_id` of `dcl_view_<entity>`): `valid_from` is
    when the platform learned the values (the materialization's time), `valid_to` when the next
    version replaced them (NULL: the current version). An entity whose source records all left gets
    a closing version with `deleted` set, carrying its last values; a re-insert opens a new version.
    `source_updated_at` is the record's own modification time (`updated_at`) where it has one.

    Written only by dcl/history/ (insert the new versions, close the previous ones); the tracked
    columns are the concrete model's own fields, which dcl/history reads from here.
    """

    unified_id = models.TextField(db_collation="C")
    version = models.PositiveIntegerField()
    valid_from = models.DateTimeField()
    valid_to = models.DateTimeField(null=True, blank=True)
    deleted = models.BooleanField(default=False)
    source_updated_at = models.DateTimeField(null=True, blank=True)

    # The columns every history model has; everything else a concrete model declares is tracked.
    BASE_FIELDS = ("unified_id", "version", "valid_from", "valid_to", "deleted", "source_updated_at")

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return f"{self.entity} {self.unified_id} v{self.version}"


class OpportunityHistory(EntityHistory):
    """Versions of unified opportunities: stage (and its derived status and category), amount,
    currency, close date, forecast category, probability and owner. The vendor's own stage is kept
    beside the canonical one: a stage awaiting review is NULL, and a move between two such stages
    is still a move."""

    pk = models.CompositePrimaryKey("unified_id", "version")
    stage = models.TextField(null=True, blank=True)
    stage_source = models.TextField(null=True, blank=True)
    status = models.TextField(null=True, blank=True)
    stage_category = models.TextField(null=True, blank=True)
    amount = models.DecimalField(max_digits=38, decimal_places=10, null=True, blank=True)
    currency = models.TextField(null=True, blank=True)
    close_date = models.DateField(null=True, blank=True)
    forecast_category = models.TextField(null=True, blank=True)
    probability = models.DecimalField(max_digits=38, decimal_places=10, null=True, blank=True)
    owner_id = models.TextField(null=True, blank=True)

    entity = "opportunity"

    class Meta:
        db_table = "dcl_history_opportunity"
        indexes = [models.Index(fields=["valid_from"], name="dcl_hist_opp_valid_from")]


class AccountHistory(EntityHistory):
    """Versions of unified accounts: owner and account type."""

    pk = models.CompositePrimaryKey("unified_id", "version")
    owner_id = models.TextField(null=True, blank=True)
    account_type = models.TextField(null=True, blank=True)

    entity = "account"

    class Meta:
        db_table = "dcl_history_account"
        indexes = [models.Index(fields=["valid_from"], name="dcl_hist_acc_valid_from")]


# --- Entity resolution: review, decisions, id redirects (docs/entity-resolution.md) ------------------
# A record is (connection id, source id). A pair is stored in one order, (left) < (right) as tuples, so
# the same two records are one row whichever way they were named (dcl/resolution/pairs.py `ordered`).


class MatchReview(TenantModel):
    """A pair of source records the model scored between the review floor and the entity's
    threshold: a person approves (the two are the same thing) or rejects it.

    Written by the clustering run (dcl/resolution/review.py `review_pairs_record`): a pair it no
    longer proposes becomes `obsolete`; a decided item is never touched again. A decision becomes a
    `MatchDecision`, which is what the model obeys."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        APPROVED = "approved", "Approved (same entity)"
        REJECTED = "rejected", "Rejected (different entities)"
        OBSOLETE = "obsolete", "Obsolete (no longer proposed)"

    entity = models.CharField(max_length=63)
    left_connection_id = models.BigIntegerField()
    left_source_id = models.TextField(db_collation="C")
    right_connection_id = models.BigIntegerField()
    right_source_id = models.TextField(db_collation="C")
    probability = models.FloatField()
    match_weight = models.FloatField()
    # [{"comparison", "level", "bayes_factor", "log2_bayes_factor", "left", "right"}], a "prior" row first
    waterfall = models.JSONField(default=list, blank=True)
    left_unified_id = models.TextField(db_collation="C", blank=True, default="")
    right_unified_id = models.TextField(db_collation="C", blank=True, default="")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    decided_by = models.CharField(max_length=150, blank=True, default="")
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["entity", "-probability", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["entity", "left_connection_id", "left_source_id", "right_connection_id", "right_source_id"],
                name="dcl_matchreview_pair_unique",
            ),
        ]
        indexes = [models.Index(fields=["status", "entity"], name="dcl_matchreview_status")]

    @property
    def left(self) -> tuple[int, str]:
        return (self.left_connection_id, self.left_source_id)

    @property
    def right(self) -> tuple[int, str]:
        return (self.right_connection_id, self.right_source_id)

    def __str__(self) -> str:
        return (f"{self.entity} {self.left_connection_id}:{self.left_source_id} ~ "
                f"{self.right_connection_id}:{self.right_source_id} ({self.status}, p={self.probability:.2f})")


class MatchDecision(TenantModel):
    """A person's word on two source records: `must_link` (the same entity) or `cannot_link`
    (different entities). The matching engine obeys it whatever the model scores, across retraining
    (dcl/resolution/decisions.py `constraints`). One per pair: a newer decision replaces the older."""

    class Kind(models.TextChoices):
        MUST_LINK = "must_link", "Must link"
        CANNOT_LINK = "cannot_link", "Cannot link"

    class Origin(models.TextChoices):
        REVIEW = "review", "Review item"
        MERGE = "merge", "Merge"
        SPLIT = "split", "Split"
        API = "api", "API"

    entity = models.CharField(max_length=63)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    left_connection_id = models.BigIntegerField()
    left_source_id = models.TextField(db_collation="C")
    right_connection_id = models.BigIntegerField()
    right_source_id = models.TextField(db_collation="C")
    origin = models.CharField(max_length=16, choices=Origin.choices)
    note = models.TextField(blank=True, default="")
    created_by = models.CharField(max_length=150, blank=True, default="")
    created_at = models.DateTimeField()
    review = models.ForeignKey(MatchReview, null=True, blank=True, on_delete=models.SET_NULL,
                               related_name="decisions")

    class Meta:
        ordering = ["entity", "-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["entity", "left_connection_id", "left_source_id", "right_connection_id", "right_source_id"],
                name="dcl_matchdecision_pair_unique",
            ),
        ]

    def __str__(self) -> str:
        return (f"{self.kind} {self.entity} {self.left_connection_id}:{self.left_source_id} ~ "
                f"{self.right_connection_id}:{self.right_source_id} ({self.origin})")


class UnifiedIdRedirect(TenantModel):
    """A unified id that no longer names an entity (its cluster was split or merged into another):
    pages and the API answer it with a permanent redirect to `new_id`. Chains are collapsed when
    written, so one hop always reaches a live id (dcl/resolution/review.py `redirects_record`)."""

    entity = models.CharField(max_length=63)
    old_id = models.TextField(db_collation="C")
    new_id = models.TextField(db_collation="C")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["entity", "old_id"]
        constraints = [
            models.UniqueConstraint(fields=["entity", "old_id"], name="dcl_unifiedidredirect_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.entity} {self.old_id} → {self.new_id}"
