"""A short summary of an agent run for people: from the LLM when one is configured, else (or when
the LLM fails) a deterministic one built from the metrics. The numbers in either come from the
pilot; the LLM is only asked to phrase them and is told not to invent others."""

from __future__ import annotations

import json
import logging

from .pilots import PilotResult

logger = logging.getLogger(__name__)

NARRATIVE_MAX_TOKENS = 350
SYSTEM_PROMPT = (
    "You are a {role} analyst. Summarize the analysis below for a busy executive in at most 5 sentences. "
    "Use only numbers that appear in the data; do not invent figures, names or causes. "
    "Lead with the most important risk or opportunity and end with one recommended action."
)
ROLES = {"revops": "revenue operations", "finops": "cloud cost (FinOps)"}


def _fmt(value) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:,.2f}" if abs(value) < 1000 else f"{value:,.0f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def _in(metrics: dict) -> str:
    """' USD' after an amount when the metrics name their reporting currency."""
    return f" {metrics['reporting_currency']}" if metrics.get("reporting_currency") else ""


def _left_out(findings: list[dict]) -> list[str]:
    """What the totals leave out (amounts without a rate, deals whose status awaits review), as said."""
    return [f"{f['title']}." for f in findings if f.get("kind") in ("unconverted_amounts", "status_pending")]


def heuristic_revops(metrics: dict, findings: list[dict]) -> str:
    parts = [f"Open pipeline is {_fmt(metrics.get('open_pipeline'))}{_in(metrics)} across "
             f"{_deals(metrics.get('open_count', 0))}, with a weighted forecast of "
             f"{_fmt(metrics.get('weighted_forecast'))}{_in(metrics)}."]
    if metrics.get("win_rate_pct") is not None:
        parts.append(f"Win rate is {_fmt(metrics['win_rate_pct'])}% ({metrics.get('won_count')} won, "
                     f"{metrics.get('lost_count')} lost); average won deal {_fmt(metrics.get('average_deal_size'))}"
                     + (f", closed in {metrics['average_sales_cycle_days']:,.0f} days on average."
                        if metrics.get("average_sales_cycle_days") is not None else "."))
    overdue, stale = metrics.get("overdue_count", 0), metrics.get("stale_count", 0)
    parts.append(f"{_deals(overdue)} {'is' if overdue == 1 else 'are'} past the close date and "
                 f"{_fmt(stale)} {'has' if stale == 1 else 'have'} had no update in {metrics.get('stale_days')} days.")
    at_risk = [f for f in findings if f.get("kind") == "at_risk_deal"]
    if at_risk:
        top = at_risk[0]
        at_risk = metrics.get("at_risk_count", 0)
        parts.append(f"{_deals(at_risk)} {'is' if at_risk == 1 else 'are'} at risk; the riskiest is "
                     f"{top['subject']['name']} ({top['score']}/100: {'; '.join(top['reasons'])}).")
    accounts = metrics.get("top_accounts") or []
    if accounts:
        a = accounts[0]
        systems = f" across {', '.join(a['systems'])}" if a.get("systems") else ""
        parts.append(f"The largest open pipeline is at {a['name']}: {_fmt(a['open_pipeline'])}{_in(metrics)} in "
                     f"{_deals(a['open_deals'])}{systems}.")
    return " ".join(parts + _left_out(findings))


def heuristic_finops(metrics: dict, findings: list[dict]) -> str:
    period = metrics.get("period") or {}
    parts = [f"Spend was {_fmt(metrics.get('total_spend'))}{_in(metrics)} from {period.get('start')} to "
             f"{period.get('end')}."]
    categories = metrics.get("spend_by_service_category") or []
    if categories:
        c = categories[0]
        parts.append(f"The largest service category is {c['service_category']} at {_fmt(c['amount'])}{_in(metrics)} "
                     f"({_fmt(c['share_pct'])}%).")
    services = metrics.get("spend_by_service") or []
    if services:
        s = services[0]
        parts.append(f"The largest service is {s['service']} at {_fmt(s['amount'])}{_in(metrics)} "
                     f"({_fmt(s['share_pct'])}%).")
    mom = metrics.get("month_over_month")
    if mom and mom.get("change_pct") is not None:
        direction = "up" if mom["change"] > 0 else "down"
        parts.append(f"{mom['month']} (days 1-{mom['through_day']}) is {direction} {_fmt(abs(mom['change_pct']))}% "
                     f"on the same days of {mom['previous_month']} ({_fmt(mom['amount'])} vs {_fmt(mom['previous'])}).")
    anomalies = [f for f in findings if f.get("kind") == "anomaly"]
    if anomalies:
        a = anomalies[0]
        parts.append(f"{metrics.get('anomaly_count')} spend anomalies; the largest: {a['service']} on {a['day']} "
                     f"at {_fmt(a['amount'])} against a baseline of {_fmt(a['baseline'])}.")
    if metrics.get("estimated_monthly_savings"):
        parts.append(f"Estimated savings: {_fmt(metrics['estimated_monthly_savings'])} per month "
                     f"({metrics.get('stopped_billed_count', 0)} stopped but billed, {metrics.get('idle_count', 0)} "
                     f"idle, {metrics.get('previous_generation_count', 0)} previous-generation resources).")
    if metrics.get("untagged_resource_count"):
        parts.append(f"{metrics['untagged_resource_count']} resources carry no tags "
                     f"({_fmt(metrics.get('untagged_spend_pct'))}% of spend is untagged).")
    return " ".join(parts + _left_out(findings))


def _deals(n) -> str:
    return f"{_fmt(n)} deal" + ("" if n == 1 else "s")


HEURISTICS = {"revops": heuristic_revops, "finops": heuristic_finops}


def _digest(metrics: dict, findings: list[dict]) -> str:
    """The metrics and the top findings, compact enough for a small prompt."""
    slim = {k: (v[:8] if isinstance(v, list) else v) for k, v in metrics.items() if k != "spend_by_day"}
    top = [{k: v for k, v in f.items() if k in ("kind", "title", "score", "reasons", "estimated_monthly", "rule")}
           for f in findings[:10]]
    return json.dumps({"metrics": slim, "top_findings": top}, default=str)[:12000]


def narrative_write(*, agent: str, result: PilotResult, tenant) -> tuple[str, str]:
    """(text, source) where source is "llm" or "heuristic".

    The LLM is optional: not configured, or failing for any reason, the heuristic summary is used
    and the run still succeeds.
    """
    from autonomos.core.llm import get_llm_client

    heuristic = HEURISTICS[agent](result.metrics, result.findings)
    client = get_llm_client()
    if client is None:
        return heuristic, "heuristic"
    messages = [
        {"role": "system", "content": SYSTEM_PROMPT.format(role=ROLES[agent])},
        {"role": "user", "content": _digest(result.metrics, result.findings)},
    ]
    try:
        reply = client.chat(messages, tenant=tenant, purpose=f"agent_narrative_{agent}",
                            max_tokens=NARRATIVE_MAX_TOKENS)
    except Exception:  # noqa: BLE001 - a narrative is never worth failing the run for
        logger.warning("LLM narrative failed for %s; using the heuristic summary", agent, exc_info=True)
        return heuristic, "heuristic"
    text = (getattr(reply, "text", "") or "").strip()
    return (text, "llm") if text else (heuristic, "heuristic")
