"""FinOps figures computed by PostgreSQL over the tenant's unified cost view (docs/adr/0030).

One pass over `dcl_view_cost` aggregates the cost lines by day, service, categories, commitment,
account, region, currency and tag set (`aggregate_sql`), into a temporary table `finops_agg` of the run's
session (the run computes the same rows from the view's data table grouped first, `fast_aggregate_sql`);
every analysis then reads that table (a few thousand rows for a million lines). Each returns
its figures with `"query": {"sql", "params"}`: `WITH finops_agg AS (<the aggregation over dcl_view_cost>)
<the analysis>`, which returns, in the tenant's schema, the rows the figures were read from, so anyone
can reproduce a finding without the run's temporary table. Only an anomaly's root cause and records
read the view again, for the days around it (its charge-period index). Nothing loops over cost lines
in Python.

Conventions shared by every query (the FinOps pilot's, agents/pilots/finops.py):
- spend is `COALESCE(effective_cost_reporting, billed_cost_reporting)`: amortized cost after
  discounts, in the tenant's reporting currency; a line without a converted amount is left out of
  every sum and counted by `unconverted` (never a silent zero);
- a line's day is the UTC date of its `charge_period_start`;
- the lines read are those of sources routed to FinOps: `excluded` lists the connections routed
  elsewhere (agents/routing.py), the SQL leaves their lines out (a per-line test of the view's lineage,
  only written when some connection is excluded: it costs as much as the rest of the pass).

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
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from django.db import connection

from ..pilots.findings import query_ref
from ..pilots.values import money, pct
from .pg_settings import statement_settings

VIEW = "dcl_view_cost"
AGG = "finops_agg"
SPEND = "COALESCE(c.effective_cost_reporting, c.billed_cost_reporting)"
SOURCE_COST = "COALESCE(c.effective_cost, c.billed_cost)"
DAY = "(c.charge_period_start AT TIME ZONE 'UTC')::date"
ROUTED = ("((c.sources->0->>'connection_id') IS NULL "
          "OR (c.sources->0->>'connection_id')::bigint <> ALL(%(excluded)s::bigint[]))")
UNUSED = ("(COALESCE(c.commitment_discount_status = 'Unused', false) "
          "OR COALESCE(c.charge_category_source ILIKE '%%unused%%', false) "
          "OR COALESCE(c.commitment_discount_status_source ILIKE '%%unused%%', false))")
IDLE = ("(COALESCE(c.charge_description ILIKE '%%idleaddress%%', false) "
        "OR COALESCE(c.sku_id ILIKE '%%idleaddress%%', false))")
CUSTOMER_TAG_KEYS = ("customer", "client", "project", "account")
FORECAST_HISTORY_DAYS = 28
FORECAST_Z = 1.2816  # two-sided 80%
ROOT_CAUSE_BASELINE_DAYS = 14
ROOT_CAUSE_LIMIT = 5


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


def _resource_tail_sql(expr: str) -> str:
    """The last ARN/path segment of an id, lower-cased (finops._id_keys, in SQL; split_part costs a third of
    a regular expression per line)."""
    return f"lower(split_part(split_part(btrim({expr}), '/', -1), ':', -1))"


def routed(excluded: Sequence[int]) -> str:
    return f" AND {ROUTED}" if excluded else ""


# --- the one pass ---------------------------------------------------------------------------------------


def aggregate_sql(excluded: Sequence[int] = ()) -> str:
    """The cost lines grouped by what the analyses read. A line keeps its `resource_id` only when the
    pilot judges that resource (`keep`: stopped, idle, untagged, previous-generation ones) or it bills an
    idle address; `inventory_tagged`: its resource has tags in the inventory (`tagged_ids`). The lateral `r`
    computes each line's id tail and idle test once. (No SQL comments: stored queries are one line.)"""
    tail = _resource_tail_sql("c.resource_id")
    return f"""
SELECT {DAY} AS day, c.service_name, c.service_category, c.charge_category, {UNUSED} AS unused,
       NULLIF(c.commitment_discount_id, '') AS commitment_id,
       COALESCE(NULLIF(c.sub_account_id, ''), c.billing_account_id) AS sub_account_id, c.region_id,
       c.billing_currency, c.fx_missing,
       COALESCE(c.tags, '{{}}'::jsonb) AS tags, r.idle,
       CASE WHEN r.tail <> '' AND (lower(btrim(c.resource_id)) = ANY(%(keep)s::text[])
                 OR r.tail = ANY(%(keep)s::text[]) OR r.idle) THEN c.resource_id END AS resource_id,
       (r.tail <> '' AND r.tail = ANY(%(tagged_ids)s::text[])) AS inventory_tagged,
       max(c.commitment_discount_name) AS commitment_name, max(c.commitment_discount_type) AS commitment_type,
       max(c.commitment_discount_category) AS commitment_category, max(c.reporting_currency) AS reporting_currency,
       sum({SPEND}) AS spend,
       sum(c.effective_cost_reporting) AS eff,
       sum(c.billed_cost_reporting) FILTER (WHERE c.effective_cost_reporting IS NULL) AS billed_only,
       sum(c.billed_cost_reporting) AS billed,
       count(*) FILTER (WHERE c.effective_cost_reporting IS NOT NULL) AS eff_lines,
       count(*) FILTER (WHERE c.effective_cost_reporting IS NULL AND c.billed_cost_reporting IS NOT NULL)
         AS billed_lines,
       sum({SOURCE_COST}) FILTER (WHERE {SPEND} IS NULL) AS unconverted_cost,
       count(*) FILTER (WHERE {SPEND} IS NULL AND {SOURCE_COST} IS NOT NULL) AS unconverted_lines,
       count(*) FILTER (WHERE {SPEND} IS NULL AND {SOURCE_COST} IS NULL) AS no_amount_lines,
       count(*) AS lines
FROM {VIEW} c
  CROSS JOIN LATERAL (SELECT CASE WHEN c.resource_id <> '' THEN {tail} ELSE '' END AS tail, {IDLE} AS idle) r
WHERE true{routed(excluded)}
GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14"""


