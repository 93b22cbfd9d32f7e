"""Test doubles and helpers for the pipeline tests, used ONLY here: a tiny in-memory driver, a fixed mapping,
a CSV export read by the real filesource driver (`csv_connection`), and (until the mapping engine ships
`aam.ontology`) the ontology of DESIGN.md."""

from __future__ import annotations

import sys
import types
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

ONTOLOGY = {
    "account": {
        "id": "string",
        "name": "string",
        "website": "string",
        "industry": "string",
        "employee_count": "integer",
        "annual_revenue": "decimal",
        "phone": "string",
        "city": "string",
        "country": "string",
        "owner_id": "string",
        "parent_account_id": "string",
        "created_at": "datetime",
        "updated_at": "datetime",
    },
    "contact": {
        "id": "string",
        "account_id": "string",
        "first_name": "string",
        "last_name": "string",
        "email": "string",
        "title": "string",
        "created_at": "datetime",
        "updated_at": "datetime",
    },
    "opportunity": {
        "id": "string",
        "account_id": "string",
        "contact_id": "string",
        "name": "string",
        "stage": "string",
        "amount": "decimal",
        "currency": "string",
        "probability": "decimal",
        "close_date": "date",
        "is_closed": "boolean",
        "is_won": "boolean",
        "owner_id": "string",
        "created_at": "datetime",
        "updated_at": "datetime",
    },
    "cost": {
        "billing_account_id": "string",
        "sub_account_id": "string",
        "service_name": "string",
        "charge_period_start": "datetime",
        "billed_cost": "decimal",
        "tags": "json",
    },
}


def ensure_ontology() -> None:
    """Install a stand-in `aam.ontology` when the mapping engine's is not there yet."""
    try:
        import aam.ontology  # noqa: F401

        return
    except ImportError:
        pass
    module = types.ModuleType("aam.ontology")
    module.get_ontology = lambda: {e: [{"name": n, "type": t} for n, t in f.items()] for e, f in ONTOLOGY.items()}
    sys.modules["aam.ontology"] = module
    import aam

    aam.ontology = module


@dataclass
class SourceField:
    name: str
    type: str = "string"
    samples: list = field(default_factory=list)
    nullable: bool = True


@dataclass
class SourceObject:
    name: str
    fields: list[SourceField]
    primary_key: str | None = "Id"
    cursor_field: str | None = None
    row_count: int | None = None


@dataclass
class RecordError:
    position: int
    reason: str
    raw: Any


@dataclass
class Page:
    records: list[dict]
    cursor: dict | None
    errors: list = field(default_factory=list)
    table: pa.Table | None = None


@dataclass
class Mapping:
    entity: str
    fields: dict[str, str]
    version: int = 1
    confidences: dict[str, float] = field(default_factory=dict)


class MemoryDriver:
    """A source of {object: [records]}; the cursor is the offset of the next record."""

    def __init__(
        self,
        objects: dict[str, list[dict]],
        *,
        page_size: int = 50,
        fail_after_pages: int | None = None,
        errors: dict[str, list[RecordError]] | None = None,
        metadata: dict[str, dict[str, dict]] | None = None,
    ):
        self.objects = objects
        self.metadata = metadata or {}
        self.page_size = page_size
        self.fail_after_pages = fail_after_pages
        self.errors = errors or {}
        self.pages_read = 0
        self.closed = False

    def close(self) -> None:
        self.closed = True

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def value_metadata(self, object_name: str) -> dict[str, dict]:
        return dict(self.metadata.get(object_name, {}))

    def discover(self):
        out = []
        for name, records in self.objects.items():
            names = list(dict.fromkeys(k for r in records for k in r))
            out.append(SourceObject(name=name, fields=[SourceField(n) for n in names], row_count=len(records)))
        return out

    def read(self, object_name, cursor=None, page_size=None):
        records = self.objects[object_name]
        start = int((cursor or {}).get("offset", 0))
        for offset in range(start, len(records), self.page_size):
            if self.fail_after_pages is not None and self.pages_read >= self.fail_after_pages:
                raise ConnectionError("source went away")
            self.pages_read += 1
            chunk = records[offset : offset + self.page_size]
            errors = [e for e in self.errors.get(object_name, []) if offset < e.position <= offset + len(chunk)]
            yield Page(records=chunk, cursor={"offset": offset + len(chunk)}, errors=errors)


SF_OPPORTUNITY = {
    "Id": "id",
    "AccountId": "account_id",
    "Name": "name",
    "StageName": "stage",
    "Amount": "amount",
    "CloseDate": "close_date",
    "IsWon": "is_won",
    "LastModifiedDate": "updated_at",
}


