"""Accounts that share a website domain: one company's name variants merge, different companies do not.

Most tests build the views straight in an in-memory DuckDB (the unifier is SQL over `src_<entity>`);
the last one runs the real path (stream → consumer → views → PostgreSQL).
"""

import hashlib
import random

import duckdb
import pytest
from django.db import connection

from aam.ingest.kinds import Kind
from connectors.models import Connection
from dcl import store
from dcl.selectors import view_all
from dcl.services import views_materialize
from dcl.unify import Unifier, view_spec
from tests.pipeline.support import batches_for, publish

ACCOUNT = {"id": Kind.STRING, "name": Kind.STRING, "website": Kind.STRING, "updated_at": Kind.DATETIME}
CONTACT = {"id": Kind.STRING, "account_id": Kind.STRING, "last_name": Kind.STRING, "email": Kind.STRING}
OPPORTUNITY = {"id": Kind.STRING, "account_id": Kind.STRING, "name": Kind.STRING}
KINDS = {1: "salesforce", 2: "hubspot", 3: "dynamics"}

# Coho Logistics (Salesforce, HubSpot without a website, Dynamics) and Coho Software (Salesforce, Dynamics)
# both use coho.io; Harbor Logistics' three spellings, Northwind Capital's two and Acme's two are one company each.
DEMO_ACCOUNTS = [
    (1, "sf-coho-log", "Coho Logistics", "http://www.coho.io"),
    (2, "hs-coho-log", "Coho Logistics", None),
    (3, "dy-coho-log", "Coho Logistics", "https://www.coho.io/"),
    (1, "sf-coho-sw", "Coho Software, LLC", "https://coho.io"),
    (3, "dy-coho-sw", "Coho Software LLC", "https://www.coho.io/"),
    (1, "sf-harbor", "Harbor Logistics, Corp.", "https://harborlogistics.com"),
    (3, "dy-harbor", "Harbo Logistics Corp", "https://www.harborlogistics.com/"),
    (2, "hs-harbor", "HarborLogistics", "harborlogistics.com"),
    (3, "dy-northwind", "Northwind Capital", "https://www.northwindcapital.io/"),
    (2, "hs-northwind", "NorthwindCapital", "northwindcapital.io"),
    (1, "sf-acme", "Acme", "acme.com"),
    (2, "hs-acme", "Acme Inc", "https://www.acme.com"),
]


def _table(con, entity: str, fields: dict, rows: list[dict]) -> None:
    types = {f: "TIMESTAMPTZ" if k is Kind.DATETIME else "VARCHAR" for f, k in fields.items()}
    cols = {**store.SYSTEM_COLUMNS, **types}
    con.execute(f"CREATE OR REPLACE TABLE src_{entity} ({', '.join(f'{n} {t}' for n, t in cols.items())})")
    for row in rows:
        full = {"_source_object": entity, "_deleted": False, "_ingested_at": "2026-01-01T00:00:00Z", **row}
        names = list(full)
        con.execute(
            f"INSERT INTO src_{entity} ({', '.join(names)}) VALUES ({', '.join('?' for _ in names)})",
            [full[n] for n in names],
        )


def _build(accounts, contacts=(), opportunities=()):
    con = duckdb.connect()
    _table(con, "account", ACCOUNT, [
        {"_connection_id": c, "_source_id": sid, "id": sid, "name": name, "website": site}
        for c, sid, name, site in accounts
    ])
    specs = {"account": view_spec("account", ACCOUNT)}
    if contacts:
        _table(con, "contact", CONTACT, list(contacts))
        specs["contact"] = view_spec("contact", CONTACT)
    if opportunities:
        _table(con, "opportunity", OPPORTUNITY, list(opportunities))
        specs["opportunity"] = view_spec("opportunity", OPPORTUNITY)
    unifier = Unifier(con, specs, KINDS)
    for entity in unifier.present():
        unifier.build(entity)
    return con


