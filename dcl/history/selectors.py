"""Reads of the history (in the current tenant's schema): an entity's versions and a view as of a time."""

from __future__ import annotations

import re
from datetime import UTC, datetime, time

from django.db.models import Q, QuerySet
from django.utils.dateparse import parse_date, parse_datetime

from autonomos.core.errors import InvalidInput, NotFound

from ..models import EntityHistory
from .record import HISTORY_MODELS, tracked_columns

# What a unified id can be (`opp_` and 20 hex digits today); anything else is no entity of ours.
_UNIFIED_ID_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,200}$")


def history_model(entity: str) -> type[EntityHistory]:
    """The history model of `entity`; NotFound for an entity without history."""
    model = HISTORY_MODELS.get(entity)
    if model is None:
        raise NotFound(f"No history is kept for {entity!r}.", details={"entities": sorted(HISTORY_MODELS)})
    return model


def as_of_parse(text: str | None) -> datetime:
    """An `as_of` parameter as an aware datetime in UTC: an ISO 8601 date-time (without an offset it is
    UTC) or a date (its start, 00:00 UTC). InvalidInput for anything else."""
    if text is None or not text.strip():
        raise InvalidInput("as_of is required: an ISO 8601 date or date-time, such as 2026-01-31 or "
                           "2026-01-31T12:00:00Z.", details={"as_of": "required"})
    value = text.strip()
    try:
        at = parse_datetime(value)
        if at is None:
            day = parse_date(value)
            at = datetime.combine(day, time.min) if day is not None else None
        if at is not None:
            at = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
    except (ValueError, OverflowError):  # well formed but not a date (2026-02-30), or out of range
        at = None
    if at is None:
        hint = " (a '+' in a query string is a space: write the offset as %2B)" if " " in value else ""
        raise InvalidInput(f"as_of {value[:64]!r} is not an ISO 8601 date or date-time{hint}.",
                           details={"as_of": "invalid"})
    return at


def entity_versions(*, entity: str, unified_id: str) -> QuerySet:
    """The versions of one unified entity, newest first (rows as dicts); NotFound when it has none."""
    model = history_model(entity)
    rows = model.objects.filter(unified_id=unified_id)
    if not _UNIFIED_ID_RE.match(unified_id) or not rows.exists():
        raise NotFound(f"No {entity} {unified_id[:100]!r} in the history.")
    return rows.order_by("-version").values(*EntityHistory.BASE_FIELDS, *tracked_columns(entity))


def view_as_of(*, entity: str, at: datetime) -> QuerySet:
    """`entity`'s unified view as it was at `at`: the tracked columns and unified_id of every entity
    whose version then was not a deletion, ordered by unified_id (rows as dicts)."""
    model = history_model(entity)
    return (
        model.objects.filter(valid_from__lte=at, deleted=False)
        .filter(Q(valid_to__isnull=True) | Q(valid_to__gt=at))
        .order_by("unified_id")
        .values("unified_id", *tracked_columns(entity))
    )
