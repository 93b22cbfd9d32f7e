"""The RevOps pilot's snapshot figures and findings computed in the tenant's PostgreSQL schema (ADR 0029).

The same figures as `agents.pilots.revops.analyze` (the reference the tests compare with): open pipeline,
weighted forecast, by stage / forecast category / close month, win rate, average deal size, cycle length,
stale / overdue / at-risk deals with their scores, top accounts, unlinked deals, status pending and the
amounts not converted. The run never reads the view's rows into Python: one pass writes a temporary
table `revops_deals` (one narrow row per routed deal, the pilot's derived values: canonical status,
probability used, days since update, risk points), every figure is an aggregate over it, and only the
listed deals (at most `max_listed` per finding kind, as the pilot lists them) come back as rows, read
again from the view and turned into findings by the pilot's own functions (`deal_from_row`,
`risk_signals`), so a reason reads exactly as the Python pilot writes it.

Every figure keeps its query (`query_ref`): `WITH revops_deals AS (<the pass>) <the aggregate>`, which
returns it again with the search_path set to the tenant.

Routing (agents/routing.py `row_in_domain`): a deal counts when one of its sources is a connection
routed to RevOps, or when none of its sources is a connection the tenant has (routed by its entity).
The filter is written only when some connection is not routed to RevOps.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.db import connection

from ..pilots import PilotResult, revops
from ..pilots.findings import RECORDS_MAX, query_ref, records_ref, unconverted_finding, with_action
from ..pilots.values import money, money_text, pct
from .pg_settings import statement_settings

TABLE = "revops_deals"
PASS_SETTINGS = {"work_mem": "256MB", "jit": "off"}
# The grouping sets are a few dozen groups, but the planner guesses a million and sorts 1M rows per set:
# hashing all of them in one pass is what it should do (and what it does without sorts to choose from).
GROUP_SETTINGS = {**PASS_SETTINGS, "enable_sort": "off"}


def _probability_sql() -> str:
    defaults = " ".join(f"WHEN '{c}' THEN {p}" for c, p in revops.CATEGORY_PROBABILITY.items())
    return (f"CASE WHEN v.probability BETWEEN 0 AND 1 THEN v.probability "
            f"ELSE CASE {_canonical('stage_category', revops.STAGE_CATEGORIES)} {defaults} "
            f"ELSE {revops.UNKNOWN_STAGE_PROBABILITY} END END")


def _canonical(column: str, allowed: tuple[str, ...]) -> str:
    values = ", ".join(f"'{v}'" for v in allowed)
    return f"(CASE WHEN btrim(v.{column}) IN ({values}) THEN btrim(v.{column}) END)"


ROUTED = ("(NOT EXISTS (SELECT 1 FROM jsonb_array_elements(CASE jsonb_typeof(v.sources) WHEN 'array' THEN v.sources "
          "ELSE '[]'::jsonb END) s WHERE (s->>'connection_id') ~ '^[0-9]+$' "
          "AND (s->>'connection_id')::bigint = ANY(%(excluded)s::bigint[])) "
          "OR EXISTS (SELECT 1 FROM jsonb_array_elements(CASE jsonb_typeof(v.sources) WHEN 'array' THEN v.sources "
          "ELSE '[]'::jsonb END) s WHERE (s->>'connection_id') ~ '^[0-9]+$' "
          "AND (s->>'connection_id')::bigint = ANY(%(routed)s::bigint[])))")


# The deal's lineage, small and cheap to group by: `sources` without each source's record id and object
# (those of the first three sources; a deal merged from more keeps the rest, a group of its own). One
# mention of `sources`: the view builds that jsonb per row, and each mention would build it again. The
# view's `sources` is always an array (or NULL): `#-` on a scalar would fail the run, loudly.
LINEAGE_SQL = ("v.sources #- '{0,source_id}' #- '{0,source_object}' #- '{1,source_id}' #- '{1,source_object}' "
               "#- '{2,source_id}' #- '{2,source_object}' AS lineage")


def pass_sql(*, routed: bool) -> str:
    """One narrow row per deal of the view (routed to RevOps when `routed`): what every figure reads.
    `sources` is mentioned once (LINEAGE_SQL)."""
    return f"""SELECT coalesce(nullif(btrim(v.unified_id), ''), btrim(v.id)) AS unified_id,
       {_canonical('status', revops.STATUSES)} AS status,
       {_canonical('stage_category', revops.STAGE_CATEGORIES)} AS stage_category,
       {_canonical('forecast_category', revops.FORECAST_CATEGORIES)} AS forecast_category,
       nullif(btrim(v.stage), '') AS stage, v.amount_reporting AS amount, v.amount AS source_amount,
       {_probability_sql()} AS p, coalesce(v.probability BETWEEN 0 AND 1, false) AS own_p,
       v.close_date, (v.created_at AT TIME ZONE 'UTC')::date AS created,
       %(today)s::date - coalesce((v.updated_at AT TIME ZONE 'UTC')::date,
                                  (v.created_at AT TIME ZONE 'UTC')::date) AS since,
       nullif(btrim(v.account_unified_id), '') AS account, coalesce(btrim(v.next_step), '') <> '' AS next_step,
       nullif(btrim(v.currency), '') AS currency, coalesce(nullif(btrim(v.fx_missing), ''), 'not_converted')
         AS fx_missing, nullif(btrim(v.reporting_currency), '') AS reporting_currency,
       {LINEAGE_SQL}
