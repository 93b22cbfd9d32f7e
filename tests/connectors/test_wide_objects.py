"""Objects with 600 fields: the SaaS drivers keep every request under the vendors' URL limits
(HubSpot: batch read with properties in the body; Salesforce: the Composite API; Dynamics: $select in
chunks joined by primary id) and still return every field of every record."""

from __future__ import annotations

import datetime as dt
import uuid

import httpx
import pytest

from connectors.errors import ConnectorError, PermanentError, TransientError
from connectors.kinds.dynamics.testserver import ACCOUNT_ATTRIBUTES, FakeDynamics, dyn_datetime
from connectors.kinds.hubspot.testserver import FakeHubSpot, hs_datetime
from connectors.kinds.salesforce.testserver import FakeSalesforce, sf_datetime
from connectors.registry import build_driver

WIDE = 600
START = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


def no_sleep(seconds: float) -> None:
    pass


def read_all(driver, name, cursor=None, page_size=1000):
    pages = list(driver.read(name, cursor, page_size))
    return [r for p in pages for r in p.rows()], pages


# --- HubSpot ---------------------------------------------------------------------------------------


def wide_companies(n: int) -> list[dict]:
    return [
        {
            "hs_object_id": str(7_000_000 + i),
            "hs_lastmodifieddate": hs_datetime(START + dt.timedelta(minutes=i)),
            **{f"custom_property_number_{p:04d}": f"v{i}-{p}" for p in range(WIDE - 2)},
        }
        for i in range(130)
    ]


@pytest.fixture
def wide_hs():
    with FakeHubSpot(objects={"companies": wide_companies(130)}) as fake:
        yield fake


def hs_driver(fake):
    return build_driver("hubspot", fake.config(), fake.secrets(), sleep=no_sleep)


def test_hubspot_object_with_600_properties_is_listed_within_the_url_limit(wide_hs):
    names = list(wide_hs.objects["companies"][0])
    naive = httpx.URL(f"{wide_hs.url}/crm/v3/objects/companies", params={"properties": ",".join(names)})
    assert len(names) == WIDE and len(str(naive)) > wide_hs.max_url  # one GET with them all is refused

    records, pages = read_all(hs_driver(wide_hs), "companies", page_size=100)

    assert len(records) == 130 and len(pages) == 2
    assert records[129]["custom_property_number_0597"] == "v129-597"
    assert all(len(r) == WIDE + 2 for r in records)  # every property, plus id and archived
    assert wide_hs.longest_target() <= wide_hs.max_url
    assert wide_hs.count("/batch/read", "POST") == 2  # one batch read per page
    assert pages[-1].cursor == {"since": records[-1]["hs_lastmodifieddate"]}


def test_hubspot_discover_samples_every_one_of_600_properties(wide_hs):
    (companies,) = hs_driver(wide_hs).discover()
    assert len(companies.fields) == WIDE
    last = next(f for f in companies.fields if f.name == "custom_property_number_0597")
    assert last.samples[:2] == ["v0-597", "v1-597"]
    assert wide_hs.longest_target() <= wide_hs.max_url


def test_hubspot_incremental_search_sends_600_properties_in_the_body(wide_hs):
    since = wide_hs.objects["companies"][120]["hs_lastmodifieddate"]
    records, _ = read_all(hs_driver(wide_hs), "companies", cursor={"since": since}, page_size=100)
    assert [r["id"] for r in records] == [str(7_000_000 + i) for i in range(120, 130)]
    assert records[0]["custom_property_number_0300"] == "v120-300"
    assert wide_hs.longest_target() <= wide_hs.max_url


def test_hubspot_record_deleted_between_list_and_batch_read_is_dropped_not_half_read(wide_hs):
    original = wide_hs._batch_read

    def delete_then_read(obj, body):  # the record goes after the listing named it
        wide_hs.objects[obj] = [r for r in wide_hs.objects[obj] if r["hs_object_id"] != "7000105"]
        return original(obj, body)

    wide_hs._batch_read = delete_then_read
    records, _ = read_all(hs_driver(wide_hs), "companies", page_size=100)
    assert "7000105" not in {r["id"] for r in records}
    assert len(records) == 129 and all(len(r) == WIDE + 2 for r in records)


def test_hubspot_object_with_few_properties_still_lists_with_one_get_per_page():
    with FakeHubSpot() as fake:
        records, _ = read_all(hs_driver(fake), "companies", page_size=5)
        assert len(records) == 12
        assert fake.count("/batch/read") == 0