def _accounts(con) -> dict[frozenset, str]:
    """{the set of source ids merged into one account: its unified id}."""
    rows = con.execute("""
        SELECT v.unified_id, list(l._source_id ORDER BY l._source_id)
        FROM view_account v JOIN _acc_link l USING (unified_id) GROUP BY ALL""").fetchall()
    return {frozenset(ids): uid for uid, ids in rows}


def _uid(key: str) -> str:
    return "acc_" + hashlib.md5(key.encode()).hexdigest()[:20]


def test_two_companies_sharing_a_domain_are_two_accounts_and_variants_of_one_still_merge():
    groups = set(_accounts(_build(DEMO_ACCOUNTS)))
    assert groups == {
        frozenset({"sf-coho-log", "hs-coho-log", "dy-coho-log"}),
        frozenset({"sf-coho-sw", "dy-coho-sw"}),
        frozenset({"sf-harbor", "dy-harbor", "hs-harbor"}),
        frozenset({"dy-northwind", "hs-northwind"}),
        frozenset({"sf-acme", "hs-acme"}),
    }


def test_the_larger_company_keeps_the_domains_unified_id_and_the_other_gets_a_stable_one_of_its_own():
    accounts = _accounts(_build(DEMO_ACCOUNTS))
    assert accounts[frozenset({"sf-coho-log", "hs-coho-log", "dy-coho-log"})] == _uid("d:coho.io")
    assert accounts[frozenset({"sf-coho-sw", "dy-coho-sw"})] == _uid("d:coho.io|software")
    # Domains whose names agree keep the key they always had.
    assert accounts[frozenset({"sf-harbor", "dy-harbor", "hs-harbor"})] == _uid("d:harborlogistics.com")
    assert accounts[frozenset({"sf-acme", "hs-acme"})] == _uid("d:acme.com")


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_the_accounts_do_not_depend_on_the_order_of_the_rows(seed):
    reference = _accounts(_build(DEMO_ACCOUNTS))
    shuffled = list(DEMO_ACCOUNTS)
    random.Random(seed).shuffle(shuffled)
    assert _accounts(_build(shuffled)) == reference


@pytest.mark.parametrize(
    "names",
    [
        ["Coho", "Coho Inc", "Coho Logistics"],  # the brand alone adds nothing: it joins the account
        ["Coho Logistics", "Coho Logistcs", "Coho Logistics Group"],  # a typo, an addition
        ["Wile E. Coyote Supplies", "Coho Logistics"],  # a name without the brand: the domain decides
        ["Coho US", "Coho UK"],  # too little of their own to call them different companies
        ["Coho Group", "Coho Holdings", "Coho International Inc"],  # form or reach, not a line of business
    ],
)
def test_names_that_do_not_clearly_disagree_stay_one_account(names):
    rows = [(1 + i % 3, f"r{i}", name, "coho.io") for i, name in enumerate(names)]
    assert len(_accounts(_build(rows))) == 1


@pytest.mark.parametrize(
    "names",
    [
        ["Northwind Mfg", "Northwind Manufacturing"],
        ["Wingtip Bros", "Wingtip Brothers"],
        ["Tailspin Svcs", "Tailspin Services"],
        ["Contoso Labs", "Contoso Laboratories"],
        ["Tailspin Mgmt", "Tailspin Management"],
    ],
)
def test_a_common_abbreviation_is_the_same_company(names):
    brand = names[0].split()[0].lower()
    rows = [(1 + i, f"r{i}", name, f"{brand}.com") for i, name in enumerate(names)]
    assert len(_accounts(_build(rows))) == 1


def test_names_that_differ_only_after_a_shared_region_word_are_still_two_companies():
    rows = [(1, "w", "Acme Widgets UK", "acme.co.uk"), (2, "g", "Acme Gadgets UK", "acme.co.uk")]
    assert len(_accounts(_build(rows))) == 2


