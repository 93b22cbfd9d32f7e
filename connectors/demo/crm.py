"""Demo CRM exports: the same companies in Salesforce, HubSpot and Dynamics 365, vendor formats."""

from __future__ import annotations

import csv
import datetime as dt
import random
import unicodedata
import uuid
from dataclasses import dataclass, field
from pathlib import Path

_FIRST = [
    "Northwind",
    "Contoso",
    "Fabrikam",
    "Globex",
    "Initech",
    "Tailspin",
    "Wingtip",
    "Litware",
    "Proseware",
    "Lucerne",
    "Alpine",
    "Blue Yonder",
    "Coho",
    "Woodgrove",
    "Humongous",
    "Northbridge",
    "Silverline",
    "Redwood",
    "Bluebird",
    "Ironclad",
    "Brightpath",
    "Cobalt",
    "Evergreen",
    "Summit",
    "Pinnacle",
    "Harbor",
    "Keystone",
    "Meridian",
    "Quantum",
    "Vertex",
    "Atlas",
    "Beacon",
    "Cascade",
    "Crescent",
    "Falcon",
    "Granite",
    "Horizon",
    "Juniper",
    "Lakeshore",
    "Maple",
    "Nimbus",
    "Orchid",
    "Polaris",
    "Riverbend",
    "Sapphire",
    "Timberline",
    "Vanguard",
    "Willow",
    "Zenith",
    "Aurora",
    "Bridgewater",
    "Müller & Söhne",
    "Société Générale Logistique",
    "Nordlicht",
    "Café Olé",
]
_SECOND = [
    "Systems",
    "Labs",
    "Logistics",
    "Health",
    "Energy",
    "Foods",
    "Financial",
    "Analytics",
    "Robotics",
    "Media",
    "Retail",
    "Manufacturing",
    "Software",
    "Partners",
    "Networks",
    "Biotech",
    "Capital",
    "Motors",
    "Apparel",
    "Telecom",
]
_SUFFIXES = ["Inc.", "LLC", "Ltd.", "Corp.", "GmbH", "", "", "Co."]
_TLDS = ["com", "com", "com", "io", "net", "co", "de"]
_INDUSTRIES = [  # (Salesforce picklist, HubSpot enum, Dynamics industrycode option value)
    ("Technology", "COMPUTER_SOFTWARE", 33),
    ("Finance", "FINANCIAL_SERVICES", 6),
    ("Healthcare", "HOSPITAL_HEALTH_CARE", 10),
    ("Retail", "RETAIL", 27),
    ("Energy", "OIL_ENERGY", 30),
    ("Manufacturing", "MACHINERY", 9),
    ("Telecommunications", "TELECOMMUNICATIONS", 32),
    ("Transportation", "LOGISTICS_AND_SUPPLY_CHAIN", 21),
    ("Media", "MEDIA_PRODUCTION", 17),
    ("Food & Beverage", "FOOD_BEVERAGES", 8),
]
_PLACES = [
    ("Seattle", "WA", "98101", "United States", "US"),
    ("Austin", "TX", "78701", "United States", "US"),
    ("Boston", "MA", "02110", "United States", "US"),
    ("Chicago", "IL", "60601", "United States", "US"),
    ("San Francisco", "CA", "94105", "United States", "US"),
    ("New York", "NY", "10001", "United States", "US"),
    ("Toronto", "ON", "M5H 2N2", "Canada", "CA"),
    ("London", "", "EC2A 4NE", "United Kingdom", "GB"),
    ("München", "BY", "80331", "Germany", "DE"),
    ("Paris", "", "75002", "France", "FR"),
]
_FIRST_NAMES = [
    "Ada",
    "Ben",
    "Chloé",
    "Dmitri",
    "Elena",
    "Farah",
    "Gustavo",
    "Hana",
    "Ivan",
    "Jamal",
    "Keiko",
    "Liam",
    "María",
    "Noah",
    "Olivia",
    "Priya",
    "Quinn",
    "Rafael",
    "Sofia",
    "Tomás",
    "Uma",
    "Victor",
    "Wen",
    "Yusuf",
    "Zoë",
]
_LAST_NAMES = [
    "Anderson",
    "Bauer",
    "Chen",
    "Dubois",
    "Eriksen",
    "Fischer",
    "García",
    "Haddad",
    "Ito",
    "Jensen",
    "Kowalski",
    "López",
    "Martin",
    "Nakamura",
    "O'Brien",
    "Patel",
    "Rossi",
    "Schmidt",
    "Tanaka",
    "Usman",
    "Varga",
    "Weber",
    "Xu",
    "Young",
    "Zimmermann",
]
_TITLES = [
    ("VP Sales", "Sales"),
    ("CFO", "Finance"),
    ("Head of IT", "IT"),
    ("Procurement Manager", "Procurement"),
    ("Director of Operations", "Operations"),
    ("CTO", "Engineering"),
    ("Marketing Lead", "Marketing"),
]
_PRODUCTS = [
    "Platform License",
    "Analytics Add-on",
    "Premium Support",
    "Data Migration",
    "Enterprise Expansion",
    "Renewal",
    "Pilot",
    "Training Package",
]
_LEAD_SOURCES = [
    ("Web", "WEBSITE", 8),
    ("Partner Referral", "REFERRALS", 5),
    ("Trade Show", "EVENT", 6),
    ("Advertisement", "PAID_SEARCH", 1),
    ("Employee Referral", "REFERRALS", 2),
]

