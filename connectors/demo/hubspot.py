"""Demo HubSpot export: companies, contacts, deals with CRM v3 internal property names.

Enumerations keep HubSpot's internal values (`closedwon`, `COMPUTER_SOFTWARE`, `newbusiness`), as the
API and a raw export hold them. Deals carry their currency (`deal_currency_code`: USD, EUR, GBP); a few
sit in a custom renewals pipeline whose numeric stage id nothing else describes; the free-text
country is typed several ways ("USA", "U.S.", "Deutschland")."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

from .crm import (
    _LEAD_SOURCES,
    HS_PROB,
    HS_STAGES,
    Company,
    _deals,
    _person,
    _typo,
    _write,
    deal_currency,
)

# A custom pipeline added by the portal: HubSpot gives custom pipelines and stages numeric ids.
RENEWALS_PIPELINE = "7812345"
RENEWALS_STAGE = "96581473"
# The free-text country as people type it (by the company's serial, so the random draws stay as they were).
COUNTRY_SPELLINGS = {"United States": ("USA", "U.S.", "united states"), "Germany": ("Deutschland",)}

# --- HubSpot -------------------------------------------------------------------------------------


def _hs_dt(value: dt.datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def _spelled(country: str, serial: int) -> str:
    spellings = COUNTRY_SPELLINGS.get(country, ())
    if spellings and serial % 4 == 1:
        return spellings[(serial // 4) % len(spellings)]
    return country


def write_hubspot(folder: Path, companies: list[Company], rng: random.Random, as_of: dt.date) -> dict[str, int]:
    owners = [str(rng.randint(10_000_000, 99_999_999)) for _ in range(5)]
    next_id = rng.randint(5_000_000_000, 9_000_000_000)
    rows_c, rows_p, rows_d = [], [], []
    for company in companies:
        if "hubspot" not in company.systems:
            continue
        next_id += rng.randint(1, 5000)
        cid = str(next_id)
        created = dt.datetime.combine(
            as_of - dt.timedelta(days=rng.randint(100, 1200)), dt.time(11, 5, 7), tzinfo=dt.UTC
        ) + dt.timedelta(milliseconds=rng.randint(0, 999))
        modified = dt.datetime.combine(
            as_of - dt.timedelta(days=rng.randint(0, 90)), dt.time(16, 45, 0), tzinfo=dt.UTC
        ) + dt.timedelta(milliseconds=rng.randint(0, 999))
        city, state, postal, country, _ = company.place
        name = company.base if rng.random() > 0.3 else _typo(rng, company.base)
        rows_c.append(
            {
                "hs_object_id": cid,
                "name": name,
                "domain": company.domain,
                "website": f"https://www.{company.domain}",
                "industry": company.industry[1],
                "numberofemployees": company.employees,
                "annualrevenue": company.revenue if rng.random() > 0.2 else "",
                "phone": company.phone,
                "address": company.street,
                "city": city,
                "state": state,
                "zip": postal,
                "country": _spelled(country, len(rows_c)),
                "hubspot_owner_id": rng.choice(owners),
                "lifecyclestage": rng.choice(["customer", "opportunity", "salesqualifiedlead", "lead"]),
                "createdate": _hs_dt(created),
                "hs_lastmodifieddate": _hs_dt(modified),
            }
        )
        for _ in range(rng.randint(1, 3)):
            next_id += rng.randint(1, 5000)
            person = _person(rng, company)
            rows_p.append(
                {
                    "hs_object_id": str(next_id),
                    "firstname": person["first"],
                    "lastname": person["last"],
                    "email": person["email"],
                    "phone": person["phone"],
                    "mobilephone": person["mobile"],
                    "jobtitle": person["title"],
                    "company": name,
                    "associatedcompanyid": cid,
                    "lifecyclestage": "customer",
                    "hs_lead_status": rng.choice(["NEW", "OPEN", "IN_PROGRESS", "CONNECTED"]),
                    "hs_analytics_source": rng.choice(_LEAD_SOURCES)[1],
                    "city": city,
                    "state": state,
                    "country": country,
                    "hubspot_owner_id": rng.choice(owners),
                    "createdate": _hs_dt(created),
                    "lastmodifieddate": _hs_dt(modified),
                    "hs_lastmodifieddate": _hs_dt(modified),
                }
            )
        for deal in _deals(rng, company, as_of, rng.randint(0, 3)):
            next_id += rng.randint(1, 5000)
            stage = deal.stage
            renewal = stage < 6 and deal.kind == "existing" and len(rows_d) % 7 == 2
            rows_d.append(
                {
                    "hs_object_id": str(next_id),
                    "dealname": f"{name} – {deal.product}",
                    "dealstage": RENEWALS_STAGE if renewal else HS_STAGES[stage],
                    "pipeline": RENEWALS_PIPELINE if renewal else "default",
                    "amount": deal.amount,
                    "deal_currency_code": deal_currency(company),
                    "closedate": _hs_dt(dt.datetime.combine(deal.close_date, dt.time(12), tzinfo=dt.UTC)),
                    "hs_deal_stage_probability": "0.7" if renewal else HS_PROB[stage],
                    "hs_is_closed": "true" if stage >= 6 else "false",
                    "hs_is_closed_won": "true" if stage == 6 else "false",
                    "dealtype": "newbusiness" if deal.kind == "new" else "existingbusiness",
                    "hs_next_step": deal.next_step,
                    "associatedcompanyid": cid,
                    "hubspot_owner_id": rng.choice(owners),
                    "notes_last_updated": _hs_dt(dt.datetime.combine(deal.last_activity, dt.time(10), tzinfo=dt.UTC)),
                    "createdate": _hs_dt(deal.created),
                    "hs_lastmodifieddate": _hs_dt(deal.modified),
                }
            )
    return {
        "hubspot/companies.csv": _write(
            folder / "companies.csv", list(rows_c[0]) if rows_c else ["hs_object_id"], rows_c, bom=True
        ),
        "hubspot/contacts.csv": _write(
            folder / "contacts.csv", list(rows_p[0]) if rows_p else ["hs_object_id"], rows_p, bom=True
        ),
        "hubspot/deals.csv": _write(
            folder / "deals.csv", list(rows_d[0]) if rows_d else ["hs_object_id"], rows_d, bom=True
        ),
    }
