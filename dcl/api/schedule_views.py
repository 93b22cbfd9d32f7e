"""/api/connections/<id>/schedule/ (GET, PUT, DELETE), /freshness/ and /runs/ (GET), one run
(/runs/<run_id>/, GET) and its retry (/runs/<run_id>/retry/, POST).

The URLs sit under the connection (like /sync/, which lives in aam) but the schedule is the DCL's:
its periodic task starts the pipeline run the DCL owns (dcl/schedules/)."""

from __future__ import annotations

from django.db import transaction
from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.generics import get_object_or_404
from rest_framework.response import Response

from autonomos.core.api import TenantAPIView
from autonomos.core.errors import InvalidInput
from autonomos.core.roles import Role

from ..models import ConnectionRun
from ..schedules.runs import connection_run_retry
from ..schedules.selectors import (
    connection_freshness,
    connection_run_get,
    connection_runs,
    connection_schedule,
    run_as_dict,
)
from ..schedules.services import connection_schedule_delete, connection_schedule_set
from ..schedules.spec import schedule_spec_from


def _connection(pk: int):
    from connectors.models import Connection

    return get_object_or_404(Connection.objects.all(), pk=pk)


class ScheduleInputSerializer(serializers.Serializer):
    """For the API schema; the body is parsed by dcl.schedules.spec (its messages say what is wrong)."""

    kind = serializers.ChoiceField(choices=["interval", "cron"])
    every_seconds = serializers.IntegerField(required=False, min_value=1,
                                             help_text="interval: seconds between runs (at least "
                                                       "SCHEDULE_MIN_INTERVAL_SECONDS, 1 by default)")
    cron = serializers.CharField(required=False, help_text="cron: five fields 'minute hour day-of-month month "
                                                           "day-of-week' (six-field crons are refused), or "
                                                           "@hourly, @daily, @weekly, @monthly, @yearly")
    timezone = serializers.CharField(required=False, default="UTC", help_text="cron: an IANA time zone")
    enabled = serializers.BooleanField(required=False, default=True, help_text="false keeps it, paused")


class ScheduleSerializer(serializers.Serializer):
    kind = serializers.CharField()
    every_seconds = serializers.IntegerField(allow_null=True)
    cron = serializers.CharField(allow_null=True)
    timezone = serializers.CharField()
    enabled = serializers.BooleanField()
    description = serializers.CharField()
    next_run_at = serializers.DateTimeField(allow_null=True)
    last_tick_at = serializers.DateTimeField(allow_null=True)


class ConnectionScheduleSerializer(serializers.Serializer):
    connection_id = serializers.IntegerField()
    schedule = ScheduleSerializer(allow_null=True)


class ObjectCountsSerializer(serializers.Serializer):
    object = serializers.CharField()
    entity = serializers.CharField(allow_null=True, required=False)
    read = serializers.IntegerField(allow_null=True)
    published = serializers.IntegerField(allow_null=True)
    quarantined = serializers.IntegerField(allow_null=True)
    inserted = serializers.IntegerField(allow_null=True, help_text="records new to the DCL (or back after a delete); "
                                        "null: the run did not get to count them (failed, skipped)")
    updated = serializers.IntegerField(allow_null=True, help_text="records that replaced a live one; null: not counted")
    deleted = serializers.IntegerField(allow_null=True, help_text="live records deleted; null: not counted")


class RunSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    trigger = serializers.CharField()
    status = serializers.ChoiceField(choices=["running", "succeeded", "failed", "skipped"])
    attempt = serializers.IntegerField()
    started_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    seconds = serializers.FloatField(allow_null=True)
    error = serializers.CharField(allow_blank=True)
    retry_at = serializers.DateTimeField(allow_null=True)
    skipped_count = serializers.IntegerField()
    records_read = serializers.IntegerField()
    quarantined = serializers.IntegerField()
    inserted = serializers.IntegerField(allow_null=True, help_text="over every object; null: not counted")
    updated = serializers.IntegerField(allow_null=True, help_text="over every object; null: not counted")
    deleted = serializers.IntegerField(allow_null=True, help_text="over every object; null: not counted")
    objects = ObjectCountsSerializer(many=True)
    full = serializers.BooleanField(help_text="the run read everything again, ignoring the cursors")
    retry_of = serializers.IntegerField(allow_null=True, help_text="the run this one retried")
    log = serializers.ListField(child=serializers.CharField(), help_text="a line per pipeline step, in words")


class RetryAcceptedSerializer(serializers.Serializer):
    connection_id = serializers.IntegerField()
    retry_of = serializers.IntegerField()
    task_id = serializers.CharField()
    status = serializers.CharField()


class StreamLagSerializer(serializers.Serializer):
    lag = serializers.IntegerField(allow_null=True, help_text="batches not delivered to the consumer yet")
    pending = serializers.IntegerField(allow_null=True, help_text="batches delivered, not acknowledged")
    unapplied = serializers.IntegerField(allow_null=True, help_text="lag + pending")
    oldest_pending_at = serializers.DateTimeField(allow_null=True)
    error = serializers.CharField(allow_blank=True)


