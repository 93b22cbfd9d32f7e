"""The API edge (dcl/api/edge.py) in front of Django, driven through the project's real ASGI app with
committed data, real Redis and PostgreSQL.

Every request is sent twice where it matters: through the app with the edge (`http_application`)
and through Django alone (`django_http_application`); the two answers must be the same. The edge's
per-process `stats` say whether it answered or why it did not, so a test fails when the edge is not
actually taken (or is taken when it must not be).
"""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import jwt
import pytest
from django.contrib.auth import get_user_model
from django.test import override_settings
from django_tenants.utils import tenant_context

from autonomos import asgi
from autonomos.core.api import CounterUserRateThrottle
from autonomos.core.redis import get_redis
from dcl.api import edge
from dcl.models import MaterializedView
from tenants import caching
from tenants.auth import issue_tokens
from tests.conftest import host_of
from tests.pipeline.support import land_and_materialize, opportunity_records
from tests.waiting import wait_past

PATH = "/api/dcl/views/opportunity/"
QUERY = "page_size=2&stage=Prospecting&ordering=-amount"


@pytest.fixture(autouse=True)
def _fresh_process_caches():
    caching.clear_all()
    edge.stats.clear()
    yield
    caching.clear_all()


_publish = land_and_materialize


def _token(tenant, *, lifetime: timedelta | None = None) -> str:
    with tenant_context(tenant):  # the outstanding-token record lives in the tenant's schema
        refresh = issue_tokens(get_user_model().objects.get(username="admin"), tenant)
    access = refresh.access_token
    if lifetime is not None:
        access.set_exp(lifetime=lifetime)
    return str(access)


class Answer:
    def __init__(self, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
        self.status, self.headers, self.body = status, headers, body

    def __repr__(self) -> str:
        return f"Answer({self.status}, {self.body[:200]!r})"

    def json(self):
        import json

        return json.loads(self.body)


def call(app, *, host: str, token: str | None = None, path: str = PATH, query: str = QUERY, method: str = "GET",
         headers: list[tuple[bytes, bytes]] | None = None, scheme: str = "http") -> Answer:
    """One HTTP request through an ASGI app, as uvicorn would pass it."""
    request_headers = [(b"host", host.encode())]
    if token is not None:
        request_headers.append((b"authorization", f"Bearer {token}".encode()))
    request_headers.extend(headers or [])
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": scheme,
        "path": path, "raw_path": path.encode(), "root_path": "", "query_string": query.encode(),
        "headers": request_headers, "server": ("127.0.0.1", 8000), "client": ("127.0.0.1", 50000),
    }
    messages: list[dict] = []

    async def run():
        sent = asyncio.Event()

        async def receive():
            if not sent.is_set():
                sent.set()
                return {"type": "http.request", "body": b"", "more_body": False}
            await asyncio.Event().wait()  # never disconnects

        async def send(message):
            messages.append(message)

        await app(scope, receive, send)

    asyncio.run(run())
    start = messages[0]
    return Answer(start["status"], list(start.get("headers", [])),
                  b"".join(m.get("body", b"") for m in messages[1:]))


def through_edge(**kwargs) -> Answer:
    return call(asgi.http_application, **kwargs)


def through_django(**kwargs) -> Answer:
    return call(asgi.django_http_application, **kwargs)


def served() -> int:
    return edge.stats["served"]


@pytest.fixture
def alpha(committed_tenants):
    tenant_a, _ = committed_tenants
    _publish(tenant_a, opportunity_records(5))
    return tenant_a


def _cached(tenant, token, **kwargs) -> Answer:
    """The page through Django (fills the caches), then once through the edge, which serves it."""
    first = through_edge(host=host_of(tenant), token=token, **kwargs)
    assert first.status == 200, first
    before = served()
    second = through_edge(host=host_of(tenant), token=token, **kwargs)
    assert served() == before + 1, edge.stats
    assert second.body == first.body
    edge.stats.clear()
    return second


# --- The edge answers ---------------------------------------------------------------------------


