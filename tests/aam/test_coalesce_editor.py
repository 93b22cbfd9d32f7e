"""The mapping editor with a field two columns feed (docs/adr/0031): a CUR's commitment id fed by its
Savings Plan and Reserved Instance ARN columns is shown as one field fed by both, in the order they are
read; a person can unmap one, and map it back only `alongside` the other (else refused, saying so)."""

from __future__ import annotations

import pytest
from django.db import connection as db
from django_tenants.utils import schema_context

from aam.editor.selectors import connection_mapping
from aam.editor.services import mapping_change
from aam.selectors import mapping_active
from aam.services import mapping_ensure
from autonomos.core.errors import InvalidInput
from connectors.models import Connection
from dcl.pipeline import pipeline_run
from dcl.selectors import view_all
from tests.pipeline.support import csv_connection
from tests.pipeline.test_coalesce_cur import RI, SP, _csv

pytestmark = pytest.mark.django_db

OBJECT = "cost_and_usage_report"
RI_ARN, SP_ARN = "reservation/ReservationARN", "savingsPlan/SavingsPlanARN"
FED_BY = f"commitment_discount_id ← {RI_ARN}, then {SP_ARN}"  # the file's column order


def columns_of(conn) -> dict:
    (obj,) = connection_mapping(connection=conn)
    return {c.source_field: c for c in obj.columns}


def commitments(conn) -> list:
    conn.refresh_from_db()
    pipeline_run(tenant=db.tenant, connection=conn)
    rows = sorted(view_all(entity="cost"), key=lambda r: r["charge_period_start"])
    return [r["commitment_discount_id"] for r in rows]


def test_the_tab_shows_the_field_fed_by_both_and_a_person_changes_it(in_tenant_a, admin_user_a):
    conn = csv_connection("cur-editor", f"{OBJECT}.csv", _csv(), source_system="aws_cur")
    assert commitments(conn) == [None, SP, SP, RI, RI]
    cols = columns_of(conn)
    for name in (RI_ARN, SP_ARN):
        assert cols[name].state == "mapped" and cols[name].feeds_with == [RI_ARN, SP_ARN]
        assert cols[name].fed_by == FED_BY
    assert cols["lineItem/UnblendedCost"].feeds_with == [] and cols["lineItem/UnblendedCost"].fed_by == ""

    mapping_change(connection=conn, source_object=OBJECT, source_field=RI_ARN, action="unmap", user=admin_user_a)
    cols = columns_of(conn)
    assert cols[SP_ARN].feeds_with == [] and cols[RI_ARN].state == "unmapped"
    assert commitments(conn) == [None, SP, SP, None, None]  # read again: the RI lines lost their id

    with pytest.raises(InvalidInput) as refused:
        mapping_change(connection=conn, source_object=OBJECT, source_field=RI_ARN, action="map",
                       canonical_field="commitment_discount_id", user=admin_user_a)
    assert f"mapped from {SP_ARN} already" in refused.value.message and "alongside" in refused.value.message

    change = mapping_change(connection=conn, source_object=OBJECT, source_field=RI_ARN, action="map",
                            canonical_field="commitment_discount_id", user=admin_user_a, alongside=True)
    assert change.field_after == "commitment_discount_id" and change.reprocess
    cols = columns_of(conn)
    assert cols[RI_ARN].fed_by == FED_BY and f"alongside {SP_ARN}" in cols[RI_ARN].evidence
    fields = mapping_active(connection=conn, source_object_name=OBJECT).fields
    assert fields[RI_ARN] == fields[SP_ARN] == "commitment_discount_id"
    assert commitments(conn) == [None, SP, SP, RI, RI]


def test_alongside_a_pending_proposal_is_refused(in_tenant_a, admin_user_a):
    conn = csv_connection("cur-editor-pending", f"{OBJECT}.csv", _csv(), source_system="aws_cur")
    pipeline_run(tenant=db.tenant, connection=conn)
    pending = next((c for c in columns_of(conn).values() if c.state == "pending"), None)
    assert pending is not None and pending.canonical_field  # lineItem/UsageAccountId: sub_account_id, in review
    with pytest.raises(InvalidInput) as refused:
        mapping_change(connection=conn, source_object=OBJECT, source_field="lineItem/ResourceId", action="remap",
                       canonical_field=pending.canonical_field, user=admin_user_a, alongside=True)
    assert "decide that review first" in refused.value.message


CUR = {
    "name": OBJECT,
    "fields": [
        {"name": "identity/LineItemId", "type": "string", "samples": ["a1", "b2", "c3"]},
        {"name": "lineItem/UnblendedCost", "type": "number", "samples": ["0.1", "45.0"]},
        {"name": SP_ARN, "type": "string", "samples": [SP]},
        {"name": RI_ARN, "type": "string", "samples": [RI]},
    ],
}


def test_the_api_and_the_page_show_both_columns_in_order(tenant_a, api_a, web_a):
    with schema_context(tenant_a.schema_name):
        conn = Connection.objects.create(name="CUR", kind="filesource", config={"source_system": "aws_cur"})
        mapping_ensure(connection=conn, source_object=CUR)
    body = api_a.get(f"/api/connections/{conn.pk}/mapping/").json()
    columns = {c["source_field"]: c for c in body["objects"][0]["columns"]}
    assert columns[RI_ARN]["feeds_with"] == [SP_ARN, RI_ARN]
    assert columns[SP_ARN]["fed_by"] == f"commitment_discount_id ← {SP_ARN}, then {RI_ARN}"
    assert columns["lineItem/UnblendedCost"]["feeds_with"] == []
    page = web_a.get(f"/connections/{conn.pk}/mapping/").content.decode()
    assert page.count(f"commitment_discount_id ← {SP_ARN}, then {RI_ARN}") == 2
    assert 'name="alongside"' in page

    refused = api_a.post(f"/api/connections/{conn.pk}/mapping/changes/", {
        "source_object": OBJECT, "source_field": "lineItem/UnblendedCost", "action": "remap",
        "canonical_field": "commitment_discount_id"}, format="json")
    assert refused.status_code == 400 and "alongside" in refused.json()["error"]["message"]
    done = api_a.post(f"/api/connections/{conn.pk}/mapping/changes/", {
        "source_object": OBJECT, "source_field": RI_ARN, "action": "unmap"}, format="json")
    assert done.status_code == 201
    again = api_a.post(f"/api/connections/{conn.pk}/mapping/changes/", {
        "source_object": OBJECT, "source_field": RI_ARN, "action": "map", "canonical_field": "commitment_discount_id",
        "alongside": True}, format="json")
    assert again.status_code == 201, again.json()
    shown = {c["source_field"]: c for c in again.json()["object"]["columns"]}
    assert shown[RI_ARN]["feeds_with"] == [SP_ARN, RI_ARN]
