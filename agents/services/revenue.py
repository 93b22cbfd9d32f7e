"""RevOps analyses computed in the tenant's PostgreSQL schema: pipeline waterfall, forecast rollup
against quota, stage conversion, time in stage, win rates, sales velocity, slippage and the deals at
risk by their history (ADR 0029).

Each analysis is one SQL statement over the unified opportunity view (`dcl_view_opportunity`), its
type-2 history (`dcl_history_opportunity`, ADR 0020), the quotas (`dcl_view_quota` loaded through a
connection, `agents_quota` edited in the admin) and the FX rates (`money_fxrate`). PostgreSQL does
the work, so a million deals cost a few scans and never a Python loop over rows; and every figure
keeps the statement and parameters that produced it (`query`, findings.query_ref): run with the
search_path set to the tenant, it returns that figure again.

Money: the view's `amount_reporting` (converted at the close date's rate, ADR 0015) for the figures
of the current view. The waterfall and the quotas read amounts in their own currency (the history
keeps no converted amount) and convert them at one rate per currency, the latest on or before the
`rate_day` (the run's day): so a pushed close date never shows as an amount change because its
rate moved. An amount whose currency has no rate is left out and said, per currency.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from django.db import connection

from ..pilots.findings import RECORDS_MAX, query_ref, records_ref, with_action
from ..pilots.values import money, money_text

FUNNEL = ("qualify", "develop", "propose", "negotiate", "won")
OPEN_CATEGORIES = ("qualify", "develop", "propose", "negotiate")
FORECAST_ORDER = ("commit", "best_case", "pipeline", "omitted")
WATERFALL_BARS = ("opening", "created", "pulled_in", "other_in", "increased", "decreased", "won", "lost",
                  "pushed_out", "removed", "other_out", "closing")
BAR_LABELS = {"opening": "Opening pipeline", "created": "Created", "pulled_in": "Pulled in",
              "other_in": "Reopened or back in scope", "increased": "Increased", "decreased": "Decreased",
              "won": "Won", "lost": "Lost", "pushed_out": "Pushed out", "removed": "Deleted at the source",
              "other_out": "Out of scope otherwise", "closing": "Closing pipeline"}


@dataclass(frozen=True)
class Period:
    """The close-date period whose pipeline is followed (`start`..`end`, inclusive) and the two days it
    is compared between (`since` at 00:00 UTC and `until` at its end)."""

    start: date
    end: date
    since: date
    until: date

    @classmethod
    def default(cls, today: date, lookback_days: int = 28) -> Period:
        """This calendar quarter, compared between `lookback_days` ago and today."""
        first = date(today.year, 3 * ((today.month - 1) // 3) + 1, 1)
        nxt = date(first.year + (first.month + 3 > 12), (first.month + 2) % 12 + 1, 1)
        return cls(start=first, end=nxt - timedelta(days=1), since=today - timedelta(days=lookback_days), until=today)

    def check(self) -> None:
        if self.end < self.start:
            raise ValueError(f"the period ends ({self.end}) before it starts ({self.start})")
        if self.until < self.since:
            raise ValueError(f"the comparison ends ({self.until}) before it starts ({self.since})")

    @property
    def params(self) -> dict:
        return {"period_start": self.start.isoformat(), "period_end": self.end.isoformat(),
                "since_at": datetime.combine(self.since, time.min, tzinfo=UTC).isoformat(),
                "until_at": datetime.combine(self.until + timedelta(days=1), time.min, tzinfo=UTC).isoformat()}


# --- running a statement ---------------------------------------------------------------------


def _rows(sql: str, params: dict) -> list[dict]:
    with connection.cursor() as cur:
        cur.execute(sql, params)
        names = [c.name for c in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def relation_exists(name: str) -> bool:
    with connection.cursor() as cur:
        cur.execute("SELECT to_regclass(%s) IS NOT NULL", [name])
        return bool(cur.fetchone()[0])


def _num(value) -> float | None:
    return None if value is None else money(float(value))


def _fx_cte() -> str:
    """SQL of a CTE `fx(currency, factor)`: reporting units per unit of each currency that has a rate (and
    EUR and the reporting currency), through the euro, each currency's latest rate on or before
    %(rate_day)s. A currency without a rate has no row (so no factor: the caller leaves such amounts out
    and says so); a currency whose rates all start after the day has a NULL factor, to the same end."""
    return """fx AS (
      SELECT c.currency,
             CASE WHEN c.currency = %(reporting_currency)s THEN 1::numeric
                  ELSE (CASE WHEN %(reporting_currency)s = 'EUR' THEN 1::numeric
                             ELSE (SELECT r.per_eur FROM money_fxrate r WHERE r.currency = %(reporting_currency)s
                                   AND r.day <= %(rate_day)s::date ORDER BY r.day DESC LIMIT 1) END)
                       / (CASE WHEN c.currency = 'EUR' THEN 1::numeric
                               ELSE (SELECT r.per_eur FROM money_fxrate r WHERE r.currency = c.currency
                                     AND r.day <= %(rate_day)s::date ORDER BY r.day DESC LIMIT 1) END)
             END AS factor
      FROM (SELECT DISTINCT currency::text AS currency FROM money_fxrate
            UNION SELECT 'EUR' UNION SELECT %(reporting_currency)s) c)"""


# --- 1. pipeline waterfall -------------------------------------------------------------------

# Each bar: (name, the condition a deal is in it, the amount it adds). `d` holds one row per deal in the
# period's pipeline at either end: in_a / in_b (in it at `since` / at `until`), amt_a / amt_b (its amount
# then, in the reporting currency, rounded to cents), existed / exists_now, and its status and close date
# at each end.
BAR_RULES = (
    ("opening", "in_a", "amt_a"),
    ("created", "NOT in_a AND NOT existed", "amt_b"),
    ("pulled_in", "NOT in_a AND existed AND status_a = 'open' AND close_a > %(period_end)s::date", "amt_b"),
    ("other_in", "NOT in_a AND existed AND NOT coalesce(status_a = 'open' AND close_a > %(period_end)s::date, "
                 "false)", "amt_b"),
    ("increased", "in_a AND exists_now AND amt_b > amt_a", "amt_b - amt_a"),
    ("decreased", "in_a AND exists_now AND amt_b < amt_a", "amt_b - amt_a"),
    ("won", "in_a AND NOT in_b AND status_b = 'won'", "-amt_b"),
    ("lost", "in_a AND NOT in_b AND status_b = 'lost'", "-amt_b"),
    ("pushed_out", "in_a AND NOT in_b AND status_b = 'open' AND close_b > %(period_end)s::date", "-amt_b"),
    ("removed", "in_a AND NOT exists_now", "-amt_a"),
    ("other_out", "in_a AND NOT in_b AND exists_now AND status_b IS DISTINCT FROM 'won' "
                  "AND status_b IS DISTINCT FROM 'lost' "
                  "AND NOT coalesce(status_b = 'open' AND close_b > %(period_end)s::date, false)", "-amt_b"),
    ("closing", "in_b", "amt_b"),
)

WATERFALL_SQL = """
WITH v AS (
  SELECT unified_id, status, close_date, amount, currency,
         valid_from <= %(since_at)s::timestamptz
           AND (valid_to IS NULL OR valid_to > %(since_at)s::timestamptz) AS at_a,
         valid_to IS NULL OR valid_to >= %(until_at)s::timestamptz AS at_b
  FROM dcl_history_opportunity
  WHERE NOT deleted AND valid_from < %(until_at)s::timestamptz
    AND (valid_to IS NULL OR valid_to > %(since_at)s::timestamptz)),
