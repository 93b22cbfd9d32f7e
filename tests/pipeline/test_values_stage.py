"""The value stage (dcl/pipeline/values.py): a Dynamics-coded and a HubSpot-coded connection, read from
the local servers that speak those vendors' APIs through `pipeline_run`, end in one canonical view;
approving a value updates only the rows that carry it; a new stage in a later sync is value drift."""

from __future__ import annotations

import pytest
from django.db import connection

from aam.ingest.kinds import kind_for
from aam.ingest.schema import ontology_entities
from aam.models import ColumnMetadata, DriftEvent, ReviewItem, ValueMap, ValueMemory
from aam.values.review import value_decide
from aam.values.vocab import is_canonical
from connectors.kinds.dynamics.testserver import FakeDynamics, make_opportunities
from connectors.kinds.hubspot.testserver import FakeHubSpot, make_companies, make_deals
from connectors.services import connection_create
from dcl.pipeline import pipeline_run
from dcl.valuemap import value_key
from tests.pipeline.support import duck_rows

pytestmark = pytest.mark.django_db

VALUE_FIELDS = ("status", "stage_category", "forecast_category", "opportunity_type", "currency",
                "probability")


def _rows(table: str, columns: str, where: str = "", params=()) -> list[tuple]:
    with connection.cursor() as cur:
        cur.execute(f"SELECT {columns} FROM {connection.tenant.schema_name}.{table} {where}", list(params))
        return cur.fetchall()


def _view(entity: str, columns: str, where: str = "", params=()) -> list[tuple]:
    return _rows(f"dcl_view_{entity}", columns, where, params)


@pytest.fixture
def two_crms(in_tenant_a, settings):
    settings.CONNECTORS_ALLOW_PRIVATE_NETWORK = True  # the vendors' test servers listen on 127.0.0.1
    with FakeDynamics(opportunities=make_opportunities(24)) as dyn, FakeHubSpot(
        objects={"companies": make_companies(6), "deals": make_deals(18)}
    ) as hub:
        dynamics = connection_create(name="Dynamics", kind="dynamics", config=dyn.config(), secrets=dyn.secrets())
        hubspot = connection_create(name="HubSpot", kind="hubspot", config=hub.config(), secrets=hub.secrets())
        info_d = pipeline_run(tenant=connection.tenant, connection=dynamics, trigger="test")
        info_h = pipeline_run(tenant=connection.tenant, connection=hubspot, trigger="test")
        yield {"dynamics": dynamics, "hubspot": hubspot, "runs": (info_d, info_h), "dyn": dyn, "hub": hub}


def test_two_vendors_codes_end_in_one_canonical_opportunity_view(two_crms):
    run = two_crms["runs"][1]
    assert [s.step for s in run.steps] == ["read", "consume", "changes", "values", "materialize"]
    assert run.step("values").ok and run.step("values").rows > 0
    # the drivers' metadata was stored with the read
    assert ColumnMetadata.objects.filter(connection=two_crms["dynamics"], column="salesstage").exists()
    assert ColumnMetadata.objects.filter(connection=two_crms["hubspot"], column="dealstage").exists()

    rows = _view("opportunity", "sources->0->>'connection_kind', stage_category, stage_source, "
                 "stage_category_status, status, stage_category")
    assert len(rows) == 24 + 18
    kinds = {r[0] for r in rows}
    assert kinds == {"dynamics", "hubspot"}
    for kind, category, source, state, status, _ in rows:
        assert state == "mapped", (kind, source, state)  # both vendors' stage metadata decides every stage
        assert source is not None
        assert status in ("open", "won", "lost")  # both vendors say which stages are closed and won
        assert is_canonical("opportunity", "stage_category", category)
    # the vendors' own words are decoded beside the canonical value: Dynamics codes become labels
    sources = {(r[0], r[2]) for r in rows}
    assert ("dynamics", "Qualify") in sources and ("hubspot", "Closed Won") in sources
    assert not any(src.isdigit() for kind, src in sources if kind == "dynamics")
    # won and lost mean the same thing from both vendors
    won = {r[0] for r in rows if r[4] == "won"}
    lost = {r[0] for r in rows if r[4] == "lost"}
    assert won == {"dynamics", "hubspot"} and lost == {"dynamics", "hubspot"}
    assert {r[5] for r in rows if r[4] == "won"} == {"won"}

    # every canonical column holds a vocabulary value or NULL with the pending state beside it
    for field in VALUE_FIELDS:
        for value, state in _view("opportunity", f"{field}, {field}_status"):
            if value is not None:
                assert is_canonical("opportunity", field, value), (field, value)
            else:
                assert state in (None, "pending", "none", "free_text"), (field, state)
    probabilities = [p for (p,) in _view("opportunity", "probability") if p is not None]
    assert probabilities and all(0 <= p <= 1 for p in probabilities)

    # one decision per distinct value, never per record
    stage_maps = ValueMap.objects.filter(connection=two_crms["dynamics"], field="stage_category")
    assert stage_maps.count() == 4 and sum(m.record_count for m in stage_maps) == 24


