"""MongoDB (pymongo): collections as objects, nested documents flattened with dotted names,
incremental by an updated-at field (keyset on (field, _id)) or by `_id` for insert-only collections.

Pass `client_factory=mongomock.MongoClient` (tests) through `driver_for(..., client_factory=...)`.
Cursor per collection: `{"field", "value", "id"}` with typed values (`{"$date": iso}`,
`{"$oid": hex}`) so they survive JSON.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

from ..base import DEFAULT_PAGE_SIZE, CheckResult, Driver, Page, SourceField, SourceObject, max_samples
from ..errors import ConnectorError, ObjectNotFound, PermanentError, TransientError
from ..flatten import flatten
from ..netguard import ensure_public_host
from ..typeinfer import classify_value, combine, sample_of


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
        from pymongo import uri_parser
        from pymongo.errors import ConfigurationError, InvalidURI

        if self._client is None:
            factory = self.options.get("client_factory") or pymongo.MongoClient
            uri = self.secrets.uri
            if not uri.startswith("mongodb+srv://"):
                try:
                    nodes = uri_parser.parse_uri(uri)["nodelist"]
                except (InvalidURI, ConfigurationError, ValueError) as exc:
                    raise PermanentError(f"invalid MongoDB URI: {exc}") from None
                for host, port in nodes:
                    ensure_public_host(host, port)
            self._client = factory(uri, serverSelectionTimeoutMS=10_000, connectTimeoutMS=10_000)
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

    def read(self, object_name: str, cursor: dict | None = None, page_size: int = DEFAULT_PAGE_SIZE) -> Iterator[Page]:
        if object_name not in self.collections():
            raise ObjectNotFound(f"no collection {object_name!r} in database {self.config.database!r}")
        coll = self._db()[object_name]
        field = self._cursor_field(object_name)
        state = cursor if cursor and cursor.get("field") == field else None
        while True:
            if field == "_id":
                query = {"_id": {"$gt": decode(state["id"])}} if state else {}
                sort = [("_id", 1)]
            else:
                sort = [(field, 1), ("_id", 1)]
                if state is None:
                    query = {}
                elif state.get("value") is None:
                    query = {"$or": [{field: None, "_id": {"$gt": decode(state["id"])}}, {field: {"$ne": None}}]}
                else:
                    value = decode(state["value"])
                    query = {"$or": [{field: {"$gt": value}}, {field: value, "_id": {"$gt": decode(state["id"])}}]}
            docs = self._call(lambda q=query, s=sort: list(coll.find(q).sort(s).limit(page_size)))
            if not docs:
                return
            last = docs[-1]
            state = {"field": field, "id": encode(last["_id"])}
            if field != "_id":
                state["value"] = encode(_get(last, field))
            yield Page(records=[flatten(d) for d in docs], cursor=dict(state))
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
