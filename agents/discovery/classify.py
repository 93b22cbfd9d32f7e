"""Risk classification of discovered assets, the same rules for built-in and external discovery.

- high: sensitive personal or secret data (national ids, tax ids, passports, payment cards, bank
  accounts, dates of birth, health data, credentials); or contact data (emails, phones, names,
  addresses) in an asset nobody owns or that has gone stale;
- medium: contact data; no owner; stale (not synced / seen in AOA_STALE_SOURCE_DAYS); a source in
  error or frozen; a cloud resource without tags; an asset that could not be scanned;
- low: anything else.
Every level comes with the reasons that produced it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime, timedelta

from ..pilots.values import tags as read_tags
from ..routing import ENTITY_DOMAIN, FINOPS, FINOPS_KINDS, FINOPS_SYSTEMS, REVOPS, REVOPS_KINDS
from .contracts import ClassifiedAsset, DiscoveredAsset

SENSITIVE_CLASSES = {"national_id", "tax_id", "passport", "payment_card", "bank_account", "date_of_birth", "health",
                     "credential"}
CONTACT_CLASSES = {"email", "phone", "person_name", "address", "ip_address"}

# Field-name patterns, matched against the snake_case form of the name.
NAME_PATTERNS: list[tuple[str, re.Pattern]] = [
    ("national_id", re.compile(r"(^|_)(ssn|social_security(_number)?|national_id|nin)($|_)")),
    ("tax_id", re.compile(r"(^|_)(tax_id|tin|vat_(no|number|id)|ein)($|_)")),
    ("passport", re.compile(r"passport")),
    ("payment_card", re.compile(r"(credit_card|card_number|cc_num(ber)?|(^|_)pan($|_)|cvv)")),
    ("bank_account", re.compile(r"(iban|bank_account|routing_number|sort_code|swift|bic_code)")),
    ("date_of_birth", re.compile(r"(birth|(^|_)dob($|_))")),
    ("health", re.compile(r"(diagnos|medical|health_|patient)")),
    ("credential", re.compile(r"(password|passwd|secret|api_key|access_token|private_key)")),
    ("email", re.compile(r"(^|_)e_?mail($|_)|email")),
    ("phone", re.compile(r"(phone|mobile|(^|_)fax($|_)|(^|_)tel($|_))")),
    ("person_name", re.compile(r"(^|_)(first|last|full|given|family|sur|middle)_?name($|_)")),
    ("address", re.compile(r"(street|(?<!mail_)(?<!ip_)address|postal_code|(^|_)zip(code)?($|_)|postcode)")),
    ("ip_address", re.compile(r"(^|_)ip(_address|_addr)?($|_)")),
]
EMAIL_VALUE = re.compile(r"^[^@\s]+@[^@\s]+\.[a-z]{2,}$", re.I)
SSN_VALUE = re.compile(r"^\d{3}-\d{2}-\d{4}$")
CARD_VALUE = re.compile(r"^(?:\d[ -]?){13,19}$")
CLOUD_ASSET_TYPES = {"cloud_resource", "instance", "vm", "volume", "bucket", "database_instance"}
BAD_STATUSES = {"error", "frozen", "failed", "unreachable"}


def snake(name: str) -> str:
    """'BirthDate' → 'birth_date'; 'hs_email' stays; 'Email__c' → 'email__c'."""
    s = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name.strip())
    return re.sub(r"[^a-z0-9_]+", "_", s.lower())


def _luhn(digits: str) -> bool:
    total, parity = 0, len(digits) % 2
    for i, ch in enumerate(digits):
        d = int(ch)
        if i % 2 == parity:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def classes_of_field(name: str, samples: Iterable = ()) -> set[str]:
    """Data classes a field holds, from its name and (when given) its sample values."""
    found = {cls for cls, pattern in NAME_PATTERNS if pattern.search(snake(name))}
    for value in samples:
        if not isinstance(value, str):
            continue
        v = value.strip()
        if EMAIL_VALUE.match(v):
            found.add("email")
        elif SSN_VALUE.match(v):
            found.add("national_id")
        elif CARD_VALUE.match(v):
            digits = re.sub(r"\D", "", v)
            if 13 <= len(digits) <= 19 and _luhn(digits):
                found.add("payment_card")
    return found


def domain_of(asset: DiscoveredAsset) -> str | None:
    """Which pilot an asset is relevant to (the route given, its entity, its type, its source system)."""
    if asset.attributes.get("domain") in (REVOPS, FINOPS):
        return asset.attributes["domain"]
    if asset.entity in ENTITY_DOMAIN:
        return ENTITY_DOMAIN[asset.entity]
    if asset.asset_type in CLOUD_ASSET_TYPES or asset.asset_type == "cost":
        return FINOPS
    source = asset.source.lower()
    if source in REVOPS_KINDS:
        return REVOPS
    if source in FINOPS_KINDS or source in FINOPS_SYSTEMS:
        return FINOPS
    return None


def classify(asset: DiscoveredAsset, *, now: datetime, stale_days: int) -> ClassifiedAsset:
    """The asset with its risk level, the reasons, and its agent domain."""
    classes = {c.lower() for c in asset.data_classes}
    by_field: dict[str, list[str]] = {}
    for field_name in asset.fields:
        for cls in classes_of_field(field_name):
            by_field.setdefault(cls, []).append(field_name)
    classes |= set(by_field)
    sensitive = sorted(classes & SENSITIVE_CLASSES)
    contact = sorted(classes & CONTACT_CLASSES)

    def where(cls: str) -> str:
        names = by_field.get(cls)
        return f"{cls} ({', '.join(names[:3])})" if names else cls

    reasons: list[str] = []
    medium = False
    high = False
    if sensitive:
        high = True
        reasons.append("holds sensitive data: " + ", ".join(where(c) for c in sensitive))
    if contact:
        medium = True
        reasons.append("holds personal contact data: " + ", ".join(where(c) for c in contact))
    ownerless = not asset.owner
    if ownerless and asset.asset_type != "field":
        medium = True
        reasons.append("no owner recorded")
    stale_since = None
    if asset.attributes.get("never_synced"):
        medium = True
        reasons.append("never synced")
    elif asset.last_seen is not None:
        age = now - asset.last_seen
        if age > timedelta(days=stale_days):
            stale_since = age.days
            medium = True
            reasons.append(f"stale: last synced or seen {age.days} days ago")
    status = str(asset.attributes.get("status") or "").lower()
    if asset.attributes.get("health") == "failed":  # a connection's health (connectors/health.py)
        medium = True
        reasons.append(f"source failed: {str(asset.attributes.get('health_reason') or '')[:200]}")
    elif status in BAD_STATUSES:
        medium = True
        reasons.append(f"source status is {status}")
    if asset.attributes.get("scan_error"):
        medium = True
        reasons.append(f"could not be scanned: {str(asset.attributes['scan_error'])[:200]}")
    if asset.asset_type in CLOUD_ASSET_TYPES and not read_tags(asset.tags):
        medium = True
        reasons.append("cloud resource without tags (no owner, team or cost centre)")
    if contact and (ownerless or stale_since is not None):
        high = True
        reasons.append("personal data in an unowned or stale asset")
    risk = "high" if high else "medium" if medium else "low"
    if not reasons:
        reasons.append("no personal data, owned and current")
    data = asset.model_dump()
    data["data_classes"] = sorted(classes)
    return ClassifiedAsset(**data, risk=risk, reasons=reasons, domain=domain_of(asset))
