"""Demo Salesforce export: Account, Contact, Opportunity with SOQL API names and 18-char ids.

A multi-currency org: each opportunity's CurrencyIsoCode is its customer's (USD, EUR, GBP). Industry and
LeadSource hold a few values as people type them (trailing space, other case, `N/A`)."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

from .crm import (
    _LEAD_SOURCES,
    SF_PROB,
    SF_STAGES,
    Company,
    _deals,
    _person,
    _write,
    deal_currency,
    dirty,
)

# --- Salesforce ----------------------------------------------------------------------------------

_B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def sf_id(prefix: str, n: int) -> str:
    """An 18-character Salesforce id: key prefix, pod, serial, and the case-safe checksum suffix."""
    serial = ""
    for _ in range(6):
        n, r = divmod(n, 62)
        serial = _B62[r] + serial
    base = f"{prefix}5g0000{serial}"
    assert len(base) == 15
    suffix = ""
    for chunk in range(3):
        bits = 0
        for i, ch in enumerate(base[chunk * 5 : chunk * 5 + 5]):
            if "A" <= ch <= "Z":
                bits |= 1 << i
        suffix += "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"[bits]
    return base + suffix


def _sf_dt(value: dt.datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def write_salesforce(folder: Path, companies: list[Company], rng: random.Random, as_of: dt.date) -> dict[str, int]:
    owners = [sf_id("005", 4000 + i * 7919) for i in range(6)]
    accounts, contacts, opps = [], [], []
    ids = {}
    serial = 100_000
    for company in companies:
        if "salesforce" not in company.systems:
            continue
        serial += rng.randint(3, 900)
        ids[company.key] = sf_id("001", serial)
    for company in companies:
        if company.key not in ids:
            continue
        created = dt.datetime.combine(as_of - dt.timedelta(days=rng.randint(200, 1500)), dt.time(9, 30), tzinfo=dt.UTC)
        modified = dt.datetime.combine(
            as_of - dt.timedelta(days=rng.randint(0, 120)), dt.time(14, rng.randint(0, 59)), tzinfo=dt.UTC
        )
        city, state, postal, country, _ = company.place
        website = rng.choice([f"www.{company.domain}", f"https://{company.domain}", f"http://www.{company.domain}"])
        accounts.append(
            {
                "Id": ids[company.key],
                "Name": f"{company.base}, {company.suffix}" if company.suffix else company.base,
                "Type": rng.choice(
                    ["Customer - Direct", "Prospect", "Customer - Channel", "Channel Partner / Reseller"]
                ),
                "Industry": dirty(company.industry[0], len(accounts)),
                "BillingStreet": company.street,
                "BillingCity": city,
                "BillingState": state,
                "BillingPostalCode": postal,
                "BillingCountry": country,
                "Phone": company.phone,
                "Website": website if rng.random() > 0.08 else "",
                "NumberOfEmployees": company.employees,
                "AnnualRevenue": f"{company.revenue:.2f}" if rng.random() > 0.1 else "",
                "OwnerId": rng.choice(owners),
                "ParentId": ids.get(company.parent, "") if company.parent is not None else "",
                "Description": "",
                "CreatedDate": _sf_dt(created),
                "LastModifiedDate": _sf_dt(modified),
                "SystemModstamp": _sf_dt(modified),
                "IsDeleted": "false",
            }
        )
        contact_ids = []
        for _ in range(rng.randint(1, 4)):
            serial += rng.randint(3, 900)
            person = _person(rng, company)
            cid = sf_id("003", serial)
            contact_ids.append(cid)
            contacts.append(
                {
                    "Id": cid,
                    "AccountId": ids[company.key],
                    "FirstName": person["first"],
                    "LastName": person["last"],
                    "Email": person["email"],
                    "Phone": person["phone"],
                    "MobilePhone": person["mobile"],
                    "Title": person["title"],
                    "Department": person["department"],
                    "LeadSource": rng.choice(_LEAD_SOURCES)[0],
                    "MailingCity": city,
                    "MailingState": state,
                    "MailingCountry": country,
                    "OwnerId": rng.choice(owners),
                    "CreatedDate": _sf_dt(created),
                    "LastModifiedDate": _sf_dt(modified),
                    "SystemModstamp": _sf_dt(modified),
                }
            )
        for deal in _deals(rng, company, as_of, rng.randint(0, 4)):
            serial += rng.randint(3, 900)
            stage = deal.stage
            forecast = (
                "Closed"
                if stage == 6
                else "Omitted"
                if stage == 7
                else "Commit"
                if stage == 5
                else "Best Case"
                if stage >= 3
                else "Pipeline"
            )
            opps.append(
                {
                    "Id": sf_id("006", serial),
                    "AccountId": ids[company.key],
                    "ContactId": rng.choice(contact_ids) if contact_ids and rng.random() < 0.6 else "",
                    "Name": f"{company.base} - {deal.product}",
                    "StageName": SF_STAGES[stage],
                    "Amount": f"{deal.amount:.2f}",
                    "Probability": SF_PROB[stage],
                    "CloseDate": deal.close_date.isoformat(),
                    "IsClosed": "true" if stage >= 6 else "false",
                    "IsWon": "true" if stage == 6 else "false",
                    "Type": "New Customer" if deal.kind == "new" else "Existing Customer - Upgrade",
                    "LeadSource": dirty(deal.lead_source[0], len(opps)),
                    "ForecastCategoryName": forecast,
                    "NextStep": deal.next_step,
                    "CurrencyIsoCode": deal_currency(company),
                    "OwnerId": rng.choice(owners),
                    "CreatedDate": _sf_dt(deal.created),
                    "LastModifiedDate": _sf_dt(deal.modified),
                    "SystemModstamp": _sf_dt(deal.modified),
                    "LastActivityDate": deal.last_activity.isoformat(),
                }
            )
    return {
        "salesforce/Account.csv": _write(folder / "Account.csv", list(accounts[0]) if accounts else ["Id"], accounts),
        "salesforce/Contact.csv": _write(folder / "Contact.csv", list(contacts[0]) if contacts else ["Id"], contacts),
        "salesforce/Opportunity.csv": _write(folder / "Opportunity.csv", list(opps[0]) if opps else ["Id"], opps),
    }
