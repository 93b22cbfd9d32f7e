"""Discovery requests: send (external service or built-in scanner), classify, hand to the agents
and the review queue, and log every request in a DiscoveryLog."""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from dataclasses import dataclass, field

from django.conf import settings
from django.utils import timezone

from autonomos.core.events import publish_event
from autonomos.core.tenancy import current_tenant

from ..discovery.builtin import builtin_scan
from ..discovery.classify import classify
from ..discovery.client import DiscoveryError, external_discover
from ..discovery.contracts import ClassifiedAsset, ConnectionSummary, DiscoverContext, DiscoverRequest
from ..models import DiscoveryLog, Job

logger = logging.getLogger(__name__)

MAX_LOGGED_RESPONSE_CHARS = 2_000_000
LOGGED_ASSETS_WHEN_TRUNCATED = 200

# Words of a natural-language request and the filter each stands for (built-in discovery).
INTENT_WORDS = {
    "revops": {"revenue", "pipeline", "deal", "deals", "opportunity", "opportunities", "crm", "sales", "forecast",
               "customer", "customers", "salesforce", "hubspot", "dynamics"},
    "finops": {"cost", "costs", "spend", "spending", "cloud", "billing", "bill", "aws", "azure", "gcp", "resource",
               "resources", "savings", "finops", "instances"},
    "pii": {"pii", "personal", "sensitive", "gdpr", "privacy", "ccpa", "hipaa", "email", "emails", "phone", "ssn"},
    "stale": {"stale", "outdated", "abandoned", "unsynced"},
    "untagged": {"untagged", "tagging", "tags", "tag"},
    "ownerless": {"owner", "owners", "ownerless", "unowned", "orphan", "orphaned"},
    "risky": {"risk", "risky", "risks", "dangerous", "exposed", "exposure"},
}
DOMAIN_INTENTS = ("revops", "finops")
RISK_ORDER = {"low": 0, "medium": 1, "high": 2}


@dataclass
class DiscoveryOutcome:
    log: DiscoveryLog
    assets: list[ClassifiedAsset]
    summary: str = ""
    intents: list[str] = field(default_factory=list)
    agents_job: Job | None = None


def discovery_intents(query: str) -> list[str]:
    words = set(re.findall(r"[a-z0-9]+", query.lower()))
    return [intent for intent, vocabulary in INTENT_WORDS.items() if words & vocabulary]


def asset_matches(asset: ClassifiedAsset, intents: list[str]) -> bool:
    """Domain words widen to a domain (any of them); property words narrow (any of them)."""
    domains = [i for i in intents if i in DOMAIN_INTENTS]
    properties = [i for i in intents if i not in DOMAIN_INTENTS]
    if domains and asset.domain not in domains and not (asset.asset_type == "source" and asset.domain is None):
        return False
    if not properties:
        return True
    reasons = " ".join(asset.reasons)
    checks = {
        "pii": "personal" in reasons or "sensitive" in reasons,
        "stale": "stale" in reasons or "never synced" in reasons,
        "untagged": "without tags" in reasons,
        "ownerless": "no owner" in reasons,
        "risky": asset.risk in ("high", "medium"),
    }
    return any(checks.get(p, False) for p in properties)


def _context() -> DiscoverContext:
    from connectors.models import Connection

    return DiscoverContext(connections=[ConnectionSummary(id=c.pk, name=c.name, kind=c.kind, status=c.status)
                                        for c in Connection.objects.order_by("id")])


def _loggable(raw) -> dict:
    if not isinstance(raw, dict):
        return {"value": raw}
    text = json.dumps(raw, default=str)
    if len(text) <= MAX_LOGGED_RESPONSE_CHARS:
        return json.loads(text)
    assets = raw.get("assets") if isinstance(raw.get("assets"), list) else []
    return {"truncated": True, "assets_count": len(assets), "summary": str(raw.get("summary", ""))[:5000],
            "assets": json.loads(json.dumps(assets[:LOGGED_ASSETS_WHEN_TRUNCATED], default=str))}


def _already_reviewed(review_item_model, asset: ClassifiedAsset) -> bool:
    """An undecided item for the asset exists, or a person approved it at this risk or a higher one
    with no new kind of data since: rescans must not pile up duplicates, only report what got worse."""
    items = review_item_model.objects.filter(kind="asset", proposal__asset_id=asset.asset_id)
    if items.filter(status__in=["pending", "flagged"]).exists():  # still undecided
        return True
    approved = items.filter(status="approved").order_by("-decided_at", "-id").first()
    if approved is None:
        return False
    known = set((approved.evidence or {}).get("data_classes") or [])
    return RISK_ORDER.get(asset.risk, 0) <= RISK_ORDER.get(approved.risk, 0) and set(asset.data_classes) <= known


