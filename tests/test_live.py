"""End to end with real processes: the product's web server (uvicorn via scripts/web.sh; HTTP and
WebSocket) and a Celery worker."""

from __future__ import annotations

import asyncio
import json
import uuid

import httpx
import pytest
import websockets
from django.contrib.auth.models import Group
from django.db import connection
from django_tenants.utils import schema_context

from autonomos.core.events import publish_event
from autonomos.core.tenancy import TenantRequired
from tenants.auth import issue_tokens

pytestmark = [pytest.mark.live]


def _access_token(tenant) -> str:
    from django.contrib.auth import get_user_model

    with schema_context(tenant.schema_name):
        token = issue_tokens(get_user_model().objects.get(username="admin"), tenant).access_token
    return str(token)


async def _ws_connect(server: str, tenant, token: str | None, query: str = ""):
    host, port = server.split(":")
    qs = f"?token={token}{query}" if token else (f"?{query.lstrip('&')}" if query else "")
    return await websockets.connect(f"ws://{tenant.slug}.localhost:{port}/ws/events/{qs}", host=host, port=int(port),
                                    open_timeout=10)


async def _recv_types(ws, timeout: float = 3.0) -> list[str]:
    types = []
    try:
        while True:
            message = await asyncio.wait_for(ws.recv(), timeout=timeout)
            types.append(json.loads(message)["type"])
            timeout = 0.5
    except TimeoutError:
        return types


def test_websocket_delivers_each_tenants_events_only_to_that_tenant(asgi_server, committed_tenants):
    alpha, beta = committed_tenants
    token_a, token_b = _access_token(alpha), _access_token(beta)

    async def scenario():
        ws_a = await _ws_connect(asgi_server, alpha, token_a)
        ws_b = await _ws_connect(asgi_server, beta, token_b)
        # A socket joins its tenant's group before it is accepted; a ping answered proves the
        # consumer is past connect() on both.
        for ws in (ws_a, ws_b):
            await ws.send(json.dumps({"type": "ping"}))
            assert json.loads(await asyncio.wait_for(ws.recv(), timeout=10)) == {"type": "pong"}
        await asyncio.to_thread(publish_event, alpha, "only_for_alpha", {"n": 1})
        await asyncio.to_thread(publish_event, beta, "only_for_beta", {"n": 2})
        got_a, got_b = await asyncio.gather(_recv_types(ws_a), _recv_types(ws_b))
        await ws_a.close()
        await ws_b.close()
        return got_a, got_b

    got_a, got_b = asyncio.run(scenario())
    assert got_a == ["only_for_alpha"]
    assert got_b == ["only_for_beta"]


def test_websocket_refuses_a_token_of_another_tenant_and_anonymous_clients(asgi_server, committed_tenants):
    alpha, beta = committed_tenants
    token_a = _access_token(alpha)

    async def scenario():
        results = []
        for token in (token_a, None, "garbage.token.value"):
            ws = await _ws_connect(asgi_server, beta, token)
            try:
                await asyncio.wait_for(ws.recv(), timeout=3)
                results.append("open")
            except websockets.ConnectionClosed as exc:
                results.append(exc.rcvd.code if exc.rcvd else None)
        return results

    assert asyncio.run(scenario()) == [4401, 4401, 4401]


def test_websocket_resumes_after_the_last_event_id(asgi_server, committed_tenants):
    alpha, _ = committed_tenants
    first = publish_event(alpha, "first", {})
    publish_event(alpha, "second", {})
    publish_event(alpha, "third", {})
    token_a = _access_token(alpha)

    async def scenario():
        ws = await _ws_connect(asgi_server, alpha, token_a, f"&last_event_id={first['id']}")
        types = await _recv_types(ws)
        await ws.close()
        return types

    assert asyncio.run(scenario()) == ["second", "third"]


