"""FinOps pilot over the unified cost (FOCUS) and cloud_resource views.

- Spend is `effective_cost` (FOCUS: amortized, after discounts) when a line has it, else
  `billed_cost`, else `list_cost`; lines with none are counted and left out.
- A line's day is its `charge_period_start` (UTC date).
- Anomalies: per service and day, the robust z-score of the day's usage spend against the median
  and median absolute deviation (MAD) of the trailing window (Iglewicz & Hoaglin: z = (x - median)
  / (1.4826 · MAD)). The scale never drops below 5% of the median, so a flat 100/day (MAD 0, or
  float noise) going to 200 is a jump and 101 is not. A day is flagged when |z| ≥ the threshold and
  the jump is at least the minimum delta (so cents do not page anyone). Only usage is judged: tax,
  purchases, credits and adjustments (FOCUS ChargeCategory) are lumpy by nature (taxes and fees
  land on the 1st of the month) and are counted in the totals but never called anomalies.
- Untagged spend: a line is tagged when it carries tags, or when the inventory's resource it
  belongs to does (billing exports often leave tags in columns the canonical `tags` does not get).
- Resources are joined to cost lines by id (`cost.resource_id` = `cloud_resource.id`, also matching
  the last segment of an ARN / path). Run rate = spend in the trailing window (ending on the last
  day with cost data) / days covered × 30.
- Savings rules, each named on the opportunity it produced:
  `stopped_but_billed` (100% of the run rate: storage, IPs, licences of something nobody runs),
  `idle_resource` (100%: unattached volumes, unassociated addresses, idle load balancers),
  `previous_generation` (10% of the run rate: current instance generations cost ~10% less for the
  same size, e.g. m4 → m6i).
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta

from . import PilotResult
from .values import day, money, num, pct, tags, text

STOPPED_STATUSES = {"stopped", "stopping", "terminated", "deallocated", "suspended", "shutdown", "shut down",
                    "inactive", "paused"}
IDLE_STATUSES = {"idle", "available", "unattached", "detached", "unused", "unassociated", "orphaned"}
PREVIOUS_GENERATION_FAMILIES = {"t1", "t2", "m1", "m2", "m3", "m4", "c1", "c3", "c4", "r3", "r4", "i2", "d2", "g2",
                                "g3", "p2", "x1", "cc2", "cr1", "hs1"}
PREVIOUS_GENERATION_SAVING = 0.10
FLAT_BASELINE_SCALE = 0.05
USAGE_CATEGORIES = {"", "usage"}
MAD_TO_SIGMA = 1.4826


@dataclass(frozen=True)
class FinOpsConfig:
    anomaly_window_days: int = 14
    anomaly_min_history_days: int = 7
    anomaly_z: float = 3.5
    anomaly_min_delta: float = 10.0
    window_days: int = 30
    max_listed: int = 50


@dataclass
class CostLine:
    day: date
    amount: float
    service: str
    account: str
    region: str
    resource_id: str
    tagged: bool
    currency: str
    usage: bool = True  # FOCUS ChargeCategory usage (or unknown): the only lines anomalies judge


def spend_of(row: Mapping) -> tuple[float | None, str]:
    for column in ("effective_cost", "billed_cost", "list_cost"):
        value = num(row.get(column))
        if value is not None:
            return value, column
    return None, ""


def cost_lines(rows: Iterable[Mapping]) -> tuple[list[CostLine], dict]:
    """Readable cost lines and what was left out (no amount / no day) and why."""
    lines, skipped_amount, skipped_day = [], 0, 0
    basis: dict[str, int] = defaultdict(int)
    for row in rows:
        amount, column = spend_of(row)
        when = day(row.get("charge_period_start")) or day(row.get("billing_period_start"))
        if amount is None:
            skipped_amount += 1
            continue
        if when is None:
            skipped_day += 1
            continue
        basis[column] += 1
        lines.append(CostLine(
            day=when, amount=amount,
            service=text(row.get("service_name")) or "(unknown service)",
            account=text(row.get("sub_account_id")) or text(row.get("billing_account_id")) or "(unknown account)",
            region=text(row.get("region_id")) or "(global)",
            resource_id=text(row.get("resource_id")),
            tagged=bool(tags(row.get("tags"))),
            currency=text(row.get("billing_currency")).upper(),
            usage=text(row.get("charge_category")).lower() in USAGE_CATEGORIES,
        ))
    return lines, {"no_amount": skipped_amount, "no_date": skipped_day, "basis": dict(basis)}


def spend_by(lines: Iterable[CostLine], key: str) -> list[dict]:
    """Total spend per value of `key` (service, account, region), largest first, with its share."""
    totals: dict[str, float] = defaultdict(float)
    for line in lines:
        totals[getattr(line, key)] += line.amount
    grand = sum(totals.values())
    return [{key: k, "amount": money(v), "share_pct": pct(v, grand)}
            for k, v in sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))]


def spend_by_day(lines: Iterable[CostLine]) -> list[dict]:
    totals: dict[date, float] = defaultdict(float)
    for line in lines:
        totals[line.day] += line.amount
    return [{"day": d.isoformat(), "amount": money(v)} for d, v in sorted(totals.items())]


def monthly(lines: Iterable[CostLine]) -> list[dict]:
    """Spend per calendar month, with how many distinct days had data (a partial month shows it)."""
    totals: dict[str, float] = defaultdict(float)
    days: dict[str, set] = defaultdict(set)
    for line in lines:
        key = line.day.strftime("%Y-%m")
        totals[key] += line.amount
        days[key].add(line.day)
    return [{"month": k, "amount": money(totals[k]), "days_with_data": len(days[k])} for k in sorted(totals)]


def month_over_month(lines: list[CostLine], limit: int) -> dict | None:
    """The last month with data against the same days of the month before, in total and per service.

    Like for like: when the last month is partial (data to the 21st), it is compared with the 1st to
    the 21st of the previous month, not with a whole month. The previous month's full total is
    reported beside it.
    """
    months = sorted({line.day.strftime("%Y-%m") for line in lines})
    if len(months) < 2:
        return None
    current, previous = months[-1], months[-2]
    through = max(line.day.day for line in lines if line.day.strftime("%Y-%m") == current)
    by_service: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    previous_full = 0.0
    for line in lines:
        key = line.day.strftime("%Y-%m")
        if key == current:
            by_service[line.service][0] += line.amount
        elif key == previous:
            previous_full += line.amount
            if line.day.day <= through:
                by_service[line.service][1] += line.amount
    cur_total = sum(v[0] for v in by_service.values())
    prev_total = sum(v[1] for v in by_service.values())
    services = [{"service": s, "amount": money(c), "previous": money(p), "change": money(c - p),
                 "change_pct": pct(c - p, p)} for s, (c, p) in by_service.items()]
    services.sort(key=lambda r: (-abs(r["change"]), r["service"]))
    return {"month": current, "previous_month": previous, "through_day": through, "amount": money(cur_total),
            "previous": money(prev_total), "previous_month_total": money(previous_full),
            "change": money(cur_total - prev_total), "change_pct": pct(cur_total - prev_total, prev_total),
            "by_service": services[:limit]}


def daily_series(lines: Iterable[CostLine]) -> dict[str, dict[date, float]]:
    """service → day → spend, every day from the service's first to its last day (missing days are 0)."""
    raw: dict[str, dict[date, float]] = defaultdict(lambda: defaultdict(float))
    for line in lines:
        raw[line.service][line.day] += line.amount
    series = {}
    for service, by_day in raw.items():
        first, last = min(by_day), max(by_day)
        series[service] = {first + timedelta(n): by_day.get(first + timedelta(n), 0.0)
                           for n in range((last - first).days + 1)}
    return series


