"""The scenario suite: real-looking drifts of the demo exports, end to end through drift_check."""

from __future__ import annotations

import datetime as dt

import pytest

from aam.drift.scenarios import core_scenarios, run_scenario
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
def test_every_scenario_is_detected_with_the_right_kind_and_repaired_correctly(run, name):
    result = run(name)
    assert result.detected_right, (result.changes, result.scenario.expect)
    assert result.wrong_auto_repairs() == []
    for field, canonical in result.scenario.outcome.items():
        assert result.after.get(field) == canonical, (field, result.after, [e.explanation for e in result.events])
