"""Demo Azure export: a Cost Management amortized cost export (cost details, EA/MCA column names) in
euros, for a subscription with a virtual machine reservation (a Reserved Instance): the VMs it
covers, the days its capacity went unused (`UnusedReservation`), an on-demand VM, and tags naming a
team and a CRM customer, some lines untagged. Its own random generator: the other demo exports'
draws do not change."""

from __future__ import annotations

import csv
import datetime as dt
import json
import random
from pathlib import Path

from .aws import DAYS

BILLING_ACCOUNT = "8611537"
SUBSCRIPTION = "4f2c1b7e-2d1a-4c3e-9b8f-0a1b2c3d4e5f"
RESERVATION_ORDER = "6f2d8a1c-3b4e-4c5d-9e8f-7a6b5c4d3e2f"
RESERVATION_ID = (
    f"/providers/Microsoft.Capacity/reservationOrders/{RESERVATION_ORDER}/reservations/"
    "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d"
)
RESERVATION_NAME = "VM_RI_D4s_v5_westeurope"
RESERVED_HOURLY = 0.121  # EUR per hour per reserved VM, amortized (1 year, 2 instances)
PAYG_HOURLY = 0.192  # EUR per hour, D4s v5 pay-as-you-go
DISK_DAILY = 0.64  # EUR per day, a P10 managed disk

HEADER = [
    "BillingAccountId",
    "BillingAccountName",
    "BillingPeriodStartDate",
    "BillingPeriodEndDate",
    "SubscriptionId",
    "SubscriptionName",
    "ResourceGroup",
    "ResourceLocation",
    "Date",
    "MeterCategory",
    "MeterSubCategory",
    "MeterName",
    "Quantity",
    "UnitOfMeasure",
    "EffectivePrice",
    "CostInBillingCurrency",
    "BillingCurrency",
    "ResourceId",
    "ChargeType",
    "PricingModel",
    "Frequency",
    "ReservationId",
    "ReservationName",
    "InvoiceId",
    "Tags",
]
# (vm, resource group, tags: team and customer index into the CRM companies, covered by the reservation,
# days it is deallocated)
VMS = (
    ("weu-api-1", "rg-api", ("payments", 0), True, range(0)),
    ("weu-api-2", "rg-api", ("payments", 0), True, range(DAYS - 25, DAYS - 15)),  # off ten days: the RI idles
    ("weu-report-1", "rg-reporting", ("data-platform", 1), False, range(0)),
    ("weu-sandbox", "rg-sandbox", None, False, range(0)),
)


def _vm_id(group: str, name: str) -> str:
    return f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{group}/providers/Microsoft.Compute/virtualMachines/{name}"


def write_azure(out: Path, as_of: dt.date, customers: list[str], *, seed: str) -> dict[str, int]:
    rng = random.Random(f"autonomos-demo-azure:{seed}")
    start = as_of - dt.timedelta(days=DAYS)
    rows = []
    for day_index in range(DAYS):
        day = start + dt.timedelta(days=day_index)
        period_start = day.replace(day=1)
        period_end = (period_start + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)
        common = {
            "BillingAccountId": BILLING_ACCOUNT,
            "BillingAccountName": "Demo Co EU",
            "BillingPeriodStartDate": period_start.isoformat(),
            "BillingPeriodEndDate": period_end.isoformat(),
            "SubscriptionId": SUBSCRIPTION,
            "SubscriptionName": "Demo Co Production EU",
            "ResourceLocation": "westeurope",
            "Date": day.isoformat(),
            "BillingCurrency": "EUR",
            "InvoiceId": ""
            if period_start == as_of.replace(day=1)
            else f"E0{period_start:%y%m}{rng.randint(10000, 99999)}",
            "ReservationId": "",
            "ReservationName": "",
        }
        reserved_idle = 0
        for name, group, tagged, covered, off in VMS:
            tags = {}
            if tagged:
                team, customer = tagged
                tags = {"team": team, **({"customer": customers[customer]} if customer < len(customers) else {})}
            vm = {
                **common,
                "ResourceGroup": group,
                "ResourceId": _vm_id(group, name),
                "MeterCategory": "Virtual Machines",
                "MeterSubCategory": "Dsv5 Series",
                "MeterName": "D4s v5",
                "UnitOfMeasure": "1 Hour",
                "Tags": json.dumps(tags) if tags else "",
                "Frequency": "UsageBased",
            }
            if day_index in off:
                reserved_idle += 1 if covered else 0
            elif covered:
                rows.append(
                    {
                        **vm,
                        "Quantity": "24",
                        "EffectivePrice": f"{RESERVED_HOURLY}",
                        "CostInBillingCurrency": f"{RESERVED_HOURLY * 24:.6f}",
                        "ChargeType": "Usage",
                        "PricingModel": "Reservation",
                        "ReservationId": RESERVATION_ID,
                        "ReservationName": RESERVATION_NAME,
                    }
                )
            else:
                hours = 24 if name != "weu-sandbox" else rng.choice((8, 10, 12))
                rows.append(
                    {
                        **vm,
                        "Quantity": str(hours),
                        "EffectivePrice": f"{PAYG_HOURLY}",
                        "CostInBillingCurrency": f"{PAYG_HOURLY * hours:.6f}",
                        "ChargeType": "Usage",
                        "PricingModel": "OnDemand",
                    }
                )
            rows.append(
                {
                    **common,
                    "ResourceGroup": group,
                    "ResourceId": _vm_id(group, name) + "-osdisk",
                    "MeterCategory": "Storage",
                    "MeterSubCategory": "Premium SSD Managed Disks",
                    "MeterName": "P10 LRS Disk",
                    "Quantity": "0.032258",
                    "UnitOfMeasure": "1/Month",
                    "EffectivePrice": "19.84",
                    "CostInBillingCurrency": f"{DISK_DAILY:.6f}",
                    "ChargeType": "Usage",
                    "PricingModel": "OnDemand",
                    "Frequency": "UsageBased",
                    "Tags": vm["Tags"],
                }
            )
        if reserved_idle:
            rows.append(
                {
                    **common,
                    "ResourceGroup": "",
                    "ResourceId": "",
                    "MeterCategory": "Virtual Machines",
                    "MeterSubCategory": "Dsv5 Series",
                    "MeterName": "D4s v5",
                    "Quantity": str(24 * reserved_idle),
                    "UnitOfMeasure": "1 Hour",
                    "EffectivePrice": f"{RESERVED_HOURLY}",
                    "CostInBillingCurrency": f"{RESERVED_HOURLY * 24 * reserved_idle:.6f}",
                    "ChargeType": "UnusedReservation",
                    "PricingModel": "Reservation",
                    "Frequency": "UsageBased",
                    "ReservationId": RESERVATION_ID,
                    "ReservationName": RESERVATION_NAME,
                    "Tags": "",
                }
            )
    path = out / "azure_cost" / "amortized_cost.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=HEADER, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return {"azure_cost/amortized_cost.csv": len(rows)}
