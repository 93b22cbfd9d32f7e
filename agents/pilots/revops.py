"""RevOps pilot: pipeline, forecast, win rate, deal size, cycle length, stale / overdue / at-risk
deals and the top accounts by open pipeline, over the unified opportunity and account views.

It reads the views' canonical fields only (ontology value sets, ADR 0015), never a vendor's codes:
- open / won / lost: `status` (open, won, lost). A deal whose status awaits review (NULL) is in no
  status-based figure; it is counted (`status_pending_count`) and reported.
- funnel: `stage_category` (qualify, develop, propose, negotiate, won, lost) and `forecast_category`
  (pipeline, best_case, commit, closed, omitted); the vendor's own `stage` only labels a deal.
- probability: the deal's canonical `probability` (a fraction in [0, 1]), else the default of its
  stage category, else 10%.
- money: `amount_reporting`, the amount in the tenant's reporting currency at the close date's rate.
  A deal with an amount but no converted amount (no rate, no currency...: the view's `fx_missing`)
  is left out of every sum, and the metrics and a finding say how many and how much in which
  currency.

A run over the published views computes the same figures in PostgreSQL (agents/services/revops_sql.py,
ADR 0029) and reads back only the deals its findings list, turned into findings by this module's
functions; `analyze` is the reference the tests compare it with, and what runs over rows handed in.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date

from . import PilotResult
from .findings import records_ref, unconverted_finding, with_action
from .values import day, money, money_text, num, pct, text

STATUSES = ("open", "won", "lost")
STAGE_CATEGORIES = ("qualify", "develop", "propose", "negotiate", "won", "lost")
FORECAST_CATEGORIES = ("pipeline", "best_case", "commit", "closed", "omitted")
PENDING = "(pending review)"
# Default win probability of an open deal per stage category, when the deal carries none: the
# Dynamics 365 sales process's steps (Qualify 10-20%, Develop 40%, Propose 60%, Close 80%), which
# Salesforce's and HubSpot's default stages fall in step with.
CATEGORY_PROBABILITY = {"qualify": 0.10, "develop": 0.40, "propose": 0.60, "negotiate": 0.80, "won": 1.0,
                        "lost": 0.0}
UNKNOWN_STAGE_PROBABILITY = 0.10

# At-risk scoring: points per signal, capped at 100 (see `risk_score`).
RISK_OVERDUE = 35
RISK_STALE = 25
RISK_CLOSING_SOON_EARLY = 20
RISK_NO_NEXT_STEP = 10
RISK_NO_CLOSE_DATE = 10
RISK_BIG_LOW_PROBABILITY = 10
# Signals read off the history (agents/services/revenue.py `deals_at_risk`), passed in by the caller.
RISK_STUCK = 20
RISK_PUSHED_TWICE = 20
RISK_AMOUNT_CUT = 15
HISTORY_SIGNAL_POINTS = {"stuck": RISK_STUCK, "pushed_twice": RISK_PUSHED_TWICE, "amount_cut": RISK_AMOUNT_CUT}
CLOSING_SOON_DAYS = 14
EARLY_PROBABILITY = 0.40


@dataclass(frozen=True)
class RevOpsConfig:
    stale_days: int = 30
    at_risk_threshold: int = 40
    top_accounts: int = 10
    max_listed: int = 50


@dataclass
class Deal:
    unified_id: str
    name: str
    stage: str  # the vendor's stage, a label only
    amount: float | None  # in the reporting currency (None: no amount, or not converted)
    probability: float  # fraction 0..1, own or stage-category default
    probability_source: str  # "deal" | "stage" | "default"
    close_date: date | None
    created: date | None
    updated: date | None
    status: str | None  # open / won / lost, None while it awaits review
    account_unified_id: str
    next_step: str
    currency: str  # the deal's own currency
    owner_id: str = ""
    stage_category: str | None = None
    forecast_category: str | None = None
    source_amount: float | None = None  # in `currency`
    fx_missing: str = ""  # why `amount` is None although `source_amount` is not
    source_kinds: tuple[str, ...] = field(default_factory=tuple)

    @property
    def is_open(self) -> bool:
        return self.status == "open"

    @property
    def is_closed(self) -> bool:
        return self.status in ("won", "lost")

    @property
    def is_won(self) -> bool:
        return self.status == "won"

    @property
    def unconverted(self) -> bool:
        """It has an amount the totals cannot use (no rate, no currency...)."""
        return self.source_amount is not None and self.amount is None


def system_of(source, systems: Mapping[int, str] | None = None) -> str:
    """The system a lineage entry came from: the caller's name for its connection (e.g. the vendor
    of a CSV export) when given, else the connection kind."""
    if not isinstance(source, Mapping):
        return ""
    if systems:
        try:
            named = systems.get(int(source.get("connection_id")))
        except (TypeError, ValueError):
            named = None
        if named:
            return named
    return text(source.get("connection_kind"))


def _canonical(value, allowed: tuple[str, ...]) -> str | None:
    """A canonical value of the set, or None (pending review, or not canonical)."""
    value = text(value)
    return value if value in allowed else None


def _probability(row: Mapping, stage_category: str | None) -> tuple[float, str]:
    own = num(row.get("probability"))
    if own is not None and 0.0 <= own <= 1.0:
        return own, "deal"
    if stage_category in CATEGORY_PROBABILITY:
        return CATEGORY_PROBABILITY[stage_category], "stage"
    return UNKNOWN_STAGE_PROBABILITY, "default"


def deal_from_row(row: Mapping, systems: Mapping[int, str] | None = None) -> Deal:
    stage_category = _canonical(row.get("stage_category"), STAGE_CATEGORIES)
    probability, source = _probability(row, stage_category)
    kinds = tuple(sorted({k for k in (system_of(s, systems) for s in row.get("sources") or ()) if k}))
    return Deal(
        unified_id=text(row.get("unified_id")) or text(row.get("id")),
        name=text(row.get("name")) or text(row.get("id")) or "(unnamed deal)",
        stage=text(row.get("stage")),
        amount=num(row.get("amount_reporting")),
        probability=probability,
        probability_source=source,
        close_date=day(row.get("close_date")),
        created=day(row.get("created_at")),
        updated=day(row.get("updated_at")),
        status=_canonical(row.get("status"), STATUSES),
        account_unified_id=text(row.get("account_unified_id")),
        next_step=text(row.get("next_step")),
        currency=text(row.get("currency")),
        owner_id=text(row.get("owner_id")),
        stage_category=stage_category,
        forecast_category=_canonical(row.get("forecast_category"), FORECAST_CATEGORIES),
        source_amount=num(row.get("amount")),
        fx_missing=text(row.get("fx_missing")),
        source_kinds=kinds,
    )


# --- metrics --------------------------------------------------------------------------------


def _grouped(deals: Iterable[Deal], key: str, order: tuple[str, ...], label: str) -> list[dict]:
    groups: dict[str, dict] = {}
    for d in deals:
        value = getattr(d, key) or PENDING
        g = groups.setdefault(value, {label: value, "count": 0, "amount": 0.0, "weighted": 0.0})
        g["count"] += 1
        g["amount"] += d.amount or 0.0
        g["weighted"] += (d.amount or 0.0) * d.probability
    rank = {v: i for i, v in enumerate(order)}
    rows = sorted(groups.values(), key=lambda g: rank.get(g[label], len(order)))
    for g in rows:
        g["amount"] = money(g["amount"])
        g["weighted"] = money(g["weighted"])
    return rows


def pipeline_by_stage(deals: Iterable[Deal]) -> list[dict]:
    """Open deals per stage category (funnel order; pending review last): count, total and weighted
    amount in the reporting currency, and the default probability of the category."""
    rows = _grouped((d for d in deals if d.is_open), "stage_category", STAGE_CATEGORIES, "stage_category")
    for g in rows:
        g["default_probability"] = CATEGORY_PROBABILITY.get(g["stage_category"])
    return rows


def pipeline_by_forecast_category(deals: Iterable[Deal]) -> list[dict]:
    """Open and won deals per forecast category (pipeline, best case, commit, closed, omitted; pending
    review last): what a forecast call rolls up. Lost deals are in no forecast."""
    return _grouped((d for d in deals if d.status in ("open", "won")), "forecast_category", FORECAST_CATEGORIES,
                    "forecast_category")


def unconverted_amounts(deals: Iterable[Deal]) -> dict:
    """Deals whose amount could not be converted to the reporting currency: how many, and per
    currency how many and how much (in that currency) and why."""
    by_currency: dict[str, dict] = {}
    for d in deals:
        if not d.unconverted:
            continue
        g = by_currency.setdefault(d.currency or "(none)", {"currency": d.currency or None, "count": 0, "amount": 0.0,
                                                            "reasons": Counter()})
        g["count"] += 1
        g["amount"] += d.source_amount or 0.0
        g["reasons"][d.fx_missing or "not_converted"] += 1
    rows = sorted(by_currency.values(), key=lambda g: (-g["count"], g["currency"] or ""))
    for g in rows:
        g["amount"] = money(g["amount"])
        g["reasons"] = dict(sorted(g["reasons"].items()))
    return {"count": sum(g["count"] for g in rows), "by_currency": rows}


def weighted_forecast(deals: Iterable[Deal]) -> float:
    """Σ amount × probability over open deals (probability from the deal, else its stage)."""
    return money(sum((d.amount or 0.0) * d.probability for d in deals if d.is_open))


def forecast_by_close_month(deals: Iterable[Deal]) -> list[dict]:
    months: dict[str, dict] = defaultdict(lambda: {"amount": 0.0, "weighted": 0.0, "count": 0})
    for d in deals:
        if not d.is_open:
            continue
        key = d.close_date.strftime("%Y-%m") if d.close_date else "(no close date)"
        months[key]["amount"] += d.amount or 0.0
        months[key]["weighted"] += (d.amount or 0.0) * d.probability
        months[key]["count"] += 1
    return [{"month": k, "count": v["count"], "amount": money(v["amount"]), "weighted": money(v["weighted"])}
            for k, v in sorted(months.items())]


def win_rate(deals: Iterable[Deal]) -> dict:
    """Won / (won + lost) from `status`, by count and by value (reporting amounts; a deal without a
    converted amount counts by number only); None when nothing has closed."""
    won = [d for d in deals if d.status == "won"]
    lost = [d for d in deals if d.status == "lost"]
    won_value = sum(d.amount or 0.0 for d in won)
    lost_value = sum(d.amount or 0.0 for d in lost)
    return {
        "won_count": len(won),
        "lost_count": len(lost),
        "won_value": money(won_value),
        "lost_value": money(lost_value),
        "win_rate_pct": pct(len(won), len(won) + len(lost)),
        "win_rate_by_value_pct": pct(won_value, won_value + lost_value),
    }


def average_deal_size(deals: Iterable[Deal]) -> float | None:
    """Mean amount of won deals that have an amount."""
    amounts = [d.amount for d in deals if d.is_won and d.amount is not None]
    return money(statistics.fmean(amounts)) if amounts else None


def average_sales_cycle_days(deals: Iterable[Deal]) -> float | None:
    """Mean days from creation to close date over won deals (negative spans are bad data, skipped)."""
    spans = [(d.close_date - d.created).days for d in deals
             if d.is_won and d.close_date and d.created and d.close_date >= d.created]
    return round(statistics.fmean(spans), 1) if spans else None


def days_since_update(deal: Deal, today: date) -> int | None:
    last = deal.updated or deal.created
    return (today - last).days if last else None


def is_stale(deal: Deal, today: date, stale_days: int) -> bool:
    """Open and not updated (or, lacking an update date, not created) in `stale_days` days or more."""
    since = days_since_update(deal, today)
    return deal.is_open and since is not None and since >= stale_days


def is_overdue(deal: Deal, today: date) -> bool:
    """Open while its close date has passed."""
    return deal.is_open and deal.close_date is not None and deal.close_date < today


def risk_signals(deal: Deal, *, today: date, stale_days: int, big_deal_amount: float | None,
                 next_step_in_use: bool, currency: str | None = None,
                 history: Iterable[tuple[str, str]] = ()) -> list[tuple[str, int, str]]:
    """The signals an open deal may slip, each as (code, points, reason in words).

    Signals: overdue (+35), stale (+25), closing within 14 days at under 40% (+20), no next step
    when the team records next steps (+10), no close date (+10), a deal at least twice the median
    open deal with probability ≤ 30% (+10). `currency` names the amounts' currency in the reasons.
    `history`: the deal's (code, reason) read off its history by the caller: stuck longer than the
    median time in its stage (+20), close date pushed twice or more (+20), amount cut (+15).
    """
    if not deal.is_open:
        return []
    found = []
    if is_overdue(deal, today):
        found.append(("overdue", RISK_OVERDUE, f"close date {deal.close_date.isoformat()} passed "
                                               f"{(today - deal.close_date).days} days ago"))
    if is_stale(deal, today, stale_days):
        found.append(("stale", RISK_STALE, f"no update in {days_since_update(deal, today)} days"))
    if deal.close_date is None:
        found.append(("no_close_date", RISK_NO_CLOSE_DATE, "no close date"))
    elif 0 <= (deal.close_date - today).days <= CLOSING_SOON_DAYS and deal.probability < EARLY_PROBABILITY:
        found.append(("closing_soon", RISK_CLOSING_SOON_EARLY, f"closes in {(deal.close_date - today).days} days at "
                                                               f"only {round(deal.probability * 100)}% probability"))
    if next_step_in_use and not deal.next_step:
        found.append(("no_next_step", RISK_NO_NEXT_STEP, "no next step recorded"))
    if (big_deal_amount is not None and deal.amount is not None and deal.amount >= big_deal_amount
            and deal.probability <= 0.30):
        amount = f"{deal.amount:,.0f}" + (f" {currency}" if currency else "")
        found.append(("big_low_probability", RISK_BIG_LOW_PROBABILITY,
                      f"large deal ({amount}) at {round(deal.probability * 100)}% probability"))
    for code, reason in history:
        if code in HISTORY_SIGNAL_POINTS:
            found.append((code, HISTORY_SIGNAL_POINTS[code], reason))
    return found


def risk_score(deal: Deal, *, today: date, stale_days: int, big_deal_amount: float | None,
               next_step_in_use: bool, currency: str | None = None) -> tuple[int, list[str]]:
    """0-100 risk of an open deal slipping, with the reason for every point (`risk_signals`)."""
    found = risk_signals(deal, today=today, stale_days=stale_days, big_deal_amount=big_deal_amount,
                         next_step_in_use=next_step_in_use, currency=currency)
    return min(sum(points for _, points, _ in found), 100), [reason for _, _, reason in found]


def top_accounts(deals: Iterable[Deal], accounts: Mapping[str, Mapping], limit: int,
                 systems: Mapping[int, str] | None = None) -> tuple[list[dict], int]:
    """Unified accounts ranked by open pipeline; one company in several CRMs counts once.

    Returns the ranking and the number of open deals linked to no unified account.
    """
    groups: dict[str, dict] = {}
    unlinked = 0
    for d in deals:
        if not d.is_open:
            continue
        if not d.account_unified_id:
            unlinked += 1
            continue
        g = groups.setdefault(d.account_unified_id, {"open_pipeline": 0.0, "weighted": 0.0, "open_deals": 0,
                                                     "sources": set()})
        g["open_pipeline"] += d.amount or 0.0
        g["weighted"] += (d.amount or 0.0) * d.probability
        g["open_deals"] += 1
        g["sources"].update(d.source_kinds)
    ranked = sorted(groups.items(), key=lambda kv: (-kv[1]["open_pipeline"], kv[0]))[:limit]
    out = []
    for uid, g in ranked:
        account = accounts.get(uid) or {}
        account_sources = {k for k in (system_of(s, systems) for s in account.get("sources") or ()) if k}
        out.append({
            "account_unified_id": uid,
            "name": text(account.get("name")) or f"(account {uid})",
            "open_pipeline": money(g["open_pipeline"]),
            "weighted": money(g["weighted"]),
            "open_deals": g["open_deals"],
            "systems": sorted(g["sources"] | account_sources),
        })
    return out, unlinked


def _deal_ref(d: Deal) -> dict:
    return {"entity": "opportunity", "unified_id": d.unified_id, "name": d.name, "stage": d.stage,
            "amount": money(d.amount) if d.amount is not None else None,
            "close_date": d.close_date.isoformat() if d.close_date else None,
            "account_unified_id": d.account_unified_id or None, "owner_id": d.owner_id or None,
            "probability": d.probability}


def _deal_finding(kind: str, severity: str, title: str, d: Deal, currency: str | None, **fields) -> dict:
    """A finding about one deal: its record is the deal."""
    return with_action({"kind": kind, "severity": severity, "title": title, **fields, "subject": _deal_ref(d),
                        "currency": currency, "records": records_ref("opportunity", [d.unified_id])})


def _by_amount(deals: Iterable[Deal]) -> list[Deal]:
    return sorted(deals, key=lambda d: (-(d.amount or 0.0), d.unified_id))


def analyze(*, opportunities: Iterable[Mapping], accounts: Iterable[Mapping] = (), today: date,
            config: RevOpsConfig | None = None, systems: Mapping[int, str] | None = None,
            reporting_currency: str | None = None,
            history_signals: Mapping[str, list[tuple[str, str]]] | None = None) -> PilotResult:
    """All RevOps metrics and findings for one set of unified rows. `systems` names connections
    (connection id → system) for the "across which CRMs" lists; the connection kind otherwise. The
    amounts are in the rows' `reporting_currency`; `reporting_currency` names it when no row does.
    `history_signals`: unified id → (code, reason) of the risks read off the history (`risk_signals`)."""
    history_signals = history_signals or {}
    config = config or RevOpsConfig()
    rows = list(opportunities)
    deals = [deal_from_row(r, systems) for r in rows]
    account_map = {text(a.get("unified_id")): a for a in accounts if text(a.get("unified_id"))}
    open_deals = [d for d in deals if d.is_open]
    open_amounts = [d.amount for d in open_deals if d.amount is not None]
    big_deal = 2 * statistics.median(open_amounts) if len(open_amounts) >= 3 else None
    next_step_in_use = any(d.next_step for d in deals)

    reporting = Counter(text(r.get("reporting_currency")) for r in rows if text(r.get("reporting_currency")))
    reporting_currency = reporting.most_common(1)[0][0] if reporting else reporting_currency
    stale = [d for d in open_deals if is_stale(d, today, config.stale_days)]
    overdue = [d for d in open_deals if is_overdue(d, today)]
    scored = []
    for d in open_deals:
        signals = risk_signals(d, today=today, stale_days=config.stale_days, big_deal_amount=big_deal,
                               next_step_in_use=next_step_in_use, currency=reporting_currency,
                               history=history_signals.get(d.unified_id, ()))
        score = min(sum(points for _, points, _ in signals), 100)
        if score >= config.at_risk_threshold:
            scored.append((score, d, signals))
    scored.sort(key=lambda t: (-t[0], -(t[1].amount or 0.0), t[1].unified_id))
    ranking, unlinked = top_accounts(deals, account_map, config.top_accounts, systems)
    currencies = sorted({d.currency for d in deals if d.currency})
    unconverted = unconverted_amounts(deals)
    pending_status = [d for d in deals if d.status is None]
    by_source: dict[str, int] = defaultdict(int)
    for d in deals:
        for kind in d.source_kinds or ("unknown",):
            by_source[kind] += 1

    metrics = {
        "as_of": today.isoformat(),
        "deals_total": len(deals),
        "open_count": len(open_deals),
        "open_pipeline": money(sum(open_amounts)),
        "weighted_forecast": weighted_forecast(deals),
        "forecast_by_close_month": forecast_by_close_month(deals),
        "pipeline_by_stage": pipeline_by_stage(deals),
        "pipeline_by_forecast_category": pipeline_by_forecast_category(deals),
        **win_rate(deals),
        "average_deal_size": average_deal_size(deals),
        "average_sales_cycle_days": average_sales_cycle_days(deals),
        "stale_days": config.stale_days,
        "stale_count": len(stale),
        "stale_value": money(sum(d.amount or 0.0 for d in stale)),
        "overdue_count": len(overdue),
        "overdue_value": money(sum(d.amount or 0.0 for d in overdue)),
        "at_risk_count": len(scored),
        "at_risk_value": money(sum(d.amount or 0.0 for _, d, _ in scored)),
        "top_accounts": ranking,
        "unlinked_open_deals": unlinked,
        "missing_amount_count": sum(1 for d in deals if d.source_amount is None),
        "probability_from_stage_count": sum(1 for d in open_deals if d.probability_source != "deal"),
        "currencies": currencies,
        "reporting_currency": reporting_currency,
        "unconverted": unconverted,
        "status_pending_count": len(pending_status),
        "deals_by_source": dict(sorted(by_source.items())),
    }

    findings: list[dict] = []
    cur = reporting_currency
    for score, d, signals in scored[: config.max_listed]:
        findings.append(_deal_finding(
            "at_risk_deal", "high" if score >= 70 else "medium", f"{d.name} is at risk ({score}/100)", d, cur,
            score=score, reasons=[reason for _, _, reason in signals], signals=[code for code, _, _ in signals],
            days_since_update=days_since_update(d, today)))
    for d in _by_amount(overdue)[: config.max_listed]:
        days_over = (today - d.close_date).days
        findings.append(_deal_finding("overdue_deal", "medium", f"{d.name} was due to close {days_over} days ago",
                                      d, cur, days=days_over))
    for d in _by_amount(stale)[: config.max_listed]:
        since = days_since_update(d, today)
        findings.append(_deal_finding("stale_deal", "low", f"{d.name} has not been updated in {since} days", d, cur,
                                      days=since))
    if unconverted["count"]:
        findings.append(unconverted_finding(unconverted, "deals", cur, entity="opportunity",
                                            ids=(d.unified_id for d in _by_amount(deals) if d.unconverted)))
    if pending_status:
        amount = sum(d.amount or 0.0 for d in pending_status)
        findings.append(with_action({
            "kind": "status_pending", "severity": "medium", "count": len(pending_status), "currency": cur,
            "amount": money(amount), "stages": sorted({d.stage or "(no stage)" for d in pending_status}),
            "title": f"{len(pending_status)} deals ({money_text(amount, cur)}) have a stage whose meaning awaits "
                     "review: they are in no open, won or lost figure until it is decided",
            "records": records_ref("opportunity", (d.unified_id for d in _by_amount(pending_status)))}))
    if unlinked:
        orphans = _by_amount(d for d in open_deals if not d.account_unified_id)
        amount = sum(d.amount or 0.0 for d in orphans)
        findings.append(with_action({
            "kind": "unlinked_deals", "severity": "low", "count": unlinked, "currency": cur, "amount": money(amount),
            "systems": sorted({k for d in orphans for k in d.source_kinds}),
            "title": f"{unlinked} open deals ({money_text(amount, cur)}) are linked to no account",
            "records": records_ref("opportunity", (d.unified_id for d in orphans))}))
    return PilotResult(metrics=metrics, findings=findings)