FROM dcl_view_opportunity v{' WHERE ' + ROUTED if routed else ''}"""


@dataclass(frozen=True)
class Pass:
    """The deal pass a run wrote (`revops_deals`): its SQL and params, for the stored queries."""

    sql: str
    params: dict

    def ref(self, sql: str, params: Mapping | None = None) -> dict:
        """The stored query of a figure over `revops_deals`: the same SQL with the pass inline."""
        body = sql.strip()
        if body.upper().startswith("WITH "):
            body = body[5:]
            return query_ref(f"WITH {TABLE} AS ({self.sql}), {body}", {**self.params, **(params or {})})
        return query_ref(f"WITH {TABLE} AS ({self.sql}) {body}", {**self.params, **(params or {})})


def _execute(sql: str, params: Mapping | None = None, settings: Mapping[str, str] | None = None) -> list[dict]:
    """The statement's rows as dicts; `settings` apply to it alone (restored after)."""
    with connection.cursor() as cur, statement_settings(cur, settings):
        cur.execute(sql, params or {})
        names = [c.name for c in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def materialize(*, today: date, excluded: Sequence[int], routed: Sequence[int]) -> Pass:
    """Write `revops_deals` (dropped first, and by `release`), the one pass over the view."""
    params = {"today": today.isoformat()}
    if excluded:
        params |= {"excluded": list(excluded), "routed": list(routed)}
    sql = pass_sql(routed=bool(excluded))
    with connection.cursor() as cur:
        cur.execute(f"DROP TABLE IF EXISTS pg_temp.{TABLE}")
        with statement_settings(cur, PASS_SETTINGS):
            cur.execute(f"CREATE TEMPORARY TABLE {TABLE} AS {sql}", params)
        cur.execute(f"ANALYZE {TABLE}")
    return Pass(sql=" ".join(sql.split()), params=params)


def release() -> None:
    with connection.cursor() as cur:
        cur.execute(f"DROP TABLE IF EXISTS pg_temp.{TABLE}")


# --- the figures -------------------------------------------------------------------------------

# Totals over every deal of the pass; `big`: twice the median open amount (3 open amounts or more),
# the at-risk "large deal" bar; `next_step_in_use`: the team records next steps at all.
TOTALS_SQL = f"""
SELECT count(*) AS deals_total, count(*) FILTER (WHERE status = 'open') AS open_count,
       sum(amount) FILTER (WHERE status = 'open') AS open_pipeline,
       sum(amount * p) FILTER (WHERE status = 'open') AS weighted,
       count(*) FILTER (WHERE status = 'won') AS won_count, count(*) FILTER (WHERE status = 'lost') AS lost_count,
       coalesce(sum(amount) FILTER (WHERE status = 'won'), 0) AS won_value,
       coalesce(sum(amount) FILTER (WHERE status = 'lost'), 0) AS lost_value,
       avg(amount) FILTER (WHERE status = 'won' AND amount IS NOT NULL) AS average_deal_size,
       avg(close_date - created) FILTER (WHERE status = 'won' AND close_date >= created) AS cycle_days,
       count(*) FILTER (WHERE status = 'open' AND amount IS NOT NULL) AS open_amounts,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY amount) FILTER (WHERE status = 'open') AS open_median,
       bool_or(next_step) AS next_step_in_use,
       count(*) FILTER (WHERE status = 'open' AND since >= %(stale_days)s) AS stale_count,
       coalesce(sum(amount) FILTER (WHERE status = 'open' AND since >= %(stale_days)s), 0) AS stale_value,
       count(*) FILTER (WHERE status = 'open' AND close_date < %(today)s::date) AS overdue_count,
       coalesce(sum(amount) FILTER (WHERE status = 'open' AND close_date < %(today)s::date), 0) AS overdue_value,
       count(*) FILTER (WHERE source_amount IS NULL) AS missing_amount_count,
       count(*) FILTER (WHERE status = 'open' AND NOT own_p) AS probability_from_stage_count,
       count(*) FILTER (WHERE status IS NULL) AS status_pending_count,
       coalesce(sum(amount) FILTER (WHERE status IS NULL), 0) AS status_pending_amount,
       count(*) FILTER (WHERE status = 'open' AND account IS NULL) AS unlinked,
       coalesce(sum(amount) FILTER (WHERE status = 'open' AND account IS NULL), 0) AS unlinked_amount
FROM {TABLE}
"""

# The groups, in two scans (grouping sets), the money apart: every aggregate runs for every set, and the
# numeric sums are what costs. Money: deals by status and stage category, forecast category and close
# month. Keys: the vendor stage of those awaiting review; currency, reason not converted and reporting
# currency together (a handful of combinations); the lineages (what `deals_by_source` and the unlinked
# deals' systems read).
GROUPS_SQL = f"""
SELECT CASE WHEN grouping(stage_category) = 0 THEN 'stage' WHEN grouping(forecast_category) = 0 THEN 'forecast'
            ELSE 'month' END AS by,
       status, stage_category, forecast_category, month, count(*) AS n, sum(amount) AS amount,
       sum(amount * p) AS weighted
FROM (SELECT status, stage_category, forecast_category, amount, p,
             CASE WHEN status = 'open' THEN coalesce(to_char(close_date, 'YYYY-MM'), '(no close date)') END AS month
      FROM {TABLE}) d
GROUP BY GROUPING SETS ((status, stage_category), (status, forecast_category), (status, month))
"""
KEYS_SQL = f"""
SELECT CASE WHEN grouping(stage) = 0 THEN 'pending_stage' WHEN grouping(currency) = 0 THEN 'currency'
            ELSE 'lineage' END AS by,
       status, stage, currency, fx_missing, reporting_currency, lineage, count(*) AS n,
       coalesce(sum(source_amount) FILTER (WHERE fx_missing IS NOT NULL), 0) AS source_amount,
       count(*) FILTER (WHERE status = 'open' AND account IS NULL) AS unlinked
FROM (SELECT status, source_amount, account, lineage, reporting_currency, currency,
             CASE WHEN status IS NULL THEN coalesce(stage, '(no stage)') END AS stage,
             CASE WHEN source_amount IS NOT NULL AND amount IS NULL THEN fx_missing END AS fx_missing
      FROM {TABLE}) d
GROUP BY GROUPING SETS ((status, stage), (currency, fx_missing, reporting_currency), (lineage))
"""

UNCONVERTED_IDS_SQL = f"""
SELECT unified_id FROM {TABLE} WHERE source_amount IS NOT NULL AND amount IS NULL
ORDER BY unified_id COLLATE "C" LIMIT %(ids_max)s
"""

# The score of every open deal (revops.risk_signals' points as a sum of CASE), history points joined.
SCORE_SQL = f"""
SELECT d.unified_id, d.amount,
       least(100, CASE WHEN d.close_date < %(today)s::date THEN {revops.RISK_OVERDUE} ELSE 0 END
         + CASE WHEN d.since >= %(stale_days)s THEN {revops.RISK_STALE} ELSE 0 END
         + CASE WHEN d.close_date IS NULL THEN {revops.RISK_NO_CLOSE_DATE}
                WHEN d.close_date - %(today)s::date BETWEEN 0 AND {revops.CLOSING_SOON_DAYS}
                     AND d.p < {revops.EARLY_PROBABILITY} THEN {revops.RISK_CLOSING_SOON_EARLY} ELSE 0 END
         + CASE WHEN %(next_step_in_use)s AND NOT d.next_step THEN {revops.RISK_NO_NEXT_STEP} ELSE 0 END
         + CASE WHEN d.amount >= %(big)s::numeric AND d.p <= 0.30 THEN {revops.RISK_BIG_LOW_PROBABILITY} ELSE 0 END
         + coalesce(h.points, 0)) AS score
FROM {TABLE} d LEFT JOIN {{history}} h ON h.unified_id = d.unified_id
WHERE d.status = 'open'
"""
RISK_SQL = f"""
WITH scored AS ({SCORE_SQL})
SELECT count(*) FILTER (WHERE score >= %(threshold)s) AS at_risk_count,
       coalesce(sum(amount) FILTER (WHERE score >= %(threshold)s), 0) AS at_risk_value,
       (SELECT array_agg(unified_id ORDER BY score DESC, coalesce(amount, 0) DESC, unified_id COLLATE "C")
        FROM (SELECT unified_id, score, amount FROM scored WHERE score >= %(threshold)s
              ORDER BY score DESC, coalesce(amount, 0) DESC, unified_id COLLATE "C" LIMIT %(listed)s) t) AS listed
FROM scored
"""

# Deal ids by amount (largest first, then by id) under a condition: the deals a finding lists.
RANKED_SQL = f"""
SELECT unified_id FROM {TABLE} WHERE {{where}}
ORDER BY coalesce(amount, 0) DESC, unified_id COLLATE "C" LIMIT %(limit)s
"""

TOP_ACCOUNTS_SQL = f"""
SELECT account, sum(coalesce(amount, 0)) AS open_pipeline, sum(coalesce(amount, 0) * p) AS weighted,
       count(*) AS open_deals
FROM {TABLE} WHERE status = 'open' AND account IS NOT NULL GROUP BY account
ORDER BY 2 DESC, account COLLATE "C" LIMIT %(limit)s
"""
ACCOUNT_LINEAGE_SQL = f"""
SELECT account, jsonb_agg(DISTINCT lineage) AS lineage FROM {TABLE}
WHERE status = 'open' AND account = ANY(%(accounts)s) GROUP BY account
"""


def _json(value):
    """A jsonb value as Python (Django's cursors hand jsonb over as text)."""
    return json.loads(value) if isinstance(value, str | bytes) else value


def _f(value) -> float:
    return float(value) if value is not None else 0.0


def _systems_of(lineage, systems: Mapping[int, str] | None) -> set[str]:
    """The systems named by a lineage (a `sources` list), as revops.system_of names each source."""
    lineage = _json(lineage)
    if not isinstance(lineage, list):  # no lineage: the pilot has nothing to iterate either
        return set()
    return {name for name in (revops.system_of(e, systems) for e in lineage) if name}


def coalesce_key(g: dict) -> str | None:
    """The group's label: its category, or PENDING for deals whose category awaits review."""
    if g["by"] == "stage":
        return g["stage_category"] or revops.PENDING
    if g["by"] == "forecast":
        return g["forecast_category"] or revops.PENDING
    return None


def _grouped(rows: list[dict], by: str, order: tuple[str, ...], label: str) -> list[dict]:
    """revops._grouped's rows: the groups of `by` summed per label (a set grouped by status too holds one
    row per status), in `order`, pending review last."""
    rank = {v: i for i, v in enumerate(order)}
    sums: dict[str, list] = {}
    for r in rows:
        if r["by"] == by:
            g = sums.setdefault(r["key"], [0, Decimal(0), Decimal(0)])
            g[0] += int(r["n"])
            g[1] += r["amount"] or 0
            g[2] += r["weighted"] or 0
    out = [{label: key, "count": n, "amount": money(float(amount)), "weighted": money(float(weighted))}
           for key, (n, amount, weighted) in sums.items()]
    return sorted(out, key=lambda g: (rank.get(g[label], len(order)), g[label]))


def _deals(ids: Sequence[str], systems) -> dict[str, revops.Deal]:
    """The listed deals' rows, read again from the view (at most a few hundred)."""
    if not ids:
        return {}
    rows = _execute("SELECT * FROM dcl_view_opportunity WHERE unified_id = ANY(%(ids)s)", {"ids": list(ids)})
    missing = set(ids) - {r["unified_id"] for r in rows}
    if missing:  # ids the pass trimmed or took from `id`: by the pass's own expression (a scan)
        rows += _execute("SELECT * FROM dcl_view_opportunity WHERE coalesce(nullif(btrim(unified_id), ''), "
                         "btrim(id)) = ANY(%(ids)s)",
                         {"ids": list(missing)})
    return {d.unified_id: d for d in (revops.deal_from_row({**r, "sources": _json(r.get("sources"))}, systems)
                                      for r in rows)}


def analyze(*, today: date, config: revops.RevOpsConfig, systems: Mapping[int, str] | None,
            reporting_currency: str | None, excluded: Sequence[int] = (), routed: Sequence[int] = (),
            history_table: str | None = None, history_signals=None,
            history_query: dict | None = None) -> tuple[PilotResult, int]:
    """The pilot's metrics and findings over the view, and the number of deals read. `history_table`: a
    temporary table (unified_id, points) of the history's risk points per open deal, `history_query`
    the query that wrote it (inlined into the stored at-risk query, so it runs without the table);
    `history_signals`: unified id → its history (code, reason) pairs, called with the listed ids only."""
    scope = materialize(today=today, excluded=excluded, routed=routed)
    try:
        return _figures(scope, today=today, config=config, systems=systems, reporting_currency=reporting_currency,
                        history_table=history_table, history_signals=history_signals, history_query=history_query)
    finally:
        release()


def _figures(scope: Pass, *, today, config, systems, reporting_currency, history_table,
             history_signals, history_query) -> tuple[PilotResult, int]:
    params = {"today": today.isoformat(), "stale_days": config.stale_days}
    t = _execute(TOTALS_SQL, params)[0]
    totals_query = scope.ref(TOTALS_SQL, params)
    big = 2 * float(t["open_median"]) if int(t["open_amounts"]) >= 3 and t["open_median"] is not None else None

    group_rows = _execute(GROUPS_SQL, settings=GROUP_SETTINGS)
    key_rows = _execute(KEYS_SQL, settings=GROUP_SETTINGS)
    groups_query, keys_query = scope.ref(GROUPS_SQL), scope.ref(KEYS_SQL)
    groups = [{**g, "key": coalesce_key(g)} for g in group_rows]
    by_stage = _grouped([g for g in groups if g["status"] == "open"], "stage", revops.STAGE_CATEGORIES,
                        "stage_category")
    for g in by_stage:
        g["default_probability"] = revops.CATEGORY_PROBABILITY.get(g["stage_category"])
    by_month = sorted(({"month": g["month"], "count": int(g["n"]), "amount": money(_f(g["amount"])),
                        "weighted": money(_f(g["weighted"]))} for g in groups if g["by"] == "month" and g["month"]),
                      key=lambda g: g["month"])
    by_forecast = _grouped([g for g in groups if g["status"] in ("open", "won")], "forecast",
                           revops.FORECAST_CATEGORIES, "forecast_category")
    keys = [k for k in key_rows if k["by"] == "currency"]
    unconverted = _unconverted([k for k in keys if k["fx_missing"]])
    currencies = sorted({k["currency"] for k in keys if k["currency"]})
    per_reporting: dict[str, int] = {}
    for k in keys:
        if k["reporting_currency"]:
            per_reporting[k["reporting_currency"]] = per_reporting.get(k["reporting_currency"], 0) + int(k["n"])
    reporting = sorted((-n, c) for c, n in per_reporting.items())
    cur = reporting[0][1] if reporting else reporting_currency
    pending_stages = sorted(k["stage"] for k in key_rows if k["by"] == "pending_stage" and k["status"] is None
                            and k["stage"])
    by_source: dict[str, int] = {}
    unlinked_systems: set[str] = set()
    for row in key_rows:
        if row["by"] != "lineage":
            continue
        names = _systems_of(row["lineage"], systems)
        for name in names or ("unknown",):
            by_source[name] = by_source.get(name, 0) + int(row["n"])
        if row["unlinked"]:
            unlinked_systems |= names

    history = f"(SELECT unified_id, points FROM pg_temp.{history_table})" if history_table else \
        "(SELECT NULL::text AS unified_id, 0 AS points WHERE false)"
    risk_params = {**params, "next_step_in_use": bool(t["next_step_in_use"]), "big": big,
                   "threshold": config.at_risk_threshold, "listed": config.max_listed}
    risk_sql = RISK_SQL.replace("{history}", history)
    risk = _execute(risk_sql, risk_params)[0]
    listed_risk = list(risk["listed"] or [])

    def ranked(where: str, limit: int) -> list[str]:
        sql = RANKED_SQL.replace("{where}", where)
        return [r["unified_id"] for r in _execute(sql, {**params, "limit": limit})]

    overdue_ids = ranked("status = 'open' AND close_date < %(today)s::date", config.max_listed)
    stale_ids = ranked("status = 'open' AND since >= %(stale_days)s", config.max_listed)
    pending_ids = ranked("status IS NULL", RECORDS_MAX)
    orphan_ids = ranked("status = 'open' AND account IS NULL", RECORDS_MAX)
    deals = _deals(list(dict.fromkeys(listed_risk + overdue_ids + stale_ids)), systems)
    signals = history_signals(listed_risk) if history_signals and listed_risk else {}

    won, lost = int(t["won_count"]), int(t["lost_count"])
    won_value, lost_value = _f(t["won_value"]), _f(t["lost_value"])
    ranking = _top_accounts(config.top_accounts, systems)
    metrics = {
        "as_of": today.isoformat(),
        "deals_total": int(t["deals_total"]),
        "open_count": int(t["open_count"]),
        "open_pipeline": money(_f(t["open_pipeline"])),
        "weighted_forecast": money(_f(t["weighted"])),
        "forecast_by_close_month": by_month,
        "pipeline_by_stage": by_stage,
        "pipeline_by_forecast_category": by_forecast,
        "won_count": won, "lost_count": lost, "won_value": money(won_value), "lost_value": money(lost_value),
        "win_rate_pct": pct(won, won + lost), "win_rate_by_value_pct": pct(won_value, won_value + lost_value),
        "average_deal_size": money(float(t["average_deal_size"])) if t["average_deal_size"] is not None else None,
        "average_sales_cycle_days": round(float(t["cycle_days"]), 1) if t["cycle_days"] is not None else None,
        "stale_days": config.stale_days,
        "stale_count": int(t["stale_count"]), "stale_value": money(_f(t["stale_value"])),
        "overdue_count": int(t["overdue_count"]), "overdue_value": money(_f(t["overdue_value"])),
        "at_risk_count": int(risk["at_risk_count"]), "at_risk_value": money(_f(risk["at_risk_value"])),
        "top_accounts": ranking,
        "unlinked_open_deals": int(t["unlinked"]),
        "missing_amount_count": int(t["missing_amount_count"]),
        "probability_from_stage_count": int(t["probability_from_stage_count"]),
        "currencies": currencies,
        "reporting_currency": cur,
        "unconverted": unconverted,
        "status_pending_count": int(t["status_pending_count"]),
        "deals_by_source": dict(sorted(by_source.items())),
    }
    if history_table and history_query:  # stored with the history's risks inline: it runs on its own
        risk_query = scope.ref(RISK_SQL.replace("{history}", f"({history_query['sql']})"),
                               {**risk_params, **history_query["params"]})
    elif history_table:
        raise ValueError("a history table needs the query that wrote it (history_query)")
    else:
        risk_query = scope.ref(risk_sql, risk_params)
    metrics["queries"] = {
        "totals": totals_query, "groups": groups_query, "at_risk": risk_query,
        "keys": keys_query,
        "top_accounts": scope.ref(TOP_ACCOUNTS_SQL, {"limit": config.top_accounts})}

    findings: list[dict] = []
    for uid in listed_risk:
        d = deals[uid]
        found = revops.risk_signals(d, today=today, stale_days=config.stale_days, big_deal_amount=big,
                                    next_step_in_use=bool(t["next_step_in_use"]), currency=cur,
                                    history=signals.get(uid, ()))
        score = min(sum(points for _, points, _ in found), 100)
        findings.append(_deal_finding(
            "at_risk_deal", "high" if score >= 70 else "medium", f"{d.name} is at risk ({score}/100)", d, cur,
            risk_query, score=score, reasons=[reason for _, _, reason in found],
            signals=[code for code, _, _ in found], days_since_update=revops.days_since_update(d, today)))
    for uid in overdue_ids:
        d = deals[uid]
        days_over = (today - d.close_date).days
        findings.append(_deal_finding("overdue_deal", "medium", f"{d.name} was due to close {days_over} days ago",
                                      d, cur, totals_query, days=days_over))
    for uid in stale_ids:
        d = deals[uid]
        since = revops.days_since_update(d, today)
        findings.append(_deal_finding("stale_deal", "low", f"{d.name} has not been updated in {since} days", d, cur,
                                      totals_query, days=since))
    if unconverted["count"]:
        ids = [r["unified_id"] for r in _execute(UNCONVERTED_IDS_SQL, {"ids_max": RECORDS_MAX})]
        finding = unconverted_finding(unconverted, "deals", cur, entity="opportunity", ids=ids)
        _counted(finding.get("records"), unconverted["count"])
        finding["query"] = keys_query
        findings.append(finding)
    pending = int(t["status_pending_count"])
    if pending:
        amount = money(_f(t["status_pending_amount"]))
        findings.append(with_action({
            "kind": "status_pending", "severity": "medium", "count": pending, "currency": cur,
            "amount": amount, "stages": pending_stages,
            "title": f"{pending} deals ({money_text(amount, cur)}) have a stage whose meaning awaits "
                     "review: they are in no open, won or lost figure until it is decided",
            "records": _counted(records_ref("opportunity", pending_ids), pending), "query": totals_query}))
    unlinked = int(t["unlinked"])
    if unlinked:
        amount = money(_f(t["unlinked_amount"]))
        findings.append(with_action({
            "kind": "unlinked_deals", "severity": "low", "count": unlinked, "currency": cur, "amount": amount,
            "systems": sorted(unlinked_systems),
            "title": f"{unlinked} open deals ({money_text(amount, cur)}) are linked to no account",
            "records": _counted(records_ref("opportunity", orphan_ids), unlinked), "query": totals_query}))
    return PilotResult(metrics=metrics, findings=findings), int(t["deals_total"])


def _counted(records: dict | None, count: int) -> dict | None:
    """A records ref of the first ids whose `count` is the real number of deals (the ids stop at RECORDS_MAX)."""
    if records is not None:
        records["count"] = count
        if count > len(records["unified_ids"]):
            records["truncated"] = True
    return records


def _unconverted(rows: list[dict]) -> dict:
    """revops.unconverted_amounts' shape: per currency the count, the amount in it and the reasons."""
    by_currency: dict[str, dict] = {}
    for r in rows:
        g = by_currency.setdefault(r["currency"] or "(none)", {"currency": r["currency"], "count": 0,
                                                               "amount": Decimal(0), "reasons": {}})
        g["count"] += int(r["n"])
        g["amount"] += r["source_amount"]
        g["reasons"][r["fx_missing"]] = g["reasons"].get(r["fx_missing"], 0) + int(r["n"])
    out = sorted(by_currency.values(), key=lambda g: (-g["count"], g["currency"] or ""))
    for g in out:
        g["amount"] = money(float(g["amount"]))
        g["reasons"] = dict(sorted(g["reasons"].items()))
    return {"count": sum(g["count"] for g in out), "by_currency": out}


def _top_accounts(limit: int, systems) -> list[dict]:
    """revops.top_accounts over `revops_deals`: the ranking, with each account's name and systems."""
    rows = _execute(TOP_ACCOUNTS_SQL, {"limit": limit})
    if not rows:
        return []
    ids = [r["account"] for r in rows]
    lineage = {r["account"]: r["lineage"] for r in _execute(ACCOUNT_LINEAGE_SQL, {"accounts": ids})}
    accounts = {}
    if _exists("dcl_view_account"):
        accounts = {r["unified_id"]: r for r in _execute(
            "SELECT unified_id, name, sources FROM dcl_view_account WHERE unified_id = ANY(%(ids)s)", {"ids": ids})}
    out = []
    for r in rows:
        uid = r["account"]
        account = accounts.get(uid) or {}
        kinds = set()
        for sources in _json(lineage.get(uid)) or ():
            kinds |= _systems_of(sources, systems)
        kinds |= _systems_of(account.get("sources"), systems)
        name = (account.get("name") or "").strip()
        out.append({"account_unified_id": uid, "name": name or f"(account {uid})",
                    "open_pipeline": money(_f(r["open_pipeline"])), "weighted": money(_f(r["weighted"])),
                    "open_deals": int(r["open_deals"]), "systems": sorted(kinds)})
    return out


def _exists(name: str) -> bool:
    with connection.cursor() as cur:
        cur.execute("SELECT to_regclass(%s) IS NOT NULL", [name])
        return bool(cur.fetchone()[0])


def _deal_finding(kind: str, severity: str, title: str, d: revops.Deal, currency: str | None, query: dict,
                  **fields) -> dict:
    finding = revops._deal_finding(kind, severity, title, d, currency, **fields)
    finding["query"] = query
    return finding
