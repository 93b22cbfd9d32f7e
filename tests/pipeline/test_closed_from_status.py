"""A deal status mapped to is_won (Dynamics' statecode 0 open / 1 won / 2 lost) also fills is_closed, so
lost deals are not counted as open pipeline; a plain 0/1 IsWon flag does not."""

import pyarrow as pa
import pytest
from django.db import connection

from aam.ingest import services as ingest
from aam.ingest.kinds import Kind
from aam.ingest.normalize import FieldPlan, NormalizePlan, normalize_page
from dcl.selectors import view_all
from dcl.services import stream_consume, views_materialize
from tests.pipeline.support import csv_connection


def _plan(*fields: tuple[str, str, Kind]) -> NormalizePlan:
    return NormalizePlan(
        entity="opportunity",
        source_object="opportunity",
        fields=tuple(FieldPlan(source=s, canonical=c, kind=k) for s, c, k in fields),
        id_fields=("id",),
        schema_fingerprint="f",
        mapping_version=1,
    )


def _closed(table: pa.Table, plan: NormalizePlan):
    out = normalize_page(table, plan).table
    return out["is_closed"].to_pylist() if "is_closed" in out.column_names else None


STATUS = _plan(("id", "id", Kind.STRING), ("statecode", "is_won", Kind.BOOLEAN))


@pytest.mark.parametrize(
    "codes, closed",
    [
        (["0", "1", "2", None], [False, True, True, None]),
        (["0", "1"], [False, True]),  # no lost deal on this page: still a status, not a flag
        ([0, 1, 2, 0], [False, True, True, False]),
        (["Open", "Won", "Lost", " "], [False, True, True, None]),
    ],
)
def test_a_status_mapped_to_is_won_fills_is_closed(codes, closed):
    table = pa.table({"id": [f"o{i}" for i in range(len(codes))], "statecode": codes})
    assert _closed(table, STATUS) == closed


def test_a_plain_won_flag_or_a_mapped_is_closed_is_left_alone():
    flag = _plan(("id", "id", Kind.STRING), ("IsWon", "is_won", Kind.BOOLEAN))
    assert _closed(pa.table({"id": ["a", "b"], "IsWon": ["0", "1"]}), flag) is None
    both = _plan(
        ("id", "id", Kind.STRING), ("statecode", "is_won", Kind.BOOLEAN), ("IsClosed", "is_closed", Kind.BOOLEAN)
    )
    table = pa.table({"id": ["a", "b"], "statecode": ["2", "0"], "IsClosed": ["false", "false"]})
    assert _closed(table, both) == [False, False]  # the source's own is_closed wins
    odd = pa.table({"id": ["a"], "statecode": ["pending review"]})  # not a state we know: no guess
    assert _closed(odd, STATUS) is None


DYNAMICS = """opportunityid,name,statecode,estimatedvalue,estimatedclosedate,stepname
7c1f0e55-0000-4000-8000-000000000001,Open deal,0,1000.00,2026-03-31,1-Qualify
7c1f0e55-0000-4000-8000-000000000002,Won deal,1,2000.00,2026-03-31,4-Close
7c1f0e55-0000-4000-8000-000000000003,Lost deal,2,3000.00,2026-03-31,3-Propose
"""


@pytest.mark.django_db
def test_dynamics_lost_deals_land_closed_and_not_won(in_tenant_a):
    conn = csv_connection("dynamics-status", "opportunity.csv", DYNAMICS, source_system="dynamics")
    ingest.connection_sync(connection=conn)
    stream_consume(tenant=connection.tenant, until_idle=True, idle_seconds=0)
    views_materialize(tenant=connection.tenant)
    rows = {r["name"]: (r["is_closed"], r["is_won"]) for r in view_all(entity="opportunity")}
    assert rows == {"Open deal": (False, False), "Won deal": (True, True), "Lost deal": (True, False)}
