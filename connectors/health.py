"""A connection's health: one function says whether it is healthy, syncing, needs attention or
failed, and why, in words (docs/adr/0023-truthful-health.md).

Every page and API that shows a connection's state asks `connection_health` /
`connections_health`; nothing else reads `Connection.status` to tell a person how a connection is.
`Connection.status` stays what the services record as they go (a test passed, a read started, a
drift freeze, a delete pause): one of the facts, not the answer.

The facts live in the layers above (the runs in dcl, the review items and drift in aam, the
running and queued syncs in Redis): connectors may not import them, so the layer that sees them
all registers a provider in its `AppConfig.ready()` (dcl does: dcl/health.py), as the connection
page's panels are registered (connectors/panels.py). `health_derive` is a pure function of
`HealthFacts`: the rules are here, in one place, and tested without a database.

The rules, first match wins:
1. a run going (the sync lease held, a run recorded as running and not stale) or queued → syncing;
2. a run recorded as running that no process can still be running (stale) → failed;
3. frozen by its drift policy or paused by the delete guard → needs attention (its last run
   stopped on purpose: a person decides next);
4. the last run failed, or the connection's last check or read failed (`status == "error"`) →
   failed, with the error;
5. the last run succeeded but read nothing from a source that has rows, mapped no object onto a
   canonical entity, or quarantined every record it read → failed, with which and why;
6. review items waiting, records quarantined in the last run, an object no entity takes, or a
   source with nothing to read → needs attention, with what;
7. never synced → new ("Not synced yet");
8. else healthy, with what the last run did.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from .models import Connection


class State:
    NEW = "new"
    SYNCING = "syncing"
    HEALTHY = "healthy"
    NEEDS_ATTENTION = "needs_attention"
    FAILED = "failed"


STATES = (State.HEALTHY, State.SYNCING, State.NEEDS_ATTENTION, State.FAILED, State.NEW)
LABELS = {
    State.NEW: "Not synced yet",
    State.SYNCING: "Syncing",
    State.HEALTHY: "Healthy",
    State.NEEDS_ATTENTION: "Needs attention",
    State.FAILED: "Failed",
}
TONES = {State.NEW: "grey", State.SYNCING: "blue", State.HEALTHY: "green", State.NEEDS_ATTENTION: "amber",
         State.FAILED: "red"}


@dataclass(frozen=True)
class ObjectRead:
    """What a run's read did with one source object (aam's ObjectResult, as the run recorded it)."""

    name: str
    entity: str | None = None
    read: int = 0
    published: int = 0
    quarantined: int = 0
    skipped: str = ""
    row_count: int | None = None  # the source's own count when it told one (an estimate for files)
    from_start: bool | None = None  # read from its first record (no cursor, or a full sync)


@dataclass(frozen=True)
class LastRun:
    """The connection's latest recorded run that started something (skips left out)."""

    id: int
    status: str  # running, succeeded, failed
    trigger: str
    started_at: datetime
    finished_at: datetime | None = None
    error: str = ""
    retry_at: datetime | None = None
    stale: bool = False  # recorded as running, but no process can still be running it
    read_done: bool = False  # the run's read step finished (its objects below are its outcome)
    objects: tuple[ObjectRead, ...] = ()
    quarantine_reason: str = ""  # the newest quarantined record's reason, when some were


@dataclass(frozen=True)
class HealthFacts:
    status: str = Connection.Status.NEW
    last_error: str = ""
    last_synced_at: datetime | None = None
    sync_running: bool = False  # the sync lease is held: a read is going now
    sync_queued: bool = False  # a run was asked for and has not started
    last_run: LastRun | None = None
    review_pending: int = 0  # review items of this connection waiting for a decision


@dataclass(frozen=True)
class Health:
    state: str
    reason: str
    review_pending: int = 0
    last_run_id: int | None = None
    since: datetime | None = None  # when the state's cause happened (the run's end or start)
    details: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        return LABELS[self.state]

    @property
    def tone(self) -> str:
        return TONES[self.state]

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "label": self.label, "tone": self.tone}


# ---- the rules -------------------------------------------------------------------------------


def _n(count: int, word: str) -> str:
    return f"{count:,} {word}{'' if count == 1 else 's'}"


def _names(objects: Iterable[ObjectRead], limit: int = 3) -> str:
    names = [o.name for o in objects]
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def _run_failure(run: LastRun) -> str | None:
    """Why a run that ended well still failed to bring data: None when it did bring it."""
    if not run.read_done:
        return None
    objects = run.objects
    if not objects:
        return None  # nothing to read: an empty source is not a failure (rule 4 says so)
    mapped = [o for o in objects if o.entity and not o.skipped]
    if not mapped:
        return (f"Mapped nothing: no object of the source matched a canonical entity ({_names(objects)}), "
                "so no record was read. Check its columns, or map them on the review queue.")
    read = sum(o.read for o in mapped)
    published = sum(o.published for o in mapped)
    quarantined = sum(o.quarantined for o in mapped)
    if read and not published and quarantined:
        why = f": {run.quarantine_reason}" if run.quarantine_reason else ""
        return f"Quarantined everything: all {_n(read, 'record')} read were refused{why}."
    empty = [o for o in mapped if o.read == 0 and o.from_start and (o.row_count or 0) > 0]
    if empty:
        hint = sum(o.row_count or 0 for o in empty)
        return (f"Read nothing from {_names(empty)}, though the source holds about {_n(hint, 'row')}: "
                "the rows could not be parsed as records.")
    return None


