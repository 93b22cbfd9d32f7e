"""Demo exports: deterministic, vendor formats, overlapping companies, the signals the agents need."""

from __future__ import annotations

import csv
import datetime as dt
import re
from collections import Counter

import pytest
from django.core.management import call_command

from connectors.demo import DEMO_SYSTEMS, generate
from connectors.demo.hubspot import RENEWALS_PIPELINE, RENEWALS_STAGE
from connectors.demo.salesforce import sf_id
from connectors.kinds.dynamics.testserver import OPTION_SETS as DYN_OPTION_SETS
from connectors.kinds.hubspot.testserver import PROPERTY_OPTIONS as HS_OPTIONS
from connectors.kinds.salesforce.testserver import PICKLISTS as SF_PICKLISTS
from connectors.kinds.salesforce.testserver import STAGES as SF_STAGES
from connectors.models import Connection
from connectors.registry import build_driver

AS_OF = dt.date(2025, 6, 30)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    generate(out, as_of=AS_OF)
    return out


def rows(path):
    with open(path, newline="", encoding="utf-8-sig") as f:
        return list(csv.DictReader(f))


def test_same_seed_gives_identical_files_and_another_seed_differs(tmp_path, demo):
    generate(tmp_path / "again", as_of=AS_OF)
    generate(tmp_path / "other", seed=8, as_of=AS_OF)
    for system in DEMO_SYSTEMS:
        for name in system.files:
            same = (tmp_path / "again" / system.subdir / name).read_bytes()
            assert same == (demo / system.subdir / name).read_bytes()
    assert (tmp_path / "other/salesforce/Account.csv").read_bytes() != (demo / "salesforce/Account.csv").read_bytes()


