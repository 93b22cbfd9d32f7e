"""AOA and agents endpoints: thin views over the services and selectors."""

from __future__ import annotations

from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, status
from rest_framework.exceptions import ErrorDetail
from rest_framework.response import Response

from autonomos.core.api import TenantAPIView, TenantGenericAPIView
from autonomos.core.roles import Role
from autonomos.core.tenancy import current_tenant

from .. import selectors
from ..discovery.client import DiscoveryError
from ..models import AgentRun, DiscoveryLog, Job
from ..routing import DOMAINS
from ..services import agents_job_start, connect_job_start, job_cancel
from ..services.discovery import discovery_run
from ..services.waterfall import WaterfallInputError, parse_period, waterfall_between
from . import serializers as s

MAX_PK = 2**63 - 1


class BadGateway(exceptions.APIException):
    status_code = status.HTTP_502_BAD_GATEWAY
    default_detail = "The discovery service failed."
    default_code = "bad_gateway"

    def __init__(self, message: str, *, log_id: int | None):
        super().__init__(message)
        self.detail = {"detail": ErrorDetail(message, code="bad_gateway"), "log_id": log_id}

    def get_codes(self):
        return "bad_gateway"


def _job_or_404(pk: int) -> Job:
    job = selectors.job_get(job_id=pk) if 0 < pk <= MAX_PK else None
    if job is None:
        raise Http404("No such job.")
    return job


def _agent_or_404(agent: str) -> str:
    if agent not in DOMAINS:
        raise Http404(f"No agent '{agent[:40]}'; agents are {', '.join(DOMAINS)}.")
    return agent


def _accepted(job: Job, request) -> Response:
    body = s.JobAcceptedSerializer({"job": selectors.job_get(job_id=job.pk), "job_id": job.pk}).data
    response = Response(body, status=status.HTTP_202_ACCEPTED)
    response["Location"] = f"/api/aoa/jobs/{job.pk}/"
    return response


class ConnectView(TenantAPIView):
    """Start a connect job: sync the connections → materialize → run the agents."""
    required_roles = {"POST": Role.OPERATOR}

    @extend_schema(request=s.ConnectInputSerializer, responses={202: s.JobAcceptedSerializer},
                   description="202 with the queued job; 409 with `error.details.job_id` when a connect job is "
                               "already queued or running for this tenant.")
    def post(self, request):
        data = s.ConnectInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        job = connect_job_start(connection_ids=data.validated_data.get("connection_ids"), user=request.user,
                                full=data.validated_data["full"])
        return _accepted(job, request)


class JobListView(TenantGenericAPIView):
    serializer_class = s.JobSerializer

    @extend_schema(parameters=[OpenApiParameter("status", str), OpenApiParameter("kind", str)],
                   responses=s.JobSerializer(many=True))
    def get(self, request):
        filters = s.JobFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        page = self.paginate_queryset(selectors.job_list(filters=filters.validated_data))
        return self.get_paginated_response(s.JobSerializer(page, many=True).data)


class JobDetailView(TenantAPIView):
    @extend_schema(responses=s.JobDetailSerializer)
    def get(self, request, pk: int):
        return Response(s.JobDetailSerializer(_job_or_404(pk)).data)


class JobCancelView(TenantAPIView):
    required_roles = {"POST": Role.OPERATOR}
    @extend_schema(request=None, responses={202: s.JobDetailSerializer},
                   description="A queued job is cancelled at once; a running one stops at its next step boundary. "
                               "409 when the job has already finished.")
    def post(self, request, pk: int):
        job = job_cancel(job=_job_or_404(pk), user=request.user)
        return Response(s.JobDetailSerializer(selectors.job_get(job_id=job.pk)).data, status=status.HTTP_202_ACCEPTED)


class StatusView(TenantAPIView):
    """The one state every page shows: connections' health and counts, review items waiting, jobs
    going. The dashboard fetches it again when a live event says something changed."""

    @extend_schema(responses=s.StatusSerializer)
    def get(self, request):
        return Response(s.StatusSerializer(selectors.dashboard_status()).data)


