"""Salesforce, HubSpot and Dynamics drivers against local servers speaking their real endpoints."""

from __future__ import annotations

import datetime as dt

import pytest

from connectors.errors import PermanentError, TransientError
from connectors.kinds.dynamics.testserver import FakeDynamics
from connectors.kinds.hubspot.testserver import FakeHubSpot, hs_datetime, make_companies
from connectors.kinds.salesforce.testserver import FakeSalesforce, make_accounts, sf_datetime
from connectors.registry import build_driver


class Sleeps(list):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def read_all(driver, name, cursor=None, page_size=1000):
    pages = list(driver.read(name, cursor, page_size))
    return [r for p in pages for r in p.records], pages


# --- Salesforce ------------------------------------------------------------------------------------


@pytest.fixture
def sf():
    with FakeSalesforce(max_batch=4) as fake:
        yield fake


def sf_driver(fake, sleep=None, **secrets):
    return build_driver(
        "salesforce", fake.config(), fake.secrets(**secrets), sleep=Sleeps() if sleep is None else sleep
    )


def test_salesforce_check_and_discover_describe_fields_types_and_samples(sf, settings):
    settings.AAM_MAX_SAMPLES_PER_TABLE = 3
    drv = sf_driver(sf)
    assert drv.check().ok
    (account,) = drv.discover()
    types = {f.name: f.type for f in account.fields}
    assert types == {
        "Id": "string",
        "Name": "string",
        "BillingCity": "string",
        "AnnualRevenue": "number",
        "NumberOfEmployees": "integer",
        "IsDeleted": "boolean",
        "SystemModstamp": "datetime",
    }
    assert account.primary_key == "Id" and account.cursor_field == "SystemModstamp"
    assert all(len(f.samples) <= 3 for f in account.fields)
    assert {"Paris", "Berlin"} == set(next(f for f in account.fields if f.name == "BillingCity").samples)


def test_salesforce_read_follows_next_records_url_across_many_pages(sf):
    records, pages = read_all(sf_driver(sf), "Account")
    assert len(pages) == 7 and len(records) == 25
    assert [r["Name"] for r in records] == [f"Account {i}" for i in range(25)]
    assert "attributes" not in records[0] and "BillingAddress" not in records[0]
    assert sf.count("/query/") == 6


def test_salesforce_resumes_from_a_mid_read_cursor_without_gaps_or_duplicates(sf):
    drv = sf_driver(sf)
    _, pages = read_all(drv, "Account")
    cursor = pages[2].cursor  # after 12 records; records come in pairs sharing a SystemModstamp
    rest, _ = read_all(drv, "Account", cursor)
    assert [r["Name"] for r in rest] == [f"Account {i}" for i in range(12, 25)]


def test_salesforce_incremental_read_returns_only_newer_records(sf):
    drv = sf_driver(sf)
    _, pages = read_all(drv, "Account")
    final = pages[-1].cursor
    assert read_all(drv, "Account", final)[0] == []
    sf.objects["Account"].append(
        {
            **make_accounts(1)[0],
            "Id": "0015g00000ZZZZZAAA",
            "Name": "New",
            "SystemModstamp": sf_datetime(dt.datetime(2030, 1, 1, tzinfo=dt.UTC)),
        }
    )
    new, _ = read_all(drv, "Account", final)
    assert [r["Name"] for r in new] == ["New"]


def test_salesforce_expired_token_is_refreshed_once_then_the_read_succeeds(sf):
    drv = sf_driver(sf)
    read_all(drv, "Account")
    sf.expire_tokens()
    records, _ = read_all(drv, "Account")
    assert len(records) == 25
    assert sf.count("/services/oauth2/token") == 2


def test_salesforce_bad_credentials_are_a_permanent_error_after_one_request(sf):
    drv = build_driver("salesforce", sf.config(), {"client_secret": "wrong"}, sleep=Sleeps())
    with pytest.raises(PermanentError, match="invalid client credentials"):
        drv.check()
    assert len(sf.requests) == 1


