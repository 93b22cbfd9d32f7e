"""The scenario suite: real-looking drifts of the demo exports, end to end through drift_check."""

from __future__ import annotations

import datetime as dt

import pytest

from aam.selectors import mapping_rows
from benchmarks.drift_scenarios import core_scenarios, run_scenario
from connectors.demo import generate

pytestmark = pytest.mark.django_db
SCENARIOS = {s.name: s for s in core_scenarios()}


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("drift-demo")
    generate(out, as_of=dt.date(2026, 6, 30))
    return out


@pytest.fixture
def run(in_tenant_a, demo_dir, tmp_path, settings):
    settings.FILESOURCE_ALLOWED_ROOTS = [str(tmp_path), str(demo_dir)]

    def go(name: str, policy: str = "auto"):
        return run_scenario(SCENARIOS[name], demo_dir=demo_dir, work_dir=tmp_path, policy=policy)

    return go


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_every_scenario_is_detected_with_the_right_kind_repaired_correctly_and_nothing_is_lost(run, name):
    result = run(name)
    assert result.detected_right, (result.changes, result.scenario.expect)
    assert result.wrong_auto_repairs() == []
    for field, canonical in result.scenario.outcome.items():
        assert result.after.get(field) == canonical, (field, result.after, [e.explanation for e in result.events])
    # nothing lost: every field of the new export has a mapping row, every canonical field a source
    rows = mapping_rows(connection=result.connection, source_object_name=result.scenario.object_name)
    snapshot = result.connection.schema_snapshots.order_by("-id").first()
    assert set(snapshot.field_names()) <= {r.source_field for r in rows}
    assert set(result.before.values()) <= set(result.after.values())


DRIFTING = sorted(name for name, s in SCENARIOS.items() if s.expect)
QUIET = sorted(name for name, s in SCENARIOS.items() if not s.expect)


@pytest.mark.parametrize("name", DRIFTING)
def test_under_the_review_policy_every_change_waits_for_a_human(run, name):
    result = run(name, policy="review")
    assert result.detected_right and not result.frozen
    assert result.events and all(e.status == "pending" and e.review_item_id for e in result.events)
    assert set(result.before.items()) <= set(result.after.items())  # the mapping in force did not move


@pytest.mark.parametrize("name", DRIFTING)
def test_under_the_freeze_policy_the_sync_stops_and_the_mapping_stays(run, name):
    result = run(name, policy="freeze")
    assert result.detected_right and result.frozen
    result.connection.refresh_from_db()
    assert result.connection.status == "frozen"
    assert all(e.status == "pending" and e.policy == "freeze" for e in result.events)
    assert result.after == result.before


@pytest.mark.parametrize("name", QUIET)
def test_an_unchanged_resync_never_freezes_or_alarms(run, name):
    result = run(name, policy="freeze")
    assert result.events == [] and not result.frozen


def test_a_hubspot_property_renamed_in_the_portal_is_paired_by_the_values_of_the_same_records(in_tenant_a, settings):
    """Through the HubSpot driver (a local server speaking CRM v3): keyed samples from the API."""
    from aam.drift.services import drift_check
    from aam.services import mapping_ensure
    from connectors.kinds.hubspot.testserver import FakeHubSpot
    from connectors.services import connection_create, connection_discover

    settings.CONNECTORS_ALLOW_PRIVATE_NETWORK = True
    deals = [
        {
            "hs_object_id": str(9_000 + i),
            "dealname": f"Deal {i} for Company {i}",
            "amount": str(1000 * (i + 1)),
            "hs_lastmodifieddate": f"2026-05-{i + 1:02d}T10:00:00.000Z",
        }
        for i in range(6)
    ]
    with FakeHubSpot(objects={"deals": deals}) as fake:
        conn = connection_create(name="HubSpot", kind="hubspot", config=fake.config(), secrets=fake.secrets())
        [obj] = connection_discover(connection=conn)
        drift_check(connection=conn, source_object=obj)
        mapping_ensure(connection=conn, source_object=obj)
        for deal in deals:  # the property is recreated under a new internal name, values migrated
            deal["deal_title"] = deal.pop("dealname")
        [obj] = connection_discover(connection=conn)
        outcome = drift_check(connection=conn, source_object=obj)
    [event] = outcome.events
    assert (event["kind"], event["field"], event["new_field"]) == ("renamed", "dealname", "deal_title")
    from aam.models import DriftEvent

    stored = DriftEvent.objects.get(pk=event["id"])
    assert stored.evidence["value_method"] == "keyed" and stored.evidence["values_compared"] == 6