# --- Salesforce ------------------------------------------------------------------------------------


def wide_accounts(n: int) -> list[dict]:
    return [
        {
            "Id": f"0015g00000{i:05d}AAA",
            "SystemModstamp": sf_datetime(START + dt.timedelta(minutes=i)),
            **{f"Very_Long_Custom_Property_Name_{p:04d}__c": f"v{i}-{p}" for p in range(WIDE - 2)},
        }
        for i in range(n)
    ]


@pytest.fixture
def wide_sf():
    with FakeSalesforce(objects={"Account": wide_accounts(9)}, max_batch=4) as fake:
        yield fake


def sf_driver(fake):
    return build_driver("salesforce", fake.config(), fake.secrets(), sleep=no_sleep)


def test_salesforce_object_with_600_fields_is_queried_through_the_composite_api(wide_sf):
    names = list(wide_sf.objects["Account"][0])
    soql = f"SELECT {', '.join(names)} FROM Account ORDER BY SystemModstamp ASC, Id ASC"
    naive = httpx.URL(f"{wide_sf.url}/services/data/v60.0/query", params={"q": soql})
    assert len(str(naive)) > 16_384  # Salesforce refuses such a GET with 414

    records, pages = read_all(sf_driver(wide_sf), "Account")

    assert len(records) == 9 and len(pages) == 3  # nextRecordsUrl pages after the composite call
    assert all(len(r) == WIDE for r in records)
    assert records[8]["Very_Long_Custom_Property_Name_0597__c"] == "v8-597"
    assert wide_sf.count("/composite", "POST") == 1
    assert wide_sf.count("/query", "GET") == 2
    assert wide_sf.longest_target() <= 16_384


def test_salesforce_wide_incremental_read_resumes_through_the_composite_api(wide_sf):
    driver = sf_driver(wide_sf)
    first, pages = read_all(driver, "Account")
    cursor = pages[0].cursor
    rest, _ = read_all(driver, "Account", cursor=cursor)
    assert [r["Id"] for r in rest] == [r["Id"] for r in first[4:]]
    assert rest[0]["Very_Long_Custom_Property_Name_0100__c"] == "v4-100"
    (account,) = driver.discover()
    assert len(account.fields) == WIDE and account.cursor_field == "SystemModstamp"
    assert wide_sf.longest_target() <= 16_384


@pytest.mark.parametrize(("status", "error"), [(400, ConnectorError), (503, TransientError), (401, PermanentError)])
def test_salesforce_composite_subrequest_errors_keep_their_meaning(wide_sf, status, error):
    wide_sf._query = lambda request: (status, [{"errorCode": "X", "message": f"inner {status}"}], {})
    with pytest.raises(error, match=f"the query answered {status}: inner {status}"):
        read_all(sf_driver(wide_sf), "Account")


def test_salesforce_query_longer_than_soql_allows_is_a_clear_error_without_a_request():
    accounts = [
        {
            "Id": "0015g0000000001AAA",
            "SystemModstamp": sf_datetime(START),
            **{f"Extremely_Long_Custom_Field_Name_Number_{p:05d}__c": "x" for p in range(2500)},
        }
    ]
    with FakeSalesforce(objects={"Account": accounts}) as fake:
        driver = sf_driver(fake)
        with pytest.raises(ConnectorError, match="Salesforce accepts 100,000"):
            read_all(driver, "Account")
        assert fake.count("/query") == 0 and fake.count("/composite") == 0


def test_salesforce_short_queries_still_use_a_plain_get():
    with FakeSalesforce() as fake:
        records, _ = read_all(sf_driver(fake), "Account")
        assert len(records) == 25 and fake.count("/composite") == 0


# --- Dynamics --------------------------------------------------------------------------------------


def wide_attribute_names() -> list[tuple[str, str]]:
    """600 attributes with Dataverse's longest logical names (50 characters); one in three a lookup."""
    out = []
    for p in range(WIDE - len(ACCOUNT_ATTRIBUTES)):
        name = f"new_{'customattribute' * 3}{p:04d}"[:46] + f"{p:04d}"
        out.append((name, "Lookup" if p % 3 == 0 else "String"))
    return out


