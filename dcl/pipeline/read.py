"""Stage 1, read → normalize → publish: aam's sync of one connection into its Redis Stream (under
the connection's lock, aam/sync_lock.py). The DCL is the layer above aam, so it calls it."""

from __future__ import annotations

from django_tenants.utils import tenant_context

from aam.ingest.services import SyncProgress, SyncResult, connection_sync


def read_connection(*, tenant, connection, full: bool, progress=None) -> SyncResult:
    """`progress` is called with one shape, aam's `SyncProgress`, as pages are published."""
    with tenant_context(tenant):
        return connection_sync(connection=connection, full=full, progress=progress)


__all__ = ["SyncProgress", "SyncResult", "read_connection"]