def opportunity_records(n: int, *, start: int = 0, amount_of=lambda i: f"{i * 10}.50") -> list[dict]:
    return [
        {
            "Id": f"006{i:015d}",
            "AccountId": f"001{i % 7:015d}",
            "Name": f"Deal {i}",
            "StageName": "Prospecting",
            "Amount": amount_of(i),
            "CloseDate": "2026-03-31",
            "IsWon": "false",
            "LastModifiedDate": "2026-01-02T03:04:05.000+0000",
        }
        for i in range(start, start + n)
    ]


def batches_for(
    tenant,
    connection_id: int,
    records: list[dict],
    *,
    chunk: int = 10,
    generation: int = 0,
    entity: str = "opportunity",
    mapping: dict | None = None,
    source_object: str = "Opportunity",
):
    """Normalize records the way a sync does and cut them into stream batches."""
    from aam.ingest.batches import BatchHeader, split_batches
    from aam.ingest.normalize import build_plan, normalize_page, records_to_table

    plan = build_plan(
        entity=entity,
        source_object=source_object,
        mapping_fields=mapping or SF_OPPORTUNITY,
        entity_fields=ONTOLOGY[entity],
        id_fields=("Id",),
        fingerprint="fp",
        mapping_version=1,
    )
    page = normalize_page(records_to_table(records), plan)
    header = BatchHeader(
        tenant_id=str(tenant.tenant_id),
        connection_id=connection_id,
        source_object=source_object,
        entity=entity,
        schema_fingerprint="fp",
        mapping_version=1,
        generation=generation,
    )
    return list(split_batches(page.table, header, chunk))


def delete_batches(tenant, connection_id: int, keys: list[str], *, generation: int, entity: str = "opportunity",
                   source_object: str = "Opportunity"):
    """Canonical `delete` events for `keys`, as the delete stage publishes them (docs/adr/0019-deletes.md)."""
    from aam.ingest.batches import BatchHeader, split_batches

    header = BatchHeader(tenant_id=str(tenant.tenant_id), connection_id=connection_id, source_object=source_object,
                         entity=entity, schema_fingerprint="deletes", mapping_version=0, generation=generation)
    table = pa.table({"_source_id": keys, "_op": ["delete"] * len(keys), "_position": list(range(1, len(keys) + 1))})
    return list(split_batches(table, header, 100))


def mappings_record(connection_id: int, mapping: dict | None = None, *, entity: str = "opportunity",
                    source_object: str = "Opportunity") -> None:
    """The active field mappings a sync would have stored for `mapping` (in the current tenant): the
    value stage finds the value-mapped columns through them, as it does after a real sync."""
    from aam.models import FieldMapping

    for source_field, canonical in (mapping or SF_OPPORTUNITY).items():
        FieldMapping.objects.get_or_create(
            connection_id=connection_id, source_object=source_object, source_field=source_field,
            defaults={"canonical_entity": entity, "canonical_field": canonical, "confidence": 1.0,
                      "method": FieldMapping.Method.MEMORY, "status": FieldMapping.Status.ACTIVE},
        )


def publish(tenant, connection_id: int, messages, **kwargs):
    from aam.streams import StreamPublisher

    publisher = StreamPublisher(tenant, connection_id, **kwargs)
    return publisher.publish(messages)


def duck_rows(tenant, sql: str):
    """Read the tenant's DuckDB file (the writer lock keeps out a concurrent consumer)."""
    from dcl import store

    with store.WriterLock(tenant, timeout=30):
        con = store.connect(tenant)
        try:
            return con.execute(sql).fetchall()
        finally:
            con.close()


def land_and_materialize(tenant, records, name: str = "SF"):
    """Publish opportunity records for a Salesforce connection `name`, materialize, and return the
    opportunity view's catalog row (the connection is left on the public schema)."""
    from django.db import connection

    from connectors.models import Connection
    from dcl.models import MaterializedView
    from dcl.pipeline.materialize import materialize_with_values

    connection.set_tenant(tenant)
    conn, _ = Connection.objects.get_or_create(name=name, kind="salesforce")
    mappings_record(conn.pk)
    publish(tenant, conn.pk, batches_for(tenant, conn.pk, records))
    materialize_with_values(tenant=tenant)
    view = MaterializedView.objects.get(entity="opportunity")
    connection.set_schema_to_public()
    return view


def csv_connection(folder_name: str, filename: str, content: str | bytes, *, source_system: str = "salesforce"):
    """A filesource connection (in the current tenant) reading one CSV file written under the test
    data folder: the real driver and mapping engine, as a user's export would be read."""
    from django.conf import settings

    from connectors.services import connection_create

    folder = settings.DATA_DIR / folder_name
    folder.mkdir(parents=True, exist_ok=True)
    data = content.encode() if isinstance(content, str) else content
    (folder / filename).write_bytes(data)
    return connection_create(
        name=folder_name, kind="filesource", config={"folder": str(folder), "source_system": source_system}
    )