def wide_dynamics(n: int, *, track_changes: bool = False) -> FakeDynamics:
    extra = wide_attribute_names()
    records = []
    for i in range(n):
        record = {
            "accountid": str(uuid.UUID(int=i + 1)),
            "name": f"Account {i}",
            "modifiedon": dyn_datetime(START + dt.timedelta(minutes=10 * (i // 2))),
        }
        for name, kind in extra:
            record[f"_{name}_value" if kind == "Lookup" else name] = f"v{i}-{name[-4:]}"
        records.append(record)
    fake = FakeDynamics(records=records, max_page=10, track_changes=track_changes)
    fake.entities["account"]["attributes"] = ACCOUNT_ATTRIBUTES + [(n, t, None) for n, t in extra]
    return fake


@pytest.fixture
def wide_dyn():
    """An environment that does not track the entity's changes: keyset paging on modifiedon."""
    with wide_dynamics(25) as fake:
        yield fake


def test_dynamics_wide_entity_tracked_delta_joins_its_chunks_and_reports_removals():
    with wide_dynamics(25, track_changes=True) as fake:
        driver = dyn_driver(fake)
        records, pages = read_all(driver, "account", page_size=10)
        assert len(records) == 25 and all(p.from_start for p in pages)
        assert all(len(r) == WIDE - 1 for r in records) and "delta" in pages[-1].cursor
        rows = fake.entities["account"]["records"]
        text = wide_attribute_names()[-2][0]
        rows[4][text] = "changed"
        gone = rows.pop(7)["accountid"]
        changed, delta = read_all(driver, "account", cursor=pages[-1].cursor, page_size=10)
        assert [r["accountid"] for r in changed] == [str(uuid.UUID(int=5))] and changed[0][text] == "changed"
        assert len(changed[0]) == WIDE - 1  # the other chunks joined by id
        assert [k for p in delta for k in p.removed] == [gone] and not any(p.from_start for p in delta)
        assert delta[-1].cursor["delta"] != pages[-1].cursor["delta"]


def dyn_driver(fake):
    return build_driver("dynamics", fake.config(), fake.secrets(), sleep=no_sleep)


def test_dynamics_entity_with_600_attributes_is_read_in_select_chunks_joined_by_id(wide_dyn):
    driver = dyn_driver(wide_dyn)
    columns = [c[0] for c in driver.metadata("account")["columns"]]
    naive = httpx.URL(f"{wide_dyn.url}/api/data/v9.2/accounts", params={"$select": ",".join(columns)})
    assert len(columns) == WIDE - 1 and len(str(naive)) > wide_dyn.max_url  # one $select is refused

    records, pages = read_all(driver, "account", page_size=10)

    assert len(records) == 25 and len(pages) == 3
    last = records[-1]
    assert last["accountid"] == str(uuid.UUID(int=25))
    assert all(len(r) == len(columns) for r in records)
    assert list(last) == columns  # the columns in the entity's order, whatever the chunking
    (lookup, _), (text, kind) = wide_attribute_names()[0], wide_attribute_names()[-2]
    assert kind == "String" and last[text] == f"v24-{text[-4:]}" and last[f"_{lookup}_value"] == "v24-0000"
    assert wide_dyn.longest_target() <= wide_dyn.max_url
    assert wide_dyn.count("/accounts") > 3  # the follow-up chunk requests by id
    assert pages[-1].cursor == {"modifiedon": last["modifiedon"], "id": last["accountid"]}


def test_dynamics_wide_read_resumes_from_a_cursor_and_discovers_every_attribute(wide_dyn):
    driver = dyn_driver(wide_dyn)
    records, pages = read_all(driver, "account", page_size=10)
    rest, _ = read_all(driver, "account", cursor=pages[0].cursor, page_size=10)
    assert [r["accountid"] for r in rest] == [r["accountid"] for r in records[10:]]
    assert rest[0] == records[10]
    (account,) = driver.discover()
    assert len(account.fields) == WIDE - 1
    assert all(f.samples for f in account.fields if f.name.startswith(("new_", "_new_")))


def test_dynamics_record_deleted_between_chunk_requests_is_dropped_not_half_read(wide_dyn):
    original = wide_dyn._entity_set

    def delete_on_first_join(entity, request):
        if "Microsoft.Dynamics.CRM.In" in request.query.get("$filter", ""):
            entity["records"] = [r for r in entity["records"] if r["accountid"] != str(uuid.UUID(int=3))]
        return original(entity, request)

    wide_dyn._entity_set = delete_on_first_join
    records, _ = read_all(dyn_driver(wide_dyn), "account", page_size=10)
    ids = [r["accountid"] for r in records]
    assert str(uuid.UUID(int=3)) not in ids and len(ids) == 24
    assert all(len(r) == WIDE - 1 for r in records)
