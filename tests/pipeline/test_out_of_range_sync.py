"""A real CSV with hostile values (a timestamp far past year 9999, a UTC offset that carries one there, a decimal
comma) through the real filesource driver and mapping engine: the sync completes, the good rows land in the view,
and each bad row is quarantined with its line and the reason."""

from decimal import Decimal

import pytest
from django.db import connection

from aam.ingest import services as ingest
from dcl.selectors import view_all
from dcl.services import stream_consume, views_materialize
from tests.pipeline.support import csv_connection

pytestmark = pytest.mark.django_db

CSV = """Id,AccountId,Name,StageName,Amount,CloseDate,IsWon,LastModifiedDate
006A,001A,Good one,Prospecting,100.00,2026-03-31,false,2026-01-02T03:04:05.000+0000
006B,001A,Far future,Prospecting,5,2026-03-31,false,99999999999999999
006C,001A,Huge amount,Closed Won,1e20,2026-03-31,true,2026-01-02T03:04:05.000+0000
006D,001A,Offset past 9999,Prospecting,5,2026-03-31,false,9999-12-31T23:00:00-05:00
006E,001B,Decimal comma,Prospecting,"1,5",2026-03-31,false,2026-01-03T00:00:00Z
006F,001B,"Good, quoted",Closed Won,"$1,250.50",03/31/2026,Yes,2026-01-03T00:00:00Z
"""


def test_out_of_range_values_quarantine_their_rows_and_the_rest_of_the_file_lands(in_tenant_a):
    conn = csv_connection("csv-out-of-range", "Opportunity.csv", CSV)
    result = ingest.connection_sync(connection=conn)
    assert result.records_read == 6 == result.records_published + result.quarantined
    assert (result.records_published, result.quarantined) == (3, 3)

    stream_consume(tenant=connection.tenant, until_idle=True, idle_seconds=0)
    views_materialize(tenant=connection.tenant)
    landed = {r["id"]: r for r in view_all(entity="opportunity")}
    assert sorted(landed) == ["006A", "006C", "006F"]
    assert landed["006C"]["amount"] == Decimal("1e20") and landed["006F"]["amount"] == Decimal("1250.5")

    from aam.models import QuarantinedRecord

    rejected = {r.source_id: r for r in QuarantinedRecord.objects.filter(connection=conn)}
    assert sorted(rejected) == ["006B", "006D", "006E"]
    # Placed by the line the record starts on, as unreadable lines are (the header is line 1).
    assert {sid: r.position for sid, r in rejected.items()} == {"006B": 3, "006D": 5, "006E": 6}
    assert "updated_at" in rejected["006B"].reason and "out of range" in rejected["006B"].reason
    assert "99999999999999999" in rejected["006B"].reason
    assert "updated_at" in rejected["006D"].reason and "out of range" in rejected["006D"].reason
    assert "amount" in rejected["006E"].reason and "use a dot as decimal separator" in rejected["006E"].reason
    assert rejected["006B"].raw["LastModifiedDate"] == "99999999999999999"


def test_a_quarantined_row_with_a_nul_byte_or_nan_is_stored_and_the_sync_completes(in_tenant_a):
    # Past the rows the schema samples come from: the bad row reaches the quarantine, not the drift snapshot.
    row = "006A{0:02d},001A,Deal {0},Prospecting,{0},2026-03-31,false,2026-01-02T03:04:05Z\n"
    good = "".join(row.format(i) for i in range(20))
    bad = "006B\x00,001A,Bad\x00name,Prospecting,NaN,2026-03-31,false,99999999999999999\n"
    conn = csv_connection("csv-nul-quarantine", "Opportunity.csv", CSV.splitlines()[0] + "\n" + good + bad)
    result = ingest.connection_sync(connection=conn)
    assert (result.records_read, result.records_published, result.quarantined) == (21, 20, 1)

    from aam.models import QuarantinedRecord

    record = QuarantinedRecord.objects.get(connection=conn)
    assert record.source_id == "006B" and record.position == 22  # its line: the header, 20 good rows, then it
    assert "updated_at" in record.reason and "out of range" in record.reason and "amount" in record.reason
    assert record.raw["Name"] == "Badname" and record.raw["Amount"] == "NaN"
