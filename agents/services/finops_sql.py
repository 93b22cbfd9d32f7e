"""FinOps figures computed by PostgreSQL over the tenant's unified cost view (docs/adr/0030).

Every function here runs one SQL statement against `dcl_view_cost` (and `dcl_view_account`,
`dcl_view_cloud_resource`) in the current tenant's schema and returns its figures together with
`"query": {"sql", "params"}`: running that SQL with those params in the tenant's schema returns the
rows the figures were read from, so anyone can reproduce a finding. Nothing loops over cost lines
in Python: a run over a million lines moves a few thousand aggregated rows at most.

Conventions shared by every query (the FinOps pilot's, agents/pilots/finops.py):
- spend is `COALESCE(effective_cost_reporting, billed_cost_reporting)`: amortized cost after
  discounts, in the tenant's reporting currency; a line without a converted amount is left out of
  every sum and counted by `unconverted` (never a silent zero);
- a line's day is the UTC date of its `charge_period_start`;
- the lines read are those of sources routed to FinOps: `excluded` lists the connections routed
  elsewhere (agents/routing.py), the SQL leaves their lines out.

Rules the results state in words (`rule`):
- commitment utilization: the unused part of a commitment is the spend of its lines marked unused
  (FOCUS CommitmentDiscountStatus `Unused`, or a raw charge type naming it, as Azure's
  `UnusedReservation`); when a commitment has no such line (an AWS CUR), it is its purchase and
  fee lines' billed cost minus the spend of the usage it covered. Utilization = used ÷ (used + unused);
- coverage: the spend of usage lines a commitment covered ÷ the spend of all usage lines of the
  services where at least one line was covered (what a commitment could have covered);
- showback: each value of a tag gets its lines' spend; untagged spend is allocated to the values in
  proportion to their tagged spend (a tag with no tagged spend leaves everything unallocated);
- unit economics: the tag values of `customer`, `client`, `project` or `account` tags that equal a
  RevOps account's name, source id or unified id (case and surrounding blanks ignored);
- anomaly root cause: per dimension (service, resource, region, sub account, each tag key asked),
  the change of the anomaly's days against the mean day of the 14 days before it;
- month-end forecast: month-to-date spend plus the remaining days × the mean daily spend of the last
  28 days with an 80% interval of ± 1.2816 × the daily standard deviation × √(remaining days)
  (days treated as independent draws; a month with scheduled fees not yet billed is under-forecast).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from django.db import connection

from ..pilots.finops import query_ref
from ..pilots.values import money, pct

VIEW = "dcl_view_cost"
SPEND = "COALESCE(c.effective_cost_reporting, c.billed_cost_reporting)"
SOURCE_COST = "COALESCE(c.effective_cost, c.billed_cost)"
DAY = "(c.charge_period_start AT TIME ZONE 'UTC')::date"
ROUTED = ("(c.sources->0->>'connection_id') IS NULL "
          "OR (c.sources->0->>'connection_id')::bigint <> ALL(%(excluded)s::bigint[])")
UNUSED = ("(COALESCE(c.commitment_discount_status, '') = 'Unused' "
          "OR lower(COALESCE(c.charge_category_source, '')) LIKE '%%unused%%' "
          "OR lower(COALESCE(c.commitment_discount_status_source, '')) LIKE '%%unused%%')")
CUSTOMER_TAG_KEYS = ("customer", "client", "project", "account")
FORECAST_HISTORY_DAYS = 28
FORECAST_Z = 1.2816  # two-sided 80%
ROOT_CAUSE_BASELINE_DAYS = 14
ROOT_CAUSE_LIMIT = 5


@dataclass(frozen=True)
class Scope:
    """What every query reads: the lines of FinOps sources between two days (inclusive)."""

    start: date
    end: date
    excluded: tuple[int, ...] = ()

    def params(self) -> dict:
        return {"start": self.start.isoformat(), "end": self.end.isoformat(), "excluded": list(self.excluded)}


def _where(extra: str = "") -> str:
    return f"WHERE ({ROUTED}) AND {DAY} BETWEEN %(start)s::date AND %(end)s::date" + (f" AND {extra}" if extra else "")


def run(sql: str, params: dict) -> list[dict]:
    """The rows of one query in the current tenant's schema, as dicts."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        names = [c.name for c in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def view_exists(name: str = VIEW) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [name])
        return bool(cursor.fetchone()[0])


def _f(value) -> float:
    return float(value) if value is not None else 0.0


# --- the period and what cannot be summed ------------------------------------------------------------


def data_period(excluded: Sequence[int] = ()) -> dict:
    """First and last day with cost lines, how many lines, and those without a converted amount
    (per currency and reason: a currency without a rate is said, never summed as zero)."""
    sql = (f"SELECT min({DAY}) AS first_day, max({DAY}) AS last_day, count(*) AS lines, "
           f"count(*) FILTER (WHERE {SPEND} IS NULL AND {SOURCE_COST} IS NOT NULL) AS unconverted "
           f"FROM {VIEW} c WHERE ({ROUTED})")
    params = {"excluded": list(excluded)}
    row = run(sql, params)[0]
    return {"first_day": row["first_day"], "last_day": row["last_day"], "lines": row["lines"],
            "unconverted_lines": row["unconverted"], "query": query_ref(sql, params)}


