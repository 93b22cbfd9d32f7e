"""FinOps pilot over the unified cost (FOCUS) and cloud_resource views.

- Spend is in the tenant's reporting currency (ADR 0015): `effective_cost_reporting` (FOCUS:
  amortized, after discounts) when a line has it, else `billed_cost_reporting`, each converted at the
  charge period start's rate. A line with a cost but no converted cost (no rate, no currency...: the
  view's `fx_missing`) is left out of every sum, and the metrics and a finding say how many lines and
  how much in which currency; lines with no cost at all are counted and left out.
- Categories are the FOCUS ones, canonical: spend by `service_category` (Compute, Storage, ...) and
  `charge_category` (Usage, Purchase, Tax, Credit, Adjustment); a value awaiting review is grouped as
  pending. `service_name` (the provider's own service) stays the detail below them.
- A line's day is its `charge_period_start` (UTC date).
- Anomalies: per service and day, the robust z-score of the day's usage spend against the median
  and median absolute deviation (MAD) of the trailing window (Iglewicz & Hoaglin: z = (x - median)
  / (1.4826 · MAD)). The scale never drops below 5% of the median, so a flat 100/day (MAD 0, or
  float noise) going to 200 is a jump and 101 is not. A day is flagged when |z| ≥ the threshold and
  the jump is at least the minimum delta (so cents do not page anyone). Only usage is judged: tax,
  purchases, credits and adjustments (FOCUS ChargeCategory) are lumpy by nature (taxes and fees
  land on the 1st of the month) and are counted in the totals but never called anomalies.
  Flagged days of one service in the same direction that follow each other are one finding, a
  period with `from` / `to` (`anomaly_periods`): a spike that lasts three days is one spike, not three.
  Its records are the usage lines of that service on those days; its drivers are the resources whose
  spend moved most against their own median day of the same trailing window.
- Untagged spend: a line is tagged when it carries tags of its own (the CUR's `resourceTags/*`
  columns are collected into the line's `tags` at ingest), else when the inventory's resource it
  belongs to has tags (exports without tag columns).
- Resources are joined to cost lines by id (`cost.resource_id` = `cloud_resource.id`, also matching
  the last segment of an ARN / path). Run rate = spend in the trailing window (ending on the last
  day with cost data) / days covered × 30.
- Still billed: a stopped or terminated resource stops costing what running cost (a terminated one
  everything); what it still costs is its spend since the last day it cost more than it does now,
  and only when it still costs something in the last `recent_days` days of data. A GPU burst that
  ended at termination two weeks ago is not "still billed" (the burst is reported as an anomaly);
  a stopped instance whose own id keeps billing storage is. Idle resources count the same way.
- Idle: an unattached volume or disk (`available` is idle only for a volume: a database, NAT
  gateway or load balancer that is `available` is up and serving), a resource whose status says
  idle / unattached / unassociated, and an address billed as idle (AWS UsageType `IdleAddress`,
  found in the line's description or SKU), listed from the cost lines even when the inventory does
  not have it.
- Savings rules, each named on the opportunity it produced:
  `stopped_but_billed` (100% of what it is still billed: storage, IPs, licences of something stopped
  or terminated), `idle_resource` (100%: unattached volumes, idle addresses, idle load balancers),
  `previous_generation` (10% of the run rate: current instance generations cost ~10% less for the
  same size, e.g. m4 → m6i).
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta

from . import PilotResult
from .findings import SEVERITY_RANK, records_ref, unconverted_finding, with_action
from .values import day, money, money_text, num, pct, tags, text

STOPPED_STATUSES = {"stopped", "stopping", "deallocated", "suspended", "shutdown", "shut down", "inactive", "paused"}
TERMINATED_STATUSES = {"terminated", "shutting-down", "deleted", "deleting", "destroyed"}
IDLE_STATUSES = {"idle", "unattached", "detached", "unused", "unassociated", "orphaned"}
VOLUME_IDLE_STATUSES = {"available"}  # EBS: `available` = attached to nothing, `in-use` = attached
VOLUME_TYPE_MARKERS = ("volume", "disk")  # AWS::EC2::Volume, Microsoft.Compute/disks, compute#disk
IDLE_USAGE_MARKERS = ("idleaddress",)  # ElasticIP:IdleAddress, PublicIPv4:IdleAddress
STILL_BILLED_TOLERANCE = 0.10  # prorated storage varies a little from day to day
PREVIOUS_GENERATION_FAMILIES = {"t1", "t2", "m1", "m2", "m3", "m4", "c1", "c3", "c4", "r3", "r4", "i2", "d2", "g2",
                                "g3", "p2", "x1", "cc2", "cr1", "hs1"}
PREVIOUS_GENERATION_SAVING = 0.10
FLAT_BASELINE_SCALE = 0.05
USAGE_CATEGORY = "Usage"  # FOCUS ChargeCategory; a line whose category awaits review counts as usage
PENDING = "(pending review)"
SERVICE_CATEGORIES = ("AI and Machine Learning", "Analytics", "Business Applications", "Compute", "Databases",
                      "Developer Tools", "Multicloud", "Identity", "Integration", "Internet of Things",
                      "Management and Governance", "Media", "Migration", "Mobile", "Networking", "Security", "Storage",
                      "Web", "Other")
CHARGE_CATEGORIES = ("Usage", "Purchase", "Tax", "Credit", "Adjustment")
MAD_TO_SIGMA = 1.4826


@dataclass(frozen=True)
class FinOpsConfig:
    anomaly_window_days: int = 14
    anomaly_min_history_days: int = 7
    anomaly_z: float = 3.5
    anomaly_min_delta: float = 10.0
    window_days: int = 30
    recent_days: int = 3  # "still billed" = billed on at least one of the last days with data
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
    service_category: str = PENDING
    charge_category: str = PENDING
    usage: bool = True  # FOCUS ChargeCategory usage (or awaiting review): the only lines anomalies judge
    idle: bool = False  # billed for being idle (an address nothing uses)
    unified_id: str = ""  # the view row it came from
    count: int = 1  # cost lines it stands for (a row aggregated by PostgreSQL stands for many)
    inventory_tagged: bool = False  # untagged itself, but its resource has tags in the inventory


def spend_of(row: Mapping) -> tuple[float | None, str]:
    """(spend in the reporting currency, the column it came from), or (None, "")."""
    for column in ("effective_cost_reporting", "billed_cost_reporting"):
        value = num(row.get(column))
        if value is not None:
            return value, column
    return None, ""


def _canonical(value, allowed: tuple[str, ...]) -> str:
    value = text(value)
    return value if value in allowed else PENDING


def cost_lines(rows: Iterable[Mapping], unconverted_ids: list[str] | None = None) -> tuple[list[CostLine], dict]:
    """Readable cost lines and what was left out (no cost, not converted, no day) and why. The unified
    ids of the lines left out for want of a conversion are appended to `unconverted_ids` when given."""
    lines, skipped_amount, skipped_day = [], 0, 0
    basis: dict[str, int] = defaultdict(int)
    unconverted: dict[str, dict] = {}
    for row in rows:
        amount, column = spend_of(row)
        when = day(row.get("charge_period_start")) or day(row.get("billing_period_start"))
        n = int(row.get("line_count") or 1)
        if amount is None:
            source, _ = _source_cost(row)
            if source is None:
                skipped_amount += n
                continue
            currency = text(row.get("billing_currency"))
            g = unconverted.setdefault(currency, {"currency": currency or None, "count": 0, "amount": 0.0,
                                                  "reasons": defaultdict(int)})
            g["count"] += n
            g["amount"] += source
            g["reasons"][text(row.get("fx_missing")) or "not_converted"] += n
            if unconverted_ids is not None:
                unconverted_ids.append(text(row.get("unified_id")))
            continue
        if when is None:
            skipped_day += n
            continue
        for name, counted_lines in (row.get("basis") or {column: n}).items():
            basis[name] += counted_lines
        charge_category = _canonical(row.get("charge_category"), CHARGE_CATEGORIES)
        lines.append(CostLine(
            day=when, amount=amount,
            service=text(row.get("service_name")) or "(unknown service)",
            account=text(row.get("sub_account_id")) or text(row.get("billing_account_id")) or "(unknown account)",
            region=text(row.get("region_id")) or "(global)",
            resource_id=text(row.get("resource_id")),
            tagged=bool(tags(row.get("tags"))),
            currency=text(row.get("billing_currency")),
            service_category=_canonical(row.get("service_category"), SERVICE_CATEGORIES),
            charge_category=charge_category,
            usage=charge_category in (USAGE_CATEGORY, PENDING),
            idle=bool(row["idle"]) if "idle" in row else _idle_usage(row),
            unified_id=text(row.get("unified_id")),
            count=n,
            inventory_tagged=bool(row.get("inventory_tagged")),
        ))
    groups = sorted(unconverted.values(), key=lambda g: (-g["count"], g["currency"] or ""))
    for g in groups:
        g["amount"] = money(g["amount"])
        g["reasons"] = dict(sorted(g["reasons"].items()))
    return lines, {"no_amount": skipped_amount, "no_date": skipped_day, "basis": dict(basis),
                   "unconverted": {"count": sum(g["count"] for g in groups), "by_currency": groups}}


def _source_cost(row: Mapping) -> tuple[float | None, str]:
    """The line's own cost in its billing currency (effective, else billed)."""
    for column in ("effective_cost", "billed_cost"):
        value = num(row.get(column))
        if value is not None:
            return value, column
    return None, ""


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


