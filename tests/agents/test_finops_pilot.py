"""FinOps pilot against a dataset whose figures are worked out by hand below.

45 days, 2026-01-01 (i=0) .. 2026-02-14 (i=44).
- AmazonEC2 (account 111, us-east-1, resource i-web, tagged, effective_cost): 100 on even i, 110 on odd i,
  except 2026-02-10 (i=40) = 400.  23 even days, 22 odd → 2300 + 2420 + 300 = 5020;
  January (i 0..30: 16 even, 15 odd) 3250; February 1770.
- AmazonS3 (account 222, eu-west-1, untagged, billed_cost): 20 a day, 25 on 2026-02-05 → 905; Jan 620, Feb 285.
- AWS Support (billing account 999, no region, untagged): 300 on Jan 1 and Feb 1 → 600.
- AmazonEBS (account 111, us-east-1, untagged), Feb 1..14: vol-orphan 2/day (28) and the stopped i-old's
  storage 3/day (42, its cost lines name it by ARN) → 70.
- Two lines that cannot be read: one without any cost, one without a date.
Total 5020 + 905 + 600 + 70 = 6595. January 4170, February (1-14) 2425.
Untagged spend 905 + 600 + 70 = 1575 = 23.88% of 6595.

Anomaly (14-day window): EC2 on 2026-02-10: window i 26..39 = 7×100 + 7×110 → median 105, MAD 5,
z = 295 / (1.4826 × 5) = 39.79, +295 (+280.95%). S3's 25 is z = 5 on a flat 20 (scale 5% of 20 = 1)
but only +5, under the 10 minimum. Support's monthly fee has a zero baseline and is never judged.
Nothing else is flagged (see the module docstring of the pilot for the rules).

Resources (30-day window 2026-01-16..2026-02-14, 30 days covered):
- i-web m4.large running: EC2 i 15..44 = 15×100 + 15×110 + 300 = 3450/month → previous gen saves 345.
- vol-orphan available (idle): 28/month. i-old stopped: 42/month. i-nocost running, no tags, no cost.
Savings 345 + 42 + 28 = 415. Untagged resources: vol-orphan, i-old, i-nocost.
"""

from datetime import date, timedelta

import pytest

from agents.pilots import finops

from .helpers import in_usd

START = date(2026, 1, 1)


def _dataset():
    rows = []
    for i in range(45):
        d = START + timedelta(days=i)
        ec2 = 400 if d == date(2026, 2, 10) else (100 if i % 2 == 0 else 110)
        rows.append({"service_name": "AmazonEC2", "sub_account_id": "111", "billing_account_id": "999",
                     "region_id": "us-east-1", "resource_id": "i-web", "charge_period_start": f"{d}T00:00:00Z",
                     "effective_cost": ec2, "billed_cost": ec2 * 2, "tags": {"team": "web"},
                     "billing_currency": "USD"})
        s3 = 25 if d == date(2026, 2, 5) else 20
        rows.append({"service_name": "AmazonS3", "sub_account_id": "222", "billing_account_id": "999",
                     "region_id": "eu-west-1", "charge_period_start": d, "billed_cost": str(s3), "tags": None,
                     "billing_currency": "USD"})
        if d.day == 1:
            rows.append({"service_name": "AWS Support", "billing_account_id": "999", "region_id": "",
                         "charge_period_start": d, "billed_cost": 300, "tags": "{}", "billing_currency": "USD"})
        if d >= date(2026, 2, 1):
            rows.append({"service_name": "AmazonEBS", "sub_account_id": "111", "region_id": "us-east-1",
                         "resource_id": "vol-orphan", "charge_period_start": d, "billed_cost": "2.00", "tags": ""})
            rows.append({"service_name": "AmazonEBS", "sub_account_id": "111", "region_id": "us-east-1",
                         "resource_id": "arn:aws:ec2:us-east-1:111:instance/i-old", "charge_period_start": d,
                         "billed_cost": 3, "tags": []})
    rows.append({"service_name": "AmazonEC2", "charge_period_start": "2026-01-05", "billed_cost": None})
    rows.append({"service_name": "AmazonEC2", "charge_period_start": "not a date", "billed_cost": 99})
    return rows


