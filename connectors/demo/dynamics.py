"""Demo Dynamics 365 export: account, contact, opportunity with Dataverse logical names.

Option sets keep their integer values, as the Web API and Dataverse exports (Synapse Link) hold them:
industrycode, customertypecode, leadsourcecode, salesstage, statecode, statuscode,
msdyn_forecastcategory, budgetstatus. Their labels ship beside the tables the way Azure Synapse Link for
Dataverse exports them: `OptionsetMetadata/` with OptionsetMetadata.csv, StateMetadata.csv and
StatusMetadata.csv (the environment's choices; contact.leadsourcecode is customized with the lead's
sources, as many organizations do)."""

from __future__ import annotations

import datetime as dt
import random
import uuid
from pathlib import Path

from ..kinds.dynamics.optionsets import OPTION_SETS
from .crm import (
    _LEAD_SOURCES,
    DYN_SALESSTAGE,
    DYN_STEP,
    SF_PROB,
    Company,
    _deals,
    _person,
    _typo,
    _write,
)

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
                "customertypecode": rng.choice([3, 8, 5]),  # Customer, Prospect, Partner
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
    counts = _write_option_set_metadata(folder / "OptionsetMetadata")
    return counts | {
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


# The choice columns of each exported table; CUSTOMIZED: columns whose options are another table's list.
EXPORTED_CHOICES = {
    "account": ["industrycode", "customertypecode", "statecode", "statuscode"],
    "contact": ["leadsourcecode", "statecode"],
    "opportunity": ["salesstage", "msdyn_forecastcategory", "budgetstatus", "statecode", "statuscode"],
}
CUSTOMIZED = {("contact", "leadsourcecode"): ("lead", "leadsourcecode")}


def _write_option_set_metadata(folder: Path) -> dict[str, int]:
    label = {"IsUserLocalizedLabel": "false", "LocalizedLabelLanguageCode": 1033}
    choices, states, statuses = [], [], []
    for entity, columns in EXPORTED_CHOICES.items():
        for column in columns:
            source_entity, source_column = CUSTOMIZED.get((entity, column), (entity, column))
            for value, text, state in OPTION_SETS[source_entity][source_column]:
                if column == "statecode":
                    states.append({"EntityName": entity, "State": value, **label, "LocalizedLabel": text})
                elif column == "statuscode":
                    statuses.append(
                        {"EntityName": entity, "State": state, "Status": value, **label, "LocalizedLabel": text}
                    )
                else:
                    choices.append(
                        {
                            "EntityName": entity,
                            "OptionSetName": column,
                            "Option": value,
                            **label,
                            "LocalizedLabel": text,
                        }
                    )
    return {
        f"dynamics/{folder.name}/OptionsetMetadata.csv": _write(
            folder / "OptionsetMetadata.csv", list(choices[0]), choices
        ),
        f"dynamics/{folder.name}/StateMetadata.csv": _write(folder / "StateMetadata.csv", list(states[0]), states),
        f"dynamics/{folder.name}/StatusMetadata.csv": _write(
            folder / "StatusMetadata.csv", list(statuses[0]), statuses
        ),
    }
