"""Pages show the tenant's own data and never another tenant's; secrets never reach a page."""

from __future__ import annotations

import pytest
from django.db import connection

from autonomos.core.events import publish_event
from autonomos.core.redis import get_redis
from autonomos.core.redis_names import tenant_key

pytestmark = pytest.mark.django_db


def _connection(tenant, **fields):
    from connectors.models import Connection

    connection.set_tenant(tenant)
    try:
        values = {"name": "CRM export", "kind": "filesource", "config": {"path": "/srv/exports/crm"}} | fields
        return Connection.objects.create(**values)
    finally:
        connection.set_schema_to_public()


@pytest.mark.parametrize("suffix", ["", "edit/", "schema/"])
def test_another_tenants_connection_pages_are_404(web_a, tenant_b, suffix):
    other = _connection(tenant_b, name="Beta only")
    assert web_a.get(f"/connections/{other.pk}/{suffix}").status_code == 404


@pytest.mark.parametrize("action", ["test", "delete"])
def test_another_tenants_connection_actions_are_404(web_a, tenant_b, action):
    other = _connection(tenant_b, name="Beta only")
    assert web_a.post(f"/connections/{other.pk}/{action}/").status_code == 404


@pytest.mark.parametrize("action", ["replay", "reset"])
def test_another_tenants_stream_actions_are_404(web_a, tenant_b, action):
    other = _connection(tenant_b, name="Beta only")
    assert web_a.post(f"/dcl/operations/{other.pk}/{action}/", {"confirm": "Beta only"}).status_code == 404


def test_connection_list_shows_only_the_tenants_own_connections(web_a, tenant_a, tenant_b):
    _connection(tenant_a, name="Alpha CRM")
    _connection(tenant_b, name="Beta CRM")
    body = web_a.get("/connections/").content.decode()
    assert "Alpha CRM" in body
    assert "Beta CRM" not in body
    assert "No connections yet" not in body


def test_connection_detail_masks_secrets(web_a, tenant_a):
    c = _connection(tenant_a, kind="hubspot", config={"objects": ["companies", "deals"]},
                    secrets={"access_token": "pat-na1-SECRET-VALUE"})
    body = web_a.get(f"/connections/{c.pk}/").content.decode()
    assert "pat-na1-SECRET-VALUE" not in body
    assert "•••••••• set" in body
    assert "companies, deals" in body


def test_edit_form_never_fills_a_secret_back_in(web_a, tenant_a):
    c = _connection(tenant_a, kind="hubspot", secrets={"access_token": "pat-na1-SECRET-VALUE"})
    body = web_a.get(f"/connections/{c.pk}/edit/").content.decode()
    assert "pat-na1-SECRET-VALUE" not in body
    assert 'type="password"' in body
    assert "stored — leave blank to keep" in body


def test_new_connection_form_asks_for_secrets_in_password_inputs(web_a):
    body = web_a.get("/connections/new/salesforce/").content.decode()
    assert 'name="client_secret"' in body
    assert 'type="password" name="client_secret"' in body
    assert "write-only" in body


def test_home_shows_connection_health(web_a, tenant_a):
    _connection(tenant_a, name="Broken CRM", status="error", last_error="401 bad credentials")
    body = web_a.get("/").content.decode()
    assert "Broken CRM" in body
    assert "1 failed" in body  # the connection's health (connectors/health.py): its last check failed
    # a connection exists: the get-started list marks that step done and moves on (agents/getstarted.py)
    assert '<li data-step="connect" class="done"' in body and '<li data-step="mapping" class="next"' in body


def test_operations_page_reads_stream_length_lag_and_last_batch(web_a, tenant_a):
    c = _connection(tenant_a, name="Costs")
    r = get_redis()
    key = tenant_key(tenant_a, "aam", "dcl", c.pk)
    r.xgroup_create(key, f"dcl_engine:{tenant_a.tenant_id}", id="0", mkstream=True)
    for i in range(3):
        r.xadd(key, {"batch_id": f"batch-{i}", "entity": "cost", "count": "200", "payload": "[]"})
    r.xreadgroup(f"dcl_engine:{tenant_a.tenant_id}", "test-consumer", {key: ">"}, count=1)
    body = web_a.get("/dcl/operations/").content.decode()
    row = body[body.index(f'data-ops-row="{c.pk}"'):]
    row = row[: row.index("</tr>")]
    assert '<td class="num">3</td>' in row  # stream length
    assert ">2</span>" in row  # lag: two batches not yet delivered
    assert '<td class="num">1</td>' in row  # pending: delivered, not acknowledged
    assert "batch-2" in row and "cost" in row


def test_operations_partial_refresh_returns_only_the_table(web_a, tenant_a):
    _connection(tenant_a, name="Costs")
    body = web_a.get("/dcl/operations/?partial=1").content.decode()
    assert "ops-table" in body
    assert "<html" not in body


def test_flow_page_starts_from_the_tenants_retained_events(web_a, tenant_a, tenant_b):
    publish_event(tenant_a, "sync_started", {"connection_id": 1, "connection_name": "Alpha feed"})
    publish_event(tenant_b, "sync_started", {"connection_id": 1, "connection_name": "Beta feed"})
    latest = publish_event(tenant_a, "batch_published", {"connection_id": 1, "count": 5})
    body = web_a.get("/flow/").content.decode()
    assert "Alpha feed" in body
    assert "Beta feed" not in body
    assert f'data-last-event-id="{latest["id"]}"' in body


def test_review_decision_on_an_unknown_item_is_404(web_a):
    assert web_a.post("/aam/review/999999/decide/", {"decision": "approved"}).status_code == 404
    assert web_a.get("/aam/review/999999/").status_code == 404


def test_view_record_of_an_unknown_view_is_404(web_a):
    assert web_a.get("/dcl/views/not_an_entity/abc/").status_code == 404


def test_operations_lists_dead_lettered_batches_with_their_reason(web_a, tenant_a):
    from autonomos.core import redis_names

    r = get_redis()
    r.xadd(redis_names.dead_letters(tenant_a), {"batch_id": "b-42", "entity": "cost", "dlq_reason": "bad payload"})
    html = web_a.get("/dcl/operations/").content.decode()
    box = html[html.index('id="dead-letters"'):]
    assert "bad payload" in box and "b-42" in box and "dcl_dead_letters --tenant alpha --replay" in box


def test_home_shows_the_tenants_llm_calls_and_tokens(web_a, tenant_a, tenant_b):
    from autonomos.core.llm import record_usage

    record_usage(tenant_a, "mapping", prompt_tokens=100, completion_tokens=20)
    record_usage(tenant_a, "narrative", prompt_tokens=30, completion_tokens=10)
    record_usage(tenant_b, "mapping", prompt_tokens=999, completion_tokens=999)
    html = web_a.get("/").content.decode()
    card = html[html.index("LLM calls"):]
    card = card[: card.index("</div></div>")]
    assert '<div class="stat">2</div>' in card and "160 tokens" in card