# Neutral stage index 0..5 = open (early → late), 6 = won, 7 = lost.
SF_STAGES = [
    "Prospecting",
    "Qualification",
    "Needs Analysis",
    "Value Proposition",
    "Proposal/Price Quote",
    "Negotiation/Review",
    "Closed Won",
    "Closed Lost",
]
SF_PROB = [10, 20, 20, 50, 75, 90, 100, 0]
HS_STAGES = [
    "appointmentscheduled",
    "qualifiedtobuy",
    "presentationscheduled",
    "decisionmakerboughtin",
    "contractsent",
    "contractsent",
    "closedwon",
    "closedlost",
]
HS_PROB = ["0.2", "0.4", "0.6", "0.8", "0.9", "0.9", "1.0", "0.0"]
DYN_SALESSTAGE = [0, 0, 1, 2, 2, 3, 3, 3]  # Qualify, Develop, Propose, Close
DYN_STEP = ["1-Qualify", "1-Qualify", "2-Develop", "3-Propose", "3-Propose", "4-Close", "4-Close", "4-Close"]


@dataclass
class Company:
    key: int
    base: str
    suffix: str
    domain: str
    industry: tuple
    employees: int
    revenue: int
    place: tuple
    street: str
    phone: str
    systems: set[str] = field(default_factory=set)
    parent: int | None = None


@dataclass
class Deal:
    product: str
    amount: int
    stage: int
    created: dt.datetime
    close_date: dt.date
    modified: dt.datetime
    last_activity: dt.date
    next_step: str
    lead_source: tuple
    kind: str  # new / existing


def _ascii_slug(text: str) -> str:
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(ch for ch in plain.lower() if ch.isalnum())


def build_companies(rng: random.Random, count: int) -> list[Company]:
    names = [(a, b) for a in _FIRST for b in _SECOND]
    rng.shuffle(names)
    companies = []
    for key in range(count):
        first, second = names[key % len(names)]
        base = f"{first} {second}" if key < len(names) else f"{first} {second} {key // len(names) + 1}"
        slug = _ascii_slug(first) + (_ascii_slug(second) if rng.random() < 0.6 else "")
        suffix = rng.choice(_SUFFIXES)
        company = Company(
            key=key,
            base=base,
            suffix=suffix,
            domain=f"{slug}{'' if key < len(names) else key}.{rng.choice(_TLDS)}",
            industry=rng.choice(_INDUSTRIES),
            employees=int(rng.lognormvariate(5.5, 1.4)) + 5,
            revenue=rng.randrange(2, 900) * 1_000_000,
            place=rng.choice(_PLACES),
            street=f"{rng.randint(1, 999)} {rng.choice(['Main', 'Market', 'Harbor', 'Pine', 'Elm', 'Oak'])} St",
            phone=f"+1 ({rng.randint(200, 989)}) 555-{rng.randint(1000, 9999)}",
        )
        roll = rng.random()
        # Overlap: about a third in all three CRMs, most in two, some only in one.
        if roll < 0.35:
            company.systems = {"salesforce", "hubspot", "dynamics"}
        elif roll < 0.55:
            company.systems = {"salesforce", "hubspot"}
        elif roll < 0.7:
            company.systems = {"salesforce", "dynamics"}
        elif roll < 0.8:
            company.systems = {"hubspot", "dynamics"}
        else:
            company.systems = {rng.choice(["salesforce", "hubspot", "dynamics"])}
        companies.append(company)
    for company in companies[::9][1:]:  # a few subsidiaries
        company.parent = companies[0].key
    return companies


