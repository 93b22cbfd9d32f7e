"""The pipeline waterfall between two dates a person chooses (issue #20): the page
`/agents/revops/waterfall/` and `GET /api/agents/revops/waterfall/` read it from here.

The waterfall itself is `revenue.pipeline_waterfall` (one SQL statement over the history, ADR 0029);
this module turns four query-string dates into its `Period`, refuses what it cannot answer with a
sentence a person can act on (`WaterfallInputError`, a 400 in the API and a notice on the page), and
says when the tenant has nothing to compute it from (no published opportunity view, no history yet)
instead of drawing twelve zero bars.
"""

from __future__ import annotations

from datetime import date

from django.db import connection
from django.utils import timezone

from .revenue import Period, pipeline_waterfall, relation_exists

# Query-string names of the four dates, in the order the form shows them.
FIELDS = ("period_start", "period_end", "from", "to")
MAX_SPAN_DAYS = 3 * 366  # a longer close-date period or comparison is a typo more often than a question
# The oldest and latest day accepted: far enough for any pipeline, and well inside what date arithmetic
# and PostgreSQL's timestamptz take (`until` + 1 day must still be a date).
FIRST_DAY, LAST_DAY = date(1970, 1, 1), date(2999, 12, 31)


class WaterfallInputError(ValueError):
    """Dates the waterfall cannot be computed for; `errors` maps each query-string name (or
    "non_field_errors") to its sentences, as DRF's validation errors do."""

    def __init__(self, errors: dict[str, list[str]]):
        self.errors = errors
        super().__init__("; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items()))


def default_period(today: date | None = None) -> Period:
    """What the agent run uses: this calendar quarter, compared between 28 days ago and today (UTC)."""
    return Period.default(today or timezone.now().date())


def _day(name: str, raw: str | None, default: date, errors: dict) -> date:
    if raw is None or not str(raw).strip():
        return default
    try:
        day = date.fromisoformat(str(raw).strip())
    except ValueError:
        errors.setdefault(name, []).append(f"'{str(raw)[:40]}' is not a date: write it as YYYY-MM-DD (ISO 8601).")
        return default
    if not FIRST_DAY <= day <= LAST_DAY:
        errors.setdefault(name, []).append(f"{day} is outside {FIRST_DAY} to {LAST_DAY}.")
        return default
    return day


def parse_period(query, today: date | None = None) -> Period:
    """The `Period` of a query string (`period_start`, `period_end`, `from`, `to`; each missing one takes
    the default's value). Raises `WaterfallInputError` naming every bad field: a date not in ISO form,
    a period ending before it starts, "to" before "from", a span of more than three years."""
    default, errors = default_period(today), {}
    start = _day("period_start", query.get("period_start"), default.start, errors)
    end = _day("period_end", query.get("period_end"), default.end, errors)
    since = _day("from", query.get("from"), default.since, errors)
    until = _day("to", query.get("to"), default.until, errors)
    if errors:
        raise WaterfallInputError(errors)
    if end < start:
        errors["period_end"] = [f"The period ends ({end}) before it starts ({start})."]
    elif (end - start).days > MAX_SPAN_DAYS:
        errors["period_end"] = [f"The period runs {(end - start).days + 1} days; the waterfall takes at most "
                                f"{MAX_SPAN_DAYS} (three years)."]
    if until < since:
        errors["to"] = [f'"To" ({until}) is before "from" ({since}).']
    elif (until - since).days > MAX_SPAN_DAYS:
        errors["to"] = [f"The comparison spans {(until - since).days} days; the waterfall takes at most "
                        f"{MAX_SPAN_DAYS} (three years)."]
    if errors:
        raise WaterfallInputError(errors)
    return Period(start=start, end=end, since=since, until=until)


def _history_is_empty() -> bool:
    with connection.cursor() as cur:
        cur.execute("SELECT NOT EXISTS (SELECT 1 FROM dcl_history_opportunity)")
        return bool(cur.fetchone()[0])


def waterfall_between(period: Period, *, today: date | None = None) -> dict:
    """The waterfall of `period` for the current tenant, in its reporting currency.

    Rates: the latest on or before `to` (capped at today), so a link to a past window gives the same
    figures tomorrow, and the default window gives the agent run's. Without a published opportunity
    view or any history the answer is a statement and no bars (the figures would be zeros that mean
    "not known", not "nothing moved")."""
    from tenants.money.selectors import reporting_currency

    today = today or timezone.now().date()
    currency = reporting_currency()
    dates = {"period_start": period.start.isoformat(), "period_end": period.end.isoformat(),
             "since": period.since.isoformat(), "until": period.until.isoformat(), "currency": currency}
    if not relation_exists("dcl_view_opportunity"):
        return {**dates, "bars": [], "statement": "The opportunity view is not published to PostgreSQL yet: no "
                "waterfall until a CRM is connected, synced and its view materialized."}
    if _history_is_empty():
        return {**dates, "bars": [], "statement": "No opportunity history yet: the waterfall compares what the "
                "platform knew on two days, and it has not recorded a deal so far."}
    return pipeline_waterfall(period, reporting_currency=currency, rate_day=min(period.until, today))


def query_string(period: Period) -> str:
    """The page's and the API's query string for `period` (what the agents page links with)."""
    return (f"period_start={period.start.isoformat()}&period_end={period.end.isoformat()}"
            f"&from={period.since.isoformat()}&to={period.until.isoformat()}")

