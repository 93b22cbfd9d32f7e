"""Several source columns mapped onto one canonical field feed it in order: the first good value of a
record wins (docs/adr/0031-coalesce-source-columns.md). An AWS CUR carries a Savings Plan's id in
`savingsPlan/SavingsPlanARN` and a Reserved Instance's in `reservation/ReservationARN`, on other lines;
FOCUS has one CommitmentDiscountId."""

import pyarrow as pa

from aam.ingest.normalize import build_plan, normalize_page, wire_schema

FIELDS = {
    "id": "string",
    "billed_cost": "decimal",
    "effective_cost": "decimal",
    "commitment_discount_id": "string",
    "charge_period_start": "datetime",
    "status": "string",
}
SP = "arn:aws:savingsplans::111:savingsplan/sp-1"
RI = "arn:aws:ec2:us-east-1:111:reserved-instances/ri-1"
MAPPING = {
    "identity/LineItemId": "id",
    "lineItem/UnblendedCost": "billed_cost",
    "savingsPlan/SavingsPlanARN": "commitment_discount_id",
    "reservation/ReservationARN": "commitment_discount_id",
}


def _plan(mapping=MAPPING, fields=FIELDS):
    return build_plan(
        entity="cost",
        source_object="cur",
        mapping_fields=mapping,
        entity_fields=fields,
        id_fields=("identity/LineItemId",),
        fingerprint="f",
        mapping_version=1,
        confidences={"savingsPlan/SavingsPlanARN": 0.95, "reservation/ReservationARN": 0.9},
    )


def _table(sp, ri, cost=None):
    n = len(sp)
    return pa.table(
        {
            "identity/LineItemId": [f"l{i}" for i in range(n)],
            "lineItem/UnblendedCost": cost or ["1.5"] * n,
            "reservation/ReservationARN": ri,
            "savingsPlan/SavingsPlanARN": sp,
        }
    )


def test_two_columns_on_one_field_feed_it_and_the_first_value_of_a_line_wins():
    plan = _plan()
    [field] = [f for f in plan.fields if f.canonical == "commitment_discount_id"]
    assert field.feeds == ("savingsPlan/SavingsPlanARN", "reservation/ReservationARN")
    assert plan.mapped_sources >= {"savingsPlan/SavingsPlanARN", "reservation/ReservationARN"}
    assert [f.name for f in wire_schema(plan)].count("commitment_discount_id") == 1
    assert plan.confidences["commitment_discount_id"] == 0.95  # the first column's
    out = normalize_page(_table([SP, "", None, "sp-both"], [None, RI, "  ", "ri-both"]), plan)
    assert out.rejected == []
    assert out.table["commitment_discount_id"].to_pylist() == [SP, RI, None, "sp-both"]
    assert "_extras" not in out.table.column_names  # neither column travels in `_extras` as unmapped


def test_the_order_is_the_mappings_order_of_its_columns():
    reversed_mapping = dict(reversed(list(MAPPING.items())))
    plan = _plan(reversed_mapping)
    [field] = [f for f in plan.fields if f.canonical == "commitment_discount_id"]
    assert field.feeds == ("reservation/ReservationARN", "savingsPlan/SavingsPlanARN")
    assert plan.confidences["commitment_discount_id"] == 0.9  # the first column's
    out = normalize_page(_table(["sp"], ["ri"]), plan).table
    assert out["commitment_discount_id"].to_pylist() == ["ri"]


def test_a_bad_value_in_one_column_never_hides_another_columns_good_value():
    mapping = {"identity/LineItemId": "id", "a": "billed_cost", "b": "billed_cost"}
    plan = build_plan(entity="cost", source_object="x", mapping_fields=mapping, entity_fields=FIELDS,
                      id_fields=("identity/LineItemId",), fingerprint="f", mapping_version=1)
    table = pa.table({
        "identity/LineItemId": ["l1", "l2", "l3", "l4", "l5"],
        "a": ["oops", "2", "", "nope", "3"],
        "b": ["4", "bad", "5", "", ""],
    })
    out = normalize_page(table, plan)
    # l1: a is bad, b good → b; l2: a good, b's bad value is never read; l3: a empty → b;
    # l4: a bad and b empty → rejected as before; l5: a only
    assert [r.source_id for r in out.rejected] == ["l4"]
    assert "billed_cost" in out.rejected[0].reason and "nope" in out.rejected[0].reason
    landed = out.table
    assert landed["_source_id"].to_pylist() == ["l1", "l2", "l3", "l5"]
    assert [float(v) for v in landed["billed_cost"].to_pylist()] == [4, 2, 5, 3]
    # the record whose first column held a bad value says so
    assert landed["_dq"].to_pylist()[0] == "invalid_alternative:billed_cost"
    assert landed["_dq"].to_pylist()[1:] == [None, None, None]


def test_two_bad_values_give_both_reasons():
    mapping = {"identity/LineItemId": "id", "a": "billed_cost", "b": "billed_cost"}
    plan = build_plan(entity="cost", source_object="x", mapping_fields=mapping, entity_fields=FIELDS,
                      id_fields=("identity/LineItemId",), fingerprint="f", mapping_version=1)
    out = normalize_page(pa.table({"identity/LineItemId": ["l1"], "a": ["x1"], "b": ["y2"]}), plan)
    [rejected] = out.rejected
    assert "x1" in rejected.reason and "y2" in rejected.reason


def test_a_page_without_one_of_the_columns_reads_the_other_and_without_both_leaves_the_field_out():
    plan = _plan()
    only_ri = pa.table(
        {"identity/LineItemId": ["l1"], "lineItem/UnblendedCost": ["1"], "reservation/ReservationARN": [RI]}
    )
    assert normalize_page(only_ri, plan).table["commitment_discount_id"].to_pylist() == [RI]
    neither = pa.table({"identity/LineItemId": ["l1"], "lineItem/UnblendedCost": ["1"]})
    assert "commitment_discount_id" not in normalize_page(neither, plan).table.column_names


def test_a_value_leaf_keeps_its_parent_right_after_it():
    mapping = {"id": "id", "state.name": "status", "other.value": "status"}
    plan = build_plan(entity="cloud_resource", source_object="o", mapping_fields=mapping,
                      entity_fields={"id": "string", "status": "string"}, id_fields=("id",), fingerprint="f",
                      mapping_version=1)
    [field] = plan.fields[1:]
    assert field.feeds == ("state.name", "state", "other.value", "other")
    assert plan.mapped_sources == {"id", "state.name", "other.value"}  # parents stay in `_extras` too
    table = pa.table({
        "id": ["1", "2", "3"],
        "state.name": ["running", None, None],
        "state": [None, "available", None],
        "other.value": [None, "x", "y"],
        "other": [None, None, None],
    })
    assert normalize_page(table, plan).table["status"].to_pylist() == ["running", "available", "y"]