def test_an_id_stays_with_its_company_when_the_other_one_comes_to_have_more_records():
    con = _build(DEMO_ACCOUNTS)
    logistics = frozenset({"sf-coho-log", "hs-coho-log", "dy-coho-log"})
    assert _accounts(con)[logistics] == _uid("d:coho.io")
    # Two more Coho Software records: Software now has 4, Logistics 3. A re-materialization over the
    # same store (its previous links) must not hand Logistics' id to Software.
    more = [(2, "hs-coho-sw", "Coho Software", "coho.io"), (2, "hs-coho-sw2", "Coho Software Inc", "coho.io")]
    for c, sid, name, site in more:
        con.execute(
            "INSERT INTO src_account (_connection_id, _source_id, id, name, website, _source_object, _deleted, "
            "_ingested_at) VALUES (?, ?, ?, ?, ?, 'account', false, '2026-01-02T00:00:00Z')",
            [c, sid, sid, name, site],
        )
    unifier = Unifier(con, {"account": view_spec("account", ACCOUNT)}, KINDS)
    unifier.build("account")
    accounts = _accounts(con)
    assert accounts[logistics] == _uid("d:coho.io")
    software = frozenset({"sf-coho-sw", "dy-coho-sw", "hs-coho-sw", "hs-coho-sw2"})
    assert accounts[software] == _uid("d:coho.io|software")


def test_three_companies_of_one_brand_and_their_variants():
    rows = [
        (1, "a1", "Coho Logistics", "coho.io"),
        (2, "a2", "Coho Logistic", "coho.io"),
        (1, "b1", "Coho Software", "coho.io"),
        (2, "b2", "CohoSoftware", "https://coho.io/"),
        (3, "b3", "Coho Sofware Ltd", "coho.io"),
        (1, "c1", "Coho Health", "www.coho.io"),
        (3, "x1", "Coho, Inc.", "coho.io"),  # the brand alone: the largest company's account
    ]
    groups = set(_accounts(_build(rows)))
    assert groups == {frozenset({"b1", "b2", "b3", "x1"}), frozenset({"a1", "a2"}), frozenset({"c1"})}


def test_a_domain_label_longer_than_the_brand_still_separates_its_companies():
    # coho-group.com's label is "cohogroup": "Coho ..." names carry its first word, "Coho Group" the whole label.
    rows = [(1, "a", "Coho Logistics", "coho-group.com"), (2, "b", "Coho Software", "https://www.coho-group.com"),
            (3, "c", "Coho Group", "coho-group.com")]
    # One record each: the tie goes to the alphabetically first part ("logistics"), which the brand-only name joins.
    assert set(_accounts(_build(rows))) == {frozenset({"a", "c"}), frozenset({"b"})}


def test_contacts_and_opportunities_follow_their_own_company():
    contacts = [
        {"_connection_id": 1, "_source_id": "c-log", "id": "c-log", "account_id": "sf-coho-log", "last_name": "Lee",
         "email": "lee@coho.io"},
        {"_connection_id": 3, "_source_id": "c-sw", "id": "c-sw", "account_id": "dy-coho-sw", "last_name": "Ray",
         "email": "ray@coho.io"},
        # No account id: the e-mail domain names two accounts now, so no guess is made.
        {"_connection_id": 2, "_source_id": "c-none", "id": "c-none", "account_id": None, "last_name": "Kim",
         "email": "kim@coho.io"},
        # Still linked by e-mail domain where the domain is one account.
        {"_connection_id": 2, "_source_id": "c-acme", "id": "c-acme", "account_id": None, "last_name": "Fox",
         "email": "fox@acme.com"},
    ]
    opportunities = [
        {"_connection_id": 1, "_source_id": "o-log", "id": "o-log", "account_id": "sf-coho-log", "name": "Freight"},
        {"_connection_id": 1, "_source_id": "o-sw", "id": "o-sw", "account_id": "sf-coho-sw", "name": "Licences"},
        {"_connection_id": 2, "_source_id": "o-hs", "id": "o-hs", "account_id": "hs-coho-log", "name": "Trucks"},
    ]
    con = _build(DEMO_ACCOUNTS, contacts, opportunities)
    accounts = _accounts(con)
    logistics = accounts[frozenset({"sf-coho-log", "hs-coho-log", "dy-coho-log"})]
    software = accounts[frozenset({"sf-coho-sw", "dy-coho-sw"})]
    acme = accounts[frozenset({"sf-acme", "hs-acme"})]
    links = dict(con.execute("SELECT id, account_unified_id FROM view_contact").fetchall())
    assert links == {"c-log": logistics, "c-sw": software, "c-none": None, "c-acme": acme}
    opps = dict(con.execute("SELECT id, account_unified_id FROM view_opportunity").fetchall())
    assert opps == {"o-log": logistics, "o-sw": software, "o-hs": logistics}
    names = dict(con.execute("SELECT unified_id, name FROM view_account").fetchall())
    assert names[software].startswith("Coho Software") and names[logistics] == "Coho Logistics"