RESOURCES = [
    {"unified_id": "r1", "id": "i-web", "name": "web-1", "status": "running", "instance_type": "m4.large",
     "tags": {"team": "web"}, "service_name": "AmazonEC2"},
    {"unified_id": "r2", "id": "vol-orphan", "name": "orphan volume", "status": "available", "tags": {}},
    {"unified_id": "r3", "id": "i-old", "name": "old batch box", "status": "stopped", "instance_type": "c5.xlarge",
     "tags": ""},
    {"unified_id": "r4", "id": "i-nocost", "name": "new box", "status": "running", "instance_type": "m6i.large",
     "tags": None},
]


@pytest.fixture(scope="module")
def result():
    return finops.analyze(costs=in_usd(_dataset()), resources=RESOURCES,
                          config=finops.FinOpsConfig(anomaly_window_days=14, anomaly_min_history_days=7,
                                                     anomaly_z=3.5, anomaly_min_delta=10.0, window_days=30))


def test_totals_and_unreadable_lines(result):
    m = result.metrics
    assert m["total_spend"] == 6595
    assert m["period"] == {"start": "2026-01-01", "end": "2026-02-14", "days": 45}
    assert m["skipped_lines"]["no_amount"] == 1
    assert m["skipped_lines"]["no_date"] == 1


def test_spend_by_service_account_and_region(result):
    m = result.metrics
    assert [(r["service"], r["amount"]) for r in m["spend_by_service"]] == [
        ("AmazonEC2", 5020), ("AmazonS3", 905), ("AWS Support", 600), ("AmazonEBS", 70)]
    assert {r["account"]: r["amount"] for r in m["spend_by_account"]} == {"111": 5090, "222": 905, "999": 600}
    assert {r["region"]: r["amount"] for r in m["spend_by_region"]} == {"us-east-1": 5090, "eu-west-1": 905,
                                                                        "(global)": 600}
    assert m["spend_by_service"][0]["share_pct"] == pytest.approx(100 * 5020 / 6595, abs=0.01)


def test_spend_by_day(result):
    by_day = {r["day"]: r["amount"] for r in result.metrics["spend_by_day"]}
    assert len(by_day) == 45
    assert by_day["2026-01-01"] == 100 + 20 + 300
    assert by_day["2026-02-10"] == 400 + 20 + 5
    assert by_day["2026-02-05"] == 110 + 25 + 5  # i=35 is odd


def test_month_over_month_compares_the_same_days(result):
    # February has data to the 14th, so it is compared with January 1-14:
    # EC2 7×100 + 7×110 = 1470, S3 14×20 = 280, Support 300 → 2050; February 2425 → +375 (+18.29%).
    mom = result.metrics["month_over_month"]
    assert (mom["month"], mom["previous_month"], mom["through_day"]) == ("2026-02", "2026-01", 14)
    assert (mom["amount"], mom["previous"], mom["change"]) == (2425, 2050, 375)
    assert mom["change_pct"] == pytest.approx(18.29, abs=0.01)
    assert mom["previous_month_total"] == 4170
    by_service = {r["service"]: (r["amount"], r["previous"], r["change"], r["change_pct"]) for r in mom["by_service"]}
    assert by_service["AmazonEC2"] == (1770, 1470, 300, pytest.approx(20.41, abs=0.01))
    assert by_service["AmazonS3"] == (285, 280, 5, pytest.approx(1.79, abs=0.01))
    assert by_service["AWS Support"] == (300, 300, 0, 0.0)
    assert by_service["AmazonEBS"] == (70, 0, 70, None)
    months = {r["month"]: (r["amount"], r["days_with_data"]) for r in result.metrics["monthly"]}
    assert months == {"2026-01": (4170, 31), "2026-02": (2425, 14)}