def robust_z(value: float, window: list[float]) -> tuple[float, float, float]:
    """(z, baseline median, scale) of `value` against `window` (see module docstring)."""
    baseline = statistics.median(window)
    mad = statistics.median(abs(v - baseline) for v in window)
    scale = max(MAD_TO_SIGMA * mad, FLAT_BASELINE_SCALE * abs(baseline))
    if scale == 0:
        return (0.0 if value == baseline else float("inf")), baseline, 0.0
    return (value - baseline) / scale, baseline, scale


def anomalies(lines: Iterable[CostLine], config: FinOpsConfig) -> list[dict]:
    """Days whose spend for a service is far from that service's trailing baseline."""
    found = []
    for service, series in daily_series(line for line in lines if line.usage).items():
        days = sorted(series)
        for i, current in enumerate(days):
            window = [series[d] for d in days[max(0, i - config.anomaly_window_days): i]]
            if len(window) < config.anomaly_min_history_days:
                continue
            value = series[current]
            z, baseline, _ = robust_z(value, window)
            # A service that is usually off (median 0) has no daily baseline: monthly fees and
            # one-off purchases would all look like spikes.
            if baseline <= 0:
                continue
            delta = value - baseline
            if abs(z) < config.anomaly_z or abs(delta) < config.anomaly_min_delta:
                continue
            spike = delta > 0
            found.append({
                "service": service, "day": current.isoformat(), "amount": money(value),
                "baseline": money(baseline), "delta": money(delta), "change_pct": pct(delta, baseline),
                "z": round(z, 2) if z != float("inf") else None, "direction": "spike" if spike else "drop",
                "severity": ("high" if abs(z) >= 2 * config.anomaly_z else "medium") if spike else "low",
            })
    found.sort(key=lambda a: (-abs(a["delta"]), a["day"], a["service"]))
    return found


