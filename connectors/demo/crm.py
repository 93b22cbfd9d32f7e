"""Demo CRM data shared by the three vendors: companies (overlapping across CRMs), people, deals."""

from __future__ import annotations

import csv
import datetime as dt
import random
import unicodedata
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
# (Salesforce Industry picklist value, HubSpot industry internal value, Dynamics 365 account.industrycode
# option value). Dynamics' out-of-the-box list has no "Technology" or "Telecommunications": a company
# picks the nearest of its 33 options, as people do (6 Business Services, 31 Utility Creation and
# Distribution), so the three CRMs disagree the way real ones do.
_INDUSTRIES = [
    ("Technology", "COMPUTER_SOFTWARE", 6),
    ("Finance", "FINANCIAL_SERVICES", 16),
    ("Healthcare", "HOSPITAL_HEALTH_CARE", 11),
    ("Retail", "RETAIL", 22),
    ("Energy", "OIL_ENERGY", 24),
    ("Manufacturing", "MACHINERY", 12),
    ("Telecommunications", "TELECOMMUNICATIONS", 31),
    ("Transportation", "LOGISTICS_AND_SUPPLY_CHAIN", 30),
    ("Media", "MEDIA_PRODUCTION", 3),
    ("Food & Beverage", "FOOD_BEVERAGES", 17),
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
# (Salesforce LeadSource, HubSpot hs_analytics_source, Dynamics 365 leadsourcecode option value).
_LEAD_SOURCES = [
    ("Web", "ORGANIC_SEARCH", 8),
    ("Partner Referral", "REFERRALS", 4),
    ("Trade Show", "OFFLINE", 7),
    ("Advertisement", "PAID_SEARCH", 1),
    ("Employee Referral", "REFERRALS", 2),
]
# Deal currency by the company's country (ISO 4217): European customers buy in their own currency.
CURRENCY_BY_COUNTRY = {"DE": "EUR", "FR": "EUR", "GB": "GBP"}


def deal_currency(company: Company) -> str:
    return CURRENCY_BY_COUNTRY.get(company.place[4], "USD")


def dirty(value: str, serial: int) -> str:
    """Now and then a value as people type it into an export: a trailing space, another case, or the
    placeholder `N/A` (deterministic by the row's serial, so the random draws stay as they were)."""
    if not value:
        return value
    if serial % 23 == 3:
        return value + " "
    if serial % 29 == 7:
        return value.lower() if value != value.lower() else value.upper()
    if serial % 37 == 11:
        return "N/A"
    return value


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
