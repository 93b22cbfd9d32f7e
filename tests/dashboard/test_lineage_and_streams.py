"""The record page's source rows side by side (dcl.selectors.record_sources) and the connection
page's stream statistics (dcl.selectors.connection_stream_stats, shown through connectors.panels)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client

from tests.conftest import PASSWORD, host_of
from tests.dashboard.lineage_seed import seed_merged_account, stream_backlog

# Committed data: the DCL consumer runs with its own connection (see test_views_with_data.py).
pytestmark = pytest.mark.django_db


@pytest.fixture
def _django_db_helper(django_db_setup, django_db_blocker):
    yield


@pytest.fixture
def merged(committed_tenants):
    tenant = committed_tenants[0]
    connection.set_tenant(tenant)
    try:
        crm, erp = seed_merged_account(tenant)
    finally:
        connection.set_schema_to_public()
    client = Client(HTTP_HOST=host_of(tenant))
    connection.set_tenant(tenant)
    assert client.login(username="admin", password=PASSWORD)
    connection.set_schema_to_public()
    return tenant, client, crm, erp


def _acme(tenant):
    from dcl.selectors import view_rows

    rows = view_rows(entity="account", filters={"source_count__gte": 2})
    assert len(rows) == 1, rows
    return rows[0]


# ---- Selectors ---------------------------------------------------------------------------------


def test_record_sources_gives_each_merged_source_row_with_its_values(merged):
    from dcl.selectors import record_sources

    tenant, _, crm, erp = merged
    connection.set_tenant(tenant)
    try:
        record = _acme(tenant)
        lineage = record_sources(entity="account", record=record)
    finally:
        connection.set_schema_to_public()
    # the fresher source won: its own value beside the canonical one, which awaits review (an 0.8
    # lexical match onto manufacturing is a proposal, never shown as canonical)
    assert record["industry_source"] == "Industrial Machinery"
    assert (record["industry"], record["industry_status"]) == (None, "pending")
    assert (record["country"], record["country_source"], record["country_status"]) == ("US", "USA", "mapped")
    assert lineage.unavailable == "" and lineage.more == 0
    assert "industry" in lineage.fields and lineage.fields.index("name") < lineage.fields.index("industry")
    by_source = {(r["connection_name"], r["source_id"]): r for r in lineage.rows}
    assert set(by_source) == {("CRM export", "001A"), ("ERP export", "E-77")}
    crm_row, erp_row = by_source["CRM export", "001A"], by_source["ERP export", "E-77"]
    assert crm_row["found"] and erp_row["found"] and not crm_row["deleted"]
    assert crm_row["connection_id"] == crm.pk and crm_row["source_object"] == "Account"
    assert crm_row["values"]["industry"] == "Manufacturing" and crm_row["values"]["name"] == "Acme Corporation"
    assert erp_row["values"]["industry"] == "Industrial Machinery" and erp_row["values"]["employee_count"] == 450
    assert crm_row["ingested_at"] is not None
    assert "industry" in lineage.value_fields and "name" not in lineage.value_fields
    # what each source's own value means canonically
    assert crm_row["value_maps"]["industry"] == {"canonical": "manufacturing", "label": None, "status": "mapped"}
    assert erp_row["value_maps"]["industry"] == {"canonical": None, "label": None, "status": "pending"}
    assert crm_row["value_maps"]["country"] == {"canonical": "US", "label": None, "status": "mapped"}
    assert "name" not in crm_row["value_maps"]


def test_record_sources_says_so_when_the_writer_holds_the_store(merged, monkeypatch):
    from dcl import selectors, store

    tenant, _, _, _ = merged
    monkeypatch.setattr(selectors, "RECORD_SOURCES_WAIT", 0.1)
    connection.set_tenant(tenant)
    try:
        record = _acme(tenant)
        with store.WriterLock(tenant):
            lineage = selectors.record_sources(entity="account", record=record)
    finally:
        connection.set_schema_to_public()
    assert "being written" in lineage.unavailable
    assert len(lineage.rows) == 2 and not any(r["found"] for r in lineage.rows)  # who, but not their values


def test_record_sources_of_a_record_without_lineage_is_empty(merged):
    from dcl.selectors import record_sources

    tenant = merged[0]
    connection.set_tenant(tenant)
    try:
        lineage = record_sources(entity="account", record={"unified_id": "acc_x", "sources": []})
    finally:
        connection.set_schema_to_public()
    assert lineage.rows == [] and "industry" in lineage.fields


def test_stream_stats_after_a_sync_show_a_drained_stream(merged):
    from dcl.selectors import connection_stream_stats

    tenant, _, crm, _ = merged
    connection.set_tenant(tenant)
    try:
        stats = connection_stream_stats(connection=crm)
    finally:
        connection.set_schema_to_public()
    assert stats["error"] == ""
    assert (stats["length"], stats["pending"], stats["lag"], stats["dead_letters"]) == (0, 0, 0, 0)
    assert stats["last_delivered_at"] is not None  # batches were published, applied and trimmed


def test_stream_stats_count_length_pending_lag_and_dead_letters(merged):
    from dcl.selectors import connection_stream_stats

    tenant, _, crm, erp = merged
    connection.set_tenant(tenant)
    try:
        key = stream_backlog(tenant, crm, other_connection=erp)
        stats = connection_stream_stats(connection=crm)
        other = connection_stream_stats(connection=erp)
    finally:
        connection.set_schema_to_public()
    assert stats["key"] == key and stats["error"] == ""
    assert stats["length"] == 3 and stats["pending"] == 1 and stats["lag"] == 2
    assert stats["oldest_pending_at"] is not None
    assert stats["dead_letters"] == 2 and stats["dead_letters_scanned"] == 3
    assert stats["last_batch"]["batch_id"] == "b-2" and stats["last_batch"]["count"] == "7"
    assert other["dead_letters"] == 1 and other["length"] == 0


def test_stream_stats_report_redis_away_instead_of_failing(merged, monkeypatch):
    import redis

    from aam import streams
    from dcl.selectors import connection_stream_stats

    tenant, _, crm, _ = merged

    class Down:
        def __getattr__(self, name):
            def fail(*args, **kwargs):
                raise redis.ConnectionError("refused")
            return fail

    monkeypatch.setattr(streams, "binary_redis", lambda url=None: Down())
    connection.set_tenant(tenant)
    try:
        stats = connection_stream_stats(connection=crm)
    finally:
        connection.set_schema_to_public()
    assert stats["error"] == "Redis is not reachable." and stats["length"] == 0


# ---- Pages ---------------------------------------------------------------------------------------


def test_the_record_page_shows_the_source_rows_side_by_side(merged):
    tenant, web, crm, erp = merged
    connection.set_tenant(tenant)
    try:
        unified_id = _acme(tenant)["unified_id"]
    finally:
        connection.set_schema_to_public()
    html = web.get(f"/dcl/views/account/{unified_id}/").content.decode()
    table = html[html.index('id="lineage-table"'):html.index("</table>", html.index('id="lineage-table"'))]
    assert "CRM export" in table and "ERP export" in table and "001A" in table and "E-77" in table
    industry = table[table.index('data-field="industry"'):]
    industry = industry[:industry.index("</tr>")]
    # unified (pending canonical, the winning source value), then CRM (lost the merge: highlighted, its
    # own value mapped to manufacturing), then ERP (the value that won, awaiting review)
    unified, crm_cell, erp_cell = industry.split("<td")[2:5]
    assert '<span class="muted">–</span></strong>' in unified and "Industrial Machinery · pending" in unified
    assert crm_cell.startswith(' class="differs" title="differs from the unified value">Manufacturing<')
    assert "→ manufacturing" in crm_cell
    assert erp_cell.startswith(">Industrial Machinery<") and "→ pending" in erp_cell
    country = table[table.index('data-field="country"'):]
    country = country[:country.index("</tr>")]
    assert "<strong>US</strong>" in country and "USA · mapped" in country and "differs" not in country
    assert f'href="/connections/{crm.pk}/"' in html and f'href="/connections/{erp.pk}/"' in html


def test_the_connection_page_shows_its_stream_statistics(merged):
    tenant, web, crm, erp = merged
    connection.set_tenant(tenant)
    try:
        key = stream_backlog(tenant, crm, other_connection=erp)
    finally:
        connection.set_schema_to_public()
    html = web.get(f"/connections/{crm.pk}/").content.decode()
    card = html[html.index('id="stream-stats"'):]
    for stat, value in (("length", "3"), ("pending", "1"), ("lag", "2"), ("dead-letters", "2")):
        assert f'data-stat="{stat}"><div class="stat">{value}</div>' in card, stat
    assert key in card and "b-2" in card


def test_the_operations_page_counts_each_connections_dead_letters(merged):
    tenant, web, crm, erp = merged
    connection.set_tenant(tenant)
    try:
        stream_backlog(tenant, crm, other_connection=erp)
    finally:
        connection.set_schema_to_public()
    html = web.get("/dcl/operations/").content.decode()
    crm_row = html[html.index(f'data-ops-row="{crm.pk}"'):]
    crm_row = crm_row[:crm_row.index("</tr>")]
    assert '<span class="badge badge-red">2</span>' in crm_row
    assert "Replay from start" in html and "disabled" not in crm_row  # the actions are real, not greyed out
