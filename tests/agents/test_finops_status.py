"""FinOps resource rules by status: what a stopped, terminated or idle resource is still billed.

Every dataset runs 30 days, 2026-03-01 .. 2026-03-30 (the whole window), so a run rate is the spend
counted / 30 × 30 = the spend counted.
"""

from datetime import date, timedelta

import pytest

from agents.pilots import finops

from .helpers import in_usd

START = date(2026, 3, 1)
DAYS = 30
LAST = START + timedelta(days=DAYS - 1)


def _line(rid, day, amount, *, service="AmazonEC2", description="", tags=None):
    return {"service_name": service, "resource_id": rid, "charge_period_start": f"{day}T00:00:00Z",
            "billed_cost": amount, "charge_description": description, "charge_category": "Usage", "tags": tags}


def _daily(rid, amount, *, first=0, last=DAYS - 1, **kwargs):
    return [_line(rid, START + timedelta(days=i), amount, **kwargs) for i in range(first, last + 1)]


def _baseline():
    """A running, tagged instance billed every day: sets the period and never shows in the savings."""
    return _daily("i-busy", 10.0, tags={"Team": "web"})


def _savings(result):
    return {(f["rule"], f["subject"]["id"]): f["estimated_monthly"] for f in result.findings if f["kind"] == "savings"}


def _analyze(costs, resources):
    return finops.analyze(costs=in_usd(_baseline() + costs),
                          resources=[{"id": "i-busy", "status": "running"}, *resources])


def test_a_terminated_instance_whose_burst_ended_weeks_ago_is_not_still_billed():
    # The demo's training runs: 3 days of p3.2xlarge (73.44/day) ending 13 days before the last day.
    costs = _daily("i-train", 73.44, first=14, last=16)
    result = _analyze(costs, [{"id": "i-train", "status": "terminated", "instance_type": "p3.2xlarge"}])
    assert _savings(result) == {}
    assert result.metrics["stopped_billed_count"] == 0


def test_a_terminated_instance_whose_id_still_bills_counts_only_what_it_costs_since():
    # Ran at 50/day until day 9; since then 2/day still bills under its id (a volume kept at termination).
    costs = _daily("i-gone", 50.0, last=9) + _daily("i-gone", 2.0, first=10)
    result = _analyze(costs, [{"id": "i-gone", "status": "terminated"}])
    [finding] = [f for f in result.findings if f["kind"] == "savings"]
    assert finding["rule"] == "stopped_but_billed" and finding["estimated_monthly"] == 40  # 20 days × 2
    assert finding["subject"]["window_spend"] == 540 and finding["subject"]["still_billed_since"] == "2026-03-11"
    assert "terminated but still billed 40.00 USD/month" in finding["title"]


def test_a_stopped_instance_counts_its_storage_after_it_stopped_not_its_compute_before():
    # 48/day running (compute 45 + its EBS 3 billed under its ARN) until day 19, then the EBS alone.
    arn = "arn:aws:ec2:us-east-1:111:instance/i-stop"
    costs = _daily(arn, 48.0, last=19) + _daily(arn, 3.0, first=20)
    result = _analyze(costs, [{"id": "i-stop", "status": "stopped"}])
    assert _savings(result) == {("stopped_but_billed", "i-stop"): 30}


def test_storage_that_varies_a_little_from_day_to_day_counts_whole():
    costs = [_line("i-stop", START + timedelta(days=i), 3.0 if i % 2 else 3.1) for i in range(DAYS)]
    result = _analyze(costs, [{"id": "i-stop", "status": "stopped"}])
    assert _savings(result) == {("stopped_but_billed", "i-stop"): pytest.approx(91.5)}


def test_a_stopped_instance_with_nothing_billed_lately_is_not_reported():
    costs = _daily("i-stop", 3.0, last=DAYS - 4)  # nothing in the last three days
    assert _savings(_analyze(costs, [{"id": "i-stop", "status": "stopped"}])) == {}


def test_available_means_unattached_for_a_volume_and_up_for_a_database_or_a_nat_gateway():
    costs = (_daily("vol-a", 100 / 60) + _daily("vol-b", 20 / 60) + _daily("vol-c", 200 / 60)
             + _daily("vol-used", 1.0) + _daily("arn:aws:rds:us-east-1:1:db:main", 8.544)
             + _daily("nat-1", 1.08) + _daily("disk-1", 0.5, service="Microsoft.Compute"))
    resources = [
        {"id": "vol-a", "status": "available", "resource_type": "AWS::EC2::Volume"},
        {"id": "vol-b", "status": "available"},  # no type: the id says volume
        {"id": "vol-c", "status": "available", "resource_type": "AWS::EC2::Volume"},
        {"id": "vol-used", "status": "in-use", "resource_type": "AWS::EC2::Volume"},
        {"id": "arn:aws:rds:us-east-1:1:db:main", "status": "available", "resource_type": "AWS::RDS::DBInstance"},
        {"id": "nat-1", "status": "available", "resource_type": "AWS::EC2::NatGateway"},
        {"id": "disk-1", "status": "unattached", "resource_type": "Microsoft.Compute/disks"},
    ]
    result = _analyze(costs, resources)
    assert _savings(result) == {("idle_resource", "vol-a"): 50, ("idle_resource", "vol-b"): 10,
                                ("idle_resource", "vol-c"): 100, ("idle_resource", "disk-1"): 15}
    assert result.metrics["idle_count"] == 4


