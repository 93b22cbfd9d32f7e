"""The pure parts of the FinOps SQL analyses (agents/services/finops_sql.py): how a stored query is built,
how tag keys are matched, and the pilot reading aggregated rows as weighted lines."""

from datetime import date

from agents.pilots import findings, finops
from agents.services import finops_sql as f


def test_a_stored_query_carries_the_aggregation_inline_and_merges_a_with_clause():
    source = f.Source(sql="SELECT 1 AS day FROM dcl_view_cost c", params={"keep": []})
    plain = source.ref("SELECT a.day FROM finops_agg a WHERE a.day = %(d)s", {"d": "2026-01-01"})
    assert plain == {"sql": "WITH finops_agg AS (SELECT 1 AS day FROM dcl_view_cost c) SELECT a.day FROM finops_agg a "
                            "WHERE a.day = %(d)s", "params": {"keep": [], "d": "2026-01-01"}}
    merged = source.ref("WITH x AS (SELECT 1) SELECT * FROM x")
    assert merged["sql"].startswith("WITH finops_agg AS (SELECT 1 AS day FROM dcl_view_cost c), x AS (SELECT 1)")


def test_the_aggregation_writes_no_sql_comment_and_tests_lineage_only_when_a_connection_is_excluded():
    assert "--" not in f.aggregate_sql(()) and "sources" not in f.aggregate_sql(())
    assert "%(excluded)s" in f.aggregate_sql((3,))


def test_tag_keys_are_matched_in_every_spelling():
    keys = ["Team", "team", "user:Team", "Teams", "CostCenter"]
    assert f._key_spellings("team", keys) == ["Team", "team", "user:Team"]
    assert f._key_spellings("costcenter", keys) == ["CostCenter"]
    assert f._key_spellings("owner", keys) == []


def test_the_pilot_counts_aggregated_rows_by_the_lines_they_stand_for():
    rows = [
        {"charge_period_start": date(2026, 1, 1), "service_name": "AmazonEC2", "charge_category": "Usage",
         "effective_cost_reporting": 30.0, "reporting_currency": "USD", "billing_currency": "USD", "line_count": 3,
         "basis": {"effective_cost_reporting": 2, "billed_cost_reporting": 1}, "tags": {"tagged": True}, "idle": False},
        {"charge_period_start": date(2026, 1, 1), "service_name": "AmazonEC2", "charge_category": "Usage",
         "effective_cost_reporting": 10.0, "reporting_currency": "USD", "billing_currency": "USD", "line_count": 2,
         "tags": {}, "inventory_tagged": True, "idle": False},
        {"charge_period_start": date(2026, 1, 1), "service_name": "Virtual Machines", "effective_cost": 7.0,
         "billing_currency": "EUR", "fx_missing": "no_rate", "line_count": 4},
        {"charge_period_start": date(2026, 1, 1), "service_name": "x", "line_count": 5},
    ]
    result = finops.analyze(costs=rows, reporting_currency="USD")
    m = result.metrics
    assert m["cost_lines"] == 5 and m["total_spend"] == 40.0
    assert m["skipped_lines"]["basis"] == {"effective_cost_reporting": 4, "billed_cost_reporting": 1}
    assert m["skipped_lines"]["no_amount"] == 5
    assert m["unconverted"]["count"] == 4 and m["unconverted"]["by_currency"][0]["amount"] == 7.0
    assert m["tagged_lines"] == {"own_tags": 3, "inventory_tags": 2} and m["untagged_spend"] == 0.0


def test_query_ref_keeps_sql_on_one_line():
    assert findings.query_ref("SELECT 1\n  FROM t", {"a": 1}) == {"sql": "SELECT 1 FROM t", "params": {"a": 1}}
