"""The page cache of /api/dcl/views/<entity>/ (docs/adr/0008-api-serving.md).

One entry per tenant (the cache's key function), entity and normalized query: `(stamp, body)`,
the rendered page and the materialization it was rendered from. Beside it, per tenant and entity,
the stamp of the view's current materialization, written when a materialization commits
(`publish_view_stamp`, from dcl/services.py) and, when missing, by the API from the catalog. The
Django view and the edge in front of it (dcl/api/edge.py) read both in one round trip and serve the
page only when the two stamps agree.

Not a selector (it writes the cache) and not the API (the materialization writes the stamp): the
API turns its request into the plain values `page_cache_key` takes.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable
from datetime import datetime

from django.core.cache import cache

from autonomos.core import redis_names

from .selectors import view_stamp

logger = logging.getLogger(__name__)

# Seconds the current-stamp key lives: a materialization whose commit hook could not reach Redis
# is seen by the edge at the latest this long after (the Django path always checks the catalog).
VIEW_STAMP_SECONDS = 30


def view_stamp_key(entity: str) -> str:
    return redis_names.view_stamp(entity)


def page_cache_key(entity: str, *, origin: str, query: Iterable[tuple[str, list[str]]]) -> str:
    """The page's cache key: its query (`(name, [values])` pairs, in any order) and its origin, the
    scheme and host (the page's `next` and `previous` links are absolute URLs)."""
    digest = hashlib.sha1(json.dumps([origin, sorted((k, list(v)) for k, v in query)]).encode()).hexdigest()
    return redis_names.view_page(entity, digest)


def cached_page_body(entry, stamp: str) -> bytes | None:
    """The body of a page-cache entry when it was rendered from the materialization `stamp`."""
    if isinstance(entry, tuple) and len(entry) == 2 and entry[0] == stamp and isinstance(entry[1], bytes):
        return entry[1]
    return None


def publish_view_stamp(tenant, entity: str, version: int, materialized_at: datetime) -> None:
    """Record the current materialization of a view for the page cache (on commit of the
    materialization: dcl/services.py). Until this runs the edge keeps serving the previous one, as
    a request that read the catalog just before the commit would."""
    try:
        cache._cache.set(
            cache.make_tenant_key(view_stamp_key(entity), tenant),
            view_stamp(version, materialized_at),
            VIEW_STAMP_SECONDS,
        )
    except Exception:  # noqa: BLE001 - Redis down: the key expires within VIEW_STAMP_SECONDS
        logger.exception("could not publish the stamp of view %s", entity)
