"""Type-2 history of unified entities (docs/adr/0020-history.md), end to end through CSV full exports
read by the real filesource driver: versions after a stage change, an amount change, a delete and a
re-insert; no version for a sync with no change; the view as of a past time; a crash between the
DuckDB commit and the PostgreSQL publish; a DuckDB file that lost its state; a new hash signature."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.conf import settings
from django.db import connection

from connectors.models import Connection
from connectors.services import connection_create
from dcl import store
from dcl.history import record as history
from dcl.history.selectors import view_as_of
from dcl.models import AccountHistory, OpportunityHistory
from dcl.pipeline import pipeline_run
from tests.pipeline.support import duck_rows

pytestmark = pytest.mark.django_db

HEADER = "Id,AccountId,Name,StageName,Amount,CloseDate,IsWon,LastModifiedDate"


def _export(folder: str, rows: dict[str, tuple[str, str]], *, modified: str = "2026-01-02T03:04:05Z") -> Connection:
    """Write the full export {id: (stage, amount)} and return its connection (made once)."""
    path = settings.DATA_DIR / folder
    path.mkdir(parents=True, exist_ok=True)
    lines = [HEADER] + [f"{key},001A,Deal {key},{stage},{amount},2026-03-31,{str(stage == 'Closed Won').lower()},"
                        f"{modified}" for key, (stage, amount) in rows.items()]
    (path / "Opportunity.csv").write_text("\n".join(lines) + "\n")
    found = Connection.objects.filter(name=folder).first()
    if found is not None:
        return found
    return connection_create(name=folder, kind="filesource",
                             config={"folder": str(path), "source_system": "salesforce", "exports": "full"})


def _sync(conn: Connection, *, full: bool = False) -> None:
    pipeline_run(tenant=connection.tenant, connection=conn, full=full)


def _versions() -> dict[str, list[OpportunityHistory]]:
    """{source id: its versions, oldest first} (the unified id of a per-record opportunity is its record's)."""
    ids = {r[0]: r[1] for r in duck_rows(connection.tenant, "SELECT unified_id, _src_id FROM view_opportunity")}
    out: dict[str, list[OpportunityHistory]] = {}
    for row in OpportunityHistory.objects.order_by("unified_id", "version"):
        out.setdefault(ids.get(row.unified_id, row.unified_id), []).append(row)
    return out


def _uid(source_id: str) -> str:
    """The unified id of the opportunity record `source_id` of the (one) test connection."""
    return duck_rows(connection.tenant, f"SELECT unified_id FROM view_opportunity WHERE _src_id = '{source_id}'")[0][0]


def test_versions_after_a_stage_change_an_amount_change_a_delete_and_a_reinsert(in_tenant_a):
    rows = {"A": ("Prospecting", "10.00"), "B": ("Prospecting", "20.00"), "C": ("Prospecting", "30.00")}
    conn = _export("hist", rows)
    _sync(conn)
    uid = {key: _uid(key) for key in rows}
    first = {v.unified_id: v for v in OpportunityHistory.objects.all()}
    assert set(first) == set(uid.values())
    for v in first.values():
        assert (v.version, v.valid_to, v.deleted) == (1, None, False)
        assert (v.stage, v.stage_category, v.close_date.isoformat()) == ("Prospecting", "qualify", "2026-03-31")
        assert v.source_updated_at is not None and v.source_updated_at.year == 2026
    created_at = first[uid["A"]].valid_from

    # the same export again, read in full: nothing changed, nothing is written
    _sync(conn, full=True)
    assert OpportunityHistory.objects.count() == 3
    assert duck_rows(connection.tenant, "SELECT count(*) FROM _hist_outbox_opportunity") == [(0,)]

    # a stage change
    _export("hist", {**rows, "A": ("Closed Won", "10.00")})
    _sync(conn)
    a1, a2 = OpportunityHistory.objects.filter(unified_id=uid["A"]).order_by("version")
    assert (a2.version, a2.stage, a2.status, a2.stage_category, a2.valid_to) == (2, "Closed Won", "won", "won", None)
    assert a1.valid_to == a2.valid_from and a2.valid_from > a1.valid_from
    assert (a1.stage, a1.amount) == ("Prospecting", Decimal("10"))
    assert OpportunityHistory.objects.count() == 4  # B and C did not move

    # an amount change
    rows = {**rows, "A": ("Closed Won", "10.00"), "B": ("Prospecting", "25.00")}
    _export("hist", rows)
    _sync(conn)
    b = list(OpportunityHistory.objects.filter(unified_id=uid["B"]).order_by("version"))
    assert [(v.version, v.amount, v.valid_to is None) for v in b] == [
        (1, Decimal("20"), False), (2, Decimal("25"), True)]

    # a delete: C leaves the export; its closing version carries its last values
    del rows["C"]
    _export("hist", rows)
    _sync(conn)
    c = list(OpportunityHistory.objects.filter(unified_id=uid["C"]).order_by("version"))
    assert [(v.version, v.deleted) for v in c] == [(1, False), (2, True)]
    assert c[0].valid_to == c[1].valid_from and c[1].valid_to is None
    assert (c[1].stage, c[1].amount, c[1].source_updated_at) == ("Prospecting", Decimal("30"), None)
    deleted_at = c[1].valid_from

    # the same export again: a deleted entity is not deleted twice
    _sync(conn, full=True)
    assert OpportunityHistory.objects.filter(unified_id=uid["C"]).count() == 2

    # C comes back
    rows["C"] = ("Qualification", "35.00")
    _export("hist", rows)
    _sync(conn)
    c = list(OpportunityHistory.objects.filter(unified_id=uid["C"]).order_by("version"))
    assert [(v.version, v.deleted, v.stage, v.amount) for v in c][1:] == [
        (2, True, "Prospecting", Decimal("30")), (3, False, "Qualification", Decimal("35"))]
    assert c[1].valid_to == c[2].valid_from and c[2].valid_to is None
    assert OpportunityHistory.objects.filter(valid_to__isnull=True).count() == 3  # one open version each

    # the view as of a past time: before A's stage change; while C was deleted; now
    past = {r["unified_id"]: r for r in view_as_of(entity="opportunity", at=created_at)}
    assert {k: (r["stage"], r["amount"]) for k, r in past.items()} == {
        uid["A"]: ("Prospecting", Decimal("10")), uid["B"]: ("Prospecting", Decimal("20")),
        uid["C"]: ("Prospecting", Decimal("30"))}
    while_deleted = {r["unified_id"] for r in view_as_of(entity="opportunity", at=deleted_at)}
    assert while_deleted == {uid["A"], uid["B"]}
    assert not list(view_as_of(entity="opportunity", at=created_at - timedelta(microseconds=1)))
    now = {r["unified_id"]: r["stage"] for r in view_as_of(entity="opportunity", at=c[2].valid_from)}
    assert now == {uid["A"]: "Closed Won", uid["B"]: "Prospecting", uid["C"]: "Qualification"}


def test_a_crash_between_the_duckdb_commit_and_the_publish_is_published_by_the_next_run(in_tenant_a, monkeypatch):
    rows = {"A": ("Prospecting", "10.00")}
    conn = _export("crash", rows)
    _sync(conn)
    _export("crash", {"A": ("Negotiation/Review", "10.00")})
    real = history._publish

    def dies(*args, **kwargs):
        raise RuntimeError("killed before the publish")

    monkeypatch.setattr(history, "_publish", dies)
    with pytest.raises(Exception, match="killed before the publish"):
        _sync(conn)
    assert OpportunityHistory.objects.count() == 1  # PostgreSQL has not seen version 2
    assert duck_rows(connection.tenant, "SELECT version FROM _hist_outbox_opportunity") == [(2,)]

    monkeypatch.setattr(history, "_publish", real)
    _sync(conn)  # no new change: the outbox is published, once
    versions = list(OpportunityHistory.objects.order_by("version"))
    assert [(v.version, v.stage, v.valid_to is None) for v in versions] == [
        (1, "Prospecting", False), (2, "Negotiation/Review", True)]
    assert duck_rows(connection.tenant, "SELECT count(*) FROM _hist_outbox_opportunity") == [(0,)]


def test_an_outbox_published_twice_changes_nothing(in_tenant_a, monkeypatch):
    """A crash after PostgreSQL's commit and before the outbox is emptied: the next publish skips
    the versions already there and closes nothing twice."""
    conn = _export("again", {"A": ("Prospecting", "10.00"), "B": ("Prospecting", "20.00")})
    _sync(conn)
    _export("again", {"A": ("Prospecting", "11.00")})  # A changes, B leaves

    def dies(con, entity):
        raise RuntimeError("killed after the publish")

    monkeypatch.setattr(history, "_outbox_clear", dies)
    with pytest.raises(Exception, match="killed after the publish"):
        _sync(conn)
    before = sorted(OpportunityHistory.objects.values_list("unified_id", "version", "valid_from", "valid_to",
                                                           "deleted", "amount"))
    assert len(before) == 4 and duck_rows(connection.tenant, "SELECT count(*) FROM _hist_outbox_opportunity") == [(2,)]
    monkeypatch.undo()
    _sync(conn)
    after = sorted(OpportunityHistory.objects.values_list("unified_id", "version", "valid_from", "valid_to",
                                                          "deleted", "amount"))
    assert after == before
    assert duck_rows(connection.tenant, "SELECT count(*) FROM _hist_outbox_opportunity") == [(0,)]


def test_a_duckdb_file_that_lost_its_state_continues_the_versions(in_tenant_a):
    rows = {"A": ("Prospecting", "10.00"), "B": ("Prospecting", "20.00")}
    conn = _export("lost", rows)
    _sync(conn)
    store.duckdb_path(connection.tenant).unlink()  # the file is gone; PostgreSQL keeps the history
    _export("lost", {**rows, "B": ("Prospecting", "21.00")})
    _sync(conn, full=True)
    by_version = sorted((v.version, v.amount) for v in OpportunityHistory.objects.all())
    assert by_version == [(1, Decimal("10")), (1, Decimal("20")), (2, Decimal("21"))]


def test_a_new_hash_signature_rehashes_without_new_versions(in_tenant_a, monkeypatch):
    conn = _export("sig", {"A": ("Prospecting", "10.00")})
    _sync(conn)
    monkeypatch.setattr(history, "_signature", lambda columns: "duckdb 99.0; another hash")
    with store.WriterLock(connection.tenant):
        con = store.connect(connection.tenant)
        try:
            con.execute("UPDATE _hist_state_opportunity SET h = 1")  # what another hash() would have stored
        finally:
            con.close()
    _sync(conn, full=True)
    assert OpportunityHistory.objects.count() == 1
    assert duck_rows(connection.tenant, "SELECT signature FROM _hist_meta WHERE entity = 'opportunity'") == [
        ("duckdb 99.0; another hash",)]


def test_account_versions_follow_owner_and_type(in_tenant_a):
    path = settings.DATA_DIR / "accounts"
    path.mkdir(parents=True, exist_ok=True)

    def write(owner: str, kind: str) -> None:
        (path / "Account.csv").write_text(
            "Id,Name,Website,OwnerId,Type,Industry\n"
            f"001A,Acme Corp,acme.example,{owner},{kind},Manufacturing\n"
            "001B,Globex,globex.example,005B,Customer,Energy\n")

    write("005A", "Prospect")
    conn = connection_create(name="accounts", kind="filesource",
                             config={"folder": str(path), "source_system": "salesforce", "exports": "full"})
    _sync(conn)
    assert AccountHistory.objects.count() == 2
    acme = AccountHistory.objects.get(owner_id="005A").unified_id
    write("005C", "Prospect")
    _sync(conn)
    write("005C", "Customer")
    _sync(conn)
    versions = list(AccountHistory.objects.filter(unified_id=acme).order_by("version"))
    assert [(v.version, v.owner_id, v.valid_to is None) for v in versions] == [
        (1, "005A", False), (2, "005C", False), (3, "005C", True)]
    assert versions[2].account_type != versions[1].account_type
    assert AccountHistory.objects.count() == 4  # Globex never moved
