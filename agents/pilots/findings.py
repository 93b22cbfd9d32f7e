"""What every finding carries beside its kind, severity and title, so people can act on it.

- `currency`: the reporting currency (ADR 0015) of every amount in the finding; its title writes
  amounts with it ("379.12 USD").
- `records`: the unified-view rows behind it, `{"entity", "unified_ids", "count"}`: the deal, the
  resource, the cost lines of an anomaly. At most `RECORDS_MAX` ids are kept (the largest first
  when the finding ranks them); `count` is the real number, and `truncated` says when the ids are
  fewer. The pages and the API turn them into links (agents/selectors.py: `finding_links`).
- `action`: what to do about it, built from its kind and its own data (`action_for`): which date to
  move, which currency's rates to load, which resource drove a spike. Never empty.
- `from` / `to`: the first and last day of a finding about a period; repeats over consecutive days
  are one finding (finops: `anomaly_periods`).
- `id`: stable within a run, from what the finding is about (`finding_id`), for its page.
- `query`: `{"sql", "params"}` (`query_ref`), the SQL that produced the finding's figure, to run
  again against the tenant's PostgreSQL schema (search_path set to the tenant) with its parameters.

Everything here is pure: the pilots call it when they build their findings, and
`normalize.findings_normalize` brings findings stored before these fields existed to the same shape
when they are read (merging an anomaly's consecutive days, adding actions, records and currency),
so no migration rewrites stored runs.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping

from .values import FX_REASONS, counted, money_text, text

# The unified views' API filters at most 500 ids in one `unified_id__in` (dcl.selectors.MAX_IN_VALUES);
# a link must select every id the finding keeps.
RECORDS_MAX = 500
SEVERITY_RANK = {"high": 0, "medium": 1, "low": 2}


def records_ref(entity: str, ids: Iterable[str]) -> dict | None:
    """The rows behind a finding, in the caller's order (largest first), unique, at most RECORDS_MAX."""
    unique = list(dict.fromkeys(i for i in ids if i))
    if not unique:
        return None
    ref = {"entity": entity, "unified_ids": unique[:RECORDS_MAX], "count": len(unique)}
    if len(unique) > RECORDS_MAX:
        ref["truncated"] = True
    return ref


def query_ref(sql: str, params: Mapping | None = None) -> dict:
    """The query that produced a figure or finding, `{"sql": ..., "params": {...}}`: the SQL runs
    against the tenant's PostgreSQL schema (search_path set to the tenant) with `params` (psycopg
    `%(name)s` placeholders, values JSON-safe: the SQL casts dates and times itself) and returns it."""
    return {"sql": " ".join(sql.split()), "params": dict(params or {})}


def finding_id(finding: Mapping) -> str:
    """12 hex digits from what the finding is about: its kind and subject (a deal, a resource, a
    service's period), so the same finding of a stored run always has the same id."""
    subject = finding.get("subject") or {}
    if finding.get("kind") == "anomaly":
        about = [finding.get("service"), finding.get("direction"), finding.get("from") or finding.get("day")]
    elif subject:
        about = [finding.get("rule"), subject.get("unified_id") or subject.get("id")]
    else:
        about = [finding.get("title")]
    raw = "|".join(str(x) for x in [finding.get("kind"), *about])
    return hashlib.sha1(raw.encode(), usedforsecurity=False).hexdigest()[:12]


def unconverted_finding(unconverted: dict, things: str, reporting_currency: str | None, *, entity: str,
                        ids: Iterable[str] = ()) -> dict:
    """The finding that says which amounts the totals leave out, per currency, with how much and why;
    its records are the rows left out (`ids`, of `entity`)."""
    reporting = reporting_currency or "the reporting currency"
    parts = []
    for group in unconverted["by_currency"]:
        currency = group["currency"]
        why = ", ".join(FX_REASONS.get(r, r).format(currency=currency, reporting=reporting)
                        for r in group["reasons"])
        held = f"{group['amount']:,.2f} {currency}" if currency else f"{group['amount']:,.2f} in no currency"
        parts.append(f"{counted(group['count'], things)} ({held}: {why})")
    count = unconverted["count"]
    finding = {"kind": "unconverted_amounts", "severity": "medium", "count": count,
               "by_currency": unconverted["by_currency"], "currency": reporting_currency,
               "title": f"{counted(count, things)} {'is' if count == 1 else 'are'} left out of the totals in "
                        f"{reporting}: " + "; ".join(parts)}
    records = records_ref(entity, ids)
    if records:
        finding["records"] = records
    return with_action(finding)


