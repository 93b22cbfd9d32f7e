"""Server-Sent Events: the tenant's live events for plain HTTP clients, resumable by Last-Event-ID."""

from __future__ import annotations

import asyncio
import json
import time

from django.conf import settings
from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.renderers import BaseRenderer, JSONRenderer

from .api import TenantAPIView
from .events import events_stream_key, valid_event_id
from .redis import get_async_redis


class EventStreamRenderer(BaseRenderer):
    media_type = "text/event-stream"
    format = "txt"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return json.dumps(data).encode() if data is not None else b""


def _frame(entry_id: str, fields: dict) -> str:
    try:
        payload = json.loads(fields.get("payload", "{}"))
    except json.JSONDecodeError:
        payload = {}
    data = json.dumps({"id": entry_id, "type": fields.get("type", ""), "ts": fields.get("ts", ""), "payload": payload})
    return f"id: {entry_id}\nevent: {fields.get('type', 'message')}\ndata: {data}\n\n"


async def _event_stream(key: str, last_id: str, seconds: float):
    client = get_async_redis()
    deadline = time.monotonic() + seconds
    try:
        yield "retry: 2000\n\n"
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            block_ms = int(min(remaining, 5.0) * 1000) or 1
            try:
                result = await client.xread({key: last_id}, count=100, block=block_ms)
            except Exception:  # noqa: BLE001 - the client reconnects with Last-Event-ID
                yield "event: error\ndata: {\"message\": \"event store unavailable\"}\n\n"
                await asyncio.sleep(1)
                break
            if not result:
                yield ": keep-alive\n\n"
                continue
            for _key, entries in result:
                for entry_id, fields in entries:
                    last_id = entry_id
                    yield _frame(entry_id, fields)
    finally:
        await client.aclose()


class EventStreamView(TenantAPIView):
    """The tenant's events as `text/event-stream`.

    Resume with the `Last-Event-ID` header (or `?last_event_id=`); `?since=start` replays every
    retained event. The stream ends after `?timeout=` seconds (at most SSE_MAX_SECONDS); SSE
    clients reconnect by themselves and resume where they were.
    """

    renderer_classes = [EventStreamRenderer, JSONRenderer]

    def handle_exception(self, exc):
        # Errors are JSON like everywhere else, whatever the client asked the stream to be.
        response = super().handle_exception(exc)
        self.request.accepted_renderer = JSONRenderer()
        self.request.accepted_media_type = JSONRenderer.media_type
        return response

    @extend_schema(
        parameters=[
            OpenApiParameter("last_event_id", str, description="Resume after this event id."),
            OpenApiParameter("since", str, enum=["start", "now"], description="Where to start without an id."),
            OpenApiParameter("timeout", int, description="Seconds before the stream ends."),
            # (DRF's format override: the stream is always text/event-stream; JSON only for errors)
            OpenApiParameter("format", exclude=True),
        ],
        responses={(200, "text/event-stream"): OpenApiTypes.STR},
    )
    def get(self, request):
        last = valid_event_id(request.headers.get("Last-Event-ID") or request.query_params.get("last_event_id"))
        if last is None:
            last = "0-0" if request.query_params.get("since") == "start" else "$"
        try:
            seconds = float(request.query_params.get("timeout", settings.SSE_MAX_SECONDS))
        except ValueError:
            seconds = settings.SSE_MAX_SECONDS
        seconds = max(0.1, min(seconds, float(settings.SSE_MAX_SECONDS)))
        if last == "$":
            # "$" inside a loop would skip events published between two reads: pin it now.
            from .redis import get_redis

            newest = get_redis().xrevrange(events_stream_key(request.tenant), count=1)
            last = newest[0][0] if newest else "0-0"
        response = StreamingHttpResponse(
            _event_stream(events_stream_key(request.tenant), last, seconds), content_type="text/event-stream"
        )
        response["Cache-Control"] = "no-cache"
        response["X-Accel-Buffering"] = "no"
        return response