# For the one pass only (restored after it), measured on benchmarks/agents_finops.py: the groups hashed in
# memory rather than a million lines sorted on disk (5.9 s → 4.0 s with the next ones), the per-line work (the
# view's canonical values) spread over parallel workers feeding that hash, and no JIT compilation (half a
# second of it for one statement).
PASS_SETTINGS = {"work_mem": "256MB", "jit": "off", "enable_sort": "off", "enable_incremental_sort": "off",
                 "parallel_setup_cost": "0",
                 "parallel_tuple_cost": "0.001"}


# --- the same pass, over the view's data table first ------------------------------------------------------
#
# The view computes each line's canonical values when read (a join onto the value-map mirrors and a CASE per
# value field per line: docs/adr/0022 "read_time_values"), which is most of what a pass over it costs. Those
# values depend only on the line's connection, source object and raw value columns, so the run groups the
# DATA TABLE by those raw columns and by the keys the analyses read (a few thousand combinations for a million
# lines) and applies the VIEW'S OWN DEFINITION (pg_get_viewdef, its data table replaced by the groups) to the
# groups: the same value maps, the same SQL, a thousandth of the rows. The groups are then summed again by the
# canonical keys (two raw values can map to one canonical value). The result has the rows `aggregate_sql`
# gives over the view (tests/agents/test_finops_focus_demo.py compares them); stored queries keep that form.

# Columns of the data table the pass reads as they are: they must be columns the view shows unchanged (not
# value columns), else the fast pass is not used.
RAW_READ = ("charge_period_start", "commitment_discount_id", "sub_account_id", "billing_account_id", "fx_missing",
            "tags", "charge_description", "sku_id", "resource_id", "commitment_discount_name",
            "commitment_discount_type", "reporting_currency", "effective_cost_reporting", "billed_cost_reporting",
            "effective_cost", "billed_cost", "service_name")
# The lineage columns the view's `sources` is built from, grouped as they are (one value per connection and
# object; `_sources_multi` only when routing reads it); `_src_id` is per line and left NULL.
LINEAGE_GROUPED = ("_src_connection_id", "_src_kind", "_src_object")


@dataclass(frozen=True)
class ViewPlan:
    """What the fast pass needs of `dcl_view_cost`: its definition, the data table it reads (as the
    definition names it) and that table's columns with their types."""

    definition: str
    table: str
    columns: dict[str, str]


def _value_columns() -> tuple[set[str], set[str]]:
    """(the cost entity's columns whose view value is computed from the value maps, the raw columns those
    read: each value field's own, a fallback's, a derived field's source)."""
    from aam.ontology import get_ontology

    ent = get_ontology().entities["cost"]
    computed, read = set(), set()
    for f in ent.value_fields():
        computed |= {f.name, f"{f.name}_source", f"{f.name}_status"}
        read |= {f.name, *([f.fallback] if f.fallback else [])}
    for f in ent.derived.values():
        computed.add(f.name)
        read |= {f.derived_from} if f.derived_from else set()
    return computed, read


def view_plan() -> ViewPlan | None:
    """The view's definition and its one data table, or None when the view is not the read-time-values view
    over one `dcl_vdata_cost_<v>` table the fast pass knows (then the pass reads the view)."""
    tables = run("SELECT DISTINCT c.oid::regclass::text AS name, c.oid AS oid FROM pg_rewrite r "
                 "JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = r.oid "
                 "JOIN pg_class c ON c.oid = d.refobjid AND c.relkind = 'r' "
                 "WHERE r.ev_class = to_regclass(%(view)s) AND c.relname LIKE 'dcl\\_vdata\\_cost\\_%%'",
                 {"view": VIEW})
    if len(tables) != 1:
        return None
    table, oid = tables[0]["name"], tables[0]["oid"]
    definition = run("SELECT pg_get_viewdef(to_regclass(%(view)s)) AS d", {"view": VIEW})[0]["d"]
    columns = {r["name"]: r["type"] for r in run(
        "SELECT attname AS name, format_type(atttypid, atttypmod) AS type FROM pg_attribute "
        "WHERE attrelid = %(oid)s AND attnum > 0 AND NOT attisdropped ORDER BY attnum", {"oid": oid})}
    definition = definition.strip().rstrip(";")
    mentions = re.findall(rf"(?<![\w.\"]){re.escape(table)} s(?=[\s)])", definition)
    if (len(mentions) != 1 or not definition.startswith("SELECT ") or set(RAW_READ) & _value_columns()[0]
            or not (set(RAW_READ) | set(LINEAGE_GROUPED) | {"_sources_multi"}) <= set(columns)):
        return None
    return ViewPlan(definition=definition, table=table, columns=columns)


