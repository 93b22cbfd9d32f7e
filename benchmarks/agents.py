"""python manage.py agents_benchmark [--deals N] [--cost-lines N] [--resources N] [--seed S]
                                   [--revops-tenant SLUG --revops-deals N]

Times the pilots over synthetic unified rows (no database) and prints rows per second, so a
regression in the pure metric code shows up as a number, not as a flaky timed test.

With `--revops-tenant`, it also loads N opportunities with history into that benchmark tenant (the
DCL's real per-record view, three snapshots of type-2 history, quotas) and times the RevOps run over
it: the SQL analyses (agents/services/revenue.py) alone, then the whole run as a job runs it.
"""

from __future__ import annotations

import random
import time
from datetime import UTC, date, datetime, timedelta

from django.core.management.base import BaseCommand

from agents.pilots import finops, revops
from agents.pilots.normalize import findings_normalize

STAGES = ["Prospecting", "Qualification", "Needs Analysis", "Id. Decision Makers", "Proposal/Price Quote",
          "Negotiation/Review", "Closed Won", "Closed Lost", "appointmentscheduled", "contractsent", "3-Propose"]
SERVICES = ["AmazonEC2", "AmazonS3", "AmazonRDS", "AWSLambda", "AmazonCloudFront", "AmazonDynamoDB", "AmazonEKS"]
STATUSES = ["running"] * 8 + ["stopped", "available"]
# The canonical values the value stage derives from each vendor stage (ADR 0014/0015): the pilots read these.
STAGE_CANONICAL = {"Closed Won": ("won", "won"), "Closed Lost": ("lost", "lost"), "contractsent": ("open", "negotiate"),
                   "Negotiation/Review": ("open", "negotiate"), "Proposal/Price Quote": ("open", "propose"),
                   "3-Propose": ("open", "propose"), "Id. Decision Makers": ("open", "develop"),
                   "Needs Analysis": ("open", "develop")}