def test_decided_values_are_not_asked_again(two_crms):
    again = pipeline_run(tenant=connection.tenant, connection=two_crms["hubspot"], trigger="test")
    values = again.step("values").details
    pending = ValueMap.objects.filter(status="pending", connection=two_crms["hubspot"]).count()
    # only the values of the connection read, and of those only the ones awaiting a person, go to the engine
    assert values["asked"] == pending
    assert values["new"] == 0 and values["drift"] == 0


def test_approving_a_value_updates_only_the_rows_that_carry_it(two_crms):
    """A per-record view computes its values when it is read (ViewSpec.read_time_values): the approval
    changes the value map (DuckDB's and its PostgreSQL mirror), rewrites no data-table row, and the rows
    carrying the value show it at once."""
    hubspot = two_crms["hubspot"]
    vm = ValueMap.objects.get(connection=hubspot, field="stage_category", raw_key="Contract Sent")
    carrying = duck_rows(connection.tenant, "SELECT count(*) FROM src_opportunity WHERE _connection_id = "
                         f"{hubspot.pk} AND stage = 'Contract Sent' AND NOT _deleted")[0][0]
    assert carrying == 2
    from dcl.models import MaterializedView

    view = MaterializedView.objects.get(entity="opportunity")
    before = dict(_rows(view.data_table, "unified_id, xmin::text"))
    ids = [uid for (uid,) in _view("opportunity", "unified_id", "WHERE stage_source = 'Contract Sent' "
                                   "AND sources->0->>'connection_id' = %s", [str(hubspot.pk)])]
    assert len(ids) == carrying
    choice = "propose" if vm.canonical != "propose" else "negotiate"
    outcome = value_decide(value_map=vm, canonical=choice, user=None)
    assert outcome["rows_updated"] == {"opportunity": carrying}  # the view's rows that now show it
    after = dict(_rows(view.data_table, "unified_id, xmin::text"))
    assert after == before  # no rebuild and no row rewritten: the same table, every row as it was
    rows = _view("opportunity", "stage_category, stage_category_status, stage_source", "WHERE unified_id = ANY(%s)",
                 [ids])
    assert rows == [(choice, "mapped", "Contract Sent")] * carrying
    assert MaterializedView.objects.get(entity="opportunity").version == view.version + 1  # caches let go
    # DuckDB agrees (the next materialization would too)
    key = value_key(hubspot.pk, vm.source_object, "Contract Sent")
    assert duck_rows(connection.tenant, f"SELECT DISTINCT stage_category FROM view_opportunity "
                     f"WHERE _vk_stage_category = '{key}'") == [(choice,)]
    # the memory learned it, per vendor and field
    memory = ValueMemory.objects.get(vendor="hubspot", field="stage_category", raw_key="Contract Sent")
    assert memory.canonical == choice
    again = pipeline_run(tenant=connection.tenant, connection=hubspot, trigger="test")
    assert set(_view("opportunity", "stage_category", "WHERE stage_source = 'Contract Sent'")) == {(choice,)}
    # the next materialization follows the decision in the deals' history, the records untouched: only
    # the rows carrying the value are recomputed (docs/adr/0022-incremental-views.md)
    plan = again.step("materialize").details["plans"]["opportunity"]
    assert plan["mode"] == "delta" and carrying <= plan["dirty"] < 24 + 18
    from dcl.models import OpportunityHistory

    current = OpportunityHistory.objects.filter(unified_id__in=ids, valid_to__isnull=True)
    assert sorted((v.stage_category, v.version > 1) for v in current) == [(choice, True)] * carrying