class StateView(TenantAPIView):
    @extend_schema(responses=s.StateSerializer)
    def get(self, request):
        return Response(s.StateSerializer(selectors.aoa_state()).data)


def _discovery_response(outcome) -> dict:
    counts = {"high": 0, "medium": 0, "low": 0}
    for asset in outcome.assets:
        counts[asset.risk] += 1
    return s.DiscoveryResultSerializer({
        "log_id": outcome.log.pk, "backend": outcome.log.backend, "summary": outcome.summary,
        "intents": outcome.intents, "counts": counts, "review_items_created": outcome.log.review_items_created,
        "handed_to_agents": outcome.log.handed_to_agents,
        "agents_job_id": outcome.agents_job.pk if outcome.agents_job else None,
        "assets": [a.model_dump(mode="json") for a in outcome.assets],
    }).data


def _run_discovery(request, **kwargs):
    try:
        return discovery_run(user=request.user, **kwargs)
    except DiscoveryError as exc:
        raise BadGateway(str(exc), log_id=exc.log_id) from None


class DiscoverView(TenantGenericAPIView):
    """Natural-language discovery (POST) and the log of past requests (GET)."""
    required_roles = {"POST": Role.OPERATOR}

    serializer_class = s.DiscoveryLogSerializer

    @extend_schema(responses=s.DiscoveryLogSerializer(many=True))
    def get(self, request):
        page = self.paginate_queryset(DiscoveryLog.objects.select_related("requested_by").order_by("-id"))
        return self.get_paginated_response(s.DiscoveryLogSerializer(page, many=True).data)

    @extend_schema(request=s.DiscoverInputSerializer, responses=s.DiscoveryResultSerializer,
                   description="Sent to the discovery service at AOD_BASE_URL, or answered by the built-in scan of "
                               "the tenant's connections when none is configured. 502 when the service fails.")
    def post(self, request):
        data = s.DiscoverInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        outcome = _run_discovery(request, query=data.validated_data["query"], kind="discover",
                                 run_agents=data.validated_data["run_agents"],
                                 max_assets=data.validated_data["max_assets"])
        return Response(_discovery_response(outcome))


class DemoScanView(TenantAPIView):
    required_roles = {"POST": Role.OPERATOR}
    @extend_schema(request=s.ScanInputSerializer, responses=s.DiscoveryResultSerializer,
                   description="Scan and classify assets by risk; high and medium risk assets become `asset` review "
                               "items (one pending item per asset).")
    def post(self, request):
        data = s.ScanInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        outcome = _run_discovery(request, query="", kind="scan", max_assets=data.validated_data["max_assets"])
        return Response(_discovery_response(outcome))


class AgentsView(TenantAPIView):
    @extend_schema(responses=s.AgentOverviewSerializer(many=True))
    def get(self, request):
        return Response(s.AgentOverviewSerializer(selectors.agents_overview(), many=True).data)


class AgentsRunView(TenantAPIView):
    required_roles = {"POST": Role.OPERATOR}
    @extend_schema(request=s.AgentsRunInputSerializer, responses={202: s.JobAcceptedSerializer},
                   description="Queue the pilots over the current unified views (no sync). 429 when the tenant "
                               "has too many jobs waiting.")
    def post(self, request):
        data = s.AgentsRunInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return _accepted(agents_job_start(agents=data.validated_data.get("agents"), user=request.user), request)