def groups_through_view(plan: ViewPlan, keys: dict[str, str], sums: dict[str, str], *, excluded: Sequence[int] = (),
                        joins: str = "", where: str = "true") -> str:
    """`WITH ... finops_lines AS (...)`: the data table's lines (alias `s`, with `joins`, `where`) grouped by
    the raw columns the view's value columns read, its lineage and `keys` (name → expression), with `sums`
    (name → aggregate), then the view's own definition over those groups: `finops_lines` has the view's
    columns (value columns as the view computes them; the others NULL unless grouped) and `keys` and
    `sums`. A query over it sums the sums again by what it needs. (`finops_raw` is MATERIALIZED: a filter
    on the view's columns, as routing's on `sources`, must not be pushed down to every line.)"""
    value_inputs = _value_columns()[1]
    grouped = [c for c in plan.columns if c in value_inputs or c in LINEAGE_GROUPED
               or (excluded and c == "_sources_multi")]
    raw = (f"SELECT {', '.join(f's.{_quote(c)}' for c in grouped)}, "
           f"{', '.join(f'{e} AS {n}' for n, e in keys.items())}, {', '.join(f'{e} AS {n}' for n, e in sums.items())} "
           f"FROM {plan.table} s {joins} WHERE {where} "
           f"GROUP BY {', '.join(str(i + 1) for i in range(len(grouped) + len(keys)))}")
    rows = ", ".join(f"g.{_quote(c)}" if c in grouped else f"NULL::{t} AS {_quote(c)}" for c, t in plan.columns.items())
    definition = plan.definition.replace("%", "%%")  # run with parameters
    view = re.sub(rf"(?<![\w.\"]){re.escape(plan.table)} s(?=[\s)])", "finops_rows s", definition, count=1)
    view = "SELECT " + ", ".join(f"s.{n}" for n in (*keys, *sums)) + ", " + view[len("SELECT "):]
    return (f"WITH finops_raw AS MATERIALIZED ({raw}),\n"
            f"     finops_rows AS (SELECT {rows}, {', '.join(f'g.{n}' for n in (*keys, *sums))} FROM finops_raw g),\n"
            f"     finops_lines AS ({view})")


def fast_aggregate_sql(plan: ViewPlan, excluded: Sequence[int] = ()) -> str:
    """`aggregate_sql`'s rows, from the data table grouped first and the view's definition applied to the
    groups (see above)."""
    tail = _resource_tail_sql("s.resource_id")
    idle = IDLE.replace("c.", "s.")
    spend, source_cost = SPEND.replace("c.", "s."), SOURCE_COST.replace("c.", "s.")
    keys = {
        "x_day": DAY.replace("c.", "s."),
        "x_commitment_id": "NULLIF(s.commitment_discount_id, '')",
        "x_sub_account_id": "COALESCE(NULLIF(s.sub_account_id, ''), s.billing_account_id)",
        "x_fx_missing": "s.fx_missing",
        "x_tags": "COALESCE(s.tags, '{}'::jsonb)::text",
        "x_idle": "r.idle",
        "x_resource_id": ("CASE WHEN r.tail <> '' AND (lower(btrim(s.resource_id)) = ANY(%(keep)s::text[]) "
                          "OR r.tail = ANY(%(keep)s::text[]) OR r.idle) THEN s.resource_id END"),
        "x_inventory_tagged": "(r.tail <> '' AND r.tail = ANY(%(tagged_ids)s::text[]))",
    }
    sums = {
        "x_commitment_name": "max(s.commitment_discount_name)",
        "x_commitment_type": "max(s.commitment_discount_type)",
        "x_reporting_currency": "max(s.reporting_currency)",
        "x_eff": "sum(s.effective_cost_reporting)",
        "x_billed_only": "sum(s.billed_cost_reporting) FILTER (WHERE s.effective_cost_reporting IS NULL)",
        "x_billed": "sum(s.billed_cost_reporting)",
        "x_eff_lines": "count(*) FILTER (WHERE s.effective_cost_reporting IS NOT NULL)",
        "x_billed_lines": ("count(*) FILTER (WHERE s.effective_cost_reporting IS NULL "
                           "AND s.billed_cost_reporting IS NOT NULL)"),
        "x_unconverted_cost": f"sum({source_cost}) FILTER (WHERE {spend} IS NULL)",
        "x_unconverted_lines": f"count(*) FILTER (WHERE {spend} IS NULL AND {source_cost} IS NOT NULL)",
        "x_lines": "count(*)",
    }  # (the spend and the lines without any amount follow from these: fewer aggregates per line)
    lateral = (f"CROSS JOIN LATERAL (SELECT CASE WHEN s.resource_id <> '' THEN {tail} ELSE '' END AS tail, "
               f"{idle} AS idle) r")
    return f"""
{groups_through_view(plan, keys, sums, excluded=excluded, joins=lateral)}
SELECT c.x_day AS day, c.service_name, c.service_category, c.charge_category, {UNUSED} AS unused,
       c.x_commitment_id AS commitment_id, c.x_sub_account_id AS sub_account_id, c.region_id,
       c.billing_currency, c.x_fx_missing AS fx_missing, c.x_tags::jsonb AS tags, c.x_idle AS idle,
       c.x_resource_id AS resource_id, c.x_inventory_tagged AS inventory_tagged,
       max(c.x_commitment_name) AS commitment_name, max(c.x_commitment_type) AS commitment_type,
       max(c.commitment_discount_category) AS commitment_category,
       max(c.x_reporting_currency) AS reporting_currency,
       sum(COALESCE(c.x_eff + COALESCE(c.x_billed_only, 0), c.x_billed_only)) AS spend,
       sum(c.x_eff) AS eff, sum(c.x_billed_only) AS billed_only, sum(c.x_billed) AS billed,
       sum(c.x_eff_lines)::bigint AS eff_lines, sum(c.x_billed_lines)::bigint AS billed_lines,
       sum(c.x_unconverted_cost) AS unconverted_cost, sum(c.x_unconverted_lines)::bigint AS unconverted_lines,
       sum(c.x_lines - c.x_eff_lines - c.x_billed_lines - c.x_unconverted_lines)::bigint AS no_amount_lines,
       sum(c.x_lines)::bigint AS lines
FROM finops_lines c
WHERE true{routed(excluded)}
GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14"""


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@dataclass(frozen=True)
class Source:
    """The aggregation a run read (`finops_agg`): its SQL over the view and params, for stored queries."""

    sql: str
    params: dict
    plan: ViewPlan | None = None  # the view's data table, when the run read it (`groups_through_view`)

    def ref(self, sql: str, params: dict | None = None) -> dict:
        """The stored query of an analysis over `finops_agg`: the same SQL, with the aggregation inline."""
        body = sql.strip()
        body = f", {body[len('WITH '):]}" if body.upper().startswith("WITH ") else f" {body}"
        return query_ref(f"WITH {AGG} AS ({self.sql}){body}", {**self.params, **(params or {})})


