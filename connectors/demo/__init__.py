"""Demo exports: realistic, seeded CSVs of Salesforce, HubSpot, Dynamics 365 and AWS.

`generate(out_dir, seed=7, scale=1)` writes one folder per system:

    salesforce/    Account.csv Contact.csv Opportunity.csv          (SOQL API names, 18-char ids)
    hubspot/       companies.csv contacts.csv deals.csv             (CRM v3 internal property names)
    dynamics/      account.csv contact.csv opportunity.csv          (Dataverse logical names, option sets)
    aws_cur/       cost_and_usage_report.csv                        (CUR line items, ~60 daily periods)
    aws_inventory/ resources.csv                                    (AWS Config resource inventory)
    azure_cost/    amortized_cost.csv                               (Azure amortized cost details, EUR)

beside the CRM exports, sales quotas (salesforce/Quota.csv, hubspot/quotas.csv) and, with `revision`,
the Salesforce deals as they stand that many snapshots later (connectors/demo/revenue.py).

The same companies appear in several CRMs with small spelling differences (matched by website domain
or normalized name), the deals include stale, overdue and at-risk ones, the CUR has one clear spend
anomaly and untagged resources, and the inventory has stopped-but-billed and idle resources. Output
is deterministic for a given (seed, scale, as_of); `as_of` defaults to today so that "stale" and
"overdue" stay meaningful whenever the demo is seeded.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from pathlib import Path

from .aws import customer_names, write_aws, write_aws_commitments
from .azure import write_azure
from .crm import build_companies
from .dynamics import write_dynamics
from .hubspot import write_hubspot
from .revenue import revise_deals, write_quotas
from .salesforce import write_salesforce


@dataclass(frozen=True)
class DemoSystem:
    label: str  # the demo connection's name
    source_system: str  # the vendor hint stored in the connection's config
    domain: str  # revops / finops
    subdir: str
    files: tuple[str, ...]
    currency: str = ""  # of amounts the export carries no currency for (the connection's setting)


DEMO_SYSTEMS: tuple[DemoSystem, ...] = (
    DemoSystem(
        "Salesforce (demo)", "salesforce", "revops", "salesforce",
        ("Account.csv", "Contact.csv", "Opportunity.csv", "Quota.csv"),
    ),
    DemoSystem("HubSpot (demo)", "hubspot", "revops", "hubspot",
               ("companies.csv", "contacts.csv", "deals.csv", "quotas.csv")),
    DemoSystem(
        "Dynamics 365 (demo)", "dynamics", "revops", "dynamics", ("account.csv", "contact.csv", "opportunity.csv"),
        currency="USD",  # the org's base currency: its export has the currency as a lookup id, not a code
    ),
    DemoSystem("AWS Cost and Usage Report (demo)", "aws_cur", "finops", "aws_cur", ("cost_and_usage_report.csv",)),
    DemoSystem("AWS resource inventory (demo)", "aws_inventory", "finops", "aws_inventory", ("resources.csv",)),
    DemoSystem("Azure cost export (demo)", "azure_cost", "finops", "azure_cost", ("amortized_cost.csv",)),
)


def generate(out_dir: str | Path, *, seed: int = 7, scale: int = 1, as_of: dt.date | None = None,
             revision: int = 0) -> dict[str, int]:
    """Write the demo exports under `out_dir`; returns rows written per file (relative path → rows).
    `revision` > 0 writes the Salesforce deals as they stand that many snapshots later (revenue.py)."""
    if scale < 1:
        raise ValueError("scale must be >= 1")
    out = Path(out_dir)
    as_of = as_of or dt.datetime.now(dt.UTC).date()
    rng = random.Random(f"autonomos-demo:{seed}:{scale}")
    companies = build_companies(rng, count=60 * scale)
    counts: dict[str, int] = {}
    counts.update(write_salesforce(out / "salesforce", companies, random.Random(rng.random()), as_of))
    counts.update(write_hubspot(out / "hubspot", companies, random.Random(rng.random()), as_of))
    counts.update(write_dynamics(out / "dynamics", companies, random.Random(rng.random()), as_of))
    counts.update(write_aws(out, random.Random(rng.random()), as_of, scale=scale))
    # Commitments, customer tags and a second currency (docs/adr/0030): rows after the draws above, from
    # generators of their own, so the figures of the rows above stay as they were.
    customers = customer_names(companies)
    counts["aws_cur/cost_and_usage_report.csv"] += write_aws_commitments(out, as_of, customers, seed=f"{seed}:{scale}")
    counts.update(write_azure(out, as_of, customers, seed=f"{seed}:{scale}"))
    # After every draw of the exports above, from generators of their own: their rows stay as they were.
    counts.update(write_quotas(out, seed=seed, as_of=as_of))
    revise_deals(out, revision=revision, seed=seed, as_of=as_of)
    return counts
