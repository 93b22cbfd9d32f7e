"""What a run changed in the DCL, per source object: records inserted, updated and deleted.

The consumer decides it where it upserts (dcl/consumer.py, `StreamConsumer._changes`): an upsert
of a key the DCL holds live is an update, any other upsert an insert (a key back after its delete
too), a delete of a key held live a delete. Each batch's counts are written in its ledger row
(`_dcl_batches`), in the transaction that applies it: whichever consumer applies a batch (the one
beside the reads, the run's drain, `dcl_consume`), it is counted once, and a batch the ledger
already holds is never applied nor counted again.

A run knows the stream entries it published (its read's batches of records, its delete stage's
batches); its counts are the sums of the ledger rows of those entries. A batch sent again (a read
resumed from an older cursor sends pages already applied) has a new entry id that the ledger does
not hold: it counts nothing twice. docs/adr/0021-run-counts.md.
"""

from __future__ import annotations

import pyarrow as pa

from . import store

COUNTS = tuple(store.LEDGER_COUNTS)  # inserted, updated, deleted


def changes_counted(*, tenant, connection_id: int, entry_ids: list[str]) -> dict[str, dict[str, int]]:
    """{source object: {"inserted", "updated", "deleted"}} of the ledger rows of `entry_ids` (the
    connection's stream entries); objects with no applied batch among them are absent."""
    if not entry_ids:
        return {}
    with store.read_only(tenant) as con:
        if con is None:
            return {}
        con.register("_entries", pa.table({"e": pa.array(sorted(set(entry_ids)), pa.string())}))
        try:
            sums = ", ".join(f"coalesce(sum({c}), 0)" for c in COUNTS)
            rows = con.execute(
                f"SELECT source_object, {sums} FROM _dcl_batches b SEMI JOIN _entries x ON b.stream_entry = x.e "
                "WHERE b.connection_id = ? GROUP BY 1 ORDER BY 1",
                [int(connection_id)],
            ).fetchall()
        finally:
            con.unregister("_entries")
    return {obj: dict(zip(COUNTS, (int(v) for v in values), strict=True)) for obj, *values in rows}
