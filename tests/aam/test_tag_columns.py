"""Tag columns (CUR `resourceTags/user:Team`, `tags.Team`, …) are collected into the entity's `tags` JSON."""

import csv
import json

import pyarrow as pa
import pytest
from django.conf import settings
from django.db import connection

from aam.ingest import services as ingest
from aam.ingest.normalize import build_plan, normalize_page
from aam.ingest.tags import collect_tags, tag_columns, tag_key
from connectors.services import connection_create
from dcl.selectors import view_all
from dcl.services import stream_consume, views_materialize
from tests.pipeline.support import duck_rows

COST_FIELDS = {"sub_account_id": "string", "resource_id": "string", "billed_cost": "decimal", "tags": "json"}


@pytest.mark.parametrize(
    "column,key",
    [
        ("resourceTags/user:Team", "Team"),
        ("resourceTags/user:Cost Center", "Cost Center"),
        ("resourceTags/aws:createdBy", "aws:createdBy"),  # AWS's own keys keep their prefix
        ("tags/Team", "Team"),
        ("labels/team", "team"),
        ("tags.Team", "Team"),  # a flattened document
        ("tag:Team", "Team"),
        ("resource_tags_user_team", "team"),  # Athena's CUR
        ("lineItem/UsageType", None),
        ("product/region", None),
        ("configuration.state.name", None),
        ("Tags", None),  # FOCUS: one JSON column, mapped, not collected
        ("tags", None),
        ("resourceTags/user:", None),
    ],
)
def test_tag_columns_are_recognized_by_their_shape(column, key):
    assert tag_key(column) == key


def test_tags_become_one_json_object_per_record_without_empty_values():
    table = pa.table({
        "resourceTags/user:Team": ["search", None, "", 'a "quoted"\\ value\nwith\x01controls\x00', "  "],
        "resourceTags/aws:createdBy": [None, None, None, "x", "y"],
        "tags.Env": pa.array([1, None, 3, None, None]),  # typed values come as text
        "lineItem/UsageType": ["BoxUsage"] * 5,
    })
    found = tag_columns(table.column_names)
    assert found == {"Team": "resourceTags/user:Team", "aws:createdBy": "resourceTags/aws:createdBy",
                     "Env": "tags.Env"}
    out = collect_tags(table, found).to_pylist()
    assert [json.loads(v) if v else v for v in out] == [
        {"Env": "1", "Team": "search"},
        None,
        {"Env": "3"},
        {"Team": 'a "quoted"\\ value\nwith\x01controls', "aws:createdBy": "x"},  # NUL dropped: jsonb refuses it
        {"aws:createdBy": "y"},
    ]


def _plan(mapping, fields=COST_FIELDS):
    return build_plan(entity="cost", source_object="cur", mapping_fields=mapping, entity_fields=fields,
                      id_fields=("identity/LineItemId",), fingerprint="fp", mapping_version=1)


CUR_PAGE = pa.table({
    "identity/LineItemId": ["l1", "l2", "l3"],
    "lineItem/ResourceId": ["i-1", "vol-2", None],
    "lineItem/UnblendedCost": ["4.608", "1.33", "0.5"],
    "lineItem/UsageType": ["BoxUsage:m5.xlarge", "EBS:VolumeUsage.gp3", "Tax"],
    "resourceTags/user:Team": ["search", "", None],
    "resourceTags/user:CostCenter": ["CC-1100", None, None],
})
CUR_MAPPING = {"lineItem/ResourceId": "resource_id", "lineItem/UnblendedCost": "billed_cost",
               "lineItem/UsageType": None, "resourceTags/user:Team": None, "resourceTags/user:CostCenter": None}


def test_a_page_carries_the_collected_tags_and_the_other_unmapped_columns_in_extras():
    page = normalize_page(CUR_PAGE, _plan(CUR_MAPPING))
    rows = page.table.to_pylist()
    assert [json.loads(r["tags"]) if r["tags"] else None for r in rows] == [
        {"CostCenter": "CC-1100", "Team": "search"}, None, None]
    # Each raw value travels once: tags in `tags`, the rest of the unmapped record in `_extras`.
    assert [json.loads(r["_extras"]) for r in rows] == [
        {"identity/LineItemId": "l1", "lineItem/UsageType": "BoxUsage:m5.xlarge"},
        {"identity/LineItemId": "l2", "lineItem/UsageType": "EBS:VolumeUsage.gp3"},
        {"identity/LineItemId": "l3", "lineItem/UsageType": "Tax"},
    ]


