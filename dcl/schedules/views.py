"""The schedule form on the connection page (the panel is registered in dcl/apps.py)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_POST

from autonomos.core.errors import InvalidInput
from autonomos.core.roles import Role, role_required

from .services import connection_schedule_delete, connection_schedule_set
from .spec import schedule_spec_from

UNITS = {"seconds": 1, "minutes": 60, "hours": 3600, "days": 86400}


def schedule_data_from_form(post) -> dict:
    """The form's fields as the API's body: `every` in `unit` becomes every_seconds."""
    kind = post.get("kind", "")
    data: dict = {"kind": kind, "enabled": post.get("enabled") == "on"}
    if kind == "interval":
        unit = post.get("unit", "seconds")
        if unit not in UNITS:
            raise InvalidInput("Choose seconds, minutes, hours or days.")
        every = (post.get("every") or "").strip()
        if not (every.isascii() and every.isdigit() and len(every) <= 12):
            raise InvalidInput(f"The interval must be a whole number of {unit}, not {every[:20]!r}."
                               if every else "Enter how often to run, a whole number.")
        data["every_seconds"] = int(every) * UNITS[unit]
    elif kind == "cron":
        data["cron"] = post.get("cron", "")
        data["timezone"] = (post.get("timezone") or "UTC").strip()
    return data


def _back(connection) -> HttpResponse:
    return redirect(reverse("connections_ui:detail", args=[connection.pk]) + "#schedule")


@role_required(Role.OPERATOR)
@login_required
@require_POST
def connection_schedule_action(request: HttpRequest, pk: int) -> HttpResponse:
    from connectors.models import Connection

    connection = Connection.objects.filter(pk=pk).first()
    if connection is None:
        raise Http404("No such connection")
    actor = request.user.get_username()
    if request.POST.get("action") == "delete" or request.POST.get("kind") == "none":
        if connection_schedule_delete(connection=connection, actor=actor):
            messages.success(request, f"{connection.name}: schedule removed; it syncs only when asked.")
        return _back(connection)
    try:
        spec = schedule_spec_from(schedule_data_from_form(request.POST))
    except InvalidInput as exc:
        messages.error(request, f"Schedule not saved: {exc.message}")
        return _back(connection)
    connection_schedule_set(connection=connection, spec=spec, actor=actor)
    paused = "" if spec.enabled else " (paused)"
    messages.success(request, f"{connection.name}: scheduled {spec.describe()}{paused}.")
    return _back(connection)


@role_required(Role.OPERATOR)
@login_required
@require_POST
def connection_run_retry_action(request: HttpRequest, pk: int, run_id: int) -> HttpResponse:
    """The retry button of a failed run on the connection page: queue it again, back to the runs."""
    from django.db import transaction

    from aam.sync_lock import SyncAlreadyRunning
    from connectors.models import Connection

    from ..models import ConnectionRun
    from .runs import RunNotRetryable, connection_run_retry

    connection = Connection.objects.filter(pk=pk).first()
    run = ConnectionRun.objects.filter(pk=run_id, connection_id=pk).first() if connection is not None else None
    if run is None:
        raise Http404("No such run")
    try:
        with transaction.atomic():
            connection_run_retry(connection=connection, run=run)
    except (RunNotRetryable, SyncAlreadyRunning) as exc:
        messages.error(request, f"Not retried: {exc.message}")
    else:
        messages.success(request, f"Run #{run.pk} queued again: its progress shows below.")
    return redirect(reverse("connections_ui:detail", args=[connection.pk]) + "#runs")