def test_an_idle_elastic_ip_is_found_by_its_usage_type_with_or_without_an_inventory_row():
    idle = "$0.0050 per Hrs for USW2-ElasticIP:IdleAddress"
    costs = (_daily("eipalloc-1", 0.12, description=idle) + _daily("eipalloc-2", 0.12, description=idle)
             + _daily("eipalloc-3", 0.12, description="$0.005 per Hrs for USW2-PublicIPv4:InUseAddress"))
    resources = [{"id": "eipalloc-1", "name": "54.185.248.141", "status": None, "resource_type": "AWS::EC2::EIP"},
                 {"id": "eipalloc-3", "status": None, "resource_type": "AWS::EC2::EIP"}]
    result = _analyze(costs, resources)
    assert _savings(result) == {("idle_resource", "eipalloc-1"): 3.6, ("idle_resource", "eipalloc-2"): 3.6}
    by_id = {f["subject"]["id"]: f for f in result.findings if f["kind"] == "savings"}
    assert by_id["eipalloc-1"]["subject"]["window_spend"] == 3.6
    assert by_id["eipalloc-1"]["title"] == "54.185.248.141 is idle (not in use) and costs 3.60 USD/month"
    assert by_id["eipalloc-2"]["subject"]["entity"] == "cost"  # known from its cost lines only


def test_an_idle_volume_deleted_before_the_last_days_is_not_a_saving():
    costs = _daily("vol-gone", 2.0, last=DAYS - 11)
    assert _savings(_analyze(costs, [{"id": "vol-gone", "status": "available"}])) == {}


def test_a_terminated_previous_generation_instance_is_not_a_migration_candidate():
    costs = _daily("i-old", 5.0, last=5)
    assert _savings(_analyze(costs, [{"id": "i-old", "status": "terminated", "instance_type": "m4.large"}])) == {}


def test_the_demo_inventory_gives_three_idle_volumes_two_idle_addresses_and_no_terminated_instance():
    """The demo's shape over 60 days (2026-09-23 .. 2026-11-21): the 30-day window is the last 30."""
    start = date(2026, 9, 23)

    def daily(rid, amount, days=range(60), description=""):
        return [_line(rid, start + timedelta(days=i), amount, description=description) for i in days]

    idle_ip = "$0.0050 per Hrs for USW2-ElasticIP:IdleAddress"
    costs = (daily("i-web", 4.608) + daily("vol-root", 1.3333) + daily("vol-069788db9027e4d57", 100 / 60)
             + daily("vol-09f9bfe20be43d8c7", 20 / 60) + daily("vol-09e3c05cf200fa484", 200 / 60)
             + daily("eipalloc-07445ddac32e4da66", 0.12, description=idle_ip)
             + daily("eipalloc-0ecc0756003366c81", 0.12, description=idle_ip)
             + daily("arn:aws:rds:us-east-1:111122223333:db:legacy-db-0", 8.544) + daily("nat-03f08b07ce1b7e8df", 1.08)
             + [row for n in range(4) for row in daily(f"i-train-{n}", 73.44, days=range(44, 47))])
    resources = [
        {"id": "i-web", "status": "running", "instance_type": "m5.xlarge"},
        {"id": "i-stopped", "status": "stopped", "instance_type": "r5.large"},  # no BoxUsage once stopped
        {"id": "vol-root", "status": "in-use", "resource_type": "AWS::EC2::Volume"},
        *({"id": v, "status": "available", "resource_type": "AWS::EC2::Volume"}
          for v in ("vol-069788db9027e4d57", "vol-09f9bfe20be43d8c7", "vol-09e3c05cf200fa484")),
        *({"id": e, "status": None, "resource_type": "AWS::EC2::EIP"}
          for e in ("eipalloc-07445ddac32e4da66", "eipalloc-0ecc0756003366c81")),
        {"id": "arn:aws:rds:us-east-1:111122223333:db:legacy-db-0", "status": "available",
         "resource_type": "AWS::RDS::DBInstance"},
        {"id": "nat-03f08b07ce1b7e8df", "status": "available", "resource_type": "AWS::EC2::NatGateway"},
        *({"id": f"i-train-{n}", "status": "terminated", "instance_type": "p3.2xlarge"} for n in range(4)),
    ]
    result = finops.analyze(costs=in_usd(costs), resources=resources)
    assert _savings(result) == {
        ("idle_resource", "vol-069788db9027e4d57"): 50, ("idle_resource", "vol-09f9bfe20be43d8c7"): 10,
        ("idle_resource", "vol-09e3c05cf200fa484"): 100,
        ("idle_resource", "eipalloc-07445ddac32e4da66"): 3.6, ("idle_resource", "eipalloc-0ecc0756003366c81"): 3.6,
    }
    assert result.metrics["savings_by_rule"] == {"idle_resource": 167.2}
    assert result.metrics["stopped_billed_count"] == 0
    # The training burst itself is still called out, as an anomaly from the day it started.
    assert any(a["from"] == "2026-11-06" for a in result.findings if a["kind"] == "anomaly")


def test_a_lines_own_tags_come_first_and_the_inventory_tags_cover_lines_without_any():
    costs = [
        _line("i-1", START, 30, tags={"Team": "web"}),  # its own tags (the CUR's resourceTags/*)
        _line("i-2", START, 10, tags='{"CostCenter": "CC-1"}'),  # as JSON text, and untagged in the inventory
        _line("i-3", START, 20, tags=None),  # no tags of its own, tagged in the inventory
        _line("i-4", START, 40, tags={"Team": ""}),  # an empty value is no tag
    ]
    resources = [{"id": "i-1", "tags": []}, {"id": "i-2", "tags": None},
                 {"id": "i-3", "tags": [{"key": "Team", "value": "data"}]}, {"id": "i-4", "tags": None}]
    result = finops.analyze(costs=in_usd(costs), resources=resources)
    assert result.metrics["untagged_spend"] == 40 and result.metrics["untagged_spend_pct"] == 40.0
    assert result.metrics["tagged_lines"] == {"own_tags": 2, "inventory_tags": 1}