def test_only_the_ec2_spike_is_an_anomaly_with_the_size_of_the_jump(result):
    anomalies = [f for f in result.findings if f["kind"] == "anomaly"]
    assert result.metrics["anomaly_count"] == 1
    [a] = anomalies
    assert (a["service"], a["from"], a["to"], a["days"]) == ("AmazonEC2", "2026-02-10", "2026-02-10", 1)
    assert (a["amount"], a["baseline"], a["delta"], a["currency"]) == (400, 105, 295, "USD")
    assert a["title"] == "AmazonEC2 spike on 2026-02-10: 400.00 USD against a baseline of 105.00 USD (+295.00 USD)"
    assert a["change_pct"] == pytest.approx(280.95, abs=0.01)
    assert a["z"] == pytest.approx(39.79, abs=0.01)
    assert (a["direction"], a["severity"]) == ("spike", "high")


def test_resources_idle_stopped_untagged_and_savings(result):
    m = result.metrics
    assert (m["stopped_billed_count"], m["idle_count"], m["previous_generation_count"]) == (1, 1, 1)
    savings = {(f["rule"], f["subject"]["id"]): f["estimated_monthly"] for f in result.findings
               if f["kind"] == "savings"}
    assert savings == {("previous_generation", "i-web"): 345, ("stopped_but_billed", "i-old"): 42,
                       ("idle_resource", "vol-orphan"): 28}
    assert m["estimated_monthly_savings"] == 415
    assert m["savings_by_rule"] == {"idle_resource": 28, "previous_generation": 345, "stopped_but_billed": 42}
    untagged = {f["subject"]["id"] for f in result.findings if f["kind"] == "untagged_resource"}
    assert untagged == {"vol-orphan", "i-old", "i-nocost"}
    assert m["untagged_resource_count"] == 3


def test_untagged_spend_share(result):
    assert result.metrics["untagged_spend"] == 1575
    assert result.metrics["untagged_spend_pct"] == pytest.approx(23.88, abs=0.01)


def test_a_drop_is_reported_as_low_severity():
    rows = [{"service_name": "db", "charge_period_start": START + timedelta(days=i),
             "billed_cost": 10 if i == 10 else (100 if i % 2 else 104)} for i in range(11)]
    out = finops.analyze(costs=in_usd(rows), config=finops.FinOpsConfig(anomaly_min_delta=10))
    [a] = [f for f in out.findings if f["kind"] == "anomaly"]
    # window i 0..9: five 104s and five 100s → median 102, MAD 2; scale = max(1.4826 × 2, 5% of 102) = 5.1
    # → z = (10 − 102) / 5.1 = −18.04
    assert (a["from"], a["baseline"], a["delta"], a["direction"], a["severity"]) == ("2026-01-11", 102, -92, "drop",
                                                                                     "low")
    assert a["z"] == pytest.approx(-18.04, abs=0.01)


def test_taxes_and_fees_count_in_spend_but_are_never_anomalies():
    rows = [{"service_name": "ec2", "charge_period_start": START + timedelta(days=i), "billed_cost": 85.36,
             "charge_category": "Usage"} for i in range(20)]
    rows.append({"service_name": "ec2", "charge_period_start": START + timedelta(days=15), "billed_cost": 319.48,
                 "charge_category": "Tax"})
    out = finops.analyze(costs=in_usd(rows))
    assert out.metrics["anomaly_count"] == 0
    assert out.metrics["total_spend"] == pytest.approx(20 * 85.36 + 319.48, abs=0.01)
    # The same tax as usage would be a jump of 319.48 on a flat 85.36 (scale 5% of 85.36 = 4.268): z = 74.85.
    rows[-1]["charge_category"] = "Usage"
    [a] = [f for f in finops.analyze(costs=in_usd(rows)).findings if f["kind"] == "anomaly"]
    assert a["z"] == pytest.approx(319.48 / 4.268, abs=0.01)


