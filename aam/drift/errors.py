"""Errors of drift detection the sync must know about (no model imports: safe to import anywhere)."""

from __future__ import annotations

from typing import Any


class DriftFrozen(RuntimeError):
    """The connection is frozen by its drift policy: stop the sync here.

    Raised by `aam.drift.services.drift_check` before an object is read, when the connection's policy
    is `freeze` and schema changes await a human. Data already ingested stays; the connection's
    status is `frozen` (the sync must not overwrite it with `error`); deciding every pending drift
    review item lifts the freeze.
    """

    def __init__(self, outcome: Any):
        self.outcome = outcome
        self.connection_id = outcome.connection_id
        self.source_object = outcome.source_object
        self.review_item_ids = list(outcome.review_item_ids)
        super().__init__(outcome.frozen_reason or "the connection is frozen by its drift policy")
