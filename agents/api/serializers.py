"""Input and output serializers of the AOA, agents and telemetry endpoints."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from connectors.api.serializers import HealthSerializer

from ..discovery.contracts import MAX_ASSETS
from ..models import AgentRun, DiscoveryLog, Job
from ..pilots.normalize import findings_normalize
from ..routing import DOMAINS
from ..selectors import run_findings

MAX_CONNECTIONS_PER_JOB = 500


# --- inputs ---------------------------------------------------------------------------------


class ConnectInputSerializer(serializers.Serializer):
    connection_ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=2**63 - 1), required=False, allow_null=True,
        allow_empty=False, max_length=MAX_CONNECTIONS_PER_JOB,
        help_text="Connections to sync; omit (or null) for all of the tenant's connections.")
    full = serializers.BooleanField(required=False, default=False,
                                    help_text="Re-read every source from the start instead of from its cursor.")


class JobFilterSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=Job.Status.choices, required=False)
    kind = serializers.ChoiceField(choices=Job.Kind.choices, required=False)


class AgentsRunInputSerializer(serializers.Serializer):
    agents = serializers.ListField(child=serializers.ChoiceField(choices=DOMAINS), required=False, allow_empty=False,
                                   max_length=len(DOMAINS), help_text="Pilots to run; omit for all.")


class DiscoverInputSerializer(serializers.Serializer):
    query = serializers.CharField(max_length=2000, trim_whitespace=True,
                                  help_text="What to find, in plain language (e.g. 'personal data in our CRMs').")
    run_agents = serializers.BooleanField(required=False, default=False,
                                          help_text="Queue the pilots the discovered assets belong to.")
    max_assets = serializers.IntegerField(required=False, default=1000, min_value=1, max_value=MAX_ASSETS)


class ScanInputSerializer(serializers.Serializer):
    max_assets = serializers.IntegerField(required=False, default=1000, min_value=1, max_value=MAX_ASSETS)


# --- outputs --------------------------------------------------------------------------------


# Output enums are plain strings (their values are documented on the models): several models here and
# in other apps have `kind` / `status` choices, and OpenAPI enum names would collide.
_KIND_HELP = "connect | sync | materialize | agents"
_STATUS_HELP = "queued | running | succeeded | partial | failed | cancelled | skipped"


class AgentRunSummarySerializer(serializers.ModelSerializer):
    agent = serializers.CharField(read_only=True, help_text="revops | finops")
    status = serializers.CharField(read_only=True, help_text="running | succeeded | failed | skipped")
    narrative_source = serializers.CharField(read_only=True, help_text="llm | heuristic | empty")
    job_id = serializers.IntegerField(allow_null=True, read_only=True)
    findings_count = serializers.SerializerMethodField()

    class Meta:
        model = AgentRun
        fields = ["id", "agent", "status", "job_id", "narrative_source", "skipped_reason", "error", "findings_count",
                  "created_at", "started_at", "finished_at"]

    def get_findings_count(self, obj: AgentRun) -> int:
        """As many as `findings` lists (a stored run's repeats over consecutive days are one)."""
        if not isinstance(obj.findings, list):
            return len(run_findings(obj))
        return len(findings_normalize(obj.findings))


class AgentRunSerializer(AgentRunSummarySerializer):
    findings = serializers.SerializerMethodField(
        help_text="The run's findings: kind, severity, title, `currency` (of every amount in it), `action` (what to "
                  "do), `records` (`entity`, `unified_ids`, `count`: the view rows behind it), `from` / `to` for a "
                  "period, `id`, and `links` (`page`: the finding's page; `view`: the view page filtered to its one "
                  "record; `api`: the view's rows API filtered to its records). Runs stored earlier are given in "
                  "the same shape (agents/pilots/normalize.py).")

    class Meta(AgentRunSummarySerializer.Meta):
        fields = AgentRunSummarySerializer.Meta.fields + ["inputs", "metrics", "findings", "narrative"]

    @extend_schema_field(serializers.ListField(child=serializers.DictField()))
    def get_findings(self, obj: AgentRun) -> list[dict]:
        return run_findings(obj)


class JobSerializer(serializers.ModelSerializer):
    kind = serializers.CharField(read_only=True, help_text=_KIND_HELP)
    status = serializers.CharField(read_only=True, help_text=_STATUS_HELP)
    parent_id = serializers.IntegerField(allow_null=True, read_only=True)
    connection_id = serializers.IntegerField(allow_null=True, read_only=True)
    connection_name = serializers.SerializerMethodField()
    requested_by = serializers.SerializerMethodField()
    duration_seconds = serializers.FloatField(read_only=True, allow_null=True)

    class Meta:
        model = Job
        fields = ["id", "kind", "status", "progress", "step", "attempts", "error", "cancel_requested", "parent_id",
                  "connection_id", "connection_name", "requested_by", "params", "result", "created_at", "started_at",
                  "finished_at", "duration_seconds"]

    def get_connection_name(self, obj: Job) -> str | None:
        return obj.connection.name if obj.connection_id and obj.connection else None

    def get_requested_by(self, obj: Job) -> str | None:
        return obj.requested_by.get_username() if obj.requested_by_id and obj.requested_by else None


class JobDetailSerializer(JobSerializer):
    children = JobSerializer(many=True, read_only=True)
    agent_runs = AgentRunSummarySerializer(many=True, read_only=True)

    class Meta(JobSerializer.Meta):
        fields = JobSerializer.Meta.fields + ["children", "agent_runs"]


class JobAcceptedSerializer(serializers.Serializer):
    job_id = serializers.IntegerField()
    job = JobDetailSerializer()


class AgentOverviewSerializer(serializers.Serializer):
    agent = serializers.CharField()
    description = serializers.CharField()
    sources = serializers.ListField(child=serializers.DictField())
    runs = serializers.IntegerField()
    last_run = AgentRunSummarySerializer(allow_null=True)
    latest_result = AgentRunSerializer(allow_null=True)


class AgentResultsSerializer(serializers.Serializer):
    agent = serializers.CharField()
    latest = AgentRunSerializer(allow_null=True)
    last_run = AgentRunSummarySerializer(allow_null=True)
    history = AgentRunSummarySerializer(many=True)
    count = serializers.IntegerField()
    next = serializers.CharField(allow_null=True)
    previous = serializers.CharField(allow_null=True)


class DiscoveryLogSerializer(serializers.ModelSerializer):
    kind = serializers.CharField(read_only=True, help_text="discover | scan")
    backend = serializers.CharField(read_only=True, help_text="external | builtin")
    status = serializers.CharField(read_only=True, help_text="ok | error")
    requested_by = serializers.SerializerMethodField()

    class Meta:
        model = DiscoveryLog
        fields = ["id", "kind", "backend", "status", "query", "request", "response", "handed_to_agents",
                  "assets_count", "review_items_created", "error", "duration_ms", "requested_by", "created_at"]

    def get_requested_by(self, obj: DiscoveryLog) -> str | None:
        return obj.requested_by.get_username() if obj.requested_by_id and obj.requested_by else None


class AssetSerializer(serializers.Serializer):
    asset_id = serializers.CharField()
    name = serializers.CharField()
    asset_type = serializers.CharField()
    source = serializers.CharField()
    owner = serializers.CharField(allow_null=True)
    entity = serializers.CharField(allow_null=True)
    domain = serializers.CharField(allow_null=True)
    risk = serializers.CharField(help_text="high | medium | low")
    reasons = serializers.ListField(child=serializers.CharField())
    data_classes = serializers.ListField(child=serializers.CharField())
    fields = serializers.ListField(child=serializers.CharField())
    tags = serializers.DictField()
    last_seen = serializers.DateTimeField(allow_null=True)
    attributes = serializers.DictField()


class DiscoveryResultSerializer(serializers.Serializer):
    log_id = serializers.IntegerField()
    backend = serializers.CharField()
    summary = serializers.CharField()
    intents = serializers.ListField(child=serializers.CharField())
    counts = serializers.DictField(child=serializers.IntegerField())
    review_items_created = serializers.IntegerField()
    handed_to_agents = serializers.DictField()
    agents_job_id = serializers.IntegerField(allow_null=True)
    assets = AssetSerializer(many=True)


class StateSerializer(serializers.Serializer):
    connections = serializers.ListField(child=serializers.DictField())
    views = serializers.ListField(child=serializers.DictField())
    views_available = serializers.BooleanField()
    active_job = JobSerializer(allow_null=True)
    last_job = JobSerializer(allow_null=True)
    agents = AgentOverviewSerializer(many=True)
    llm = serializers.DictField()


class TelemetrySerializer(serializers.Serializer):
    tenant = serializers.CharField()
    llm = serializers.DictField()
    pipeline = serializers.DictField()
    views = serializers.ListField(child=serializers.DictField())


class StatusConnectionSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    health = HealthSerializer()


class StatusJobSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    status = serializers.CharField()
    progress = serializers.IntegerField()
    step = serializers.CharField(allow_blank=True)


class StatusSerializer(serializers.Serializer):
    connections = StatusConnectionSerializer(many=True)
    health = serializers.DictField(child=serializers.IntegerField(),
                                   help_text="connections per state: healthy, syncing, needs_attention, failed, new")
    connections_total = serializers.IntegerField()
    attention = serializers.IntegerField(help_text="connections failed or needing attention")
    review_pending = serializers.IntegerField(help_text="review items waiting for a decision (the review queue)")
    jobs_active = StatusJobSerializer(many=True, help_text="top-level jobs queued or running, newest first")


# --- the pipeline waterfall between two chosen dates (agents/services/waterfall.py) ---------


class WaterfallRecordsSerializer(serializers.Serializer):
    entity = serializers.CharField(help_text="Always `opportunity`.")
    unified_ids = serializers.ListField(child=serializers.CharField(),
                                       help_text="The bar's deals, largest movement first (at most 500).")
    count = serializers.IntegerField(help_text="How many deals the bar holds.")
    truncated = serializers.BooleanField(required=False, help_text="True when the bar holds more than the ids.")


class WaterfallBarSerializer(serializers.Serializer):
    bar = serializers.CharField(help_text="opening, created, pulled_in, other_in, increased, decreased, won, lost, "
                                          "pushed_out, removed, other_out, closing.")
    label = serializers.CharField()
    deals = serializers.IntegerField()
    amount = serializers.FloatField(help_text="In the reporting currency; exits and decreases are negative.")
    records = WaterfallRecordsSerializer(allow_null=True)


class WaterfallLeftOutSerializer(serializers.Serializer):
    currency = serializers.CharField()
    deals = serializers.IntegerField()
    records = WaterfallRecordsSerializer(allow_null=True)


class QueryRefSerializer(serializers.Serializer):
    sql = serializers.CharField(help_text="Run in the tenant's schema with `params`, it returns the figures again.")
    params = serializers.DictField()


class WaterfallSerializer(serializers.Serializer):
    period_start = serializers.DateField(help_text="First close date of the period followed.")
    period_end = serializers.DateField(help_text="Last close date of the period followed.")
    since = serializers.DateField(help_text='The "from" day: the opening pipeline as known at its 00:00 UTC.')
    until = serializers.DateField(help_text='The "to" day: the closing pipeline as known at its end.')
    currency = serializers.CharField(help_text="The tenant's reporting currency.")
    rate_day = serializers.DateField(required=False, help_text="Amounts converted at each currency's latest rate "
                                                               "on or before this day.")
    bars = WaterfallBarSerializer(many=True, help_text="Empty when there is nothing to compute from (`statement`).")
    balanced = serializers.BooleanField(required=False, help_text="Opening + movements = closing, to the cent.")
    left_out = WaterfallLeftOutSerializer(many=True, required=False,
                                          help_text="Deals left out: their currency has no rate.")
    left_out_statement = serializers.CharField(required=False)
    statement = serializers.CharField(required=False, help_text="Why there is nothing to show, when there is not.")
    query = QueryRefSerializer(required=False)