def test_salesforce_refresh_token_flow_sends_the_refresh_token(sf):
    drv = build_driver(
        "salesforce", sf.config(auth_flow="refresh_token"), sf.secrets(refresh_token=sf.refresh_token), sleep=Sleeps()
    )
    assert drv.check().ok
    assert sf.requests[0].form()["grant_type"] == "refresh_token"


def test_salesforce_429_waits_for_retry_after_then_retries(sf, settings):
    sleeps = Sleeps()
    sf.fail(429, path="/query", headers={"Retry-After": "1"}, body=[{"errorCode": "REQUEST_LIMIT_EXCEEDED"}])
    records, _ = read_all(sf_driver(sf, sleep=sleeps), "Account")
    assert len(records) == 25
    assert sleeps == [settings.CONNECTORS_HTTP_MAX_WAIT]  # Retry-After 1 s, capped by the max wait in tests


def test_salesforce_401_that_a_refresh_does_not_cure_is_permanent_without_a_loop(sf):
    sf.fail(401, path="/sobjects/", times=10, body=[{"errorCode": "INVALID_SESSION_ID", "message": "Session expired"}])
    with pytest.raises(PermanentError):
        sf_driver(sf).check()
    assert sf.count("/sobjects/") == 2 and sf.count("/services/oauth2/token") == 2


# --- retries (shared plumbing) -------------------------------------------------------------------------


def test_5xx_is_retried_with_growing_backoff_then_succeeds(sf):
    sleeps = Sleeps()
    sf.fail(503, path="/sobjects/", times=2)
    assert sf_driver(sf, sleep=sleeps).check().ok
    assert sf.count("/sobjects/") == 3
    assert len(sleeps) == 2 and sleeps[1] > sleeps[0] * 1.0 - 1e-9


def test_persistent_5xx_gives_a_transient_error_after_bounded_retries(sf, settings):
    sleeps = Sleeps()
    sf.fail(500, path="/sobjects/", times=50)
    with pytest.raises(TransientError):
        sf_driver(sf, sleep=sleeps).check()
    assert sf.count("/sobjects/") == settings.CONNECTORS_HTTP_MAX_RETRIES + 1
    assert len(sleeps) == settings.CONNECTORS_HTTP_MAX_RETRIES


def test_unreachable_host_is_a_transient_error(settings):
    from tests.conftest import free_port

    port = free_port()  # nothing listens there
    drv = build_driver("hubspot", {"base_url": f"http://127.0.0.1:{port}"}, {"access_token": "x"}, sleep=Sleeps())
    with pytest.raises(TransientError, match="unreachable"):
        drv.check()


def test_retry_after_accepts_seconds_and_http_dates():
    import email.utils

    import httpx

    from connectors.http import retry_after_seconds

    assert retry_after_seconds(httpx.Response(429, headers={"Retry-After": "7"})) == 7.0
    future = email.utils.format_datetime(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=30), usegmt=True)
    assert 25 < retry_after_seconds(httpx.Response(429, headers={"Retry-After": future})) <= 30
    assert retry_after_seconds(httpx.Response(429)) is None


def test_private_hosts_are_refused_unless_allowed(settings):
    from django.core.exceptions import ValidationError

    from connectors.registry import validate_settings

    settings.CONNECTORS_ALLOW_PRIVATE_NETWORK = False
    with pytest.raises(ValidationError) as info:
        validate_settings("hubspot", {"base_url": "http://example.com"}, {"access_token": "x"})
    assert "must use https" in str(info.value.message_dict["config.base_url"])
    for host in ("https://127.0.0.1:9", "https://169.254.169.254", "https://localhost", "https://10.1.2.3"):
        drv = build_driver("hubspot", {"base_url": host}, {"access_token": "x"}, sleep=Sleeps())
        with pytest.raises(PermanentError, match="private or local address"):
            drv.check()


# --- HubSpot -------------------------------------------------------------------------------------


@pytest.fixture
def hs():
    with FakeHubSpot() as fake:
        yield fake


def hs_driver(fake, sleep=None, token=None):
    return build_driver(
        "hubspot", fake.config(), {"access_token": token or fake.token}, sleep=Sleeps() if sleep is None else sleep
    )