class AgentResultsView(TenantGenericAPIView):
    """The latest successful result of one pilot, its last run (any status) and its run history."""

    serializer_class = s.AgentRunSummarySerializer

    @extend_schema(
        responses=s.AgentResultsSerializer,
        operation_id="agents_results",
        parameters=[
            OpenApiParameter("page", int, description="Page of the run history (1 = newest runs)."),
            OpenApiParameter("page_size", int, description="Runs per page of the history."),
        ],
    )
    def get(self, request, agent: str):
        agent = _agent_or_404(agent)
        runs = selectors.agent_run_list(agent=agent)
        page = self.paginate_queryset(runs)
        paginated = self.get_paginated_response(s.AgentRunSummarySerializer(page, many=True).data).data
        latest = selectors.agent_run_latest(agent=agent)
        last = runs.first()
        return Response({
            "agent": agent,
            "latest": s.AgentRunSerializer(latest).data if latest else None,
            "last_run": s.AgentRunSummarySerializer(last).data if last else None,
            "history": paginated["results"],
            "count": paginated["count"],
            "next": paginated["next"],
            "previous": paginated["previous"],
        })


class AgentRunDetailView(TenantAPIView):
    @extend_schema(responses=s.AgentRunSerializer, operation_id="agents_run_detail")
    def get(self, request, agent: str, pk: int):
        agent = _agent_or_404(agent)
        run = AgentRun.objects.filter(agent=agent, pk=pk).first() if 0 < pk <= MAX_PK else None
        if run is None:
            raise Http404("No such run.")
        return Response(s.AgentRunSerializer(run).data)


class AgentRunFindingsCSVView(TenantAPIView):
    """A run's findings as CSV: one line per finding with its amount, action, record ids and query."""

    @extend_schema(responses={(200, "text/csv"): OpenApiTypes.STR}, operation_id="agents_run_findings_csv")
    def get(self, request, agent: str, pk: int):
        from django.http import HttpResponse

        from ..services.export import findings_csv

        agent = _agent_or_404(agent)
        run = AgentRun.objects.filter(agent=agent, pk=pk).first() if 0 < pk <= MAX_PK else None
        if run is None:
            raise Http404("No such run.")
        response = HttpResponse(findings_csv(run), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{run.agent}-run-{run.pk}-findings.csv"'
        return response


WATERFALL_PARAMETERS = [
    OpenApiParameter("period_start", OpenApiTypes.DATE, description="First close date of the period (default: the "
                     "first day of this quarter)."),
    OpenApiParameter("period_end", OpenApiTypes.DATE, description="Last close date of the period (default: the last "
                     "day of this quarter); at most three years after `period_start`."),
    OpenApiParameter("from", OpenApiTypes.DATE, description="The day of the opening pipeline (default: 28 days ago)."),
    OpenApiParameter("to", OpenApiTypes.DATE, description="The day of the closing pipeline (default: today); not "
                     "before `from`, at most three years after it."),
]


class RevOpsWaterfallView(TenantAPIView):
    """The pipeline waterfall between two days for a close-date period, computed on demand (ADR 0029)."""

    @extend_schema(
        parameters=WATERFALL_PARAMETERS, responses=s.WaterfallSerializer, operation_id="agents_revops_waterfall",
        description="Opening pipeline, created, pulled in, pushed out, increased, decreased, won, lost, closing "
                    "pipeline, each bar with its deals' ids and the SQL that gives its figures again. 400 naming "
                    "the field when a date is not ISO 8601, the period ends before it starts, `to` is before "
                    "`from` or a span is longer than three years. No bars and a `statement` when the tenant has "
                    "no published opportunity view or no history yet.")
    def get(self, request):
        try:
            period = parse_period(request.query_params)
        except WaterfallInputError as exc:
            raise exceptions.ValidationError(exc.errors) from None
        return Response(s.WaterfallSerializer(waterfall_between(period)).data)


class TelemetryView(TenantAPIView):
    """Per-tenant LLM calls and tokens, stream and job counters, and the views."""

    @extend_schema(responses=s.TelemetrySerializer)
    def get(self, request):
        views, _ = selectors.views_catalog()
        return Response(s.TelemetrySerializer({"tenant": current_tenant().slug, "llm": selectors.llm_usage(),
                                               "pipeline": selectors.pipeline_counters(), "views": views}).data)
