"""`manage.py detect_drift --tenant <slug> [--connection <id>]`."""

from __future__ import annotations

import json

import pytest
from django.core.management import CommandError, call_command
from django.db import connection as db

from aam.models import DriftEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def exports(tenant_a, tmp_path, settings):
    settings.FILESOURCE_ALLOWED_ROOTS = [str(tmp_path)]
    (tmp_path / "Opportunity.csv").write_text("Id,Name,Amount\n006A,Acme,100\n006B,Globex,200\n006C,Hooli,300\n")
    from connectors.services import connection_create

    db.set_tenant(tenant_a)
    conn = connection_create(name="SF export", kind="filesource", config={"folder": str(tmp_path)})
    db.set_schema_to_public()
    return tmp_path, conn


def test_the_command_takes_a_baseline_then_reports_and_repairs_drift(exports, tenant_a, capsys):
    folder, conn = exports
    call_command("detect_drift", "--tenant", "alpha")
    assert "Opportunity: first snapshot taken" in capsys.readouterr().out
    (folder / "Opportunity.csv").write_text("Id,Name,Amount__c\n006A,Acme,100\n006B,Globex,200\n006C,Hooli,300\n")
    call_command("detect_drift", "--tenant", "alpha", "--connection", str(conn.pk))
    out = capsys.readouterr().out
    assert "Opportunity: renamed Amount → Amount__c" in out
    call_command("detect_drift", "--tenant", "alpha", "--json")
    report = json.loads(capsys.readouterr().out)
    assert report[0]["connection_id"] == conn.pk and report[0]["objects"][0]["events"] == []
    db.set_tenant(tenant_a)
    assert DriftEvent.objects.get().new_field == "Amount__c"


def test_unknown_tenants_and_connections_are_refused(exports):
    with pytest.raises(CommandError, match="no tenant"):
        call_command("detect_drift", "--tenant", "nope")
    with pytest.raises(CommandError, match="no connection 999999"):
        call_command("detect_drift", "--tenant", "alpha", "--connection", "999999")


def test_a_source_that_cannot_be_discovered_is_reported_and_fails_the_command(exports, capsys):
    folder, _ = exports
    (folder / "Opportunity.csv").unlink()
    folder.rmdir()  # the export folder is gone: the source cannot be discovered
    with pytest.raises(CommandError, match="1 connection"):
        call_command("detect_drift", "--tenant", "alpha")
    assert "cannot discover the source" in capsys.readouterr().err


def test_the_benchmark_prints_its_figures_and_leaves_nothing_behind(tenant_a, capsys):
    call_command("bench_drift", "--tenant", "alpha", "--limit", "4")
    out = capsys.readouterr().out
    assert "drifts detected with the right kind    100.0%" in out
    assert "wrong automatic repairs                0" in out and "false drift alarms" in out
    db.set_tenant(tenant_a)
    from connectors.models import Connection

    assert not Connection.objects.exists() and not DriftEvent.objects.exists()