def test_hubspot_discover_reads_properties_with_types(hs):
    drv = hs_driver(hs)
    assert drv.check().ok
    (companies,) = drv.discover()
    types = {f.name: f.type for f in companies.fields}
    assert types["hs_object_id"] == "number" and types["hs_lastmodifieddate"] == "datetime"
    assert types["name"] == "string"
    assert companies.primary_key == "hs_object_id" and companies.cursor_field == "hs_lastmodifieddate"


def test_hubspot_lists_with_after_paging_then_searches_incrementally(hs):
    drv = hs_driver(hs)
    records, pages = read_all(drv, "companies", page_size=5)
    assert len(pages) == 3 and len(records) == 12
    assert pages[0].cursor["after"] == "5"
    final = pages[-1].cursor
    assert final == {"since": hs.objects["companies"][-1]["hs_lastmodifieddate"]}
    hs.objects["companies"][3]["hs_lastmodifieddate"] = hs_datetime(dt.datetime(2030, 1, 1, tzinfo=dt.UTC))
    changed, _ = read_all(drv, "companies", final, page_size=5)
    # the boundary record (same timestamp as the cursor) is read again; the changed one is new
    assert [r["name"] for r in changed] == ["Company 11", "Company 3"]
    assert hs.count("/search", "POST") == 1


def test_hubspot_records_carry_the_labels_of_enumeration_values_in_listings_and_searches():
    deals = [
        {"hs_object_id": "1", "dealname": "Won", "dealstage": "closedwon", "hubspot_owner_id": "101",
         "hs_product_interest": "a;b", "hs_lastmodifieddate": "2024-01-01T00:00:00.000Z"},
        {"hs_object_id": "2", "dealname": "Custom", "dealstage": "9876543", "hubspot_owner_id": "102",
         "hs_product_interest": "", "hs_lastmodifieddate": "2024-01-02T00:00:00.000Z"},
    ]
    with FakeHubSpot(objects={"deals": deals}) as fake:
        drv = hs_driver(fake)
        assert drv.labels("deals")["dealstage"]["closedwon"] == "Closed Won"
        listed, pages = read_all(drv, "deals")
        searched, _ = read_all(drv, "deals", {"since": "2024-01-01T00:00:00.000Z"})
        for records in (listed, searched):
            by_id = {r["hs_object_id"]: r for r in records}
            assert by_id["1"]["dealstage"] == "Closed Won" and by_id["1"]["hs_product_interest"] == "Alpha;Beta"
            assert by_id["2"]["dealstage"] == "9876543"  # a stage with no option (deleted since) stays
            assert {by_id["1"]["hubspot_owner_id"], by_id["2"]["hubspot_owner_id"]} == {"101", "102"}  # ids stay ids
        (deal_obj,) = drv.discover()
        stage = next(f for f in deal_obj.fields if f.name == "dealstage")
        assert "Closed Won" in stage.samples


def test_hubspot_resumes_a_cut_off_listing_from_its_after_token(hs):
    drv = hs_driver(hs)
    first = next(iter(drv.read("companies", None, 5)))
    rest, _ = read_all(drv, "companies", first.cursor, page_size=5)
    assert [r["name"] for r in rest] == [f"Company {i}" for i in range(5, 12)]


def test_hubspot_search_restarts_before_the_10000_result_window(hs, monkeypatch):
    from connectors.kinds.hubspot import driver as driver_module
    from connectors.kinds.hubspot import testserver as fake_module

    monkeypatch.setattr(driver_module, "SEARCH_WINDOW", 6)
    monkeypatch.setattr(fake_module, "SEARCH_WINDOW", 6)
    hs.objects["companies"] = make_companies(20)
    since = hs.objects["companies"][0]["hs_lastmodifieddate"]
    records, _ = read_all(hs_driver(hs), "companies", {"since": since}, page_size=3)
    assert {r["name"] for r in records} == {f"Company {i}" for i in range(20)}


