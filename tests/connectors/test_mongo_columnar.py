"""The MongoDB driver's Arrow pages equal what ingestion made of the former flattened records."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import mongomock
import pyarrow as pa
from bson import Decimal128, ObjectId

from aam.ingest.normalize import records_to_table
from connectors.flatten import flatten
from connectors.kinds.mongodb.columnar import documents_to_table
from connectors.registry import build_driver

DOCS = [
    {
        "_id": ObjectId(),
        "name": "Acme",
        "address": {"city": "Berlin", "geo": {"lat": 52.5, "lng": 13.4}},
        "tags": ["a", {"k": 1}],
        "amount": Decimal128("12.50"),
        "updated_at": dt.datetime(2024, 1, 1, 10, 0, 0, 123000),
        "mixed": 1,
        "empty": {},
    },
    {"_id": ObjectId(), "name": "No address", "mixed": "one", "flag": True, "updated_at": dt.datetime(2024, 1, 2)},
    {"_id": ObjectId(), "name": "nul\x00byte", "address": {"city": None}, "mixed": 2.5, "flag": False},
    {"_id": ObjectId(), "name": None, "address.city": "dotted", "address": {"city": "nested"}, "mixed": None},
]


def _old(docs: list[dict]) -> pa.Table:
    return records_to_table([flatten(d) for d in docs])


def test_documents_to_table_equals_records_to_table_of_the_flattened_documents():
    new, old = documents_to_table(DOCS), _old(DOCS)
    assert new.column_names == old.column_names
    assert new.schema == old.schema
    assert new.to_pylist() == old.to_pylist()
    rows = new.to_pylist()
    assert rows[0]["updated_at"] == "2024-01-01T10:00:00.123000" and rows[1]["updated_at"] == "2024-01-02T00:00:00"
    assert rows[0]["amount"] == "12.50" and rows[0]["address.geo.lat"] == 52.5 and rows[0]["_id"] == str(DOCS[0]["_id"])
    assert rows[2]["name"] == "nul\x00byte" and rows[1]["address.city"] is None
    assert [r["mixed"] for r in rows] == ["1", "one", "2.5", None]  # one field, several types: text
    assert rows[0]["tags"] == '["a", {"k": 1}]' and rows[0]["empty"] == "{}"


def test_every_page_of_a_read_is_an_arrow_table_with_its_cursor():
    client = mongomock.MongoClient()
    base = dt.datetime(2024, 1, 1)
    client["crm"].deals.insert_many(
        [
            {"name": f"D{i}", "amount": Decimal128(str(Decimal(i) / 4)), "owner": {"id": i % 3},
             **({"updated_at": base + dt.timedelta(minutes=i // 2)} if i % 5 else {})}
            for i in range(23)
        ]
    )
    drv = build_driver("mongodb", {"database": "crm"}, {"uri": "mongodb://localhost:27017"},
                       client_factory=lambda *a, **k: client)
    pages = [p for p in drv.read("deals", None, 4) if p.record_count]
    assert all(isinstance(p.table, pa.Table) and p.records == [] for p in pages)
    names = [r["name"] for p in pages for r in p.rows()]
    assert sorted(names) == sorted(f"D{i}" for i in range(23)) and len(set(names)) == 23
    assert names[:5] == ["D0", "D5", "D10", "D15", "D20"]  # documents without the field come first
    # each page's cursor resumes right after it
    for i, page in enumerate(pages[:-1]):
        rest = [r["name"] for p in drv.read("deals", page.cursor, 4) for r in p.rows()]
        assert rest == [r["name"] for p in pages[i + 1 :] for r in p.rows()]
    # and the tables hold what the flattened records gave
    docs = list(client["crm"].deals.find({"updated_at": {"$ne": None}}).sort([("updated_at", 1), ("_id", 1)]))
    value_pages = [p for p in pages if p.cursor["phase"] == "value"]
    assert pa.concat_tables([p.table for p in value_pages]).to_pylist() == _old(docs).to_pylist()
