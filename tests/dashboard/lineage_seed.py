"""Data for the lineage and stream-statistics tests (page, unit and browser): one account known to
two connections, merged into one unified row, and a stream with work in it.

Both CSVs give Acme's website; the ERP export was modified later, so its industry wins the merge
and the CRM's "Manufacturing" is the value that lost.
"""

from __future__ import annotations

import io

HEADER = "Id,Name,Website,Industry,BillingCountry,AnnualRevenue,NumberOfEmployees,LastModifiedDate"
CRM = "\n".join([
    HEADER,
    "001A,Acme Corporation,https://acme.example,Manufacturing,USA,12500000,420,2025-02-01T09:30:00Z",
    "001B,Globex Ltd,https://globex.example,Technology,United Kingdom,8800000,130,2025-02-03T11:00:00Z",
]).encode() + b"\n"
ERP = "\n".join([
    HEADER,
    "E-77,Acme Corp,https://www.acme.example/,Industrial Machinery,USA,13000000,450,2025-03-01T08:00:00Z",
]).encode() + b"\n"


def seed_merged_account(tenant):
    """Two synced connections (CRM export, ERP export) whose Acme rows merge. Runs in the tenant's schema
    (the caller sets it); returns (crm, erp)."""
    from connectors.services import connection_create, connection_file_upload
    from dcl.pipeline import pipeline_run

    made = []
    for name, data in (("CRM export", CRM), ("ERP export", ERP)):
        conn = connection_create(name=name, kind="filesource", config={"source_system": "salesforce"})
        connection_file_upload(connection=conn, filename="Account.csv", content=io.BytesIO(data), size=len(data))
        pipeline_run(tenant=tenant, connection=conn)
        made.append(conn)
    return tuple(made)


def stream_backlog(tenant, connection, *, other_connection):
    """Put work in `connection`'s stream as a running system has it: three batches published, one
    read by a consumer and not acknowledged (pending 1, lag 2); two dead-lettered batches of this
    connection and one of another."""
    from aam.streams import binary_redis, group_ensure, group_name, stream_key
    from dcl.consumer import dead_letter_key

    r = binary_redis()
    key, group = stream_key(tenant, connection.pk), group_name(tenant)
    group_ensure(r, key, group)
    for i in range(3):
        r.xadd(key, {"batch_id": f"b-{i}", "entity": "account", "source_object": "Account", "count": "7"})
    r.xreadgroup(group, "test-consumer", {key: ">"}, count=1)
    other = stream_key(tenant, other_connection.pk)
    for stream, batch in ((key, "dead-1"), (key, "dead-2"), (other, "dead-3")):
        r.xadd(dead_letter_key(tenant), {"batch_id": batch, "entity": "account", "dlq_reason": "bad payload",
                                         "dlq_stream": stream})
    return key