pairs AS (
  SELECT unified_id, true AS existed, true AS exists_now, status AS status_a, close_date AS close_a,
         amount AS amount_a, currency AS currency_a, status AS status_b, close_date AS close_b, amount AS amount_b,
         currency AS currency_b
  FROM v WHERE at_a AND at_b
  UNION ALL
  SELECT unified_id, bool_or(at_a), bool_or(at_b), max(status) FILTER (WHERE at_a),
         max(close_date) FILTER (WHERE at_a), max(amount) FILTER (WHERE at_a), max(currency) FILTER (WHERE at_a),
         max(status) FILTER (WHERE at_b), max(close_date) FILTER (WHERE at_b), max(amount) FILTER (WHERE at_b),
         max(currency) FILTER (WHERE at_b)
  FROM v WHERE at_a <> at_b GROUP BY unified_id),
{fx},
s AS (
  SELECT p.*,
         coalesce(status_a = 'open' AND close_a BETWEEN %(period_start)s::date AND %(period_end)s::date, false) AS in_a,
         coalesce(status_b = 'open' AND close_b BETWEEN %(period_start)s::date AND %(period_end)s::date, false) AS in_b,
         CASE WHEN amount_a IS NULL THEN 0 ELSE round(amount_a * fa.factor, 2) END AS amt_a,
         CASE WHEN amount_b IS NULL THEN 0 ELSE round(amount_b * fb.factor, 2) END AS amt_b
  FROM pairs p LEFT JOIN fx fa ON fa.currency = p.currency_a LEFT JOIN fx fb ON fb.currency = p.currency_b),
d AS (
  SELECT *, (existed AND amt_a IS NULL) OR (exists_now AND amt_b IS NULL) AS left_out
  FROM s WHERE in_a OR in_b)
SELECT {bars},
       (SELECT json_agg(json_build_object('currency', currency, 'deals', n, 'ids', ids)) FROM (
          SELECT coalesce(currency_b, currency_a, '(none)') AS currency, count(*) AS n,
                 (array_agg(unified_id ORDER BY unified_id))[1:%(ids_max)s] AS ids
          FROM d WHERE left_out GROUP BY 1) x) AS left_out
