"""Starting a connection's sync from the connectors layer, which may not import the one that runs it.

A new connection's first sync starts by itself once it is saved (connectors/services.py,
`connection_create_tested`); the sync belongs to aam and the DCL above, so aam registers its
starter here in `AamConfig.ready()` (the pattern of connectors/panels.py).
"""

from __future__ import annotations

from collections.abc import Callable

from .models import Connection

SyncStarter = Callable[..., str]  # (connection=, trigger=) → the queued task's id
_STARTER: list[SyncStarter] = []


def register_sync_starter(starter: SyncStarter) -> None:
    _STARTER[:] = [starter]


def sync_start(*, connection: Connection, trigger: str) -> str:
    """Queue a run of the connection (after the current transaction commits); its task id."""
    if not _STARTER:
        raise RuntimeError("no sync starter is registered (aam registers it in AamConfig.ready)")
    return _STARTER[0](connection=connection, trigger=trigger)