# --- actions ---------------------------------------------------------------------------------


def _sentence(steps: list[str]) -> str:
    body = "; ".join(s for s in steps if s)
    return (body[:1].upper() + body[1:] + ".") if body else ""


def _owner(subject: Mapping) -> str:
    owner = text(subject.get("owner_id")) or text(subject.get("owner"))
    return f"its owner {owner}" if owner else "its owner"


# Signals of an at-risk deal (revops.risk_score), and the reason text each starts with in runs stored
# before findings carried their signals.
SIGNAL_PREFIXES = (("overdue", "close date "), ("stale", "no update in "), ("no_close_date", "no close date"),
                   ("closing_soon", "closes in "), ("no_next_step", "no next step"),
                   ("big_low_probability", "large deal"), ("stuck", "in stage "),
                   ("pushed_twice", "close date pushed "), ("amount_cut", "amount cut "))


def signals_of(finding: Mapping) -> list[str]:
    if finding.get("signals"):
        return list(finding["signals"])
    reasons = [str(r) for r in finding.get("reasons") or ()]
    return [code for code, prefix in SIGNAL_PREFIXES if any(r.startswith(prefix) for r in reasons)]


def _days_in(reasons: Iterable, prefix: str) -> str | None:
    for r in reasons or ():
        match = re.match(re.escape(prefix) + r"(\d+)", str(r))
        if match:
            return match.group(1)
    return None


def at_risk_action(f: Mapping) -> str:
    s, signals = f.get("subject") or {}, signals_of(f)
    currency = f.get("currency")
    steps = []
    if "overdue" in signals:
        steps.append(f"move its close date ({s.get('close_date')}) to when it will really close, or close it as lost")
    if "no_close_date" in signals:
        steps.append("give it a close date")
    if "closing_soon" in signals:
        steps.append(f"confirm with the buyer that it can close by {s.get('close_date')}, or move the date")
    if "stale" in signals:
        days = f.get("days_since_update") or _days_in(f.get("reasons"), "no update in ")
        steps.append(f"get an update from {_owner(s)}" + (f" (none logged in {days} days)" if days else ""))
    if "no_next_step" in signals:
        steps.append("record the next step")
    if "big_low_probability" in signals:
        steps.append(f"qualify it: {money_text(s.get('amount'), currency)} at a low probability weighs on the "
                     "forecast")
    if "pushed_twice" in signals:
        steps.append(f"ask {_owner(s)} what keeps moving its close date and agree a date the buyer confirms")
    if "stuck" in signals:
        steps.append("find what it needs to leave its stage (a meeting, a proposal, a decision maker)")
    if "amount_cut" in signals:
        steps.append("check why its amount was cut and that the rest of the deal still holds")
    return _sentence([f"{s.get('name') or 'This deal'}: " + steps[0], *steps[1:3]] if steps else
                     [f"review {s.get('name') or 'this deal'} with {_owner(s)}"])


def overdue_action(f: Mapping) -> str:
    s = f.get("subject") or {}
    return _sentence([f"close {s.get('name') or 'this deal'} as won or lost, or move its close date "
                      f"({s.get('close_date')}, {f.get('days')} days ago) to when it will really close"])


def stale_action(f: Mapping) -> str:
    s = f.get("subject") or {}
    about = [money_text(s.get("amount"), f.get("currency"))] if s.get("amount") is not None else []
    about += [f"closing {s.get('close_date')}"] if s.get("close_date") else []
    detail = f" ({', '.join(about)})" if about else ""
    return _sentence([f"ask {_owner(s)} where {s.get('name') or 'this deal'}{detail} stands",
                      f"log the answer (no update in {f.get('days')} days), or close it as lost if it has gone cold"])