FROM d WHERE NOT left_out
"""


def _waterfall_sql() -> str:
    bars = ",\n       ".join(
        f"count(*) FILTER (WHERE {cond}) AS {name}_deals, coalesce(sum({amount}) FILTER (WHERE {cond}), 0) AS "
        f"{name}_amount, (array_agg(unified_id ORDER BY abs({amount}) DESC, unified_id) FILTER (WHERE {cond}))"
        f"[1:%(ids_max)s] AS {name}_ids"
        for name, cond, amount in BAR_RULES)
    return WATERFALL_SQL.format(fx=_fx_cte(), bars=bars)


def pipeline_waterfall(period: Period, *, reporting_currency: str, rate_day: date) -> dict:
    """The pipeline of the close-date period on `since` and on `until`, and what moved it in between.

    Opening: open deals with a close date in the period, as the history held them at `since` 00:00
    UTC; closing: the same at the end of `until`. Each deal in either is in exactly one entry bar
    (created: it did not exist at `since`; pulled in: its close date was after the period; other in:
    reopened, a close date set, a stage decided) or exit bar (won, lost, pushed out: its close date
    moved past the period end; deleted at the source; other out: moved before the period or its
    close date removed), with its amount change in increased / decreased: so opening + the movements
    = closing, to the cent (each deal's amount is rounded to cents before any sum). A deal that
    entered and left between the two days is in neither.
    """
    params = {**period.params, "reporting_currency": reporting_currency, "rate_day": rate_day.isoformat(),
              "ids_max": RECORDS_MAX}
    sql = _waterfall_sql()
    row = (_rows(sql, params) or [{}])[0]
    bars = []
    for bar in WATERFALL_BARS:
        deals, ids = int(row.get(f"{bar}_deals") or 0), list(row.get(f"{bar}_ids") or [])
        records = records_ref("opportunity", ids)
        if records:
            records["count"] = deals
            if deals > len(ids):
                records["truncated"] = True
        bars.append({"bar": bar, "label": BAR_LABELS[bar], "deals": deals,
                     "amount": _num(row.get(f"{bar}_amount")) or 0.0, "records": records})
    exact = sum((Decimal(row.get(f"{b}_amount") or 0) for b in WATERFALL_BARS if b != "closing"),
                Decimal(0)) == Decimal(row.get("closing_amount") or 0)
    left_out = [{"currency": x["currency"], "deals": int(x["deals"]), "records": records_ref("opportunity", x["ids"])}
                for x in (row.get("left_out") or [])]
    result = {"period_start": period.start.isoformat(), "period_end": period.end.isoformat(),
              "since": period.since.isoformat(), "until": period.until.isoformat(), "currency": reporting_currency,
              "rate_day": rate_day.isoformat(), "bars": bars, "balanced": exact, "left_out": left_out,
              "query": query_ref(sql, params)}
    if not any(b["deals"] for b in bars):
        result["statement"] = (f"No open deal had a close date from {period.start} to {period.end} on {period.since} "
                               f"or on {period.until}: the waterfall has nothing to show for this period.")
    if left_out:
        result["left_out_statement"] = (
            "Left out of the waterfall, their currency has no rate on or before " + rate_day.isoformat() + ": "
            + "; ".join(f"{x['deals']} deals in {x['currency']}" for x in left_out) + ".")
    return result


# --- 2. forecast rollup against quota --------------------------------------------------------

def _quota_sql(loaded: bool) -> str:
    """The quotas in force (`q`): the admin's rows, and the loaded ones no admin row replaces (same owner
    and period). Without a quota view (no connection loaded one) only the admin's."""
    loaded_sql = ("""SELECT owner_id, period_start, period_end, amount, upper(trim(currency)) AS currency,
                            'connection' AS source FROM dcl_view_quota
                     WHERE owner_id IS NOT NULL AND period_start IS NOT NULL AND period_end IS NOT NULL
                       AND amount IS NOT NULL""" if loaded else
                  "SELECT NULL::text AS owner_id, NULL::date AS period_start, NULL::date AS period_end, "
                  "NULL::numeric AS amount, NULL::text AS currency, NULL::text AS source WHERE false")
    return f"""qa AS (SELECT owner_id::text AS owner_id, period_start, period_end, amount::numeric AS amount,
                             currency::text AS currency, 'admin' AS source FROM agents_quota),
      ql AS ({loaded_sql}),
      q AS (SELECT * FROM qa UNION ALL
            SELECT l.* FROM ql l WHERE NOT EXISTS (
              SELECT 1 FROM qa WHERE qa.owner_id = l.owner_id AND qa.period_start = l.period_start
                AND qa.period_end = l.period_end)),
      qp AS (SELECT * FROM q WHERE period_start >= %(period_start)s::date AND period_end <= %(period_end)s::date)"""


ROLLUP_SQL = """
WITH {quota},
{fx},
quota AS (
  SELECT owner_id, sum(round(amount * factor, 2)) AS quota,
         count(*) FILTER (WHERE factor IS NULL) AS quota_unconverted,
         string_agg(DISTINCT coalesce(currency, '(none)'), ',') FILTER (WHERE factor IS NULL)
           AS quota_unconverted_currencies,
         string_agg(DISTINCT source, ',') AS quota_sources
  FROM qp LEFT JOIN fx USING (currency) GROUP BY owner_id),
deals AS (
  SELECT coalesce(owner_id, '') AS owner_id, status, forecast_category, amount_reporting, amount
  FROM dcl_view_opportunity
  WHERE close_date BETWEEN %(period_start)s::date AND %(period_end)s::date AND status IN ('open', 'won')),
roll AS (
  SELECT owner_id,
         count(*) FILTER (WHERE status = 'open') AS open_deals,
         coalesce(sum(amount_reporting) FILTER (WHERE status = 'open'), 0) AS open_pipeline,
         coalesce(sum(amount_reporting) FILTER (WHERE status = 'open' AND forecast_category = 'commit'), 0) AS commit,
         coalesce(sum(amount_reporting) FILTER (WHERE status = 'open' AND forecast_category = 'best_case'), 0)
           AS best_case,
         coalesce(sum(amount_reporting) FILTER (WHERE status = 'open' AND forecast_category = 'pipeline'), 0)
           AS pipeline,
         coalesce(sum(amount_reporting) FILTER (WHERE status = 'open' AND forecast_category = 'omitted'), 0)
           AS omitted,
         coalesce(sum(amount_reporting) FILTER (WHERE status = 'open' AND forecast_category IS NULL), 0)
           AS uncategorized,
         count(*) FILTER (WHERE status = 'won') AS won_deals,
         coalesce(sum(amount_reporting) FILTER (WHERE status = 'won'), 0) AS won,
         count(*) FILTER (WHERE amount_reporting IS NULL AND amount IS NOT NULL) AS deals_unconverted
  FROM deals GROUP BY owner_id)
SELECT coalesce(roll.owner_id, quota.owner_id) AS owner_id,
       coalesce(open_deals, 0) AS open_deals, coalesce(open_pipeline, 0) AS open_pipeline,
       coalesce(commit, 0) AS commit, coalesce(best_case, 0) AS best_case, coalesce(pipeline, 0) AS pipeline,
       coalesce(omitted, 0) AS omitted, coalesce(uncategorized, 0) AS uncategorized,
       coalesce(won_deals, 0) AS won_deals, coalesce(won, 0) AS won,
       coalesce(deals_unconverted, 0) AS deals_unconverted,
       quota.quota, quota.quota_sources, coalesce(quota.quota_unconverted, 0) AS quota_unconverted,
       quota.quota_unconverted_currencies,
       quota.quota - coalesce(won, 0) AS remaining,
       CASE WHEN quota.quota_unconverted = 0 AND quota.quota - coalesce(won, 0) > 0
            THEN round(coalesce(open_pipeline, 0) / (quota.quota - coalesce(won, 0)), 4) END AS coverage
FROM roll FULL JOIN quota ON quota.owner_id = roll.owner_id
ORDER BY coalesce(roll.owner_id, quota.owner_id)
"""


