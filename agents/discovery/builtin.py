"""Built-in discovery: scans the tenant's own connections when no discovery service is configured.

Assets: every connection (a `source`), every object it exposes (its fields, with the personal
data classes their names and sample values reveal; the samples themselves never leave this
module), and every untagged cloud resource in the unified views.

Owners: connection configs carry none, so an asset's owner is the person who approved its
`asset` review item (the item asks exactly that); until then the asset is "ownerless".
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from ..pilots.values import tags as read_tags
from ..pilots.values import text
from ..routing import route_connection
from .classify import classes_of_field
from .contracts import DiscoveredAsset, DiscoverResponse

logger = logging.getLogger(__name__)

OWNER_KEYS = ("owner", "owner_email", "data_owner")


def _owner(config) -> str | None:
    if not isinstance(config, Mapping):
        return None
    for key in OWNER_KEYS:
        value = config.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()[:300]
    return None


def _confirmed_owners() -> dict[str, str]:
    """asset id → the user who approved its latest `asset` review item ("approve = I own it")."""
    from aam.models import ReviewItem

    owners: dict[str, str] = {}
    items = (ReviewItem.objects.filter(kind="asset", status="approved", decided_by__isnull=False)
             .select_related("decided_by").order_by("decided_at", "id"))
    for item in items:
        asset_id = (item.proposal or {}).get("asset_id")
        if isinstance(asset_id, str):
            owners[asset_id] = item.decided_by.get_username()
    return owners


def _objects(conn) -> tuple[list, str]:
    """The connection's source objects (driver discover), or the reason they could not be read."""
    try:
        from connectors.registry import driver_for

        with driver_for(conn) as driver:
            return list(driver.discover()), ""
    except Exception as exc:  # noqa: BLE001 - an unreachable source is a finding, not a crash
        logger.info("discovery could not read connection %s: %s", conn.pk, type(exc).__name__)
        message = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
        return [], f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def _entity(conn, object_name: str) -> str | None:
    try:
        from aam.selectors import mapping_active

        active = mapping_active(connection=conn, source_object_name=object_name)
    except Exception:  # noqa: BLE001 - unmapped or mapping engine absent: the entity is just unknown
        return None
    return getattr(active, "entity", None) or None


def _cloud_resources() -> tuple[list[dict], int]:
    """Untagged cloud resources from the unified view, and how many resources were looked at."""
    try:
        from dcl.selectors import view_all

        rows = list(view_all(entity="cloud_resource"))
    except Exception:  # noqa: BLE001 - no views yet: nothing to report
        logger.info("cloud_resource view not readable for discovery", exc_info=True)
        return [], 0
    return [r for r in rows if not read_tags(r.get("tags"))], len(rows)


def builtin_scan(*, max_assets: int = 1000) -> DiscoverResponse:
    from connectors.health import connections_health
    from connectors.models import Connection

    assets: list[DiscoveredAsset] = []
    connections = list(Connection.objects.order_by("id"))
    healths = connections_health(connections)  # what every page shows (connectors/health.py)
    confirmed = _confirmed_owners()
    for conn in connections:
        owner = _owner(conn.config) or confirmed.get(f"connection:{conn.pk}")
        route = route_connection(kind=conn.kind, domain=conn.domain, config=conn.config)
        health = healths[conn.pk]
        common = {"status": conn.status, "health": health.state, "health_reason": health.reason[:300],
                  "never_synced": conn.last_synced_at is None, "connection_id": conn.pk,
                  "domain": route.domains[0] if len(route.domains) == 1 else None}
        objects, error = _objects(conn)
        source_attrs = {**common, "drift_policy": conn.drift_policy, "objects": len(objects)}
        if error:
            source_attrs["scan_error"] = error
        assets.append(DiscoveredAsset(asset_id=f"connection:{conn.pk}", name=conn.name, asset_type="source",
                                      source=conn.kind, owner=owner, last_seen=conn.last_synced_at,
                                      attributes=source_attrs))
        for obj in objects:
            fields = list(getattr(obj, "fields", []) or [])
            classes: set[str] = set()
            for f in fields:
                classes |= classes_of_field(getattr(f, "name", ""), getattr(f, "samples", ()) or ())
            assets.append(DiscoveredAsset(
                asset_id=f"object:{conn.pk}:{obj.name}"[:500], name=f"{conn.name} / {obj.name}"[:500],
                asset_type="object", source=conn.kind, owner=confirmed.get(f"object:{conn.pk}:{obj.name}") or owner,
                last_seen=conn.last_synced_at,
                entity=_entity(conn, obj.name), data_classes=sorted(classes),
                fields=[getattr(f, "name", "") for f in fields][:2000],
                attributes={**common, "row_count": getattr(obj, "row_count", None)},
            ))
    untagged, looked_at = _cloud_resources()
    for row in untagged:
        uid = text(row.get("unified_id")) or text(row.get("id"))
        assets.append(DiscoveredAsset(
            asset_id=f"cloud_resource:{uid}"[:500], name=text(row.get("name")) or text(row.get("id")) or uid,
            asset_type="cloud_resource", source=text(row.get("provider_name")) or "cloud", entity="cloud_resource",
            owner=text(row.get("owner")) or confirmed.get(f"cloud_resource:{uid}"), tags={},
            attributes={"status": text(row.get("status")), "service_name": text(row.get("service_name")),
                        "region_id": text(row.get("region_id")), "resource_id": text(row.get("id"))},
        ))
    summary = (f"Scanned {len(connections)} connections and {looked_at} cloud resources: {len(assets)} assets "
               f"({len(untagged)} untagged resources).")
    return DiscoverResponse(request_id=None, summary=summary, assets=assets[:max_assets])