def test_sse_streams_own_events_resumes_by_last_event_id_and_refuses_other_tenants(asgi_server, committed_tenants):
    alpha, beta = committed_tenants
    first = publish_event(alpha, "a1", {"k": "v"})
    publish_event(alpha, "a2", {})
    publish_event(beta, "b1", {})
    base = f"http://{asgi_server}/api/events/stream/"
    headers = {"Host": "alpha.localhost", "Authorization": f"Bearer {_access_token(alpha)}",
               "Last-Event-ID": first["id"], "Accept": "text/event-stream"}
    with httpx.stream("GET", base, params={"timeout": 1}, headers=headers, timeout=10) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        body = "".join(response.iter_text())
    events = [json.loads(line[6:]) for line in body.splitlines() if line.startswith("data: ")]
    assert [e["type"] for e in events] == ["a2"]
    assert f"id: {events[0]['id']}" in body

    foreign = httpx.get(base, headers={"Host": "beta.localhost", "Authorization": f"Bearer {_access_token(alpha)}"},
                        timeout=10)
    assert foreign.status_code == 401
    assert foreign.json()["error"]["code"]


def test_sse_delivers_events_published_while_connected(asgi_server, committed_tenants):
    alpha, _ = committed_tenants
    headers = {"Host": "alpha.localhost", "Authorization": f"Bearer {_access_token(alpha)}"}

    async def scenario():
        async with httpx.AsyncClient(timeout=10) as client:
            async with client.stream("GET", f"http://{asgi_server}/api/events/stream/", params={"timeout": 2},
                                     headers=headers) as response:
                # The view pins where the stream starts before it answers: once the first frame is
                # here, an event published now is delivered.
                chunks = response.aiter_text()
                first = await anext(chunks)
                await asyncio.to_thread(publish_event, alpha, "live_one", {})
                return first + "".join([chunk async for chunk in chunks])

    body = asyncio.run(scenario())
    assert "event: live_one" in body


def test_celery_task_queued_for_a_tenant_runs_in_that_tenant_only(celery_worker_process, committed_tenants):
    from tests.celery_tasks import create_group

    alpha, beta = committed_tenants
    name = f"made-by-worker-{uuid.uuid4().hex[:8]}"
    connection.set_tenant(alpha)
    try:
        result = create_group.delay(name)
    finally:
        connection.set_schema_to_public()
    try:
        assert result.get(timeout=30) == "alpha"
        with schema_context("alpha"):
            assert Group.objects.filter(name=name).count() == 1
        with schema_context("beta"):
            assert not Group.objects.filter(name=name).exists()
    finally:
        with schema_context("alpha"):
            Group.objects.filter(name=name).delete()


def test_celery_task_queued_outside_a_tenant_fails_loudly(celery_worker_process, committed_tenants):
    from tests.celery_tasks import create_group

    connection.set_schema_to_public()
    result = create_group.delay("made-on-public")
    with pytest.raises(TenantRequired):
        result.get(timeout=30)
    with schema_context("public"):
        assert not Group.objects.filter(name="made-on-public").exists()


def _chunks(data: bytes, size: int = 7):
    for i in range(0, len(data), size):
        yield data[i : i + size]


def test_a_chunked_body_reaches_the_view_whole_and_an_oversized_one_is_413(asgi_server, committed_tenants):
    """Transfer-Encoding: chunked has no Content-Length; behind the WSGI bridge such a body used to
    read as empty (the view ran with its defaults)."""
    alpha, _ = committed_tenants
    headers = {"Host": "alpha.localhost", "Authorization": f"Bearer {_access_token(alpha)}",
               "Content-Type": "application/json"}
    name = f"chunked-{uuid.uuid4().hex[:8]}"
    body = json.dumps({"name": name, "kind": "filesource", "config": {}}).encode()
    with httpx.Client(timeout=10) as client:
        created = client.post(f"http://{asgi_server}/api/connections/", content=_chunks(body), headers=headers)
        assert created.request.headers.get("transfer-encoding") == "chunked"
        assert created.status_code == 201, created.text
        assert created.json()["name"] == name
        try:
            huge = _chunks(b'{"name": "' + b"x" * (6 * 1024 * 1024) + b'"}', 65536)  # over the 5 MB limit
            refused = client.post(f"http://{asgi_server}/api/connections/", content=huge, headers=headers)
            assert refused.status_code == 413
            assert refused.json()["error"]["code"]
        finally:
            client.delete(f"http://{asgi_server}/api/connections/{created.json()['id']}/", headers=headers)
