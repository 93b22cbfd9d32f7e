"""A value field with a fallback (ontology `fallback`): an AWS Cost and Usage Report has no service
category column, only lineItem/ProductCode (mapped onto service_name), so its FOCUS service_category
is read from those product codes through the value engine (AmazonEC2 → Compute); a FOCUS export
beside it keeps the category of its own ServiceCategory column, in the same view."""

from __future__ import annotations

import pytest
from django.db import connection

from aam.models import ValueMap
from aam.ontology import OntologyError, parse_ontology
from aam.values.vocab import is_canonical
from dcl.pipeline import pipeline_run
from tests.pipeline.support import csv_connection

pytestmark = pytest.mark.django_db

CUR = (
    "identity/LineItemId,lineItem/UsageAccountId,lineItem/UsageStartDate,lineItem/ProductCode,"
    "lineItem/UnblendedCost,lineItem/CurrencyCode,lineItem/ResourceId\n"
) + """l1,123456789012,2026-11-01T00:00:00Z,AmazonEC2,12.50,USD,i-0abc
l2,123456789012,2026-11-01T00:00:00Z,AmazonS3,3.20,USD,bucket-a
l3,123456789012,2026-11-02T00:00:00Z,AmazonRDS,8.00,USD,db-1
l4,123456789012,2026-11-02T00:00:00Z,AmazonEC2,11.00,USD,i-0abd
l5,123456789012,2026-11-02T00:00:00Z,,1.00,USD,
"""

FOCUS = (
    "BilledCost,BillingCurrency,ChargePeriodStart,ChargeCategory,ProviderName,ServiceCategory,ServiceName,"
    "SubAccountId,ResourceId\n"
) + """4.00,USD,2026-11-01T00:00:00Z,Usage,Microsoft,Storage,Storage Accounts,sub-1,/subscriptions/sub-1/sa
9.00,USD,2026-11-01T00:00:00Z,Usage,Microsoft,Compute,Virtual Machines,sub-1,/subscriptions/sub-1/vm
"""


def _cost_rows() -> list[tuple]:
    with connection.cursor() as cur:
        cur.execute(
            f"SELECT service_name, service_category, service_category_source, service_category_status, "
            f"sources->0->>'connection_id' FROM {connection.tenant.schema_name}.dcl_view_cost"
        )
        return cur.fetchall()


def test_service_category_read_from_product_codes_beside_a_focus_export(in_tenant_a):
    cur = csv_connection("cur-export", "cost_and_usage_report.csv", CUR, source_system="aws")
    info = pipeline_run(tenant=connection.tenant, connection=cur, trigger="test")
    assert all(s.ok for s in info.steps), info.as_dict()
    rows = _cost_rows()
    assert len(rows) == 5
    by_code = {r[0]: r for r in rows if r[0]}
    assert by_code["AmazonEC2"][1:4] == ("Compute", "AmazonEC2", "mapped")
    assert by_code["AmazonS3"][1:4] == ("Storage", "AmazonS3", "mapped")
    assert by_code["AmazonRDS"][1:4] == ("Databases", "AmazonRDS", "mapped")
    # a line without a product code has no category and no state
    assert [r[1:4] for r in rows if not r[0]] == [(None, None, None)]
    # the decisions are the service_category field's, one per distinct code (never per line)
    maps = ValueMap.objects.filter(connection=cur, entity="cost", field="service_category")
    assert sorted(maps.values_list("raw_key", flat=True)) == ["AmazonEC2", "AmazonRDS", "AmazonS3"]
    assert not ValueMap.objects.filter(connection=cur, field="service_name").exists()

    # a FOCUS export maps its own ServiceCategory column: its rows keep theirs, the CUR's still
    # read product codes (a view holding both kinds of source)
    focus = csv_connection("focus-export", "focus_export.csv", FOCUS, source_system="azure")
    info = pipeline_run(tenant=connection.tenant, connection=focus, trigger="test")
    assert all(s.ok for s in info.steps), info.as_dict()
    rows = _cost_rows()
    assert len(rows) == 7
    own = {r[0]: r[1:4] for r in rows if r[4] == str(focus.pk)}
    assert own == {"Storage Accounts": ("Storage", "Storage", "mapped"),
                   "Virtual Machines": ("Compute", "Compute", "mapped")}
    codes = {r[0]: r[1:4] for r in rows if r[4] == str(cur.pk) and r[0]}
    assert codes["AmazonEC2"] == ("Compute", "AmazonEC2", "mapped")
    for _, category, _, state, _ in rows:
        assert category is None or is_canonical("cost", "service_category", category)
        assert state in (None, "mapped")


def _doc(field_spec: dict) -> dict:
    return {
        "entities": {"cost": {"fields": {
            "service_name": {"type": "string"},
            "service_category": {"type": "string", **field_spec},
        }}},
        "value_sets": {"cost.service_category": {"kind": "enum", "values": ["Compute", "Storage"]}},
    }


def test_a_fallback_names_another_field_of_its_entity():
    assert parse_ontology(_doc({"fallback": "service_name"})).entities["cost"].fields[
        "service_category"].fallback == "service_name"
    for bad in ("nope", "service_category"):
        with pytest.raises(OntologyError, match="fallback"):
            parse_ontology(_doc({"fallback": bad}))


def test_one_scan_tells_a_free_text_column_from_the_picklists_beside_it(in_tenant_a, settings):
    """The value stage reads every value column of a source table in one scan (grouping sets): a column
    with more distinct values than the engine takes is free text, the others of the same scan are mapped."""
    settings.AAM_VALUE_MAX_DISTINCT = 4
    lines = [f"l{i},123456789012,2026-11-0{1 + i % 2}T00:00:00Z,Product{i},1.00,{'USD' if i % 2 else 'EUR'},r{i}"
             for i in range(8)]
    cur = csv_connection("cur-wide", "cost_and_usage_report.csv", CUR.splitlines()[0] + "\n" + "\n".join(lines) + "\n",
                         source_system="aws")
    info = pipeline_run(tenant=connection.tenant, connection=cur, trigger="test")
    assert all(s.ok for s in info.steps), info.as_dict()
    assert info.step("values").details["free_text"] >= 1
    rows = _cost_rows()
    assert len(rows) == 8
    # eight product codes: free text, never sent to the engine; the two currencies are mapped
    assert {r[3] for r in rows} == {"free_text"} and {r[1] for r in rows} == {None}
    assert not ValueMap.objects.filter(connection=cur, field="service_category").exists()
    with connection.cursor() as c:
        c.execute(f"SELECT DISTINCT billing_currency, billing_currency_status "
                  f"FROM {connection.tenant.schema_name}.dcl_view_cost")
        assert sorted(c.fetchall()) == [("EUR", "mapped"), ("USD", "mapped")]