def unconverted(scope: Scope) -> dict:
    sql = (f"SELECT c.billing_currency AS currency, COALESCE(c.fx_missing, 'not_converted') AS reason, "
           f"count(*) AS lines, sum({SOURCE_COST}) AS amount FROM {VIEW} c "
           f"{_where(f'{SPEND} IS NULL AND {SOURCE_COST} IS NOT NULL')} GROUP BY 1, 2 ORDER BY 3 DESC, 1")
    params = scope.params()
    rows = run(sql, params)
    by_currency: dict[str | None, dict] = {}
    for r in rows:
        g = by_currency.setdefault(r["currency"], {"currency": r["currency"], "count": 0, "amount": 0.0,
                                                   "reasons": {}})
        g["count"] += r["lines"]
        g["amount"] = money(g["amount"] + _f(r["amount"]))
        g["reasons"][r["reason"]] = r["lines"]
    groups = sorted(by_currency.values(), key=lambda g: (-g["count"], g["currency"] or ""))
    return {"count": sum(g["count"] for g in groups), "by_currency": groups, "query": query_ref(sql, params)}


# --- commitments ------------------------------------------------------------------------------------


COMMITMENT_RULE = ("unused = spend of the commitment's lines marked unused (FOCUS CommitmentDiscountStatus Unused or a "
                   "charge type naming it); without such lines, its purchase and fee lines' billed cost minus the "
                   "spend "
                   "of the usage it covered. Utilization = used ÷ (used + unused).")


def commitments(scope: Scope) -> dict:
    """Per commitment: what it cost, what it covered, what went unused, its utilization."""
    sql = f"""
WITH lines AS (
  SELECT c.commitment_discount_id AS commitment_id, c.commitment_discount_name AS name,
         c.commitment_discount_type AS type, c.commitment_discount_category AS category, c.provider_name,
         c.billing_currency, c.charge_category, {UNUSED} AS unused, {SPEND} AS spend,
         c.billed_cost_reporting AS billed
  FROM {VIEW} c {_where("c.commitment_discount_id IS NOT NULL AND c.commitment_discount_id <> ''")}
), per AS (
  SELECT commitment_id, max(name) AS name, max(type) AS type, max(category) AS category,
         max(billing_currency) AS currency,
         COALESCE(sum(spend) FILTER (WHERE NOT unused AND charge_category = 'Usage'), 0) AS used,
         COALESCE(sum(spend) FILTER (WHERE unused), 0) AS unused_marked,
         count(*) FILTER (WHERE unused) AS unused_lines,
         COALESCE(sum(billed) FILTER (WHERE charge_category = 'Purchase'), 0) AS purchased,
         count(*) AS lines
  FROM lines GROUP BY commitment_id
)
SELECT commitment_id, name, type, category, currency, lines, used, purchased,
       CASE WHEN unused_lines > 0 THEN unused_marked ELSE GREATEST(purchased - used, 0) END AS unused,
       CASE WHEN unused_lines > 0 THEN 'marked_unused' ELSE 'purchase_minus_used' END AS basis
FROM per ORDER BY commitment_id"""
    params = scope.params()
    rows = run(sql, params)
    items = []
    for r in rows:
        used, unused = _f(r["used"]), _f(r["unused"])
        items.append({"commitment_id": r["commitment_id"], "name": r["name"], "type": r["type"],
                      "category": r["category"], "billing_currency": r["currency"], "lines": r["lines"],
                      "used": money(used), "unused": money(unused), "purchased": money(_f(r["purchased"])),
                      "utilization_pct": pct(used, used + unused), "basis": r["basis"]})
    used = sum(i["used"] for i in items)
    unused = sum(i["unused"] for i in items)
    return {"rule": COMMITMENT_RULE, "commitments": items, "used": money(used), "unused": money(unused),
            "utilization_pct": pct(used, used + unused), "query": query_ref(sql, params)}


COVERAGE_RULE = ("coverage = spend of usage lines a commitment covered ÷ spend of all usage lines of the services "
                 "with at "
                 "least one covered line in the period")


def coverage(scope: Scope) -> dict:
    """Commitment coverage, overall and per service, and its daily series for the chart."""
    sql = f"""
WITH usage AS (
  SELECT {DAY} AS day, c.service_name, {SPEND} AS spend,
         (c.commitment_discount_id IS NOT NULL AND c.commitment_discount_id <> '' AND NOT {UNUSED}) AS covered
  FROM {VIEW} c {_where("c.charge_category = 'Usage'")}
), eligible AS (
  SELECT service_name FROM usage GROUP BY service_name HAVING bool_or(covered)
)
SELECT u.day, u.service_name, COALESCE(sum(u.spend) FILTER (WHERE u.covered), 0) AS covered,
       COALESCE(sum(u.spend), 0) AS eligible
FROM usage u JOIN eligible e USING (service_name)
GROUP BY u.day, u.service_name ORDER BY u.day, u.service_name"""
    params = scope.params()
    rows = run(sql, params)
    by_service: dict[str, list[float]] = {}
    by_day: dict[date, list[float]] = {}
    for r in rows:
        s = by_service.setdefault(r["service_name"] or "(unknown service)", [0.0, 0.0])
        d = by_day.setdefault(r["day"], [0.0, 0.0])
        for acc in (s, d):
            acc[0] += _f(r["covered"])
            acc[1] += _f(r["eligible"])
    covered = sum(v[0] for v in by_service.values())
    eligible = sum(v[1] for v in by_service.values())
    return {"rule": COVERAGE_RULE, "covered": money(covered), "eligible": money(eligible),
            "on_demand": money(eligible - covered), "coverage_pct": pct(covered, eligible),
            "by_service": [{"service": k, "covered": money(v[0]), "eligible": money(v[1]),
                            "coverage_pct": pct(v[0], v[1])} for k, v in sorted(by_service.items())],
            "by_day": [{"day": d.isoformat(), "covered": money(v[0]), "on_demand": money(v[1] - v[0]),
                        "coverage_pct": pct(v[0], v[1])} for d, v in sorted(by_day.items())],
            "query": query_ref(sql, params)}