def test_lines_of_resources_tagged_in_the_inventory_are_not_untagged_spend():
    costs = [{"service_name": "ec2", "charge_period_start": START, "billed_cost": 30, "resource_id": "i-1"},
             {"service_name": "ec2", "charge_period_start": START, "billed_cost": 10,
              "resource_id": "arn:aws:ec2:us-east-1:1:instance/i-2"},
             {"service_name": "ec2", "charge_period_start": START, "billed_cost": 60}]
    resources = [{"id": "arn:aws:ec2:us-east-1:1:instance/i-1", "tags": [{"key": "Team", "value": "web"}]},
                 {"id": "i-2", "tags": []}]
    out = finops.analyze(costs=in_usd(costs), resources=resources)
    assert out.metrics["untagged_spend"] == 70  # i-2's 10 and the 60 of no resource; i-1 is tagged in the inventory
    assert out.metrics["untagged_spend_pct"] == 70.0


def test_no_cost_rows_gives_zero_spend_without_errors():
    out = finops.analyze(costs=in_usd([]), resources=RESOURCES)
    assert out.metrics["total_spend"] == 0
    assert out.findings == []


def test_spend_is_by_focus_category_in_the_reporting_currency_and_says_what_it_left_out():
    """Old: 100 USD + 50 EUR + 20 GBP + 10 (no currency) = 180 "in 3 currencies". New: the converted lines
    only (100 USD, 50 EUR at 1.2 = 60) = 160 USD, by FOCUS category; the GBP and currency-less lines are named."""
    day = f"{START}T00:00:00Z"
    rows = [
        {"service_name": "AmazonEC2", "service_category": "Compute", "charge_category": "Usage", "billed_cost": 100,
         "billing_currency": "USD", "billed_cost_reporting": 100, "charge_period_start": day},
        {"service_name": "Blob", "service_category": "Storage", "charge_category": "Usage", "billed_cost": 50,
         "billing_currency": "EUR", "billed_cost_reporting": 60, "charge_period_start": day},
        {"service_name": "VAT", "service_category": None, "charge_category": "Tax", "billed_cost": 20,
         "billing_currency": "GBP", "billed_cost_reporting": None, "fx_missing": "no_rate", "charge_period_start": day},
        {"service_name": "misc", "billed_cost": 10, "billing_currency": None, "billed_cost_reporting": None,
         "fx_missing": "no_currency", "charge_period_start": day},
    ]
    out = finops.analyze(costs=[{**r, "reporting_currency": "USD"} for r in rows])
    m = out.metrics
    assert (m["total_spend"], m["cost_lines"], m["reporting_currency"]) == (160, 2, "USD")
    assert [(r["service_category"], r["amount"]) for r in m["spend_by_service_category"]] == [
        ("Compute", 100), ("Storage", 60)]
    assert [(r["charge_category"], r["amount"]) for r in m["spend_by_charge_category"]] == [("Usage", 160)]
    assert m["unconverted"] == {"count": 2, "by_currency": [
        {"currency": None, "count": 1, "amount": 10.0, "reasons": {"no_currency": 1}},
        {"currency": "GBP", "count": 1, "amount": 20.0, "reasons": {"no_rate": 1}}]}
    [finding] = [f for f in out.findings if f["kind"] == "unconverted_amounts"]
    assert finding["title"] == ("2 cost lines are left out of the totals in USD: 1 cost line (10.00 in no currency: "
                                "no currency); 1 cost line (20.00 GBP: no GBP rate on or before their date)")


def test_when_no_line_converts_the_pilot_says_so_instead_of_a_silent_zero():
    rows = [{"service_name": "ec2", "billed_cost": 5, "billing_currency": "SEK", "billed_cost_reporting": None,
             "fx_missing": "no_rate", "reporting_currency": "USD", "charge_period_start": START}]
    out = finops.analyze(costs=rows)
    assert out.metrics["total_spend"] == 0 and out.metrics["unconverted"]["count"] == 1
    assert [f["kind"] for f in out.findings] == ["unconverted_amounts"]