def forecast_rollup(period: Period, *, reporting_currency: str, rate_day: date) -> dict:
    """Open pipeline by forecast category and won amount per owner for deals closing in the period,
    against each owner's quota for it (quotas whose period lies within it, summed), with coverage =
    open pipeline ÷ (quota − won). An owner without a quota, or whose quota cannot be converted, gets
    a statement instead of a coverage; a quota already met says so."""
    params = {"period_start": period.start.isoformat(), "period_end": period.end.isoformat(),
              "reporting_currency": reporting_currency, "rate_day": rate_day.isoformat()}
    sql = ROLLUP_SQL.format(quota=_quota_sql(relation_exists("dcl_view_quota")), fx=_fx_cte())
    owners = []
    for r in _rows(sql, params):
        row = {k: (_num(v) if isinstance(v, Decimal) else v) for k, v in r.items()}
        row["coverage"] = float(r["coverage"]) if r["coverage"] is not None else None
        who = row["owner_id"] or "(no owner)"
        if r["quota"] is None and not r["quota_unconverted"]:
            row["statement"] = f"No quota for {who} from {period.start} to {period.end}: no coverage."
        elif r["quota_unconverted"]:
            row["statement"] = (f"The quota of {who} is in {r['quota_unconverted_currencies']}, which has no rate on "
                                f"or before {rate_day}: no coverage until its rates are loaded.")
        elif r["remaining"] is not None and r["remaining"] <= 0:
            row["statement"] = f"{who} has met the quota ({money_text(row['won'], reporting_currency)} won)."
        owners.append(row)
    totals = {k: money(sum(o[k] or 0 for o in owners)) for k in ("open_pipeline", "commit", "best_case", "pipeline",
                                                                "omitted", "uncategorized", "won")}
    with_quota = [o for o in owners if o["quota"] is not None and not o["quota_unconverted"]]
    quota_total = money(sum(o["quota"] for o in with_quota)) if with_quota else None
    remaining = money(sum(max(o["remaining"], 0) for o in with_quota)) if with_quota else None
    covered_pipeline = sum(o["open_pipeline"] for o in with_quota)
    result = {"period_start": period.start.isoformat(), "period_end": period.end.isoformat(),
              "currency": reporting_currency, "owners": owners, "totals": totals, "quota": quota_total,
              "remaining_quota": remaining,
              "coverage": round(covered_pipeline / remaining, 4) if remaining else None,
              "owners_without_quota": [o["owner_id"] or "(no owner)" for o in owners
                                       if o["quota"] is None and not o["quota_unconverted"]],
              "query": query_ref(sql, params)}
    if not owners:
        result["statement"] = (f"No deal closes from {period.start} to {period.end} and no quota covers it: "
                               "nothing to roll up.")
    elif result["owners_without_quota"]:
        result["quota_statement"] = (f"{len(result['owners_without_quota'])} owners have no quota for the period "
                                     "(load a Quota CSV through a connection or add it in the admin); their "
                                     "pipeline is not in the coverage.")
    return result


# --- 3. conversion, time in stage, win rates, velocity, slippage ------------------------------

def stage_conversion(digest: dict | None = None) -> dict:
    """Deals that reached each funnel stage category (or a later one) in any version of their history,
    and the share of them that reached the next: the funnel. A deal seen only as lost reached none."""
    reached = digest if digest is not None else history_digest()
    steps = []
    for i, cat in enumerate(FUNNEL):
        n = int(reached.get(cat) or 0)
        nxt = int(reached.get(FUNNEL[i + 1]) or 0) if i + 1 < len(FUNNEL) else None
        steps.append({"stage_category": cat, "reached": n, "next": FUNNEL[i + 1] if nxt is not None else None,
                      "reached_next": nxt,
                      "conversion_pct": round(100.0 * nxt / n, 2) if n and nxt is not None else None})
    result = {"steps": steps, "query": query_ref(HISTORY_DIGEST_SQL, DIGEST_PARAMS)}
    if not steps[0]["reached"]:
        result["statement"] = "No deal in the history has a funnel stage yet: no conversion to show."
    return result


# The stays of deals in a stage category, over the deals with two versions or more (a deal with one
# version has no stay that ended, no move): their versions are exactly those closed (`valid_to`) or
# after the first, so one scan finds them without a join. `starts` marks each version that opened a
# stay (and a moved close date), `runs` gives each stay its end (the next stay's start), `medians` the
# median ended stay.
STARTS_SQL = """
  SELECT unified_id, version, valid_from, stage_category, amount, currency,
         stage_category IS DISTINCT FROM lag(stage_category, 1, '(start)') OVER w AS is_start,
         coalesce(close_date > lag(close_date) OVER w, false) AS pushed,
         close_date - lag(close_date) OVER w AS moved_days,
         CASE stage_category WHEN 'qualify' THEN 1 WHEN 'develop' THEN 2 WHEN 'propose' THEN 3
                             WHEN 'negotiate' THEN 4 WHEN 'won' THEN 5 END AS rank,
         last_value(currency) OVER (w ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING) AS last_currency
  FROM dcl_history_opportunity
  WHERE NOT deleted AND (valid_to IS NOT NULL OR version > 1)
  WINDOW w AS (PARTITION BY unified_id ORDER BY version)"""
