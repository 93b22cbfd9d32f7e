"""MongoDB (pymongo): collections as objects, nested documents flattened with dotted names,
incremental by an updated-at field (keyset on (field, _id)) or by `_id` for insert-only collections.

Pass `client_factory=mongomock.MongoClient` (tests) through `driver_for(..., client_factory=...)`.

Reads by an updated-at field pass twice, like the PostgreSQL driver: documents where the field is
null or missing, by `_id` after `null_id` (the highest one read so far; ObjectIds grow with insertion
time, so later inserts without the field are found), then the others by (field, `_id`) after
(`value`, `id`). Cursor `{"field", "phase": "null" | "value", "null_id", "value", "id"}` (keys appear
once known) with typed values (`{"$date": iso}`, `{"$oid": hex}`) so they survive JSON; by `_id`
alone: `{"field": "_id", "id"}`. Not seen incrementally: a document whose field is unset or moved
back in time, or inserted without it under a client-chosen `_id` below `null_id`; a full sync
(cursor None) reads everything.

Pages carry Arrow tables built column by column from each batch of documents (columnar.py).

Deletes (docs/adr/0021-run-counts.md, 0019-deletes.md): a collection's keys are compared with the
DCL's by range ("key_ranges"), as PostgreSQL's are. MongoDB has no md5 to aggregate with, so the
driver lists `_id`s only (a covered scan of the `_id` index, KEY_BATCH at a time), turns each batch
into the key text the pipeline stores (`_source_id`: the `_id` column as a page gives it, as text,
trimmed) and has DuckDB compute that batch's range digests in memory; only the differing ranges'
keys are listed a second time. Memory stays one batch of keys, whatever the collection's size.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

from ...base import (
    DEFAULT_PAGE_SIZE,
    CheckResult,
    Driver,
    Page,
    SourceField,
    SourceObject,
    keyed_samples_fill,
    max_samples,
)
from ...errors import ConnectorError, ObjectNotFound, PermanentError, TransientError
from ...flatten import flatten
from ...keyranges import digests_add, digests_of_arrow, keys_of_arrow_in_ranges
from ...netguard import ensure_public_mongo_uri, mongo_server_selector
from ...typeinfer import classify_value, combine, sample_of
from .columnar import documents_to_table

KEY_BATCH = 50_000  # `_id`s listed per round when keys are compared (connectors/keyranges.py)


def encode(value: Any) -> Any:
    from bson import ObjectId

    if isinstance(value, ObjectId):
        return {"$oid": str(value)}
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return {"$date": value.isoformat()}
    return value


def decode(value: Any) -> Any:
    from bson import ObjectId

    if isinstance(value, dict) and "$oid" in value:
        return ObjectId(value["$oid"])
    if isinstance(value, dict) and "$date" in value:
        parsed = dt.datetime.fromisoformat(value["$date"])
        # pymongo returns naive UTC datetimes unless tz_aware; compare like with like.
        return parsed.astimezone(dt.UTC).replace(tzinfo=None)
    return value


def _value_type(value: Any) -> str:
    from bson import ObjectId

    if isinstance(value, ObjectId):
        return "string"
    return classify_value(value)


class MongoDriver(Driver):
    kind = "mongodb"

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self._client = None

    def _db(self):
        import pymongo
        from pymongo.errors import ConfigurationError, InvalidURI

        if self._client is None:
            factory = self.options.get("client_factory") or pymongo.MongoClient
            uri = self.secrets.uri
            ensure_public_mongo_uri(uri)  # the seeds, or every SRV target of a mongodb+srv:// URI
            try:
                self._client = factory(
                    uri,
                    serverSelectionTimeoutMS=10_000,
                    connectTimeoutMS=10_000,
                    server_selector=mongo_server_selector,  # members a server announces are checked too
                )
            except (ConfigurationError, InvalidURI) as exc:
                raise PermanentError(f"invalid MongoDB URI: {exc}") from None
        return self._client[self.config.database]

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def _call(self, fn, *args, **kwargs):
        from pymongo.errors import ConnectionFailure, OperationFailure, PyMongoError

        try:
            return fn(*args, **kwargs)
        except OperationFailure as exc:
            if exc.code in (13, 18, 8000):  # Unauthorized, AuthenticationFailed, Atlas auth error
                raise PermanentError(
                    f"MongoDB refused the credentials: {exc.details.get('errmsg', exc) if exc.details else exc}"
                ) from None
            raise ConnectorError(f"MongoDB error: {exc}") from None
        except ConnectionFailure as exc:
            raise TransientError(f"MongoDB unreachable: {exc}") from None
        except PyMongoError as exc:
            raise ConnectorError(f"MongoDB error: {exc}") from None

    def collections(self) -> list[str]:
        names = sorted(n for n in self._call(self._db().list_collection_names) if not n.startswith("system."))
        if self.config.collections is not None:
            wanted = set(self.config.collections)
            names = [n for n in names if n in wanted]
        return names

    def _cursor_field(self, collection: str) -> str:
        return self.config.cursor_fields.get(collection) or self.config.updated_at_field or "_id"

    def check(self) -> CheckResult:
        names = self.collections()
        return CheckResult(True, f"connected to database {self.config.database!r}; {len(names)} collection(s)")

    def discover(self) -> list[SourceObject]:
        limit = max_samples()
        objects = []
        for name in self.collections():
            coll = self._db()[name]
            docs = self._call(lambda c=coll: list(c.find({}).limit(self.config.sample_size)))
            order: dict[str, None] = {}
            seen: dict[str, int] = {}
            types: dict[str, set[str]] = {}
            samples: dict[str, list[Any]] = {}
            nulls: set[str] = set()
            flat_docs = []
            for doc in docs:
                flat = flatten(doc)
                raw = flatten_raw(doc)
                flat_docs.append(flat)
                for key, value in raw.items():
                    order.setdefault(key)
                    seen[key] = seen.get(key, 0) + 1
                    if value is None:
                        nulls.add(key)
                        continue
                    types.setdefault(key, set()).add(_value_type(value))
                    bucket = samples.setdefault(key, [])
                    sample = sample_of(flat[key])
                    if len(bucket) < limit and sample not in bucket:
                        bucket.append(sample)
            fields = [
                SourceField(
                    name=key,
                    type=combine(types.get(key, set())),
                    samples=samples.get(key, []),
                    nullable=key in nulls or seen[key] < len(docs),
                )
                for key in order
            ]
            keyed_samples_fill(fields, flat_docs, "_id")
            field = self._cursor_field(name)
            objects.append(
                SourceObject(
                    name=name,
                    fields=fields,
                    primary_key="_id",
                    cursor_field=field if field in order or field == "_id" else None,
                    row_count=self._call(coll.estimated_document_count),
                )
            )
        return objects

    # --- deletes: keys compared by range (docs/adr/0019-deletes.md) ----------------------------------

    def deletes_mode(self, object_name: str) -> str:
        return "key_ranges"

    def _key_batches(self, collection: str) -> Iterator[Any]:
        """The collection's keys as the pipeline writes them (pyarrow strings), KEY_BATCH at a time."""
        import pyarrow as pa
        import pyarrow.compute as pc

        if collection not in self.collections():
            raise ObjectNotFound(f"no collection {collection!r} in database {self.config.database!r}")
        coll = self._db()[collection]
        cursor = self._call(lambda: coll.find({}, {"_id": 1}).batch_size(KEY_BATCH))
        while True:
            docs = self._call(lambda: [doc for _, doc in zip(range(KEY_BATCH), cursor, strict=False)])
            if not docs:
                return
            column = documents_to_table(docs)["_id"].combine_chunks()
            yield pc.utf8_trim_whitespace(pc.cast(column, pa.string()))
            if len(docs) < KEY_BATCH:
                return

    def key_digests(self, object_name: str, buckets: int) -> dict[int, tuple[int, ...]]:
        total: dict[int, list[int]] = {}
        for keys in self._key_batches(object_name):
            digests_add(total, digests_of_arrow(keys, buckets))
        return {b: tuple(v) for b, v in total.items()}

    def keys_in_ranges(self, object_name: str, buckets: int, ranges: list[int]) -> Iterator[str]:
        for keys in self._key_batches(object_name):
            yield from keys_of_arrow_in_ranges(keys, buckets, ranges)

    @staticmethod
    def _start_state(cursor: dict | None, field: str) -> dict[str, Any] | None:
        """Where a read by an updated-at field starts: documents where it is null or missing after
        `null_id` (by _id), then the others after (`value`, `id`)."""
        if not cursor or cursor.get("field") != field:
            return {"field": field, "phase": "null"}
        state: dict[str, Any] = {"field": field, "phase": "null"}
        if cursor.get("null_id") is not None:
            state["null_id"] = cursor["null_id"]
        elif cursor.get("value") is None and cursor.get("id") is not None:
            state["null_id"] = cursor["id"]  # a cursor written before `null_id` existed, mid-null pass
        if cursor.get("value") is not None and cursor.get("id") is not None:
            state["value"], state["id"] = cursor["value"], cursor["id"]
        return state

    def read(self, object_name: str, cursor: dict | None = None, page_size: int = DEFAULT_PAGE_SIZE) -> Iterator[Page]:
        if object_name not in self.collections():
            raise ObjectNotFound(f"no collection {object_name!r} in database {self.config.database!r}")
        coll = self._db()[object_name]
        field = self._cursor_field(object_name)
        if field == "_id":
            yield from self._read_by_id(coll, cursor if cursor and cursor.get("field") == "_id" else None, page_size)
            return
        state = self._start_state(cursor, field)
        while True:
            if state["phase"] == "null":
                # {field: None} matches documents where the field is null and where it is missing.
                query: dict[str, Any] = {field: None}
                if state.get("null_id") is not None:
                    query["_id"] = {"$gt": decode(state["null_id"])}
                sort = [("_id", 1)]
            else:
                sort = [(field, 1), ("_id", 1)]
                if state.get("value") is None:
                    query = {field: {"$ne": None}}
                else:
                    value = decode(state["value"])
                    query = {"$or": [{field: {"$gt": value}}, {field: value, "_id": {"$gt": decode(state["id"])}}]}
            docs = self._call(lambda q=query, s=sort: list(coll.find(q).sort(s).limit(page_size)))
            if docs:
                last = docs[-1]
                if state["phase"] == "null":
                    state["null_id"] = encode(last["_id"])
                else:
                    state["id"], state["value"] = encode(last["_id"]), encode(_get(last, field))
                yield Page(records=[], table=documents_to_table(docs), cursor=dict(state))
            if len(docs) < page_size:
                if state["phase"] == "null":
                    state["phase"] = "value"
                    continue
                if not docs and cursor is None:
                    yield Page(records=[], cursor=dict(state))
                return

    def _read_by_id(self, coll, state: dict | None, page_size: int) -> Iterator[Page]:
        while True:
            query = {"_id": {"$gt": decode(state["id"])}} if state else {}
            docs = self._call(lambda q=query: list(coll.find(q).sort([("_id", 1)]).limit(page_size)))
            if not docs:
                return
            state = {"field": "_id", "id": encode(docs[-1]["_id"])}
            yield Page(records=[], table=documents_to_table(docs), cursor=dict(state))
            if len(docs) < page_size:
                return


def _get(doc: dict, dotted: str) -> Any:
    value: Any = doc
    for part in dotted.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def flatten_raw(doc: dict, prefix: str = "", out: dict | None = None) -> dict:
    """Like flatten() but keeps the original Python values (for type inference)."""
    out = {} if out is None else out
    for key, value in doc.items():
        if isinstance(value, dict) and value:
            flatten_raw(value, f"{prefix}{key}.", out)
        else:
            out[f"{prefix}{key}"] = value
    return out