# --- showback -------------------------------------------------------------------------------------------


def tag_keys(scope: Scope) -> dict:
    """Every tag key on the lines and the spend carrying it (how well tagged the bill is)."""
    sql = (f"SELECT k.key, count(*) AS lines, sum({SPEND}) AS spend FROM {VIEW} c "
           f"CROSS JOIN LATERAL jsonb_object_keys(CASE WHEN jsonb_typeof(c.tags) = 'object' THEN c.tags "
           f"ELSE '{{}}'::jsonb END) AS k(key) {_where()} GROUP BY k.key ORDER BY 3 DESC NULLS LAST, 1")
    params = scope.params()
    return {"keys": [{"key": r["key"], "lines": r["lines"], "spend": money(_f(r["spend"]))} for r in run(sql, params)],
            "query": query_ref(sql, params)}


def _key_spellings(wanted: str, keys: Iterable[str]) -> list[str]:
    """The spellings of one tag key on the lines (Team, team, user:Team all answer `team`)."""
    target = wanted.strip().lower()
    return sorted(k for k in keys if k.lower() == target or k.lower().rsplit(":", 1)[-1] == target)


SHOWBACK_RULE = "untagged spend is allocated to the tag's values in proportion to their tagged spend"


def showback(scope: Scope, tag: str, spellings: Sequence[str]) -> dict:
    """Spend per value of one tag, with the untagged spend allocated by SHOWBACK_RULE."""
    value = ("COALESCE(" + ", ".join(f"NULLIF(c.tags->>%(key{i})s, '')" for i in range(len(spellings))) + ")"
             if spellings else "NULL::text")
    sql = f"""
WITH lines AS (
  SELECT {value} AS value, {SPEND} AS spend FROM {VIEW} c {_where(f"{SPEND} IS NOT NULL")}
), direct AS (
  SELECT value, sum(spend) AS direct, count(*) AS lines FROM lines WHERE value IS NOT NULL GROUP BY value
), untagged AS (
  SELECT COALESCE(sum(spend), 0) AS untagged, count(*) AS lines FROM lines WHERE value IS NULL
)
SELECT d.value, d.direct, d.lines, u.untagged, u.lines AS untagged_lines,
       CASE WHEN sum(d.direct) OVER () <> 0 THEN u.untagged * d.direct / sum(d.direct) OVER () ELSE 0 END AS allocated
FROM untagged u LEFT JOIN direct d ON true ORDER BY d.direct DESC NULLS LAST, d.value"""
    params = {**scope.params(), **{f"key{i}": k for i, k in enumerate(spellings)}}
    rows = run(sql, params)
    untagged = _f(rows[0]["untagged"]) if rows else 0.0
    values = [{"value": r["value"], "direct": money(_f(r["direct"])), "allocated": money(_f(r["allocated"])),
               "total": money(_f(r["direct"]) + _f(r["allocated"])), "lines": r["lines"]}
              for r in rows if r["value"] is not None]
    tagged = sum(v["direct"] for v in values)
    statement = None
    if not values:
        statement = (f"no cost line carries a {tag!r} tag: {money(untagged):,.2f} of spend cannot be charged back by "
                     f"{tag}; tag the resources (or map the source's tag column) first")
    return {"tag": tag, "keys": list(spellings), "rule": SHOWBACK_RULE, "values": values, "tagged": money(tagged),
            "untagged": money(untagged), "untagged_lines": rows[0]["untagged_lines"] if rows else 0,
            "untagged_pct": pct(untagged, tagged + untagged), "allocated": bool(values) and untagged > 0,
            "statement": statement, "query": query_ref(sql, params)}


# --- unit economics -------------------------------------------------------------------------------------


UNIT_RULE = ("cost lines whose customer/client/project/account tag equals a RevOps account's name (case, punctuation, "
             "spaces and a trailing legal suffix such as Inc or LLC ignored), source id or unified id; revenue = won "
             "opportunities of that account closing in the period")
LEGAL_SUFFIX = r"[,.]?\s+(inc|llc|ltd|co|corp|corporation|company|gmbh|plc|sa|ag|bv|limited)\.?$"


def _name_key(expr: str) -> str:
    """An account name as a tag writes it: `Granite Media`, `GraniteMedia, Inc.` → granitemedia."""
    return f"regexp_replace(regexp_replace(lower(btrim({expr})), %(suffix)s, ''), '[^a-z0-9]', '', 'g')"


