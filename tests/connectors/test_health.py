"""The health rules (connectors/health.py): a pure function of a connection's facts.

The cases of issue #18: a binary file or a file that maps nothing is not "Healthy, Done · 0 read";
a run that quarantined everything failed; an approved item no longer needs attention; a run that
just finished is not "Not synced yet"; a worker that died does not leave "Syncing" for good.
"""

from __future__ import annotations

from datetime import UTC, datetime

from connectors.health import HealthFacts, LastRun, ObjectRead, State, health_counts, health_derive

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
T1 = datetime(2026, 1, 5, 9, 1, tzinfo=UTC)


def run(status="succeeded", objects=(), **kw) -> LastRun:
    return LastRun(id=7, status=status, trigger="manual", started_at=T0,
                   finished_at=T1 if status != "running" else None,
                   read_done=kw.pop("read_done", status == "succeeded"), objects=tuple(objects), **kw)


DEALS = ObjectRead("Deals.csv", entity="opportunity", read=50, published=50, row_count=50, from_start=True)


def test_a_connection_never_synced_is_new():
    h = health_derive(HealthFacts(status="new"))
    assert h.state == State.NEW and h.label == "Not synced yet"


def test_a_good_run_is_healthy_and_says_what_it_read():
    h = health_derive(HealthFacts(status="ok", last_synced_at=T1, last_run=run(objects=[DEALS])))
    assert h.state == State.HEALTHY
    assert h.reason == "The last sync read 50 records from 1 object."
    assert h.last_run_id == 7 and h.since == T1


def test_a_run_that_just_finished_is_never_not_synced_yet():
    # the cursor is stored by the DCL after the read; the state comes from the run, not the cursor
    h = health_derive(HealthFacts(status="ok", last_synced_at=None, last_run=run(objects=[DEALS])))
    assert h.state != State.NEW


def test_an_incremental_run_that_reads_nothing_is_up_to_date():
    quiet = ObjectRead("Deals.csv", entity="opportunity", read=0, row_count=50, from_start=False)
    h = health_derive(HealthFacts(status="ok", last_run=run(objects=[quiet])))
    assert h.state == State.HEALTHY and "nothing new" in h.reason


def test_a_file_that_maps_nothing_failed_with_the_reason():
    # a 5 MB one-column file: previewed, no canonical entity, 0 rows read
    blob = ObjectRead("Blob.csv", entity=None, skipped="no canonical entity for this object", row_count=51910,
                      from_start=True)
    h = health_derive(HealthFacts(status="ok", last_run=run(objects=[blob])))
    assert h.state == State.FAILED
    assert h.reason.startswith("Mapped nothing") and "Blob.csv" in h.reason


def test_reading_nothing_from_rows_the_source_holds_failed():
    unread = ObjectRead("Deals.csv", entity="opportunity", read=0, row_count=320, from_start=True)
    h = health_derive(HealthFacts(status="ok", last_run=run(objects=[unread])))
    assert h.state == State.FAILED and "Read nothing from Deals.csv" in h.reason and "320" in h.reason


def test_quarantining_every_record_failed_with_the_quarantine_reason():
    bad = ObjectRead("Deals.csv", entity="opportunity", read=4, published=0, quarantined=4, row_count=4,
                     from_start=True)
    h = health_derive(HealthFacts(status="ok", last_run=run(objects=[bad], quarantine_reason="no id")))
    assert h.state == State.FAILED and h.reason == "Quarantined everything: all 4 records read were refused: no id."


def test_some_records_quarantined_needs_attention():
    some = ObjectRead("Deals.csv", entity="opportunity", read=50, published=48, quarantined=2, row_count=50,
                      from_start=True)
    h = health_derive(HealthFacts(status="ok", last_run=run(objects=[some])))
    assert h.state == State.NEEDS_ATTENTION and "quarantined 2 of 50 records" in h.reason


def test_a_source_with_nothing_to_read_needs_attention_not_healthy():
    # e.g. the only uploaded file was refused as binary: the folder holds no CSV
    h = health_derive(HealthFacts(status="ok", last_run=run(objects=[])))
    assert h.state == State.NEEDS_ATTENTION and "nothing to read" in h.reason


def test_a_failed_run_failed_with_its_error_and_its_retry():
    h = health_derive(HealthFacts(status="ok", last_run=run("failed", error="PermanentError: bad password",
                                                            retry_at=T1)))
    assert h.state == State.FAILED
    assert "bad password" in h.reason and "Retrying at 09:01:00" in h.reason


def test_a_failed_test_or_read_failed_with_the_recorded_error():
    h = health_derive(HealthFacts(status="error", last_error="could not connect to server"))
    assert h.state == State.FAILED
    assert h.reason == "The last attempt to reach the source failed: could not connect to server"


def test_review_items_waiting_need_attention_and_an_approved_one_no_longer_does():
    waiting = health_derive(HealthFacts(status="ok", review_pending=1, last_run=run(objects=[DEALS])))
    assert waiting.state == State.NEEDS_ATTENTION and waiting.reason == "1 review item waits for a decision."
    decided = health_derive(HealthFacts(status="ok", review_pending=0, last_run=run(objects=[DEALS])))
    assert decided.state == State.HEALTHY


def test_frozen_and_paused_need_a_person_even_though_the_run_stopped():
    frozen = health_derive(HealthFacts(status="frozen", review_pending=2,
                                       last_run=run("failed", error="DriftFrozen: 2 changes")))
    assert frozen.state == State.NEEDS_ATTENTION and "drift policy" in frozen.reason
    assert frozen.details == ["2 review items wait for a decision."]
    paused = health_derive(HealthFacts(status="paused", last_run=run(objects=[DEALS])))
    assert paused.state == State.NEEDS_ATTENTION and "deletes" in paused.reason


def test_syncing_while_the_lease_is_held_or_the_run_goes_on_or_it_is_queued():
    assert health_derive(HealthFacts(status="syncing", sync_running=True)).state == State.SYNCING
    applying = health_derive(HealthFacts(status="ok", last_run=run("running")))
    assert applying.state == State.SYNCING and "Applying" in applying.reason
    queued = health_derive(HealthFacts(status="new", sync_queued=True))
    assert queued.state == State.SYNCING and queued.reason.startswith("Queued")


def test_a_run_left_running_by_a_dead_worker_failed_and_is_not_syncing_forever():
    h = health_derive(HealthFacts(status="syncing", last_run=run("running", stale=True)))
    assert h.state == State.FAILED and "stopped without finishing" in h.reason


def test_a_status_left_syncing_without_a_lease_or_a_run_is_not_syncing():
    # Connection.status "syncing" is left behind by a killed worker: it is a fact, not the answer
    h = health_derive(HealthFacts(status="syncing", last_synced_at=T1))
    assert h.state == State.HEALTHY


def test_counts_have_every_state():
    hs = [health_derive(HealthFacts(status="new")), health_derive(HealthFacts(status="error", last_error="x"))]
    assert health_counts(hs) == {"healthy": 0, "syncing": 0, "needs_attention": 0, "failed": 1, "new": 1}