def test_postgres_computes_the_same_values_as_duckdb_on_a_mixed_tenant(two_crms):
    """PostgreSQL's per-record view computes the value columns at read time from the same definitions as
    DuckDB's view (dcl/valuemap.py ValueSql): value for value, on Dynamics codes and HubSpot labels, with
    pending and 'none' values among them."""
    from dcl.models import MaterializedView
    from dcl.unify import view_spec

    deals = two_crms["hub"].objects["deals"]
    deals.append({**deals[0], "hs_object_id": "7999999996", "dealstage": "verbalcommit",
                  "hs_lastmodifieddate": "2030-01-01T00:00:00.000Z"})
    deals.append({**deals[0], "hs_object_id": "7999999995", "dealstage": "N/A",
                  "hs_lastmodifieddate": "2030-01-01T00:00:00.000Z"})
    pipeline_run(tenant=connection.tenant, connection=two_crms["hubspot"], trigger="test")
    catalog = MaterializedView.objects.get(entity="opportunity")
    spec_columns = [c["name"] for c in catalog.columns]
    spec = view_spec("opportunity", {f: kind_for(t) for f, t in ontology_entities()["opportunity"].items()})
    assert spec.read_time_values
    computed = sorted(spec.value_columns)
    # the data table holds none of the computed columns: only the records' own values
    with connection.cursor() as cur:
        cur.execute("SELECT column_name FROM information_schema.columns WHERE table_schema = %s AND table_name = %s",
                    [connection.tenant.schema_name, catalog.data_table])
        stored = {r[0] for r in cur.fetchall()}
    assert "stage_category" not in stored and "currency_status" not in stored and "currency" in stored
    # the view's columns are the catalog's, in its order
    with connection.cursor() as cur:
        cur.execute(f"SELECT * FROM {connection.tenant.schema_name}.dcl_view_opportunity LIMIT 0")
        names = [d.name for d in cur.description]
    assert names[:1 + len(spec_columns)] == ["unified_id", *spec_columns]
    # and their types, as the catalog declares them (the value columns are computed, not stored)
    from dcl.pgsync import PG_TYPES

    with connection.cursor() as cur:
        cur.execute("SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = %s::regclass "
                    "AND attnum > 0 ORDER BY attnum", [f"{connection.tenant.schema_name}.dcl_view_opportunity"])
        types = dict(cur.fetchall())
        cur.execute("SELECT t, format_type(t::regtype, NULL) FROM unnest(%s::text[]) AS t", [list(PG_TYPES.values())])
        named = dict(cur.fetchall())
    assert {n: types[n] for n in spec.fields} == {n: named[PG_TYPES[k]] for n, k in spec.fields.items()}
    postgres = _view("opportunity", ", ".join(["unified_id", *computed]), "ORDER BY unified_id")
    duck = duck_rows(connection.tenant, f"SELECT unified_id, {', '.join(computed)} FROM view_opportunity "
                     "ORDER BY unified_id")
    assert len(postgres) == len(duck) == 24 + 18 + 2
    assert postgres == duck
    statuses = {r[1 + computed.index("stage_category_status")] for r in postgres}
    assert {"mapped", "pending", "none"} <= statuses
    kinds = {r[0] for r in _view("opportunity", "sources->0->>'connection_kind'")}
    assert kinds == {"dynamics", "hubspot"}


