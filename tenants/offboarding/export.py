"""A tenant's data as one zip archive, streamed: nothing bigger than a chunk is held in memory.

The archive holds `manifest.json` (format, tenant, time, one entry per file with its row count)
and the parts the apps registered (tenants/offboarding/__init__.py): model rows as JSON Lines,
the unified views as CSV. Every part is read in one REPEATABLE READ transaction, so the archive is
one snapshot of the tenant even while it is being written to.
"""

from __future__ import annotations

import json
import os
import uuid
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Protocol

from django.apps import apps
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.utils import timezone
from django_tenants.utils import get_public_schema_name, tenant_context
from psycopg import sql

if TYPE_CHECKING:
    from tenants.models import Tenant

FORMAT = "autonomos-tenant-export"
FORMAT_VERSION = 1
WRITE_CHUNK = 1 << 20  # bytes buffered before a write into the (deflating) zip entry
ROWS_CHUNK = 2000

# Field names that never leave the database in an export unless a part lists them by name.
SECRET_MARKERS = ("secret", "password", "passwd", "token", "ciphertext", "credential", "api_key", "private_key")


class ExportRefused(ValueError):
    """The tenant cannot be exported (the public tenant)."""


class ExportPart(Protocol):
    """One part of the archive, registered by the app that owns the data."""

    name: str

    def write(self, archive: zipfile.ZipFile) -> dict[str, int]:
        """Write this part's entries (called inside the tenant); return {entry: rows}."""


class _Buffered:
    """Writes into a zip entry in chunks of WRITE_CHUNK bytes (one deflate call per chunk)."""

    def __init__(self, out: IO[bytes]) -> None:
        self.out = out
        self.buf = bytearray()

    def write(self, data: bytes | memoryview) -> None:
        self.buf += data
        if len(self.buf) >= WRITE_CHUNK:
            self.flush()

    def flush(self) -> None:
        if self.buf:
            self.out.write(self.buf)
            self.buf = bytearray()


def looks_secret(name: str) -> bool:
    lowered = name.lower()
    return any(marker in lowered for marker in SECRET_MARKERS)


@dataclass(frozen=True)
class ModelRows:
    """A tenant model's rows as JSON Lines in `<name>.jsonl`, ordered by primary key.

    `fields` lists the columns; without it, every concrete column but those whose name looks like a
    secret (SECRET_MARKERS). List the fields of any model that holds secrets: an export is a file
    that leaves the platform.
    """

    name: str
    model: str  # "app_label.ModelName"
    fields: tuple[str, ...] | None = None

    def columns(self) -> list[str]:
        meta = apps.get_model(self.model)._meta
        if self.fields is not None:
            return [meta.get_field(f).attname for f in self.fields]
        return [f.attname for f in meta.concrete_fields if not looks_secret(f.name)]

    def write(self, archive: zipfile.ZipFile) -> dict[str, int]:
        model = apps.get_model(self.model)
        columns = self.columns()
        entry = f"{self.name}.jsonl"
        rows = 0
        with archive.open(entry, "w", force_zip64=True) as raw:
            out = _Buffered(raw)
            for row in model._default_manager.order_by("pk").values(*columns).iterator(chunk_size=ROWS_CHUNK):
                out.write(json.dumps(row, cls=DjangoJSONEncoder, ensure_ascii=False).encode() + b"\n")
                rows += 1
            out.flush()
        return {entry: rows}


@dataclass(frozen=True)
class SqlRelations:
    """Every view or table of the tenant's schema whose name starts with `prefix`, as CSV with a
    header row in `<name>/<relation>.csv`, streamed out of PostgreSQL with COPY ... TO STDOUT."""

    name: str
    prefix: str

    def relations(self) -> list[str]:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = %s AND c.relkind IN ('r', 'v', 'm', 'p') AND starts_with(c.relname, %s) "
                "ORDER BY c.relname",
                [connection.schema_name, self.prefix],
            )
            return [name for (name,) in cursor.fetchall()]

    def write(self, archive: zipfile.ZipFile) -> dict[str, int]:
        counts = {}
        for relation in self.relations():
            entry = f"{self.name}/{relation}.csv"
            query = sql.SQL("COPY (SELECT * FROM {}.{}) TO STDOUT WITH (FORMAT csv, HEADER true)").format(
                sql.Identifier(connection.schema_name), sql.Identifier(relation)
            )
            with archive.open(entry, "w", force_zip64=True) as raw, connection.cursor() as cursor:
                out = _Buffered(raw)
                pg_cursor = cursor.cursor  # psycopg's own cursor: Django's wrapper has no copy()
                with pg_cursor.copy(query) as copy:
                    for chunk in copy:
                        out.write(chunk)
                out.flush()
                counts[entry] = max(pg_cursor.rowcount, 0)
        return counts


@dataclass(frozen=True)
class ExportResult:
    path: Path
    bytes: int
    entries: dict[str, int]  # entry → rows
    manifest: dict


def _manifest(tenant: Tenant, entries: dict[str, int], parts: list[str]) -> dict:
    from tenants.models import Domain

    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "exported_at": timezone.now().isoformat(),
        "tenant": {
            "slug": tenant.slug,
            "name": tenant.name,
            "tenant_id": str(tenant.tenant_id),
            "schema_name": tenant.schema_name,
            "created_at": tenant.created_at.isoformat() if tenant.created_at else None,
            "domains": sorted(Domain.objects.filter(tenant=tenant).values_list("domain", flat=True)),
        },
        "parts": parts,
        "counts": entries,
        "notes": "Connection secrets are not exported. Rows are JSON Lines; views are CSV with a header row.",
    }


def tenant_export(*, tenant: Tenant, out: Path, parts: list[ExportPart]) -> ExportResult:
    """Write the tenant's archive to `out` (a zip). Written to a temporary file beside it (mode
    0600: it holds the tenant's data) and renamed into place once complete; a failed export
    leaves no file behind."""
    if tenant.schema_name == get_public_schema_name():
        raise ExportRefused("the public tenant has no tenant data to export")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    part_file = out.with_name(f".{out.name}.{uuid.uuid4().hex}.part")
    fd = os.open(part_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    entries: dict[str, int] = {}
    try:
        with os.fdopen(fd, "wb") as handle, zipfile.ZipFile(handle, "w", zipfile.ZIP_DEFLATED) as archive:
            outer = connection.in_atomic_block
            with tenant_context(tenant), transaction.atomic():
                if not outer:  # inside a caller's transaction, its snapshot rules
                    with connection.cursor() as cursor:
                        cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                for part in parts:
                    entries.update(part.write(archive))
            manifest = _manifest(tenant, entries, [p.name for p in parts])
            archive.writestr("manifest.json", json.dumps(manifest, indent=2, ensure_ascii=False))
        os.replace(part_file, out)
    except BaseException:
        part_file.unlink(missing_ok=True)
        raise
    return ExportResult(path=out, bytes=out.stat().st_size, entries=entries, manifest=manifest)