def anomaly_periods(days: Iterable[Mapping]) -> list[dict]:
    """Flagged days (as `anomalies` gives them) of one service in one direction that follow each other,
    as one period each: `from`, `to`, `days`, the period's spend, baseline (the sum of the days'
    baselines: what it would have cost) and delta, the largest |z|, the highest severity, and the days
    themselves (`by_day`). Largest change first."""
    periods: list[dict] = []
    for a in sorted(days, key=lambda a: (a["service"], a["direction"], a["day"])):
        last = periods[-1] if periods else None
        if (last is not None and (last["service"], last["direction"]) == (a["service"], a["direction"])
                and date.fromisoformat(last["to"]) + timedelta(days=1) == date.fromisoformat(a["day"])):
            last["to"] = a["day"]
            last["by_day"].append(a)
        else:
            periods.append({"service": a["service"], "direction": a["direction"], "from": a["day"], "to": a["day"],
                            "by_day": [a]})
    for p in periods:
        by_day = p.pop("by_day")
        amount, baseline = sum(a["amount"] for a in by_day), sum(a["baseline"] for a in by_day)
        zs = [a["z"] for a in by_day if a.get("z") is not None]
        p.update({
            "days": len(by_day), "amount": money(amount), "baseline": money(baseline),
            "delta": money(amount - baseline), "change_pct": pct(amount - baseline, baseline),
            "z": max(zs, key=abs) if zs else None,
            "severity": min((a["severity"] for a in by_day), key=lambda s: SEVERITY_RANK.get(s, 3)),
            "by_day": [{k: a.get(k) for k in ("day", "amount", "baseline", "delta", "z")} for a in by_day],
        })
    periods.sort(key=lambda p: (-abs(p["delta"]), p["from"], p["service"]))
    return periods