def test_an_entity_without_a_tags_field_keeps_tag_columns_as_extras():
    fields = {k: v for k, v in COST_FIELDS.items() if k != "tags"}
    page = normalize_page(CUR_PAGE, _plan(CUR_MAPPING, fields))
    assert "tags" not in page.table.column_names
    assert json.loads(page.table["_extras"][0].as_py())["resourceTags/user:Team"] == "search"


def test_a_tag_column_mapped_onto_tags_itself_is_collected_like_the_others():
    page = normalize_page(CUR_PAGE, _plan({**CUR_MAPPING, "resourceTags/user:Team": "tags"}))
    assert json.loads(page.table["tags"][0].as_py()) == {"CostCenter": "CC-1100", "Team": "search"}


def test_a_mapped_tags_column_wins_where_it_has_tags_and_the_tag_columns_stay_in_extras():
    table = CUR_PAGE.append_column("Tags", pa.array(['{"team": "focus"}', "{}", None]))
    page = normalize_page(table, _plan({**CUR_MAPPING, "Tags": "tags"}))
    assert [json.loads(v) if v else v for v in page.table["tags"].to_pylist()] == [{"team": "focus"}, None, None]
    assert json.loads(page.table["_extras"][0].as_py())["resourceTags/user:CostCenter"] == "CC-1100"


CUR_HEADER = [
    "identity/LineItemId", "bill/PayerAccountId", "lineItem/UsageAccountId", "lineItem/LineItemType",
    "lineItem/UsageStartDate", "lineItem/UsageEndDate", "lineItem/ProductCode", "lineItem/UsageType",
    "lineItem/ResourceId", "lineItem/UsageAmount", "lineItem/CurrencyCode", "lineItem/UnblendedCost",
    "lineItem/LineItemDescription", "product/region",
    "resourceTags/user:Team", "resourceTags/user:Environment", "resourceTags/user:CostCenter",
]
DAY = ["2026-09-23T00:00:00Z", "2026-09-24T00:00:00Z", "AmazonEC2"]
CUR_ROWS = [
    ["l1", "111122223333", "111122223333", "Usage", *DAY, "USW2-BoxUsage:m5.xlarge", "i-053d461eb95dea021", "24",
     "USD", "4.608", "$0.1920 per Hrs", "us-west-2", "search", "prod", "CC-1100"],
    ["l2", "111122223333", "111122223333", "Usage", *DAY, "USW2-EBS:VolumeUsage.gp3", "vol-0ae7ab61b713a2663",
     "16.67", "USD", "1.3333", "$0.08 per GB-Mo", "us-west-2", 'Search, "core"', "", ""],
    ["l3", "111122223333", "111122223333", "Usage", *DAY, "USW2-ElasticIP:IdleAddress", "eipalloc-07445ddac32e4da66",
     "24", "USD", "0.12", "$0.005 per Hrs", "us-west-2", "", "", ""],
    ["l4", "111122223333", "111122223333", "Tax", "2026-09-01T00:00:00Z", "2026-10-01T00:00:00Z", "AmazonEC2", "",
     "", "", "USD", "12.5", "Tax", "", "", "", ""],
]


@pytest.mark.django_db
def test_a_cur_export_lands_its_tags_in_the_cost_view(in_tenant_a):
    folder = settings.DATA_DIR / "cur-tags"
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "cost_and_usage_report.csv", "w", newline="") as out:
        csv.writer(out).writerows([CUR_HEADER, *CUR_ROWS])
    conn = connection_create(name="cur", kind="filesource", config={"folder": str(folder), "source_system": "aws_cur"})
    result = ingest.connection_sync(connection=conn)
    assert result.records_published == 4 and result.quarantined == 0
    stream_consume(tenant=connection.tenant, until_idle=True, idle_seconds=0)
    views_materialize(tenant=connection.tenant)
    tags = {r["resource_id"]: r["tags"] for r in view_all(entity="cost")}
    assert tags == {
        "i-053d461eb95dea021": {"Team": "search", "Environment": "prod", "CostCenter": "CC-1100"},
        "vol-0ae7ab61b713a2663": {"Team": 'Search, "core"'},
        "eipalloc-07445ddac32e4da66": None,
        None: None,
    }
    # The raw tag values are not also carried as extras; the other unmapped columns still are.
    extras = dict(duck_rows(connection.tenant, "SELECT _source_id, _extras FROM src_cost"))
    assert "resourceTags/user:Team" not in extras["l1"]
    assert json.loads(extras["l3"])["lineItem/UsageType"] == "USW2-ElasticIP:IdleAddress"