STAGE_RUNS_CTE = """
starts AS (
""" + STARTS_SQL + """),
runs AS (
  SELECT unified_id, stage_category, valid_from AS entered,
         lead(valid_from) OVER (PARTITION BY unified_id ORDER BY version) AS left_at
  FROM starts WHERE is_start),
medians AS (
  SELECT stage_category, count(*) AS runs,
         percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM left_at - entered) / 86400.0) AS median_days
  FROM runs WHERE left_at IS NOT NULL AND stage_category IN ('qualify', 'develop', 'propose', 'negotiate')
  GROUP BY stage_category)"""

# Conversion, time in stage and slippage from one pass over the history (`history_digest`): one row. The
# deals of one version (the first, still current: nearly all of them) and the count of all deals come from
# one scan of the first versions.
HISTORY_DIGEST_SQL = f"""
WITH {STAGE_RUNS_CTE},
single AS (
  SELECT count(*) AS deals,
         count(*) FILTER (WHERE one AND reached >= 1) AS r1, count(*) FILTER (WHERE one AND reached >= 2) AS r2,
         count(*) FILTER (WHERE one AND reached >= 3) AS r3, count(*) FILTER (WHERE one AND reached >= 4) AS r4,
         count(*) FILTER (WHERE one AND reached >= 5) AS r5
  FROM (SELECT valid_to IS NULL AND NOT deleted AS one,
               CASE stage_category WHEN 'qualify' THEN 1 WHEN 'develop' THEN 2 WHEN 'propose' THEN 3
                                   WHEN 'negotiate' THEN 4 WHEN 'won' THEN 5 END AS reached
        FROM dcl_history_opportunity WHERE version = 1) v),
per AS (
  SELECT unified_id, max(rank) AS reached, count(*) FILTER (WHERE moved_days <> 0) AS moves,
         count(*) FILTER (WHERE moved_days > 0) AS pushes
  FROM starts GROUP BY unified_id),
funnel AS (
  SELECT single.r1 + m.r1 AS qualify, single.r2 + m.r2 AS develop, single.r3 + m.r3 AS propose,
         single.r4 + m.r4 AS negotiate, single.r5 + m.r5 AS won, single.deals
  FROM single, (SELECT count(*) FILTER (WHERE reached >= 1) AS r1, count(*) FILTER (WHERE reached >= 2) AS r2,
                       count(*) FILTER (WHERE reached >= 3) AS r3, count(*) FILTER (WHERE reached >= 4) AS r4,
                       count(*) FILTER (WHERE reached >= 5) AS r5 FROM per) m)
SELECT funnel.*,
       (SELECT json_agg(json_build_object('stage_category', stage_category, 'runs', runs,
                                          'median_days', median_days)) FROM medians) AS medians,
       (SELECT count(*) FROM per WHERE moves > 0) AS deals_moved,
       (SELECT count(*) FROM per WHERE pushes > 0) AS deals_pushed,
       (SELECT count(*) FROM per WHERE pushes >= 2) AS deals_pushed_twice,
       (SELECT count(*) FROM starts WHERE moved_days <> 0) AS moves,
       (SELECT count(*) FROM starts WHERE moved_days > 0) AS pushes,
       (SELECT count(*) FROM starts WHERE moved_days < 0) AS pulls,
       (SELECT avg(moved_days) FROM starts WHERE moved_days > 0) AS average_push_days,
       (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY moved_days) FROM starts WHERE moved_days > 0)
         AS median_push_days,
       (SELECT max(moved_days) FROM starts WHERE moved_days > 0) AS longest_push_days,
       (SELECT (array_agg(unified_id ORDER BY pushes DESC, moves DESC, unified_id))[1:%(ids_max)s]
        FROM per WHERE moves > 0) AS ids
FROM funnel
"""
DIGEST_PARAMS = {"ids_max": RECORDS_MAX}


def history_digest() -> dict:
    """The one row of HISTORY_DIGEST_SQL: what `stage_conversion`, `time_in_stage` and `slippage` read."""
    return (_rows(HISTORY_DIGEST_SQL, DIGEST_PARAMS) or [{}])[0]


def time_in_stage(digest: dict | None = None) -> dict:
    """Median days a deal stays in each open stage category, over the stays that ended (the next version
    in another category). Time is the platform's: a stay starts at the version that first showed the
    category (its `valid_from`), so a deal's first stay counts from when a sync first saw it."""
    digest = digest if digest is not None else history_digest()
    rows = {r["stage_category"]: r for r in digest.get("medians") or ()}
    stages = [{"stage_category": c, "completed_stays": int((rows.get(c) or {}).get("runs") or 0),
               "median_days": round(float(rows[c]["median_days"]), 1) if c in rows else None}
              for c in OPEN_CATEGORIES]
    result = {"stages": stages, "query": query_ref(HISTORY_DIGEST_SQL, DIGEST_PARAMS)}
    if not any(s["completed_stays"] for s in stages):
        result["statement"] = ("No deal has left a stage since the history began (one snapshot so far): no time "
                               "in stage yet.")
    return result


WIN_RATES_SQL = """
WITH c AS (
  SELECT o.status, coalesce(nullif(o.lead_source, ''), '(none)') AS lead_source,
         coalesce(nullif({industry}, ''), '(none)') AS industry, coalesce(nullif(o.owner_id, ''), '(none)') AS owner_id
  FROM dcl_view_opportunity o {account_join}
  WHERE o.status IN ('won', 'lost'))
SELECT CASE WHEN grouping(lead_source) = 0 THEN 'lead_source' WHEN grouping(industry) = 0 THEN 'industry'
            ELSE 'owner_id' END AS dimension,
       coalesce(CASE WHEN grouping(lead_source) = 0 THEN lead_source END,
                CASE WHEN grouping(industry) = 0 THEN industry END, owner_id) AS value,
       count(*) FILTER (WHERE status = 'won') AS won, count(*) FILTER (WHERE status = 'lost') AS lost
FROM c GROUP BY GROUPING SETS ((lead_source), (industry), (owner_id))
ORDER BY 1, 2
"""