def anomaly_title(period: Mapping, currency: str | None) -> str:
    head = (f"{period['service']} {period['direction']} on {period['from']}" if period["from"] == period["to"] else
            f"{period['service']} {period['direction']} from {period['from']} to {period['to']} "
            f"({period['days']} days)")
    expected = "a baseline of" if period["from"] == period["to"] else "an expected"
    return (f"{head}: {money_text(period['amount'], currency, cents=True)} against {expected} "
            f"{money_text(period['baseline'], currency, cents=True)} "
            f"({money_text(period['delta'], currency, signed=True, cents=True)})")


def anomaly_finding(period: Mapping, currency: str | None, *, records: dict | None = None,
                    drivers: list[dict] | None = None) -> dict:
    """The finding of one anomaly period (`anomaly_periods`), with its records and drivers when known."""
    finding = {"kind": "anomaly", "severity": period["severity"], "title": anomaly_title(period, currency),
               **period, "currency": currency}
    if records:
        finding["records"] = records
    if drivers:
        finding["drivers"] = drivers
    return with_action(finding)


def anomaly_drivers(lines: Iterable[CostLine], period: Mapping, config: FinOpsConfig, limit: int = 3) -> list[dict]:
    """The resources whose usage spend moved most in the period, in the period's direction, against
    their own median day of the trailing window (the days of data before the period): id, spend in
    the period and change, largest change first (at most `limit`; none when nothing moved that way)."""
    start, end = date.fromisoformat(period["from"]), date.fromisoformat(period["to"])
    window_start = start - timedelta(days=config.anomaly_window_days)
    in_period: dict[str, float] = defaultdict(float)
    before: dict[str, dict[date, float]] = defaultdict(lambda: defaultdict(float))
    first_day = end
    for line in lines:
        if line.service != period["service"] or not line.usage:
            continue
        first_day = min(first_day, line.day)
        if not line.resource_id:
            continue
        if start <= line.day <= end:
            in_period[line.resource_id] += line.amount
        elif window_start <= line.day < start:
            before[line.resource_id][line.day] += line.amount
    window_from = max(window_start, first_day)
    window = [window_from + timedelta(days=n) for n in range((start - window_from).days)]
    changes = {}
    for rid in set(in_period) | set(before):
        usual = statistics.median([before[rid].get(d, 0.0) for d in window]) if window else 0.0
        changes[rid] = in_period.get(rid, 0.0) - usual * period["days"]
    sign = 1 if period["direction"] == "spike" else -1
    moved = sorted(((rid, change) for rid, change in changes.items() if money(sign * change) > 0),
                   key=lambda m: (-sign * m[1], m[0]))
    return [{"resource_id": rid, "amount": money(in_period.get(rid, 0.0)), "delta": money(change)}
            for rid, change in moved[:limit]]


