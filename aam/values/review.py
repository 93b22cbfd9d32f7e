"""A person decides what a source value means (docs/adr/0014-canonical-values.md).

`value_decide(value_map=, canonical=, user=, note=)` sets the value map's canonical value (the
proposal, another canonical value, or None: "no canonical value applies"), teaches the tenant's
memory (per vendor and field: the next connection of that vendor maps the value the same way),
closes its review item and value-drift event, and asks the views to re-materialize ONLY the rows
that carry that value. The views are the DCL's (the layer above): it registers the function that
does it (`register_value_applier`, dcl/apps.py), as connection panels are registered.

Who may decide is the caller's check (operator or admin: the dashboard page and the API declare
it, the admin checks the role); this service is what they all call.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from aam.models import DriftEvent, ReviewItem, ValueMap, ValueMemory
from aam.models.values import raw_hash
from autonomos.core.events import publish_event
from autonomos.core.tenancy import current_tenant

from .vocab import NotCanonical, canonical_text

logger = logging.getLogger(__name__)

# The DCL's function that updates the view rows carrying a value: (tenant, [value maps]) -> {entity: rows}.
_appliers: list[Callable[..., dict]] = []


def register_value_applier(fn: Callable[..., dict]) -> None:
    if fn not in _appliers:
        _appliers.append(fn)


def _username(user) -> str:
    return user.get_username() if user is not None and getattr(user, "pk", None) else ""


def value_decide(*, value_map: ValueMap, canonical: Any = None, no_value: bool = False, user=None,
                 note: str = "") -> dict[str, Any]:
    """Decide a value: `canonical` (a value of the field's value set) or `no_value=True` (no canonical
    value applies: a placeholder or a meaningless value). Raises ValidationError for a value that is
    not canonical. Returns the outcome: {"canonical", "rows_updated": {entity: rows}, "memory": bool}."""
    if no_value and canonical not in (None, ""):
        raise ValidationError({"canonical": "choose a canonical value or 'no value', not both"})
    if not no_value:
        if canonical in (None, ""):
            raise ValidationError({"canonical": "choose a canonical value (or 'no value')"})
        try:
            canonical = canonical_text(value_map.entity, value_map.field, canonical)
        except NotCanonical as exc:
            raise ValidationError({"canonical": str(exc)}) from None
    else:
        canonical = None
    tenant = current_tenant()
    who = _username(user)
    now = timezone.now()
    with transaction.atomic():
        vm = ValueMap.objects.select_for_update().select_related("connection").get(pk=value_map.pk)
        vm.canonical = canonical
        vm.status = ValueMap.Status.NONE if canonical is None else ValueMap.Status.MAPPED
        vm.reviewed_by, vm.reviewed_at = who, now
        vm.confidence = 1.0
        vm.save(update_fields=["canonical", "status", "reviewed_by", "reviewed_at", "confidence"])
        memory, _ = ValueMemory.objects.select_for_update().get_or_create(
            vendor=vm.vendor, entity=vm.entity, field=vm.field, raw_hash=raw_hash(vm.raw_key),
            defaults={"raw_key": vm.raw_key, "canonical": canonical, "decided_by": who},
        )
        if memory.canonical != canonical or memory.decided_by != who:
            memory.canonical, memory.decided_by = canonical, who
            memory.save()
        if vm.review_item_id is not None:
            ReviewItem.objects.filter(pk=vm.review_item_id, status__in=[ReviewItem.Status.PENDING,
                                                                        ReviewItem.Status.FLAGGED]).update(
                status=ReviewItem.Status.APPROVED if canonical is not None else ReviewItem.Status.REJECTED,
                decided_at=now, decided_by=user if getattr(user, "pk", None) else None, note=note[:5000])
            DriftEvent.objects.filter(review_item_id=vm.review_item_id).exclude(
                status__in=[DriftEvent.Status.APPLIED]).update(
                status=DriftEvent.Status.APPROVED if canonical is not None else DriftEvent.Status.REJECTED,
                resolved_at=now)
    rows = value_maps_apply(tenant=tenant, value_maps=[vm])
    outcome = {"canonical": canonical, "rows_updated": rows, "memory": True}
    transaction.on_commit(lambda: publish_event(tenant, "value_decided", {
        "value_map_id": vm.pk, "entity": vm.entity, "field": vm.field, "canonical": canonical,
        "rows_updated": rows}))
    return outcome


def value_maps_apply(*, tenant, value_maps: list[ValueMap]) -> dict[str, int]:
    """Ask the views to update the rows carrying these values ({entity: rows updated}). A view that
    cannot be updated now (its writer is busy) is brought up to date by the next sync."""
    rows: dict[str, int] = {}
    for fn in _appliers:
        try:
            for entity, n in (fn(tenant=tenant, value_maps=value_maps) or {}).items():
                rows[entity] = rows.get(entity, 0) + int(n)
        except Exception:  # noqa: BLE001 - the decision stands; the next materialization applies it
            logger.warning("could not update the views for %d value map(s) now", len(value_maps), exc_info=True)
    return rows


def value_review_decide(*, item: ReviewItem, verdict: str, user=None, note: str = "",
                        canonical: str | None = None) -> dict[str, Any]:
    """The review queue's decision on a `value` item (aam.drift.review.review_decide calls this):
    approve = the proposal (or `canonical`, the reviewer's choice), reject = no canonical value."""
    proposal = item.proposal if isinstance(item.proposal, dict) else {}
    vm = ValueMap.objects.filter(pk=proposal.get("value_map_id")).first()
    if vm is None:
        raise ValidationError({"decision": "the value this item was about is gone (its connection was deleted)"})
    if verdict == "approved":
        chosen = canonical if canonical not in (None, "") else proposal.get("canonical")
        if chosen in (None, ""):
            raise ValidationError({"canonical_field": "there is no proposal: choose a canonical value"})
        return value_decide(value_map=vm, canonical=chosen, user=user, note=note)
    return value_decide(value_map=vm, no_value=True, user=user, note=note)