def test_hubspot_bad_token_is_permanent_after_exactly_one_request(hs):
    with pytest.raises(PermanentError, match="Authentication credentials not found"):
        hs_driver(hs, token="pat-wrong").check()
    assert len(hs.requests) == 1


def test_hubspot_429_with_retry_after_is_retried(hs):
    sleeps = Sleeps()
    hs.fail(
        429,
        path="/crm/v3/objects/companies",
        headers={"Retry-After": "0"},
        body={"status": "error", "category": "RATE_LIMITS"},
    )
    records, _ = read_all(hs_driver(hs, sleep=sleeps), "companies")
    assert len(records) == 12 and sleeps == [0.0]


# --- Dynamics ------------------------------------------------------------------------------------


@pytest.fixture
def dyn():
    with FakeDynamics(max_page=4) as fake:
        yield fake


def dyn_driver(fake, sleep=None, secret=None):
    return build_driver(
        "dynamics",
        fake.config(),
        {"client_secret": secret or fake.client_secret},
        sleep=Sleeps() if sleep is None else sleep,
    )


def test_dynamics_discover_uses_entity_definitions_and_lookup_value_names(dyn):
    drv = dyn_driver(dyn)
    assert "application user" in drv.check().message
    (account,) = drv.discover()
    types = {f.name: f.type for f in account.fields}
    assert types == {
        "accountid": "string",
        "name": "string",
        "websiteurl": "string",
        "revenue": "number",
        "numberofemployees": "integer",
        "industrycode": "string",  # option sets arrive as their labels
        "statecode": "string",
        "_parentaccountid_value": "string",
        "modifiedon": "datetime",
        "createdon": "datetime",
    }
    assert account.primary_key == "accountid" and account.cursor_field == "modifiedon"


def test_dynamics_read_follows_next_link_and_resumes_by_modifiedon():
    # an environment that does not track the entity's changes: keyset paging on modifiedon
    with FakeDynamics(max_page=4, track_changes=False) as dyn:
        _keyset_read_resumes(dyn)


def _keyset_read_resumes(dyn):
    drv = dyn_driver(dyn)
    records, pages = read_all(drv, "account")
    assert len(pages) == 4 and len(records) == 15
    assert not any(k.startswith("@") for k in records[0])
    rest, _ = read_all(drv, "account", pages[1].cursor)
    assert [r["name"] for r in rest] == [f"Account {i}" for i in range(8, 15)]
    assert read_all(drv, "account", pages[-1].cursor)[0] == []


def test_dynamics_option_sets_arrive_as_their_labels_and_unlabelled_codes_as_text(dyn):
    dyn.entities["account"]["records"][0]["industrycode"] = 999  # an option with no label (removed since)
    dyn.entities["account"]["records"][1]["industrycode"] = None
    drv = dyn_driver(dyn)
    records, _ = read_all(drv, "account")
    assert [r["industrycode"] for r in records[:3]] == ["999", None, "Wholesale"]
    assert {r["statecode"] for r in records} == {"Active"}
    assert all(isinstance(r["numberofemployees"], int) for r in records)  # other numbers stay numbers
    (account,) = drv.discover()
    assert "Wholesale" in next(f for f in account.fields if f.name == "industrycode").samples


def test_dynamics_expired_token_is_refreshed_once(dyn):
    drv = dyn_driver(dyn)
    drv.check()
    dyn.expire_tokens()
    assert drv.check().ok
    assert dyn.count("/oauth2/v2.0/token") == 2


def test_dynamics_bad_client_secret_is_permanent_after_one_request(dyn):
    with pytest.raises(PermanentError, match="AADSTS7000215"):
        dyn_driver(dyn, secret="nope").check()
    assert len(dyn.requests) == 1


def test_dynamics_tampered_cursor_is_not_put_into_the_filter(dyn):
    records, _ = read_all(dyn_driver(dyn), "account", {"modifiedon": "2024-01-01T00:00:00Z) or (1 eq 1", "id": "x"})
    assert len(records) == 15
    assert all("1 eq 1" not in r.query.get("$filter", "") for r in dyn.requests)
