"""Source records as entity resolution names them, and the reads its decisions check them against.

A record is `(connection id, source id)`. A pair of records is stored in one order, the smaller
tuple on the left, so one pair is one row whichever way it was named (`ordered`).

Whether a record still exists is the tenant's DuckDB source table's to say (`src_<entity>`, a live
row: not a tombstone). That file belongs to its writer: the read takes the writer lock for one query,
and when a writer holds it longer (a consume or a materialization) the answer comes from the
published view's lineage instead, which is at most one materialization old.
"""

from __future__ import annotations

import logging
from typing import Any

import duckdb
from django.db import connection

from autonomos.core.errors import InvalidInput
from autonomos.core.tenancy import current_tenant

from .. import store
from ..pgsync import view_name
from ..selectors import RECORD_SOURCES_WAIT, view_rows
from .engine import ENTITIES as MERGED_ENTITIES  # the entities entity resolution clusters

logger = logging.getLogger(__name__)

Record = tuple[int, str]

MAX_SOURCE_ID = 1000  # characters of a source id (longer is no id of any source kind)
MAX_CONNECTION_ID = 2**63 - 1


def ordered(a: Record, b: Record) -> tuple[Record, Record, bool]:
    """(left, right, swapped): the pair in its stored order."""
    return (a, b, False) if a <= b else (b, a, True)


def record_parse(value: Any, *, field: str = "records") -> Record:
    """A record from the API or a form: `[connection_id, source_id]`, `{"connection_id", "source_id"}`
    or the text "connection_id:source_id". Anything else is an InvalidInput naming `field`."""
    if isinstance(value, str):
        cid_text, sep, sid = value.partition(":")
        if not sep:
            raise InvalidInput(f"{value[:60]!r} is not a record: use connection_id:source_id.",
                               details={field: value[:60]})
        try:
            cid: Any = int(cid_text)
        except ValueError:
            raise InvalidInput(f"{value[:60]!r} is not a record: the connection id is not a number.",
                               details={field: value[:60]}) from None
    elif isinstance(value, dict):
        cid, sid = value.get("connection_id"), value.get("source_id")
    elif isinstance(value, list | tuple) and len(value) == 2:
        cid, sid = value
    else:
        raise InvalidInput("A record is [connection_id, source_id] or {\"connection_id\", \"source_id\"}.",
                           details={field: str(value)[:60]})
    if isinstance(cid, bool) or not isinstance(cid, int) or not 0 < cid <= MAX_CONNECTION_ID:
        raise InvalidInput("A record's connection_id is a positive integer.", details={field: str(cid)[:60]})
    if isinstance(sid, int) and not isinstance(sid, bool):
        sid = str(sid)
    if not isinstance(sid, str) or not sid or len(sid) > MAX_SOURCE_ID or "\x00" in sid:
        raise InvalidInput(f"A record's source_id is a non-empty text of at most {MAX_SOURCE_ID} characters.",
                           details={field: str(sid)[:60]})
    return (cid, sid)


def merged_entity_check(entity: str) -> None:
    """Only entities entity resolution clusters can be merged or split by hand (their decisions are
    constraints on its clusters; cloud resources merge by provider and id alone)."""
    if entity not in MERGED_ENTITIES:
        raise InvalidInput(f"{str(entity)[:63]!r} records are not merged across sources; merge and split apply "
                           f"to {', '.join(MERGED_ENTITIES)}.", details={"entity": str(entity)[:63]})


def row_records(row: dict) -> list[Record]:
    """The source records of a unified view row, in its lineage's order (the first is the entity's
    first source record: the smallest (connection id, source id))."""
    out = []
    for ref in row.get("sources") or []:
        if isinstance(ref, dict) and ref.get("connection_id") is not None and ref.get("source_id") is not None:
            out.append((int(ref["connection_id"]), str(ref["source_id"])))
    return out


def unified_rows(entity: str, unified_ids: list[str]) -> dict[str, dict]:
    """The view rows of `unified_ids` by id (ids the view does not hold are absent)."""
    ids = [u for u in dict.fromkeys(unified_ids) if isinstance(u, str) and u and "\x00" not in u]
    if not ids:
        return {}
    rows = view_rows(entity=entity, filters={"unified_id__in": ids})
    return {r["unified_id"]: r for r in rows}