def test_salesforce_ids_are_valid_18_character_ids_with_key_prefixes(demo):
    accounts = rows(demo / "salesforce/Account.csv")
    opps = rows(demo / "salesforce/Opportunity.csv")
    assert all(re.fullmatch(r"001[0-9A-Za-z]{15}", a["Id"]) for a in accounts)
    assert all(o["Id"].startswith("006") and len(o["Id"]) == 18 for o in opps)
    assert {o["AccountId"] for o in opps} <= {a["Id"] for a in accounts}
    assert all(sf_id(a["Id"][:3], 0) and a["Id"] == a["Id"][:15] + _checksum(a["Id"][:15]) for a in accounts)
    assert all(re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.000\+0000", a["SystemModstamp"]) for a in accounts)
    assert {o["IsWon"] for o in opps} <= {"true", "false"}


def _checksum(base: str) -> str:
    out = ""
    for chunk in range(3):
        bits = sum(1 << i for i, ch in enumerate(base[chunk * 5 : chunk * 5 + 5]) if ch.isupper())
        out += "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"[bits]
    return out


def test_dynamics_uses_logical_names_guids_and_integer_option_sets(demo):
    opps = rows(demo / "dynamics/opportunity.csv")
    accounts = {a["accountid"] for a in rows(demo / "dynamics/account.csv")}
    assert {o["_parentaccountid_value"] for o in opps} <= accounts
    assert {o["statecode"] for o in opps} <= {"0", "1", "2"}
    assert all(re.fullmatch(r"[0-9a-f-]{36}", o["opportunityid"]) for o in opps)
    assert all(o["modifiedon"].endswith("Z") for o in opps)


def test_hubspot_export_has_internal_property_names_and_a_bom(demo):
    assert (demo / "hubspot/companies.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    deals = rows(demo / "hubspot/deals.csv")
    assert {"hs_object_id", "dealname", "dealstage", "amount", "closedate", "hs_lastmodifieddate"} <= set(deals[0])
    default_stages = {
        "appointmentscheduled",
        "qualifiedtobuy",
        "presentationscheduled",
        "decisionmakerboughtin",
        "contractsent",
        "closedwon",
        "closedlost",
    }
    # the default pipeline's stage ids, and one custom renewals stage (a numeric id) nothing describes
    assert {d["dealstage"] for d in deals} == default_stages | {RENEWALS_STAGE}
    assert {d["pipeline"] for d in deals if d["dealstage"] == RENEWALS_STAGE} == {RENEWALS_PIPELINE}


def test_deals_carry_their_currency_usd_eur_and_gbp_by_the_customers_country(demo):
    sf = rows(demo / "salesforce/Opportunity.csv")
    hs = rows(demo / "hubspot/deals.csv")
    for deals, column in ((sf, "CurrencyIsoCode"), (hs, "deal_currency_code")):
        currencies = Counter(d[column] for d in deals)
        assert set(currencies) == {"USD", "EUR", "GBP"}, column
        assert currencies["USD"] > currencies["EUR"] > 0 and currencies["GBP"] > 0
    countries = {a["Id"]: a["BillingCountry"] for a in rows(demo / "salesforce/Account.csv")}
    assert {countries[o["AccountId"]] for o in sf if o["CurrencyIsoCode"] == "EUR"} <= {"Germany", "France"}
    assert {countries[o["AccountId"]] for o in sf if o["CurrencyIsoCode"] == "GBP"} == {"United Kingdom"}


def test_a_few_values_are_dirty_as_people_type_them(demo):
    industries = Counter(a["Industry"] for a in rows(demo / "salesforce/Account.csv"))
    sources = Counter(o["LeadSource"] for o in rows(demo / "salesforce/Opportunity.csv"))
    for counts in (industries, sources):
        clean = [v for v in counts if v == v.strip() and v != "N/A" and v[:1].isupper()]
        dirty = sum(n for v, n in counts.items() if v not in clean)
        assert 0 < dirty < 0.15 * sum(counts.values())  # a few, not most
    assert any(v.endswith(" ") for v in sources) and any(v == v.lower() for v in sources)
    assert "N/A" in industries or "N/A" in sources
    countries = {c["country"] for c in rows(demo / "hubspot/companies.csv")}
    assert {"United States", "USA", "Deutschland"} <= countries


def test_vendor_values_are_the_vendors_own_lists(demo):
    """The raw forms the vendor APIs describe: what the local vendor servers list as options."""
    sf_lists = {(obj, f): {v for v, _, _ in values} for obj, fs in SF_PICKLISTS.items() for f, values in fs.items()}
    sf_lists[("Opportunity", "StageName")] = {api for api, *_ in SF_STAGES}
    files = {"Account": "salesforce/Account.csv", "Opportunity": "salesforce/Opportunity.csv"}
    for (obj, field), allowed in sf_lists.items():
        found = {r[field] for r in rows(demo / files[obj]) if field in r}
        typed = {v for v in found if v.strip().casefold() not in {a.casefold() for a in allowed} | {"n/a", ""}}
        assert typed == set(), (obj, field)
    hs_files = {
        "companies": ("industry",),
        "deals": ("dealtype", "deal_currency_code"),
        "contacts": ("hs_analytics_source", "hs_lead_status", "lifecyclestage"),
    }
    for name, fields in hs_files.items():
        for field in fields:
            assert {r[field] for r in rows(demo / f"hubspot/{name}.csv")} <= set(HS_OPTIONS[field]), field
    dyn = {
        "account": ("industrycode", "customertypecode", "statecode", "statuscode"),
        "opportunity": ("salesstage", "statecode", "statuscode", "msdyn_forecastcategory"),
    }
    for entity, fields in dyn.items():
        for field in fields:
            codes = {int(r[field]) for r in rows(demo / f"dynamics/{entity}.csv")}
            assert codes <= {v for v, _, _ in DYN_OPTION_SETS[entity][field]}, (entity, field)


def _norm_domain(url: str) -> str:
    return re.sub(r"^(https?://)?(www\.)?", "", url).strip("/").lower()


def test_companies_overlap_across_the_three_crms_with_spelling_differences(demo):
    sf = {_norm_domain(a["Website"]): a["Name"] for a in rows(demo / "salesforce/Account.csv") if a["Website"]}
    hs = {c["domain"]: c["name"] for c in rows(demo / "hubspot/companies.csv")}
    dyn = {_norm_domain(a["websiteurl"]): a["name"] for a in rows(demo / "dynamics/account.csv") if a["websiteurl"]}
    in_all = set(sf) & set(hs) & set(dyn)
    assert len(in_all) >= 8
    assert any(len({sf[d], hs[d], dyn[d]}) == 3 for d in in_all)  # the names differ, the company is the same


def test_revops_data_has_stale_overdue_and_at_risk_open_deals(demo):
    opps = rows(demo / "salesforce/Opportunity.csv")
    open_ = [o for o in opps if o["IsClosed"] == "false"]
    overdue = [o for o in open_ if dt.date.fromisoformat(o["CloseDate"]) < AS_OF]
    stale = [o for o in open_ if (AS_OF - dt.date.fromisoformat(o["LastActivityDate"])).days > 45]
    big_late = [
        o
        for o in open_
        if float(o["Amount"]) > 50_000 and o["StageName"] in ("Proposal/Price Quote", "Negotiation/Review")
    ]
    assert overdue and stale and big_late
    assert {"Closed Won", "Closed Lost"} <= {o["StageName"] for o in opps}


def test_cur_has_60_daily_periods_one_clear_anomaly_and_untagged_spend(demo):
    cur = [r for r in rows(demo / "aws_cur/cost_and_usage_report.csv") if r["lineItem/LineItemType"] == "Usage"]
    daily = Counter()
    for r in cur:
        daily[r["lineItem/UsageStartDate"][:10]] += float(r["lineItem/UnblendedCost"])
    assert len(daily) == 60
    values = sorted(daily.values())
    median = values[len(values) // 2]
    spikes = [d for d, v in daily.items() if v > 2 * median]
    assert 1 <= len(spikes) <= 3
    assert any(not r["resourceTags/user:Team"] for r in cur)
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T00:00:00Z", cur[0]["lineItem/UsageStartDate"])


def test_inventory_matches_cur_resources_and_has_stopped_and_idle_resources(demo):
    inventory = rows(demo / "aws_inventory/resources.csv")
    cur_ids = {r["lineItem/ResourceId"] for r in rows(demo / "aws_cur/cost_and_usage_report.csv")}
    assert {r["resourceId"] for r in inventory} & cur_ids
    stopped = [r for r in inventory if r["configuration.state.name"] == "stopped"]
    stopped_volumes = [
        r
        for r in inventory
        if r["resourceType"] == "AWS::EC2::Volume"
        and any(s["resourceId"] in r["configuration.attachments"] for s in stopped)
    ]
    assert stopped and all(v["resourceId"] in cur_ids for v in stopped_volumes)  # stopped, but storage still billed
    assert any(r["configuration.state"] == "available" and r["resourceType"] == "AWS::EC2::Volume" for r in inventory)
    assert any(r["tags"] == "[]" for r in inventory)


def test_every_demo_file_reads_cleanly_through_the_filesource_driver(demo, settings):
    settings.FILESOURCE_ALLOWED_ROOTS = [str(demo)]
    for system in DEMO_SYSTEMS:
        drv = build_driver("filesource", {"folder": str(demo / system.subdir)}, {})
        objects = {o.name: o for o in drv.discover()}
        assert set(objects) == {f.rsplit(".", 1)[0] for f in system.files}
        for name in objects:
            errors = [e for page in drv.read(name) for e in page.errors]
            assert errors == []


def test_demo_data_command_writes_files(tmp_path):
    call_command("demo_data", out=str(tmp_path / "d"), scale=1, as_of="2025-06-30")
    assert (tmp_path / "d/aws_cur/cost_and_usage_report.csv").stat().st_size > 100_000


@pytest.mark.django_db
def test_demo_connections_ensure_is_idempotent_and_tags_each_vendor(in_tenant_a, settings):
    from connectors.services import demo_connections_ensure

    out = settings.DATA_DIR / "demo"
    generate(out, as_of=AS_OF)
    first = demo_connections_ensure(directory=out)
    second = demo_connections_ensure(directory=out)
    assert [c.pk for c in first] == [c.pk for c in second]
    assert Connection.objects.count() == 6
    systems = {c.config["source_system"]: c for c in second}
    assert set(systems) == {"salesforce", "hubspot", "dynamics", "aws_cur", "aws_inventory", "azure_cost"}
    assert systems["aws_cur"].domain == "finops" and systems["hubspot"].domain == "revops"
    assert systems["salesforce"].config["folder"] == str((out / "salesforce").resolve())


@pytest.mark.django_db
def test_demo_data_command_can_create_the_connections_in_a_tenant(tenant_a, settings, tmp_path):
    from django.core.management import CommandError
    from django_tenants.utils import schema_context

    out = settings.DATA_DIR / "demo-cmd"
    call_command("demo_data", out=str(out), as_of="2025-06-30", tenant="alpha")
    with schema_context("alpha"):
        assert Connection.objects.filter(kind="filesource").count() == 6  # + Azure (docs/adr/0030)
    with pytest.raises(CommandError, match="no tenant"):
        call_command("demo_data", out=str(out), tenant="nope")
    settings.FILESOURCE_ALLOWED_ROOTS = [str(settings.DATA_DIR)]
    with pytest.raises(CommandError, match="outside the allowed folders"):
        call_command("demo_data", out=str(tmp_path / "elsewhere"), tenant="alpha")
