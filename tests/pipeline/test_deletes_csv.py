"""Deletes from CSV exports, end to end through the real filesource driver and mapping engine
(docs/adr/0019-deletes.md): a connection of full exports deletes a record missing from a new export,
an append-only one never does; the guard pauses instead of wiping the views; a review decides."""

import pytest
from django.conf import settings
from django.db import connection

from aam import deletes_review
from aam.drift.review import review_decide
from aam.models import ReviewItem
from connectors.models import Connection
from connectors.services import connection_update
from dcl.pipeline import pipeline_run
from dcl.selectors import view_all
from tests.pipeline.support import duck_rows

pytestmark = pytest.mark.django_db

HEADER = "Id,AccountId,Name,StageName,Amount,CloseDate,IsWon,LastModifiedDate"


def _csv(rows: dict[str, str]) -> str:
    lines = [HEADER]
    for key, amount in rows.items():
        lines.append(f"{key},001A,Deal {key},Prospecting,{amount},2026-03-31,false,2026-01-02T03:04:05Z")
    return "\n".join(lines) + "\n"


def _export(folder: str, rows: dict[str, str], *, exports: str | None = "full") -> Connection:
    path = settings.DATA_DIR / folder
    path.mkdir(parents=True, exist_ok=True)
    (path / "Opportunity.csv").write_text(_csv(rows))
    found = Connection.objects.filter(name=folder).first()
    if found is not None:
        return found
    from connectors.services import connection_create

    config = {"folder": str(path), "source_system": "salesforce"}
    if exports is not None:
        config["exports"] = exports
    return connection_create(name=folder, kind="filesource", config=config)


def _view() -> dict[str, float]:
    return {r["id"]: float(r["amount"]) for r in view_all(entity="opportunity")}


def _rows(n: int, start: int = 0) -> dict[str, str]:
    return {f"006{i:04d}": f"{i}.00" for i in range(start, start + n)}


def test_a_full_export_inserts_updates_deletes_and_reinserts(in_tenant_a):
    rows = _rows(10)
    conn = _export("full-exports", rows)
    pipeline_run(tenant=connection.tenant, connection=conn)
    assert _view() == {k: float(v) for k, v in rows.items()}

    # one record gone from the export, one changed, one new
    newer = dict(rows)
    del newer["0060003"]
    newer["0060005"] = "555.00"
    newer["0060099"] = "99.00"
    _export("full-exports", newer)
    info = pipeline_run(tenant=connection.tenant, connection=conn)
    assert info.step("deletes").rows == 1
    assert _view() == {k: float(v) for k, v in newer.items()}
    assert duck_rows(connection.tenant, "SELECT _deleted FROM src_opportunity WHERE _source_id = '0060003'") == [
        (True,)
    ]

    # the same export again: nothing more is deleted
    info = pipeline_run(tenant=connection.tenant, connection=conn, full=True)
    assert info.step("deletes").rows == 0 and len(_view()) == 10

    # the deleted key comes back in a later export
    again = {**newer, "0060003": "3.50"}
    _export("full-exports", again)
    pipeline_run(tenant=connection.tenant, connection=conn)
    assert _view()["0060003"] == 3.5 and len(_view()) == 11
    assert Connection.objects.get(pk=conn.pk).status == "ok"


def test_an_append_only_folder_never_deletes(in_tenant_a):
    rows = _rows(6)
    conn = _export("append-only", rows, exports="append")
    pipeline_run(tenant=connection.tenant, connection=conn)
    _export("append-only", {"0060100": "1.00"})
    info = pipeline_run(tenant=connection.tenant, connection=conn)
    assert info.step("deletes") is None
    assert len(_view()) == 7


def test_files_are_full_exports_by_default_and_the_default_is_stored(in_tenant_a):
    conn = _export("default-exports", _rows(2), exports=None)
    assert conn.config["exports"] == "full"  # stored, so the API shows it (docs/adr/0024)


def test_an_export_cut_in_half_deletes_nothing_pauses_and_asks_for_review(
    in_tenant_a, monkeypatch, django_capture_on_commit_callbacks
):
    requested = []
    monkeypatch.setattr(deletes_review, "pipeline_run_request", lambda **kw: requested.append(kw))
    rows = _rows(10)
    conn = _export("cut-export", rows)
    pipeline_run(tenant=connection.tenant, connection=conn)
    _export("cut-export", _rows(4))  # 6 of 10 records missing: more than half
    info = pipeline_run(tenant=connection.tenant, connection=conn)
    assert info.step("deletes").rows == 0 and info.step("deletes").details["paused"]
    assert len(_view()) == 10
    conn.refresh_from_db()
    assert conn.status == Connection.Status.PAUSED
    item = ReviewItem.objects.get(kind=ReviewItem.Kind.DELETES, connection=conn)
    assert item.status == "pending" and item.proposal["deletes"] == 6 and item.proposal["held"] == 10
    assert item.proposal["objects"][0]["sample"][:2] == ["0060004", "0060005"]

    # a person confirms: the pause lifts and the run asked for applies the deletes
    with pytest.raises(Exception, match="canonical"):
        review_decide(item=item, decision="approve", canonical_field="amount")
    with django_capture_on_commit_callbacks(execute=True):
        review_decide(item=item, decision="approve", note="the deals were archived")
    conn.refresh_from_db()
    assert conn.status == Connection.Status.OK
    assert requested == [{"connection_id": conn.pk, "schema": connection.schema_name, "full": True}]
    info = pipeline_run(tenant=connection.tenant, connection=conn, full=True)
    assert info.step("deletes").rows == 6 and sorted(_view()) == sorted(_rows(4))
    item.refresh_from_db()
    assert item.proposal["applied"] is True and item.proposal["deleted"] == 6


def test_a_rejected_review_deletes_nothing_and_an_emptied_export_pauses_again(in_tenant_a, monkeypatch):
    monkeypatch.setattr(deletes_review, "pipeline_run_request", lambda **kw: None)
    conn = _export("emptied-export", _rows(8))
    pipeline_run(tenant=connection.tenant, connection=conn)
    _export("emptied-export", {})  # the header alone
    pipeline_run(tenant=connection.tenant, connection=conn)
    item = ReviewItem.objects.get(kind=ReviewItem.Kind.DELETES, connection=conn)
    review_decide(item=item, decision="reject", note="a broken export")
    conn.refresh_from_db()
    assert conn.status == Connection.Status.OK and len(_view()) == 8
    info = pipeline_run(tenant=connection.tenant, connection=conn, full=True)
    assert info.step("deletes").details["paused"] and len(_view()) == 8
    assert ReviewItem.objects.filter(kind=ReviewItem.Kind.DELETES, connection=conn, status="pending").count() == 1


def test_the_setting_is_validated_and_shown(in_tenant_a):
    conn = _export("setting-shown", _rows(1))
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        connection_update(connection=conn, data={"config": {**conn.config, "exports": "sometimes"}})