def _id_keys(resource_id: str) -> list[str]:
    """An id and its last ARN/path segment: 'arn:aws:ec2:…:instance/i-1' also matches 'i-1'."""
    rid = resource_id.strip().lower()
    if not rid:
        return []
    keys = [rid]
    tail = rid.replace(":", "/").rsplit("/", 1)[-1]
    if tail and tail != rid:
        keys.append(tail)
    return keys


def _family(instance_type: str) -> str:
    head = instance_type.strip().lower().split(".", 1)[0]
    return head if "." in instance_type else ""


def analyze(*, costs: Iterable[Mapping], resources: Iterable[Mapping] = (),
            config: FinOpsConfig | None = None) -> PilotResult:
    """All FinOps metrics and findings for one set of unified rows."""
    config = config or FinOpsConfig()
    lines, skipped = cost_lines(costs)
    resources = list(resources)
    if not lines:
        return PilotResult(metrics={"total_spend": 0.0, "cost_lines": 0, "skipped_lines": skipped,
                                    "resources": len(resources)}, findings=[])
    first_day = min(line.day for line in lines)
    last_day = max(line.day for line in lines)
    window_start = max(first_day, last_day - timedelta(days=config.window_days - 1))
    covered_days = (last_day - window_start).days + 1

    # Spend per resource in the trailing window, by exact id and by the id's last segment.
    by_id: dict[str, float] = defaultdict(float)
    by_tail: dict[str, float] = defaultdict(float)
    for line in lines:
        if line.resource_id and line.day >= window_start:
            keys = _id_keys(line.resource_id)
            by_id[keys[0]] += line.amount
            by_tail[keys[-1]] += line.amount

    def resource_window_spend(resource_id: str) -> float:
        keys = _id_keys(resource_id)
        if not keys:
            return 0.0
        # The exact id when cost lines use the same form; else the ARN/path tail both forms share.
        return by_id[keys[0]] if keys[0] in by_id else by_tail.get(keys[-1], 0.0)

    findings: list[dict] = []
    savings: list[dict] = []
    stopped, idle, untagged, previous_gen = [], [], [], []
    for row in resources:
        rid = text(row.get("id")) or text(row.get("unified_id"))
        status = text(row.get("status")).lower()
        spend = resource_window_spend(rid) if rid else 0.0
        run_rate = spend / covered_days * 30
        ref = {"entity": "cloud_resource", "unified_id": text(row.get("unified_id")) or None, "id": rid,
               "name": text(row.get("name")) or rid, "status": status or None,
               "service": text(row.get("service_name")) or None, "region": text(row.get("region_id")) or None,
               "owner": text(row.get("owner")) or None, "window_spend": money(spend),
               "monthly_run_rate": money(run_rate)}
        if status in STOPPED_STATUSES and spend > 0:
            stopped.append(ref)
            savings.append({"rule": "stopped_but_billed", "estimated_monthly": money(run_rate), "subject": ref,
                            "title": f"{ref['name']} is {status} but still billed {money(run_rate)}/month",
                            "action": "snapshot and release its storage, addresses and licences, or terminate it"})
        elif status in IDLE_STATUSES and spend > 0:
            idle.append(ref)
            savings.append({"rule": "idle_resource", "estimated_monthly": money(run_rate), "subject": ref,
                            "title": f"{ref['name']} is {status} (not in use) and costs {money(run_rate)}/month",
                            "action": "delete it or attach it to something that uses it"})
        elif (_family(text(row.get("instance_type"))) in PREVIOUS_GENERATION_FAMILIES and spend > 0
              and status not in STOPPED_STATUSES):
            estimate = run_rate * PREVIOUS_GENERATION_SAVING
            previous_gen.append(ref)
            savings.append({"rule": "previous_generation", "estimated_monthly": money(estimate), "subject": ref,
                            "title": f"{ref['name']} runs previous-generation {text(row.get('instance_type'))}",
                            "action": "move to the current generation of the same size"})
        if not tags(row.get("tags")):
            untagged.append(ref)
    savings.sort(key=lambda s: (-s["estimated_monthly"], s["rule"], s["subject"]["id"]))
    untagged.sort(key=lambda r: (-r["window_spend"], r["id"]))

    found_anomalies = anomalies(lines, config)
    total = sum(line.amount for line in lines)
    tagged_ids = {key for row in resources if tags(row.get("tags"))
                  for key in _id_keys(text(row.get("id")))[-1:]}
    untagged_spend = sum(line.amount for line in lines
                         if not line.tagged and not (line.resource_id and _id_keys(line.resource_id)[-1] in tagged_ids))
    currencies = sorted({line.currency for line in lines if line.currency})
    metrics = {
        "period": {"start": first_day.isoformat(), "end": last_day.isoformat(),
                   "days": (last_day - first_day).days + 1},
        "cost_lines": len(lines),
        "skipped_lines": skipped,
        "total_spend": money(total),
        "currencies": currencies,
        "spend_by_service": spend_by(lines, "service"),
        "spend_by_account": spend_by(lines, "account"),
        "spend_by_region": spend_by(lines, "region"),
        "spend_by_day": spend_by_day(lines),
        "monthly": monthly(lines),
        "month_over_month": month_over_month(lines, config.max_listed),
        "anomaly_count": len(found_anomalies),
        "window": {"start": window_start.isoformat(), "end": last_day.isoformat(), "days": covered_days},
        "resources": len(resources),
        "stopped_billed_count": len(stopped),
        "idle_count": len(idle),
        "previous_generation_count": len(previous_gen),
        "untagged_resource_count": len(untagged),
        "untagged_spend": money(untagged_spend),
        "untagged_spend_pct": pct(untagged_spend, total),
        "estimated_monthly_savings": money(sum(s["estimated_monthly"] for s in savings)),
        "savings_by_rule": {rule: money(sum(s["estimated_monthly"] for s in savings if s["rule"] == rule))
                            for rule in sorted({s["rule"] for s in savings})},
    }
    for a in found_anomalies[: config.max_listed]:
        findings.append({"kind": "anomaly", "severity": a["severity"],
                         "title": f"{a['service']} {a['direction']} on {a['day']}: {a['amount']} vs baseline "
                                  f"{a['baseline']} ({'+' if a['delta'] > 0 else ''}{a['delta']})", **a})
    for s in savings[: config.max_listed]:
        findings.append({"kind": "savings", "severity": "medium" if s["estimated_monthly"] >= 100 else "low", **s})
    for r in untagged[: config.max_listed]:
        findings.append({"kind": "untagged_resource", "severity": "low",
                         "title": f"{r['name']} has no tags (no owner, team or cost centre to charge)", "subject": r})
    if len(currencies) > 1:
        findings.append({"kind": "mixed_currencies", "severity": "medium",
                         "title": f"Costs are in {len(currencies)} currencies ({', '.join(currencies)}); "
                                  "totals add them without conversion"})
    return PilotResult(metrics=metrics, findings=findings)
