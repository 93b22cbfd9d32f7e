"""The page cache and the count cache of /api/dcl/views/<entity>/: per tenant, renewed by every
re-materialization, never served before authentication; counts stay exact."""

import pytest
from django.conf import settings
from django.db import connection
from rest_framework.test import APIClient

from autonomos.core.redis import get_redis
from dcl.models import MaterializedView
from tests.conftest import host_of
from tests.factories import OpportunityRecordFactory, materialized_view

pytestmark = pytest.mark.django_db
URL = "/api/dcl/views/opportunity/?page_size=100&stage=Prospecting&ordering=-amount"



def _page_keys(tenant) -> list[str]:
    return [k for k in get_redis().scan_iter(match=f"cache:{{{tenant.tenant_id}}}:*dcl:page:*")]


def test_the_same_query_is_answered_from_each_tenants_own_data(api_a, api_b, tenant_a, tenant_b):
    view_a = materialized_view(tenant_a, n=5)
    materialized_view(tenant_b, n=3)
    # Make beta's catalog entry identical to alpha's (same version and time): only the tenant in
    # the cache key now tells the two pages apart.
    connection.set_tenant(tenant_b)
    MaterializedView.objects.filter(entity="opportunity").update(
        version=view_a.version, materialized_at=view_a.materialized_at
    )
    connection.set_schema_to_public()
    first_a = api_a.get(URL).json()
    first_b = api_b.get(URL).json()
    assert (first_a["count"], first_b["count"]) == (5, 3)
    assert api_a.get(URL).json() == first_a and api_b.get(URL).json() == first_b  # now from the cache
    assert len(_page_keys(tenant_a)) == 1 and len(_page_keys(tenant_b)) == 1


def test_a_re_materialized_view_is_served_fresh_rows_and_counts(api_a, tenant_a):
    records = OpportunityRecordFactory.build_batch(12)
    view = materialized_view(tenant_a, records[:5])
    before = api_a.get(URL).json()
    assert before["count"] == 5
    assert api_a.get(URL).json() == before
    newer = materialized_view(tenant_a, records)
    assert newer.version == view.version + 1
    after = api_a.get(URL).json()
    assert after["count"] == 12 and len(after["results"]) == 12
    assert {r["unified_id"] for r in before["results"]} < {r["unified_id"] for r in after["results"]}


def test_counts_stay_exact_when_a_wiped_catalog_starts_again_at_version_one(api_a, tenant_a):
    records = OpportunityRecordFactory.build_batch(9)
    first = materialized_view(tenant_a, records[:4])
    assert first.version == 1
    assert api_a.get(URL).json()["count"] == 4
    connection.set_tenant(tenant_a)
    MaterializedView.objects.all().delete()
    connection.set_schema_to_public()
    again = materialized_view(tenant_a, records)
    assert again.version == 1
    body = api_a.get(URL).json()
    assert body["count"] == 9 and len(body["results"]) == 9


def test_a_cached_page_is_refused_to_anonymous_callers_and_foreign_tokens(api_a, api_b, tenant_a):
    materialized_view(tenant_a, n=4)
    assert api_a.get(URL).status_code == 200
    assert _page_keys(tenant_a)
    anonymous = APIClient(HTTP_HOST=host_of(tenant_a)).get(URL)
    assert anonymous.status_code == 401 and anonymous.json()["error"]["code"] == "not_authenticated"
    foreign = api_b.get(URL, HTTP_HOST=host_of(tenant_a))
    assert foreign.status_code == 401 and "results" not in foreign.json()
    bad = APIClient(HTTP_HOST=host_of(tenant_a), HTTP_AUTHORIZATION="Bearer not.a.token").get(URL)
    assert bad.status_code == 401


def test_query_parameters_in_another_order_share_one_cached_page(api_a, tenant_a):
    materialized_view(tenant_a, n=6)
    one = api_a.get("/api/dcl/views/opportunity/?stage=Prospecting&ordering=-amount&page_size=2").json()
    other = api_a.get("/api/dcl/views/opportunity/?page_size=2&ordering=-amount&stage=Prospecting").json()
    assert one["results"] == other["results"]
    assert len(_page_keys(tenant_a)) == 1


def test_bad_queries_are_json_400s_and_are_never_cached(api_a, tenant_a):
    materialized_view(tenant_a, n=3)
    for _ in range(2):
        response = api_a.get("/api/dcl/views/opportunity/?amount__gte=lots")
        assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_query"
    assert _page_keys(tenant_a) == []


def test_the_page_cache_can_be_turned_off(api_a, tenant_a, monkeypatch):
    monkeypatch.setattr(settings, "DCL_PAGE_CACHE_SECONDS", 0)
    materialized_view(tenant_a, n=3)
    assert api_a.get(URL).json()["count"] == 3
    assert _page_keys(tenant_a) == []


def test_each_host_of_a_tenant_has_its_own_page_with_its_own_links(api_a, tenant_a):
    materialized_view(tenant_a, n=6)
    url = "/api/dcl/views/opportunity/?page_size=2"
    plain = api_a.get(url).json()
    with_port = api_a.get(url, HTTP_HOST=f"{host_of(tenant_a)}:8000").json()
    assert plain["next"].startswith(f"http://{host_of(tenant_a)}/")
    assert with_port["next"].startswith(f"http://{host_of(tenant_a)}:8000/")
    assert api_a.get(url).json() == plain and len(_page_keys(tenant_a)) == 2


def test_the_current_stamp_is_put_back_from_the_catalog_when_it_is_missing(api_a, tenant_a):
    view = materialized_view(tenant_a, n=3)
    stamps = [k for k in get_redis().scan_iter(match=f"cache:{{{tenant_a.tenant_id}}}:*dcl:stamp:opportunity")]
    # In this test's transaction the materialization never commits, so its hook has not run either.
    assert stamps == []
    assert api_a.get(URL).status_code == 200
    [stamp] = get_redis().scan_iter(match=f"cache:{{{tenant_a.tenant_id}}}:*dcl:stamp:opportunity")
    from django.core.cache import cache

    raw = cache.redis_client().get(stamp)
    assert cache.decode(raw) == f"{view.version}-{view.materialized_at.timestamp()}"
    assert 0 < get_redis().ttl(stamp) <= 30