def _deals(rng: random.Random, company: Company, as_of: dt.date, count: int) -> list[Deal]:
    deals = []
    for _ in range(count):
        created = dt.datetime.combine(
            as_of - dt.timedelta(days=rng.randint(20, 400)),
            dt.time(rng.randint(8, 18), rng.randint(0, 59), rng.randint(0, 59)),
            tzinfo=dt.UTC,
        )
        roll = rng.random()
        stage = 6 if roll < 0.22 else 7 if roll < 0.37 else rng.randint(0, 5)
        amount = int(rng.lognormvariate(10.3, 0.9)) // 100 * 100 + 500
        if stage >= 6:
            close = created.date() + dt.timedelta(days=rng.randint(20, 150))
            close = min(close, as_of - dt.timedelta(days=1))
            modified_date = close
            activity = close
        else:
            pattern = rng.random()
            if pattern < 0.2:  # overdue: the close date passed and the deal is still open
                close = as_of - dt.timedelta(days=rng.randint(3, 60))
                activity = as_of - dt.timedelta(days=rng.randint(5, 40))
            elif pattern < 0.4:  # stale: no activity for months
                close = as_of + dt.timedelta(days=rng.randint(10, 120))
                activity = as_of - dt.timedelta(days=rng.randint(60, 180))
            elif pattern < 0.5:  # at risk: big, late stage, closing soon, quiet
                stage = rng.choice([4, 5])
                amount = amount * 4 + 50_000
                close = as_of + dt.timedelta(days=rng.randint(3, 20))
                activity = as_of - dt.timedelta(days=rng.randint(25, 45))
            else:  # healthy
                close = as_of + dt.timedelta(days=rng.randint(7, 150))
                activity = as_of - dt.timedelta(days=rng.randint(0, 12))
            activity = max(activity, created.date())
            modified_date = activity
        modified = dt.datetime.combine(
            modified_date, dt.time(rng.randint(7, 20), rng.randint(0, 59), rng.randint(0, 59)), tzinfo=dt.UTC
        )
        modified = max(modified, created)
        next_step = (
            ""
            if rng.random() < 0.35
            else rng.choice(
                ["Send proposal", "Schedule demo", "Legal review", "Pricing call", "Security questionnaire"]
            )
        )
        deals.append(
            Deal(
                product=rng.choice(_PRODUCTS),
                amount=amount,
                stage=stage,
                created=created,
                close_date=close,
                modified=modified,
                last_activity=activity,
                next_step=next_step,
                lead_source=rng.choice(_LEAD_SOURCES),
                kind=rng.choice(["new", "new", "existing"]),
            )
        )
    return deals


def _person(rng: random.Random, company: Company) -> dict:
    first, last = rng.choice(_FIRST_NAMES), rng.choice(_LAST_NAMES)
    title, department = rng.choice(_TITLES)
    local = f"{first}.{last}".lower().replace("'", "")
    local = local.translate(str.maketrans("éóáíöüë", "eoaioue"))
    return {
        "first": first,
        "last": last,
        "email": f"{local}@{company.domain}",
        "title": title,
        "department": department,
        "phone": f"+1 ({rng.randint(200, 989)}) 555-{rng.randint(1000, 9999)}",
        "mobile": f"+1 ({rng.randint(200, 989)}) 555-{rng.randint(1000, 9999)}",
    }


def _write(path: Path, header: list[str], rows: list[dict], *, bom: bool = False) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8-sig" if bom else "utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=header, lineterminator="\r\n")
        writer.writeheader()
        writer.writerows(rows)
    return len(rows)


def _typo(rng: random.Random, name: str) -> str:
    """A small spelling difference of the kind people type into a second CRM."""
    choice = rng.random()
    if choice < 0.3:
        return name.replace(" ", "", 1) if " " in name else name
    if choice < 0.55:
        return name.upper() if len(name) < 14 else name.lower().title()
    if choice < 0.8 and len(name) > 6:
        i = rng.randint(2, len(name) - 3)
        return name[:i] + name[i + 1 :]
    return name.replace("&", "and")


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
                "Type": rng.choice(["Customer - Direct", "Prospect", "Customer - Channel", "Partner"]),
                "Industry": company.industry[0],
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
                    "LeadSource": deal.lead_source[0],
                    "ForecastCategoryName": forecast,
                    "NextStep": deal.next_step,
                    "CurrencyIsoCode": "USD",
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


# --- HubSpot -------------------------------------------------------------------------------------


