"""Pooled PostgreSQL connections never carry one tenant's schema into another tenant's work."""

import threading

import httpx
import pytest
from django.db import close_old_connections, connection

from tenants.auth import issue_tokens
from tests.conftest import host_of


def test_connections_come_from_a_pool():
    assert connection.settings_dict["CONN_MAX_AGE"] == 0
    assert connection.settings_dict["OPTIONS"]["pool"]["max_size"] >= 1
    assert connection.pool is not None


def _seed_connections(alpha, beta):
    from connectors.models import Connection

    for tenant in (alpha, beta):
        connection.set_tenant(tenant)
        Connection.objects.create(name=f"only-in-{tenant.slug}", kind="salesforce")
    connection.set_schema_to_public()


def test_two_tenants_alternating_on_pooled_connections_see_only_their_own_rows(committed_tenants):
    from connectors.models import Connection

    alpha, beta = committed_tenants
    _seed_connections(alpha, beta)
    seen: dict[str, set] = {"alpha": set(), "beta": set()}
    backends: dict[str, set] = {"alpha": set(), "beta": set()}
    failures: list[str] = []
    lock = threading.Lock()

    def worker(i: int) -> None:
        try:
            for n in range(40):
                tenant = (alpha, beta)[(i + n) % 2]
                connection.set_tenant(tenant)
                names = set(Connection.objects.values_list("name", flat=True))
                with connection.cursor() as cur:
                    cur.execute("SELECT (current_schemas(false))[1], pg_backend_pid()")
                    schema, pid = cur.fetchone()
                with lock:
                    seen[tenant.slug] |= names
                    backends[tenant.slug].add(pid)
                if names != {f"only-in-{tenant.slug}"} or schema != tenant.schema_name:
                    failures.append(f"{tenant.slug} saw {names} in schema {schema}")
                connection.close()  # back to the pool, as at the end of a request
        except Exception as exc:  # noqa: BLE001 - reported below
            failures.append(repr(exc))
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    connection.set_schema_to_public()
    assert failures == []
    assert seen == {"alpha": {"only-in-alpha"}, "beta": {"only-in-beta"}}
    # The same server connections served both tenants: the test really exercised reuse.
    assert backends["alpha"] & backends["beta"]


def _token(tenant) -> str:
    from django.contrib.auth import get_user_model

    connection.set_tenant(tenant)
    refresh = issue_tokens(get_user_model().objects.get(username="admin"), tenant)
    connection.set_schema_to_public()
    return str(refresh.access_token)


@pytest.mark.timeout(120)
def test_the_server_answers_each_tenant_from_its_own_schema_under_concurrent_load(asgi_server, committed_tenants):
    alpha, beta = committed_tenants
    _seed_connections(alpha, beta)
    tokens = {t.slug: _token(t) for t in (alpha, beta)}

    def names(client, tenant) -> set[str]:
        response = client.get(f"http://{asgi_server}/api/connections/",
                              headers={"Host": host_of(tenant), "Authorization": f"Bearer {tokens[tenant.slug]}"})
        assert response.status_code == 200, response.text
        body = response.json()
        return {c["name"] for c in (body["results"] if isinstance(body, dict) else body)}

    results: list[tuple[str, set]] = []
    errors: list[str] = []

    def worker(i: int) -> None:
        with httpx.Client(timeout=30) as client:
            for n in range(30):
                tenant = (alpha, beta)[(i + n) % 2]
                try:
                    results.append((tenant.slug, names(client, tenant)))
                except AssertionError as exc:
                    errors.append(str(exc))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(results) == 240
    assert all(seen == {f"only-in-{slug}"} for slug, seen in results)
