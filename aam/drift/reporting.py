"""What a drift check tells people: drift events, review items, live events and the Slack note."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import transaction

from aam.models import DriftEvent, ReviewItem
from autonomos.core.events import publish_event
from autonomos.core.notify import notify_slack
from autonomos.core.tenancy import current_tenant
from connectors.models import Connection

from .diff import SchemaChange
from .repair import Repair

if TYPE_CHECKING:
    from .outcome import DriftOutcome

logger = logging.getLogger(__name__)


def event_build(connection, object_name, change: SchemaChange, repair: Repair | None, policy, before, after, *, status):
    return DriftEvent(
        connection=connection,
        source_object=object_name,
        kind=change.kind,
        field=change.field,
        new_field=change.new_field or "",
        old_type=change.old_type or "",
        new_type=change.new_type or "",
        direction=change.direction or "",
        swap=change.swap,
        confidence=round(max(0.0, min(1.0, change.confidence)), 4),
        evidence={**change.evidence, **({"engine": repair.engine} if repair and repair.engine else {})},
        status=status,
        policy=policy,
        repair=repair.proposal() if repair else {"action": "none"},
        repair_confidence=repair.confidence if repair else 0.0,
        explanation=(repair.explanation if repair else "")[:5000],
        snapshot_before=before,
        snapshot_after=after,
    )


def event_summary(event: DriftEvent) -> dict[str, Any]:
    return {
        "id": event.pk,
        "kind": event.kind,
        "field": event.field,
        "new_field": event.new_field or None,
        "status": event.status,
        "action": event.repair.get("action"),
        "canonical_field": event.repair.get("canonical_field"),
        "confidence": event.repair_confidence,
    }


def _title(object_name: str, entity: str | None, repairs: list[Repair]) -> str:
    r = repairs[0]
    c = r.change
    q = (lambda f: f"{entity}.{f}" if f else "unmapped") if entity else (lambda f: f or "unmapped")
    if c.swap:
        return f"{object_name}: {c.field} and {c.new_field} swapped values → swap their mappings"
    if r.action == "move":
        return f"{object_name}: {c.field} renamed to {c.new_field} → keep {q(r.canonical_field)}"
    if r.action == "drop":
        return f"{object_name}: {c.field} removed → stop feeding {q(r.previous_canonical)}"
    if r.action == "retype":
        return f"{object_name}: {c.field} {c.old_type} → {c.new_type} → keep {q(r.canonical_field)}"
    if r.action == "map":
        return f"{object_name}: new field {r.source_field} → {q(r.canonical_field)}"
    return f"{object_name}: new field {r.source_field} → leave unmapped"


def review_items_create(connection, object_name, entity, repairs, decisions, policy) -> dict:
    """One review item per queued repair (one for both halves of a swap)."""
    grouped: dict[Any, list[Repair]] = {}
    for r in repairs:
        if decisions[id(r)] == "queue":
            grouped.setdefault(r.group or id(r), []).append(r)
    items = {}
    for key, members in grouped.items():
        risk = max((m.risk for m in members), key=["low", "medium", "high"].index)
        item = ReviewItem(
            kind=ReviewItem.Kind.DRIFT,
            connection=connection,
            confidence=round(min(m.confidence for m in members), 4),
            risk=risk,
            title=_title(object_name, entity, members)[:300],
            proposal={
                "connection_id": connection.pk,
                "source_object": object_name,
                "canonical_entity": entity,
                "policy": policy,
                "repairs": [m.proposal() for m in members],
            },
            evidence={
                "explanation": " ".join(m.explanation for m in members[:1]),
                "why_review": "; ".join(m.needs_human for m in members if m.needs_human)
                or (f"the {policy} policy queues every change" if policy != "auto" else "confidence below threshold"),
                "changes": [m.change.as_dict() for m in members],
                "engine": [m.engine for m in members if m.engine],
            },
        )
        item.full_clean()
        item.save()
        items[key] = item
    return items


def announce(tenant, connection: Connection, outcome: DriftOutcome, repairs, decisions) -> None:
    """Events and a Slack note once the check is committed (never breaking it)."""
    applied = [e for e in outcome.events if e["status"] == DriftEvent.Status.APPLIED]
    base = {"connection_id": connection.pk, "source_object": outcome.source_object}
    detected = {
        **base,
        "fingerprint": outcome.fingerprint,
        "count": len(outcome.events),
        "changes": outcome.events,
        "frozen": outcome.frozen,
    }
    repaired = {**base, "drift_event_ids": [e["id"] for e in applied], "mapping_version": outcome.mapping_version}
    review = {
        **base,
        "kind": "drift",
        "count": len(outcome.review_item_ids),
        "review_item_ids": outcome.review_item_ids,
    }
    text = drift_message(connection, outcome)

    def publish() -> None:
        publish_event(tenant, "drift_detected", detected)
        if applied:
            publish_event(tenant, "repair_applied", repaired)
        if outcome.queued:
            publish_event(tenant, "review_required", review)
        try:
            notify_slack(text=text)
        except Exception:  # noqa: BLE001 - a notification never breaks a sync
            logger.warning("drift notification failed", exc_info=True)

    transaction.on_commit(publish)


def drift_message(connection: Connection, outcome: DriftOutcome) -> str:
    """A short Slack text: what changed, what was repaired, what needs a human (no secrets)."""
    lines = [f"Schema drift on {connection.name} / {outcome.source_object}: {len(outcome.events)} change(s)"]
    for e in outcome.events[:10]:
        change = f"{e['field']} → {e['new_field']}" if e["new_field"] else e["field"]
        status = {"applied": "repaired automatically", "pending": "needs review", "suppressed": "rejected before"}.get(
            e["status"], e["status"]
        )
        lines.append(f"• {e['kind']} {change}: {status} ({e['confidence']:.2f})")
    if outcome.queued:
        lines.append(f"{outcome.queued} change(s) need a human: {review_url(connection)}")
    if outcome.frozen:
        lines.append("Sync stopped: the connection's drift policy is freeze.")
    return "\n".join(lines)


def review_url(connection: Connection) -> str:
    tenant = current_tenant()
    base = settings.TENANT_BASE_DOMAIN
    scheme = "http" if base == "localhost" or base.endswith(".localhost") else "https"
    return f"{scheme}://{tenant.slug}.{base}/admin/aam/reviewitem/?status__exact=pending"