def synthetic_deals(n: int, rng: random.Random, today: date) -> tuple[list[dict], list[dict]]:
    kinds = ("salesforce", "hubspot", "dynamics")
    accounts = [{"unified_id": f"acc-{i}", "name": f"Account {i}",
                 "sources": [{"connection_id": 1 + i % 3, "connection_kind": kinds[i % 3]}]}
                for i in range(max(1, n // 8))]
    deals = []
    for i in range(n):
        created = today - timedelta(days=rng.randint(1, 400))
        stage = rng.choice(STAGES)
        status, category = STAGE_CANONICAL.get(stage, ("open", "qualify"))
        amount = round(rng.lognormvariate(10, 1), 2) if rng.random() > 0.03 else None
        deals.append({
            "unified_id": f"opp-{i}", "name": f"Deal {i}", "stage": stage, "status": status,
            "stage_category": category, "amount": amount, "amount_reporting": amount, "reporting_currency": "USD",
            "probability": rng.choice([None, rng.randint(5, 95)]),
            "close_date": (created + timedelta(days=rng.randint(10, 200))).isoformat(),
            "created_at": datetime.combine(created, datetime.min.time(), tzinfo=UTC),
            "updated_at": (created + timedelta(days=rng.randint(0, 120))).isoformat(),
            "account_unified_id": f"acc-{rng.randrange(len(accounts))}" if rng.random() > 0.05 else None,
            "next_step": rng.choice(["", "Call", "Send proposal"]), "currency": "USD",
            "sources": accounts[rng.randrange(len(accounts))]["sources"],
        })
    return deals, accounts


def synthetic_costs(n: int, n_resources: int, rng: random.Random, end: date) -> tuple[list[dict], list[dict]]:
    resources = [{"unified_id": f"r{i}", "id": f"i-{i:08x}", "name": f"res-{i}", "status": rng.choice(STATUSES),
                  "instance_type": rng.choice(["m4.large", "m6i.large", "t3.micro", "c5.xlarge"]),
                  "tags": {"team": "x"} if rng.random() > 0.3 else {}} for i in range(n_resources)]
    costs = []
    for i in range(n):
        r = resources[rng.randrange(n_resources)] if n_resources else None
        cost = round(rng.expovariate(1 / 20), 4)
        costs.append({
            "unified_id": f"cst-{i}", "service_name": rng.choice(SERVICES), "sub_account_id": str(100 + i % 7),
            "region_id": "us-east-1", "resource_id": r["id"] if r else "",
            "charge_period_start": end - timedelta(days=rng.randrange(90)), "charge_category": "Usage",
            "effective_cost": cost, "effective_cost_reporting": cost, "billing_currency": "USD",
            "reporting_currency": "USD", "tags": r["tags"] if r else {},
        })
    return costs, resources


class Command(BaseCommand):
    help = "Benchmark the RevOps and FinOps pilots over synthetic rows and print the figures."

    def add_arguments(self, parser):
        parser.add_argument("--deals", type=int, default=50_000)
        parser.add_argument("--cost-lines", type=int, default=200_000)
        parser.add_argument("--resources", type=int, default=5_000)
        parser.add_argument("--seed", type=int, default=7)
        parser.add_argument("--revops-tenant", default="", help="load --revops-deals deals with history into this "
                            "benchmark tenant (created when missing, its views and history replaced) and time the "
                            "RevOps run there")
        parser.add_argument("--revops-deals", type=int, default=1_000_000)
        parser.add_argument("--revops-skip-load", action="store_true", help="time the run over what the tenant "
                            "holds from an earlier load")
        parser.add_argument("--finops", action="store_true", help="time the FinOps agent over --cost-lines lines in "
                            "PostgreSQL instead (benchmarks/agents_finops.py; a tenant of its own)")

    def handle(self, *args, **opts):
        if opts["finops"]:
            from .agents_finops import run

            run(cost_lines=opts["cost_lines"], write=self.stdout.write)
            return
        if opts["revops_tenant"]:
            from .revops_tenant import revops_tenant_benchmark

            for line in revops_tenant_benchmark(opts["revops_tenant"], opts["revops_deals"],
                                                load=not opts["revops_skip_load"]):
                self.stdout.write(line)
            return
        rng = random.Random(opts["seed"])
        today = date(2026, 3, 1)
        deals, accounts = synthetic_deals(opts["deals"], rng, today)
        costs, resources = synthetic_costs(opts["cost_lines"], opts["resources"], rng, today)

        started = time.perf_counter()
        rev = revops.analyze(opportunities=deals, accounts=accounts, today=today)
        rev_s = time.perf_counter() - started
        started = time.perf_counter()
        fin = finops.analyze(costs=costs, resources=resources)
        fin_s = time.perf_counter() - started

        # What every read of a run does to its findings (agents.selectors.run_findings): bring stored
        # findings to the current shape (a no-op on a run written now, beside the ids it checks).
        found = rev.findings + fin.findings
        started = time.perf_counter()
        normalized = findings_normalize(found, currency=None)
        norm_ms = (time.perf_counter() - started) * 1000

        self.stdout.write(f"revops: {len(deals):,} deals in {rev_s:.2f}s "
                          f"({len(deals) / max(rev_s, 1e-9):,.0f} rows/s); "
                          f"{rev.metrics['at_risk_count']:,} at risk, {len(rev.findings):,} findings")
        self.stdout.write(f"finops: {len(costs):,} cost lines + {len(resources):,} resources in {fin_s:.2f}s "
                          f"({len(costs) / max(fin_s, 1e-9):,.0f} rows/s); {fin.metrics['anomaly_count']:,} anomalies, "
                          f"savings {fin.metrics['estimated_monthly_savings']:,.2f}/month")
        self.stdout.write(f"findings as read: {len(normalized):,} findings normalized in {norm_ms:.1f} ms")