def anomaly_records(lines: Iterable[CostLine], period: Mapping) -> dict | None:
    """The usage lines of the period's service on its days, largest first."""
    start, end = date.fromisoformat(period["from"]), date.fromisoformat(period["to"])
    chosen = sorted((line for line in lines if line.service == period["service"] and line.usage
                     and start <= line.day <= end), key=lambda line: (-line.amount, line.unified_id))
    return records_ref("cost", (line.unified_id for line in chosen))


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


def _idle_usage(row: Mapping) -> bool:
    described = f"{text(row.get('charge_description'))} {text(row.get('sku_id'))}".lower()
    return any(marker in described for marker in IDLE_USAGE_MARKERS)


def _is_volume(row: Mapping, resource_id: str) -> bool:
    kind = f"{text(row.get('resource_type'))} {text(row.get('service_name'))}".lower()
    keys = _id_keys(resource_id)
    return any(marker in kind for marker in VOLUME_TYPE_MARKERS) or bool(keys and keys[-1].startswith("vol-"))


def still_billed(series: Mapping[date, float], *, last_day: date, recent_days: int) -> tuple[float, date | None]:
    """(spend, first day) of what a stopped, terminated or idle resource is still billed in `series`
    (its spend per day in the window): nothing unless it has spend in the last `recent_days` days up to
    `last_day`; else the spend since the last day it cost more than its highest recent day (what it
    cost while it ran is not what stopping it saves)."""
    recent_start = last_day - timedelta(days=recent_days - 1)
    level = max((v for d, v in series.items() if d >= recent_start), default=0.0)
    if level <= 0:
        return 0.0, None
    ceiling = level * (1 + STILL_BILLED_TOLERANCE) + 0.005
    above = [d for d, v in series.items() if v > ceiling]
    start = max(above) + timedelta(days=1) if above else min(series)
    return sum(v for d, v in series.items() if d >= start), start