def unit_economics(scope: Scope, keys: Sequence[str]) -> dict:
    """Cost per customer account: tag values that name a RevOps account (`dcl_view_account`)."""
    if not keys or not view_exists("dcl_view_account"):
        why = ("no cost line has a customer, client, project or account tag" if not keys
               else "no RevOps account view is materialized")
        return {"rule": UNIT_RULE, "accounts": [], "unmatched": [], "statement": f"no unit economics: {why}",
                "query": None}
    has_opps = view_exists("dcl_view_opportunity")
    revenue = ("""(SELECT sum(o.amount_reporting) FROM dcl_view_opportunity o
          WHERE o.account_unified_id = a.unified_id AND o.status = 'won'
            AND o.close_date BETWEEN %(start)s::date AND %(end)s::date)""" if has_opps else "NULL::numeric")
    sql = f"""
WITH tagged AS (
  SELECT {_name_key("t.value")} AS value, min(t.value) AS raw, sum({SPEND}) AS spend, count(*) AS lines
  FROM {VIEW} c CROSS JOIN LATERAL jsonb_each_text(c.tags) AS t(key, value)
  {_where("jsonb_typeof(c.tags) = 'object' AND c.tags ?| %(keys)s::text[] AND t.key = ANY(%(keys)s::text[]) "
           "AND btrim(t.value) <> ''")}
  GROUP BY 1
), accounts AS (
  SELECT DISTINCT ON (t.value) t.value, a.unified_id, a.name, {revenue} AS revenue
  FROM tagged t JOIN dcl_view_account a
    ON {_name_key("a.name")} = t.value OR lower(btrim(a.id)) = t.raw OR a.unified_id = t.raw
  ORDER BY t.value, a.unified_id
)
SELECT t.raw AS tag_value, t.spend, t.lines, a.unified_id AS account_unified_id, a.name AS account_name, a.revenue
FROM tagged t LEFT JOIN accounts a USING (value) ORDER BY t.spend DESC NULLS LAST, t.raw"""
    params = {**scope.params(), "keys": list(keys), "suffix": LEGAL_SUFFIX}
    rows = run(sql, params)
    accounts: dict[str, dict] = {}
    unmatched = []
    for r in rows:
        if r["account_unified_id"] is None:
            unmatched.append({"tag_value": r["tag_value"], "cost": money(_f(r["spend"])), "lines": r["lines"]})
            continue
        a = accounts.setdefault(r["account_unified_id"], {"account_unified_id": r["account_unified_id"],
                                                          "account": r["account_name"], "cost": 0.0, "lines": 0,
                                                          "tag_values": [], "revenue_won": None})
        a["cost"] = money(a["cost"] + _f(r["spend"]))
        a["lines"] += r["lines"]
        a["tag_values"].append(r["tag_value"])
        if r["revenue"] is not None:
            a["revenue_won"] = money(_f(r["revenue"]))
    for a in accounts.values():
        a["cost_pct_of_revenue"] = pct(a["cost"], a["revenue_won"]) if a["revenue_won"] else None
    items = sorted(accounts.values(), key=lambda a: (-a["cost"], a["account"] or ""))
    statement = None if items else ("no customer/project tag value names a RevOps account"
                                    + (f" ({len(unmatched)} tag values checked)" if unmatched else ""))
    return {"rule": UNIT_RULE, "keys": list(keys), "accounts": items, "unmatched": unmatched,
            "statement": statement, "query": query_ref(sql, params)}


# --- anomaly root cause ---------------------------------------------------------------------------------


ROOT_CAUSE_RULE = ("change = spend on the anomaly's days − (mean daily spend of the 14 days before it × its days), per "
                   "service, resource, region, sub account and tag")


