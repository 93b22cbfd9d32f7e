"""A flattened `parent.name` column is filled from `parent` where that holds the plain value: one attribute,
an object on some records and a scalar on others (AWS Config's configuration.state)."""

import pyarrow as pa

from aam.ingest.normalize import build_plan, normalize_page

FIELDS = {"id": "string", "status": "string", "resource_type": "string"}


def _plan(mapping):
    return build_plan(
        entity="cloud_resource",
        source_object="inventory",
        mapping_fields=mapping,
        entity_fields=FIELDS,
        id_fields=("resourceId",),
        fingerprint="f",
        mapping_version=1,
    )


TABLE = pa.table(
    {
        "resourceId": ["i-1", "vol-1", "vol-2", "db-1"],
        "configuration.state.name": ["running", None, None, None],
        "configuration.state": [None, "available", "in-use", None],
    }
)


def test_the_parent_fills_what_the_leaf_leaves_empty():
    plan = _plan({"resourceId": "id", "configuration.state.name": "status", "configuration.state": None})
    assert [f.fallbacks for f in plan.fields if f.canonical == "status"] == [("configuration.state",)]
    out = normalize_page(TABLE, plan).table
    assert out["status"].to_pylist() == ["running", "available", "in-use", None]


def test_a_parent_mapped_elsewhere_or_a_leaf_that_is_not_a_value_is_left_alone():
    taken = _plan({"resourceId": "id", "configuration.state.name": "status", "configuration.state": "resource_type"})
    assert [f.fallbacks for f in taken.fields if f.canonical == "status"] == [()]
    code = _plan({"resourceId": "id", "configuration.state.code": "status"})
    assert [f.fallbacks for f in code.fields if f.canonical == "status"] == [()]  # a code is another value
    out = normalize_page(TABLE, taken).table
    assert out["status"].to_pylist() == ["running", None, None, None]