class _SpendByResource:
    """Spend per resource id and day, by exact id and by the id's last ARN/path segment."""

    def __init__(self) -> None:
        self.exact: dict[str, dict[date, float]] = defaultdict(lambda: defaultdict(float))
        self.tail: dict[str, dict[date, float]] = defaultdict(lambda: defaultdict(float))

    def add(self, line: CostLine) -> None:
        keys = _id_keys(line.resource_id)
        self.exact[keys[0]][line.day] += line.amount
        self.tail[keys[-1]][line.day] += line.amount

    def of(self, resource_id: str) -> dict[date, float]:
        keys = _id_keys(resource_id)
        if not keys:
            return {}
        # The exact id when cost lines use the same form; else the ARN/path tail both forms share.
        if keys[0] in self.exact:
            return self.exact[keys[0]]
        return self.tail.get(keys[-1], {})


def savings_title(rule: str, subject: Mapping, rate: float, currency: str | None, *, state: str = "",
                  instance_type: str = "") -> str:
    per_month = f"{money_text(rate, currency, cents=True)}/month"
    if rule == "stopped_but_billed":
        return f"{subject['name']} is {state} but still billed {per_month}"
    if rule == "idle_resource":
        return f"{subject['name']} is {state} (not in use) and costs {per_month}"
    return f"{subject['name']} runs previous-generation {instance_type} (about {per_month} to save)"


def saving_finding(rule: str, subject: dict, rate: float, currency: str | None, *, state: str = "",
                   instance_type: str = "", records: dict | None = None) -> dict:
    """A savings finding: what to do about `subject` and what it saves per month."""
    finding = {"kind": "savings", "severity": "medium" if money(rate) >= 100 else "low", "rule": rule,
               "estimated_monthly": money(rate), "subject": subject, "currency": currency,
               "title": savings_title(rule, subject, rate, currency, state=state, instance_type=instance_type)}
    records = records or records_ref(subject.get("entity") or "cloud_resource", [subject.get("unified_id")])
    if records:
        finding["records"] = records
    return with_action(finding)


def _family(instance_type: str) -> str:
    head = instance_type.strip().lower().split(".", 1)[0]
    return head if "." in instance_type else ""


