"""Inspect or replay a tenant's dead-lettered batches: `manage.py dcl_dead_letters --tenant <slug>`.

A batch is dead-lettered when it cannot be parsed or written (the reason is kept with it). Once the
cause is fixed (a schema conflict, say), `--replay` puts the batches back on their streams: the
consumer applies them once (their ids are unchanged).
"""

import json

from django.core.management.base import BaseCommand

from aam.streams import binary_redis
from dcl.consumer import dead_letter_key

from ._tenant import tenant_by_slug

_DLQ_FIELDS = (b"dlq_reason", b"dlq_stream", b"dlq_entry")


class Command(BaseCommand):
    help = "List the tenant's dead-lettered batches, or replay them (--replay)."

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True)
        parser.add_argument("--replay", action="store_true", help="put them back on their streams, then remove")

    def handle(self, *args, **opts):
        tenant = tenant_by_slug(opts["tenant"])
        r = binary_redis()
        key = dead_letter_key(tenant)
        entries = r.xrange(key)
        for entry_id, fields in entries:
            info = {k.decode(): fields.get(k, b"").decode(errors="replace") for k in _DLQ_FIELDS}
            info.update(id=entry_id.decode(), batch_id=fields.get(b"batch_id", b"").decode(errors="replace"))
            self.stdout.write(json.dumps(info))
            if opts["replay"]:
                stream = fields[b"dlq_stream"].decode()
                original = {k: v for k, v in fields.items() if k not in _DLQ_FIELDS}
                r.xadd(stream, original)
                r.xdel(key, entry_id)
        self.stdout.write(f"{len(entries)} dead-lettered batch(es){' replayed' if opts['replay'] else ''}")