def materialize(*, excluded: Sequence[int] = (), keep: Sequence[str] = (), tagged_ids: Sequence[str] = (),
                over_view: bool = False) -> Source:
    """One pass into the session's temporary `finops_agg` (dropped by `release`): over the view's data table
    grouped first (`fast_aggregate_sql`), or over the view itself (`over_view`, or when the view is not one
    the fast pass knows). The Source's SQL is the pass over the view either way (what stored queries say)."""
    sql = aggregate_sql(excluded)
    plan = None if over_view else view_plan()
    run_sql = sql if plan is None else fast_aggregate_sql(plan, excluded)
    params = {"keep": sorted(set(keep)), "tagged_ids": sorted(set(tagged_ids)),
              **({"excluded": list(excluded)} if excluded else {})}
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS pg_temp.{AGG}")
        with statement_settings(cursor, PASS_SETTINGS):
            cursor.execute(f"CREATE TEMPORARY TABLE {AGG} AS {run_sql}", params)
        cursor.execute(f"ANALYZE {AGG}")
    return Source(sql=" ".join(sql.split()), params=params, plan=plan)


def release() -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS pg_temp.{AGG}")


@dataclass(frozen=True)
class Scope:
    """The days every analysis reads (inclusive), and the aggregation they read them from."""

    start: date
    end: date
    source: Source
    excluded: tuple[int, ...] = ()

    def params(self) -> dict:
        return {"start": self.start.isoformat(), "end": self.end.isoformat()}


# A row's tags as Python reads them (a non-empty object, array or string, a non-zero number, true): what the
# pilot asks of a line's tags is whether it has any.
TAGGED = ("(CASE jsonb_typeof(a.tags) WHEN 'object' THEN a.tags <> '{}' WHEN 'array' THEN a.tags <> '[]' "
          "WHEN 'string' THEN a.tags <> '\"\"' WHEN 'number' THEN a.tags <> '0' WHEN 'boolean' THEN a.tags = 'true' "
          "ELSE false END)")
IN_SCOPE = "a.day BETWEEN %(start)s::date AND %(end)s::date"


# --- the period and what cannot be summed ------------------------------------------------------------


def data_period(source: Source) -> dict:
    """First and last day with cost lines, how many lines, and those without a converted amount."""
    sql = (f"SELECT min(a.day) AS first_day, max(a.day) AS last_day, COALESCE(sum(a.lines), 0) AS lines, "
           f"COALESCE(sum(a.unconverted_lines), 0) AS unconverted FROM {AGG} a")
    row = run(sql, {})[0]
    return {"first_day": row["first_day"], "last_day": row["last_day"], "lines": int(row["lines"]),
            "unconverted_lines": int(row["unconverted"]), "query": source.ref(sql)}


def unconverted(scope: Scope) -> dict:
    """Lines without a converted amount, per currency and reason (a currency without a rate is said,
    never summed as zero)."""
    sql = (f"SELECT a.billing_currency AS currency, COALESCE(a.fx_missing, 'not_converted') AS reason, "
           f"sum(a.unconverted_lines) AS lines, sum(a.unconverted_cost) AS amount FROM {AGG} a "
           f"WHERE a.unconverted_lines > 0 AND {IN_SCOPE} GROUP BY 1, 2 ORDER BY 3 DESC, 1")
    params = scope.params()
    by_currency: dict[str | None, dict] = {}
    for r in run(sql, params):
        g = by_currency.setdefault(r["currency"], {"currency": r["currency"], "count": 0, "amount": 0.0,
                                                   "reasons": {}})
        g["count"] += int(r["lines"])
        g["amount"] = money(g["amount"] + _f(r["amount"]))
        g["reasons"][r["reason"]] = int(r["lines"])
    groups = sorted(by_currency.values(), key=lambda g: (-g["count"], g["currency"] or ""))
    return {"count": sum(g["count"] for g in groups), "by_currency": groups, "query": scope.source.ref(sql, params)}


# --- commitments ------------------------------------------------------------------------------------


COMMITMENT_RULE = ("unused = spend of the commitment's lines marked unused (FOCUS CommitmentDiscountStatus Unused or a "
                   "charge type naming it); without such lines, its purchase and fee lines' billed cost minus the "
                   "spend of the usage it covered. Utilization = used ÷ (used + unused).")


def commitments(scope: Scope) -> dict:
    """Per commitment: what it cost, what it covered, what went unused, its utilization."""
    sql = f"""
WITH per AS (
  SELECT a.commitment_id, max(a.commitment_name) AS name, max(a.commitment_type) AS type,
         max(a.commitment_category) AS category, max(a.billing_currency) AS currency,
         COALESCE(sum(a.spend) FILTER (WHERE NOT a.unused AND a.charge_category = 'Usage'), 0) AS used,
         COALESCE(sum(a.spend) FILTER (WHERE a.unused), 0) AS unused_marked,
         COALESCE(sum(a.lines) FILTER (WHERE a.unused), 0) AS unused_lines,
         COALESCE(sum(a.billed) FILTER (WHERE a.charge_category = 'Purchase'), 0) AS purchased,
         sum(a.lines) AS lines
  FROM {AGG} a WHERE a.commitment_id IS NOT NULL AND {IN_SCOPE} GROUP BY a.commitment_id
)
SELECT commitment_id, name, type, category, currency, lines, used, purchased,
       CASE WHEN unused_lines > 0 THEN unused_marked ELSE GREATEST(purchased - used, 0) END AS unused,
       CASE WHEN unused_lines > 0 THEN 'marked_unused' ELSE 'purchase_minus_used' END AS basis
FROM per ORDER BY commitment_id"""
    params = scope.params()
    items = []
    for r in run(sql, params):
        used, unused = _f(r["used"]), _f(r["unused"])
        items.append({"commitment_id": r["commitment_id"], "name": r["name"], "type": r["type"],
                      "category": r["category"], "billing_currency": r["currency"], "lines": int(r["lines"]),
                      "used": money(used), "unused": money(unused), "purchased": money(_f(r["purchased"])),
                      "utilization_pct": pct(used, used + unused), "basis": r["basis"]})
    used = sum(i["used"] for i in items)
    unused = sum(i["unused"] for i in items)
    return {"rule": COMMITMENT_RULE, "commitments": items, "used": money(used), "unused": money(unused),
            "utilization_pct": pct(used, used + unused), "query": scope.source.ref(sql, params)}


