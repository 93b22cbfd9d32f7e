"""A real CSV with broken rows through the real filesource driver and mapping engine: good rows land, broken ones are
quarantined with their line numbers and reasons, and the counts add up."""

import pytest
from django.db import connection

from aam.ingest import services as ingest
from dcl.selectors import view_all
from dcl.services import stream_consume, views_materialize
from tests.pipeline.support import csv_connection, duck_rows

pytestmark = pytest.mark.django_db

CSV = """Id,AccountId,Name,StageName,Amount,CloseDate,IsWon,LastModifiedDate
006A,001A,Good one,Prospecting,100.00,2026-03-31,false,2026-01-02T03:04:05.000+0000
006B,001A,"Broken quote,Prospecting,5,2026-03-31,false,2026-01-02T03:04:05.000+0000
006C,001A,Too few,columns
006D,001A,Bad amount,Prospecting,a lot,2026-03-31,false,2026-01-02T03:04:05.000+0000
006E,001B,"Good, quoted",Closed Won,"$1,250.50",03/31/2026,Yes,2026-01-03T00:00:00Z
"""


def test_a_csv_with_broken_rows_lands_the_good_rows_and_quarantines_the_rest(in_tenant_a, monkeypatch, tmp_path):
    conn = csv_connection("csv-quarantine", "Opportunity.csv", CSV)
    result = ingest.connection_sync(connection=conn)
    assert result.records_read == result.records_published + result.quarantined
    assert result.records_published == 2
    stream_consume(tenant=connection.tenant, until_idle=True, idle_seconds=0)
    assert duck_rows(connection.tenant, "SELECT _source_id FROM src_opportunity ORDER BY 1") == [("006A",), ("006E",)]
    views_materialize(tenant=connection.tenant)
    good = {r["id"]: r for r in view_all(entity="opportunity")}
    assert str(good["006E"]["amount"]).startswith("1250.5") and good["006E"]["is_won"] is True
    from aam.models import QuarantinedRecord

    rejected = list(QuarantinedRecord.objects.order_by("position"))
    reasons = {r.position: r.reason for r in rejected}
    # Unreadable lines and values that cannot be coerced are both placed by line number.
    assert any("amount" in reason and "a lot" in reason for reason in reasons.values())
    assert reasons[5].startswith("amount") and "a lot" in reasons[5]  # 006D, on line 5
    assert len(rejected) == result.quarantined >= 2
    line_numbers = [p for p, reason in reasons.items() if "amount" not in reason]
    assert line_numbers and all(isinstance(p, int) and 3 <= p <= 4 for p in line_numbers)


def test_record_numbers_after_a_page_with_unreadable_lines_keep_counting_records(in_tenant_a, settings):
    """The unreadable line's number must not become the record counter of the following pages."""
    settings.AAM_SYNC_PAGE_SIZE = 3
    header, *_ = CSV.splitlines()
    row = "00{0},001A,Deal {0},Prospecting,{1},2026-03-31,false,2026-01-02T03:04:05Z"
    lines = [header, "00A,001A,Too few", *(row.format(c, 10) for c in "BCDEF"), row.format("G", "a lot"),
             row.format("H", 10)]
    conn = csv_connection("csv-positions", "Opportunity.csv", "\n".join(lines) + "\n")
    result = ingest.connection_sync(connection=conn)
    assert (result.records_read, result.records_published, result.quarantined) == (8, 6, 2)

    from aam.models import QuarantinedRecord

    by_reason = {("amount" in r.reason): r.position for r in QuarantinedRecord.objects.filter(connection=conn)}
    assert by_reason[False] == 2  # the unreadable line: its line number
    assert by_reason[True] == 8  # G's line, on the third page (the counter was not thrown off by line 2)