def test_a_cached_page_is_served_by_the_edge_exactly_as_django_serves_it(alpha):
    token = _token(alpha)
    first = through_edge(host=host_of(alpha), token=token)
    assert first.status == 200 and edge.stats["tenant"] == 1 and served() == 0  # Django resolved, rendered
    hit = through_edge(host=host_of(alpha), token=token)
    assert served() == 1
    django = through_django(host=host_of(alpha), token=token)
    assert (hit.status, hit.headers, hit.body) == (django.status, django.headers, django.body)
    names = {k for k, _ in hit.headers}
    assert {b"content-type", b"content-length", b"x-frame-options", b"x-content-type-options", b"referrer-policy",
            b"cross-origin-opener-policy", b"vary", b"allow"} <= names
    assert hit.json()["count"] == 5 and len(hit.json()["results"]) == 2


def _apps():
    """The edge and Django as the server builds them, under the settings in force now (Django's
    middleware reads its settings once, when the handler is built)."""
    from a2wsgi import WSGIMiddleware
    from django.core.wsgi import get_wsgi_application

    django_app = WSGIMiddleware(get_wsgi_application(), workers=2)
    return edge.edge(django_app), django_app


def test_https_and_hsts_headers_match_django(alpha):
    token = _token(alpha)
    with override_settings(SECURE_HSTS_SECONDS=3600, SECURE_HSTS_INCLUDE_SUBDOMAINS=True):
        with_edge, django_only = _apps()
        kwargs = dict(host=host_of(alpha), token=token, scheme="https")
        call(with_edge, **kwargs)
        hit = call(with_edge, **kwargs)
        assert served() == 1
        django = call(django_only, **kwargs)
    assert (b"strict-transport-security", b"max-age=3600; includeSubDomains") in hit.headers
    assert (hit.status, hit.headers, hit.body) == (django.status, django.headers, django.body)


def test_a_request_django_would_redirect_to_https_goes_to_django(alpha):
    token = _token(alpha)
    _cached(alpha, token)
    with override_settings(SECURE_SSL_REDIRECT=True):
        with_edge, _ = _apps()
        answer = call(with_edge, host=host_of(alpha), token=token)
    assert answer.status == 301 and edge.stats["redirect"] == 1 and served() == 0


def test_query_parameters_in_another_order_are_served_the_same_page(alpha):
    token = _token(alpha)
    _cached(alpha, token, query="stage=Prospecting&ordering=-amount&page_size=2")
    before = served()
    other = through_edge(host=host_of(alpha), token=token, query="page_size=2&ordering=-amount&stage=Prospecting")
    assert served() == before + 1
    django = through_django(host=host_of(alpha), token=token, query="page_size=2&ordering=-amount&stage=Prospecting")
    assert other.body == django.body


def test_each_host_of_a_tenant_gets_its_own_absolute_links(alpha):
    token = _token(alpha)
    plain = _cached(alpha, token)
    host = f"{host_of(alpha)}:8000"
    pages = edge.stats["page"]
    first = through_edge(host=host, token=token)
    assert edge.stats["page"] == pages + 1  # not the page cached for the other host
    before = served()
    again = through_edge(host=host, token=token)
    assert served() == before + 1 and again.body == first.body
    assert plain.json()["next"].startswith(f"http://{host_of(alpha)}/")
    assert again.json()["next"].startswith(f"http://{host}/")


def test_a_re_materialized_view_is_never_served_stale(alpha):
    token = _token(alpha)
    before = _cached(alpha, token).json()
    assert before["count"] == 5
    _publish(alpha, opportunity_records(12))
    after = through_edge(host=host_of(alpha), token=token)
    assert after.json()["count"] == 12  # Django rendered it: the edge saw the new stamp
    assert through_django(host=host_of(alpha), token=token).json()["count"] == 12
    again = _cached(alpha, token)  # and the edge serves the new page from then on
    assert again.json()["count"] == 12


