"""The demo's known duplicates: which demo accounts and contacts are one real entity across the CRMs.

The demo exports (connectors/demo) draw one list of companies and write each into one, two or three
CRMs, with spelling differences, missing websites and legal suffixes as people type them; each CRM
then draws its own people at that company. So:

- accounts: every CRM's account row of one company is that company (`company-<key>`);
- contacts: rows at the same company with the same first and last name are one person
  (`person-<key>-<first>-<last>`): the generator derives their e-mail from those, so they are the
  same address too; two people of different names at one company are different people;
- opportunities: each CRM draws its own deals, so every deal is a deal of its own
  (`deal-<system>-<id>`): what the resolution merges there is a false merge.

The truth is read from the generator itself (the companies it drew, in the order each CRM writes
them), not from the exports' values, so it does not depend on what the resolution can see. It is
kept as a file (benchmarks/cases/er/demo_truth.csv, rewritten by `manage.py eval_er
--write-demo-truth`; a test checks that it matches the generator) and read by `eval_er --demo`.
"""

from __future__ import annotations

import csv
import datetime as dt
import random
import tempfile
from dataclasses import dataclass
from pathlib import Path

DEMO_TRUTH = Path(__file__).parent / "cases" / "er" / "demo_truth.csv"
TRUTH_COLUMNS = ("entity", "source_system", "source_object", "source_id", "entity_id")
DEMO_SEED = 7  # connectors.demo.generate's default, which seed_demo uses


@dataclass(frozen=True)
class _Crm:
    system: str  # the connection's config source_system
    subdir: str
    account_file: str
    account_id: str
    contact_file: str
    contact_id: str
    contact_account: str  # the contact's column naming its account's id
    first: str
    last: str
    deal_file: str
    deal_id: str


CRMS = (
    _Crm("salesforce", "salesforce", "Account.csv", "Id", "Contact.csv", "Id", "AccountId", "FirstName", "LastName",
         "Opportunity.csv", "Id"),
    _Crm("hubspot", "hubspot", "companies.csv", "hs_object_id", "contacts.csv", "hs_object_id",
         "associatedcompanyid", "firstname", "lastname", "deals.csv", "hs_object_id"),
    _Crm("dynamics", "dynamics", "account.csv", "accountid", "contact.csv", "contactid", "_parentcustomerid_value",
         "firstname", "lastname", "opportunity.csv", "opportunityid"),
)


def _rows(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8-sig") as f:
        return list(csv.DictReader(f))


def demo_truth_rows(*, seed: int = DEMO_SEED, scale: int = 1) -> list[dict]:
    """Every demo account, contact and deal with the real entity it is (TRUTH_COLUMNS), in a stable order."""
    from connectors.demo import generate
    from connectors.demo.crm import build_companies
    from connectors.kinds.filesource.driver import object_name_of

    # the same first draws as generate(): its companies
    companies = build_companies(random.Random(f"autonomos-demo:{seed}:{scale}"), count=60 * scale)
    out: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="er-demo-") as tmp:
        generate(tmp, seed=seed, scale=scale, as_of=dt.date(2026, 1, 1))  # ids and names do not depend on as_of
        for crm in CRMS:
            folder = Path(tmp) / crm.subdir
            members = [c for c in companies if crm.system in c.systems]
            accounts = _rows(folder / crm.account_file)
            if len(accounts) != len(members):
                raise RuntimeError(f"{crm.system}: {len(accounts)} accounts for {len(members)} companies; "
                                   "the demo generator changed, update benchmarks/er_demo.py")
            company_of = {}
            obj = object_name_of(folder / crm.account_file)
            for company, row in zip(members, accounts, strict=True):
                company_of[row[crm.account_id]] = company.key
                out.append({"entity": "account", "source_system": crm.system, "source_object": obj,
                            "source_id": row[crm.account_id].strip(), "entity_id": f"company-{company.key}"})
            obj = object_name_of(folder / crm.contact_file)
            for row in _rows(folder / crm.contact_file):
                key = company_of[row[crm.contact_account]]
                person = f"{row[crm.first].strip().lower()}-{row[crm.last].strip().lower()}"
                out.append({"entity": "contact", "source_system": crm.system, "source_object": obj,
                            "source_id": row[crm.contact_id].strip(), "entity_id": f"person-{key}-{person}"})
            obj = object_name_of(folder / crm.deal_file)
            for row in _rows(folder / crm.deal_file):
                deal = row[crm.deal_id].strip()
                out.append({"entity": "opportunity", "source_system": crm.system, "source_object": obj,
                            "source_id": deal, "entity_id": f"deal-{crm.system}-{deal}"})
    return out


def write_demo_truth(path: Path = DEMO_TRUTH) -> int:
    rows = demo_truth_rows()
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=TRUTH_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return len(rows)


def read_demo_truth(path: Path = DEMO_TRUTH) -> list[dict]:
    return _rows(path)
