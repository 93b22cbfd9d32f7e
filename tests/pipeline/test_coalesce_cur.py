"""An AWS Cost and Usage Report with Savings Plan lines and Reserved Instance lines through a CSV
connection: the mapping engine maps both commitment columns onto commitment_discount_id, and the
unified cost view has it on both kinds of lines (docs/adr/0031-coalesce-source-columns.md)."""

import pytest
from django.db import connection

from aam.ingest import services as ingest
from aam.selectors import mapping_active
from dcl.selectors import view_all
from dcl.services import stream_consume, views_materialize
from tests.pipeline.support import csv_connection

pytestmark = pytest.mark.django_db

SP = "arn:aws:savingsplans::111122223333:savingsplan/4f3c2a10-aaaa-bbbb-cccc-0123456789ab"
RI = "arn:aws:ec2:us-east-1:111122223333:reserved-instances/9a1b7c3d-1111-2222-3333-444455556666"
HEADER = (
    "identity/LineItemId,bill/PayerAccountId,lineItem/UsageAccountId,lineItem/LineItemType,"
    "lineItem/UsageStartDate,lineItem/UsageEndDate,lineItem/ProductCode,lineItem/ResourceId,"
    "lineItem/UsageAmount,lineItem/CurrencyCode,lineItem/UnblendedCost,reservation/EffectiveCost,"
    "reservation/ReservationARN,savingsPlan/SavingsPlanARN,savingsPlan/SavingsPlanEffectiveCost"
)
LINES = [
    # id, type, resource, cost, RI effective cost, RI ARN, SP ARN, SP effective cost
    ("od1", "Usage", "i-0aaa", "0.0960", "", "", "", ""),
    ("sp1", "SavingsPlanCoveredUsage", "i-0bbb", "0.0960", "", "", SP, "0.0620"),
    ("sp2", "SavingsPlanRecurringFee", "", "45.0000", "", "", SP, ""),
    ("ri1", "DiscountedUsage", "i-0ccc", "0.0000", "0.0590", RI, "", ""),
    ("ri2", "RIFee", "", "43.0700", "", RI, "", ""),
]


def _csv() -> str:
    rows = [HEADER]
    for i, (lid, kind, resource, cost, ri_eff, ri, sp, sp_eff) in enumerate(LINES):
        rows.append(
            f"{lid}x{i:04d},111122223333,444455556666,{kind},2026-11-0{i + 1}T00:00:00Z,2026-11-0{i + 1}T01:00:00Z,"
            f"AmazonEC2,{resource},1,USD,{cost},{ri_eff},{ri},{sp},{sp_eff}"
        )
    return "\n".join(rows) + "\n"


def test_savings_plan_and_reserved_instance_lines_both_carry_their_commitment_id(in_tenant_a):
    conn = csv_connection("cur-coalesce", "cost_and_usage_report.csv", _csv(), source_system="aws_cur")
    result = ingest.connection_sync(connection=conn)
    assert (result.records_published, result.quarantined) == (len(LINES), 0)
    mapping = mapping_active(connection=conn, source_object_name="cost_and_usage_report")
    assert mapping.entity == "cost"
    assert mapping.fields["savingsPlan/SavingsPlanARN"] == "commitment_discount_id"
    assert mapping.fields["reservation/ReservationARN"] == "commitment_discount_id"
    assert mapping.fields["savingsPlan/SavingsPlanEffectiveCost"] == "effective_cost"
    assert "reservation/EffectiveCost" not in mapping.fields  # 0.0 on other lines: not coalesced (ADR 0031)

    stream_consume(tenant=connection.tenant, until_idle=True, idle_seconds=0)
    views_materialize(tenant=connection.tenant)
    rows = sorted(view_all(entity="cost"), key=lambda r: r["charge_period_start"])  # one line a day
    assert len(rows) == len(LINES), rows
    assert [r["commitment_discount_id"] for r in rows] == [None, SP, SP, RI, RI], rows
    effective = [None if r["effective_cost"] is None else float(r["effective_cost"]) for r in rows]
    assert effective == [None, 0.062, None, None, None], rows


def test_a_reserved_instance_column_that_appears_later_feeds_the_field_too(in_tenant_a):
    """Next month's report has RIs: the new column is a schema change (aam.drift) whose repair maps it
    onto the field the Savings Plan column feeds, and the RI lines carry their id."""
    from django.conf import settings

    from aam.models import DriftEvent

    drop = HEADER.split(",").index("reservation/ReservationARN")

    def without_ri(text: str) -> str:
        return "\n".join(",".join(c for i, c in enumerate(line.split(",")) if i != drop)
                         for line in text.splitlines()) + "\n"

    conn = csv_connection("cur-drift", "cost_and_usage_report.csv", without_ri(_csv()), source_system="aws_cur")
    ingest.connection_sync(connection=conn)
    before = mapping_active(connection=conn, source_object_name="cost_and_usage_report")
    assert "reservation/ReservationARN" not in before.fields
    (settings.DATA_DIR / "cur-drift" / "cost_and_usage_report.csv").write_text(_csv())
    conn.refresh_from_db()
    result = ingest.connection_sync(connection=conn)
    assert result.quarantined == 0
    added = DriftEvent.objects.filter(connection=conn, kind="added").first()
    assert added is not None and added.status == "applied" and added.field == "reservation/ReservationARN"
    assert (added.repair["action"], added.repair["canonical_field"]) == ("map", "commitment_discount_id")
    after = mapping_active(connection=conn, source_object_name="cost_and_usage_report")
    assert after.fields["reservation/ReservationARN"] == "commitment_discount_id"
    assert after.fields["savingsPlan/SavingsPlanARN"] == "commitment_discount_id"
    stream_consume(tenant=connection.tenant, until_idle=True, idle_seconds=0)
    views_materialize(tenant=connection.tenant)
    rows = sorted(view_all(entity="cost"), key=lambda r: r["charge_period_start"])
    assert [r["commitment_discount_id"] for r in rows] == [None, SP, SP, RI, RI], rows