def test_a_page_whose_stamp_is_not_the_current_one_is_not_served(alpha):
    token = _token(alpha)
    _cached(alpha, token)
    redis = get_redis()
    [stamp_key] = redis.keys(f"*{alpha.tenant_id}*dcl:stamp:opportunity")
    redis.delete(stamp_key)  # gone (expired, Redis restarted): Django puts it back from the catalog
    before = served()
    assert through_edge(host=host_of(alpha), token=token).status == 200
    assert served() == before and redis.exists(stamp_key)
    assert through_edge(host=host_of(alpha), token=token).status == 200 and served() == before + 1
    with tenant_context(alpha):  # a stamp no page was rendered from
        view = MaterializedView.objects.get(entity="opportunity")
    from dcl.page_cache import publish_view_stamp

    publish_view_stamp(alpha, "opportunity", view.version + 1, view.materialized_at)
    through_edge(host=host_of(alpha), token=token)
    assert served() == before + 1 and edge.stats["page"] >= 2


def test_two_tenants_with_identical_catalogs_never_share_a_page(committed_tenants):
    tenant_a, tenant_b = committed_tenants
    view_a = _publish(tenant_a, opportunity_records(5))
    _publish(tenant_b, opportunity_records(3))
    with tenant_context(tenant_b):
        MaterializedView.objects.filter(entity="opportunity").update(
            version=view_a.version, materialized_at=view_a.materialized_at
        )
    from dcl.page_cache import publish_view_stamp

    publish_view_stamp(tenant_b, "opportunity", view_a.version, view_a.materialized_at)
    page_a = _cached(tenant_a, _token(tenant_a)).json()
    page_b = _cached(tenant_b, _token(tenant_b)).json()
    assert (page_a["count"], page_b["count"]) == (5, 3)
    assert page_a["next"].startswith(f"http://{host_of(tenant_a)}/")
    assert page_b["next"].startswith(f"http://{host_of(tenant_b)}/")
    keys = get_redis().keys("*dcl:page:*")
    assert len(keys) == 2 and {k.split("}")[0] for k in keys} == {f"cache:{{{tenant_a.tenant_id}",
                                                                   f"cache:{{{tenant_b.tenant_id}"}


def test_the_edge_can_be_turned_off(alpha):
    token = _token(alpha)
    through_edge(host=host_of(alpha), token=token)
    with override_settings(DCL_EDGE=False):
        assert through_edge(host=host_of(alpha), token=token).status == 200
    assert served() == 0 and edge.stats["off"] == 1


# --- Everything else goes to Django -------------------------------------------------------------


def _same_as_django(answer: Answer, **kwargs) -> None:
    django = through_django(**kwargs)
    assert (answer.status, _timeless(answer.body)) == (django.status, _timeless(django.body))


def _timeless(body: bytes) -> bytes:
    """The body without the catalog's `age_seconds` (seconds since a view was materialized: two
    requests a few milliseconds apart differ there and nowhere else); each one must still be a
    non-negative number of seconds."""
    try:
        data = json.loads(body)
    except ValueError:
        return body
    results = data.get("results") if isinstance(data, dict) else None
    if not isinstance(results, list) or not any(isinstance(r, dict) and "age_seconds" in r for r in results):
        return body
    for r in results:
        age = r.pop("age_seconds")  # every catalog entry has one (the any() above saw the catalog)
        assert age is None or (isinstance(age, int | float) and age >= 0), age
    return json.dumps(data, sort_keys=True).encode()


def test_anonymous_callers_go_to_django(alpha):
    _cached(alpha, _token(alpha))
    before = served()
    answer = through_edge(host=host_of(alpha))
    assert answer.status == 401 and answer.json()["error"]["code"] == "not_authenticated"
    assert served() == before and edge.stats["anonymous"] == 1
    _same_as_django(answer, host=host_of(alpha))
    basic = through_edge(host=host_of(alpha), headers=[(b"authorization", b"Basic YWRtaW46eA==")])
    assert basic.status == 401 and served() == before


def test_forged_tokens_go_to_django(alpha):
    token = _token(alpha)
    _cached(alpha, token)
    header, payload, signature = token.split(".")
    forged = f"{header}.{payload}.{signature[:-4]}AAAA"
    before = served()
    for bad in (forged, "not.a.token", f"{token} extra"):
        answer = through_edge(host=host_of(alpha), token=bad)
        assert answer.status == 401, bad
        _same_as_django(answer, host=host_of(alpha), token=bad)
    assert served() == before and edge.stats["token"] == 3


