"""WebSocket `/ws/events/`: the tenant's live events, resumable with `?last_event_id=`."""

from __future__ import annotations

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from .events import events_group, read_events, valid_event_id


class EventsConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self):
        tenant = self.scope.get("tenant")
        user = self.scope.get("user")
        if tenant is None or user is None or not user.is_authenticated:
            # Accept, then close with an application code, so clients can tell "not authorised"
            # (4401) from a network failure and stop reconnecting.
            await self.accept()
            await self.close(code=4401)
            return
        self.group = events_group(tenant)
        # Join first, then send the backlog, so nothing published in between is missed;
        # duplicates are dropped by id.
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        self.sent_upto = ""
        last = valid_event_id(self.scope.get("query", {}).get("last_event_id"))
        if last is not None or self.scope.get("query", {}).get("since") == "start":
            for event in await database_sync_to_async(read_events)(tenant, last):
                await self._send(event)

    async def disconnect(self, code):
        if hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive_json(self, content, **kwargs):
        if isinstance(content, dict) and content.get("type") == "ping":
            await self.send_json({"type": "pong"})

    async def event_message(self, message):
        await self._send(message["event"])

    async def _send(self, event):
        if _id_key(event["id"]) <= _id_key(self.sent_upto):
            return
        self.sent_upto = event["id"]
        await self.send_json(event)


def _id_key(entry_id: str) -> tuple[int, int]:
    if not entry_id:
        return (-1, -1)
    ms, _, seq = entry_id.partition("-")
    return (int(ms), int(seq or 0))
