"""drift_check / drift_detect against the real database and Redis: snapshots, policies, repairs."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from aam.drift import DriftFrozen
from aam.drift.review import review_decide
from aam.drift.services import drift_check, drift_detect, drift_detect_tenant
from aam.models import DriftEvent, FieldMapping, ReviewItem, SchemaSnapshot
from aam.selectors import mapping_active, mapping_rows
from aam.services import mapping_ensure
from autonomos.core.events import read_events
from autonomos.core.tenancy import current_tenant
from connectors.models import Connection
from tests.aam.drift_support import OPPORTUNITY, changed, source_object

pytestmark = pytest.mark.django_db


@pytest.fixture
def conn(in_tenant_a):
    return Connection.objects.create(name="Salesforce prod", kind="salesforce", drift_policy="auto")


def baseline(conn, obj=None):
    """What a first sync does: check (baseline snapshot), then map."""
    obj = obj or source_object()
    outcome = drift_check(connection=conn, source_object=obj)
    mapping_ensure(connection=conn, source_object=obj)
    return outcome


def events_of(kind):
    return [e for e in read_events(current_tenant()) if e["type"] == kind]


def test_the_first_check_takes_a_baseline_snapshot_and_reports_no_drift(conn):
    outcome = baseline(conn)
    assert outcome.baseline and not outcome.drifted and not outcome.frozen
    snap = SchemaSnapshot.objects.get()
    assert snap.accepted and snap.field_count == len(OPPORTUNITY) and snap.fingerprint == outcome.fingerprint
    assert [f["name"] for f in snap.fields] == sorted(OPPORTUNITY)  # order never matters
    amount = next(f for f in snap.fields if f["name"] == "Amount")
    assert amount["keyed"]["0066g00000AbCdEAA1"] == "12000"
    assert not DriftEvent.objects.exists()


def test_an_unchanged_recheck_refreshes_the_samples_without_a_new_snapshot_or_event(conn):
    baseline(conn)
    newer = dict(OPPORTUNITY, Name=("string", ["A", "B", "C", "D"]))
    outcome = drift_check(connection=conn, source_object=source_object(newer))
    assert not outcome.drifted and not outcome.baseline
    snap = SchemaSnapshot.objects.get()
    assert snap.seen_count == 2 and next(f for f in snap.fields if f["name"] == "Name")["samples"] == [
        "a",
        "b",
        "c",
        "d",
    ]
    assert not DriftEvent.objects.exists()


def test_a_confident_rename_under_auto_moves_the_canonical_field_and_keeps_its_history(
    conn, django_capture_on_commit_callbacks
):
    baseline(conn)
    v1 = mapping_active(connection=conn, source_object_name="Opportunity")
    with django_capture_on_commit_callbacks(execute=True):
        outcome = drift_check(connection=conn, source_object=changed(rename={"Amount": "Amount__c"}))
    assert outcome.applied == 1 and outcome.queued == 0 and outcome.mapping_version == v1.version + 1
    event = DriftEvent.objects.get()
    assert (event.kind, event.field, event.new_field, event.status) == ("renamed", "Amount", "Amount__c", "applied")
    assert event.repair["action"] == "move" and event.repair["canonical_field"] == "amount"
    assert event.repair_confidence >= 0.85 and "Amount__c" in event.explanation
    assert event.evidence["value_method"] == "keyed" and event.evidence["value_agreement"] == 1.0
    assert (event.mapping_version_before, event.mapping_version_after) == (v1.version, v1.version + 1)
    active = mapping_active(connection=conn, source_object_name="Opportunity")
    assert active.fields["Amount__c"] == "amount" and "Amount" not in active.fields
    # history: the old row is superseded, not deleted, and the canonical field is the same one
    old = FieldMapping.objects.get(connection=conn, source_field="Amount", version=v1.version)
    assert old.status == FieldMapping.Status.SUPERSEDED and old.canonical_field == "amount"
    assert "renamed to `Amount__c`" in FieldMapping.objects.get(source_field="Amount__c").explanation
    # the sync's mapping_ensure afterwards changes nothing
    assert mapping_ensure(connection=conn, source_object=changed(rename={"Amount": "Amount__c"})).version == (
        v1.version + 1
    )
    assert events_of("drift_detected")[0]["payload"]["changes"][0]["status"] == "applied"
    assert events_of("repair_applied")[0]["payload"]["drift_event_ids"] == [event.pk]
    assert not events_of("review_required")


def test_under_the_review_policy_a_rename_is_queued_and_the_old_field_stays_mapped(
    conn, django_capture_on_commit_callbacks
):
    conn.drift_policy = "review"
    conn.save()
    baseline(conn)
    new = changed(rename={"Amount": "Amount__c"})
    with django_capture_on_commit_callbacks(execute=True):
        outcome = drift_check(connection=conn, source_object=new)
    assert outcome.queued == 1 and outcome.applied == 0
    event = DriftEvent.objects.get()
    assert event.status == "pending" and event.holds_mapping and event.policy == "review"
    item = event.review_item
    assert item.kind == "drift" and item.status == "pending" and item.risk in ("medium", "high")
    assert item.proposal["repairs"][0]["action"] == "move" and "review policy" in item.evidence["why_review"]
    active = mapping_ensure(connection=conn, source_object=new)  # the sync maps next: nothing behind our back
    assert active.fields["Amount"] == "amount" and "Amount__c" not in active.fields
    assert active.pending == {"Amount__c": "amount"}
    assert not ReviewItem.objects.filter(kind="mapping").exists()
    assert events_of("review_required")[0]["payload"]["review_item_ids"] == [item.pk]


def test_a_removed_mapped_field_is_never_dropped_without_a_human_even_under_auto(conn):
    baseline(conn)
    new = changed(drop=("Probability",))
    outcome = drift_check(connection=conn, source_object=new)
    event = DriftEvent.objects.get()
    assert (event.kind, event.status, event.holds_mapping) == ("removed", "pending", True)
    assert event.review_item.risk == "high" and outcome.queued == 1
    active = mapping_ensure(connection=conn, source_object=new)
    assert active.fields["Probability"] == "probability"
    # the source changes again: the held field survives the next mapping version too
    grown = changed(drop=("Probability",), add={"NextStep": ("string", ["Call", "Demo", "Send", "Wait"])})
    drift_check(connection=conn, source_object=grown)
    assert mapping_ensure(connection=conn, source_object=grown).fields["Probability"] == "probability"
    review_decide(item=event.review_item, decision="approve", user=None)
    assert "Probability" not in mapping_active(connection=conn, source_object_name="Opportunity").fields


def test_a_narrowing_type_change_waits_for_review_under_auto(conn):
    baseline(conn)
    outcome = drift_check(connection=conn, source_object=changed(retype={"Probability": ("boolean", [1, 0, 1, 0])}))
    event = DriftEvent.objects.get()
    assert (event.kind, event.direction, event.status) == ("retyped", "narrowing", "pending")
    assert "narrowed" in event.review_item.evidence["why_review"] and outcome.applied == 0
    assert mapping_active(connection=conn, source_object_name="Opportunity").fields["Probability"] == "probability"


def test_a_widening_type_change_whose_values_still_fit_is_repaired_automatically(conn):
    baseline(conn)
    drift_check(connection=conn, source_object=changed(retype={"Probability": ("number", [10.5, 99.5, 80.0, 20.25])}))
    event = DriftEvent.objects.get()
    assert (event.kind, event.direction, event.status) == ("retyped", "widening", "applied")
    row = mapping_rows(connection=conn, source_object_name="Opportunity").get(source_field="Probability")
    assert row.canonical_field == "probability" and row.source_type in ("number", "integer")
    assert row.version == event.mapping_version_after


def test_a_new_field_is_mapped_only_when_its_canonical_field_is_free(conn, admin_user_a):
    from aam.services import mapping_decide

    baseline(conn)
    # a human decided that Name feeds next_step: the engine must not hand next_step to a new field
    mapping_decide(
        connection=conn,
        source_object="Opportunity",
        source_field="Name",
        approve=True,
        canonical_field="next_step",
        user=admin_user_a,
    )
    new = changed(
        add={
            "ForecastCategoryName": ("string", ["Pipeline", "Closed", "Commit", "Best Case"]),
            "NextStep": ("string", ["Send proposal", "Call CFO", "Demo", "Wait"]),
        }
    )
    drift_check(connection=conn, source_object=new)
    by_field = {e.field: e for e in DriftEvent.objects.all()}
    assert by_field["ForecastCategoryName"].repair["canonical_field"] == "forecast_category"
    assert by_field["ForecastCategoryName"].status == "applied"
    second = by_field["NextStep"]
    # the tenant's decision for Name is preferred to the vendor's convention for NextStep
    assert second.repair["action"] == "unmap" and "alternative of Name for next_step" in second.explanation
    active = mapping_active(connection=conn, source_object_name="Opportunity")
    assert active.fields["Name"] == "next_step" and "NextStep" not in active.fields
    assert active.fields["ForecastCategoryName"] == "forecast_category"


def test_freeze_stops_the_sync_keeps_the_changes_and_lifts_once_a_human_decided(conn, admin_user_a):
    conn.drift_policy = "freeze"
    conn.save()
    baseline(conn)
    other = source_object({"Id": ("string", ["001A", "001B", "001C"])}, name="Account", keys=("001A", "001B", "001C"))
    baseline(conn, other)
    drifted = changed(rename={"Amount": "Amount__c"})
    with pytest.raises(DriftFrozen) as info:
        drift_check(connection=conn, source_object=drifted)
    assert "Opportunity" in str(info.value) and info.value.review_item_ids
    conn.refresh_from_db()
    assert conn.status == "frozen" and "await review" in conn.last_error
    event = DriftEvent.objects.get()
    assert event.status == "pending" and event.policy == "freeze"
    assert SchemaSnapshot.objects.filter(source_object="Opportunity", accepted=False).count() == 1
    # every object of the frozen connection stops, and a re-check records nothing twice
    with pytest.raises(DriftFrozen):
        drift_check(connection=conn, source_object=other)
    with pytest.raises(DriftFrozen):
        drift_check(connection=conn, source_object=drifted)
    assert DriftEvent.objects.count() == 1
    # nothing already mapped was touched while frozen
    assert mapping_active(connection=conn, source_object_name="Opportunity").fields["Amount"] == "amount"
    review_decide(item=event.review_item, decision="approve", user=admin_user_a, note="expected")
    conn.refresh_from_db()
    assert conn.status == "ok" and not conn.last_error
    outcome = drift_check(connection=conn, source_object=drifted)  # the drifted schema is the baseline now
    assert not outcome.drifted and not outcome.frozen
    assert mapping_active(connection=conn, source_object_name="Opportunity").fields["Amount__c"] == "amount"


def test_slack_hears_about_new_drift_and_a_failing_webhook_never_breaks_the_check(
    conn, settings, django_capture_on_commit_callbacks
):
    import threading
    from http.server import HTTPServer

    from tests.test_notify import _Webhook  # the local incoming-webhook server of the notifier's tests

    _Webhook.received, _Webhook.status = [], 200
    server = HTTPServer(("127.0.0.1", 0), _Webhook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        settings.SLACK_WEBHOOK_URL = f"http://127.0.0.1:{server.server_port}/services/T/B/X"
        baseline(conn)
        with django_capture_on_commit_callbacks(execute=True):
            drift_check(connection=conn, source_object=changed(rename={"Amount": "Amount__c"}, drop=("Probability",)))
        [(_, body)] = _Webhook.received
        assert "Salesforce prod / Opportunity: 2 change(s)" in body["text"]
        assert "renamed Amount → Amount__c: repaired automatically" in body["text"]
        assert "1 change(s) need a human" in body["text"] and "/admin/aam/reviewitem/" in body["text"]
    finally:
        server.shutdown()
    settings.SLACK_WEBHOOK_URL = "http://127.0.0.1:1/unreachable"
    with django_capture_on_commit_callbacks(execute=True):
        outcome = drift_check(connection=conn, source_object=changed(rename={"Amount": "Amount__c"}, drop=("Name",)))
    assert outcome.drifted  # the check went through all the same


def test_drift_detect_checks_every_discovered_object_of_a_file_source(in_tenant_a, tmp_path, settings):
    settings.FILESOURCE_ALLOWED_ROOTS = [str(tmp_path)]
    (tmp_path / "deals.csv").write_text("id,dealname,amount\n1,Acme,100\n2,Globex,200\n3,Initech,300\n")
    (tmp_path / "companies.csv").write_text("id,name,domain\n1,Acme,acme.com\n2,Globex,globex.com\n3,Hooli,hooli.io\n")
    from connectors.services import connection_create

    conn = connection_create(name="Exports", kind="filesource", config={"folder": str(tmp_path)})
    first = drift_detect(connection=conn)
    assert sorted(o.source_object for o in first) == ["companies", "deals"] and all(o.baseline for o in first)
    (tmp_path / "deals.csv").write_text("id,deal_name,amount\n1,Acme,100\n2,Globex,200\n3,Initech,300\n")
    second = {o.source_object: o for o in drift_detect(connection=conn)}
    assert not second["companies"].drifted
    assert [(e["kind"], e["field"], e["new_field"]) for e in second["deals"].events] == [
        ("renamed", "dealname", "deal_name")
    ]


def test_periodic_detection_checks_only_connections_seen_before(conn, in_tenant_a, tmp_path, settings):
    settings.FILESOURCE_ALLOWED_ROOTS = [str(tmp_path)]
    (tmp_path / "deals.csv").write_text("id,dealname\n1,Acme\n2,Globex\n3,Initech\n")
    from connectors.services import connection_create

    seen = connection_create(name="Seen", kind="filesource", config={"folder": str(tmp_path)})
    connection_create(name="Never synced", kind="filesource", config={"folder": str(tmp_path)})
    drift_detect(connection=seen)
    (tmp_path / "deals.csv").write_text("id,dealname,stage\n1,Acme,won\n2,Globex,lost\n3,Initech,open\n")
    summary = drift_detect_tenant()
    assert summary["connections"] == 1 and summary["changes"] == 1
    assert SchemaSnapshot.objects.filter(connection__name="Never synced").count() == 0


def test_the_beat_schedule_fans_out_one_check_per_tenant_run_inside_that_tenant(tenant_a, tenant_b, monkeypatch):
    from django.db import connection as db

    from aam import tasks
    from autonomos.celery import app

    entry = app.conf.beat_schedule["aam-drift-detect"]
    assert entry["task"] == "aam.drift_detect_all"
    schemas = []
    monkeypatch.setattr(tasks.drift_detect_tenant_task, "delay", lambda *a, **k: schemas.append(db.schema_name))
    db.set_schema_to_public()
    assert tasks.drift_detect_all_task() == len(schemas)
    assert {"alpha", "beta"} <= set(schemas)


def test_an_approval_after_records_were_synced_asks_for_the_object_to_be_read_again(
    conn, monkeypatch, django_capture_on_commit_callbacks
):
    conn.drift_policy = "review"
    conn.cursor = {"Opportunity": {"SystemModstamp": "2026-05-01T00:00:00Z", "Id": "006x"}}
    conn.save()
    baseline(conn)
    drift_check(connection=conn, source_object=changed(rename={"Amount": "Amount__c"}))
    event = DriftEvent.objects.get()
    # a sync read records after the drift was queued (Amount__c went to the unmapped fields then)
    Connection.objects.filter(pk=conn.pk).update(last_synced_at=timezone.now() + dt.timedelta(seconds=1))
    conn.refresh_from_db()
    from celery import current_app

    sent = []
    monkeypatch.setattr(current_app, "send_task", lambda name, **kw: sent.append((name, kw)))
    with django_capture_on_commit_callbacks(execute=True):
        review_decide(item=event.review_item, decision="approve", user=None)
    conn.refresh_from_db()
    event.refresh_from_db()
    assert "Opportunity" not in conn.cursor and event.reprocess == "pending"
    assert sent == [("dcl.connection_sync", {"args": [conn.pk], "headers": {"_schema_name": "alpha"},
                                                    "kwargs": {"trigger": "drift"}})]
    drift_check(connection=conn, source_object=changed(rename={"Amount": "Amount__c"}))  # the next sync
    event.refresh_from_db()
    assert event.reprocess == "started"


def test_a_check_that_loses_a_race_plans_again_under_the_lock_and_records_nothing_twice(conn, monkeypatch):
    from aam.drift import services

    baseline(conn)
    real, raced = services._plan, []

    def plan_then_race(connection, obj, snaps, tenant):
        plan = real(connection, obj, snaps, tenant)
        if not raced:  # another worker checks the same change between our plan and our lock
            raced.append(True)
            services._check(connection=connection, source_object=obj, reading=False)
        return plan

    monkeypatch.setattr(services, "_plan", plan_then_race)
    outcome = drift_check(connection=conn, source_object=changed(rename={"Amount": "Amount__c"}))
    assert raced and not outcome.drifted
    assert DriftEvent.objects.count() == 1 and SchemaSnapshot.objects.count() == 2