def test_a_crowded_domain_is_split_by_exact_name_without_pairwise_comparisons():
    # A placeholder domain shared by 60 companies, more than NAME_SPLIT_MAX_NAMES: their names are alike enough
    # to be linked if compared pairwise, but only exact names merge (the first company from a second source).
    rows = [(1, f"p{i}", f"Example Company{i:03d} {chr(97 + i % 26)}", "example.com") for i in range(60)]
    rows.append((2, "again", "Example Company000 A, Inc.", "www.example.com"))
    accounts = _accounts(_build(rows))
    assert len(accounts) == 60
    assert frozenset({"p0", "again"}) in accounts


ACCOUNT_MAP = {"Id": "id", "Name": "name", "Website": "website", "LastModifiedDate": "updated_at"}
CONTACT_MAP = {"Id": "id", "AccountId": "account_id", "LastName": "last_name", "Email": "email",
               "LastModifiedDate": "updated_at"}


@pytest.mark.django_db
def test_coho_logistics_and_coho_software_are_two_accounts_in_the_published_view(in_tenant_a):
    t = in_tenant_a
    sf = Connection.objects.create(name="SF", kind="salesforce")
    dy = Connection.objects.create(name="DY", kind="dynamics")
    for conn, stamp, records in (
        (sf, "2026-01-01T00:00:00Z", [{"Id": "001L", "Name": "Coho Logistics", "Website": "http://www.coho.io"},
                                      {"Id": "001S", "Name": "Coho Software, LLC", "Website": "https://coho.io"}]),
        (dy, "2026-02-01T00:00:00Z", [{"Id": "d-L", "Name": "Coho Logistics", "Website": "https://www.coho.io/"},
                                      {"Id": "d-S", "Name": "Coho Software LLC", "Website": "https://www.coho.io/"}]),
    ):
        for r in records:
            r["LastModifiedDate"] = stamp
        publish(t, conn.pk, batches_for(t, conn.pk, records, entity="account", mapping=ACCOUNT_MAP,
                                        source_object="Account"))
    publish(t, sf.pk, batches_for(t, sf.pk, [
        {"Id": "003A", "AccountId": "001S", "LastName": "Ray", "Email": "ray@coho.io",
         "LastModifiedDate": "2026-01-01T00:00:00Z"}], entity="contact", mapping=CONTACT_MAP, source_object="Contact"))
    views_materialize(tenant=connection.tenant)
    accounts = {r["name"]: r for r in view_all(entity="account")}
    assert sorted(accounts) == ["Coho Logistics", "Coho Software LLC"]  # the freshest name: Dynamics'
    software = accounts["Coho Software LLC"]
    assert software["source_count"] == 2 and accounts["Coho Logistics"]["source_count"] == 2
    assert {s["source_id"] for s in software["sources"]} == {"001S", "d-S"}
    [contact] = view_all(entity="contact")
    assert contact["account_unified_id"] == software["unified_id"]
    assert accounts["Coho Logistics"]["unified_id"] == _uid("d:coho.io")