def _attention(facts: HealthFacts) -> list[str]:
    notes = []
    if facts.status == Connection.Status.FROZEN:
        notes.append("Stopped by its drift policy until the schema changes are reviewed.")
    if facts.status == Connection.Status.PAUSED:
        notes.append("Paused: the deletes its last sync found wait for a review.")
    if facts.review_pending:
        notes.append(f"{_n(facts.review_pending, 'review item')} wait{'s' if facts.review_pending == 1 else ''} "
                     "for a decision.")
    run = facts.last_run
    if run is not None and run.status == "succeeded" and run.read_done:
        if not run.objects:
            notes.append("The source has nothing to read yet (no table, file or collection was found).")
        mapped = [o for o in run.objects if o.entity and not o.skipped]
        quarantined = sum(o.quarantined for o in mapped)
        if quarantined:
            read = sum(o.read for o in mapped)
            why = f" ({run.quarantine_reason})" if run.quarantine_reason else ""
            notes.append(f"The last sync quarantined {quarantined:,} of {_n(read, 'record')}{why}.")
        skipped = [o for o in run.objects if o.skipped]
        if skipped and mapped:
            notes.append(f"Not mapped to any entity: {_names(skipped)}.")
    return notes


def _healthy_reason(run: LastRun | None) -> str:
    if run is None or not run.read_done:
        return "The last sync succeeded."
    mapped = [o for o in run.objects if o.entity and not o.skipped]
    read = sum(o.read for o in mapped)
    if not read:
        return f"Up to date: the last sync found nothing new in {_n(len(mapped), 'object')}."
    return f"The last sync read {_n(read, 'record')} from {_n(len(mapped), 'object')}."


def health_derive(facts: HealthFacts) -> Health:
    """The connection's state and its reason, from its facts (the rules in the module's docstring)."""
    run = facts.last_run
    run_id = run.id if run is not None else None
    pending = facts.review_pending
    running = facts.sync_running or (run is not None and run.status == "running" and not run.stale)
    if running:
        why = "Reading the source." if facts.sync_running else "Applying what the sync read to the unified views."
        return Health(State.SYNCING, why, pending, run_id, run.started_at if run is not None else None)
    if facts.sync_queued:
        return Health(State.SYNCING, "Queued: the sync starts when a worker is free.", pending, run_id)
    if run is not None and run.status == "running":  # stale
        return Health(State.FAILED, "The last sync stopped without finishing (its worker stopped). Retry it.",
                      pending, run_id, run.started_at)
    if facts.status in (Connection.Status.FROZEN, Connection.Status.PAUSED):
        # its last run stopped on purpose (DriftFrozen) or paused its deletes: a person decides next
        notes = _attention(facts)
        return Health(State.NEEDS_ATTENTION, notes[0], pending, run_id,
                      run.finished_at if run is not None else None, notes[1:])
    if run is not None and run.status == "failed":
        retry = f" Retrying at {run.retry_at:%H:%M:%S} UTC." if run.retry_at is not None else ""
        return Health(State.FAILED, f"The last sync failed: {run.error or 'no reason recorded'}.{retry}", pending,
                      run_id, run.finished_at)
    if facts.status == Connection.Status.ERROR:  # a failed test, or a read no run recorded
        why = facts.last_error or "no reason recorded"
        return Health(State.FAILED, f"The last attempt to reach the source failed: {why}", pending, run_id,
                      run.finished_at if run is not None else None)
    if run is not None and run.status == "succeeded":
        failure = _run_failure(run)
        if failure is not None:
            return Health(State.FAILED, failure, pending, run_id, run.finished_at)
    notes = _attention(facts)
    if notes:
        return Health(State.NEEDS_ATTENTION, notes[0], pending, run_id,
                      run.finished_at if run is not None else None, notes[1:])
    if run is None and facts.last_synced_at is None:
        return Health(State.NEW, "Not synced yet: the first sync reads everything, later ones only what changed.",
                      pending)
    return Health(State.HEALTHY, _healthy_reason(run), pending, run_id,
                  run.finished_at if run is not None else facts.last_synced_at)


# ---- the facts, from the layers above ----------------------------------------------------------

FactsProvider = Callable[[list[Connection]], dict[int, HealthFacts]]
_PROVIDER: list[FactsProvider] = []


def register_health_facts(provider: FactsProvider) -> None:
    """The layer that sees runs, review items and running syncs registers how to gather them
    (dcl, in its AppConfig.ready()); registering again replaces it."""
    _PROVIDER[:] = [provider]


def connections_health(connections: Iterable[Connection]) -> dict[int, Health]:
    """{connection id: Health} of these connections, from one gathering of their facts."""
    connections = list(connections)
    if not connections:
        return {}
    if not _PROVIDER:
        raise RuntimeError("no health facts provider is registered (dcl registers it in DclConfig.ready)")
    facts = _PROVIDER[0](connections)
    return {c.pk: health_derive(facts.get(c.pk) or HealthFacts(status=c.status, last_error=c.last_error,
                                                                last_synced_at=c.last_synced_at))
            for c in connections}


def connection_health(connection: Connection) -> Health:
    return connections_health([connection])[connection.pk]


def health_counts(healths: Iterable[Health]) -> dict[str, int]:
    """How many connections are in each state (every state present, zeros included)."""
    counts = dict.fromkeys(STATES, 0)
    for h in healths:
        counts[h.state] += 1
    return counts
