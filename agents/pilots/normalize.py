"""Findings of runs stored before findings carried their currency, action, records and period,
brought to the shape the pilots write now when they are read (the agents page, the API).

A stored run is never rewritten: this runs on the way out, and is idempotent, so findings already
in the current shape come back as they are (with the same `id`). What it does to an old finding:
- an anomaly's consecutive days of one service and direction become one finding with `from` / `to`
  (`finops.anomaly_periods`, the same merge the pilot does), titled with the currency;
- `currency` is the run's reporting currency (its metrics name it);
- savings titles and at-risk reasons write their amounts with that currency;
- `action` is the one its kind and data give (`findings.action_for`);
- `records` is the finding's subject when that names a unified row (a deal, a resource). Old
  anomalies did not keep their cost lines: they have no records (a new run has them).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from .findings import action_for, finding_id, records_ref
from .finops import IDLE_STATUSES, VOLUME_IDLE_STATUSES, anomaly_finding, anomaly_periods, savings_title
from .values import num, text

RECORD_ENTITIES = ("opportunity", "cloud_resource", "cost", "account")
_LARGE_DEAL = re.compile(r"^large deal \(([\d,.]+)\)")


def _legacy(f: dict, currency: str | None) -> dict:
    """An old finding (no `currency` key) with its amounts, action and records as written now."""
    f["currency"] = currency
    subject = f.get("subject") or {}
    if f.get("kind") == "savings" and subject.get("name") and num(f.get("estimated_monthly")) is not None:
        status = text(subject.get("status"))
        state = status if f.get("rule") == "stopped_but_billed" or status in IDLE_STATUSES | VOLUME_IDLE_STATUSES \
            else "idle"
        instance_type = text(f.get("title")).rsplit(" ", 1)[-1] if f.get("rule") == "previous_generation" else ""
        f["title"] = savings_title(str(f.get("rule")), subject, num(f["estimated_monthly"]), currency, state=state,
                                   instance_type=instance_type)
    if f.get("kind") == "at_risk_deal" and currency:
        f["reasons"] = [_LARGE_DEAL.sub(lambda m: f"large deal ({m.group(1)} {currency})", str(r))
                        for r in f.get("reasons") or ()]
    f["action"] = action_for(f)
    return f


def findings_normalize(findings: Iterable, *, currency: str | None = None) -> list[dict]:
    """Findings as the pilots write them now, from any stored run (see the module docstring);
    `currency` is the run's reporting currency."""
    out: list[dict] = []
    days: list[dict] = []
    for found in findings or ():
        f = dict(found) if isinstance(found, Mapping) else {"kind": "note", "title": str(found)}
        if f.get("kind") == "anomaly" and f.get("day") and not f.get("from"):
            days.append(f)
        else:
            out.append(f if "currency" in f else _legacy(f, currency))
    if days:
        merged = [anomaly_finding(p, currency) for p in anomaly_periods(days)]
        at = next((i for i, f in enumerate(out) if f.get("kind") != "anomaly"), len(out))
        out[at:at] = merged
    for f in out:
        subject = f.get("subject") or {}
        if not f.get("records") and subject.get("entity") in RECORD_ENTITIES:
            ref = records_ref(subject["entity"], [subject.get("unified_id")])
            if ref is not None:
                f["records"] = ref
        if not text(f.get("action")):
            f["action"] = action_for(f)
        f.setdefault("id", finding_id(f))
    return out