def analyze(*, costs: Iterable[Mapping], resources: Iterable[Mapping] = (),
            config: FinOpsConfig | None = None, reporting_currency: str | None = None) -> PilotResult:
    """All FinOps metrics and findings for one set of unified rows. The amounts are in the rows'
    `reporting_currency` (the tenant's when they were materialized); `reporting_currency` names it
    when no row does."""
    config = config or FinOpsConfig()
    costs = list(costs)
    unconverted_ids: list[str] = []
    lines, skipped = cost_lines(costs, unconverted_ids)
    resources = list(resources)
    reporting = Counter(text(r.get("reporting_currency")) for r in costs if text(r.get("reporting_currency")))
    reporting_currency = reporting.most_common(1)[0][0] if reporting else reporting_currency
    unconverted = skipped["unconverted"]

    def left_out() -> dict:
        return unconverted_finding(unconverted, "cost lines", reporting_currency, entity="cost", ids=unconverted_ids)

    if not lines:
        findings = [left_out()] if unconverted["count"] else []
        return PilotResult(metrics={"total_spend": 0.0, "cost_lines": 0, "skipped_lines": skipped,
                                    "resources": len(resources), "reporting_currency": reporting_currency,
                                    "unconverted": unconverted}, findings=findings)
    first_day = min(line.day for line in lines)
    last_day = max(line.day for line in lines)
    window_start = max(first_day, last_day - timedelta(days=config.window_days - 1))
    covered_days = (last_day - window_start).days + 1

    # Spend per resource and day in the trailing window, by exact id and by the id's last segment;
    # lines billed for being idle also on their own.
    spend_days, idle_days = _SpendByResource(), _SpendByResource()
    idle_lines: dict[str, CostLine] = {}
    idle_line_ids: dict[str, list[str]] = defaultdict(list)
    for line in lines:
        if line.resource_id and line.day >= window_start:
            spend_days.add(line)
            if line.idle:
                idle_days.add(line)
                idle_lines[_id_keys(line.resource_id)[0]] = line
                idle_line_ids[_id_keys(line.resource_id)[0]].append(line.unified_id)

    def billed_now(series: Mapping[date, float]) -> dict | None:
        """What a resource with this spend is still billed, as its subject's fields (the monthly rate,
        the spend and its first day); None when nothing."""
        billed, since = still_billed(series, last_day=last_day, recent_days=config.recent_days)
        if billed <= 0:
            return None
        return {"monthly_run_rate": money(billed / covered_days * 30), "still_billed_spend": money(billed),
                "still_billed_since": since.isoformat()}

    findings: list[dict] = []
    savings: list[dict] = []
    stopped, idle, untagged, previous_gen = [], [], [], []
    seen: set[str] = set()
    for row in resources:
        rid = text(row.get("id")) or text(row.get("unified_id"))
        seen.update(_id_keys(rid))
        status = text(row.get("status")).lower()
        series = spend_days.of(rid)
        spend = sum(series.values())
        run_rate = spend / covered_days * 30
        ref = {"entity": "cloud_resource", "unified_id": text(row.get("unified_id")) or None, "id": rid,
               "name": text(row.get("name")) or rid, "status": status or None,
               "service": text(row.get("service_name")) or None, "region": text(row.get("region_id")) or None,
               "owner": text(row.get("owner")) or None, "window_spend": money(spend),
               "monthly_run_rate": money(run_rate)}
        idle_status = status in IDLE_STATUSES or (status in VOLUME_IDLE_STATUSES and _is_volume(row, rid))
        idle_series = idle_days.of(rid)
        if status in STOPPED_STATUSES or status in TERMINATED_STATUSES:
            billed = billed_now(series)
            if billed is not None:
                subject = {**ref, **billed}
                stopped.append(subject)
                savings.append(saving_finding("stopped_but_billed", subject, billed["monthly_run_rate"],
                                              reporting_currency, state=status))
        elif idle_status or idle_series:
            counted = series if idle_status else idle_series  # an address: its idle hours only
            billed = billed_now(counted)
            if billed is not None:
                subject = {**ref, "window_spend": money(sum(counted.values())), **billed}
                idle.append(subject)
                savings.append(saving_finding("idle_resource", subject, billed["monthly_run_rate"], reporting_currency,
                                              state=status if idle_status else "idle"))
        elif _family(text(row.get("instance_type"))) in PREVIOUS_GENERATION_FAMILIES and spend > 0:
            previous_gen.append(ref)
            savings.append(saving_finding("previous_generation", ref, run_rate * PREVIOUS_GENERATION_SAVING,
                                          reporting_currency, instance_type=text(row.get("instance_type"))))
        if not tags(row.get("tags")):
            untagged.append(ref)
    # Idle addresses the inventory does not list: the cost lines say enough.
    for key, line in sorted(idle_lines.items()):
        if key in seen or _id_keys(line.resource_id)[-1] in seen:
            continue
        series = idle_days.of(line.resource_id)
        billed = billed_now(series)
        if billed is not None:
            subject = {"entity": "cost", "unified_id": None, "id": line.resource_id, "name": line.resource_id,
                       "status": None, "service": line.service, "region": line.region, "owner": None,
                       "window_spend": money(sum(series.values())), **billed}
            idle.append(subject)
            savings.append(saving_finding("idle_resource", subject, billed["monthly_run_rate"], reporting_currency,
                                          state="idle", records=records_ref("cost", idle_line_ids[key])))
    savings.sort(key=lambda s: (-s["estimated_monthly"], s["rule"], s["subject"]["id"]))
    untagged.sort(key=lambda r: (-r["window_spend"], r["id"]))

    anomaly_days = anomalies(lines, config)
    periods = anomaly_periods(anomaly_days)
    total = sum(line.amount for line in lines)
    tagged_ids = {key for row in resources if tags(row.get("tags"))
                  for key in _id_keys(text(row.get("id")))[-1:]}

    def inventory_tagged(line: CostLine) -> bool:
        """A line without tags of its own whose resource has tags in the inventory."""
        if line.tagged:
            return False
        return line.inventory_tagged or (bool(line.resource_id) and _id_keys(line.resource_id)[-1] in tagged_ids)

    untagged_spend = sum(line.amount for line in lines if not line.tagged and not inventory_tagged(line))
    currencies = sorted({line.currency for line in lines if line.currency})
    metrics = {
        "period": {"start": first_day.isoformat(), "end": last_day.isoformat(),
                   "days": (last_day - first_day).days + 1},
        "cost_lines": sum(line.count for line in lines),
        "skipped_lines": skipped,
        "total_spend": money(total),
        "currencies": currencies,
        "reporting_currency": reporting_currency,
        "unconverted": unconverted,
        "spend_by_service_category": spend_by(lines, "service_category"),
        "spend_by_charge_category": spend_by(lines, "charge_category"),
        "spend_by_service": spend_by(lines, "service"),
        "spend_by_account": spend_by(lines, "account"),
        "spend_by_region": spend_by(lines, "region"),
        "spend_by_day": spend_by_day(lines),
        "monthly": monthly(lines),
        "month_over_month": month_over_month(lines, config.max_listed),
        "anomaly_count": len(periods),
        "anomaly_days": len(anomaly_days),
        "window": {"start": window_start.isoformat(), "end": last_day.isoformat(), "days": covered_days},
        "resources": len(resources),
        "stopped_billed_count": len(stopped),
        "idle_count": len(idle),
        "previous_generation_count": len(previous_gen),
        "untagged_resource_count": len(untagged),
        "untagged_spend": money(untagged_spend),
        "untagged_spend_pct": pct(untagged_spend, total),
        "tagged_lines": {"own_tags": sum(line.count for line in lines if line.tagged),
                         "inventory_tags": sum(line.count for line in lines if inventory_tagged(line))},
        "estimated_monthly_savings": money(sum(s["estimated_monthly"] for s in savings)),
        "savings_by_rule": {rule: money(sum(s["estimated_monthly"] for s in savings if s["rule"] == rule))
                            for rule in sorted({s["rule"] for s in savings})},
    }
    for p in periods[: config.max_listed]:
        findings.append(anomaly_finding(p, reporting_currency, records=anomaly_records(lines, p),
                                        drivers=anomaly_drivers(lines, p, config)))
    findings.extend(savings[: config.max_listed])
    for r in untagged[: config.max_listed]:
        finding = {"kind": "untagged_resource", "severity": "low", "currency": reporting_currency,
                   "title": f"{r['name']} has no tags (no owner, team or cost centre to charge)", "subject": r}
        records = records_ref("cloud_resource", [r.get("unified_id")])
        if records:
            finding["records"] = records
        findings.append(with_action(finding))
    if unconverted["count"]:
        findings.append(left_out())
    return PilotResult(metrics=metrics, findings=findings)