def status_pending_action(f: Mapping) -> str:
    stages = [str(s) for s in f.get("stages") or ()]
    named = ", ".join(f"“{s}”" for s in stages[:5]) + (f" and {len(stages) - 5} more" if len(stages) > 5 else "")
    what = f"what the stages {named} mean" if len(stages) > 1 else f"what the stage {named} means" if stages \
        else "what their stages mean"
    count = f.get("count") or 0
    return _sentence([f"decide {what} (open, won or lost) on the Values page (/aam/values/)",
                      f"{'its deal counts' if count == 1 else f'its {count} deals count'} in the pipeline and win "
                      "rate again once it is decided"])


def unlinked_action(f: Mapping) -> str:
    systems = ", ".join(f.get("systems") or ()) or "their source"
    return _sentence([f"map the account (company) column of {systems} to the deal's account_id in the connection's "
                      "mapping and sync again, so these deals join their accounts",
                      "deals with no account in the source need one there"])


def unconverted_action(f: Mapping) -> str:
    reporting = f.get("currency") or "the reporting currency"
    steps = []
    for group in f.get("by_currency") or ():
        currency = group.get("currency") or "(none)"
        for reason in group.get("reasons") or {}:
            if reason == "no_rate":
                steps.append(f"load {currency} rates covering their dates (manage.py fx_load, or Money in the admin)")
            elif reason == "no_reporting_rate":
                steps.append(f"load {reporting} rates covering their dates (manage.py fx_load)")
            elif reason == "no_currency":
                steps.append("set the source's currency (the connection's currency) or map its currency column")
            elif reason == "unknown_currency":
                steps.append(f"correct the currency code {currency} at the source (not ISO 4217)")
            elif reason == "no_date":
                steps.append("map a date for them (close date or charge period start) so a rate can be chosen")
            elif reason == "out_of_range":
                steps.append(f"check the {currency} amounts at the source: too large to convert")
    steps = list(dict.fromkeys(steps)) or [f"find why they were not converted to {reporting}"]
    return _sentence([*steps, "the amounts join the totals when the views are next materialized"])


def anomaly_action(f: Mapping) -> str:
    currency, service = f.get("currency"), f.get("service")
    start, end = f.get("from") or f.get("day"), f.get("to") or f.get("day")
    when = f"on {start}" if start == end else f"from {start} to {end}"
    drivers = [d for d in f.get("drivers") or () if d.get("resource_id")]
    change = money_text(f.get("delta"), currency, signed=True, cents=True)
    if f.get("direction") == "drop":
        return _sentence([f"check that the drop of {service} {when} ({change}) is intended (something stopped, a "
                          "discount) and not cost data missing from the export"])
    named = [f"{d['resource_id']} ({money_text(d.get('delta'), currency, signed=True, cents=True)})" for d in drivers]
    by = ""
    if named:
        listed = named[0] if len(named) == 1 else ", ".join(named[:-1]) + " and " + named[-1]
        by = f"; the largest change{'s are' if len(named) > 1 else ' is'} on {listed}"
    return _sentence([f"find what drove {service} up {when} ({change} over its usual spend{by})",
                      "if it was not planned, stop or right-size it and set a budget alert on the service"])


def savings_action(f: Mapping) -> str:
    s, currency = f.get("subject") or {}, f.get("currency")
    saves = f"saves {money_text(f.get('estimated_monthly'), currency, cents=True)} a month"
    name = s.get("name") or s.get("id")
    if f.get("rule") == "stopped_but_billed":
        if (s.get("status") or "") in ("terminated", "shutting-down", "deleted", "deleting", "destroyed"):
            return _sentence([f"find what still bills under {s.get('id')} since {s.get('still_billed_since')} "
                              "(volumes kept at termination, addresses, snapshots) and delete it", saves])
        return _sentence([f"snapshot {name} and release its storage, addresses and licences, or terminate it", saves])
    if f.get("rule") == "idle_resource":
        return _sentence([f"delete or release {name}, or attach it to something that uses it", saves])
    if f.get("rule") == "previous_generation":
        return _sentence([f"move {name} to the current generation of the same size", saves])
    return _sentence([f"act on {name}", saves])