def test_a_new_stage_in_a_later_sync_is_value_drift_and_never_fails_the_sync(two_crms):
    hub = two_crms["hub"]
    deals = hub.objects["deals"]
    deals.append({**deals[0], "hs_object_id": "7999999999", "dealstage": "verbalcommit",
                  "hs_lastmodifieddate": "2030-01-01T00:00:00.000Z"})
    deals.append({**deals[0], "hs_object_id": "7999999998", "dealstage": "N/A",
                  "hs_lastmodifieddate": "2030-01-01T00:00:00.000Z"})
    run = pipeline_run(tenant=connection.tenant, connection=two_crms["hubspot"], trigger="test")
    assert all(step.ok for step in run.steps)
    assert run.step("values").details["drift"] >= 2
    drift = DriftEvent.objects.filter(kind="value", connection=two_crms["hubspot"], evidence__field="stage_category")
    assert {d.new_field for d in drift} == {"verbalcommit", "N/A"}
    new = ValueMap.objects.get(connection=two_crms["hubspot"], field="stage_category", raw_key="verbalcommit")
    placeholder = ValueMap.objects.get(connection=two_crms["hubspot"], field="stage_category", raw_key="N/A")
    assert new.drift and placeholder.status == "none" and placeholder.canonical is None
    # a stage no metadata describes: a person decides, the sync did not stop for it
    assert new.status == "pending" and new.canonical is None
    assert ReviewItem.objects.filter(kind="value", pk=new.review_item_id, status="pending").exists()
    assert drift.get(new_field="verbalcommit").status == "pending"
    assert drift.get(new_field="N/A").status == "applied"
    row = _view("opportunity", "stage_category, stage_source, stage_category_status", "WHERE stage_source = %s",
                ["verbalcommit"])
    assert row == [(None, "verbalcommit", "pending")]
    assert _view("opportunity", "stage_category, stage_category_status", "WHERE stage_source = 'N/A'") == [
        (None, "none")]


class _LLM:
    """The tenant's LLM as the value engine sees it (aam.values.llm_step.ValueLLM): one canned answer."""

    def __init__(self, answer: dict) -> None:
        self.answer, self.questions = answer, []

    def ask(self, messages, *, max_tokens: int) -> str:
        import json

        self.questions.append(messages)
        return json.dumps(self.answer)


def test_the_stage_asks_the_tenants_llm_about_what_the_evidence_leaves_open(two_crms, monkeypatch):
    """Behind the field mapping's switch: when the tenant has an LLM, an unknown stage is put to it, and
    its proposal is a review item with its answer, never an automatic decision."""
    llm = _LLM({"values": [{"raw": "verbalcommit", "canonical": "negotiate", "confidence": 0.9}]})
    monkeypatch.setattr("dcl.pipeline.values.tenant_llm", lambda tenant: llm)
    deals = two_crms["hub"].objects["deals"]
    deals.append({**deals[0], "hs_object_id": "7999999997", "dealstage": "verbalcommit",
                  "hs_lastmodifieddate": "2030-01-01T00:00:00.000Z"})
    run = pipeline_run(tenant=connection.tenant, connection=two_crms["hubspot"], trigger="test")
    assert all(step.ok for step in run.steps)
    assert llm.questions and "verbalcommit" in str(llm.questions[0])
    vm = ValueMap.objects.get(connection=two_crms["hubspot"], field="stage_category", raw_key="verbalcommit")
    assert vm.status == "pending" and vm.decision == "review" and vm.evidence["source"] == "llm"
