"""Demo AWS exports: a Cost and Usage Report (legacy CUR columns, daily line items) and an AWS
Config resource inventory whose resource ids match the CUR's."""

from __future__ import annotations

import csv
import datetime as dt
import json
import random
from dataclasses import dataclass, field
from pathlib import Path

PAYER = "111122223333"
ACCOUNTS = {"prod": "111122223333", "staging": "444455556666", "data": "777788889999"}
REGIONS = {
    "us-east-1": ("USE1", "US East (N. Virginia)"),
    "us-west-2": ("USW2", "US West (Oregon)"),
    "eu-west-1": ("EU", "EU (Ireland)"),
}
EC2_RATES = {
    "t3.medium": 0.0416,
    "m5.xlarge": 0.192,
    "c5.2xlarge": 0.34,
    "r5.large": 0.126,
    "g4dn.xlarge": 0.526,
    "p3.2xlarge": 3.06,
}
RDS_RATES = {"db.r5.large": 0.25, "db.t3.medium": 0.068, "db.m5.xlarge": 0.356}
GB_MONTH_RATES = {"VolumeUsage.gp3": 0.08, "VolumeUsage.gp2": 0.10, "TimedStorage-ByteHrs": 0.023}  # by usage type
TEAMS = ["payments", "search", "data-platform", "web", "ml"]
DAYS = 60

CUR_HEADER = [
    "identity/LineItemId",
    "identity/TimeInterval",
    "bill/InvoiceId",
    "bill/BillingEntity",
    "bill/BillType",
    "bill/PayerAccountId",
    "bill/BillingPeriodStartDate",
    "bill/BillingPeriodEndDate",
    "lineItem/UsageAccountId",
    "lineItem/LineItemType",
    "lineItem/UsageStartDate",
    "lineItem/UsageEndDate",
    "lineItem/ProductCode",
    "lineItem/UsageType",
    "lineItem/Operation",
    "lineItem/AvailabilityZone",
    "lineItem/ResourceId",
    "lineItem/UsageAmount",
    "lineItem/CurrencyCode",
    "lineItem/UnblendedRate",
    "lineItem/UnblendedCost",
    "lineItem/BlendedRate",
    "lineItem/BlendedCost",
    "lineItem/LineItemDescription",
    "product/ProductName",
    "product/productFamily",
    "product/instanceType",
    "product/region",
    "product/location",
    "pricing/term",
    "pricing/unit",
    "pricing/publicOnDemandCost",
    "resourceTags/user:Team",
    "resourceTags/user:Environment",
    "resourceTags/user:CostCenter",
    # Savings Plan columns and a customer tag, filled only by the commitment rows (write_aws_commitments)
    "savingsPlan/SavingsPlanARN",
    "savingsPlan/SavingsPlanEffectiveCost",
    "savingsPlan/SavingsPlanRate",
    "savingsPlan/TotalCommitmentToDate",
    "savingsPlan/UsedCommitment",
    "resourceTags/user:Customer",
]
INVENTORY_HEADER = [
    "resourceId",
    "resourceName",
    "resourceType",
    "arn",
    "accountId",
    "awsRegion",
    "availabilityZone",
    "resourceCreationTime",
    "configurationItemCaptureTime",
    "configurationItemStatus",
    "configuration.instanceType",
    "configuration.state.name",
    "configuration.state",
    "configuration.size",
    "configuration.volumeType",
    "configuration.attachments",
    "configuration.dBInstanceClass",
    "configuration.dBInstanceStatus",
    "configuration.associationId",
    "configuration.publicIp",
    "tags",
    "cloudwatch.CPUUtilization.avg14d",
]


@dataclass
class Resource:
    rid: str
    name: str
    rtype: str
    product: str  # CUR lineItem/ProductCode
    account: str
    region: str
    az: str
    daily_cost: float  # for GB-Mo resources the daily share of the monthly charge
    usage_type: str
    operation: str
    unit: str
    instance_type: str = ""
    state: str = "running"
    tags: dict[str, str] = field(default_factory=dict)
    created: dt.datetime | None = None
    active_days: range | None = None  # days of the window with usage (None = all)
    extra: dict[str, str] = field(default_factory=dict)
    cpu: str = ""