def test_a_token_of_another_tenant_goes_to_django(committed_tenants):
    tenant_a, tenant_b = committed_tenants
    _publish(tenant_a, opportunity_records(5))
    _publish(tenant_b, opportunity_records(3))
    token_b = _token(tenant_b)
    _cached(tenant_b, token_b)  # beta's token is now a validated token in this process's cache
    _cached(tenant_a, _token(tenant_a))
    before = served()
    answer = through_edge(host=host_of(tenant_a), token=token_b)
    assert answer.status == 401 and "results" not in answer.json()
    assert served() == before and edge.stats["token"] == 1
    _same_as_django(answer, host=host_of(tenant_a), token=token_b)


def test_an_expired_token_goes_to_django(alpha):
    token = _token(alpha, lifetime=timedelta(seconds=3))
    _cached(alpha, token)
    wait_past(jwt.decode(token, options={"verify_signature": False})["exp"])  # the expiry is what is tested
    before = served()
    answer = through_edge(host=host_of(alpha), token=token)
    assert answer.status == 401 and answer.json()["error"]["code"] == "token_not_valid"
    assert served() == before and edge.stats["token"] == 1


def test_an_unknown_host_goes_to_django(alpha):
    token = _token(alpha)
    _cached(alpha, token)
    before = served()
    answer = through_edge(host="nobody.localhost", token=token)
    assert answer.status == 404 and answer.json()["error"]["code"] == "not_found"
    assert served() == before and edge.stats["tenant"] == 1
    bad = through_edge(host="evil.example.com", token=token)
    assert bad.status == 400 and edge.stats["host"] == 1


def test_an_inactive_user_goes_to_django(alpha):
    token = _token(alpha)
    _cached(alpha, token)
    with tenant_context(alpha):
        user = get_user_model().objects.get(username="admin")
        user.is_active = False
        user.save(update_fields=["is_active"])  # clears this process's user cache (signal)
    try:
        before = served()
        answer = through_edge(host=host_of(alpha), token=token)
        assert answer.status == 401 and served() == before and edge.stats["user"] == 1
        _same_as_django(answer, host=host_of(alpha), token=token)
    finally:
        with tenant_context(alpha):
            user.is_active = True
            user.save(update_fields=["is_active"])


def test_a_revoked_token_goes_to_django_even_when_the_user_cache_is_fresh(alpha):
    """Another process may hold the user as it is now (new token version) and the token as it was
    validated before the revocation: the edge compares the two and leaves the answer (401) to Django."""
    from tenants.members.services import member_revoke_tokens

    token = _token(alpha)
    _cached(alpha, token)
    with tenant_context(alpha):
        member_revoke_tokens(user=get_user_model().objects.get(username="admin"))
        now = get_user_model().objects.select_related("member").get(username="admin")
    caching.user_by_id.set((str(alpha.tenant_id), str(now.pk)), now)
    before = served()
    answer = through_edge(host=host_of(alpha), token=token)
    assert answer.status == 401 and served() == before and edge.stats["token"] == 1