def records_missing(entity: str, records: list[Record]) -> list[Record]:
    """The records of `records` that no longer exist (deleted at their source, their connection's data
    removed, or never stored), in the order given."""
    wanted = list(dict.fromkeys(records))
    if not wanted:
        return []
    try:
        live = _live_in_store(entity, wanted)
    except store.WriterBusy:
        logger.info("entity resolution: the store is being written; checking %d records against the view",
                    len(wanted))
        live = _live_in_view(entity, wanted)
    return [r for r in wanted if r not in live]


def _live_in_store(entity: str, records: list[Record]) -> set[Record]:
    tenant = current_tenant()
    path = store.duckdb_path(tenant)
    if not path.exists():
        return set()
    table = store.source_table(entity)
    with store.WriterLock(tenant, timeout=RECORD_SOURCES_WAIT):
        con = duckdb.connect(str(path), read_only=True)
        try:
            if table not in store.existing_tables(con):
                return set()
            rows = con.execute(
                f"SELECT s._connection_id, s._source_id FROM {table} s "
                "JOIN (SELECT unnest(?::BIGINT[]) AS c, unnest(?::VARCHAR[]) AS i) k "
                "ON s._connection_id = k.c AND s._source_id = k.i WHERE NOT s._deleted",
                [[r[0] for r in records], [r[1] for r in records]],
            ).fetchall()
        finally:
            con.close()
    return {(int(c), str(i)) for c, i in rows}


def _live_in_view(entity: str, records: list[Record]) -> set[Record]:
    """The records the published view's lineage holds (one pass over the view)."""
    schema = current_tenant().schema_name
    table = f'"{schema}"."{view_name(entity)}"'
    with connection.cursor() as cur:
        cur.execute("SELECT to_regclass(%s)", [table])
        if cur.fetchone()[0] is None:
            return set()
        cur.execute(
            f"SELECT DISTINCT e->>'connection_id', e->>'source_id' FROM {table} v "
            "CROSS JOIN LATERAL jsonb_array_elements(v.sources) e "
            "WHERE (e->>'connection_id', e->>'source_id') IN "
            "(SELECT * FROM unnest(%s::text[], %s::text[]))",
            [[str(r[0]) for r in records], [r[1] for r in records]],
        )
        return {(int(c), str(i)) for c, i in cur.fetchall()}


def records_text(records: list[Record], limit: int = 5) -> str:
    """Records as people read them in a message: "3:003A, 4:c9 and 2 more"."""
    shown = ", ".join(f"{c}:{i}" for c, i in records[:limit])
    return shown + (f" and {len(records) - limit} more" if len(records) > limit else "")


def records_json(records: list[Record]) -> list[dict]:
    """Records as the API writes them."""
    return [{"connection_id": c, "source_id": i} for c, i in records]


REDIRECT_HOPS = 5  # chains are collapsed when written; a few hops guard against one written before that


def redirect_target(entity: str, unified_id: str) -> str | None:
    """The live id an old unified id now answers with (its cluster was split or merged), or None."""
    from ..models import UnifiedIdRedirect

    if "\x00" in unified_id or "\x00" in entity:  # no id holds a NUL (PostgreSQL text cannot)
        return None
    target, seen = None, {unified_id}
    current = unified_id
    for _ in range(REDIRECT_HOPS):
        nxt = UnifiedIdRedirect.objects.filter(entity=entity, old_id=current).values_list("new_id", flat=True).first()
        if nxt is None or nxt in seen:
            break
        target = current = nxt
        seen.add(nxt)
    return target


def record_explanations(*, entity: str, records: list[tuple[int, str]]) -> list[dict] | None:
    """Why the source `records` of one unified entity are together (dcl/resolution/engine.py `explain`):
    each joining pair with its probability and, for the model's links, the match weights that decided
    (`chart`: the waterfall laid out for the page). None when the store is being written for longer
    than the page waits."""
    from .chart import waterfall_chart
    from .engine import explain

    try:
        with store.read_only(current_tenant(), timeout=RECORD_SOURCES_WAIT) as con:
            found = explain(con, entity, records) if con is not None else []
    except store.WriterBusy:
        return None
    for item in found:
        total = sum(step.get("log2_bayes_factor") or 0.0 for step in item["waterfall"])
        item["chart"] = waterfall_chart(item["waterfall"], total) if item["waterfall"] else None
    return found