def _hex(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789abcdef") for _ in range(n))


def _tags(rng: random.Random, team: str | None, env: str) -> dict[str, str]:
    if team is None:
        return {}
    return {"Team": team, "Environment": env, "CostCenter": f"CC-{TEAMS.index(team) * 100 + 1000}"}


def _resources(rng: random.Random, scale: int, window_start: dt.date) -> list[Resource]:
    res: list[Resource] = []

    def team_or_untagged():
        return None if rng.random() < 0.25 else rng.choice(TEAMS)

    for i in range(14 * scale):
        region = rng.choice(list(REGIONS))
        prefix = REGIONS[region][0]
        itype = rng.choice(["t3.medium", "m5.xlarge", "c5.2xlarge", "r5.large", "g4dn.xlarge"])
        account = rng.choice(list(ACCOUNTS.values()))
        state = "stopped" if i % 5 == 3 else "running"
        team = team_or_untagged()
        env = rng.choice(["prod", "staging", "dev"])
        inst = Resource(
            rid=f"i-0{_hex(rng, 16)}",
            name=f"{team or 'misc'}-{env}-{i:02d}",
            rtype="AWS::EC2::Instance",
            product="AmazonEC2",
            account=account,
            region=region,
            az=f"{region}{rng.choice('abc')}",
            daily_cost=EC2_RATES[itype] * 24,
            usage_type=f"{prefix}-BoxUsage:{itype}",
            operation="RunInstances",
            unit="Hrs",
            instance_type=itype,
            state=state,
            tags=_tags(rng, team, env),
            cpu=f"{rng.uniform(0.4, 2.5):.1f}" if i % 7 == 2 else f"{rng.uniform(18, 71):.1f}",
        )
        if state == "stopped":
            inst.active_days = range(0)  # stopped before the window: no compute charges
            inst.cpu = "0.0"
        res.append(inst)
        size = rng.choice([50, 100, 200, 500])
        res.append(
            Resource(
                rid=f"vol-0{_hex(rng, 16)}",
                name=f"{inst.name}-root",
                rtype="AWS::EC2::Volume",
                product="AmazonEC2",
                account=account,
                region=region,
                az=inst.az,
                daily_cost=size * 0.08 / 30,
                usage_type=f"{prefix}-EBS:VolumeUsage.gp3",
                operation="CreateVolume-Gp3",
                unit="GB-Mo",
                state="in-use",
                tags=dict(inst.tags),
                extra={
                    "configuration.size": str(size),
                    "configuration.volumeType": "gp3",
                    "configuration.attachments": json.dumps(
                        [{"instanceId": inst.rid, "device": "/dev/xvda", "state": "attached"}]
                    ),
                },
            )
        )
    for i in range(3 * scale):  # unattached volumes: billed, idle
        region = rng.choice(list(REGIONS))
        size = rng.choice([100, 500, 1000])
        res.append(
            Resource(
                rid=f"vol-0{_hex(rng, 16)}",
                name=f"snapshot-restore-{i}",
                rtype="AWS::EC2::Volume",
                product="AmazonEC2",
                account=ACCOUNTS["staging"],
                region=region,
                az=f"{region}a",
                daily_cost=size * 0.10 / 30,
                usage_type=f"{REGIONS[region][0]}-EBS:VolumeUsage.gp2",
                operation="CreateVolume-Gp2",
                unit="GB-Mo",
                state="available",
                tags={},
                extra={
                    "configuration.size": str(size),
                    "configuration.volumeType": "gp2",
                    "configuration.attachments": "[]",
                },
            )
        )
    for i in range(3 * scale):
        region = "us-east-1" if i % 2 == 0 else "eu-west-1"
        klass = rng.choice(list(RDS_RATES))
        team = team_or_untagged()
        res.append(
            Resource(
                rid=f"arn:aws:rds:{region}:{ACCOUNTS['prod']}:db:{team or 'legacy'}-db-{i}",
                name=f"{team or 'legacy'}-db-{i}",
                rtype="AWS::RDS::DBInstance",
                product="AmazonRDS",
                account=ACCOUNTS["prod"],
                region=region,
                az=f"{region}b",
                daily_cost=RDS_RATES[klass] * 24,
                usage_type=f"{REGIONS[region][0]}-InstanceUsage:{klass}",
                operation="CreateDBInstance:0014",
                unit="Hrs",
                instance_type=klass,
                state="available",
                tags=_tags(rng, team, "prod"),
                extra={"configuration.dBInstanceClass": klass, "configuration.dBInstanceStatus": "available"},
                cpu="0.3" if i == 1 else f"{rng.uniform(12, 55):.1f}",
            )
        )
    for _ in range(4 * scale):
        team = team_or_untagged()
        bucket = f"{team or 'old'}-{rng.choice(['logs', 'assets', 'backups', 'datalake'])}-{_hex(rng, 6)}"
        res.append(
            Resource(
                rid=bucket,
                name=bucket,
                rtype="AWS::S3::Bucket",
                product="AmazonS3",
                account=ACCOUNTS["data"],
                region="us-east-1",
                az="",
                daily_cost=rng.uniform(1.5, 40),
                usage_type="USE1-TimedStorage-ByteHrs",
                operation="StandardStorage",
                unit="GB-Mo",
                state="",
                tags=_tags(rng, team, "prod"),
            )
        )
    for i in range(2 * scale):
        region = "us-east-1"
        lb = f"app/{'web' if i == 0 else 'old-api'}-alb/{_hex(rng, 16)}"
        res.append(
            Resource(
                rid=f"arn:aws:elasticloadbalancing:{region}:{ACCOUNTS['prod']}:loadbalancer/{lb}",
                name=lb.split("/")[1],
                rtype="AWS::ElasticLoadBalancingV2::LoadBalancer",
                product="AWSELB",
                account=ACCOUNTS["prod"],
                region=region,
                az="",
                daily_cost=0.0225 * 24,
                usage_type="USE1-LoadBalancerUsage",
                operation="LoadBalancing:Application",
                unit="Hrs",
                state="active",
                tags=_tags(rng, "web", "prod") if i == 0 else {},
                cpu="" if i == 0 else "0.0",
            )
        )
    for _ in range(2 * scale):  # Elastic IPs not associated with anything: billed, idle
        ip = f"54.{rng.randint(10, 250)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
        res.append(
            Resource(
                rid=f"eipalloc-0{_hex(rng, 16)}",
                name=ip,
                rtype="AWS::EC2::EIP",
                product="AmazonEC2",
                account=ACCOUNTS["staging"],
                region="us-west-2",
                az="",
                daily_cost=0.005 * 24,
                usage_type="USW2-ElasticIP:IdleAddress",
                operation="AssociateAddressVPC",
                unit="Hrs",
                state="",
                tags={},
                extra={"configuration.associationId": "", "configuration.publicIp": ip},
            )
        )
    res.append(
        Resource(
            rid=f"nat-0{_hex(rng, 16)}",
            name="prod-nat",
            rtype="AWS::EC2::NatGateway",
            product="AmazonEC2",
            account=ACCOUNTS["prod"],
            region="us-east-1",
            az="us-east-1a",
            daily_cost=0.045 * 24,
            usage_type="USE1-NatGateway-Hours",
            operation="NatGateway",
            unit="Hrs",
            state="available",
            tags=_tags(rng, "web", "prod"),
        )
    )
    # The anomaly: a burst of untagged GPU instances in the data account for three days.
    burst = range(DAYS - 16, DAYS - 13)
    for i in range(4 * scale):
        res.append(
            Resource(
                rid=f"i-0{_hex(rng, 16)}",
                name=f"training-run-{i}",
                rtype="AWS::EC2::Instance",
                product="AmazonEC2",
                account=ACCOUNTS["data"],
                region="us-west-2",
                az="us-west-2a",
                daily_cost=EC2_RATES["p3.2xlarge"] * 24,
                usage_type="USW2-BoxUsage:p3.2xlarge",
                operation="RunInstances",
                unit="Hrs",
                instance_type="p3.2xlarge",
                state="terminated",
                tags={},
                active_days=burst,
                created=dt.datetime.combine(
                    window_start + dt.timedelta(days=burst.start), dt.time(2, 14), tzinfo=dt.UTC
                ),
                cpu="",
            )
        )
    for r in res:
        if r.created is None:
            r.created = dt.datetime.combine(
                window_start - dt.timedelta(days=rng.randint(30, 700)),
                dt.time(rng.randint(0, 23), rng.randint(0, 59)),
                tzinfo=dt.UTC,
            )
    return res


def _z(day: dt.date) -> str:
    return f"{day.isoformat()}T00:00:00Z"


def _line_id(rng: random.Random) -> str:
    return "".join(rng.choice("abcdefghijklmnopqrstuvwxyz234567") for _ in range(52))


def write_aws(out: Path, rng: random.Random, as_of: dt.date, *, scale: int = 1) -> dict[str, int]:
    start = as_of - dt.timedelta(days=DAYS)
    resources = _resources(rng, scale, start)
    rows = []
    months: set[tuple[dt.date, str]] = set()
    for day_index in range(DAYS):
        day = start + dt.timedelta(days=day_index)
        period_start = day.replace(day=1)
        period_end = (period_start + dt.timedelta(days=32)).replace(day=1)
        for r in resources:
            if r.active_days is not None and day_index not in r.active_days:
                continue
            if r.rtype == "AWS::EC2::Instance" and r.state == "stopped":
                continue
            if r.unit == "Hrs":
                cost, usage = r.daily_cost, 24.0
            else:  # storage: GB-months accrue daily; buckets grow and shrink a little
                cost = r.daily_cost * (1 + rng.uniform(-0.04, 0.04) if r.rtype == "AWS::S3::Bucket" else 1.0)
                usage = cost / GB_MONTH_RATES[r.usage_type.split(":")[-1].split("-", 1)[-1]]
            rate = cost / usage if usage else 0.0
            location = REGIONS[r.region][1]
            months.add((period_start, r.account))
            rows.append(
                {
                    "identity/LineItemId": _line_id(rng),
                    "identity/TimeInterval": f"{_z(day)}/{_z(day + dt.timedelta(days=1))}",
                    "bill/InvoiceId": "",
                    "bill/BillingEntity": "AWS",
                    "bill/BillType": "Anniversary",
                    "bill/PayerAccountId": PAYER,
                    "bill/BillingPeriodStartDate": _z(period_start),
                    "bill/BillingPeriodEndDate": _z(period_end),
                    "lineItem/UsageAccountId": r.account,
                    "lineItem/LineItemType": "Usage",
                    "lineItem/UsageStartDate": _z(day),
                    "lineItem/UsageEndDate": _z(day + dt.timedelta(days=1)),
                    "lineItem/ProductCode": r.product,
                    "lineItem/UsageType": r.usage_type,
                    "lineItem/Operation": r.operation,
                    "lineItem/AvailabilityZone": r.az,
                    "lineItem/ResourceId": r.rid,
                    "lineItem/UsageAmount": f"{usage:.10f}",
                    "lineItem/CurrencyCode": "USD",
                    "lineItem/UnblendedRate": f"{rate:.10f}",
                    "lineItem/UnblendedCost": f"{cost:.10f}",
                    "lineItem/BlendedRate": f"{rate:.10f}",
                    "lineItem/BlendedCost": f"{cost:.10f}",
                    "lineItem/LineItemDescription": f"${rate:.4f} per {r.unit} for {r.usage_type}",
                    "product/ProductName": {
                        "AmazonEC2": "Amazon Elastic Compute Cloud",
                        "AmazonRDS": "Amazon Relational Database Service",
                        "AmazonS3": "Amazon Simple Storage Service",
                        "AWSELB": "Elastic Load Balancing",
                    }[r.product],
                    "product/productFamily": {
                        "AWS::EC2::Instance": "Compute Instance",
                        "AWS::EC2::Volume": "Storage",
                        "AWS::RDS::DBInstance": "Database Instance",
                        "AWS::S3::Bucket": "Storage",
                        "AWS::EC2::EIP": "IP Address",
                        "AWS::EC2::NatGateway": "NAT Gateway",
                        "AWS::ElasticLoadBalancingV2::LoadBalancer": "Load Balancer-Application",
                    }[r.rtype],
                    "product/instanceType": r.instance_type,
                    "product/region": r.region,
                    "product/location": location,
                    "pricing/term": "OnDemand",
                    "pricing/unit": r.unit,
                    "pricing/publicOnDemandCost": f"{cost:.10f}",
                    "resourceTags/user:Team": r.tags.get("Team", ""),
                    "resourceTags/user:Environment": r.tags.get("Environment", ""),
                    "resourceTags/user:CostCenter": r.tags.get("CostCenter", ""),
                }
            )
    for period_start, account in sorted(months):  # monthly tax lines (no resource)
        period_end = (period_start + dt.timedelta(days=32)).replace(day=1)
        amount = (
            sum(
                float(r["lineItem/UnblendedCost"])
                for r in rows
                if r["lineItem/UsageAccountId"] == account and r["bill/BillingPeriodStartDate"] == _z(period_start)
            )
            * 0.06
        )
        rows.append(
            {
                **dict.fromkeys(CUR_HEADER, ""),
                "identity/LineItemId": _line_id(rng),
                "identity/TimeInterval": f"{_z(period_start)}/{_z(period_end)}",
                "bill/BillingEntity": "AWS",
                "bill/BillType": "Anniversary",
                "bill/PayerAccountId": PAYER,
                "bill/BillingPeriodStartDate": _z(period_start),
                "bill/BillingPeriodEndDate": _z(period_end),
                "lineItem/UsageAccountId": account,
                "lineItem/LineItemType": "Tax",
                "lineItem/UsageStartDate": _z(period_start),
                "lineItem/UsageEndDate": _z(period_end),
                "lineItem/ProductCode": "AmazonEC2",
                "lineItem/CurrencyCode": "USD",
                "lineItem/UnblendedCost": f"{amount:.10f}",
                "lineItem/BlendedCost": f"{amount:.10f}",
                "lineItem/LineItemDescription": "Tax for product code AmazonEC2",
                "product/ProductName": "Amazon Elastic Compute Cloud",
            }
        )
    cur = out / "aws_cur" / "cost_and_usage_report.csv"
    cur.parent.mkdir(parents=True, exist_ok=True)
    with open(cur, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=CUR_HEADER, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)

    capture = dt.datetime.combine(as_of, dt.time(6, 0), tzinfo=dt.UTC)
    inventory = []
    for r in resources:
        row = dict.fromkeys(INVENTORY_HEADER, "")
        arn = (
            r.rid
            if r.rid.startswith("arn:")
            else (
                f"arn:aws:s3:::{r.rid}"
                if r.rtype == "AWS::S3::Bucket"
                else f"arn:aws:ec2:{r.region}:{r.account}:{r.rtype.split('::')[-1].lower()}/{r.rid}"
            )
        )
        row.update(
            {
                "resourceId": r.rid,
                "resourceName": r.name,
                "resourceType": r.rtype,
                "arn": arn,
                "accountId": r.account,
                "awsRegion": r.region,
                "availabilityZone": r.az or "Not Applicable",
                "resourceCreationTime": r.created.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                "configurationItemCaptureTime": capture.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                "configurationItemStatus": "ResourceDeleted" if r.state == "terminated" else "OK",
                "configuration.instanceType": r.instance_type if r.rtype == "AWS::EC2::Instance" else "",
                "configuration.state.name": r.state if r.rtype == "AWS::EC2::Instance" else "",
                "configuration.state": r.state if r.rtype != "AWS::EC2::Instance" else "",
                "tags": json.dumps([{"key": k, "value": v} for k, v in r.tags.items()]),
                "cloudwatch.CPUUtilization.avg14d": r.cpu,
            }
        )
        row.update(r.extra)
        inventory.append(row)
    inv = out / "aws_inventory" / "resources.csv"
    inv.parent.mkdir(parents=True, exist_ok=True)
    with open(inv, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=INVENTORY_HEADER, lineterminator="\n")
        writer.writeheader()
        writer.writerows(inventory)
    return {"aws_cur/cost_and_usage_report.csv": len(rows), "aws_inventory/resources.csv": len(inventory)}


# --- commitments and customer tags (rows appended after the draws above, with a generator of their own) ---

SAVINGS_PLAN_ARN = "arn:aws:savingsplans::111122223333:savingsplan/7c1a0b5e-2f4d-4d6a-9c3e-5b8e1f2a9d04"
SAVINGS_PLAN_HOURLY = 1.20  # USD per hour committed (a 1-year Compute Savings Plan, no upfront)
SP_RATE = {"c5.2xlarge": 0.238, "m5.xlarge": 0.1344}  # the plan's rates: 30% under on-demand
# (name, instance type, team, customer tag: index into the CRM companies or None, covered by the plan, days running)
COMMITTED_FLEET = (
    ("batch-worker-1", "c5.2xlarge", "data-platform", None, True, range(0, DAYS)),
    ("batch-worker-2", "c5.2xlarge", "data-platform", None, True, range(0, DAYS)),
    ("batch-worker-3", "c5.2xlarge", "data-platform", None, True, range(0, DAYS - 20)),  # retired: the plan idles
    ("tenant-acme-app", "m5.xlarge", "payments", 0, True, range(0, DAYS)),
    ("tenant-acme-db", "m5.xlarge", "payments", 0, False, range(0, DAYS)),
    ("tenant-second-app", "m5.xlarge", "web", 1, False, range(10, DAYS)),
    ("scratch-untagged", "m5.xlarge", None, None, False, range(0, DAYS)),
)


def customer_names(companies) -> list[str]:
    """The CRM companies the demo's customer tags name (the first two that are in a CRM), as people
    write them in a tag: the base name without the legal suffix."""
    return [c.base for c in companies if c.systems][:2]


def write_aws_commitments(out: Path, as_of: dt.date, customers: list[str], *, seed: str) -> int:
    """Append to the CUR a Compute Savings Plan (daily recurring fee, covered usage, negation), the
    instances it covers, and instances tagged with a team and a customer (CRM accounts), some untagged.
    The plan is under-used once a covered instance retires: its fee's amortized cost is the unused part."""
    rng = random.Random(f"autonomos-demo-commitments:{seed}")
    start = as_of - dt.timedelta(days=DAYS)
    fleet = [
        (
            name,
            itype,
            team,
            customers[c] if c is not None and c < len(customers) else "",
            covered,
            days,
            f"i-0{_hex(rng, 16)}",
        )
        for name, itype, team, c, covered, days in COMMITTED_FLEET
    ]
    rows = []
    for day_index in range(DAYS):
        day = start + dt.timedelta(days=day_index)
        period_start = day.replace(day=1)
        period_end = (period_start + dt.timedelta(days=32)).replace(day=1)
        common = {
            **dict.fromkeys(CUR_HEADER, ""),
            "identity/TimeInterval": f"{_z(day)}/{_z(day + dt.timedelta(days=1))}",
            "bill/BillingEntity": "AWS",
            "bill/BillType": "Anniversary",
            "bill/PayerAccountId": PAYER,
            "bill/BillingPeriodStartDate": _z(period_start),
            "bill/BillingPeriodEndDate": _z(period_end),
            "lineItem/UsageAccountId": ACCOUNTS["prod"],
            "lineItem/UsageStartDate": _z(day),
            "lineItem/UsageEndDate": _z(day + dt.timedelta(days=1)),
            "lineItem/CurrencyCode": "USD",
        }
        used = 0.0
        for _name, itype, team, customer, covered, days, rid in fleet:
            if day_index not in days:
                continue
            on_demand = EC2_RATES[itype] * 24
            line = {
                **common,
                "identity/LineItemId": _line_id(rng),
                "lineItem/ProductCode": "AmazonEC2",
                "lineItem/UsageType": f"USE1-BoxUsage:{itype}",
                "lineItem/Operation": "RunInstances",
                "lineItem/AvailabilityZone": "us-east-1a",
                "lineItem/ResourceId": rid,
                "lineItem/UsageAmount": "24.0000000000",
                "product/ProductName": "Amazon Elastic Compute Cloud",
                "product/productFamily": "Compute Instance",
                "product/instanceType": itype,
                "product/region": "us-east-1",
                "product/location": REGIONS["us-east-1"][1],
                "pricing/unit": "Hrs",
                "pricing/term": "OnDemand",
                "pricing/publicOnDemandCost": f"{on_demand:.10f}",
                "resourceTags/user:Team": team or "",
                "resourceTags/user:Environment": "prod" if team else "",
                "resourceTags/user:Customer": customer,
            }
            if covered:
                effective = SP_RATE[itype] * 24
                used += effective
                rows.append(
                    {
                        **line,
                        "lineItem/LineItemType": "SavingsPlanCoveredUsage",
                        "lineItem/UnblendedRate": f"{EC2_RATES[itype]:.10f}",
                        "lineItem/UnblendedCost": f"{on_demand:.10f}",
                        "lineItem/BlendedCost": f"{on_demand:.10f}",
                        "lineItem/LineItemDescription": f"{itype} covered by Compute Savings Plan",
                        "savingsPlan/SavingsPlanARN": SAVINGS_PLAN_ARN,
                        "savingsPlan/SavingsPlanRate": f"{SP_RATE[itype]:.10f}",
                        "savingsPlan/SavingsPlanEffectiveCost": f"{effective:.10f}",
                    }
                )
                rows.append(
                    {
                        **line,
                        "identity/LineItemId": _line_id(rng),
                        "lineItem/LineItemType": "SavingsPlanNegation",
                        "lineItem/UnblendedCost": f"{-on_demand:.10f}",
                        "lineItem/BlendedCost": f"{-on_demand:.10f}",
                        "lineItem/LineItemDescription": f"SavingsPlanNegation used by AccountId : {ACCOUNTS['prod']}",
                        "savingsPlan/SavingsPlanARN": SAVINGS_PLAN_ARN,
                        "savingsPlan/SavingsPlanEffectiveCost": "0.0000000000",
                        "pricing/publicOnDemandCost": "",
                    }
                )
            else:
                rows.append(
                    {
                        **line,
                        "lineItem/LineItemType": "Usage",
                        "lineItem/UnblendedRate": f"{EC2_RATES[itype]:.10f}",
                        "lineItem/UnblendedCost": f"{on_demand:.10f}",
                        "lineItem/BlendedCost": f"{on_demand:.10f}",
                        "lineItem/LineItemDescription": (
                            f"${EC2_RATES[itype]:.4f} per On Demand Linux {itype} Instance Hour"
                        ),
                    }
                )
        fee = SAVINGS_PLAN_HOURLY * 24
        rows.append(
            {
                **common,
                "identity/LineItemId": _line_id(rng),
                "lineItem/LineItemType": "SavingsPlanRecurringFee",
                "lineItem/ProductCode": "ComputeSavingsPlans",
                "lineItem/UsageType": "ComputeSP:1yrNoUpfront",
                "lineItem/UsageAmount": "24.0000000000",
                "lineItem/UnblendedCost": f"{fee:.10f}",
                "lineItem/BlendedCost": f"{fee:.10f}",
                "lineItem/LineItemDescription": "1 year No Upfront Compute Savings Plan",
                "product/ProductName": "Savings Plans for AWS Compute usage",
                "savingsPlan/SavingsPlanARN": SAVINGS_PLAN_ARN,
                "savingsPlan/TotalCommitmentToDate": f"{fee:.10f}",
                "savingsPlan/UsedCommitment": f"{used:.10f}",
                # amortized: the fee's part no usage took
                "savingsPlan/SavingsPlanEffectiveCost": f"{max(fee - used, 0.0):.10f}",
            }
        )
    cur = out / "aws_cur" / "cost_and_usage_report.csv"
    with open(cur, "a", newline="", encoding="utf-8") as f:
        csv.DictWriter(f, fieldnames=CUR_HEADER, lineterminator="\n").writerows(rows)
    return len(rows)