class FreshnessSerializer(serializers.Serializer):
    connection_id = serializers.IntegerField()
    last_good_sync_at = serializers.DateTimeField(allow_null=True)
    seconds_since_good_sync = serializers.FloatField(allow_null=True)
    stream = StreamLagSerializer()
    schedule = ScheduleSerializer(allow_null=True)
    last_run = RunSerializer(allow_null=True)
    runs = RunSerializer(many=True)


class RunListSerializer(serializers.Serializer):
    results = RunSerializer(many=True)


def _actor(request) -> str:
    return getattr(request.user, "username", "") or ""


class ConnectionScheduleAPI(TenantAPIView):
    """A connection's schedule: every N seconds or a five-field cron in a time zone. Beat starts a
    pipeline run at each tick; a tick that finds a run going is skipped (see /runs/)."""

    required_roles = {"PUT": Role.OPERATOR, "DELETE": Role.OPERATOR}

    @extend_schema(responses=ConnectionScheduleSerializer)
    def get(self, request, pk: int):
        connection = _connection(pk)
        body = {"connection_id": connection.pk, "schedule": connection_schedule(connection=connection)}
        return Response(ConnectionScheduleSerializer(body).data)

    @extend_schema(request=ScheduleInputSerializer,
                   responses={200: ConnectionScheduleSerializer,
                              400: OpenApiResponse(description="a six-field cron, nonsense, an interval below "
                                                               "the floor: the message says which")})
    def put(self, request, pk: int):
        connection = _connection(pk)
        spec = schedule_spec_from(request.data)
        with transaction.atomic():
            connection_schedule_set(connection=connection, spec=spec, actor=_actor(request))
        body = {"connection_id": connection.pk, "schedule": connection_schedule(connection=connection)}
        return Response(ConnectionScheduleSerializer(body).data)

    @extend_schema(responses={204: None})
    def delete(self, request, pk: int):
        connection = _connection(pk)
        connection_schedule_delete(connection=connection, actor=_actor(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class ConnectionFreshnessAPI(TenantAPIView):
    """How fresh a connection is: time since its last good sync, its stream's lag, its schedule and
    next run, and its latest runs with their counts per object."""

    @extend_schema(responses=FreshnessSerializer)
    def get(self, request, pk: int):
        connection = _connection(pk)
        body = connection_freshness(connection=connection)
        body["runs"] = [run_as_dict(r) for r in connection_runs(connection=connection)]
        return Response(FreshnessSerializer(body).data)


class ConnectionRunsAPI(TenantAPIView):
    """A connection's recorded runs, newest first (`?limit=`, 1-100, default 20)."""

    @extend_schema(operation_id="connections_runs_list",
                   parameters=[OpenApiParameter("limit", int, description="1-100 (default 20)")],
                   responses=RunListSerializer)
    def get(self, request, pk: int):
        connection = _connection(pk)
        raw = request.query_params.get("limit", "20")
        if not (raw.isascii() and raw.isdigit() and len(raw) <= 3) or not 1 <= int(raw) <= 100:
            raise InvalidInput("limit must be a whole number from 1 to 100.", details={"limit": raw[:20]})
        runs = connection_runs(connection=connection, limit=int(raw))
        return Response(RunListSerializer({"results": [run_as_dict(r) for r in runs]}).data)


def _run(connection, run_id: int) -> ConnectionRun:
    try:
        return connection_run_get(connection=connection, run_id=run_id)
    except ConnectionRun.DoesNotExist:
        raise Http404("No such run of this connection.") from None


class ConnectionRunAPI(TenantAPIView):
    """One recorded run of a connection: counts per object, error and its log."""

    @extend_schema(responses=RunSerializer)
    def get(self, request, pk: int, run_id: int):
        run = _run(_connection(pk), run_id)
        return Response(RunSerializer(run_as_dict(run)).data)


class ConnectionRunRetryAPI(TenantAPIView):
    """Run a failed run again (same full or incremental read), recorded with trigger `retry`.
    202 with the task; 409 when the run did not fail or a sync of the connection is running."""

    required_roles = {"POST": Role.OPERATOR}

    @extend_schema(request=None, responses={202: RetryAcceptedSerializer,
                                            409: OpenApiResponse(description="not a failed run, or already syncing")})
    def post(self, request, pk: int, run_id: int):
        connection = _connection(pk)
        run = _run(connection, run_id)
        with transaction.atomic():
            task_id = connection_run_retry(connection=connection, run=run)
        body = {"connection_id": connection.pk, "retry_of": run.pk, "task_id": task_id, "status": "queued"}
        return Response(RetryAcceptedSerializer(body).data, status=status.HTTP_202_ACCEPTED)
