"""The sync's drift hook end to end: a real CSV through connection_sync → stream → DCL → unified view."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.db import connection as db

from aam.drift import DriftFrozen
from aam.drift.review import review_decide
from aam.ingest.services import connection_sync
from aam.models import DriftEvent
from autonomos.core.events import read_events
from connectors.models import Connection
from connectors.services import connection_create
from dcl.selectors import view_all
from dcl.services import stream_consume, views_materialize

pytestmark = pytest.mark.django_db

HEADER = "Id,AccountId,Name,StageName,{amount},CloseDate,LastModifiedDate"
ROWS = [
    "006A,001A,Acme renewal,Prospecting,{a},2026-03-31,2026-01-02T03:04:05.000+0000",
    "006B,001A,Globex expansion,Closed Won,55000.50,2026-05-15,2026-01-02T03:04:05.000+0000",
    "006C,001B,Initech pilot,Negotiation/Review,7300.00,2026-01-10,2026-01-02T03:04:05.000+0000",
    "006D,001B,Hooli upsell,Qualification,99000.00,2026-07-01,2026-01-02T03:04:05.000+0000",
    "006E,001C,Umbrella deal,Prospecting,4000.00,2026-02-02,2026-01-02T03:04:05.000+0000",
]


def export(folder, *, amount: str = "Amount", first: str = "12000.00") -> None:
    lines = [HEADER.format(amount=amount)] + [r.format(a=first) for r in ROWS]
    (folder / "Opportunity.csv").write_text("\n".join(lines) + "\n")


def amounts() -> dict[str, str | None]:
    stream_consume(tenant=db.tenant, until_idle=True, idle_seconds=0)
    views_materialize(tenant=db.tenant)
    return {
        r["id"]: (None if r["amount"] is None else f"{float(r['amount']):.2f}") for r in view_all(entity="opportunity")
    }


@pytest.fixture
def source(in_tenant_a):
    folder = settings.DATA_DIR / "drift-sync"
    folder.mkdir(parents=True, exist_ok=True)
    export(folder)

    def make(policy: str) -> Connection:
        return connection_create(
            name=f"SF {policy}",
            kind="filesource",
            config={"folder": str(folder), "source_system": "salesforce"},
            drift_policy=policy,
        )

    return folder, make


def test_a_rename_is_repaired_before_the_records_are_read_so_the_view_keeps_its_values(source):
    folder, make = source
    conn = make("auto")
    connection_sync(connection=conn)
    assert amounts()["006A"] == "12000.00"
    export(folder, amount="Amount__c", first="12500.00")  # renamed, and one deal updated meanwhile
    result = connection_sync(connection=conn)
    assert result.records_published == len(ROWS)
    assert amounts()["006A"] == "12500.00"  # read from Amount__c with the repaired mapping
    event = DriftEvent.objects.get()
    assert (event.kind, event.new_field, event.status) == ("renamed", "Amount__c", "applied")


def test_freeze_stops_the_sync_keeps_what_was_ingested_and_resumes_once_decided(source, admin_user_a):
    folder, make = source
    conn = make("freeze")
    connection_sync(connection=conn)
    before = amounts()
    export(folder, amount="Amount__c", first="12500.00")
    with pytest.raises(DriftFrozen):
        connection_sync(connection=conn)
    conn.refresh_from_db()
    assert conn.status == "frozen"
    failed = [e["payload"] for e in read_events(db.tenant) if e["type"] == "sync_failed"]
    assert failed[-1]["frozen"] is True and failed[-1]["review_item_ids"]
    assert amounts() == before  # the data already ingested stays as it was
    review_decide(item=DriftEvent.objects.get().review_item, decision="approve", user=admin_user_a)
    connection_sync(connection=conn)
    assert amounts()["006A"] == "12500.00"


def test_an_approval_under_review_re_processes_the_records_read_while_it_waited(source, admin_user_a):
    folder, make = source
    conn = make("review")
    connection_sync(connection=conn)
    export(folder, amount="Amount__c", first="12500.00")
    connection_sync(connection=conn)  # the rename waits for a human: Amount__c is not mapped yet
    waiting = amounts()
    assert waiting["006A"] is None  # never a silent re-mapping; the raw value travels in the extras
    event = DriftEvent.objects.get()
    review_decide(item=event.review_item, decision="approve", user=admin_user_a)
    event.refresh_from_db()
    conn.refresh_from_db()
    assert event.reprocess == "pending" and "Opportunity" not in (conn.cursor or {})
    connection_sync(connection=conn)
    event.refresh_from_db()
    assert event.reprocess == "started"
    assert amounts()["006A"] == "12500.00" and amounts()["006B"] == "55000.50"