def _review_items_create(assets: list[ClassifiedAsset], log: DiscoveryLog) -> int:
    """An `asset` review item for each high or medium risk asset without one already pending."""
    from aam.models import ReviewItem
    from connectors.models import Connection

    created = 0
    tenant = current_tenant()
    connections = {pk: True for pk in Connection.objects.values_list("pk", flat=True)}
    for asset in assets:
        if asset.risk not in ("high", "medium"):
            continue
        if _already_reviewed(ReviewItem, asset):
            continue
        connection_id = asset.attributes.get("connection_id")
        item = ReviewItem(
            kind=ReviewItem.Kind.ASSET,
            title=f"{asset.risk.title()} risk {asset.asset_type}: {asset.name or asset.asset_id}"[:300],
            proposal={"asset_id": asset.asset_id, "name": asset.name, "asset_type": asset.asset_type,
                      "source": asset.source, "domain": asset.domain,
                      "action": "confirm an owner and how this asset is handled (approve = I own it)"},
            # The classification is rule-based, not a guess: the rules fire or they do not.
            confidence=1.0,
            risk=asset.risk,
            evidence={"reasons": asset.reasons, "data_classes": asset.data_classes, "owner": asset.owner,
                      "discovery_log_id": log.pk, "fields": asset.fields[:50]},
            connection_id=connection_id if isinstance(connection_id, int) and connections.get(connection_id) else None,
        )
        item.full_clean()
        item.save()
        created += 1
        publish_event(tenant, "review_required", {"review_item_id": item.pk, "kind": "asset", "risk": asset.risk})
    return created


def discovery_run(*, query: str = "", kind: str = "discover", user=None, run_agents: bool = False,
                  max_assets: int = 1000) -> DiscoveryOutcome:
    """Run one discovery request and log it.

    With AOD_BASE_URL set the external service is asked (it interprets the query); otherwise the
    built-in scanner runs and the query's words filter its assets. A scan turns high and medium
    risk assets into `asset` review items. With `run_agents`, the pilots whose domain the assets
    belong to are queued as an agents job. Raises DiscoveryError (after logging it) when the
    external service fails.
    """
    from .jobs import agents_job_start

    tenant = current_tenant()
    request = DiscoverRequest(request_id=str(uuid.uuid4()), tenant_id=str(tenant.tenant_id), kind=kind,
                              query=query, max_assets=max_assets, context=_context())
    backend = DiscoveryLog.Backend.EXTERNAL if settings.AOD_BASE_URL else DiscoveryLog.Backend.BUILTIN
    log = DiscoveryLog(kind=kind, backend=backend, query=query, request=request.model_dump(mode="json"),
                       requested_by=user if getattr(user, "is_authenticated", False) else None)
    started = time.monotonic()
    try:
        if backend == DiscoveryLog.Backend.EXTERNAL:
            response, raw = external_discover(request)
        else:
            response = builtin_scan(max_assets=max_assets)
            raw = response.model_dump(mode="json")
    except DiscoveryError as exc:
        log.status, log.error = DiscoveryLog.Status.ERROR, str(exc)[:2000]
        log.response = _loggable(exc.raw) if exc.raw else {}
        log.duration_ms = int((time.monotonic() - started) * 1000)
        log.full_clean()
        log.save()
        exc.log_id = log.pk
        raise
    now = timezone.now()
    assets = [classify(a, now=now, stale_days=settings.AOA_STALE_SOURCE_DAYS) for a in response.assets]
    intents = discovery_intents(query) if kind == "discover" else []
    if backend == DiscoveryLog.Backend.BUILTIN and intents:
        assets = [a for a in assets if asset_matches(a, intents)]
    assets = assets[:max_assets]

    handoff: dict = {}
    for asset in assets:
        if asset.domain:
            handoff.setdefault(asset.domain, []).append(asset.asset_id)
    log.response = _loggable(raw)
    log.assets_count = len(assets)
    log.duration_ms = int((time.monotonic() - started) * 1000)
    log.handed_to_agents = {"domains": {d: {"assets": len(ids), "asset_ids": ids[:100]} for d, ids in handoff.items()},
                            "agents_job_id": None}
    log.full_clean()
    log.save()
    if kind == "scan":
        log.review_items_created = _review_items_create(assets, log)
    agents_job = None
    if run_agents and handoff:
        agents_job = agents_job_start(agents=sorted(handoff), user=user)
        log.handed_to_agents["agents_job_id"] = agents_job.pk
    log.save(update_fields=["review_items_created", "handed_to_agents"])
    summary = response.summary or f"{len(assets)} assets"
    return DiscoveryOutcome(log=log, assets=assets, summary=summary, intents=intents, agents_job=agents_job)
