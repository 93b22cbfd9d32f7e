"""Isolation in the spirit of django-tenants' own tests: switch schemas and count inside and outside."""

import pytest
from django.db import connection
from django_tenants.utils import schema_context

from autonomos.core.events import events_group, events_stream_key, publish_event, read_events
from autonomos.core.redis import get_redis
from autonomos.core.redis_names import tenant_key
from autonomos.core.tenancy import TenantRequired, current_tenant
from connectors.models import Connection

pytestmark = pytest.mark.django_db


def test_rows_written_in_one_tenant_are_invisible_in_another(tenant_a, tenant_b):
    with schema_context("alpha"):
        Connection.objects.create(name="alpha-crm", kind="salesforce")
        assert Connection.objects.count() == 1
    with schema_context("beta"):
        assert Connection.objects.count() == 0
        Connection.objects.create(name="beta-crm", kind="hubspot")
    with schema_context("alpha"):
        assert list(Connection.objects.values_list("name", flat=True)) == ["alpha-crm"]


def test_tenant_models_refuse_to_query_the_public_schema(db):
    connection.set_schema_to_public()
    with pytest.raises(TenantRequired):
        Connection.objects.count()
    with pytest.raises(TenantRequired):
        current_tenant()


def test_current_tenant_is_the_connections_tenant(in_tenant_a):
    assert current_tenant().slug == "alpha"


def test_redis_keys_carry_the_tenant_hash_tag(tenant_a):
    assert tenant_key(tenant_a, "aam", "dcl", 42) == f"aam:dcl:{{{tenant_a.tenant_id}}}:42"
    assert tenant_key(tenant_a, "events") == f"events:{{{tenant_a.tenant_id}}}"
    with pytest.raises(ValueError):
        tenant_key(None, "events")


def test_event_streams_and_groups_are_per_tenant(tenant_a, tenant_b):
    publish_event(tenant_a, "a_happened", {"x": 1})
    publish_event(tenant_b, "b_happened", {"y": 2})
    assert [e["type"] for e in read_events(tenant_a)] == ["a_happened"]
    assert [e["type"] for e in read_events(tenant_b)] == ["b_happened"]
    assert events_group(tenant_a) != events_group(tenant_b)
    assert str(tenant_a.tenant_id).replace("-", "") in events_group(tenant_a)
    keys = get_redis().keys("events:*")
    assert sorted(keys) == sorted([events_stream_key(tenant_a), events_stream_key(tenant_b)])


def test_event_store_keeps_only_the_newest_events(tenant_a, settings):
    settings.EVENTS_STREAM_MAXLEN = 5
    for i in range(8):
        publish_event(tenant_a, f"e{i}", {})
    assert [e["type"] for e in read_events(tenant_a)] == ["e3", "e4", "e5", "e6", "e7"]


def test_cache_keys_carry_the_tenant(in_tenant_a):
    from django.core.cache import cache

    cache.set("probe", 1)
    keys = get_redis().keys("cache:*")
    assert keys and all(f"{{{in_tenant_a.tenant_id}}}" in k for k in keys)


def test_session_of_one_tenant_does_not_log_in_on_another(web_a, tenant_b):
    from django.test import Client

    from tests.conftest import host_of

    session_cookie = web_a.cookies["sessionid"].value
    other = Client(HTTP_HOST=host_of(tenant_b))
    other.cookies["sessionid"] = session_cookie
    response = other.get("/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    assert web_a.get("/").status_code == 200