def root_cause(scope: Scope, *, start: date, end: date, service: str | None, tag_spellings: Sequence[str] = (),
               limit: int = ROOT_CAUSE_LIMIT) -> dict:
    """What moved most in an anomaly's days against its baseline, per dimension."""
    base_start, base_end = start - timedelta(days=ROOT_CAUSE_BASELINE_DAYS), start - timedelta(days=1)
    tag = ("COALESCE(" + ", ".join(f"NULLIF(c.tags->>%(tag{i})s, '')" for i in range(len(tag_spellings))) + ")"
           if tag_spellings else "NULL::text")
    service_filter = "AND c.service_name = %(service)s" if service else ""
    sql = f"""
WITH lines AS (
  SELECT {DAY} AS day, c.service_name AS service, c.resource_id AS resource, c.region_id AS region,
         c.sub_account_id AS sub_account, {tag} AS tag, {SPEND} AS spend
  FROM {VIEW} c
  WHERE ({ROUTED}) AND {DAY} BETWEEN %(base_start)s::date AND %(to)s::date {service_filter}
), grouped AS (
  SELECT CASE WHEN GROUPING(service) = 0 THEN 'service' WHEN GROUPING(resource) = 0 THEN 'resource'
              WHEN GROUPING(region) = 0 THEN 'region' WHEN GROUPING(sub_account) = 0 THEN 'sub_account'
              ELSE 'tag' END AS dimension,
         COALESCE(service, resource, region, sub_account, tag) AS value,
         COALESCE(sum(spend) FILTER (WHERE day >= %(from)s::date), 0) AS actual,
         COALESCE(sum(spend) FILTER (WHERE day < %(from)s::date), 0) / %(base_days)s * %(days)s AS expected
  FROM lines GROUP BY GROUPING SETS ((service), (resource), (region), (sub_account), (tag))
), ranked AS (
  SELECT *, actual - expected AS change,
         row_number() OVER (PARTITION BY dimension ORDER BY abs(actual - expected) DESC, value) AS rank
  FROM grouped WHERE value IS NOT NULL
)
SELECT dimension, value, actual, expected, change FROM ranked WHERE rank <= %(limit)s
ORDER BY dimension, rank"""
    params = {"excluded": list(scope.excluded), "from": start.isoformat(), "to": end.isoformat(),
              "base_start": base_start.isoformat(), "base_days": ROOT_CAUSE_BASELINE_DAYS,
              "days": (end - start).days + 1, "limit": limit, **({"service": service} if service else {}),
              **{f"tag{i}": k for i, k in enumerate(tag_spellings)}}
    dims: dict[str, list[dict]] = {}
    for r in run(sql, params):
        dims.setdefault(r["dimension"], []).append({"value": r["value"], "actual": money(_f(r["actual"])),
                                                   "expected": money(_f(r["expected"])),
                                                   "change": money(_f(r["change"]))})
    # The anomaly's own service moved by definition: what moved inside it is the cause.
    movers = [{"dimension": d, **items[0]} for d, items in dims.items()
              if items and items[0]["change"] and not (service and d == "service")]
    top = max(movers, key=lambda m: (abs(m["change"]), m["dimension"]), default=None)
    return {"rule": ROOT_CAUSE_RULE, "from": start.isoformat(), "to": end.isoformat(),
            "baseline": {"from": base_start.isoformat(), "to": base_end.isoformat()}, "service": service,
            "by_dimension": dims, "top": top, "query": query_ref(sql, params)}


# --- month-end forecast ---------------------------------------------------------------------------------


FORECAST_METHOD = ("month-to-date spend + remaining days × mean daily spend of the last 28 days; 80% interval "
                   "± 1.2816 × "
                   "daily standard deviation × √remaining days (days as independent draws)")