def win_rates() -> dict:
    """Won ÷ (won + lost) by lead source, by segment (the account's industry, the canonical value set
    account.industry; account size is not used: employee counts are missing for many accounts) and by
    owner, over every closed deal of the view."""
    accounts = relation_exists("dcl_view_account")
    sql = WIN_RATES_SQL.format(
        industry="a.industry" if accounts else "NULL::text",
        account_join="LEFT JOIN dcl_view_account a ON a.unified_id = o.account_unified_id" if accounts else "")
    out: dict[str, list] = {"lead_source": [], "industry": [], "owner_id": []}
    for r in _rows(sql, {}):
        won, lost = int(r["won"]), int(r["lost"])
        out[r["dimension"]].append({"value": r["value"], "won": won, "lost": lost,
                                    "win_rate_pct": round(100.0 * won / (won + lost), 2) if won + lost else None})
    result = {**out, "segment": "account industry", "query": query_ref(sql, {})}
    if not any(out.values()):
        result["statement"] = "No deal has closed yet: no win rate."
    return result


VELOCITY_SQL = """
SELECT count(*) FILTER (WHERE status = 'open') AS open_deals,
       count(*) FILTER (WHERE status = 'won') AS won, count(*) FILTER (WHERE status = 'lost') AS lost,
       avg(amount_reporting) FILTER (WHERE status = 'won' AND amount_reporting IS NOT NULL) AS average_won,
       avg(close_date - (created_at AT TIME ZONE 'UTC')::date)
         FILTER (WHERE status = 'won' AND close_date >= (created_at AT TIME ZONE 'UTC')::date) AS cycle_days,
       count(*) FILTER (WHERE status = 'open' AND close_date IS NULL) AS open_without_close_date
FROM dcl_view_opportunity
"""


def sales_velocity(*, reporting_currency: str) -> dict:
    """(open deals × win rate × average won amount) ÷ average days from creation to close of won deals:
    the pipeline value expected to close per day. Not computed (a statement instead) when nothing has
    closed, no won deal has an amount, or no won deal has both dates."""
    r = (_rows(VELOCITY_SQL, {}) or [{}])[0]
    open_deals, won, lost = int(r.get("open_deals") or 0), int(r.get("won") or 0), int(r.get("lost") or 0)
    rate = won / (won + lost) if won + lost else None
    avg = float(r["average_won"]) if r.get("average_won") is not None else None
    cycle = float(r["cycle_days"]) if r.get("cycle_days") is not None else None
    result = {"open_deals": open_deals, "win_rate_pct": round(100 * rate, 2) if rate is not None else None,
              "average_won": money(avg) if avg is not None else None,
              "cycle_days": round(cycle, 1) if cycle is not None else None, "currency": reporting_currency,
              "per_day": None, "open_without_close_date": int(r.get("open_without_close_date") or 0),
              "query": query_ref(VELOCITY_SQL, {})}
    if result["open_without_close_date"]:
        result["close_date_statement"] = (
            f"{result['open_without_close_date']} open deals have no close date: they are in no period's waterfall "
            "or forecast (the velocity counts them as open).")
    if rate is None or avg is None or not cycle:
        missing = ("no deal has closed" if rate is None else "no won deal has an amount in the reporting currency"
                   if avg is None else "no won deal has a creation and a close date in order")
        result["statement"] = f"No sales velocity: {missing}."
    else:
        result["per_day"] = money(open_deals * rate * avg / cycle)
    return result


def slippage(digest: dict | None = None) -> dict:
    """Deals whose close date moved between versions of their history: how many (and the share of all
    deals), how often (moves, pushes later, pulls earlier, deals pushed twice or more) and how far
    (average, median and longest push, in days)."""
    r = digest if digest is not None else history_digest()
    deals, moved = int(r.get("deals") or 0), int(r.get("deals_moved") or 0)
    result = {"deals": deals, "deals_moved": moved, "moved_pct": round(100.0 * moved / deals, 2) if deals else None,
              "deals_pushed": int(r.get("deals_pushed") or 0),
              "deals_pushed_twice": int(r.get("deals_pushed_twice") or 0),
              "moves": int(r.get("moves") or 0), "pushes": int(r.get("pushes") or 0), "pulls": int(r.get("pulls") or 0),
              "average_push_days": round(float(r["average_push_days"]), 1) if r.get("average_push_days") else None,
              "median_push_days": float(r["median_push_days"]) if r.get("median_push_days") is not None else None,
              "longest_push_days": r.get("longest_push_days"),
              "records": records_ref("opportunity", r.get("ids") or []),
              "query": query_ref(HISTORY_DIGEST_SQL, DIGEST_PARAMS)}
    if result["records"]:
        result["records"]["count"] = moved
        result["records"]["truncated"] = moved > len(r.get("ids") or [])
    if not deals:
        result["statement"] = "No deal in the history yet: no slippage."
    elif not moved:
        result["statement"] = "No close date has moved since the history began."
    return result


# --- 4. deals at risk by their history -------------------------------------------------------

