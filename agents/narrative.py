"""A short summary of an agent run for people: from the LLM when one is configured, else (or when
the LLM fails) a deterministic one built from the metrics. The numbers in either come from the
pilot; the LLM is only asked to phrase them and is told not to invent others.

Either is a few short lines ("- Open pipeline: 9,668,318 USD in 135 deals ..."), one key figure
each, every amount with the reporting currency: the pages show them as a list (`summary_lines`)."""

from __future__ import annotations

import json
import logging

from .pilots import PilotResult
from .pilots.values import money_text

logger = logging.getLogger(__name__)

NARRATIVE_MAX_TOKENS = 350
SYSTEM_PROMPT = (
    "You are a {role} analyst. Summarize the analysis below for a busy executive in 3 to 6 short lines, "
    "each starting with '- ' and carrying one key figure; no paragraph. "
    "Use only numbers that appear in the data; do not invent figures, names or causes. "
    "Write every amount with its currency ({currency}). "
    "Lead with the most important risk or opportunity and end with one recommended action."
)
ROLES = {"revops": "revenue operations", "finops": "cloud cost (FinOps)"}


def _fmt(value) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:,.2f}" if abs(value) < 1000 else f"{value:,.0f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def _money(value, metrics: dict) -> str:
    """An amount with the run's reporting currency: 9,668,318 USD."""
    currency = metrics.get("reporting_currency")
    return f"{_fmt(value)} {currency}" if currency and value is not None else _fmt(value)


def _lines(lines: list[str]) -> str:
    """The summary as short bullet lines, one key figure each."""
    return "\n".join(f"- {line}" for line in lines if line)


def _left_out(findings: list[dict]) -> list[str]:
    """What the totals leave out (amounts without a rate, deals whose status awaits review), as said."""
    return [f"Left out: {f['title']}" for f in findings if f.get("kind") in ("unconverted_amounts", "status_pending")]


def heuristic_revops(metrics: dict, findings: list[dict]) -> str:
    weighted = _money(metrics.get("weighted_forecast"), metrics)
    lines = [f"Open pipeline: {_money(metrics.get('open_pipeline'), metrics)} in "
             f"{_deals(metrics.get('open_count', 0))} (weighted forecast {weighted})"]
    if metrics.get("win_rate_pct") is not None:
        cycle = (f", {metrics['average_sales_cycle_days']:,.0f} days to close"
                 if metrics.get("average_sales_cycle_days") is not None else "")
        size = (f"; average won deal {_money(metrics['average_deal_size'], metrics)}{cycle}"
                if metrics.get("average_deal_size") is not None else "")
        lines.append(f"Win rate: {_fmt(metrics['win_rate_pct'])}% ({metrics.get('won_count')} won, "
                     f"{metrics.get('lost_count')} lost){size}")
    at_risk, overdue, stale = (metrics.get("at_risk_count", 0), metrics.get("overdue_count", 0),
                               metrics.get("stale_count", 0))
    lines.append(f"Needs attention: {_fmt(at_risk)} at risk, {_fmt(overdue)} past the close date, {_fmt(stale)} with "
                 f"no update in {metrics.get('stale_days')} days")
    top = next((f for f in findings if f.get("kind") == "at_risk_deal"), None)
    if top:
        lines.append(f"Riskiest: {top['subject']['name']} ({top['score']}/100: {'; '.join(top['reasons'][:2])})")
    accounts = metrics.get("top_accounts") or []
    if accounts:
        a = accounts[0]
        systems = f" ({', '.join(a['systems'])})" if a.get("systems") else ""
        lines.append(f"Largest account: {a['name']}, {_money(a['open_pipeline'], metrics)} in "
                     f"{_deals(a['open_deals'])}{systems}")
    return _lines(lines + _left_out(findings))


def heuristic_finops(metrics: dict, findings: list[dict]) -> str:
    period = metrics.get("period") or {}
    lines = [f"Spend: {_money(metrics.get('total_spend'), metrics)} from {period.get('start')} to {period.get('end')}"]
    categories = metrics.get("spend_by_service_category") or []
    services = metrics.get("spend_by_service") or []
    if categories or services:
        parts = [f"{c['service_category']} {_money(c['amount'], metrics)} ({_fmt(c['share_pct'])}%)"
                 for c in categories[:1]]
        parts += [f"service {s['service']} {_money(s['amount'], metrics)} ({_fmt(s['share_pct'])}%)"
                  for s in services[:1]]
        lines.append("Largest: " + "; ".join(parts))
    mom = metrics.get("month_over_month")
    if mom and mom.get("change_pct") is not None:
        direction = "up" if mom["change"] > 0 else "down"
        lines.append(f"{mom['month']} (days 1-{mom['through_day']}): {direction} {_fmt(abs(mom['change_pct']))}% on "
                     f"the same days of {mom['previous_month']} ({_money(mom['amount'], metrics)} vs "
                     f"{_money(mom['previous'], metrics)})")
    anomalies = [f for f in findings if f.get("kind") == "anomaly"]
    cur = metrics.get("reporting_currency")
    if anomalies:
        a = anomalies[0]
        count = metrics.get("anomaly_count", len(anomalies))
        days = metrics.get("anomaly_days")
        over = f" over {days} days" if days and days != count else ""
        when = f"on {a['from']}" if a["from"] == a["to"] else f"from {a['from']} to {a['to']}"
        lines.append(f"Anomalies: {_fmt(count)}{over}; the largest: {a['service']} {a['direction']} {when}, "
                     f"{money_text(a['amount'], cur, cents=True)} against {money_text(a['baseline'], cur, cents=True)} "
                     "expected")
    if metrics.get("estimated_monthly_savings"):
        lines.append(f"Savings: {money_text(metrics['estimated_monthly_savings'], cur, cents=True)} a month "
                     f"({metrics.get('stopped_billed_count', 0)} stopped but billed, {metrics.get('idle_count', 0)} "
                     f"idle, {metrics.get('previous_generation_count', 0)} previous-generation resources)")
    if metrics.get("untagged_resource_count"):
        lines.append(f"Untagged: {metrics['untagged_resource_count']} resources, "
                     f"{_fmt(metrics.get('untagged_spend_pct'))}% of spend")
    return _lines(lines + _left_out(findings))


def _deals(n) -> str:
    return f"{_fmt(n)} deal" + ("" if n == 1 else "s")


HEURISTICS = {"revops": heuristic_revops, "finops": heuristic_finops}


def _digest(metrics: dict, findings: list[dict]) -> str:
    """The metrics and the top findings, compact enough for a small prompt."""
    slim = {k: (v[:8] if isinstance(v, list) else v) for k, v in metrics.items() if k != "spend_by_day"}
    top = [{k: v for k, v in f.items()
            if k in ("kind", "title", "score", "reasons", "estimated_monthly", "rule", "action", "from", "to")}
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
        {"role": "system", "content": SYSTEM_PROMPT.format(
            role=ROLES[agent], currency=result.metrics.get("reporting_currency") or "as the data names it")},
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


def summary_lines(narrative: str) -> list[str]:
    """A stored narrative as the lines the pages list: one per line, bullet marks dropped. A narrative
    written as one paragraph (runs stored before the lines) is one line."""
    lines = []
    for raw in (narrative or "").splitlines():
        line = raw.strip()
        for mark in ("- ", "• ", "* "):
            if line.startswith(mark):
                line = line[len(mark):].strip()
                break
        if line:
            lines.append(line)
    return lines
