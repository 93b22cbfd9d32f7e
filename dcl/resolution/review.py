"""What a clustering run hands to people: the pairs it was unsure of (review items) and the unified
ids that stopped naming an entity (redirects). The matching engine calls `review_pairs_record` and
`redirects_record` after each run, in the tenant; both touch PostgreSQL only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import Count, F
from django.utils import timezone

from ..models import MatchDecision, MatchReview, UnifiedIdRedirect
from .chart import finite
from .records import Record, ordered

WATERFALL_ROWS = 64  # comparison rows kept per item (a model has a dozen; more is not a waterfall)


@dataclass(frozen=True)
class ReviewPair:
    """A pair the model scored between the review floor and the threshold.

    `waterfall`: [{"comparison": "first_name", "level": "Jaro-Winkler >= 0.92", "bayes_factor": 12.3,
    "log2_bayes_factor": 3.62, "left": "jon", "right": "john"}, ...], a "prior" row included (Splink's
    waterfall chart data of the pair)."""

    left: Record
    right: Record
    probability: float
    match_weight: float
    waterfall: list[dict] = field(default_factory=list)
    left_unified_id: str | None = None
    right_unified_id: str | None = None


def _waterfall(rows, swapped: bool) -> list[dict]:
    """The rows as stored: JSON-safe numbers, and left/right swapped with the pair."""
    out = []
    for row in (rows or [])[:WATERFALL_ROWS]:
        if not isinstance(row, dict):
            continue
        item = {k: row.get(k) for k in ("comparison", "level", "left", "right")}
        item = {k: (None if v is None else str(v)[:200]) for k, v in item.items()}
        item["bayes_factor"] = finite(row.get("bayes_factor"))
        item["log2_bayes_factor"] = finite(row.get("log2_bayes_factor"))
        if swapped:
            item["left"], item["right"] = item["right"], item["left"]
        out.append(item)
    return out


def _values(entity: str, pair: ReviewPair) -> dict:
    left, right, swapped = ordered(tuple(pair.left), tuple(pair.right))
    lu, ru = pair.left_unified_id or "", pair.right_unified_id or ""
    return {
        "entity": entity, "left_connection_id": int(left[0]), "left_source_id": str(left[1]),
        "right_connection_id": int(right[0]), "right_source_id": str(right[1]),
        "probability": min(1.0, max(0.0, finite(pair.probability))), "match_weight": finite(pair.match_weight),
        "waterfall": _waterfall(pair.waterfall, swapped),
        "left_unified_id": ru if swapped else lu, "right_unified_id": lu if swapped else ru,
    }


def _key(v) -> tuple:
    return (v["left_connection_id"], v["left_source_id"], v["right_connection_id"], v["right_source_id"])


def review_pairs_record(entity: str, pairs: list[ReviewPair]) -> dict:
    """Bring the entity's review items in line with one clustering run.

    A pair new to review becomes a pending item; a pending (or obsolete) item the run proposes again
    gets the run's scores (and is pending again); a pending item the run does not propose becomes
    obsolete. Decided items are left alone, and a pair with a decision (from a merge, a split, the
    API) is never opened: people already said. Returns {"created", "updated", "obsoleted"}."""
    wanted: dict[tuple, dict] = {}
    for pair in pairs:
        values = _values(entity, pair)
        if (values["left_connection_id"], values["left_source_id"]) != (values["right_connection_id"],
                                                                         values["right_source_id"]):
            wanted[_key(values)] = values
    decided = set(MatchDecision.objects.filter(entity=entity).values_list(
        "left_connection_id", "left_source_id", "right_connection_id", "right_source_id"))
    created = updated = 0
    with transaction.atomic():
        existing = {(r.left_connection_id, r.left_source_id, r.right_connection_id, r.right_source_id): r
                    for r in MatchReview.objects.select_for_update().filter(entity=entity)}
        new, changed = [], []
        for key, values in wanted.items():
            item = existing.get(key)
            if item is None:
                if key not in decided:
                    new.append(MatchReview(**values))
                continue
            if item.status not in (MatchReview.Status.PENDING, MatchReview.Status.OBSOLETE) or key in decided:
                continue
            for name in ("probability", "match_weight", "waterfall", "left_unified_id", "right_unified_id"):
                setattr(item, name, values[name])
            item.status = MatchReview.Status.PENDING
            changed.append(item)
        MatchReview.objects.bulk_create(new, batch_size=2000)
        created = len(new)
        if changed:
            # bulk_update does not run auto_now: the time is set here
            now = timezone.now()
            for item in changed:
                item.updated_at = now
            MatchReview.objects.bulk_update(changed, ["probability", "match_weight", "waterfall", "left_unified_id",
                                                      "right_unified_id", "status", "updated_at"], batch_size=2000)
            updated = len(changed)
        stale = [r.pk for key, r in existing.items()
                 if r.status == MatchReview.Status.PENDING and (key not in wanted or key in decided)]
        obsoleted = 0
        for i in range(0, len(stale), 5000):
            obsoleted += MatchReview.objects.filter(pk__in=stale[i:i + 5000]).update(status=MatchReview.Status.OBSOLETE)
    return {"created": created, "updated": updated, "obsoleted": obsoleted}


def redirects_record(entity: str, moved: dict[str, str]) -> None:
    """Record that each old unified id of `moved` now answers with its new id. Chains are collapsed
    (a → b, then b → c makes a → c), and an id that names an entity again loses its redirect."""
    pairs = {str(old): str(new) for old, new in (moved or {}).items() if old and new and old != new}
    if not pairs:
        return

    def final(uid: str) -> str:
        seen = {uid}
        while uid in pairs and pairs[uid] not in seen:
            uid = pairs[uid]
            seen.add(uid)
        return uid

    targets = {old: final(old) for old in pairs}
    with transaction.atomic():
        # older redirects into an id that moved now point where it went
        for old, new in targets.items():
            UnifiedIdRedirect.objects.filter(entity=entity, new_id=old).update(new_id=new)
        live = set(targets.values())
        UnifiedIdRedirect.objects.filter(entity=entity, old_id__in=live).delete()
        for old, new in targets.items():
            if old == new:
                continue
            UnifiedIdRedirect.objects.update_or_create(entity=entity, old_id=old, defaults={"new_id": new})
        # a redirect that now points to itself (a → b → a) means nothing
        UnifiedIdRedirect.objects.filter(entity=entity, old_id=F("new_id")).delete()


# --- Reads for the pages and the API --------------------------------------------------------------


def review_list(*, status: str | None = "pending", entity: str | None = None):
    """Review items, most probable first per entity."""
    qs = MatchReview.objects.all()
    if status:
        qs = qs.filter(status=status)
    if entity:
        qs = qs.filter(entity=entity)
    return qs.order_by("entity", "-probability", "id")


def review_counts() -> dict[str, int]:
    """Pending review items per entity."""
    rows = (MatchReview.objects.filter(status=MatchReview.Status.PENDING).values("entity")
            .annotate(n=Count("id")).order_by("entity"))
    return {r["entity"]: r["n"] for r in rows}


def review_pending_total() -> int:
    return MatchReview.objects.filter(status=MatchReview.Status.PENDING).count()