def test_the_rate_limit_counts_edge_requests_and_django_answers_the_429(alpha):
    original = CounterUserRateThrottle.THROTTLE_RATES
    CounterUserRateThrottle.THROTTLE_RATES = {**original, "user": "3/day"}  # a window that does not roll over mid-test
    try:
        token = _token(alpha)
        codes = [through_edge(host=host_of(alpha), token=token).status for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        assert served() == 2 and edge.stats["throttled"] == 1
        [counter] = get_redis().keys(f"*{alpha.tenant_id}*throttle_user_*")
        assert int(get_redis().get(counter)) == 4  # one count per request, whoever answered it
        limited = through_edge(host=host_of(alpha), token=token)
        assert limited.status == 429 and limited.json()["error"]["code"] == "throttled"
    finally:
        CounterUserRateThrottle.THROTTLE_RATES = original


def test_an_uncached_page_goes_to_django_and_is_served_by_the_edge_afterwards(alpha):
    token = _token(alpha)
    _cached(alpha, token)
    before = served()
    other = through_edge(host=host_of(alpha), token=token, query="page_size=3")
    assert other.status == 200 and served() == before and edge.stats["page"] == 1
    assert through_edge(host=host_of(alpha), token=token, query="page_size=3").body == other.body
    assert served() == before + 1


@pytest.mark.parametrize(
    ("method", "path", "query", "headers", "reason"),
    [
        ("POST", PATH, QUERY, [], None),
        ("HEAD", PATH, QUERY, [], None),
        ("GET", "/api/dcl/views/", "", [], "path"),
        ("GET", "/api/dcl/views/opportunity/extra/", "", [], "path"),
        ("GET", "/api/dcl/views/Opportunity/", QUERY, [], "path"),
        ("GET", "/api/dcl/views/nothing/", QUERY, [], "page"),
        ("GET", PATH, QUERY, [(b"cookie", b"sessionid=abc")], "headers"),
        ("GET", PATH, QUERY, [(b"accept", b"text/html")], "headers"),
        ("GET", PATH, QUERY, [(b"content-length", b"3")], "headers"),
        ("GET", PATH, QUERY + "&format=json", [], "query"),
        ("GET", PATH, "page_size=2&amount__gte=lots", [], "page"),
    ],
)
def test_other_requests_go_to_django(alpha, method, path, query, headers, reason):
    token = _token(alpha)
    _cached(alpha, token)
    edge.stats.clear()
    answer = through_edge(host=host_of(alpha), token=token, method=method, path=path, query=query, headers=headers)
    assert served() == 0
    assert (edge.stats[reason] == 1) if reason else not edge.stats
    _same_as_django(answer, host=host_of(alpha), token=token, method=method, path=path, query=query,
                    headers=headers)
    assert served() == 0


def test_entries_due_for_renewal_send_one_request_to_django(alpha, monkeypatch):
    token = _token(alpha)
    _cached(alpha, token)
    # Make every cached entry due for renewal: the next request goes to Django, which renews them;
    # the edge goes on answering the others from the entries meanwhile.
    for cache in (caching.tenant_by_host, caching.user_by_id, caching.token_by_raw):
        monkeypatch.setattr(cache, "refresh_ahead", cache.seconds)
    before = served()
    assert through_edge(host=host_of(alpha), token=token).status == 200
    assert edge.stats["renew"] == 1 and served() == before
    for cache in (caching.tenant_by_host, caching.user_by_id, caching.token_by_raw):
        monkeypatch.setattr(cache, "refresh_ahead", 0.0)
    assert through_edge(host=host_of(alpha), token=token).status == 200 and served() == before + 1


def test_the_current_stamp_is_renewed_through_django_before_it_expires(alpha):
    token = _token(alpha)
    _cached(alpha, token)
    redis = get_redis()
    [stamp_key] = redis.keys(f"*{alpha.tenant_id}*dcl:stamp:opportunity")
    redis.pexpire(stamp_key, edge.STAMP_RENEW_MS - 1000)  # in its last third
    edge._stamp_claims.clear()
    assert through_edge(host=host_of(alpha), token=token).status == 200
    assert edge.stats["renew"] == 1 and served() == 0  # one request went to Django ...
    assert redis.pttl(stamp_key) > edge.STAMP_RENEW_MS  # ... which renewed the stamp (the catalog's)
    assert through_edge(host=host_of(alpha), token=token).status == 200 and served() == 1


def test_a_stamp_that_is_not_the_catalogs_is_never_renewed(alpha):
    from dcl.page_cache import publish_view_stamp

    token = _token(alpha)
    _cached(alpha, token)
    with tenant_context(alpha):
        view = MaterializedView.objects.get(entity="opportunity")
    publish_view_stamp(alpha, "opportunity", view.version + 7, view.materialized_at)  # as if a hook misfired
    redis = get_redis()
    [stamp_key] = redis.keys(f"*{alpha.tenant_id}*dcl:stamp:opportunity")
    ttl = redis.pttl(stamp_key)
    assert through_edge(host=host_of(alpha), token=token).status == 200  # Django answers from the catalog
    assert served() == 0 and 0 < redis.pttl(stamp_key) <= ttl  # and leaves the wrong stamp to expire
