"""Type-2 history of unified entities (docs/adr/0020-history.md).

- `record.py`: the materialize stage's hook. Compares each tracked view (`view_opportunity`,
  `view_account`) with the open versions it keeps in DuckDB (a hash of the tracked columns per
  entity), writes only the versions that changed to an outbox in the same DuckDB transaction, and
  publishes the outbox to PostgreSQL (`dcl_history_<entity>`) in one transaction: insert the new
  versions, close the previous ones.
- `selectors.py`: reads for the API: an entity's versions, newest first, and a view as of a time.

The tracked columns are the history models' own fields (dcl/models.py `OpportunityHistory`,
`AccountHistory`): one place says what is tracked.
"""

from .record import HISTORY_MODELS, HistoryStep, history_record, tracked_columns

__all__ = ["HISTORY_MODELS", "HistoryStep", "history_record", "tracked_columns"]