COVERAGE_RULE = ("coverage = spend of usage lines a commitment covered ÷ spend of all usage lines of the services "
                 "with at least one covered line in the period")


def coverage(scope: Scope) -> dict:
    """Commitment coverage, overall and per service, and its daily series for the chart."""
    sql = f"""
WITH usage AS (
  SELECT a.day, a.service_name, a.spend, (a.commitment_id IS NOT NULL AND NOT a.unused) AS covered
  FROM {AGG} a WHERE a.charge_category = 'Usage' AND {IN_SCOPE}
), eligible AS (
  SELECT service_name FROM usage GROUP BY service_name HAVING bool_or(covered)
)
SELECT u.day, u.service_name, COALESCE(sum(u.spend) FILTER (WHERE u.covered), 0) AS covered,
       COALESCE(sum(u.spend), 0) AS eligible
FROM usage u JOIN eligible e USING (service_name)
GROUP BY u.day, u.service_name ORDER BY u.day, u.service_name"""
    params = scope.params()
    by_service: dict[str, list[float]] = {}
    by_day: dict[date, list[float]] = {}
    for r in run(sql, params):
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
            "query": scope.source.ref(sql, params)}


# --- showback -------------------------------------------------------------------------------------------


def tag_keys(scope: Scope) -> dict:
    """Every tag key on the lines and the spend carrying it (how well tagged the bill is)."""
    sql = (f"SELECT k.key, sum(a.lines) AS lines, sum(a.spend) AS spend FROM {AGG} a "
           "CROSS JOIN LATERAL jsonb_object_keys(a.tags) AS k(key) "
           f"WHERE jsonb_typeof(a.tags) = 'object' AND {IN_SCOPE} "
           "GROUP BY k.key ORDER BY 3 DESC NULLS LAST, 1")
    params = scope.params()
    return {"keys": [{"key": r["key"], "lines": int(r["lines"]), "spend": money(_f(r["spend"]))}
                     for r in run(sql, params)], "query": scope.source.ref(sql, params)}


def _key_spellings(wanted: str, keys: Iterable[str]) -> list[str]:
    """The spellings of one tag key on the lines (Team, team, user:Team all answer `team`)."""
    target = wanted.strip().lower()
    return sorted(k for k in keys if k.lower() == target or k.lower().rsplit(":", 1)[-1] == target)


def _tag_value_sql(spellings: Sequence[str], prefix: str = "key") -> str:
    if not spellings:
        return "NULL::text"
    return "COALESCE(" + ", ".join(f"NULLIF(a.tags->>%({prefix}{i})s, '')" for i in range(len(spellings))) + ")"


SHOWBACK_RULE = "untagged spend is allocated to the tag's values in proportion to their tagged spend"


