"""A run's findings out of the platform: as CSV (the agents page and the API) and to Slack.

Both read the findings as every reader does (`selectors.run_findings`: current shape, links). Slack
gets them when SLACK_WEBHOOK_URL is set (autonomos.core.notify, the platform's one webhook): the
run's summary lines and its most severe findings, each with its page. A webhook that fails is logged
and noted on the run (`inputs.slack`); it never fails the run.
"""

from __future__ import annotations

import csv
import io
import json
import logging

from django.conf import settings

from ..models import AgentRun
from ..narrative import summary_lines
from ..pilots.findings import SEVERITY_RANK
from ..selectors import run_findings

logger = logging.getLogger(__name__)

CSV_COLUMNS = ["id", "kind", "severity", "title", "amount", "currency", "action", "records_entity", "records_count",
               "record_ids", "from", "to", "page", "query_sql", "query_params"]
SLACK_FINDINGS = 5


def _amount(f: dict):
    subject = f.get("subject") or {}
    for value in (f.get("amount"), f.get("delta"), f.get("estimated_monthly"), subject.get("amount")):
        if value is not None:
            return value
    return ""


def findings_csv(run: AgentRun) -> str:
    """One line per finding: what, how much (in `currency`), what to do, its records (ids separated by
    spaces, at most the 500 the finding keeps) and the query behind it (SQL and JSON parameters)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    for f in run_findings(run):
        records, query = f.get("records") or {}, f.get("query") or {}
        writer.writerow({
            "id": f.get("id"), "kind": f.get("kind"), "severity": f.get("severity"), "title": f.get("title"),
            "amount": _amount(f), "currency": f.get("currency") or "", "action": f.get("action") or "",
            "records_entity": records.get("entity", ""), "records_count": records.get("count", ""),
            "record_ids": " ".join(records.get("unified_ids") or ()), "from": f.get("from", ""), "to": f.get("to", ""),
            "page": (f.get("links") or {}).get("page", ""), "query_sql": query.get("sql", ""),
            "query_params": json.dumps(query.get("params"), sort_keys=True) if query else "",
        })
    return out.getvalue()


def slack_text(run: AgentRun, *, base_url: str = "") -> str:
    findings = sorted(run_findings(run), key=lambda f: SEVERITY_RANK.get(str(f.get("severity")), 3))
    lines = [f"*{run.get_agent_display()}* run #{run.pk}: {len(findings)} findings"]
    lines += [f"{line}" for line in summary_lines(run.narrative or "")[:6]]
    for f in findings[:SLACK_FINDINGS]:
        page = (f.get("links") or {}).get("page")
        link = f" <{base_url}{page}|open>" if page and base_url else ""
        lines.append(f"• [{f.get('severity')}] {f.get('title')}{link}")
    if len(findings) > SLACK_FINDINGS:
        lines.append(f"… and {len(findings) - SLACK_FINDINGS} more (CSV: findings.csv of run #{run.pk})")
    return "\n".join(lines)


def findings_slack(run: AgentRun) -> dict | None:
    """Send the run's findings to Slack when a webhook is configured; what happened, for the run's
    inputs (None when no webhook is set). Never raises."""
    from autonomos.core.notify import notify_slack

    url = settings.SLACK_WEBHOOK_URL
    if not url:
        return None
    try:
        sent = notify_slack(text=slack_text(run, base_url=getattr(settings, "PUBLIC_BASE_URL", "") or ""), url=url)
    except Exception as exc:  # noqa: BLE001 - a webhook must never fail the run
        logger.warning("slack findings of run %s failed: %s", run.pk, type(exc).__name__)
        return {"sent": False, "error": type(exc).__name__}
    return {"sent": sent} if sent else {"sent": False, "error": "the webhook refused or could not be reached"}
