"""NUL bytes in the rows a source's schema is sampled from, and in its header: the sync completes
(PostgreSQL's text and jsonb refuse NUL, and the drift snapshot stores samples and names)."""

import pytest
from django.db import connection

from aam.ingest import services as ingest
from dcl.selectors import view_all
from dcl.services import stream_consume, views_materialize
from tests.pipeline.support import csv_connection

pytestmark = pytest.mark.django_db


def test_nul_bytes_in_sampled_cells_and_in_the_header_do_not_fail_the_sync(in_tenant_a):
    conn = csv_connection(
        "csv-nul-samples",
        "Account.csv",
        b"Id,Name,Web\x00site\n001A,Acme\x00 Corp,acme.example\n001B,Globex,globex.example\n",
    )
    result = ingest.connection_sync(connection=conn)
    assert (result.records_read, result.records_published, result.quarantined) == (2, 2, 0)
    stream_consume(tenant=connection.tenant, until_idle=True, idle_seconds=0)
    views_materialize(tenant=connection.tenant)
    names = sorted(r["name"] for r in view_all(entity="account"))
    assert names == ["Acme Corp", "Globex"]

    from aam.models import SchemaSnapshot

    snapshot = SchemaSnapshot.objects.filter(connection=conn).latest("pk")
    assert "\x00" not in str(snapshot.fields)