def showback(scope: Scope, tag: str, spellings: Sequence[str]) -> dict:
    """Spend per value of one tag, with the untagged spend allocated by SHOWBACK_RULE."""
    sql = f"""
WITH lines AS (
  SELECT {_tag_value_sql(spellings)} AS value, a.spend, a.lines FROM {AGG} a
  WHERE a.spend IS NOT NULL AND {IN_SCOPE}
), direct AS (
  SELECT value, sum(spend) AS direct, sum(lines) AS lines FROM lines WHERE value IS NOT NULL GROUP BY value
), untagged AS (
  SELECT COALESCE(sum(spend), 0) AS untagged, COALESCE(sum(lines), 0) AS lines FROM lines WHERE value IS NULL
)
SELECT d.value, d.direct, d.lines, u.untagged, u.lines AS untagged_lines,
       CASE WHEN sum(d.direct) OVER () <> 0 THEN u.untagged * d.direct / sum(d.direct) OVER () ELSE 0 END AS allocated
FROM untagged u LEFT JOIN direct d ON true ORDER BY d.direct DESC NULLS LAST, d.value"""
    params = {**scope.params(), **{f"key{i}": k for i, k in enumerate(spellings)}}
    rows = run(sql, params)
    untagged = _f(rows[0]["untagged"]) if rows else 0.0
    values = [{"value": r["value"], "direct": money(_f(r["direct"])), "allocated": money(_f(r["allocated"])),
               "total": money(_f(r["direct"]) + _f(r["allocated"])), "lines": int(r["lines"])}
              for r in rows if r["value"] is not None]
    tagged = sum(v["direct"] for v in values)
    statement = None
    if not values:
        statement = (f"no cost line carries a {tag!r} tag: {money(untagged):,.2f} of spend cannot be charged back by "
                     f"{tag}; tag the resources (or map the source's tag column) first")
    return {"tag": tag, "keys": list(spellings), "rule": SHOWBACK_RULE, "values": values, "tagged": money(tagged),
            "untagged": money(untagged), "untagged_lines": int(rows[0]["untagged_lines"]) if rows else 0,
            "untagged_pct": pct(untagged, tagged + untagged), "allocated": bool(values) and untagged > 0,
            "statement": statement, "query": scope.source.ref(sql, params)}


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
    revenue = ("""(SELECT sum(o.amount_reporting) FROM dcl_view_opportunity o
          WHERE o.account_unified_id = a.unified_id AND o.status = 'won'
            AND o.close_date BETWEEN %(start)s::date AND %(end)s::date)"""
               if view_exists("dcl_view_opportunity") else "NULL::numeric")
    sql = f"""
WITH tagged AS (
  SELECT {_name_key("t.value")} AS value, min(t.value) AS raw, sum(a.spend) AS spend, sum(a.lines) AS lines
  FROM {AGG} a CROSS JOIN LATERAL jsonb_each_text(a.tags) AS t(key, value)
  WHERE jsonb_typeof(a.tags) = 'object' AND a.tags ?| %(keys)s::text[] AND t.key = ANY(%(keys)s::text[])
    AND btrim(t.value) <> '' AND {IN_SCOPE}
  GROUP BY 1
), accounts AS (
  SELECT DISTINCT ON (t.value) t.value, a.unified_id, a.name, {revenue} AS revenue
  FROM tagged t JOIN dcl_view_account a
    ON {_name_key("a.name")} = t.value OR lower(btrim(a.id)) = lower(t.raw) OR a.unified_id = t.raw
  ORDER BY t.value, a.unified_id
)
SELECT t.raw AS tag_value, t.spend, t.lines, a.unified_id AS account_unified_id, a.name AS account_name, a.revenue
FROM tagged t LEFT JOIN accounts a USING (value) ORDER BY t.spend DESC NULLS LAST, t.raw"""
    params = {**scope.params(), "keys": list(keys), "suffix": LEGAL_SUFFIX}
    accounts: dict[str, dict] = {}
    unmatched = []
    for r in run(sql, params):
        if r["account_unified_id"] is None:
            unmatched.append({"tag_value": r["tag_value"], "cost": money(_f(r["spend"])), "lines": int(r["lines"])})
            continue
        a = accounts.setdefault(r["account_unified_id"], {"account_unified_id": r["account_unified_id"],
                                                          "account": r["account_name"], "cost": 0.0, "lines": 0,
                                                          "tag_values": [], "revenue_won": None})
        a["cost"] = money(a["cost"] + _f(r["spend"]))
        a["lines"] += int(r["lines"])
        a["tag_values"].append(r["tag_value"])
        if r["revenue"] is not None:
            a["revenue_won"] = money(_f(r["revenue"]))
    for a in accounts.values():
        a["cost_pct_of_revenue"] = pct(a["cost"], a["revenue_won"]) if a["revenue_won"] else None
    items = sorted(accounts.values(), key=lambda a: (-a["cost"], a["account"] or ""))
    statement = None if items else ("no customer/project tag value names a RevOps account"
                                    + (f" ({len(unmatched)} tag values checked)" if unmatched else ""))
    return {"rule": UNIT_RULE, "keys": list(keys), "accounts": items, "unmatched": unmatched,
            "statement": statement, "query": scope.source.ref(sql, params)}


# --- anomaly root cause (reads the view around the anomaly) -------------------------------------------


ROOT_CAUSE_RULE = ("change = spend on the anomaly's days − (mean daily spend of the 14 days before it × its days), per "
                   "service, resource, region, sub account and tag")
# The charge period's index bounds the scan (a test on the UTC date of every line would not).
DAYS_SQL = ("c.charge_period_start >= (%(base_start)s::date)::timestamp AT TIME ZONE 'UTC' "
            "AND c.charge_period_start < (%(to)s::date + 1)::timestamp AT TIME ZONE 'UTC'")


