"""The engine maps two columns of one object onto one canonical field only where memory says they are
filled on different records (the seed object's `coalesce` list): a CUR's Savings Plan and Reserved
Instance columns. Every other pair of columns for one field stays one column per field
(tests/aam/test_rival_columns.py): an alternative, a question for a human, or unmapped."""

import pytest

from aam.mapping import engine, map_source
from aam.mapping.memory import MemoryIndex, _entry, parse_seed

SP = ["arn:aws:savingsplans::111122223333:savingsplan/4f3c", ""]
RI = ["", "arn:aws:ec2:us-east-1:111122223333:reserved-instances/9a1b"]


def col(name, type_="string", samples=()):
    return {"name": name, "type": type_, "samples": list(samples)}


def mapped(columns, *, source="aws_cur", obj, **kwargs):
    result = map_source(columns=columns, object_name=obj, source_kind=source, use_llm=False, **kwargs)
    return {m.source_field: m for m in result.mappings}


CUR = [
    col("identity/LineItemId", samples=["a1b2c3", "d4e5f6"]),
    col("lineItem/UsageStartDate", "datetime", ["2026-11-01T00:00:00Z", "2026-11-01T01:00:00Z"]),
    col("lineItem/LineItemType", samples=["SavingsPlanCoveredUsage", "DiscountedUsage"]),
    col("lineItem/ProductCode", samples=["AmazonEC2", "AmazonEC2"]),
    col("lineItem/UnblendedCost", "number", [0.0, 0.0]),
    col("lineItem/NetUnblendedCost", "number", [0.0, 0.0]),
    col("reservation/ReservationARN", samples=RI),
    col("reservation/EffectiveCost", "number", [0.0, 0.071]),
    col("savingsPlan/SavingsPlanARN", samples=SP),
    col("savingsPlan/SavingsPlanEffectiveCost", "number", [0.052, 0.0]),
]

CUR2 = [
    col("identity_line_item_id", samples=["a1b2c3", "d4e5f6"]),
    col("line_item_usage_start_date", "datetime", ["2026-11-01T00:00:00Z", "2026-11-01T01:00:00Z"]),
    col("line_item_line_item_type", samples=["SavingsPlanCoveredUsage", "DiscountedUsage"]),
    col("line_item_unblended_cost", "number", [0.0, 0.0]),
    col("line_item_net_unblended_cost", "number", [0.0, 0.0]),
    col("savings_plan_savings_plan_a_r_n", samples=SP),
    col("savings_plan_savings_plan_effective_cost", "number", [0.052, None]),
    col("reservation_reservation_a_r_n", samples=RI),
    col("reservation_effective_cost", "number", [None, 0.071]),
]


def assert_feeds(proposal, field, holder):
    assert (proposal.canonical_field, proposal.decision, proposal.method) == (field, "auto", "memory"), proposal
    assert proposal.confidence >= 0.9
    assert f"feeds {field} with {holder}" in proposal.explanation


@pytest.mark.parametrize("reverse", [False, True], ids=["export-order", "reversed"])
def test_a_curs_savings_plan_and_reserved_instance_columns_both_feed_the_commitment_fields(reverse):
    m = mapped(list(reversed(CUR)) if reverse else CUR, obj="cost_and_usage_report")
    sp = m["savingsPlan/SavingsPlanARN"]
    assert (sp.canonical_field, sp.decision) == ("commitment_discount_id", "auto"), sp
    assert_feeds(m["reservation/ReservationARN"], "commitment_discount_id", "savingsPlan/SavingsPlanARN")
    assert m["savingsPlan/SavingsPlanEffectiveCost"].canonical_field == "effective_cost"
    # effective cost is not in the object's `coalesce` list (a CUR holds 0.0 there on the other lines, and
    # 0.0 is a value): the RI's stays the Savings Plan's alternative; so does the net cost the unblended's
    ri_effective = m["reservation/EffectiveCost"]
    assert ri_effective.canonical_field is None
    assert "is an alternative of savingsPlan/SavingsPlanEffectiveCost" in ri_effective.explanation
    assert m["lineItem/UnblendedCost"].canonical_field == "billed_cost"
    net = m["lineItem/NetUnblendedCost"]
    assert net.canonical_field is None and "is an alternative of lineItem/UnblendedCost" in net.explanation


def test_cur_2_0_snake_case_columns_do_the_same():
    m = mapped(CUR2, obj="cur2_data_export")
    assert m["savings_plan_savings_plan_a_r_n"].canonical_field == "commitment_discount_id"
    assert_feeds(m["reservation_reservation_a_r_n"], "commitment_discount_id", "savings_plan_savings_plan_a_r_n")
    assert m["reservation_effective_cost"].canonical_field is None
    assert m["line_item_net_unblended_cost"].canonical_field is None


def test_a_tenants_own_decision_for_the_savings_plan_column_keeps_the_reserved_instances_feeding(monkeypatch):
    index = MemoryIndex([_entry("aws_cur", "cost_and_usage_report", "cost", "savingsPlan/SavingsPlanARN",
                                "commitment_discount_id", origin="tenant")])
    monkeypatch.setattr(engine, "tenant_index", lambda tenant: index)
    m = mapped(CUR, obj="cost_and_usage_report", tenant=object())
    assert m["savingsPlan/SavingsPlanARN"].canonical_field == "commitment_discount_id"
    assert_feeds(m["reservation/ReservationARN"], "commitment_discount_id", "savingsPlan/SavingsPlanARN")


def test_a_column_the_seed_does_not_name_in_the_group_is_never_added_to_the_field():
    # a second ARN-like column of another vendor's naming: a guess, never a second feed
    columns = [*CUR, col("commitment_arn", samples=SP)]
    m = mapped(columns, obj="cost_and_usage_report")
    feeding = sorted(name for name, p in m.items() if p.canonical_field == "commitment_discount_id")
    assert feeding == ["reservation/ReservationARN", "savingsPlan/SavingsPlanARN"], m["commitment_arn"]


def seed(fields, coalesce):
    return {"sources": {"v": {"objects": {"o": {"entity": "cost", "fields": fields, "coalesce": coalesce}}}}}


def test_the_seed_names_for_each_column_the_columns_it_complements():
    entries = {e.field_name: e for e in parse_seed(seed({"a_arn": "commitment_discount_id", "b_arn":
                                                          "commitment_discount_id", "c": "billed_cost"},
                                                         ["commitment_discount_id"]))}
    assert entries["a_arn"].coalesce_with == ("barn",) and entries["b_arn"].coalesce_with == ("aarn",)
    assert entries["c"].coalesce_with == ()
    assert (entries["a_arn"].rank, entries["b_arn"].rank) == (0, 1)


def test_a_coalesce_list_naming_a_field_with_one_column_is_refused():
    with pytest.raises(ValueError, match="billed_cost"):
        parse_seed(seed({"a": "billed_cost", "b": "effective_cost"}, ["billed_cost"]))