def forecast(scope: Scope, *, last_day: date) -> dict:
    """Spend at the end of `last_day`'s month, with an 80% interval."""
    month_start = last_day.replace(day=1)
    month_end = (month_start + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    history_start = last_day - timedelta(days=FORECAST_HISTORY_DAYS - 1)
    sql = f"""
WITH days AS (
  SELECT d::date AS day FROM generate_series(%(history_start)s::date, %(last_day)s::date, interval '1 day') AS d
), spend AS (
  SELECT {DAY} AS day, sum({SPEND}) AS spend FROM {VIEW} c
  WHERE ({ROUTED}) AND {DAY} BETWEEN LEAST(%(history_start)s::date, %(month_start)s::date) AND %(last_day)s::date
  GROUP BY 1
), daily AS (
  SELECT days.day, COALESCE(spend.spend, 0) AS spend FROM days LEFT JOIN spend USING (day)
)
SELECT (SELECT COALESCE(sum(spend), 0) FROM spend WHERE day >= %(month_start)s::date) AS month_to_date,
       avg(spend) AS daily_mean, COALESCE(stddev_samp(spend), 0) AS daily_sd, count(*) AS days
FROM daily"""
    params = {"excluded": list(scope.excluded), "history_start": history_start.isoformat(),
              "last_day": last_day.isoformat(), "month_start": month_start.isoformat()}
    row = run(sql, params)[0]
    remaining = (month_end - last_day).days
    mtd, mean, sd = _f(row["month_to_date"]), _f(row["daily_mean"]), _f(row["daily_sd"])
    point = mtd + remaining * mean
    half = FORECAST_Z * sd * math.sqrt(remaining)
    return {"method": FORECAST_METHOD, "month": month_start.strftime("%Y-%m"), "through": last_day.isoformat(),
            "month_to_date": money(mtd), "remaining_days": remaining, "daily_mean": money(mean),
            "daily_sd": money(sd), "forecast": money(point), "low": money(max(mtd, point - half)),
            "high": money(point + half), "interval": 0.8, "query": query_ref(sql, params)}


# --- spend by category over time (chart) ------------------------------------------------------------


def spend_by_category_month(scope: Scope) -> dict:
    """Spend per month and FOCUS service category (the chart's stacked bars)."""
    sql = (f"SELECT to_char({DAY}, 'YYYY-MM') AS month, COALESCE(c.service_category, 'Other') AS category, "
           f"sum({SPEND}) AS spend FROM {VIEW} c {_where(f'{SPEND} IS NOT NULL')} GROUP BY 1, 2 ORDER BY 1, 2")
    params = scope.params()
    return {"rows": [{"month": r["month"], "category": r["category"], "spend": money(_f(r["spend"]))}
                     for r in run(sql, params)], "query": query_ref(sql, params)}


# --- the pilot's input, aggregated ----------------------------------------------------------------------


def _resource_tail_sql(expr: str) -> str:
    """The last ARN/path segment of an id, lower-cased (finops._id_keys, in SQL)."""
    return f"lower(regexp_replace(btrim({expr}), '^.*[:/]', ''))"


def pilot_rows(scope: Scope, *, keep_ids: Sequence[str], tagged_ids: Sequence[str], window_start: date) -> dict:
    """The cost view aggregated to what the FinOps pilot reads (finops.cost_lines): one row per day,
    service, categories, account, region, currency and flags, with `line_count`. A line keeps its
    `resource_id` only inside the trailing window and when the pilot judges that resource (stopped,
    idle, untagged or previous-generation ones in `keep_ids`, and idle addresses); `tagged_ids` are
    the inventory's tagged resources (a line of theirs counts as tagged)."""
    idle = ("(lower(COALESCE(c.charge_description, '') || ' ' || COALESCE(c.sku_id, '')) "
            "LIKE '%%idleaddress%%')")
    tail = _resource_tail_sql("c.resource_id")
    sql = f"""
SELECT {DAY} AS charge_period_start, c.service_name, c.service_category, c.charge_category,
       COALESCE(NULLIF(c.sub_account_id, ''), c.billing_account_id) AS sub_account_id, c.region_id,
       CASE WHEN {DAY} >= %(window_start)s::date AND c.resource_id <> ''
                 AND (lower(btrim(c.resource_id)) = ANY(%(keep)s::text[]) OR {tail} = ANY(%(keep)s::text[]) OR {idle})
            THEN c.resource_id END AS resource_id,
       (jsonb_typeof(c.tags) = 'object' AND c.tags <> '{{}}'::jsonb) AS tagged,
       (c.resource_id <> '' AND {tail} = ANY(%(tagged_ids)s::text[])) AS inventory_tagged,
       {idle} AS idle, c.billing_currency, c.reporting_currency, c.fx_missing,
       sum(c.effective_cost_reporting) FILTER (WHERE c.effective_cost_reporting IS NOT NULL) AS eff,
       sum(c.billed_cost_reporting) FILTER (WHERE c.effective_cost_reporting IS NULL) AS billed,
       count(*) FILTER (WHERE c.effective_cost_reporting IS NOT NULL) AS eff_lines,
       count(*) FILTER (WHERE c.effective_cost_reporting IS NULL
                          AND c.billed_cost_reporting IS NOT NULL) AS billed_lines,
       sum({SOURCE_COST}) FILTER (WHERE {SPEND} IS NULL) AS unconverted_cost,
       count(*) FILTER (WHERE {SPEND} IS NULL AND {SOURCE_COST} IS NOT NULL) AS unconverted_lines,
       count(*) FILTER (WHERE {SPEND} IS NULL AND {SOURCE_COST} IS NULL) AS no_amount_lines
FROM {VIEW} c WHERE ({ROUTED}) AND c.charge_period_start IS NOT NULL
GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13"""
    params = {"excluded": list(scope.excluded), "window_start": window_start.isoformat(),
              "keep": sorted(set(keep_ids)), "tagged_ids": sorted(set(tagged_ids))}
    rows = []
    for r in run(sql, params):
        base = {"charge_period_start": r["charge_period_start"], "service_name": r["service_name"],
                "service_category": r["service_category"], "charge_category": r["charge_category"],
                "sub_account_id": r["sub_account_id"], "region_id": r["region_id"],
                "resource_id": r["resource_id"] or "", "tags": {"tagged": True} if r["tagged"] else {},
                "inventory_tagged": r["inventory_tagged"], "idle": r["idle"],
                "billing_currency": r["billing_currency"], "reporting_currency": r["reporting_currency"]}
        spend = _f(r["eff"]) + _f(r["billed"])
        converted = r["eff_lines"] + r["billed_lines"]
        if converted:
            basis = {k: v for k, v in (("effective_cost_reporting", r["eff_lines"]),
                                       ("billed_cost_reporting", r["billed_lines"])) if v}
            rows.append({**base, "effective_cost_reporting": spend, "line_count": converted, "basis": basis})
        if r["unconverted_lines"]:
            rows.append({**base, "effective_cost": _f(r["unconverted_cost"]), "line_count": r["unconverted_lines"],
                         "fx_missing": r["fx_missing"]})
        if r["no_amount_lines"]:
            rows.append({**base, "line_count": r["no_amount_lines"]})
    return {"rows": rows, "query": query_ref(sql, params)}


def anomaly_lines(scope: Scope, *, service: str, start: date, end: date, limit: int) -> dict:
    """The usage lines of one service on an anomaly's days, largest first (the finding's records)."""
    sql = (f"SELECT c.unified_id, {SPEND} AS spend FROM {VIEW} c WHERE ({ROUTED}) AND c.service_name = %(service)s "
           f"AND {DAY} BETWEEN %(from)s::date AND %(to)s::date AND COALESCE(c.charge_category, 'Usage') = 'Usage' "
           f"ORDER BY {SPEND} DESC NULLS LAST, c.unified_id LIMIT %(limit)s")
    params = {"excluded": list(scope.excluded), "service": service, "from": start.isoformat(), "to": end.isoformat(),
              "limit": limit}
    count_sql = (f"SELECT count(*) AS n FROM {VIEW} c WHERE ({ROUTED}) AND c.service_name = %(service)s "
                 f"AND {DAY} BETWEEN %(from)s::date AND %(to)s::date "
                 "AND COALESCE(c.charge_category, 'Usage') = 'Usage'")
    ids = [r["unified_id"] for r in run(sql, params)]
    total = run(count_sql, {k: v for k, v in params.items() if k != "limit"})[0]["n"]
    return {"ids": ids, "count": total, "query": query_ref(sql, params)}


def resource_spend_query(scope: Scope, *, resource_id: str, start: date, end: date) -> dict:
    """The SQL of one resource's daily spend in a window (a savings or untagged finding's figures)."""
    tail = _resource_tail_sql("c.resource_id")
    sql = (f"SELECT {DAY} AS day, sum({SPEND}) AS spend FROM {VIEW} c WHERE ({ROUTED}) "
           f"AND (lower(btrim(c.resource_id)) = %(id)s OR {tail} = %(tail)s) "
           f"AND {DAY} BETWEEN %(start)s::date AND %(end)s::date GROUP BY 1 ORDER BY 1")
    rid = resource_id.strip().lower()
    params = {"excluded": list(scope.excluded), "id": rid, "tail": rid.replace(":", "/").rsplit("/", 1)[-1],
              "start": start.isoformat(), "end": end.isoformat()}
    return query_ref(sql, params)


# --- one run ------------------------------------------------------------------------------------------


SHOWBACK_TAGS = ("team", "owner", "cost_center", "costcenter")
# The kinds of finding only the SQL analyses write (each has its action in agents/pilots/findings.py).
FINDING_KINDS = frozenset({"unused_commitment", "showback", "customer_cost", "forecast"})


def _resource_keys(resources: Sequence[dict]) -> tuple[list[str], list[str]]:
    """(ids of the resources the pilot judges, ids of tagged resources), as finops._id_keys writes them."""
    from ..pilots import finops
    from ..pilots.values import tags, text

    judged = finops.STOPPED_STATUSES | finops.TERMINATED_STATUSES | finops.IDLE_STATUSES | finops.VOLUME_IDLE_STATUSES
    keep, tagged = [], []
    for row in resources:
        rid = text(row.get("id")) or text(row.get("unified_id"))
        keys = finops._id_keys(rid)
        if not keys:
            continue
        status = text(row.get("status")).lower()
        has_tags = bool(tags(row.get("tags")))
        if (status in judged or not has_tags
                or finops._family(text(row.get("instance_type"))) in finops.PREVIOUS_GENERATION_FAMILIES):
            keep.extend(keys)
        if has_tags:
            tagged.append(keys[-1])
    return keep, tagged


def analyze(*, resources: Sequence[dict], config, reporting_currency: str | None, excluded: Sequence[int] = (),
            today: date | None = None) -> tuple[object, dict] | None:
    """The FinOps pilot over the cost view, computed by PostgreSQL (see the module docstring), and the
    analyses of docs/adr/0030 beside it. None when no cost line of a FinOps source is materialized."""
    from ..pilots import PilotResult, finops

    if not view_exists():
        return None
    period = data_period(excluded)
    if not period["lines"]:
        return None
    inputs = {"cost_lines": period["lines"]}
    if period["last_day"] is None:  # lines, but none with a charge period: the pilot says what it left out
        result = finops.analyze(costs=[], resources=resources, config=config, reporting_currency=reporting_currency)
        return result, inputs
    first, last = period["first_day"], period["last_day"]
    scope = Scope(first, last, tuple(excluded))
    window_start = max(first, last - timedelta(days=config.window_days - 1))
    keep, tagged = _resource_keys(resources)
    aggregated = pilot_rows(scope, keep_ids=keep, tagged_ids=tagged, window_start=window_start)
    result: PilotResult = finops.analyze(costs=aggregated["rows"], resources=resources, config=config,
                                         reporting_currency=reporting_currency)
    inputs["aggregated_rows"] = len(aggregated["rows"])
    currency = result.metrics.get("reporting_currency")
    queries = {"pilot_input": aggregated["query"], "period": period["query"]}
    keys = [k["key"] for k in tag_keys(scope)["keys"]]
    extra = {
        "commitments": commitments(scope),
        "coverage": coverage(scope),
        "forecast": forecast(scope, last_day=last),
        "spend_by_category_month": spend_by_category_month(scope),
        "unit_economics": unit_economics(scope, [k for k in keys if k.lower().rsplit(":", 1)[-1] in CUSTOMER_TAG_KEYS]),
    }
    showbacks = []
    for wanted in SHOWBACK_TAGS:
        spellings = _key_spellings(wanted, keys)
        if spellings:
            showbacks.append(showback(scope, wanted, spellings))
    if not showbacks:
        showbacks.append(showback(scope, "team", []))
    extra["showback"] = showbacks
    team_spellings = _key_spellings("team", keys)
    for name, value in extra.items():
        result.metrics[name] = value
    result.metrics["tag_keys"] = keys
    result.metrics["queries"] = queries
    _anomalies_in_sql(result, scope, config, team_spellings)
    _queries_on_findings(result, scope, window_start, last)
    result.findings.extend(_new_findings(extra, currency, scope))
    return result, inputs


def _anomalies_in_sql(result, scope: Scope, config, team_spellings: Sequence[str]) -> None:
    """An anomaly's records and drivers, and its root cause, from SQL (the pilot saw aggregated rows)."""
    from ..pilots.findings import RECORDS_MAX, with_action

    for f in result.findings:
        if f.get("kind") != "anomaly":
            continue
        start, end = date.fromisoformat(f["from"]), date.fromisoformat(f["to"])
        cause = root_cause(scope, start=start, end=end, service=f.get("service"), tag_spellings=team_spellings)
        f["root_cause"] = cause
        f["drivers"] = [{"resource_id": d["value"], "amount": d["actual"], "delta": d["change"]}
                        for d in cause["by_dimension"].get("resource", [])
                        if (d["change"] > 0) == (f.get("direction") == "spike") and d["change"]][:3]
        lines = anomaly_lines(scope, service=f["service"], start=start, end=end, limit=RECORDS_MAX)
        if lines["ids"]:
            f["records"] = {"entity": "cost", "unified_ids": lines["ids"], "count": lines["count"],
                            **({"truncated": True} if lines["count"] > len(lines["ids"]) else {})}
        f["query"] = lines["query"]
        with_action(f)


def _queries_on_findings(result, scope: Scope, window_start: date, last: date) -> None:
    """The query of each finding the pilot wrote (its subject's spend, the lines left out)."""
    for f in result.findings:
        if "query" in f:
            continue
        subject = f.get("subject") or {}
        if f.get("kind") in ("savings", "untagged_resource") and subject.get("id"):
            f["query"] = resource_spend_query(scope, resource_id=str(subject["id"]), start=window_start, end=last)
        elif f.get("kind") == "unconverted_amounts":
            f["query"] = unconverted(scope)["query"]


def _new_findings(extra: dict, currency: str | None, scope: Scope) -> list[dict]:
    from ..pilots.findings import with_action
    from ..pilots.values import money_text

    found = []
    for c in extra["commitments"]["commitments"]:
        if c["unused"] <= 0:
            continue
        found.append(with_action({
            "kind": "unused_commitment", "severity": "high" if (c["utilization_pct"] or 0) < 80 else "medium",
            "currency": currency, "subject": {"id": c["commitment_id"], "name": c["name"] or c["commitment_id"],
                                              "type": c["type"]},
            "unused": c["unused"], "used": c["used"], "utilization_pct": c["utilization_pct"],
            "rule": extra["commitments"]["rule"],
            "title": (f"{c['name'] or c['commitment_id']} left {money_text(c['unused'], currency, cents=True)} unused "
                      f"({c['utilization_pct']}% utilized) from {scope.start} to {scope.end}"),
            "query": extra["commitments"]["query"]}))
    for s in extra["showback"]:
        if s["statement"]:
            found.append(with_action({"kind": "showback", "severity": "low", "currency": currency, "tag": s["tag"],
                                      "title": s["statement"].capitalize(), "untagged": s["untagged"],
                                      "query": s["query"]}))
        elif s["untagged"] > 0:
            found.append(with_action({
                "kind": "showback", "severity": "low", "currency": currency, "tag": s["tag"],
                "untagged": s["untagged"], "untagged_pct": s["untagged_pct"], "rule": s["rule"],
                "title": (f"{money_text(s['untagged'], currency, cents=True)} ({s['untagged_pct']}%) of spend has no "
                          f"{s['tag']} tag; allocated to the {len(s['values'])} {s['tag']}s in proportion to their "
                          "tagged spend"),
                "query": s["query"]}))
    unit = extra["unit_economics"]
    for a in unit["accounts"]:
        found.append(with_action({
            "kind": "customer_cost", "severity": "low", "currency": currency,
            "subject": {"entity": "account", "unified_id": a["account_unified_id"], "name": a["account"]},
            "records": {"entity": "account", "unified_ids": [a["account_unified_id"]], "count": 1},
            "cost": a["cost"], "revenue_won": a["revenue_won"], "rule": unit["rule"],
            "title": (f"{a['account']} costs {money_text(a['cost'], currency, cents=True)} in cloud spend from "
                      f"{scope.start} to {scope.end}" + (f" against {money_text(a['revenue_won'], currency)} won"
                                                         if a["revenue_won"] else "")),
            "query": unit["query"]}))
    fc = extra["forecast"]
    found.append(with_action({
        "kind": "forecast", "severity": "low", "currency": currency, "month": fc["month"], "forecast": fc["forecast"],
        "low": fc["low"], "high": fc["high"], "method": fc["method"],
        "title": (f"{fc['month']} is heading for {money_text(fc['forecast'], currency)} "
                  f"(80% between {money_text(fc['low'], currency)} and {money_text(fc['high'], currency)}; "
                  f"{money_text(fc['month_to_date'], currency)} so far, {fc['remaining_days']} days to go)"),
        "query": fc["query"]}))
    return found


def cost_sources() -> list[dict]:
    """One row per source connection of the cost view, with its lineage (`sources`) and `line_count`:
    what routing needs (agents/routing.py reads the lineage) without reading a million lines."""
    if not view_exists():
        return []
    sql = (f"SELECT (c.sources->0->>'connection_id')::bigint AS connection_id, "
           "c.sources->0->>'connection_kind' AS kind, "
           f"count(*) AS n FROM {VIEW} c GROUP BY 1, 2 ORDER BY 3 DESC")
    return [{"sources": [{"connection_id": r["connection_id"], "connection_kind": r["kind"]}]
             if r["connection_id"] is not None else [], "line_count": r["n"]} for r in run(sql, {})]