def root_cause(scope: Scope, *, start: date, end: date, service: str | None, tag_spellings: Sequence[str] = (),
               limit: int = ROOT_CAUSE_LIMIT) -> dict:
    """What moved most in an anomaly's days against its baseline, per dimension."""
    base_start, base_end = start - timedelta(days=ROOT_CAUSE_BASELINE_DAYS), start - timedelta(days=1)
    tag = ("COALESCE(" + ", ".join(f"NULLIF(c.tags->>%(tag{i})s, '')" for i in range(len(tag_spellings))) + ")"
           if tag_spellings else "NULL::text")
    service_filter = "AND c.service_name = %(service)s" if service else ""
    lines = f"""
WITH lines AS (
  SELECT {DAY} AS day, c.service_name AS service, c.resource_id AS resource, c.region_id AS region,
         c.sub_account_id AS sub_account, {tag} AS tag, {SPEND} AS spend
  FROM {VIEW} c WHERE {DAYS_SQL} {service_filter}{routed(scope.excluded)}
)"""
    rest = """, grouped AS (
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
    sql = lines + rest
    params = {"from": start.isoformat(), "to": end.isoformat(), "base_start": base_start.isoformat(),
              "base_days": ROOT_CAUSE_BASELINE_DAYS, "days": (end - start).days + 1, "limit": limit,
              **({"service": service} if service else {}),
              **({"excluded": list(scope.excluded)} if scope.excluded else {}),
              **{f"tag{i}": k for i, k in enumerate(tag_spellings)}}
    dims: dict[str, list[dict]] = {}
    for r in run(_root_cause_lines_fast(scope, tag, service_filter) + rest if scope.source.plan else sql, params):
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


def _root_cause_lines_fast(scope: Scope, tag: str, service_filter: str) -> str:
    """The root cause's `lines`, summed per day, service, resource, region, sub account and tag from the data
    table grouped first (`groups_through_view`): the same sums as over the view's lines, for a fraction of
    the rows the view would compute values for."""
    def raw(expr: str) -> str:
        return expr.replace("c.", "s.")

    keys = {"x_day": raw(DAY), "x_resource": "s.resource_id", "x_sub_account": "s.sub_account_id",
            "x_tag": raw(tag)}
    head = groups_through_view(scope.source.plan, keys, {"x_spend": f"sum({raw(SPEND)})"}, excluded=scope.excluded,
                               where=raw(f"{DAYS_SQL} {service_filter}"))
    return f"""{head}, lines AS (
  SELECT c.x_day AS day, c.service_name AS service, c.x_resource AS resource, c.region_id AS region,
         c.x_sub_account AS sub_account, c.x_tag AS tag, c.x_spend AS spend
  FROM finops_lines c WHERE true{routed(scope.excluded)}
)"""


# --- month-end forecast ---------------------------------------------------------------------------------


FORECAST_METHOD = ("month-to-date spend + remaining days × mean daily spend of the last 28 days; 80% interval "
                   "± 1.2816 × daily standard deviation × √remaining days (days as independent draws)")


def forecast(scope: Scope, *, last_day: date) -> dict:
    """Spend at the end of `last_day`'s month, with an 80% interval."""
    month_start = last_day.replace(day=1)
    month_end = (month_start + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    history_start = last_day - timedelta(days=FORECAST_HISTORY_DAYS - 1)
    sql = f"""
WITH days AS (
  SELECT d::date AS day FROM generate_series(%(history_start)s::date, %(last_day)s::date, interval '1 day') AS d
), spend AS (
  SELECT a.day, sum(a.spend) AS spend FROM {AGG} a
  WHERE a.day BETWEEN LEAST(%(history_start)s::date, %(month_start)s::date) AND %(last_day)s::date GROUP BY 1
), daily AS (
  SELECT days.day, COALESCE(spend.spend, 0) AS spend FROM days LEFT JOIN spend USING (day)
)
SELECT (SELECT COALESCE(sum(spend), 0) FROM spend WHERE day >= %(month_start)s::date) AS month_to_date,
       avg(spend) AS daily_mean, COALESCE(stddev_samp(spend), 0) AS daily_sd, count(*) AS days
FROM daily"""
    params = {"history_start": history_start.isoformat(), "last_day": last_day.isoformat(),
              "month_start": month_start.isoformat()}
    row = run(sql, params)[0]
    remaining = (month_end - last_day).days
    mtd, mean, sd = _f(row["month_to_date"]), _f(row["daily_mean"]), _f(row["daily_sd"])
    point = mtd + remaining * mean
    half = FORECAST_Z * sd * math.sqrt(remaining)
    return {"method": FORECAST_METHOD, "month": month_start.strftime("%Y-%m"), "through": last_day.isoformat(),
            "month_to_date": money(mtd), "remaining_days": remaining, "daily_mean": money(mean),
            "daily_sd": money(sd), "forecast": money(point), "low": money(max(mtd, point - half)),
            "high": money(point + half), "interval": 0.8, "query": scope.source.ref(sql, params)}


# --- spend by category over time (chart) ------------------------------------------------------------


def spend_by_category_month(scope: Scope) -> dict:
    """Spend per month and FOCUS service category (the chart's stacked bars)."""
    sql = (f"SELECT to_char(a.day, 'YYYY-MM') AS month, COALESCE(a.service_category, 'Other') AS category, "
           f"sum(a.spend) AS spend FROM {AGG} a WHERE a.spend IS NOT NULL AND {IN_SCOPE} GROUP BY 1, 2 ORDER BY 1, 2")
    params = scope.params()
    return {"rows": [{"month": r["month"], "category": r["category"], "spend": money(_f(r["spend"]))}
                     for r in run(sql, params)], "query": scope.source.ref(sql, params)}


# --- the pilot's input ----------------------------------------------------------------------------------


def pilot_rows(scope: Scope, *, window_start: date) -> dict:
    """`finops_agg` as the rows the FinOps pilot reads (finops.cost_lines), with `line_count`; a row keeps
    its resource id inside the trailing window only (the pilot judges resources on that window), and says
    whether it has tags, not which: grouped again by what the pilot reads, so outside the window a
    resource's rows are one row (a quarter of the rows for a million lines, and of the pilot's time)."""
    sql = f"""
SELECT a.day, a.service_name, a.service_category, a.charge_category, a.sub_account_id, a.region_id,
       CASE WHEN a.day >= %(window_start)s::date THEN a.resource_id END AS resource_id, {TAGGED} AS tagged,
       a.inventory_tagged, a.idle, a.billing_currency, a.reporting_currency, a.fx_missing,
       sum(a.eff) AS eff, sum(a.billed_only) AS billed_only, sum(a.eff_lines)::bigint AS eff_lines,
       sum(a.billed_lines)::bigint AS billed_lines, sum(a.unconverted_cost) AS unconverted_cost,
       sum(a.unconverted_lines)::bigint AS unconverted_lines, sum(a.no_amount_lines)::bigint AS no_amount_lines
FROM {AGG} a GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13"""
    params = {"window_start": window_start.isoformat()}
    rows = []
    for r in run(sql, params):
        base = {"charge_period_start": r["day"], "service_name": r["service_name"],
                "service_category": r["service_category"], "charge_category": r["charge_category"],
                "sub_account_id": r["sub_account_id"], "region_id": r["region_id"],
                "resource_id": r["resource_id"] or "",
                "tags": {"tagged": True} if r["tagged"] else {}, "inventory_tagged": r["inventory_tagged"],
                "idle": r["idle"], "billing_currency": r["billing_currency"],
                "reporting_currency": r["reporting_currency"]}
        converted = r["eff_lines"] + r["billed_lines"]
        if converted:
            basis = {k: v for k, v in (("effective_cost_reporting", r["eff_lines"]),
                                       ("billed_cost_reporting", r["billed_lines"])) if v}
            rows.append({**base, "effective_cost_reporting": _f(r["eff"]) + _f(r["billed_only"]),
                         "line_count": converted, "basis": basis})
        if r["unconverted_lines"]:
            rows.append({**base, "effective_cost": _f(r["unconverted_cost"]), "line_count": r["unconverted_lines"],
                         "fx_missing": r["fx_missing"]})
        if r["no_amount_lines"]:
            rows.append({**base, "line_count": r["no_amount_lines"]})
    return {"rows": rows, "query": scope.source.ref(sql, params)}


def anomaly_lines(scope: Scope, *, service: str, start: date, end: date, limit: int) -> dict:
    """The usage lines of one service on an anomaly's days, largest first (the finding's records)."""
    where = (f"c.service_name = %(service)s AND {DAYS_SQL.replace('%(base_start)s', '%(from)s')} "
             f"AND COALESCE(c.charge_category, 'Usage') = 'Usage'{routed(scope.excluded)}")
    sql = (f"SELECT c.unified_id, {SPEND} AS spend FROM {VIEW} c WHERE {where} "
           f"ORDER BY {SPEND} DESC NULLS LAST, c.unified_id LIMIT %(limit)s")
    params = {"service": service, "from": start.isoformat(), "to": end.isoformat(), "limit": limit,
              **({"excluded": list(scope.excluded)} if scope.excluded else {})}
    ids = [r["unified_id"] for r in run(sql, params)]
    total = run(f"SELECT count(*) AS n FROM {VIEW} c WHERE {where}",
                {k: v for k, v in params.items() if k != "limit"})[0]["n"]
    return {"ids": ids, "count": total, "query": query_ref(sql, params)}


def resource_spend_query(scope: Scope, *, resource_id: str, start: date, end: date) -> dict:
    """The SQL of one resource's daily spend in a window (a savings or untagged finding's figures)."""
    tail = _resource_tail_sql("c.resource_id")
    sql = (f"SELECT {DAY} AS day, sum({SPEND}) AS spend FROM {VIEW} c "
           f"WHERE (lower(btrim(c.resource_id)) = %(id)s OR {tail} = %(tail)s) "
           f"AND {DAYS_SQL.replace('%(base_start)s', '%(start)s').replace('%(to)s', '%(end)s')}"
           f"{routed(scope.excluded)} GROUP BY 1 ORDER BY 1")
    rid = resource_id.strip().lower()
    params = {"id": rid, "tail": rid.replace(":", "/").rsplit("/", 1)[-1], "start": start.isoformat(),
              "end": end.isoformat(), **({"excluded": list(scope.excluded)} if scope.excluded else {})}
    return query_ref(sql, params)


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
    analyses of docs/adr/0030 beside it, with what it read (`inputs`). None when no cost line of a
    FinOps source is materialized."""
    from ..pilots import PilotResult, finops

    if not view_exists():
        return None
    total = run(f"SELECT count(*) AS n FROM {VIEW}", {})[0]["n"]
    if not total:
        return None
    keep, tagged = _resource_keys(resources)
    source = materialize(excluded=excluded, keep=keep, tagged_ids=tagged)
    try:
        period = data_period(source)
        if not period["lines"]:
            return None
        inputs = {"rows": total, "rows_used": period["lines"]}
        if period["last_day"] is None:  # lines, but none with a charge period: the pilot says what it left out
            scope = Scope(date.min, date.max, source, tuple(excluded))
            rows = pilot_rows(scope, window_start=date.max)["rows"]
            return finops.analyze(costs=rows, resources=resources, config=config,
                                  reporting_currency=reporting_currency), inputs
        first, last = period["first_day"], period["last_day"]
        scope = Scope(first, last, source, tuple(excluded))
        window_start = max(first, last - timedelta(days=config.window_days - 1))
        aggregated = pilot_rows(scope, window_start=window_start)
        result: PilotResult = finops.analyze(costs=aggregated["rows"], resources=resources, config=config,
                                             reporting_currency=reporting_currency)
        inputs["aggregated_rows"] = len(aggregated["rows"])
        currency = result.metrics.get("reporting_currency")
        keys = [k["key"] for k in tag_keys(scope)["keys"]]
        extra = {
            "commitments": commitments(scope),
            "coverage": coverage(scope),
            "forecast": forecast(scope, last_day=last),
            "spend_by_category_month": spend_by_category_month(scope),
            "unit_economics": unit_economics(scope, [k for k in keys
                                                     if k.lower().rsplit(":", 1)[-1] in CUSTOMER_TAG_KEYS]),
        }
        showbacks = [showback(scope, wanted, _key_spellings(wanted, keys)) for wanted in SHOWBACK_TAGS
                     if _key_spellings(wanted, keys)] or [showback(scope, "team", [])]
        extra["showback"] = showbacks
        result.metrics.update(extra)
        result.metrics["tag_keys"] = keys
        result.metrics["queries"] = {"pilot_input": aggregated["query"], "period": period["query"]}
        _anomalies_in_sql(result, scope, config, _key_spellings("team", keys))
        _queries_on_findings(result, scope, window_start, last)
        result.findings.extend(_new_findings(extra, currency, scope))
        return result, inputs
    finally:
        release()


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
    """One stand-in row per connection whose mapping feeds the cost entity, with its lineage (`sources`):
    what routing needs (agents/routing.py reads the lineage) without reading the lines (the view's lineage
    column is built per line: a pass over a million lines for a handful of ids). A view with lines but no
    such mapping (lines of a connection since removed) gets a stand-in without lineage (routed by entity)."""
    from aam.models import FieldMapping

    if not view_exists() or not run(f"SELECT EXISTS (SELECT 1 FROM {VIEW}) AS any", {})[0]["any"]:
        return []  # nothing materialized: the pilot is skipped with that reason
    pairs = sorted(set(FieldMapping.objects.filter(canonical_entity="cost")
                       .values_list("connection_id", "connection__kind")))
    return [{"sources": [{"connection_id": pk, "connection_kind": kind}]} for pk, kind in pairs] or [{"sources": []}]