RISK_SQL = f"""
WITH {STAGE_RUNS_CTE},
multi AS (
  SELECT unified_id, count(*) FILTER (WHERE pushed) AS pushes, max(valid_from) FILTER (WHERE is_start) AS entered,
         max(amount) FILTER (WHERE currency = last_currency) AS peak
  FROM starts GROUP BY unified_id),
cur AS (
  SELECT unified_id, valid_from, stage_category, amount, currency, close_date FROM dcl_history_opportunity
  WHERE valid_to IS NULL AND NOT deleted AND status = 'open')
SELECT c.unified_id, c.stage_category, c.amount, c.currency, c.close_date,
       extract(epoch FROM %(now)s::timestamptz - coalesce(m.entered, c.valid_from)) / 86400.0 AS days_in_stage,
       md.median_days, coalesce(m.pushes, 0) AS pushes, m.peak
FROM cur c
LEFT JOIN multi m ON m.unified_id = c.unified_id
LEFT JOIN medians md ON md.stage_category = c.stage_category
WHERE (md.median_days IS NOT NULL
       AND extract(epoch FROM %(now)s::timestamptz - coalesce(m.entered, c.valid_from)) / 86400.0 > md.median_days)
   OR coalesce(m.pushes, 0) >= 2
   OR (m.peak IS NOT NULL AND c.amount < m.peak)
"""


def _signals_of(r: dict) -> list[tuple[str, str]]:
    """The (code, words) of one row of RISK_SQL."""
    found = []
    if r["median_days"] is not None and r["days_in_stage"] is not None and r["days_in_stage"] > r["median_days"]:
        found.append(("stuck", f"in stage {r['stage_category']} for {float(r['days_in_stage']):.0f} days "
                               f"(median {float(r['median_days']):.0f})"))
    if r["pushes"] >= 2:
        found.append(("pushed_twice", f"close date pushed {r['pushes']} times"))
    if r["peak"] is not None and r["amount"] is not None and r["amount"] < r["peak"]:
        found.append(("amount_cut", f"amount cut from {r['peak']:,.0f} to {r['amount']:,.0f} {r['currency'] or ''}"
                      .rstrip()))
    return found


def deals_at_risk(*, now: datetime) -> dict:
    """Open deals (their current version in the history, which is the view's as of the last
    materialization) with a risk read off their history, each with its reasons as (code, words):
    stuck (in its stage longer than the median stay of that stage, `time_in_stage`), pushed twice or
    more (its close date moved later in two versions or more), amount cut (below the highest amount it
    had in its current currency). The caller adds them to the pilot's own signals (overdue: the close
    date in the past while open, stale, ...), which score and list the deals. (The run keeps them in
    PostgreSQL instead: `HistoryRisk`.)"""
    params = {"now": now.isoformat()}
    signals = {r["unified_id"]: found for r in _rows(RISK_SQL, params) if (found := _signals_of(r))}
    counts = {code: sum(1 for s in signals.values() if any(c == code for c, _ in s))
              for code in ("stuck", "pushed_twice", "amount_cut")}
    return {"signals": signals, "counts": counts, "query": query_ref(RISK_SQL, params)}


# The history's risk points per open deal (revops.HISTORY_SIGNAL_POINTS), kept in a temporary table for the
# pilot's at-risk score in SQL (agents/services/revops_sql.py): only the listed deals' reasons come back.
HISTORY_RISK_TABLE = "revops_history_risk"
RISK_POINTS_SQL = """
SELECT *, (CASE WHEN stuck THEN %(stuck)s ELSE 0 END + CASE WHEN pushes >= 2 THEN %(pushed_twice)s ELSE 0 END
           + CASE WHEN cut THEN %(amount_cut)s ELSE 0 END) AS points
FROM (SELECT r.*, coalesce(r.median_days IS NOT NULL AND r.days_in_stage > r.median_days, false) AS stuck,
             coalesce(r.peak IS NOT NULL AND r.amount < r.peak, false) AS cut
      FROM ({risk}) r) x
"""
RISK_COUNTS_SQL = f"""
SELECT count(*) FILTER (WHERE stuck) AS stuck, count(*) FILTER (WHERE pushes >= 2) AS pushed_twice,
       count(*) FILTER (WHERE cut) AS amount_cut FROM pg_temp.{HISTORY_RISK_TABLE}
"""


@dataclass(frozen=True)
class HistoryRisk:
    """The history's risks of the open deals, in `revops_history_risk` (unified_id, points, ...)."""

    table: str
    counts: dict
    query: dict

    def signals(self, ids) -> dict[str, list[tuple[str, str]]]:
        """unified id → its (code, words), for these deals only (the ones a finding lists)."""
        rows = _rows(f"SELECT * FROM pg_temp.{self.table} WHERE unified_id = ANY(%(ids)s)", {"ids": list(ids)})
        return {r["unified_id"]: found for r in rows if (found := _signals_of(r))}


def history_risk_materialize(*, now: datetime, shared_starts: bool = False) -> HistoryRisk:
    """Write `revops_history_risk` (dropped first; `history_release` drops it) and count its signals."""
    from ..pilots.revops import HISTORY_SIGNAL_POINTS

    params = {"now": now.isoformat()}
    points = dict(HISTORY_SIGNAL_POINTS)
    sql = RISK_POINTS_SQL.replace("{risk}", _from_starts(RISK_SQL) if shared_starts else RISK_SQL)
    with connection.cursor() as cur:
        cur.execute(f"DROP TABLE IF EXISTS pg_temp.{HISTORY_RISK_TABLE}")
        cur.execute(f"CREATE TEMPORARY TABLE {HISTORY_RISK_TABLE} AS {sql}", {**params, **points})
        cur.execute(f"ANALYZE {HISTORY_RISK_TABLE}")
    counts = {k: int(v) for k, v in (_rows(RISK_COUNTS_SQL, {}) or [{}])[0].items()}
    stored = RISK_POINTS_SQL.replace("{risk}", RISK_SQL)
    return HistoryRisk(table=HISTORY_RISK_TABLE, counts=counts, query=query_ref(stored, {**params, **points}))


# The history's versions of deals with two versions or more, with their windows (STARTS_SQL), written once
# per run: the digest and the risks read it instead of each scanning and sorting the history again. Their
# stored queries keep `starts` inline, so they run alone.
STARTS_TABLE = "revops_starts"