def untagged_action(f: Mapping) -> str:
    s = f.get("subject") or {}
    owner = f" (its owner field says {s['owner']})" if s.get("owner") else ""
    spend = s.get("window_spend") or 0
    cost = (f"{money_text(spend, f.get('currency'), cents=True)} of spend in the last 30 days is charged to no one"
            if spend else "so its cost is charged to someone once it starts costing")
    return _sentence([f"tag {s.get('name') or s.get('id')} with its owner, team and cost centre{owner}", cost])


def waterfall_action(f: Mapping) -> str:
    if f.get("kind") == "waterfall_lost":
        return _sentence(["ask the owners of the largest lost deals why they were lost and record the loss reason",
                          "check what fills the gap before the period ends"])
    return _sentence(["review each pushed deal with its owner: a new close date the buyer confirmed, or close it "
                      "as lost", "the forecast of the period no longer counts them"])


def quota_missing_action(f: Mapping) -> str:
    owners = ", ".join(str(o) for o in (f.get("owners") or [])[:5])
    return _sentence([f"add the quota of {owners} for the period (a Quota CSV through a connection, or Quotas in "
                      "the admin)", "their coverage then shows at the next run"])


def low_coverage_action(f: Mapping) -> str:
    return _sentence([f"build pipeline for {f.get('owner_id') or 'this owner'}: "
                      f"{money_text(f.get('remaining'), f.get('currency'))} is left to close and the open pipeline "
                      f"covers it {f.get('coverage')}×", "three times is the usual floor"])


def slippage_action(f: Mapping) -> str:
    return _sentence(["go through the deals pushed twice or more first: their dates are guesses",
                      "ask for a confirmed next step before a close date moves again"])


def unused_commitment_action(f: Mapping) -> str:
    s, currency = f.get("subject") or {}, f.get("currency")
    return _sentence([f"move workloads onto {s.get('name') or s.get('id')} (same family, region or scope) or exchange "
                      f"or sell the unused part: {money_text(f.get('unused'), currency, cents=True)} went unused",
                      "size the next purchase on the utilization, not on the peak"])


def showback_action(f: Mapping) -> str:
    tag = f.get("tag") or "team"
    return _sentence([f"tag the untagged resources with a {tag} (or map the source's tag column) so their "
                      f"{money_text(f.get('untagged'), f.get('currency'), cents=True)} is charged directly",
                      "until then it is shared out in proportion to tagged spend"])


def customer_cost_action(f: Mapping) -> str:
    s = f.get("subject") or {}
    return _sentence([f"review {s.get('name') or 'this account'}'s cost to serve with its account owner",
                      "price renewals and expansions on it"])


def forecast_action(f: Mapping) -> str:
    return _sentence([f"compare {f.get('month')}'s forecast with its budget; if the high end is over, find the "
                      "services growing fastest (spend by service) before the month closes"])


ACTIONS = {
    "waterfall_pushed_out": waterfall_action,
    "waterfall_lost": waterfall_action,
    "quota_missing": quota_missing_action,
    "low_coverage": low_coverage_action,
    "slippage": slippage_action,
    "unused_commitment": unused_commitment_action,
    "showback": showback_action,
    "customer_cost": customer_cost_action,
    "forecast": forecast_action,
    "at_risk_deal": at_risk_action,
    "overdue_deal": overdue_action,
    "stale_deal": stale_action,
    "status_pending": status_pending_action,
    "unlinked_deals": unlinked_action,
    "unconverted_amounts": unconverted_action,
    "anomaly": anomaly_action,
    "savings": savings_action,
    "untagged_resource": untagged_action,
}


def action_for(finding: Mapping) -> str:
    """The recommended action of a finding, from its kind and its data."""
    act = ACTIONS.get(str(finding.get("kind")))
    if act is not None:
        return act(finding)
    return _sentence([f"review the records behind “{finding.get('title') or finding.get('kind')}”"])


def with_action(finding: dict) -> dict:
    finding["action"] = action_for(finding)
    return finding
