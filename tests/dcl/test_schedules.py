"""Per-connection schedules (dcl/schedules/): the API and its validation, roles, tenancy, the page's
form, and the schedule going with its connection and its tenant."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from django_celery_beat.models import PeriodicTask
from django_tenants.utils import schema_context

from autonomos.core.roles import Role
from connectors.models import Connection
from dcl.schedules.services import SCHEDULED_RUN_TASK, periodic_task_name
from tests.conftest import host_of
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def conn_a(tenant_a):
    with schema_context(tenant_a.schema_name):
        return Connection.objects.create(name="Sched SF", kind="salesforce")


def url(conn) -> str:
    return f"/api/connections/{conn.pk}/schedule/"


def put(api, conn, body):
    return api.put(url(conn), body, format="json")


def task_of(tenant, conn):
    return PeriodicTask.objects.filter(name=periodic_task_name(tenant, conn.pk)).first()


# --- good schedules ------------------------------------------------------------------------------


def test_an_interval_schedule_is_stored_as_a_periodic_task_carrying_the_tenant(api_a, tenant_a, conn_a):
    before = timezone.now()
    response = put(api_a, conn_a, {"kind": "interval", "every_seconds": 300})
    assert response.status_code == 200, response.content
    schedule = response.json()["schedule"]
    assert schedule["kind"] == "interval" and schedule["every_seconds"] == 300 and schedule["cron"] is None
    assert schedule["enabled"] is True and schedule["description"] == "every 5 minutes"
    next_run = timezone.datetime.fromisoformat(schedule["next_run_at"])
    assert before + timedelta(seconds=290) <= next_run <= timezone.now() + timedelta(seconds=301)
    task = task_of(tenant_a, conn_a)
    assert task.task == SCHEDULED_RUN_TASK and json.loads(task.args) == [conn_a.pk]
    assert json.loads(task.headers) == {"_schema_name": tenant_a.schema_name, "_tenant_id": str(tenant_a.tenant_id)}
    assert task.interval.every == 300 and task.interval.period == "seconds" and task.crontab is None
    assert task.name.startswith(f"tenant:{tenant_a.tenant_id}:")
    assert api_a.get(url(conn_a)).json()["schedule"]["every_seconds"] == 300


def test_a_cron_schedule_in_a_time_zone_replaces_the_interval(api_a, tenant_a, conn_a):
    assert put(api_a, conn_a, {"kind": "interval", "every_seconds": 60}).status_code == 200
    response = put(api_a, conn_a, {"kind": "cron", "cron": " */15  6-18 * * mon-fri ", "timezone": "Europe/Paris"})
    assert response.status_code == 200, response.content
    schedule = response.json()["schedule"]
    assert schedule["kind"] == "cron" and schedule["cron"] == "*/15 6-18 * * mon-fri"
    assert schedule["timezone"] == "Europe/Paris" and schedule["every_seconds"] is None
    assert schedule["next_run_at"] is not None
    assert PeriodicTask.objects.filter(name=periodic_task_name(tenant_a, conn_a.pk)).count() == 1
    task = task_of(tenant_a, conn_a)
    assert task.interval is None and task.crontab.minute == "*/15" and task.crontab.day_of_week == "mon-fri"
    assert str(task.crontab.timezone) == "Europe/Paris"


def test_a_shorthand_and_a_paused_schedule(api_a, tenant_a, conn_a):
    response = put(api_a, conn_a, {"kind": "cron", "cron": "@hourly", "enabled": False})
    assert response.status_code == 200
    schedule = response.json()["schedule"]
    assert schedule["cron"] == "0 * * * *" and schedule["enabled"] is False and schedule["next_run_at"] is None
    assert task_of(tenant_a, conn_a).enabled is False


def test_delete_removes_the_schedule(api_a, tenant_a, conn_a):
    put(api_a, conn_a, {"kind": "interval", "every_seconds": 60})
    assert api_a.delete(url(conn_a)).status_code == 204
    assert task_of(tenant_a, conn_a) is None
    assert api_a.get(url(conn_a)).json() == {"connection_id": conn_a.pk, "schedule": None}
    assert api_a.delete(url(conn_a)).status_code == 204  # nothing left to remove: still done


# --- refused schedules ---------------------------------------------------------------------------


@pytest.mark.parametrize(("body", "says"), [
    ({"kind": "cron", "cron": "* * * * * *"}, "six fields"),
    ({"kind": "cron", "cron": "0 0 * * * 2026"}, "six fields"),
    ({"kind": "cron", "cron": "every tuesday"}, "has 2 fields"),
    ({"kind": "cron", "cron": "61 * * * *"}, "minute (0-59) field '61'"),
    ({"kind": "cron", "cron": "* 25 * * *"}, "hour (0-23) field '25'"),
    ({"kind": "cron", "cron": "a b c d e"}, "minute (0-59) field 'a'"),
    ({"kind": "cron", "cron": "*/0 * * * *"}, "minute (0-59) field '*/0'"),
    ({"kind": "cron", "cron": "0 0 31 2 *"}, "never comes"),
    ({"kind": "cron", "cron": "@fortnightly"}, "Unknown cron shorthand"),
    ({"kind": "cron", "cron": ""}, "needs cron"),
    ({"kind": "cron", "cron": "0 * * * *", "timezone": "Mars/Olympus"}, "Unknown time zone"),
    ({"kind": "cron", "cron": "0 * * * *", "every_seconds": 5}, "not every_seconds"),
    ({"kind": "weekly"}, "kind must be"),
    ({"kind": "interval"}, "needs every_seconds"),
    ({"kind": "interval", "every_seconds": 0}, "at least 1"),
    ({"kind": "interval", "every_seconds": -5}, "at least 1"),
    ({"kind": "interval", "every_seconds": 0.5}, "whole number"),
    ({"kind": "interval", "every_seconds": "soon"}, "whole number"),
    ({"kind": "interval", "every_seconds": True}, "needs every_seconds"),
    ({"kind": "interval", "every_seconds": 10 ** 12}, "at most"),
    ({"kind": "interval", "every_seconds": "9" * 5000}, "at most"),
    ({"kind": "interval", "every_seconds": "²"}, "whole number"),
    ({"kind": "cron", "cron": 5}, "needs cron"),
    ({"kind": "cron", "cron": "0 * * * *", "timezone": ["UTC"]}, "IANA time zone"),
    ({"kind": "interval", "every_seconds": 60, "enabled": "yes"}, "enabled must be"),
    ({"kind": "interval", "every_seconds": 60, "when": "now"}, "Unknown schedule field"),
    (["interval", 60], "JSON object"),
], ids=lambda v: str(v)[:40])
def test_a_bad_schedule_is_refused_with_a_clear_message_and_nothing_is_stored(api_a, tenant_a, conn_a, body, says):
    response = put(api_a, conn_a, body)
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "invalid" and says in error["message"], error
    assert task_of(tenant_a, conn_a) is None


def test_six_fields_name_the_way_to_run_more_often_than_a_minute(api_a, conn_a):
    message = put(api_a, conn_a, {"kind": "cron", "cron": "* * * * * *"}).json()["error"]["message"]
    assert "five" in message and "every_seconds" in message


def test_a_bad_schedule_leaves_the_good_one_in_place(api_a, tenant_a, conn_a):
    put(api_a, conn_a, {"kind": "interval", "every_seconds": 120})
    assert put(api_a, conn_a, {"kind": "cron", "cron": "* * * * * *"}).status_code == 400
    assert task_of(tenant_a, conn_a).interval.every == 120


def test_the_interval_floor_is_a_setting(api_a, conn_a, settings):
    settings.SCHEDULE_MIN_INTERVAL_SECONDS = 10
    refused = put(api_a, conn_a, {"kind": "interval", "every_seconds": 9})
    assert refused.status_code == 400 and "at least 10" in refused.json()["error"]["message"]
    assert put(api_a, conn_a, {"kind": "interval", "every_seconds": 10}).status_code == 200


def test_a_one_second_interval_is_allowed_by_default(api_a, conn_a):
    response = put(api_a, conn_a, {"kind": "interval", "every_seconds": 1})
    assert response.status_code == 200 and response.json()["schedule"]["description"] == "every 1 second"


def test_a_bad_limit_on_the_runs_is_a_400(api_a, conn_a):
    for limit in ("0", "101", "²", "x", "9" * 50):
        response = api_a.get(f"/api/connections/{conn_a.pk}/runs/?limit={limit}")
        assert response.status_code == 400 and "limit" in response.json()["error"]["message"], limit


def test_an_unknown_connection_is_a_404(api_a):
    assert api_a.put("/api/connections/987654/schedule/", {"kind": "interval", "every_seconds": 60},
                     format="json").status_code == 404
    assert api_a.get("/api/connections/987654/freshness/").status_code == 404


# --- roles and tenants ---------------------------------------------------------------------------


def _client_of(tenant, role):
    from rest_framework.test import APIClient

    from tenants.auth import issue_tokens

    with schema_context(tenant.schema_name):
        user = UserFactory(username=f"{role.value}-sched", role=role, unusable_password=True)
        token = issue_tokens(user, tenant).access_token
    client = APIClient(HTTP_HOST=host_of(tenant))
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def test_a_viewer_reads_the_schedule_and_an_operator_changes_it(tenant_a, conn_a):
    viewer, operator = _client_of(tenant_a, Role.VIEWER), _client_of(tenant_a, Role.OPERATOR)
    assert viewer.get(url(conn_a)).status_code == 200
    assert viewer.get(f"/api/connections/{conn_a.pk}/freshness/").status_code == 200
    assert put(viewer, conn_a, {"kind": "interval", "every_seconds": 60}).status_code == 403
    assert viewer.delete(url(conn_a)).status_code == 403
    assert task_of(tenant_a, conn_a) is None
    assert put(operator, conn_a, {"kind": "interval", "every_seconds": 60}).status_code == 200
    assert operator.delete(url(conn_a)).status_code == 204


def test_another_tenant_neither_sees_nor_sets_the_schedule(api_a, api_b, tenant_a, tenant_b, conn_a):
    put(api_a, conn_a, {"kind": "interval", "every_seconds": 60})
    with schema_context(tenant_b.schema_name):
        assert not Connection.objects.filter(pk=conn_a.pk).exists()
    assert api_b.get(url(conn_a)).status_code == 404
    assert put(api_b, conn_a, {"kind": "interval", "every_seconds": 5}).status_code == 404
    assert api_b.delete(url(conn_a)).status_code == 404
    assert task_of(tenant_a, conn_a).interval.every == 60
    assert task_of(tenant_b, conn_a) is None


# --- the schedule goes with its connection and its tenant ---------------------------------------


def test_deleting_the_connection_removes_its_schedule(api_a, tenant_a, conn_a):
    from connectors.services import connection_delete

    put(api_a, conn_a, {"kind": "interval", "every_seconds": 60})
    with schema_context(tenant_a.schema_name):
        other = Connection.objects.create(name="Kept", kind="salesforce")
    put(api_a, other, {"kind": "interval", "every_seconds": 90})
    connection.set_tenant(tenant_a)
    connection_delete(connection=Connection.objects.get(pk=conn_a.pk))
    connection.set_schema_to_public()
    assert task_of(tenant_a, conn_a) is None
    assert task_of(tenant_a, other).interval.every == 90


def test_a_deleted_tenant_leaves_no_periodic_task(tenant_a, tenant_b):
    """Offboarding's leftovers remove every periodic task named for the tenant, and no other's."""
    import uuid

    from django_celery_beat.models import IntervalSchedule

    from tenants.offboarding import periodic_task_prefix
    from tenants.offboarding.leftovers import leftovers_remove

    gone = uuid.uuid4()
    every, _ = IntervalSchedule.objects.get_or_create(every=60, period="seconds")
    PeriodicTask.objects.create(name=f"{periodic_task_prefix(gone)}connection:1:sync", task=SCHEDULED_RUN_TASK,
                                interval=every)
    PeriodicTask.objects.create(name=f"{periodic_task_prefix(tenant_b.tenant_id)}connection:1:sync",
                                task=SCHEDULED_RUN_TASK, interval=every)
    removed = leftovers_remove(tenant_id=gone, schema_name=None)
    assert removed.periodic_tasks == 1 and not removed.errors
    assert not PeriodicTask.objects.filter(name__startswith=periodic_task_prefix(gone)).exists()
    assert PeriodicTask.objects.filter(name__startswith=periodic_task_prefix(tenant_b.tenant_id)).count() == 1


def test_the_beat_scheduler_is_the_database_one(settings):
    assert settings.CELERY_BEAT_SCHEDULER == "django_celery_beat.schedulers:DatabaseScheduler"
    from pathlib import Path

    run_sh = (Path(settings.BASE_DIR) / "scripts" / "run.sh").read_text()
    beat = next(line for line in run_sh.splitlines() if " beat " in line and "celery" in line)
    assert "--scheduler django_celery_beat.schedulers:DatabaseScheduler" in beat


# --- the connection page ---------------------------------------------------------------------------


def test_the_connection_page_shows_and_saves_the_schedule(web_a, tenant_a, conn_a):
    page = web_a.get(f"/connections/{conn_a.pk}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="schedule"' in html and "not scheduled" in html and "No run yet" in html
    saved = web_a.post(f"/dcl/connections/{conn_a.pk}/schedule/",
                       {"kind": "interval", "every": "5", "unit": "minutes", "enabled": "on"}, follow=True)
    assert saved.status_code == 200
    html = saved.content.decode()
    assert "scheduled every 5 minutes" in html and "data-next-run" in html
    connection.set_schema_to_public()
    assert task_of(tenant_a, conn_a).interval.every == 300


def test_the_page_refuses_a_six_field_cron_with_the_reason(web_a, tenant_a, conn_a):
    response = web_a.post(f"/dcl/connections/{conn_a.pk}/schedule/",
                          {"kind": "cron", "cron": "* * * * * *", "timezone": "UTC", "enabled": "on"}, follow=True)
    assert response.status_code == 200
    assert "Schedule not saved" in response.content.decode() and "six fields" in response.content.decode()
    connection.set_schema_to_public()
    assert task_of(tenant_a, conn_a) is None


def test_the_page_removes_the_schedule(web_a, tenant_a, conn_a, api_a):
    put(api_a, conn_a, {"kind": "interval", "every_seconds": 60})
    response = web_a.post(f"/dcl/connections/{conn_a.pk}/schedule/", {"action": "delete"}, follow=True)
    assert "schedule removed" in response.content.decode()
    connection.set_schema_to_public()
    assert task_of(tenant_a, conn_a) is None


def test_a_viewer_sees_the_schedule_but_no_form(tenant_a, conn_a):
    from django.test import Client

    with schema_context(tenant_a.schema_name):
        viewer = UserFactory(username="viewer-page", role=Role.VIEWER, unusable_password=True)
    client = Client(HTTP_HOST=host_of(tenant_a))
    with schema_context(tenant_a.schema_name):
        client.force_login(viewer)
    html = client.get(f"/connections/{conn_a.pk}/").content.decode()
    assert 'id="schedule"' in html and 'id="schedule-form"' not in html
    assert client.post(f"/dcl/connections/{conn_a.pk}/schedule/", {"kind": "interval", "every": "1"}).status_code == 403