def _from_starts(sql: str) -> str:
    inline = "starts AS (\n" + STARTS_SQL + "),"
    if inline not in sql:
        raise ValueError("the statement does not hold the starts CTE")
    return sql.replace(inline, f"starts AS (SELECT * FROM pg_temp.{STARTS_TABLE}),", 1)


def starts_materialize() -> None:
    with connection.cursor() as cur:
        cur.execute(f"DROP TABLE IF EXISTS pg_temp.{STARTS_TABLE}")
        cur.execute(f"CREATE TEMPORARY TABLE {STARTS_TABLE} AS {STARTS_SQL}")
        cur.execute(f"ANALYZE {STARTS_TABLE}")


def history_release() -> None:
    with connection.cursor() as cur:
        cur.execute(f"DROP TABLE IF EXISTS pg_temp.{STARTS_TABLE}")
        cur.execute(f"DROP TABLE IF EXISTS pg_temp.{HISTORY_RISK_TABLE}")


# --- the run -----------------------------------------------------------------------------------


def revenue_analyze(*, today: date, now: datetime, reporting_currency: str, period: Period | None = None,
                    keep_history_risk: bool = False) -> dict:
    """Every analysis above for the current tenant; returns the metrics (each with its query), the
    findings and the history's risks (`history_risk`, a `HistoryRisk`, for the pilot's at-risk scoring
    in SQL). The temporary tables are dropped before it returns, unless `keep_history_risk` (the caller
    then calls `history_release` when its scoring is done)."""
    period = period or Period.default(today)
    period.check()
    if not relation_exists("dcl_view_opportunity"):
        return {"metrics": {"statement": "The opportunity view is not published to PostgreSQL yet: no waterfall, "
                                         "forecast or history analyses until it is materialized."},
                "findings": [], "history_risk": None}
    waterfall = pipeline_waterfall(period, reporting_currency=reporting_currency, rate_day=today)
    rollup = forecast_rollup(period, reporting_currency=reporting_currency, rate_day=today)
    try:
        starts_materialize()
        risk = history_risk_materialize(now=now, shared_starts=True)
        digest = (_rows(_from_starts(HISTORY_DIGEST_SQL), DIGEST_PARAMS) or [{}])[0]
    except BaseException:
        history_release()
        raise
    with connection.cursor() as cur:
        cur.execute(f"DROP TABLE IF EXISTS pg_temp.{STARTS_TABLE}")
    if not keep_history_risk:
        history_release()
    metrics = {"period": {"start": period.start.isoformat(), "end": period.end.isoformat(),
                          "since": period.since.isoformat(), "until": period.until.isoformat()},
               "waterfall": waterfall, "forecast": rollup, "conversion": stage_conversion(digest),
               "time_in_stage": time_in_stage(digest), "win_rates": win_rates(),
               "velocity": sales_velocity(reporting_currency=reporting_currency), "slippage": slippage(digest),
               "history_risk": {"counts": risk.counts, "query": risk.query}}
    return {"metrics": metrics, "findings": revenue_findings(metrics, reporting_currency), "history_risk": risk}


def revenue_findings(m: dict, currency: str) -> list[dict]:
    """Findings of the analyses: the waterfall's pushed-out and lost pipeline, owners without quota or
    with low coverage, and the slippage; each with its records and the query behind its figure."""
    findings = []
    wf = m["waterfall"]
    bars = {b["bar"]: b for b in wf["bars"]}
    for bar in ("pushed_out", "lost"):
        b = bars[bar]
        if b["deals"]:
            findings.append(with_action({
                "kind": f"waterfall_{bar}", "severity": "medium", "currency": currency, "amount": b["amount"],
                "count": b["deals"], "from": wf["since"], "to": wf["until"],
                "title": f"{b['deals']} deals ({money_text(-b['amount'], currency)}) of the pipeline closing "
                         f"{wf['period_start']} to {wf['period_end']} were "
                         f"{'pushed out of the period' if bar == 'pushed_out' else 'lost'} "
                         f"between {wf['since']} and {wf['until']}",
                "records": b["records"], "query": wf["query"]}))
    fc = m["forecast"]
    if fc.get("owners_without_quota"):
        findings.append(with_action({
            "kind": "quota_missing", "severity": "low", "currency": currency,
            "owners": fc["owners_without_quota"], "count": len(fc["owners_without_quota"]),
            "title": f"{len(fc['owners_without_quota'])} owners have no quota from {fc['period_start']} to "
                     f"{fc['period_end']}: their coverage cannot be computed", "query": fc["query"]}))
    for o in fc["owners"]:
        if o["coverage"] is not None and o["coverage"] < COVERAGE_LOW:
            findings.append(with_action({
                "kind": "low_coverage", "severity": "high" if o["coverage"] < 1 else "medium", "currency": currency,
                "owner_id": o["owner_id"], "coverage": o["coverage"], "remaining": o["remaining"],
                "open_pipeline": o["open_pipeline"], "amount": o["remaining"],
                "title": f"{o['owner_id'] or '(no owner)'} covers {o['coverage']:.2f}× the remaining quota "
                         f"({money_text(o['open_pipeline'], currency)} open against "
                         f"{money_text(o['remaining'], currency)} to go)", "query": fc["query"]}))
    sl = m["slippage"]
    if sl["deals_moved"]:
        findings.append(with_action({
            "kind": "slippage", "severity": "low", "currency": currency, "count": sl["deals_moved"],
            "title": f"{sl['deals_moved']} deals ({sl['moved_pct']}%) had their close date moved: "
                     f"{sl['pushes']} pushes "
                     f"(median {sl['median_push_days']} days), {sl['pulls']} pulled in; "
                     f"{sl['deals_pushed_twice']} pushed twice or more",
            "records": sl["records"], "query": sl["query"]}))
    return findings


COVERAGE_LOW = 3.0  # pipeline under 3× what is left to close is the usual alarm