def _hs_dt(value: dt.datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


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
                "country": country,
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
            rows_d.append(
                {
                    "hs_object_id": str(next_id),
                    "dealname": f"{name} – {deal.product}",
                    "dealstage": HS_STAGES[stage],
                    "pipeline": "default",
                    "amount": deal.amount,
                    "deal_currency_code": "USD",
                    "closedate": _hs_dt(dt.datetime.combine(deal.close_date, dt.time(12), tzinfo=dt.UTC)),
                    "hs_deal_stage_probability": HS_PROB[stage],
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


# --- Dynamics 365 --------------------------------------------------------------------------------


def _dyn_dt(value: dt.datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def _guid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def write_dynamics(folder: Path, companies: list[Company], rng: random.Random, as_of: dt.date) -> dict[str, int]:
    owners = [_guid(rng) for _ in range(5)]
    ids = {c.key: _guid(rng) for c in companies if "dynamics" in c.systems}
    accounts, contacts, opps = [], [], []
    for company in companies:
        if company.key not in ids:
            continue
        created = dt.datetime.combine(
            as_of - dt.timedelta(days=rng.randint(60, 900)), dt.time(8, 12, 40), tzinfo=dt.UTC
        )
        modified = dt.datetime.combine(as_of - dt.timedelta(days=rng.randint(0, 60)), dt.time(17, 3, 2), tzinfo=dt.UTC)
        city, state, postal, country, _ = company.place
        suffix = company.suffix.replace(".", "")
        name = f"{company.base} {suffix}".strip()
        if rng.random() < 0.35:
            name = _typo(rng, name)
        accounts.append(
            {
                "accountid": ids[company.key],
                "name": name,
                "accountnumber": f"ACC-{10000 + company.key}",
                "websiteurl": f"https://www.{company.domain}/" if rng.random() > 0.15 else "",
                "telephone1": company.phone,
                "emailaddress1": f"info@{company.domain}",
                "address1_line1": company.street,
                "address1_city": city,
                "address1_stateorprovince": state,
                "address1_postalcode": postal,
                "address1_country": country,
                "numberofemployees": company.employees,
                "revenue": f"{company.revenue:.4f}",
                "industrycode": company.industry[2],
                "customertypecode": rng.choice([1, 3, 11]),
                "_parentaccountid_value": ids.get(company.parent, "") if company.parent is not None else "",
                "_ownerid_value": rng.choice(owners),
                "statecode": 0,
                "statuscode": 1,
                "createdon": _dyn_dt(created),
                "modifiedon": _dyn_dt(modified),
            }
        )
        contact_ids = []
        for _ in range(rng.randint(1, 3)):
            person = _person(rng, company)
            contact_id = _guid(rng)
            contact_ids.append(contact_id)
            contacts.append(
                {
                    "contactid": contact_id,
                    "firstname": person["first"],
                    "lastname": person["last"],
                    "fullname": f"{person['first']} {person['last']}",
                    "emailaddress1": person["email"],
                    "telephone1": person["phone"],
                    "mobilephone": person["mobile"],
                    "jobtitle": person["title"],
                    "department": person["department"],
                    "_parentcustomerid_value": ids[company.key],
                    "address1_city": city,
                    "address1_country": country,
                    "leadsourcecode": rng.choice(_LEAD_SOURCES)[2],
                    "_ownerid_value": rng.choice(owners),
                    "statecode": 0,
                    "createdon": _dyn_dt(created),
                    "modifiedon": _dyn_dt(modified),
                }
            )
        for deal in _deals(rng, company, as_of, rng.randint(0, 3)):
            stage = deal.stage
            state_code = 1 if stage == 6 else 2 if stage == 7 else 0
            status_code = 3 if stage == 6 else rng.choice([4, 5]) if stage == 7 else rng.choice([1, 1, 1, 2])
            forecast = (
                100000005
                if stage == 6
                else 100000006
                if stage == 7
                else 100000003
                if stage == 5
                else 100000002
                if stage >= 3
                else 100000001
            )
            opps.append(
                {
                    "opportunityid": _guid(rng),
                    "name": f"{deal.product} for {name}",
                    "_parentaccountid_value": ids[company.key],
                    "_parentcontactid_value": rng.choice(contact_ids) if rng.random() < 0.5 else "",
                    "estimatedvalue": f"{deal.amount:.4f}",
                    "actualvalue": f"{deal.amount:.4f}" if stage == 6 else "",
                    "estimatedclosedate": deal.close_date.isoformat(),
                    "actualclosedate": deal.close_date.isoformat() if stage >= 6 else "",
                    "closeprobability": SF_PROB[stage],
                    "salesstage": DYN_SALESSTAGE[stage],
                    "stepname": DYN_STEP[stage],
                    "statecode": state_code,
                    "statuscode": status_code,
                    "msdyn_forecastcategory": forecast,
                    "budgetstatus": rng.choice([0, 1, 2, 3]),
                    "description": deal.next_step,
                    "_ownerid_value": rng.choice(owners),
                    "createdon": _dyn_dt(deal.created),
                    "modifiedon": _dyn_dt(deal.modified),
                }
            )
    return {
        "dynamics/account.csv": _write(
            folder / "account.csv", list(accounts[0]) if accounts else ["accountid"], accounts
        ),
        "dynamics/contact.csv": _write(
            folder / "contact.csv", list(contacts[0]) if contacts else ["contactid"], contacts
        ),
        "dynamics/opportunity.csv": _write(
            folder / "opportunity.csv", list(opps[0]) if opps else ["opportunityid"], opps
        ),
    }
