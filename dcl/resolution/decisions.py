"""People's decisions on entity resolution: must-link / cannot-link constraints that always win over
the model, survive retraining and are exported with the tenant's data.

They come from a review item (approve → must_link, reject → cannot_link), a merge or a split of a
unified entity by hand, or the API. One decision per pair of records: a newer one on the same pair
replaces the older (`MatchDecision` is unique on entity + pair). Each write queues a
re-materialization of the entity, through the DCL's own task (`dcl.views_materialize`).

Every service here refuses with nothing written: a record deleted since (409), a review item that is
no longer pending (409), unknown or repeated ids, a split that moves all or none of the records
(400). Callers are in the tenant (a request, a task).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass

from django.db import connection, transaction
from django.db.models import Count, Max
from django.utils import timezone

from autonomos.core.errors import Conflict, InvalidInput, NotFound

from ..models import MatchDecision, MatchReview
from .records import (
    Record,
    merged_entity_check,
    ordered,
    record_parse,
    records_missing,
    records_text,
    redirect_target,
    row_records,
    unified_rows,
)

MAX_MERGE = 50  # unified entities merged at once
MAX_SPLIT_RECORDS = 1000  # records named in one split
MAX_SPLIT_PAIRS = 50_000  # cannot-link pairs one split may write (moved × remaining)
VIEWS_MATERIALIZE_TASK = "dcl.views_materialize"  # dcl/tasks.py, queued by name (dcl.tasks imports the services)

MUST_LINK = MatchDecision.Kind.MUST_LINK
CANNOT_LINK = MatchDecision.Kind.CANNOT_LINK


@dataclass(frozen=True)
class Constraint:
    """A decision as the matching engine reads it: `left` < `right`, each (connection_id, source_id)."""

    kind: str  # "must_link" | "cannot_link"
    left: Record
    right: Record


def constraints(entity: str) -> list[Constraint]:
    """Every decision of `entity` (in the current tenant), for the engine to apply over the model."""
    rows = MatchDecision.objects.filter(entity=entity).order_by("id").values_list(
        "kind", "left_connection_id", "left_source_id", "right_connection_id", "right_source_id")
    return [Constraint(kind, (lc, ls), (rc, rs)) for kind, lc, ls, rc, rs in rows.iterator(chunk_size=5000)]


def decisions_stamp(entity: str) -> str:
    """Changes whenever the entity's decisions do (a count and the newest time): the engine can keep it
    with a clustering and re-cluster when it differs, even when no source record changed. A deleted
    decision lowers the count."""
    agg = MatchDecision.objects.filter(entity=entity).aggregate(n=Count("id"), at=Max("created_at"))
    return f"{agg['n']}-{agg['at'].timestamp() if agg['at'] else 0}"


def own_domains() -> list[str]:
    """The tenant's own domains: its members' e-mail domains, free mail left out (in the current tenant).
    Entity resolution never links records by them (a rep's own address in customers' records)."""
    from tenants.members.models import Member

    from ..unify import FREE_MAIL

    emails = Member.objects.exclude(user__email="").values_list("user__email", flat=True)
    domains = {e.rsplit("@", 1)[1].strip().lower() for e in emails if "@" in e}
    return sorted(d for d in domains if d and d not in FREE_MAIL)


def _username(user) -> str:
    if user is None:
        return ""
    name = user.get_username() if hasattr(user, "get_username") else str(user)
    return str(name)[:150]


def rematerialize_request(entity: str, *, retrain: bool = False) -> None:
    """Queue the entity's re-materialization once the current transaction commits (at once outside
    one), through the DCL's own task; with `retrain`, its entity-resolution model is retrained and its
    records re-clustered whole (ADR 0028)."""
    from celery import current_app

    schema = connection.schema_name
    call = {"kwargs": {"entities": [entity], "retrain": [entity]}} if retrain else {"args": [[entity]]}
    transaction.on_commit(lambda: current_app.send_task(
        VIEWS_MATERIALIZE_TASK, **call, headers={"_schema_name": schema}))


def _write(entity: str, kind: str, pairs: Iterable[tuple[Record, Record]], *, origin: str, user, note: str = "",
           review: MatchReview | None = None) -> list[MatchDecision]:
    """Upsert one decision per pair (a decision on the same pair is replaced); returns them."""
    now = timezone.now()
    by_pair: dict[tuple[Record, Record], MatchDecision] = {}
    for a, b in pairs:
        left, right, _ = ordered(a, b)
        if left == right:
            continue
        by_pair[(left, right)] = MatchDecision(
            entity=entity, kind=kind, left_connection_id=left[0], left_source_id=left[1],
            right_connection_id=right[0], right_source_id=right[1], origin=origin, note=note[:2000],
            created_by=_username(user), created_at=now, review=review)
    if not by_pair:
        return []
    return MatchDecision.objects.bulk_create(
        list(by_pair.values()), batch_size=2000, update_conflicts=True,
        unique_fields=["entity", "left_connection_id", "left_source_id", "right_connection_id", "right_source_id"],
        update_fields=["kind", "origin", "note", "created_by", "created_at", "review"],
    )


def _require_live(entity: str, records: list[Record]) -> None:
    missing = records_missing(entity, records)
    if missing:
        raise Conflict(f"{len(missing)} of these records no longer exist{'s' if len(missing) == 1 else ''} "
                       f"(deleted since: {records_text(missing)}); nothing was changed.",
                       details={"missing": [f"{c}:{i}" for c, i in missing[:20]]})


# --- Review items -------------------------------------------------------------------------------


def decide_review(review_id, *, approve: bool, user) -> MatchDecision:
    """Approve (the two records are one entity: must_link) or reject (cannot_link) a pending review item."""
    try:
        pk = int(review_id)
    except (TypeError, ValueError):
        raise NotFound("No such review item.") from None
    with transaction.atomic():
        item = MatchReview.objects.select_for_update().filter(pk=pk).first()
        if item is None:
            raise NotFound("No such review item.")
        if item.status != MatchReview.Status.PENDING:
            why = {MatchReview.Status.OBSOLETE: "the model no longer proposes this pair"}.get(
                item.status, f"it was {item.status} by {item.decided_by or 'someone'}")
            raise Conflict(f"This review item is not pending: {why}.", details={"status": item.status})
        _require_live(item.entity, [item.left, item.right])
        kind = MUST_LINK if approve else CANNOT_LINK
        [decision] = _write(item.entity, kind, [(item.left, item.right)], origin=MatchDecision.Origin.REVIEW,
                            user=user, review=item)
        item.status = MatchReview.Status.APPROVED if approve else MatchReview.Status.REJECTED
        item.decided_by = _username(user)
        item.decided_at = timezone.now()
        item.save(update_fields=["status", "decided_by", "decided_at", "updated_at"])
        rematerialize_request(item.entity)
    return decision


# --- Merge and split by hand -----------------------------------------------------------------------


def _resolve(entity: str, unified_id) -> str:
    if not isinstance(unified_id, str) or not unified_id or len(unified_id) > 200 or "\x00" in unified_id:
        raise InvalidInput("A unified id is a non-empty text.", details={"unified_ids": str(unified_id)[:60]})
    return redirect_target(entity, unified_id) or unified_id


def merge(entity: str, unified_ids: list[str], *, user) -> list[MatchDecision]:
    """Make the unified entities `unified_ids` one: a must_link from the first entity's first source
    record to each other's. A cannot_link between records of two of them (an earlier split) would
    contradict it and is replaced by a must_link too."""
    merged_entity_check(entity)
    if not isinstance(unified_ids, list | tuple) or len(unified_ids) < 2:
        raise InvalidInput("Name at least two unified entities to merge.", details={"unified_ids": "2 or more ids"})
    if len(unified_ids) > MAX_MERGE:
        raise InvalidInput(f"At most {MAX_MERGE} entities can be merged at once.",
                           details={"unified_ids": f"{len(unified_ids)} given"})
    ids = [_resolve(entity, u) for u in unified_ids]
    if len(set(ids)) < len(ids):
        raise InvalidInput("An entity cannot be merged with itself.", details={"unified_ids": "repeated id"})
    rows = unified_rows(entity, ids)
    unknown = [u for u in ids if u not in rows]
    if unknown:
        raise InvalidInput(f"No {entity} with the id {', '.join(unknown[:5])}.", details={"unknown": unknown[:20]})
    groups = [row_records(rows[u]) for u in ids]
    if any(not g for g in groups):
        raise InvalidInput("An entity to merge lists no source records.")
    firsts = [g[0] for g in groups]
    with transaction.atomic():
        _require_live(entity, firsts)
        pairs = [(firsts[0], f) for f in firsts[1:]]
        # the earlier cannot-links between the groups (a split undone by this merge)
        group_of = {r: i for i, g in enumerate(groups) for r in g}
        cids = {c for c, _ in group_of}
        for d in MatchDecision.objects.filter(entity=entity, kind=CANNOT_LINK, left_connection_id__in=cids,
                                              right_connection_id__in=cids):
            a, b = (d.left_connection_id, d.left_source_id), (d.right_connection_id, d.right_source_id)
            if a in group_of and b in group_of and group_of[a] != group_of[b]:
                pairs.append((a, b))
        decisions = _write(entity, MUST_LINK, pairs, origin=MatchDecision.Origin.MERGE, user=user,
                           note=f"merge of {', '.join(ids)}")
        rematerialize_request(entity)
    return decisions


def split(entity: str, unified_id: str, records: list, *, user) -> list[MatchDecision]:
    """Move `records` (some of the entity's source records) out of the unified entity into a new one:
    a cannot_link between each moved and each remaining record, and a must_link chain on each side so
    that each side stays one entity (the moved ones together, the rest together)."""
    merged_entity_check(entity)
    uid = _resolve(entity, unified_id)
    if not isinstance(records, list | tuple) or not records:
        raise InvalidInput("Pick the source records to move to a new entity.", details={"records": "none given"})
    if len(records) > MAX_SPLIT_RECORDS:
        raise InvalidInput(f"At most {MAX_SPLIT_RECORDS} records can be moved in one split.",
                           details={"records": f"{len(records)} given"})
    moved = list(dict.fromkeys(record_parse(r) for r in records))
    row = unified_rows(entity, [uid]).get(uid)
    if row is None:
        raise InvalidInput(f"No {entity} with the id {uid}.", details={"unified_id": uid})
    members = row_records(row)
    strangers = [r for r in moved if r not in set(members)]
    if strangers:
        raise InvalidInput(f"{records_text(strangers)} {'is' if len(strangers) == 1 else 'are'} not a source record "
                           f"of {uid}.", details={"records": [f"{c}:{i}" for c, i in strangers[:20]]})
    remaining = [r for r in members if r not in set(moved)]
    if not remaining:
        raise InvalidInput("A split must leave at least one record where it is: this moves all of them.",
                           details={"records": "all"})
    if len(moved) * len(remaining) > MAX_SPLIT_PAIRS:
        raise InvalidInput(f"This split would write {len(moved) * len(remaining):,} decisions; at most "
                           f"{MAX_SPLIT_PAIRS:,} (move fewer records at a time).", details={"records": "too many"})
    with transaction.atomic():
        _require_live(entity, members)
        note = f"split of {uid}"
        decisions = _write(entity, CANNOT_LINK, itertools.product(moved, remaining),
                           origin=MatchDecision.Origin.SPLIT, user=user, note=note)
        chains = [(side[0], r) for side in (moved, remaining) for r in side[1:]]
        decisions += _write(entity, MUST_LINK, chains, origin=MatchDecision.Origin.SPLIT, user=user, note=note)
        rematerialize_request(entity)
    return decisions


# --- The API's own decisions -----------------------------------------------------------------------


def decision_create(*, entity: str, kind: str, left, right, user, note: str = "") -> MatchDecision:
    """A decision on two records named directly (the API): replaces any earlier one on the pair."""
    if kind not in MatchDecision.Kind.values:
        raise InvalidInput(f"kind is one of {', '.join(MatchDecision.Kind.values)}.", details={"kind": str(kind)[:40]})
    merged_entity_check(entity)
    a, b = record_parse(left, field="left"), record_parse(right, field="right")
    if a == b:
        raise InvalidInput("A decision links two different records.", details={"right": "same as left"})
    with transaction.atomic():
        _require_live(entity, [a, b])
        [decision] = _write(entity, kind, [(a, b)], origin=MatchDecision.Origin.API, user=user, note=note or "")
        rematerialize_request(entity)
    return decision


def decision_delete(*, decision_id) -> None:
    """Withdraw a decision: the model decides that pair again at the next materialization."""
    try:
        pk = int(decision_id)
    except (TypeError, ValueError):
        raise NotFound("No such decision.") from None
    with transaction.atomic():
        decision = MatchDecision.objects.select_for_update().filter(pk=pk).first()
        if decision is None:
            raise NotFound("No such decision.")
        entity = decision.entity
        decision.delete()
        rematerialize_request(entity)
